"""A throwaway PostgreSQL server on loopback, for the tests and the benchmark.

Debian's `postgresql` package binaries (/usr/lib/postgresql/VERSION/bin); `initdb` into a
temporary folder as the `postgres` system user when run as root (as the current user
otherwise), `pg_ctl start` on a free port of 127.0.0.1 with the unix socket in that folder.
Clients log in over TCP as role `wt` with a password (scram-sha-256) that they read from a
PGPASSFILE: the password is never in a command line.

As a command, runs another command with a server up and its URI in WT_TEST_POSTGRES:

    python3 integration/pgserver.py -- swift test --parallel
"""
import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROLE = 'wt'


def bin_dir():
    """The newest installed server's bin directory, or None."""
    found = []
    for d in glob.glob('/usr/lib/postgresql/*/bin'):
        m = re.fullmatch(r'/usr/lib/postgresql/(\d+)(?:\.(\d+))?/bin', d)
        if m and all(os.access(os.path.join(d, t), os.X_OK) for t in ('initdb', 'pg_ctl', 'postgres')):
            found.append(((int(m.group(1)), int(m.group(2) or 0)), d))
    return max(found)[1] if found else None


def missing_reason():
    """Why no server can be started here, or None."""
    if not bin_dir():
        return 'PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (apt-get install postgresql)'
    if not shutil.which('psql'):
        return 'psql not found (apt-get install postgresql-client)'
    if os.geteuid() == 0:
        try:
            pwd.getpwnam('postgres')
        except KeyError:
            return 'running as root and there is no postgres system user to run the server as'
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, fsync=True):
        self.bin = bin_dir()
        self.fsync = fsync
        self.dir = tempfile.mkdtemp(prefix='wt-pg-')
        self.data = os.path.join(self.dir, 'data')
        self.sock = os.path.join(self.dir, 'sock')
        self.log = os.path.join(self.dir, 'server.log')
        self.password = secrets.token_urlsafe(24)
        self.port = None
        self.running = False
        self._dbs = 0
        self.user = None
        if os.geteuid() == 0:
            pw = pwd.getpwnam('postgres')
            self.user = 'postgres'
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700 if self.user is None else 0o711)
        # The clients' password file: this process's user reads it, nobody else.
        self.passfile = os.path.join(tempfile.mkdtemp(prefix='wt-pgpass-'), 'pgpass')
        fd = os.open(self.passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write('127.0.0.1:*:*:%s:%s\n' % (ROLE, self.password))
        self.env = dict(os.environ, PGPASSFILE=self.passfile)
        self.env.pop('PGPASSWORD', None)

    # -- running the server's tools as its owner --------------------------

    def _as_owner(self, cmd):
        return (['runuser', '-u', self.user, '--'] if self.user else []) + cmd

    def _run(self, cmd, input=None, check=True, timeout=120):
        p = subprocess.run(self._as_owner(cmd), input=input, capture_output=True, text=True, timeout=timeout,
                           cwd=self.dir)
        if check and p.returncode != 0:
            raise RuntimeError('%s failed (%d): %s%s%s' % (os.path.basename(cmd[0]), p.returncode, p.stdout,
                                                           p.stderr, self.log_tail()))
        return p

    def tool(self, name):
        return os.path.join(self.bin, name)

    def log_tail(self, n=30):
        try:
            with open(self.log, errors='replace') as f:
                return '\n-- server log --\n' + ''.join(f.readlines()[-n:])
        except OSError:
            return ''

    # -- life cycle -------------------------------------------------------

    def initdb(self):
        os.mkdir(self.sock)
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.sock, pw.pw_uid, pw.pw_gid)
        # initdb makes the superuser `postgres`, who logs in only over the private socket.
        self._run([self.tool('initdb'), '-D', self.data, '-U', 'postgres', '-E', 'UTF8', '--locale=C',
                   '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync'])
        with open(os.path.join(self.data, 'pg_hba.conf'), 'w') as f:
            f.write('local all postgres trust\n'
                    'host all all 127.0.0.1/32 scram-sha-256\n')
        conf = ['listen_addresses = \'127.0.0.1\'', "unix_socket_directories = '%s'" % self.sock,
                'unix_socket_permissions = 0700', 'max_connections = 150', 'shared_buffers = 32MB',
                "password_encryption = 'scram-sha-256'", 'log_min_messages = warning',
                'log_connections = off', 'fsync = %s' % ('on' if self.fsync else 'off')]
        with open(os.path.join(self.data, 'postgresql.auto.conf'), 'a') as f:
            f.write('\n'.join(conf) + '\n')

    def start(self):
        if self.port is None:
            self.initdb()
        for attempt in range(5):
            port = self.port or free_port()
            p = self._run([self.tool('pg_ctl'), '-D', self.data, '-l', self.log, '-w', '-t', '60',
                           '-o', '-p %d' % port, 'start'], check=False)
            if p.returncode == 0:
                self.port, self.running = port, True
                break
            if self.port is not None or attempt == 4:
                raise RuntimeError('pg_ctl start failed: %s%s%s' % (p.stdout, p.stderr, self.log_tail()))
        if not getattr(self, '_role', False):
            # The password goes to psql on stdin, never in a command line.
            self.sql("CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s'" % (ROLE, self.password))
            self._role = True
        return self

    def stop(self, mode='fast'):
        if self.running:
            self._run([self.tool('pg_ctl'), '-D', self.data, '-m', mode, '-w', 'stop'], check=False)
            self.running = False

    def restart(self, mode='fast'):
        self._run([self.tool('pg_ctl'), '-D', self.data, '-l', self.log, '-m', mode, '-w', '-t', '60',
                   '-o', '-p %d' % self.port, 'restart'])
        self.running = True

    def cleanup(self):
        self.stop('immediate')
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(os.path.dirname(self.passfile), ignore_errors=True)

    # -- SQL --------------------------------------------------------------

    def sql(self, statement, db='postgres'):
        """Runs SQL as the superuser over the private socket; returns rows (tab-separated)."""
        p = self._run([self.tool('psql') if os.path.exists(self.tool('psql')) else 'psql', '-X', '-q', '-A', '-t',
                       '-v', 'ON_ERROR_STOP=1', '-h', self.sock, '-p', str(self.port), '-U', 'postgres', '-d', db],
                      input=statement)
        return [line.split('|') for line in p.stdout.splitlines() if line]

    def create_database(self, name=None):
        self._dbs += 1
        name = name or 'wt_%d_%s' % (self._dbs, secrets.token_hex(3))
        self.sql('CREATE DATABASE %s OWNER %s' % (name, ROLE))
        return name

    def uri(self, db, **params):
        q = '&'.join('%s=%s' % kv for kv in params.items())
        return 'postgresql://%s@127.0.0.1:%d/%s%s' % (ROLE, self.port, db, '?' + q if q else '')

    def psql(self, uri, statement):
        """Runs SQL as role wt over TCP, through the password file, as the tests' user."""
        p = subprocess.run(['psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', uri],
                           input=statement, capture_output=True, text=True, env=self.env, timeout=120)
        if p.returncode != 0:
            raise RuntimeError('psql failed (%d): %s' % (p.returncode, p.stderr))
        return [line.split('|') for line in p.stdout.splitlines() if line]


def main(argv):
    if '--' not in argv:
        print(__doc__.strip(), file=sys.stderr)
        return 64
    cmd = argv[argv.index('--') + 1:]
    why = missing_reason()
    if why:
        print('pgserver: no PostgreSQL server for the tests: %s' % why, file=sys.stderr)
        return subprocess.call(cmd)
    server = Server()
    try:
        server.start()
        db = server.create_database('wt')
        env = dict(server.env, WT_TEST_POSTGRES=server.uri(db))
        print('pgserver: PostgreSQL on 127.0.0.1:%d, WT_TEST_POSTGRES=%s' % (server.port, env['WT_TEST_POSTGRES']),
              file=sys.stderr)
        return subprocess.call(cmd, env=env)
    finally:
        server.cleanup()


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
