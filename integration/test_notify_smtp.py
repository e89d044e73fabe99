"""wt-notify over SMTP to a real server on loopback (aiosmtpd, from Debian): STARTTLS and
implicit TLS with AUTH and a test CA, what arrives for each setting, every failure keeping
the mail queued, and a SIGKILL sweep."""
import email
import email.policy
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from conftest import ADMIN, DELIVER, ROOT, deliver, query
from test_load import record

NOTIFY = os.path.join(os.path.dirname(DELIVER), 'wt-notify')
SERVER = os.path.join(ROOT, 'Tests', 'MailTransportTests', 'servers', 'smtp_server.py')
PY = '/usr/bin/python3'
PASSWORD = 'correct horse battery staple'


def have_aiosmtpd():
    return os.path.exists(PY) and subprocess.run([PY, '-c', 'import aiosmtpd'], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not have_aiosmtpd() or shutil.which('openssl') is None,
                                reason='needs Debian python3-aiosmtpd and openssl (.ci/run installs them)')


@pytest.fixture(scope='module')
def ca(tmp_path_factory):
    d = tmp_path_factory.mktemp('ca')
    def ossl(*a):
        subprocess.run(['openssl'] + list(a), check=True, capture_output=True, cwd=d)
    ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=wt test CA')
    ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost')
    with open(d / 'san.ext', 'w') as f:
        f.write('subjectAltName=DNS:localhost,IP:127.0.0.1\n')
    ossl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2',
         '-extfile', 'san.ext')
    # A second CA that never signed the server's certificate.
    ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other.pem', '-days', '2', '-subj', '/CN=other CA')
    return d


