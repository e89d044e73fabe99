"""A real Dovecot POP3 server on loopback for the POP fetch tests and the benchmark: its own
configuration, run and state folders in a temporary folder (no system configuration), a
passwd-file user, a Maildir, TLS from a test CA made here with openssl, and a TCP proxy that
can go silent or cut a session at a chosen byte count. Standard library only."""
import hashlib
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

USER = 'helpdesk'
PASSWORD = 'pop-Secret-7f3e9a1c'
ADDRESS = 'helpdesk@example.com'


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def port_open(port, host='127.0.0.1'):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _openssl(*args, cwd):
    subprocess.run(['openssl'] + list(args), cwd=cwd, check=True, capture_output=True, timeout=60)


class PKI:
    """A test CA and certificates it signs; `other_ca` signs certificates no test trusts."""

    def __init__(self, folder):
        self.dir = str(folder)
        os.makedirs(self.dir, exist_ok=True)
        self.ca, self.ca_key = self._ca('ca', 'wt test CA')
        self.server = self.server_cert('server')

    def _ca(self, name, cn):
        cert, key = os.path.join(self.dir, name + '.pem'), os.path.join(self.dir, name + '.key')
        _openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '3',
                 '-subj', '/CN=' + cn, '-addext', 'basicConstraints=critical,CA:TRUE',
                 '-addext', 'keyUsage=critical,keyCertSign,cRLSign', cwd=self.dir)
        return cert, key

    def server_cert(self, name, names=('DNS:localhost', 'IP:127.0.0.1'), ca=None):
        """(cert, key) for a server known by `names`, signed by `ca` ((cert, key); the test CA by default)."""
        ca_cert, ca_key = ca or (self.ca, self.ca_key)
        cert, key = os.path.join(self.dir, name + '.pem'), os.path.join(self.dir, name + '.key')
        csr, ext = os.path.join(self.dir, name + '.csr'), os.path.join(self.dir, name + '.ext')
        with open(ext, 'w') as f:
            f.write('subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n'
                    'extendedKeyUsage=serverAuth\n' % ','.join(names))
        _openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=' + name, cwd=self.dir)
        _openssl('x509', '-req', '-in', csr, '-CA', ca_cert, '-CAkey', ca_key, '-CAcreateserial', '-out', cert,
                 '-days', '3', '-extfile', ext, cwd=self.dir)
        return cert, key

    def other_ca(self):
        return self._ca('other-ca', 'untrusted test CA')


# ---- messages -----------------------------------------------------------

