"""wt-deliver --pop against a real Dovecot POP3 server on loopback (popserver.py): plain,
STARTTLS and implicit TLS; --keep; failures that must leave the mailbox untouched; a message
that keeps failing; --interval and SIGTERM; and a crash test with SIGKILL and cut sessions."""
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import time

import pytest

from conftest import DELIVER, admin, integrity, query
import popserver
from popserver import ADDRESS, PASSWORD, USER

pytestmark = pytest.mark.skipif(not os.path.exists('/usr/sbin/dovecot'),
                                reason='Dovecot is not installed (apt-get install dovecot-pop3d dovecot-core)')

SUMMARY = re.compile(r'pop\s+(\S+?):?\s+(\d+)\s+messages?\b.*?(\d+)\s+delivered.*?(\d+)\s+duplicates?.*?'
                     r'(\d+)\s+failed.*?(\d+)\s+left')
TEMPFAIL = 75
# A server silent this long is given up on (--pop-timeout; wt's default is 30 s); a pass
# that meets one must end within STALL_LIMIT.
POP_TIMEOUT = 5
STALL_LIMIT = 3 * POP_TIMEOUT + 5


class Pass:
    def __init__(self, rc, out, err, seconds):
        self.rc, self.out, self.err, self.seconds = rc, out, err, seconds

    def summary(self):
        """(on the server, delivered, duplicates, failed, left) of the last summary line."""
        found = [m for m in (SUMMARY.search(l) for l in self.out.splitlines()) if m]
        assert found, 'no summary line on stdout: %r (stderr %r)' % (self.out, self.err)
        return tuple(int(x) for x in found[-1].groups()[1:])

    def __repr__(self):
        return 'Pass(rc=%r, %.1fs, out=%r, err=%r)' % (self.rc, self.seconds, self.out[-400:], self.err[-600:])


def password_file(folder, password=PASSWORD):
    path = os.path.join(str(folder), 'pop-password')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(password)
    return path


def new_db(folder, name='wt.db'):
    path = os.path.join(str(folder), name)
    r = admin('init', '--db', path)
    assert r.returncode == 0, r.stderr
    return path


def pop_args(db, port, security='tls', pwfile=None, ca=None, host='127.0.0.1', extra=()):
    args = [DELIVER, '--pop', '--db', str(db), '--pop-host', '%s:%d' % (host, port), '--pop-security', security,
            '--pop-user', USER, '--recipient', ADDRESS]
    if pwfile:
        args += ['--pop-password-file', pwfile]
    if ca:
        args += ['--pop-ca-file', ca]
    return args + list(extra)


