"""The examples in examples/postfix and examples/procmail, proven against the real Postfix and
procmail on loopback: what an administrator copies is what is tested."""
import os
import pwd
import re
import shutil
import smtplib
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import DELIVER, ROOT, message

EXAMPLES = os.path.join(ROOT, 'examples')
BASE = '/var/tmp/wt-postfix-test'
BIN = BASE + '/bin/wt-deliver'
DB = BASE + '/db/wt.db'
LOG = '/var/log/postfix.log'
DEADLINE = '6'

pytestmark = pytest.mark.skipif(shutil.which('postfix') is None or os.geteuid() != 0,
                                reason='needs Postfix installed and root (.ci/run installs it)')


def sh(*cmd, check=True, **kw):
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True, **kw)


def example(path, **subst):
    text = open(os.path.join(EXAMPLES, path)).read()
    for a, b in subst.items():
        text = text.replace(a, b)
    return text


def ensure_user(name, home):
    try:
        pwd.getpwnam(name)
    except KeyError:
        sh('useradd', '--system', '--home-dir', home, '--shell', '/usr/sbin/nologin', name)
    return pwd.getpwnam(name)


@pytest.fixture(scope='module')
def postfix():
    shutil.rmtree(BASE, ignore_errors=True)
    os.makedirs(BASE + '/bin')
    os.makedirs(BASE + '/db')
    os.chmod(BASE, 0o755)
    shutil.copy(DELIVER, BIN)
    os.chmod(BIN, 0o755)
    wt = ensure_user('wt', '/var/lib/wt')
    os.chown(BASE + '/db', wt.pw_uid, wt.pw_gid)
    # A local user for the procmail path: ~/.forward and ~/.procmailrc from the examples.
    helpdesk = ensure_user('helpdesk', BASE + '/home')
    os.makedirs(BASE + '/home', exist_ok=True)
    os.makedirs(BASE + '/pdb', exist_ok=True)
    for d in (BASE + '/home', BASE + '/pdb'):
        os.chown(d, helpdesk.pw_uid, helpdesk.pw_gid)
    with open(BASE + '/home/.forward', 'w') as f:
        f.write(example('procmail/forward'))
    with open(BASE + '/home/.procmailrc', 'w') as f:
        f.write(example('procmail/procmailrc', **{'/usr/local/bin/wt-deliver': BIN, '/var/lib/wt/wt.db': BASE + '/pdb/wt.db --deadline ' + DEADLINE}))
    for p in ('.forward', '.procmailrc'):
        os.chown(BASE + '/home/' + p, helpdesk.pw_uid, helpdesk.pw_gid)
        os.chmod(BASE + '/home/' + p, 0o644)

    sh('postfix', 'stop', check=False)
    if os.path.exists('/etc/postfix/main.cf.wt-orig'):
        shutil.copy('/etc/postfix/main.cf.wt-orig', '/etc/postfix/main.cf')
        shutil.copy('/etc/postfix/master.cf.wt-orig', '/etc/postfix/master.cf')
    else:
        shutil.copy('/etc/postfix/main.cf', '/etc/postfix/main.cf.wt-orig')
        shutil.copy('/etc/postfix/master.cf', '/etc/postfix/master.cf.wt-orig')
    # Loopback only, our test domain, the log in a file (there is no syslog here).
    sh('postconf', '-e', 'inet_interfaces = loopback-only', 'inet_protocols = ipv4', 'mydestination = localhost, wt.test',
       'myhostname = mx.wt.test', 'maillog_file = ' + LOG, 'relayhost =', 'smtputf8_enable = no',
       'alias_maps = hash:/etc/aliases', 'queue_run_delay = 3600s', 'minimal_backoff_time = 3600s')
    # Exactly the example lines, as an administrator would add them.
    for line in example('postfix/main.cf').splitlines():
        if line.strip() and not line.lstrip().startswith('#'):
            sh('postconf', '-e', line.strip())
    with open('/etc/postfix/master.cf', 'a') as f:
        f.write('\n' + example('postfix/master.cf', **{'/usr/local/bin/wt-deliver': BIN,
                                                      '--db /var/lib/wt/wt.db': '--db %s --deadline %s' % (DB, DEADLINE)}))
    with open('/etc/postfix/transport', 'w') as f:
        f.write(example('postfix/transport', **{'@example.com': '@wt.test'}))
    sh('postmap', '/etc/postfix/transport')
    sh('newaliases')
    open(LOG, 'a').close()
    sh('postfix', 'check')
    sh('postfix', 'start')
    for _ in range(100):
        try:
            smtplib.SMTP('127.0.0.1', 25, timeout=2).quit()
            break
        except OSError:
            time.sleep(0.1)
    yield
    sh('postfix', 'stop', check=False)
    shutil.copy('/etc/postfix/main.cf.wt-orig', '/etc/postfix/main.cf')
    shutil.copy('/etc/postfix/master.cf.wt-orig', '/etc/postfix/master.cf')