FIRST = ['Ana', 'Ben', 'Chloe', 'Dmitri', 'Emma', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas', 'Kemal', 'Lena']
LAST = ['Ruiz', 'Okafor', 'Nguyen', 'Schmidt', 'Rossi', 'Haddad', 'Lindqvist', 'Tanaka', 'Moreau', 'Kowalski']
DOMAINS = ['example.org', 'example.net', 'customer.example.com', 'mail.example.org']
TOPICS = ['VPN drops every few minutes', 'Printer on floor 3 jams', 'Cannot log in to the payroll portal',
          'New laptop for the intern', 'Shared drive is read-only', 'Outlook keeps asking for my password',
          'Projector in room B12', 'Phone extension not forwarding', 'Request: access to the sales folder',
          'Monitor flickers after the update', 'Wi-Fi in the warehouse', 'Invoice scanner sends blank pages']
SENTENCES = ['It started this morning after the restart.', 'Several colleagues see the same thing.',
             'I have already tried logging out and in again.', 'The error message says the server is unavailable.',
             'This blocks the month-end report, so it is fairly urgent.', 'Could someone have a look today?',
             'It worked fine until last Friday.', 'I attached a screenshot of the error.',
             'Our team is in building C, second floor.', 'Thanks in advance for your help.']


def make_message(i, tag, rng=None):
    """A realistic, distinct message (Maildir style, LF line ends) and its Message-ID (without < >)."""
    rng = rng or random.Random('%s-%d' % (tag, i))
    first, last, domain = rng.choice(FIRST), rng.choice(LAST), rng.choice(DOMAINS)
    sender = '%s.%s@%s' % (first.lower(), last.lower(), domain)
    mid = '%s.%d.%08x@%s' % (tag, i, rng.getrandbits(32), domain)
    subject = '%s (%s #%d)' % (rng.choice(TOPICS), tag, i)
    body = '\n'.join(['Hello helpdesk,', ''] + [' '.join(rng.sample(SENTENCES, 3)) for _ in range(1 + i % 4)]
                     + ['', 'Best regards,', '%s %s' % (first, last), ''])
    day, hour, minute = 1 + i % 28, 8 + i % 10, i % 60
    head = ('Return-Path: <%s>\n'
            'Received: from mx.%s (mx.%s [192.0.2.%d])\n\tby mail.example.com (Postfix) with ESMTPS id %08X\n'
            '\tfor <%s>; %d Nov 2026 %02d:%02d:00 +0000\n'
            'From: %s %s <%s>\nTo: Help Desk <%s>\nSubject: %s\nDate: %d Nov 2026 %02d:%02d:00 +0000\n'
            'Message-ID: <%s>\nMIME-Version: 1.0\n'
            % (sender, domain, domain, 1 + i % 250, rng.getrandbits(32), ADDRESS, day, hour, minute,
               first, last, sender, ADDRESS, subject, day, hour, minute, mid))
    kind = i % 3
    if kind == 0:
        msg = head + 'Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n' + body
    elif kind == 1:
        b = '=_wt_%d_%s' % (i, tag)
        html = '<html><body>' + ''.join('<p>%s</p>' % l for l in body.split('\n') if l) + '</body></html>\n'
        msg = (head + 'Content-Type: multipart/alternative; boundary="%s"\n\n--%s\n'
               'Content-Type: text/plain; charset=utf-8\n\n%s\n--%s\nContent-Type: text/html; charset=utf-8\n\n%s\n--%s--\n'
               % (b, b, body, b, html, b))
    else:
        import base64
        b = '=_wt_att_%d_%s' % (i, tag)
        blob = base64.encodebytes(rng.randbytes(600 + 37 * (i % 50))).decode()
        msg = (head + 'Content-Type: multipart/mixed; boundary="%s"\n\n--%s\nContent-Type: text/plain; charset=utf-8\n\n'
               '%s\n--%s\nContent-Type: image/png; name="screenshot-%d.png"\nContent-Disposition: attachment; '
               'filename="screenshot-%d.png"\nContent-Transfer-Encoding: base64\n\n%s--%s--\n'
               % (b, b, body, b, i, i, blob, b))
    return msg.encode(), mid


# ---- Dovecot ------------------------------------------------------------

class Dovecot:
    """One Dovecot instance: `pop3_port` (plain POP3, STARTTLS offered) and `pop3s_port` (implicit TLS)."""

    def __init__(self, pki, plaintext_auth=False, cert=None, password=PASSWORD, ssl=True):
        self.dir = tempfile.mkdtemp(prefix='wt-pop-')
        os.chmod(self.dir, 0o755)  # the mail uid walks into the Maildir
        self.maildir = os.path.join(self.dir, 'Maildir')
        for sub in ('new', 'cur', 'tmp'):
            os.makedirs(os.path.join(self.maildir, sub))
        if os.geteuid() == 0:
            try:
                ent = pwd.getpwnam('mail')
            except KeyError:
                ent = pwd.getpwnam('nobody')
            self.uid, self.gid, run_as = ent.pw_uid, ent.pw_gid, None
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
            run_as = pwd.getpwuid(self.uid).pw_name
        os.chown(self.maildir, self.uid, self.gid)
        for sub in ('new', 'cur', 'tmp'):
            os.chown(os.path.join(self.maildir, sub), self.uid, self.gid)
        self.password = password
        self.passwd = os.path.join(self.dir, 'passwd')
        with open(self.passwd, 'w') as f:
            f.write('%s:{PLAIN}%s\n' % (USER, password))
        os.chmod(self.passwd, 0o644)
        cert, key = cert or pki.server
        self.conf = os.path.join(self.dir, 'dovecot.conf')
        self.log = os.path.join(self.dir, 'dovecot.log')
        self.pki = pki
        self._seq = 0
        for attempt in range(5):
            self.pop3_port, self.pop3s_port = free_port(), (free_port() if ssl else None)
            lines = [
                'protocols = pop3', 'listen = 127.0.0.1',
                'base_dir = %s/run' % self.dir, 'state_dir = %s/state' % self.dir,
                'instance_name = wt-test-%d' % self.pop3_port,
                'log_path = %s' % self.log, 'info_log_path = %s' % self.log,
                ('ssl = yes\nssl_cert = <%s\nssl_key = <%s' % (cert, key)) if ssl else 'ssl = no',
                'disable_plaintext_auth = %s' % ('no' if plaintext_auth else 'yes'),
                'auth_mechanisms = plain', 'auth_failure_delay = 0', 'auth_cache_size = 0',
                'passdb {', '  driver = passwd-file', '  args = scheme=PLAIN username_format=%%u %s' % self.passwd, '}',
                'userdb {', '  driver = static',
                '  args = uid=%d gid=%d home=%s mail=maildir:%s' % (self.uid, self.gid, self.dir, self.maildir), '}',
                'first_valid_uid = 1', 'first_valid_gid = 1',
                'service pop3-login {',
                '  inet_listener pop3 {', '    port = %d' % self.pop3_port, '  }',
            ] + (['  inet_listener pop3s {', '    port = %d' % self.pop3s_port, '    ssl = yes', '  }'] if ssl else []) + [
                '}',
            ]
            if run_as:
                lines += ['default_login_user = %s' % run_as, 'default_internal_user = %s' % run_as]
            with open(self.conf, 'w') as f:
                f.write('\n'.join(lines) + '\n')
            # Dovecot forks into the background: its children must not hold a pipe of ours.
            with open(os.path.join(self.dir, 'start.err'), 'w+') as err:
                rc = subprocess.call(['dovecot', '-c', self.conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=err, timeout=30)
                err.seek(0)
                if rc != 0:
                    raise RuntimeError('dovecot did not start: %s %s' % (err.read(), self._log_tail()))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if port_open(self.pop3_port) and (not ssl or port_open(self.pop3s_port)):
                    return
                if 'Address already in use' in self._log_tail():
                    break
                time.sleep(0.05)
            self.stop()
        raise RuntimeError('dovecot did not listen: %s' % self._log_tail())

    def _log_tail(self):
        try:
            with open(self.log, errors='replace') as f:
                return f.read()[-2000:]
        except OSError:
            return ''

    def log_text(self):
        with open(self.log, errors='replace') as f:
            return f.read()

    def logins(self):
        """Dovecot's Login lines so far ('TLS' in a line: the session ran over TLS)."""
        return [l for l in self.log_text().splitlines() if 'pop3-login: Info: Login:' in l]

    def master_pid(self):
        try:
            with open(os.path.join(self.dir, 'run', 'master.pid')) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def _session_pids(self, sid):
        pids = []
        for entry in os.listdir('/proc'):
            if entry.isdigit():
                try:
                    with open('/proc/%s/stat' % entry) as f:
                        fields = f.read().rsplit(')', 1)[1].split()
                except OSError:
                    continue
                if int(fields[3]) == sid:  # the session Dovecot's master opened when it forked away
                    pids.append(int(entry))
        return pids

    def stop(self):
        """SIGTERM to the master, then SIGKILL to what is left of its session (a clean
        shutdown waits seconds for its helpers, which no test needs)."""
        pid = self.master_pid()
        if not pid:
            return
        pids = self._session_pids(pid) or [pid]
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline and (port_open(self.pop3_port) or (self.pop3s_port and port_open(self.pop3s_port))):
            time.sleep(0.05)
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(self._alive(p) for p in pids):
            time.sleep(0.02)

    @staticmethod
    def _alive(pid):
        try:
            with open('/proc/%d/stat' % pid) as f:
                return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
        except OSError:
            return False

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- the mailbox --

    def add(self, data):
        """Drops one message into new/, as a delivery agent does (tmp/, then rename)."""
        self._seq += 1
        name = '%d.M%dP%d.wt-test' % (int(time.time()), self._seq, os.getpid())
        tmp = os.path.join(self.maildir, 'tmp', name)
        with open(tmp, 'wb') as f:
            f.write(data)
        os.chown(tmp, self.uid, self.gid)
        os.rename(tmp, os.path.join(self.maildir, 'new', name))
        return name

    def seed(self, n, tag=None, start=0):
        """n distinct messages; returns their Message-IDs."""
        tag = tag or 'seed%04x' % random.getrandbits(16)
        mids = []
        for i in range(start, start + n):
            data, mid = make_message(i, tag)
            self.add(data)
            mids.append(mid)
        return mids

    def files(self):
        """{unique name: sha256 of the content} of every message in new/ and cur/ (flags
        after ':' left out: Dovecot moves new/ to cur/ when a session opens the mailbox)."""
        out = {}
        for sub in ('new', 'cur'):
            d = os.path.join(self.maildir, sub)
            for name in os.listdir(d):
                try:
                    with open(os.path.join(d, name), 'rb') as f:
                        out[name.split(':')[0]] = hashlib.sha256(f.read()).hexdigest()
                except FileNotFoundError:
                    pass
        return out

    def count(self):
        return len(self.files())

    def clear(self):
        for sub in ('new', 'cur'):
            d = os.path.join(self.maildir, sub)
            for name in os.listdir(d):
                os.unlink(os.path.join(d, name))


# ---- a TCP proxy with faults ----------------------------------------------

class Proxy:
    """Forwards 127.0.0.1:port to 127.0.0.1:target. `policy()` is called for each new
    connection and returns one of:
      ('pass',)           forward everything
      ('silent',)         accept, then never send a byte nor read one
      ('stall', n)        forward until n bytes went from the server to the client, then go silent
      ('cut', n)          forward until n bytes went either way, then reset both connections
    """

    def __init__(self, target, policy=None):
        self.target = target
        self.policy = policy or (lambda: ('pass',))
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        self.connections = 0
        self.cuts = 0
        self._held = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(client, self.policy()), daemon=True).start()

    @staticmethod
    def _reset(s):
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
        except OSError:
            pass
        s.close()

    def _serve(self, client, plan):
        if plan[0] == 'silent':
            with self._lock:
                self._held.append(client)
            return
        try:
            upstream = socket.create_connection(('127.0.0.1', self.target), timeout=10)
        except OSError:
            self._reset(client)
            return
        upstream.settimeout(None)
        import select
        sent = {'down': 0, 'up': 0}
        limit = plan[1] if len(plan) > 1 else None
        try:
            while not self.closed:
                r, _, _ = select.select([client, upstream], [], [], 0.5)
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        raise EOFError
                    direction = 'down' if s is upstream else 'up'
                    if plan[0] == 'cut':
                        room = limit - sent['down'] - sent['up']
                        if len(data) >= room:
                            (client if direction == 'down' else upstream).sendall(data[:max(room, 0)])
                            with self._lock:
                                self.cuts += 1
                            raise ConnectionAbortedError
                    elif plan[0] == 'stall' and direction == 'down':
                        room = limit - sent['down']
                        if len(data) >= room:
                            client.sendall(data[:max(room, 0)])
                            with self._lock:
                                self._held += [client, upstream]
                            return
                    (client if direction == 'down' else upstream).sendall(data)
                    sent[direction] += len(data)
        except (EOFError, OSError, ConnectionAbortedError):
            pass
        self._reset(client)
        self._reset(upstream)

    def close(self):
        self.closed = True
        self.sock.close()
        with self._lock:
            for s in self._held:
                try:
                    s.close()
                except OSError:
                    pass