def run(args, timeout=120):
    start = time.monotonic()
    p = subprocess.run(args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return Pass(p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace'),
                time.monotonic() - start)


def port_for(server, security):
    return server.pop3s_port if security == 'tls' else server.pop3_port


def fetch(db, server, security='tls', pwfile=None, ca=None, extra=(), port=None, timeout=120, host='127.0.0.1'):
    return run(pop_args(db, port or port_for(server, security), security, pwfile, ca or server.pki.ca, host, extra),
               timeout=timeout)


def fetch_url(db, server, pwfile, extra=()):
    """The host given as a pop3s:// URL, with no --pop-security: implicit TLS."""
    return run([DELIVER, '--pop', '--db', str(db), '--pop-host', 'pop3s://127.0.0.1:%d' % server.pop3s_port,
                '--pop-user', USER, '--pop-password-file', pwfile, '--pop-ca-file', server.pki.ca,
                '--recipient', ADDRESS] + list(extra))


def message_ids(db):
    return [(r[0] or '').strip('<>') for r in query(db, 'SELECT message_id FROM tickets')]


def assert_clean_error(p, *secrets):
    """One clear line on stderr, no secret anywhere in the output."""
    lines = [l for l in p.err.splitlines() if l.strip()]
    assert lines, 'no error on stderr: %r' % p
    assert len(lines) == 1, 'more than one line on stderr: %r' % p
    assert len(lines[0]) < 400, p
    for s in secrets:
        assert s not in p.err and s not in p.out, 'a password in the output: %r' % p


# ---- (a) the three transports ---------------------------------------------

@pytest.mark.parametrize('security', ['none', 'starttls', 'tls'])
def test_pass_fetches_every_message_and_empties_the_mailbox(pop_servers, tmp_path, security):
    server = pop_servers(plaintext_auth=(security == 'none'))
    mids = server.seed(5, 'pass-' + security)
    db = new_db(tmp_path)
    p = fetch(db, server, security, password_file(tmp_path))
    assert p.rc == 0, p
    assert p.summary() == (5, 5, 0, 0, 0), p
    assert sorted(message_ids(db)) == sorted(mids)
    assert query(db, 'SELECT DISTINCT recipient FROM raw_messages') == [(ADDRESS,)]
    assert server.count() == 0, 'mail left on the server: %r' % server.files()
    # Quiet when nobody watches: the summary line alone, nothing on stderr.
    assert len(p.out.strip().splitlines()) == 1, p
    assert p.err.strip() == '', p
    assert PASSWORD not in p.out + p.err
    logins = server.logins()
    assert logins, 'wt never logged in: %s' % server.log_text()[-1000:]
    if security == 'none':
        assert not any(' TLS' in l for l in logins), logins
    else:
        assert all(' TLS' in l for l in logins), 'a login without TLS: %r' % logins
    # A second pass finds nothing.
    p = fetch(db, server, security, password_file(tmp_path))
    assert p.rc == 0, p
    assert p.summary() == (0, 0, 0, 0, 0), p
    assert integrity(db) == 'ok'


def test_progress_only_at_a_terminal(dovecot, tmp_path):
    """With a terminal on stderr a pass shows its progress; without one (test above) it is quiet."""
    import pty
    dovecot.seed(5, 'progress')
    db = new_db(tmp_path)
    master, slave = pty.openpty()
    try:
        p = subprocess.run(pop_args(db, dovecot.pop3s_port, 'tls', password_file(tmp_path), dovecot.pki.ca),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, timeout=60)
        os.close(slave)
        slave = None
        shown = b''
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    assert p.returncode == 0, (p, shown)
    assert re.search(rb'\d+ of 5', shown), 'no progress at a terminal: %r' % shown
    assert PASSWORD.encode() not in shown


def test_settings_supply_every_default(dovecot, tmp_path):
    """pop_host, pop_user, pop_password, pop_security, pop_ca_file and pop_address from the
    database: `wt-deliver --pop --db DB` and nothing else."""
    mids = dovecot.seed(3, 'settings')
    db = new_db(tmp_path)
    # pop_security is left out: implicit TLS is the default.
    for key, value in (('pop_host', '127.0.0.1:%d' % dovecot.pop3s_port), ('pop_user', USER),
                       ('pop_password', PASSWORD), ('pop_ca_file', dovecot.pki.ca), ('pop_address', ADDRESS)):
        r = admin('settings', 'set', key, value, '--db', db)
        assert r.returncode == 0, r.stderr
    p = run([DELIVER, '--pop', '--db', db])
    assert p.rc == 0, p
    assert p.summary() == (3, 3, 0, 0, 0), p
    assert sorted(message_ids(db)) == sorted(mids)
    assert query(db, 'SELECT DISTINCT recipient FROM raw_messages') == [(ADDRESS,)]
    assert dovecot.count() == 0
    assert all(' TLS' in l for l in dovecot.logins())


def test_no_pop_host_configured_is_78_and_bad_options_64(tmp_path):
    db = new_db(tmp_path)
    p = run([DELIVER, '--pop', '--db', db])
    assert p.rc == 78, p
    assert p.err.strip(), p
    p = run([DELIVER, '--pop', '--db', db, '--pop-host', '127.0.0.1:1', '--pop-user', USER,
             '--pop-security', 'sometimes'])
    assert p.rc == 64, p
    p = run([DELIVER, '--pop', '--db', db, '--pop-host', '127.0.0.1:1', '--pop-user', USER, '--interval', 'soon'])
    assert p.rc == 64, p


def test_starttls_required_when_the_server_does_not_offer_it(pop_servers, tmp_path):
    """A server without STARTTLS: starttls mode refuses to log in in clear."""
    server = pop_servers(ssl=False, plaintext_auth=True)
    server.seed(2, 'nostarttls')
    before = server.files()
    db = new_db(tmp_path)
    p = fetch(db, server, 'starttls', password_file(tmp_path))
    assert p.rc == TEMPFAIL, p
    assert_clean_error(p, PASSWORD)
    assert server.files() == before
    assert server.logins() == [], 'wt logged in without TLS'
    assert message_ids(db) == []


# ---- (b) --keep ---------------------------------------------------------

def test_keep_leaves_mail_and_a_second_pass_adds_nothing(dovecot, tmp_path):
    mids = dovecot.seed(5, 'keep')
    before = dovecot.files()
    db = new_db(tmp_path)
    pw = password_file(tmp_path)
    p = fetch_url(db, dovecot, pw, extra=['--keep'])
    assert p.rc == 0, p
    assert p.summary()[:2] == (5, 5) and p.summary()[3:] == (0, 0), p
    assert sorted(message_ids(db)) == sorted(mids)
    assert dovecot.files() == before, 'the mailbox changed under --keep'
    assert query(db, 'SELECT count(*) FROM pop_messages')[0][0] >= 5
    p = fetch(db, dovecot, 'tls', pw, extra=['--keep'])
    assert p.rc == 0, p
    on_server, delivered, _, failed, left = p.summary()
    assert (on_server, delivered, failed, left) == (5, 0, 0, 0), p
    assert len(message_ids(db)) == 5
    assert dovecot.files() == before
    # New mail: only it is taken.
    more = dovecot.seed(2, 'keep-more', start=100)
    p = fetch(db, dovecot, 'tls', pw, extra=['--keep'])
    assert p.rc == 0, p
    assert p.summary()[1] == 2, p
    assert sorted(message_ids(db)) == sorted(mids + more)
    assert dovecot.count() == 7
    # Without --keep: nothing new, and the mailbox is emptied.
    p = fetch(db, dovecot, 'tls', pw)
    assert p.rc == 0, p
    assert p.summary()[1] == 0 and p.summary()[3:] == (0, 0), p
    assert len(message_ids(db)) == 7
    assert dovecot.count() == 0


# ---- (c) failures leave the mailbox untouched -----------------------------

def check_untouched(server, before, db, p, *secrets, delivered_ok=False):
    """Exit 75, one clear line, the mailbox as it was; no ticket unless `delivered_ok` (a
    session lost after some messages were delivered: they stay on the server all the same)."""
    assert p.rc == TEMPFAIL, p
    assert_clean_error(p, PASSWORD, *secrets)
    assert server.files() == before, 'the mailbox changed'
    if not delivered_ok:
        assert message_ids(db) == []


def test_wrong_password(dovecot, tmp_path):
    dovecot.seed(5, 'wrongpw')
    before = dovecot.files()
    db = new_db(tmp_path)
    wrong = 'not-the-Password-91c4'
    p = fetch(db, dovecot, 'tls', password_file(tmp_path, wrong))
    check_untouched(dovecot, before, db, p, wrong)
    assert re.search(r'auth|login|password|credential|denied|reject', p.err, re.I), p


def test_unreachable_host(dovecot, tmp_path):
    dovecot.seed(5, 'unreachable')
    before = dovecot.files()
    db = new_db(tmp_path)
    p = fetch(db, dovecot, 'tls', password_file(tmp_path), port=popserver.free_port())
    check_untouched(dovecot, before, db, p)
    assert p.seconds < 30, p
    assert re.search(r'connect|refused|reach', p.err, re.I), p


@pytest.mark.parametrize('flaw', ['untrusted CA', 'wrong host name'])
def test_bad_certificate(pop_servers, pop_pki, tmp_path, flaw):
    if flaw == 'untrusted CA':
        cert = pop_pki.server_cert('rogue', ca=pop_pki.other_ca())
    else:
        cert = pop_pki.server_cert('elsewhere', names=('DNS:pop.elsewhere.example',))
    server = pop_servers(cert=cert)
    server.seed(5, 'badcert')
    before = server.files()
    for security in ('tls', 'starttls'):
        db = new_db(tmp_path, 'wt-%s.db' % security)
        p = fetch(db, server, security, password_file(tmp_path))
        check_untouched(server, before, db, p)
        assert re.search(r'certificate|verif|TLS|SSL|peer', p.err, re.I), p
    assert server.logins() == [], 'wt sent its password to a server it could not verify'


@pytest.mark.parametrize('how', ['silent from the start', 'stalls mid-session'])
def test_server_that_stops_answering(dovecot, tmp_path, how):
    mids = dovecot.seed(5, 'stall')
    before = dovecot.files()
    db = new_db(tmp_path)
    # Implicit TLS through the proxy: the greeting, the handshake, the login and part of the
    # listing go through (about 4 KB), then nothing more comes.
    plan = ('silent',) if how.startswith('silent') else ('stall', 4500)
    proxy = popserver.Proxy(dovecot.pop3s_port, lambda: plan)
    try:
        p = fetch(db, dovecot, 'tls', password_file(tmp_path), port=proxy.port, timeout=STALL_LIMIT + 120,
                  extra=['--pop-timeout', str(POP_TIMEOUT)])
    finally:
        proxy.close()
    check_untouched(dovecot, before, db, p, delivered_ok=True)
    assert p.seconds < STALL_LIMIT, 'gave up only after %.0f s' % p.seconds
    assert re.search(r'time|answer|respon|stall', p.err, re.I), p
    # The server answering again, one pass takes everything, each message once.
    p = fetch(db, dovecot, 'tls', password_file(tmp_path))
    assert p.rc == 0, p
    assert sorted(message_ids(db)) == sorted(mids)
    assert dovecot.count() == 0


# A pass that meets a locked database must give up (75, one clear line) within this long.
LOCK_LIMIT = 60


def test_locked_database(dovecot, tmp_path):
    """Another process holds an exclusive lock for the whole pass."""
    mids = dovecot.seed(5, 'locked')
    before = dovecot.files()
    db = new_db(tmp_path)
    holder = subprocess.Popen(
        ['python3', '-c', 'import sqlite3, sys\n'
         'c = sqlite3.connect(sys.argv[1], isolation_level=None)\n'
         'c.execute("BEGIN EXCLUSIVE")\nprint("locked", flush=True)\nsys.stdin.read()\n', db],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        args = pop_args(db, dovecot.pop3s_port, 'tls', password_file(tmp_path), dovecot.pki.ca)
        start = time.monotonic()
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=LOCK_LIMIT + 30)
            gave_up = True
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            gave_up = False
        p = Pass(proc.returncode, out.decode(), err.decode(), time.monotonic() - start)
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    assert dovecot.files() == before, 'the mailbox changed'
    assert message_ids(db) == []
    assert gave_up, 'still waiting for the lock after %.0f s (expected exit 75 within %d s): %r' % (p.seconds, LOCK_LIMIT, p)
    check_untouched(dovecot, before, db, p)
    assert p.seconds < LOCK_LIMIT, 'gave up only after %.0f s' % p.seconds
    assert re.search(r'database|lock|busy', p.err, re.I), p
    # The lock gone, the next pass takes everything.
    p = fetch(db, dovecot, 'tls', password_file(tmp_path))
    assert p.rc == 0 and p.summary()[1] == 5, p
    assert sorted(message_ids(db)) == sorted(mids)
    assert dovecot.count() == 0


# ---- (d) a message that keeps failing ---------------------------------------

def test_message_that_keeps_failing_stays_and_is_reported(dovecot, tmp_path):
    """A trigger makes the ticket of one message (and only it) fail to insert."""
    good = dovecot.seed(4, 'keeps-failing-ok')
    bad, bad_mid = popserver.make_message(99, 'keeps-failing')
    bad = bad.replace(b'Subject: ', b'Subject: POISON ', 1)
    dovecot.add(bad)
    db = new_db(tmp_path)
    con = sqlite3.connect(db)
    con.execute("CREATE TRIGGER poison BEFORE INSERT ON tickets WHEN NEW.subject LIKE '%POISON%' "
                "BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END")
    con.commit()
    con.close()
    pw = password_file(tmp_path)
    for attempt in (1, 2):
        p = fetch(db, dovecot, 'tls', pw)
        assert p.rc == TEMPFAIL, p
        on_server, delivered, _, failed, left = p.summary()
        assert (on_server, delivered, failed, left) == ((5, 4, 1, 1) if attempt == 1 else (1, 0, 1, 1)), p
        assert PASSWORD not in p.out + p.err
        left_files = list(dovecot.files())
        assert len(left_files) == 1, 'expected the failing message alone on the server'
        assert sorted(message_ids(db)) == sorted(good)
    r = admin('pop', 'list', '--db', db)
    assert r.returncode == 0, r.stderr
    assert 'refused by a test trigger' in r.stdout or 'POISON' in r.stdout or bad_mid in r.stdout, r.stdout
    r = admin('pop', 'list', '--json', '--db', db)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]  # one object per line
    assert len(rows) == 1, rows
    assert rows[0].get('attempts') == 2, rows
    assert any('trigger' in str(v) for v in rows[0].values()), rows
    # Fixed: the next pass takes it, and nothing is reported any more.
    con = sqlite3.connect(db)
    con.execute('DROP TRIGGER poison')
    con.commit()
    con.close()
    p = fetch(db, dovecot, 'tls', pw)
    assert p.rc == 0, p
    assert p.summary()[1] == 1, p
    assert dovecot.count() == 0
    assert sorted(message_ids(db)) == sorted(good + [bad_mid])
    r = admin('pop', 'list', '--json', '--db', db)
    rows = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    assert rows == [], 'a delivered message is still listed as failing: %r' % rows