def log_lines(since):
    with open(LOG, errors='replace') as f:
        f.seek(since)
        return f.read()


def log_size():
    return os.path.getsize(LOG)


def wait_queue_empty(timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if 'Mail queue is empty' in sh('postqueue', '-p', check=False).stdout:
            return True
        time.sleep(0.2)
    return False


def wait_for(pattern, since, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        m = re.search(pattern, log_lines(since))
        if m:
            return m
        time.sleep(0.2)
    raise AssertionError('no %r in the Postfix log:\n%s' % (pattern, log_lines(since)[-3000:]))


def tickets(db, mid=None):
    if not os.path.exists(db):
        return 0
    con = sqlite3.connect(db, timeout=30)
    try:
        if mid is None:
            return con.execute('SELECT count(*) FROM tickets').fetchone()[0]
        return con.execute('SELECT count(*) FROM tickets WHERE message_id = ?', (mid,)).fetchone()[0]
    finally:
        con.close()


def mid_of(data):
    return re.search(rb'Message-ID: <([^>]+)>', data).group(1).decode()


def sendmail(data, to, sender='ann@example.org'):
    p = subprocess.run(['sendmail', '-oi', '-f', sender, '--', to], input=data, capture_output=True)
    assert p.returncode == 0, p.stderr


class Lock:
    def __init__(self, db):
        code = 'import sqlite3,sys\nc=sqlite3.connect(sys.argv[1],isolation_level=None,timeout=30)\nc.execute("BEGIN IMMEDIATE")\nprint("locked",flush=True)\nsys.stdin.readline()\n'
        self.p = subprocess.Popen([sys.executable, '-c', code, db], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.p.stdout.readline().strip() == 'locked'

    def release(self):
        self.p.stdin.write('\n')
        self.p.stdin.flush()
        self.p.wait(timeout=10)


CASES = {
    'plain': lambda: message(subject='Plain through Postfix'),
    'attachments': lambda: message(subject='With a file', attachment=os.urandom(150_000)),
    'unparseable': lambda: b'Message-ID: <%s@x>\r\n' % os.urandom(6).hex().encode() + bytes((i * 7919) % 256 for i in range(30000)).replace(b'\n.', b'\nx'),
    '20mb': lambda: message(subject='Twenty megabytes', attachment=os.urandom(15_000_000)),
}


@pytest.mark.parametrize('case', list(CASES))
def test_postfix_pipe_delivers_without_bouncing(postfix, case):
    data = CASES[case]()
    since = log_size()
    sendmail(data, 'helpdesk@wt.test')
    m = wait_for(r'to=<helpdesk@wt\.test>, relay=wt, .*status=(\w+)', since, timeout=120)
    assert m.group(1) == 'sent', log_lines(since)
    assert 'status=bounced' not in log_lines(since)
    assert tickets(DB, mid_of(data)) == 1


def test_postfix_smtp_delivers_with_envelope(postfix):
    data = message(subject='Over SMTP')
    since = log_size()
    with smtplib.SMTP('127.0.0.1', 25) as s:
        s.sendmail('bob@example.org', ['support@wt.test'], data)
    wait_for(r'to=<support@wt\.test>, relay=wt, .*status=sent', since)
    con = sqlite3.connect(DB)
    sender, recipient = con.execute('SELECT sender, recipient FROM raw_messages ORDER BY id DESC LIMIT 1').fetchone()
    con.close()
    assert (sender, recipient) == ('bob@example.org', 'support@wt.test')


def test_postfix_bounce_arrives_with_empty_sender(postfix):
    data = message(subject='Undeliverable: your mail')
    since = log_size()
    sendmail(data, 'helpdesk@wt.test', sender='')
    wait_for(r'to=<helpdesk@wt\.test>, relay=wt, .*status=sent', since)
    con = sqlite3.connect(DB)
    sender = con.execute('SELECT sender FROM raw_messages ORDER BY id DESC LIMIT 1').fetchone()[0]
    automatic, reasons = con.execute('SELECT t.automatic, e.reasons FROM tickets t JOIN ticket_events e ON e.ticket_id = t.id '
                                     'WHERE t.message_id = ?', (mid_of(data),)).fetchone()
    con.close()
    assert sender == ''
    # Marked so that no notification ever answers its sender.
    assert automatic == 1 and 'null envelope sender' in reasons


def test_postfix_reply_threads_into_its_ticket(postfix):
    first = message(subject='Scanner offline')
    since = log_size()
    sendmail(first, 'helpdesk@wt.test')
    wait_for(r'to=<helpdesk@wt\.test>, relay=wt, .*status=sent', since)
    reply = message(subject='Re: Scanner offline', body='It is back, thanks.\n',
                    extra_headers='In-Reply-To: <%s>\r\nReferences: <%s>\r\n' % (mid_of(first), mid_of(first)))
    since = log_size()
    sendmail(reply, 'helpdesk@wt.test')
    wait_for(r'to=<helpdesk@wt\.test>, relay=wt, .*status=sent', since)
    con = sqlite3.connect(DB)
    ticket = con.execute('SELECT id FROM tickets WHERE message_id = ?', (mid_of(first),)).fetchone()[0]
    kinds = con.execute('SELECT kind FROM ticket_events WHERE ticket_id = ? ORDER BY id', (ticket,)).fetchall()
    separate = con.execute('SELECT count(*) FROM tickets WHERE message_id = ?', (mid_of(reply),)).fetchone()[0]
    con.close()
    assert kinds == [('created',), ('followup',)]
    assert separate == 0


def test_postfix_defers_while_locked_then_delivers_once(postfix):
    sendmail(message(subject='warm up'), 'helpdesk@wt.test')
    assert wait_queue_empty()
    data = message(subject='Locked out')
    lock = Lock(DB)
    try:
        since = log_size()
        sendmail(data, 'helpdesk@wt.test')
        m = wait_for(r'to=<helpdesk@wt\.test>, relay=wt, .*status=(\w+)', since, timeout=int(DEADLINE) + 60)
        assert m.group(1) == 'deferred', log_lines(since)
        assert 'status=bounced' not in log_lines(since)
        assert '(temporary failure' in sh('postqueue', '-p').stdout
    finally:
        lock.release()
    assert tickets(DB, mid_of(data)) == 0
    since = log_size()
    sh('postqueue', '-f')
    wait_for(r'to=<helpdesk@wt\.test>, relay=wt, .*status=sent', since)
    assert wait_queue_empty()
    assert tickets(DB, mid_of(data)) == 1


PDB = BASE + '/pdb/wt.db'


@pytest.mark.parametrize('case', list(CASES))
def test_procmail_through_forward_delivers(postfix, case):
    data = CASES[case]()
    since = log_size()
    sendmail(data, 'helpdesk@mx.wt.test' if False else 'helpdesk@localhost')
    m = wait_for(r'to=<helpdesk@localhost>, .*relay=local, .*status=(\w+)', since, timeout=120)
    assert m.group(1) == 'sent', log_lines(since)
    assert tickets(PDB, mid_of(data)) == 1


def test_procmail_defers_while_locked_then_delivers_once(postfix):
    sendmail(message(subject='warm up'), 'helpdesk@localhost')
    assert wait_queue_empty()
    data = message(subject='Locked out, procmail')
    lock = Lock(PDB)
    try:
        since = log_size()
        sendmail(data, 'helpdesk@localhost')
        m = wait_for(r'to=<helpdesk@localhost>, .*relay=local, .*status=(\w+)', since, timeout=int(DEADLINE) + 60)
        assert m.group(1) == 'deferred', log_lines(since)
    finally:
        lock.release()
    assert tickets(PDB, mid_of(data)) == 0
    since = log_size()
    sh('postqueue', '-f')
    wait_for(r'to=<helpdesk@localhost>, .*relay=local, .*status=sent', since)
    assert tickets(PDB, mid_of(data)) == 1


def run_procmail(rcfile, data, db):
    """procmail as the MTA's delivery agent would run it, with a given rcfile."""
    return subprocess.run(['procmail', '-m', rcfile], input=data, capture_output=True, timeout=60,
                          env={'PATH': '/usr/bin:/bin', 'HOME': BASE + '/home', 'LOGNAME': 'root'})


def test_procmail_recipe_with_w_exits_75_without_w_loses_the_message(postfix, tmp_path):
    db = str(tmp_path / 'wt.db')
    good = tmp_path / 'good.rc'
    good.write_text(example('procmail/procmailrc', **{'/usr/local/bin/wt-deliver': DELIVER, '/var/lib/wt/wt.db': db + ' --deadline 2'}))
    # The same recipe without the "w" flag (and so without the "e" recipe's trigger).
    bad = tmp_path / 'bad.rc'
    bad.write_text(good.read_text().replace(':0 w\n', ':0\n'))
    assert run_procmail(str(good), message(), db).returncode == 0
    lock = Lock(db)
    try:
        kept = message(subject='kept')
        r = run_procmail(str(good), kept, db)
        assert r.returncode == 75, r.stderr
        lost = message(subject='lost')
        r = run_procmail(str(bad), lost, db)
        assert r.returncode == 0, 'procmail said delivered'
    finally:
        lock.release()
    assert tickets(db, mid_of(lost)) == 0, 'without w the message never reached the database: lost'
    assert tickets(db, mid_of(kept)) == 0
    assert run_procmail(str(good), kept, db).returncode == 0
    assert tickets(db, mid_of(kept)) == 1


def test_aliases_alternative_delivers_with_envelope_from_the_environment(postfix):
    adb = BASE + '/adb/wt.db'
    os.makedirs(BASE + '/adb', exist_ok=True)
    nobody = pwd.getpwnam('nobody')
    os.chown(BASE + '/adb', nobody.pw_uid, nobody.pw_gid)
    line = [l for l in example('postfix/aliases').splitlines() if l and not l.startswith('#')][0]
    line = line.replace('helpdesk:', 'wt-alias:').replace('/usr/local/bin/wt-deliver', BIN).replace('/var/lib/wt/wt.db', adb)
    original = open('/etc/aliases').read()
    try:
        with open('/etc/aliases', 'a') as f:
            f.write('\n' + line + '\n')
        sh('newaliases')
        data = message(subject='Through an alias')
        since = log_size()
        sendmail(data, 'wt-alias@localhost', sender='carol@example.org')
        wait_for(r'to=<wt-alias@localhost>, .*relay=local, .*status=sent', since)
        con = sqlite3.connect(adb)
        row = con.execute('SELECT sender, recipient FROM raw_messages').fetchone()
        con.close()
        assert row == ('carol@example.org', 'wt-alias@localhost')
        assert tickets(adb, mid_of(data)) == 1
    finally:
        with open('/etc/aliases', 'w') as f:
            f.write(original)
        sh('newaliases')
