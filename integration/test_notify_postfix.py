"""wt-notify through the real Postfix sendmail: a notification lands in a local mailbox with
the headers and body the settings ask for, and two helpdesks that mail each other stop after
one exchange."""
import email
import email.policy
import mailbox
import os
import shutil
import subprocess
import time

import pytest

from conftest import ADMIN, DELIVER, ROOT
from test_postfix import ensure_user, log_size, sh, wait_for, wait_queue_empty

NOTIFY = os.path.join(os.path.dirname(DELIVER), 'wt-notify')
BASE = '/var/tmp/wt-notify-test'
MBOX = '/var/mail/wtann'

pytestmark = pytest.mark.skipif(shutil.which('postfix') is None or os.geteuid() != 0,
                                reason='needs Postfix installed and root (.ci/run installs it)')


def admin(db, *args):
    r = subprocess.run([ADMIN] + list(args) + ['--db', db], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def notify(db):
    r = subprocess.run([NOTIFY, '--once', '--db', db, '--verbose'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stderr


@pytest.fixture(scope='module')
def desks():
    shutil.rmtree(BASE, ignore_errors=True)
    wt = ensure_user('wt', '/var/lib/wt')
    ensure_user('wtann', '/nonexistent')
    dbs = {}
    for name in ('a', 'b'):
        os.makedirs('%s/%s' % (BASE, name))
        os.chown('%s/%s' % (BASE, name), wt.pw_uid, wt.pw_gid)
        db = '%s/%s/wt.db' % (BASE, name)
        admin(db, 'init')
        admin(db, 'settings', 'set', 'from_email', 'helpdesk-%s@wt.test' % name)
        admin(db, 'settings', 'set', 'email_subject', 'Desk %s' % name.upper())
        admin(db, 'settings', 'set', 'root_url', 'https://%s.wt.test' % name)
        for f in os.listdir('%s/%s' % (BASE, name)):
            os.chown('%s/%s/%s' % (BASE, name, f), wt.pw_uid, wt.pw_gid)
        dbs[name] = db
    shutil.copy(DELIVER, BASE + '/wt-deliver')
    os.chmod(BASE, 0o755)
    sh('postfix', 'stop', check=False)
    if not os.path.exists('/etc/postfix/main.cf.wt-orig'):
        shutil.copy('/etc/postfix/main.cf', '/etc/postfix/main.cf.wt-orig')
        shutil.copy('/etc/postfix/master.cf', '/etc/postfix/master.cf.wt-orig')
    shutil.copy('/etc/postfix/main.cf.wt-orig', '/etc/postfix/main.cf')
    shutil.copy('/etc/postfix/master.cf.wt-orig', '/etc/postfix/master.cf')
    sh('postconf', '-e', 'inet_interfaces = loopback-only', 'inet_protocols = ipv4', 'mydestination = localhost, wt.test',
       'myhostname = mx.wt.test', 'maillog_file = /var/log/postfix.log', 'relayhost =', 'smtputf8_enable = no',
       'transport_maps = hash:/etc/postfix/transport', 'wta_destination_recipient_limit = 1', 'wtb_destination_recipient_limit = 1',
       'local_recipient_maps = proxy:unix:passwd.byname $alias_maps $transport_maps', 'home_mailbox =', 'mail_spool_directory = /var/mail')
    with open('/etc/postfix/master.cf', 'a') as f:
        for name in ('a', 'b'):
            f.write('\nwt%s unix - n n - - pipe\n  flags=DRX user=wt null_sender= argv=%s/wt-deliver --db %s -f ${sender} -- ${recipient}\n'
                    % (name, BASE, dbs[name]))
    with open('/etc/postfix/transport', 'w') as f:
        f.write('helpdesk-a@wt.test wta:\nhelpdesk-b@wt.test wtb:\n')
    sh('postmap', '/etc/postfix/transport')
    open('/var/log/postfix.log', 'a').close()
    if os.path.exists(MBOX):
        os.unlink(MBOX)
    sh('postfix', 'start')
    yield dbs
    sh('postfix', 'stop', check=False)
    shutil.copy('/etc/postfix/main.cf.wt-orig', '/etc/postfix/main.cf')
    shutil.copy('/etc/postfix/master.cf.wt-orig', '/etc/postfix/master.cf')


def incoming(subject, sender, to, mid):
    return ('From: Ann <%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\n'
            'The printer in room 2 is on fire.\r\n' % (sender, to, subject, mid)).encode()


def mbox_messages():
    if not os.path.exists(MBOX):
        return []
    return [email.message_from_bytes(m.as_bytes(), policy=email.policy.default) for m in mailbox.mbox(MBOX)]


def test_a_notification_reaches_a_local_mailbox_through_sendmail(desks):
    db = desks['a']
    p = subprocess.run([DELIVER, '--db', db, '-f', 'wtann@wt.test', '--', 'helpdesk-a@wt.test'],
                       input=incoming('Printer on fire', 'wtann@wt.test', 'helpdesk-a@wt.test', 'n1@wt.test'))
    assert p.returncode == 0
    since = log_size()
    out = notify(db)
    assert 'sent' in out
    wait_for(r'to=<wtann@wt\.test>, relay=local, .*status=sent', since)
    got = [m for m in mbox_messages() if 'Desk A [#1]' in str(m['Subject'])]
    assert len(got) == 1, [m['Subject'] for m in mbox_messages()]
    m = got[0]
    assert m['Subject'] == 'Desk A [#1] Printer on fire'
    assert m['Auto-Submitted'] == 'auto-generated' and m['Precedence'] == 'bulk' and m['X-Loop'] == 'helpdesk-a@wt.test'
    assert m['Message-ID'].startswith('<wt-1-') and m['Message-ID'].endswith('@wt.test>')
    assert m['In-Reply-To'] == '<n1@wt.test>'
    body = m.get_body(('plain',)).get_content()
    assert 'A new ticket has been created.' in body and 'https://a.wt.test/tickets/1' in body
    assert m['Return-Path'] == '<helpdesk-a@wt.test>'
    # Nothing twice.
    notify(db)
    assert wait_queue_empty()
    assert len([m for m in mbox_messages() if 'Desk A [#1]' in str(m['Subject'])]) == 1


def test_two_helpdesks_that_mail_each_other_stop_after_one_exchange(desks):
    a, b = desks['a'], desks['b']
    # Desk B writes to desk A (as a person would set it up by mistake: a desk as a requester).
    since = log_size()
    p = subprocess.run(['sendmail', '-oi', '-f', 'helpdesk-b@wt.test', '--', 'helpdesk-a@wt.test'],
                       input=incoming('Loop test', 'helpdesk-b@wt.test', 'helpdesk-a@wt.test', 'loop-1@wt.test'))
    assert p.returncode == 0
    wait_for(r'to=<helpdesk-a@wt\.test>, relay=wta, .*status=sent', since)
    for _ in range(4):
        for db in (a, b):
            notify(db)
        assert wait_queue_empty()
        time.sleep(0.5)
    count = lambda db, sql: int(subprocess.run(['sqlite3', db, sql], capture_output=True, text=True).stdout.strip() or 0)
    # A got B's mail (one ticket) and answered once; B got that answer (an automatic ticket)
    # and answered nothing: no robot answers a robot.
    assert count(a, "SELECT count(*) FROM tickets WHERE subject LIKE '%Loop test%'") == 1
    assert count(a, "SELECT count(*) FROM notifications WHERE address = 'helpdesk-b@wt.test' AND state = 'sent'") == 1
    assert count(b, 'SELECT count(*) FROM tickets') == 1
    assert count(b, 'SELECT automatic FROM tickets') == 1
    assert count(b, "SELECT count(*) FROM notifications WHERE address = 'helpdesk-a@wt.test' AND state = 'sent'") == 0
    assert count(a, 'SELECT count(*) FROM tickets') <= 2
