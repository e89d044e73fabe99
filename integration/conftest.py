"""Shared helpers for the integration tests: they run the built binaries against real
SQLite files, real signals and real fault injection, as an MTA would."""
import os
import signal
import socket
import sqlite3
import subprocess
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get('WT_BIN_DIR', os.path.join(ROOT, '.build', 'release'))
DELIVER = os.path.join(BIN, 'wt-deliver')
ADMIN = os.path.join(BIN, 'wt-admin')
SHARED = os.environ.get('WT_SHARED', os.path.join(ROOT, '..', 'shared'))


def message(subject='Printer on fire', body='The printer in room 2 is on fire.\n', sender='ann@example.org',
            extra_headers='', attachment=None):
    """A small, unique message (a fresh Message-ID every call)."""
    mid = '<%s@example.org>' % uuid.uuid4().hex
    head = ('From: Ann Example <%s>\r\nTo: helpdesk@wt.test\r\nSubject: %s\r\nMessage-ID: %s\r\n'
            'Date: Sun, 29 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n%s' % (sender, subject, mid, extra_headers))
    if attachment is None:
        return (head + 'Content-Type: text/plain; charset=utf-8\r\n\r\n' + body.replace('\n', '\r\n')).encode()
    import base64
    b64 = base64.encodebytes(attachment).decode().replace('\n', '\r\n')
    return (head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
            + body.replace('\n', '\r\n') + '\r\n--b\r\nContent-Type: application/octet-stream\r\n'
            'Content-Disposition: attachment; filename="data.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            + b64 + '--b--\r\n').encode()


class Result:
    def __init__(self, rc, out, err, seconds):
        self.rc, self.out, self.err, self.seconds = rc, out, err, seconds

    def __repr__(self):
        return 'Result(rc=%r, err=%r)' % (self.rc, self.err[-300:])


def deliver(db, data, *args, timeout=60, prefix=(), recipient='helpdesk@wt.test', env=None):
    cmd = list(prefix) + [DELIVER, '--db', str(db), '-f', 'ann@example.org'] + list(args) + ['--', recipient]
    start = time.monotonic()
    p = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout, env=env)
    return Result(p.returncode, p.stdout, p.stderr.decode('utf-8', 'replace'), time.monotonic() - start)


def deliver_killed_after(db, data, seconds, recipient='helpdesk@wt.test', env=None):
    """Starts a delivery of `data`, sends it SIGKILL after `seconds`, and returns its exit
    status (-SIGKILL when the signal came first)."""
    p = subprocess.Popen([DELIVER, '--db', str(db), '--', recipient], stdin=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        p.stdin.write(data)
        p.stdin.close()
    except BrokenPipeError:
        pass
    time.sleep(seconds)
    p.send_signal(signal.SIGKILL)
    return p.wait()


def bind_dev_log():
    """/dev/log bound to a socket of the test's when no syslog daemon has it, else None."""
    if os.path.exists('/dev/log'):
        return None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind('/dev/log')
    return s


def unbind_dev_log(s):
    if s is not None:
        s.close()
        os.unlink('/dev/log')


def log_lines(sock):
    """What reached the socket so far, a datagram a line."""
    if sock is None:
        return []
    out = []
    sock.settimeout(0.5)
    try:
        while True:
            out.append(sock.recv(65536).decode('utf-8', 'replace'))
    except socket.timeout:
        pass
    return out


def admin(*args):
    return subprocess.run([ADMIN] + list(args), capture_output=True, text=True, timeout=60)


def query(db, sql, params=()):
    con = sqlite3.connect(str(db), timeout=30)
    try:
        rows = con.execute(sql, params).fetchall()
        con.commit()  # a change made here must reach the database
        return rows
    finally:
        con.close()


def integrity(db):
    return query(db, 'PRAGMA integrity_check')[0][0]


def tickets_with_message_id(db, data):
    mid = [l for l in data.split(b'\r\n') if l.startswith(b'Message-ID:')][0].split(b'<')[1].split(b'>')[0].decode()
    return query(db, 'SELECT count(*) FROM tickets WHERE message_id = ?', (mid,))[0][0]


@pytest.fixture
def db(tmp_path):
    return tmp_path / 'wt.db'


@pytest.fixture(scope='session')
def pg_server():
    """One PostgreSQL server on loopback for the session (see pgserver.py), stopped at the end
    whatever happened. The tests that use it skip when the server binaries are missing."""
    import pgserver
    why = pgserver.missing_reason()
    if why:
        pytest.skip(why)
    server = pgserver.Server()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def pg(pg_server):
    """A fresh database on the session's server: (server, URI)."""
    if not pg_server.running:
        pg_server.start()  # a test stopped it
    return pg_server, pg_server.uri(pg_server.create_database())


def pytest_configure(config):
    if not os.access(DELIVER, os.X_OK):
        raise pytest.UsageError('no wt-deliver at %s: run make build first (or set WT_BIN_DIR)' % DELIVER)


def pytest_terminal_summary(terminalreporter):
    """The figures measured on the way (load, kill sweep), before pytest's closing line."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'out', 'figures.txt')
    if os.path.exists(path):
        terminalreporter.section('figures')
        for line in open(path):
            terminalreporter.write_line(line.rstrip())


def pytest_sessionstart(session):
    """Figures are this run's only."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'out', 'figures.txt')
    if os.path.exists(path):
        os.unlink(path)


# ---- a Dovecot POP3 server on loopback (popserver.py) ----

@pytest.fixture(scope='session')
def pop_pki(tmp_path_factory):
    """The test CA (pop_pki.ca: the file handed to wt with --pop-ca-file) and a server
    certificate for localhost and 127.0.0.1 that it signs."""
    import popserver
    return popserver.PKI(tmp_path_factory.mktemp('pki'))


@pytest.fixture
def pop_servers(pop_pki):
    """Starts Dovecot instances on demand: `pop_servers(plaintext_auth=False, cert=None, ssl=True)`;
    every one started is stopped, and its folder removed, at the end of the test, also on failure."""
    import popserver
    started = []

    def start(**kw):
        server = popserver.Dovecot(pop_pki, **kw)
        started.append(server)
        return server
    yield start
    for server in started:
        server.cleanup()


@pytest.fixture
def dovecot(pop_servers):
    """One Dovecot with TLS (STARTTLS on the plain port, implicit TLS on pop3s_port)."""
    return pop_servers()