# ---- (e) --interval -------------------------------------------------------

def wait_for(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError('timed out waiting for ' + what)


def process_tree(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open('/proc/%d/task/%d/children' % (p, p)) as f:
                todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def identity(pid):
    """(pid, start time): a pid can be reused, the pair cannot."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return None
    return (pid, fields[19]) if fields[0] != 'Z' else None


def alive(ident):
    return ident is not None and identity(ident[0]) == ident


def test_interval_polls_and_stops_on_sigterm(dovecot, tmp_path):
    first = dovecot.seed(3, 'interval-1')
    db = new_db(tmp_path)
    args = pop_args(db, dovecot.pop3s_port, 'tls', password_file(tmp_path), dovecot.pki.ca, extra=['--interval', '1'])
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: len(message_ids(db)) == 3 and dovecot.count() == 0, 30, 'the first three tickets')
        # The password is in no process's argv or environment.
        for pid in process_tree(proc.pid):
            for part in ('cmdline', 'environ'):
                try:
                    with open('/proc/%d/%s' % (pid, part), 'rb') as f:
                        assert PASSWORD.encode() not in f.read(), 'the password is in /proc/%d/%s' % (pid, part)
                except FileNotFoundError:
                    pass
        second = dovecot.seed(2, 'interval-2', start=10)
        wait_for(lambda: len(message_ids(db)) == 5 and dovecot.count() == 0, 30, 'the next two tickets')
        assert proc.poll() is None, 'the poller stopped by itself'
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out, err = out.decode(), err.decode()
    assert proc.returncode == 0, (proc.returncode, out, err)
    assert sorted(message_ids(db)) == sorted(first + second)
    passes = [m for m in (SUMMARY.search(l) for l in out.splitlines()) if m]
    assert len(passes) >= 2, out
    assert sum(int(m.group(3)) for m in passes) == 5, out
    assert PASSWORD not in out + err
    assert integrity(db) == 'ok'


def test_sigterm_mid_pass_finishes_the_message_and_quits(dovecot, tmp_path):
    """SIGTERM while a long pass is under way: what was delivered is deleted (the session
    ended with QUIT), what was not stays, nothing is both, and the exit status is 0."""
    mids = dovecot.seed(400, 'sigterm')
    db = new_db(tmp_path)
    args = pop_args(db, dovecot.pop3s_port, 'tls', password_file(tmp_path), dovecot.pki.ca, extra=['--interval', '60'])
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: query(db, 'SELECT count(*) FROM tickets')[0][0] >= 20, 60, 'the first tickets')
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, (proc.returncode, out, err)
    delivered = message_ids(db)
    assert len(delivered) < 400, 'the pass ended before SIGTERM; seed more messages'
    # What is left on the server is exactly what has no ticket.
    left = set()
    for name in os.listdir(os.path.join(dovecot.maildir, 'cur')) + os.listdir(os.path.join(dovecot.maildir, 'new')):
        for sub in ('cur', 'new'):
            path = os.path.join(dovecot.maildir, sub, name)
            if os.path.exists(path):
                with open(path, 'rb') as f:
                    left.add(re.search(rb'^Message-ID: <([^>]+)>', f.read(), re.M).group(1).decode())
    assert not left & set(delivered), 'delivered, yet still on the server: %r' % sorted(left & set(delivered))[:5]
    assert left | set(delivered) == set(mids)
    assert len(delivered) == len(set(delivered))


# ---- (f) the crash test ---------------------------------------------------

CRASH_MESSAGES = 500
CRASH_PASSES = 200


def write_figure(line):
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'out')
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'figures.txt'), 'a') as f:
        f.write(line + '\n')


def test_crash_sigkill_and_cut_sessions_lose_nothing_and_duplicate_nothing(dovecot, tmp_path):
    """500 messages reach the server a few at a time over 200 passes; each pass is killed
    with SIGKILL at a random moment, or its session is cut by the server side at a random
    byte count, or it finishes. Then one clean pass: each message in the database exactly
    once, and the mailbox empty."""
    rng = random.Random(int(os.environ.get('WT_CRASH_SEED', '12')))
    db = new_db(tmp_path)
    pw = password_file(tmp_path)
    cuts = {'plan': ('pass',)}
    proxy = popserver.Proxy(dovecot.pop3s_port, lambda: cuts['plan'])
    args = pop_args(db, proxy.port, 'tls', pw, dovecot.pki.ca)
    seeded, added = [], 0
    outcomes = {'killed': 0, 'cut': 0, 'finished': 0}
    exits = {}
    typical = 0.3  # seconds a pass takes; kept up to date from passes that finished
    stragglers = set()
    duplicates = 0  # messages fetched again after a pass was killed or cut: the delivery key absorbed them
    start = time.monotonic()
    try:
        for n in range(CRASH_PASSES):
            # Mail keeps arriving: by the last pass all 500 are on the server.
            due = (n + 1) * CRASH_MESSAGES // CRASH_PASSES
            if due > added:
                seeded += dovecot.seed(due - added, 'crash', start=added)
                added = due
            roll = rng.random()
            if roll < 0.3:
                cuts['plan'] = ('cut', rng.randint(1, 12000))
                kill_at = None
                outcomes['cut'] += 1
            elif roll < 0.9:
                cuts['plan'] = ('pass',)
                kill_at = rng.uniform(0, typical)
            else:
                cuts['plan'] = ('pass',)
                kill_at = None
            t0 = time.monotonic()
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL)
            try:
                rc = proc.wait(timeout=kill_at if kill_at is not None else 120)
            except subprocess.TimeoutExpired:
                # SIGKILL to wt-deliver alone, or to it and its wt-deliver-net at once.
                tree = process_tree(proc.pid)
                idents = [identity(pid) for pid in tree[1:]]
                for pid in (tree if rng.random() < 0.5 else tree[:1]):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                proc.wait()
                proc.stdout.close()
                outcomes['killed'] += 1
                stragglers.update(i for i in idents if alive(i))
                continue
            exits[rc] = exits.get(rc, 0) + 1
            for m in (SUMMARY.search(l) for l in proc.stdout.read().decode().splitlines()):
                if m:
                    duplicates += int(m.group(4))
            if kill_at is None and cuts['plan'][0] == 'pass':
                outcomes['finished'] += 1
                typical = 0.7 * typical + 0.3 * (time.monotonic() - t0)
            assert rc in (0, TEMPFAIL), 'pass %d exited %d' % (n, rc)
        cuts['plan'] = ('pass',)
        # A helper whose wt-deliver was killed must not go on with the session on its own.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(pid) for pid in stragglers):
            time.sleep(0.1)
        lingering = [pid for pid in stragglers if alive(pid)]
        for pid, _ in lingering:
            os.kill(pid, signal.SIGKILL)
        p = run(args, timeout=300)
    finally:
        proxy.close()
    assert not lingering, 'processes still running 10 s after their wt-deliver was killed: %r' % lingering
    assert p.rc == 0, p
    write_figure('pop crash test: %d passes (%d killed, %d sessions cut by the server side, exits %r), '
                 '%d messages, %d refetched as duplicates, %.0f s, seed %s'
                 % (CRASH_PASSES, outcomes['killed'], proxy.cuts, exits, CRASH_MESSAGES, duplicates,
                    time.monotonic() - start, os.environ.get('WT_CRASH_SEED', '12')))
    assert dovecot.count() == 0, '%d messages left on the server' % dovecot.count()
    got = message_ids(db)
    twice = sorted({m for m in got if got.count(m) > 1})
    assert not twice, 'delivered more than once: %r' % twice[:10]
    missing = sorted(set(seeded) - set(got))
    assert not missing, '%d messages lost: %r' % (len(missing), missing[:10])
    assert len(got) == CRASH_MESSAGES
    assert query(db, 'SELECT count(*) FROM raw_messages')[0][0] == CRASH_MESSAGES
    assert integrity(db) == 'ok'
    assert duplicates > 0, 'no pass ever met a message delivered by a pass that was killed or cut'