class Server:
    def __init__(self, tmp, tls='none', ca=None, user=None, silent=False):
        self.dir = str(tmp / ('smtp-%s' % uuid.uuid4().hex[:8]))
        os.makedirs(self.dir)
        cmd = [PY, SERVER, '--dir', self.dir, '--tls', tls, '--parent', str(os.getpid())]
        if tls != 'none':
            cmd += ['--cert', str(ca / 'server.pem'), '--key', str(ca / 'server.key')]
        if user:
            cmd += ['--user', user]
        if silent:
            cmd += ['--silent']
        self.p = subprocess.Popen(cmd, env=dict(os.environ, SMTP_TEST_PASSWORD=PASSWORD), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(200):
            if os.path.exists(self.dir + '/port'):
                break
            time.sleep(0.05)
        self.port = int(open(self.dir + '/port').read())

    def messages(self):
        out = []
        for j in sorted(glob.glob(self.dir + '/*.json')):
            meta = json.load(open(j))
            m = email.message_from_bytes(open(j[:-5] + '.eml', 'rb').read(), policy=email.policy.default)
            out.append((meta, m))
        return out

    def stop(self):
        self.p.kill()
        self.p.wait()


def desk(db, server, security, ca=None, auth=True, tmp=None):
    run = lambda *a: subprocess.run([ADMIN] + list(a) + ['--db', str(db)], capture_output=True, text=True, check=True)
    run('init')
    run('users', 'add', 'Tom Tech', '--role', 'technician', '--emails', 'tom@helpdesk.example.com')
    run('types', 'edit', 'General', '--technician', 'Tom Tech')
    for k, v in (('from_email', 'helpdesk@helpdesk.example.com'), ('display_name', 'Service Desk'), ('smtp_server', 'localhost'),
                 ('smtp_port', str(server.port)), ('smtp_security', security), ('root_url', 'https://desk.example.com')):
        run('settings', 'set', k, v)
    if ca is not None:
        run('settings', 'set', 'smtp_ca_file', str(ca))
    if auth:
        pw = tmp / 'smtp.pass'
        pw.write_text(PASSWORD + '\n')
        os.chmod(pw, 0o600)
        run('settings', 'set', 'smtp_requires_auth', 'true')
        run('settings', 'set', 'smtp_user', 'helpdesk')
        run('settings', 'set', 'smtp_password_file', str(pw))


def new_mail(subject='Printer on fire', body='It burns <hot> & bright.'):
    return ('From: Ann Customer <ann@customer.example.org>\r\nTo: helpdesk@helpdesk.example.com\r\nSubject: %s\r\n'
            'Message-ID: <%s@customer.example.org>\r\n\r\n%s\r\n' % (subject, uuid.uuid4().hex, body)).encode()


def notify(db, timeout=120):
    return subprocess.run([NOTIFY, '--once', '--db', str(db)], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize('security', ['starttls', 'tls'])
def test_notifications_arrive_over_tls_with_auth(db, tmp_path, ca, security):
    server = Server(tmp_path, tls='starttls' if security == 'starttls' else 'implicit', ca=ca, user='helpdesk')
    try:
        desk(db, server, security, ca=ca / 'ca.pem', tmp=tmp_path)
        assert deliver(db, new_mail(), recipient='helpdesk@helpdesk.example.com').rc == 0
        r = notify(db)
        assert r.returncode == 0, r.stderr
        got = server.messages()
        assert sorted(meta['rcpt_tos'][0] for meta, _ in got) == ['ann@customer.example.org', 'tom@helpdesk.example.com']
        for meta, m in got:
            assert meta['tls'] and meta['login'] == 'helpdesk'
            assert meta['mail_from'] == 'helpdesk@helpdesk.example.com'
            assert m['Subject'] == 'Service Desk Ticket [#1] Printer on fire'
            assert str(m['From']) == 'Service Desk <helpdesk@helpdesk.example.com>'
            assert m['Auto-Submitted'] == 'auto-generated' and m['Precedence'] == 'bulk'
            assert m['Message-ID'].startswith('<wt-1-')
            assert 'https://desk.example.com/tickets/1' in m.get_body(('plain',)).get_content()
        assert len({meta['connection'] for meta, _ in got}) == 1, 'one connection for the batch'
        assert query(db, "SELECT count(*) FROM notifications WHERE state = 'sent'") == [(2,)]
    finally:
        server.stop()


def test_html_notifications_escape_every_value(db, tmp_path, ca):
    server = Server(tmp_path, tls='starttls', ca=ca)
    try:
        desk(db, server, 'starttls', ca=ca / 'ca.pem', auth=False, tmp=tmp_path)
        subprocess.run([ADMIN, 'settings', 'set', 'html_email', 'true', '--db', str(db)], check=True, capture_output=True)
        assert deliver(db, new_mail(subject='<script>alert(1)</script>'), recipient='helpdesk@helpdesk.example.com').rc == 0
        assert notify(db).returncode == 0
        _, m = server.messages()[0]
        assert m.get_content_type() == 'multipart/alternative'
        html = m.get_body(('html',)).get_content()
        assert '<script>' not in html and '&lt;script&gt;' in html
        assert 'It burns &lt;hot&gt; &amp; bright.' in html
    finally:
        server.stop()


@pytest.mark.parametrize('case', ['wrong password', 'refused', 'silent', 'bad certificate', 'no STARTTLS'])
def test_every_failure_keeps_the_mail_and_says_why(db, tmp_path, ca, case):
    server = Server(tmp_path, tls='none' if case == 'no STARTTLS' else 'starttls', ca=ca, user='helpdesk', silent=case == 'silent')
    try:
        desk(db, server, 'starttls', ca=ca / ('other.pem' if case == 'bad certificate' else 'ca.pem'), tmp=tmp_path)
        if case == 'wrong password':
            (tmp_path / 'smtp.pass').write_text('not the password\n')
        if case == 'refused':
            subprocess.run([ADMIN, 'users', 'add', 'Refused', '--emails', 'refuse550@customer.example.org', '--db', str(db)], check=True,
                           capture_output=True)
            data = new_mail().replace(b'ann@customer.example.org', b'refuse550@customer.example.org')
        else:
            data = new_mail()
        subprocess.run([ADMIN, 'settings', 'set', 'email_technician_on_create', 'false', '--db', str(db)], check=True, capture_output=True)
        assert deliver(db, data, recipient='helpdesk@helpdesk.example.com').rc == 0
        start = time.monotonic()
        r = notify(db, timeout=180)
        assert time.monotonic() - start < 150
        row = query(db, 'SELECT state, last_error FROM notifications')[0]
        if case == 'refused':
            assert r.returncode == 0 and row[0] == 'failed' and '550' in row[1]
            # wt-admin shows it and queues it again; bad ids are refused with the field named.
            listed = [json.loads(l) for l in subprocess.run([ADMIN, 'outbox', 'list', '--state', 'failed', '--json', '--db', str(db)],
                                                            capture_output=True, text=True).stdout.splitlines()]
            assert [(n['to'], n['state']) for n in listed] == [('refuse550@customer.example.org', 'failed')]
            nid = str(listed[0]['id'])
            assert '550' in subprocess.run([ADMIN, 'outbox', 'show', nid, '--db', str(db)], capture_output=True, text=True).stdout
            assert subprocess.run([ADMIN, 'outbox', 'retry', nid, '--db', str(db)], capture_output=True).returncode == 0
            assert query(db, 'SELECT state FROM notifications') == [('queued',)]
            again = subprocess.run([ADMIN, 'outbox', 'retry', nid, '--db', str(db)], capture_output=True, text=True)
            assert again.returncode == 65 and 'only failed or held' in again.stderr
            bad = subprocess.run([ADMIN, 'outbox', 'list', '--state', 'lost', '--db', str(db)], capture_output=True, text=True)
            assert bad.returncode == 65 and 'state' in bad.stderr
        else:
            assert r.returncode == 75, (r.returncode, r.stderr)
            assert row[0] == 'queued', row
            words = {'wrong password': 'auth', 'silent': 'time', 'bad certificate': 'certificate', 'no STARTTLS': 'tls'}[case]
            assert words in row[1].lower(), row[1]
        assert PASSWORD not in r.stderr and PASSWORD not in (row[1] or '')
        assert server.messages() == []
    finally:
        server.stop()


def test_kill_sweep_sends_every_notification(db, tmp_path, ca):
    """500 queued notifications, the notifier killed by SIGKILL at random moments and started
    again: every one arrives; one sent twice carries the same Message-ID both times."""
    server = Server(tmp_path, tls='starttls', ca=ca)
    try:
        desk(db, server, 'starttls', ca=ca / 'ca.pem', auth=False, tmp=tmp_path)
        subprocess.run([ADMIN, 'settings', 'set', 'email_technician_on_create', 'false', '--db', str(db)], check=True, capture_output=True)
        subprocess.run([ADMIN, 'settings', 'set', 'max_mails_per_recipient_per_day', '0', '--db', str(db)], check=True, capture_output=True)
        subprocess.run([ADMIN, 'settings', 'set', 'max_mails_per_ticket_per_hour', '0', '--db', str(db)], check=True, capture_output=True)
        for i in range(500):
            assert deliver(db, new_mail(subject='sweep %d' % i), recipient='helpdesk@helpdesk.example.com').rc == 0
        rng = random.Random(20261130)
        kills = 0
        for _ in range(300):
            p = subprocess.Popen([NOTIFY, '--once', '--db', str(db)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.002, 0.02))
            p.send_signal(signal.SIGKILL)
            kills += p.wait() == -signal.SIGKILL
            # A killed notifier's lease runs out after five minutes: make it run out now.
            query(db, 'UPDATE notifications SET lease_until = 0 WHERE lease_until IS NOT NULL')
            if query(db, "SELECT count(*) FROM notifications WHERE state = 'queued'") == [(0,)]:
                break
        assert kills >= 20, 'the sweep killed too few notifiers (%d) to mean anything' % kills
        r = notify(db, timeout=600)
        assert r.returncode == 0, r.stderr
        expected = {row[0] for row in query(db, 'SELECT message_id FROM notifications')}
        assert len(expected) == 500
        assert query(db, "SELECT count(*) FROM notifications WHERE state = 'sent'") == [(500,)]
        got = [m['Message-ID'].strip('<>') for _, m in server.messages()]
        assert set(got) == expected
        again = len(got) - len(set(got))
        record('notify kill sweep: 500 notifications, %d notifiers killed by SIGKILL; all 500 arrived, %d sent twice '
               'with the same Message-ID' % (kills, again))
    finally:
        server.stop()


def test_two_notifiers_at_once_never_send_a_mail_twice(db, tmp_path, ca):
    server = Server(tmp_path, tls='starttls', ca=ca)
    try:
        desk(db, server, 'starttls', ca=ca / 'ca.pem', auth=False, tmp=tmp_path)
        for k, v in (('email_technician_on_create', 'false'), ('max_mails_per_recipient_per_day', '0'), ('max_mails_per_ticket_per_hour', '0')):
            subprocess.run([ADMIN, 'settings', 'set', k, v, '--db', str(db)], check=True, capture_output=True)
        for i in range(200):
            assert deliver(db, new_mail(subject='pair %d' % i), recipient='helpdesk@helpdesk.example.com').rc == 0
        ps = [subprocess.Popen([NOTIFY, '--once', '--db', str(db)], stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for p in ps:
            assert p.wait(timeout=300) == 0, p.stderr.read()
        got = [m['Message-ID'] for _, m in server.messages()]
        assert len(got) == 200 and len(set(got)) == 200
    finally:
        server.stop()
