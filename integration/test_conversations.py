"""Conversations through the release binaries: what --explain says before anything is
written, what delivery writes, how technicians answer, and exactly once with replies."""
import json
import os
import random
import signal
import subprocess
import time
import uuid

from conftest import ADMIN, DELIVER, admin, deliver, deliver_killed_after, integrity, query
from test_load import record

HELPDESK = 'helpdesk@helpdesk.example.com'


def mail(subject='Printer on fire', sender='Ann Customer <ann@customer.example.org>', mid=None, headers='', body='It burns.'):
    mid = mid or '<%s@customer.example.org>' % uuid.uuid4().hex
    return ('From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: %s\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n%s\r\n%s\r\n'
            % (sender, HELPDESK, subject, mid, headers, body)).encode()


def desk(db):
    for args in (['init'], ['users', 'add', 'Tom Tech', '--role', 'technician', '--emails', 'tom@helpdesk.example.com'],
                 ['types', 'edit', 'General', '--technician', 'Tom Tech'], ['settings', 'set', 'from_email', HELPDESK]):
        r = admin(*args, '--db', str(db))
        assert r.returncode == 0, r.stderr
    assert deliver(db, mail(mid='<ticket-1-original@customer.example.org>'), recipient=HELPDESK).rc == 0


def explain(db, data, sender='ann@customer.example.org'):
    p = subprocess.run([DELIVER, '--explain', '--json', '--db', str(db), '-f', sender, '--', HELPDESK], input=data, capture_output=True)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)['delivery']


def test_explain_states_each_decision_and_why_before_anything_is_written(db):
    desk(db)
    reply = mail(subject='Re: Printer on fire', headers='In-Reply-To: <ticket-1-original@customer.example.org>\r\n')
    d = explain(db, reply)
    assert (d['action'], d['ticket'], d['automatic']) == ('follow-up', 1, False)
    assert 'In-Reply-To names a message of ticket 1' in d['reasons']
    assert "sender is the ticket's requester" in d['reasons']
    d = explain(db, mail(subject='Something new'))
    assert (d['action'], d['ticket'], d['links_to']) == ('new', None, None)
    d = explain(db, mail(sender='Mallory <m@elsewhere.example>', subject='Re: Service Desk Ticket [#1]'))
    assert (d['action'], d['links_to']) == ('new', 1)
    d = explain(db, mail(subject='Out of office', headers='Auto-Submitted: auto-replied\r\n'))
    assert d['automatic'] is True and 'Auto-Submitted: auto-replied' in d['reasons']
    d = explain(db, mail(subject='x', headers='X-Loop: %s\r\n' % HELPDESK))
    assert d['action'] == 'loop'
    # The text form says the same.
    p = subprocess.run([DELIVER, '--explain', '--db', str(db), '--', HELPDESK], input=reply, capture_output=True)
    assert 'Action: follow-up of ticket 1' in p.stdout.decode()
    assert query(db, 'SELECT count(*) FROM ticket_events') == [(1,)]
    # Then delivery does what explain said, and a second look says duplicate.
    assert deliver(db, reply, recipient=HELPDESK).rc == 0
    assert query(db, 'SELECT kind FROM ticket_events ORDER BY id') == [('created',), ('followup',)]
    assert explain(db, reply)['action'] == 'duplicate'


def test_a_technician_answers_and_updates_by_hand(db):
    desk(db)
    r = subprocess.run([ADMIN, 'ticket', 'reply', '1', '--db', str(db)], input='Please switch it off.\n', capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = admin('ticket', 'update', '1', '--status', 'Closed', '--priority', 'High', '--note', 'Fire brigade called', '--as', 'Tom Tech', '--db', str(db))
    assert r.returncode == 0, r.stderr
    assert 'status: Open → Closed' in r.stdout
    assert query(db, 'SELECT kind FROM outbox ORDER BY id') == [('ticket_created',), ('reply',), ('ticket_updated',)]
    shown = admin('ticket', 'show', '1', '--db', str(db)).stdout
    for text in ('Opened, by mail', 'Answer to the requester, by hand, Tom Tech', 'Please switch it off.', 'Change, by hand, Tom Tech',
                 'Note, by hand', 'Fire brigade called'):
        assert text in shown, shown
    events = json.loads(admin('ticket', 'show', '1', '--json', '--db', str(db)).stdout)['events']
    assert [(e['kind'], e['source']) for e in events] == [('created', 'mail'), ('reply', 'admin'), ('update', 'admin'),
                                                          ('update', 'admin'), ('note', 'admin')]


def test_bad_ticket_updates_name_the_field_and_change_nothing(db):
    desk(db)
    for args, field in ((['--status', 'Done'], 'status'), (['--priority', 'Meh'], 'priority'), (['--type', 'Nope'], 'type'),
                        (['--technician', 'Nobody'], 'technician'), ([], 'update')):
        r = admin('ticket', 'update', '1', *args, '--db', str(db))
        assert r.returncode == 65, (args, r.stdout, r.stderr)
        assert field in r.stderr
    r = admin('ticket', 'reply', '7', '-m', 'hello', '--db', str(db))
    assert r.returncode == 65 and 'no ticket 7' in r.stderr
    assert query(db, 'SELECT count(*) FROM ticket_events') == [(1,)]


def test_mail_to_a_second_helpdesk_address_gets_its_type(db):
    desk(db)
    r = admin('types', 'add', 'Billing', '--address', 'billing@helpdesk.example.com', '--db', str(db))
    assert r.returncode == 0, r.stderr
    assert deliver(db, mail(subject='Invoice'), recipient='billing@helpdesk.example.com').rc == 0
    assert query(db, 'SELECT t.recipient, y.name FROM tickets t JOIN ticket_types y ON y.id = t.ticket_type_id WHERE t.id = 2') == [
        ('billing@helpdesk.example.com', 'Billing')]
    exported = admin('config', 'export', '--db', str(db)).stdout
    assert 'addresses = billing@helpdesk.example.com' in exported


def test_kill_sweep_over_new_messages_and_replies(db):
    """SIGKILL at random moments over a mix of new messages and replies, then redelivery:
    every ticket once, every reply in its ticket once."""
    desk(db)
    rng = random.Random(20261130)
    originals = [mail(subject='sweep %d' % i, mid='<sweep-%d@customer.example.org>' % i) for i in range(120)]
    for m in originals[:60]:
        assert deliver(db, m, recipient=HELPDESK).rc == 0
    replies = [mail(subject='Re: sweep %d' % i, headers='In-Reply-To: <sweep-%d@customer.example.org>\r\n' % i, body='reply %d' % i)
               for i in range(60)]
    mix = originals[60:] + replies
    rng.shuffle(mix)
    t0 = time.monotonic()
    for _ in range(3):
        assert deliver(db, mail(), recipient=HELPDESK).rc == 0
    span = (time.monotonic() - t0) / 3
    killed = 0
    for m in mix:
        rc = deliver_killed_after(db, m, rng.uniform(0, span * 1.2), recipient=HELPDESK)
        killed += rc == -signal.SIGKILL
        assert rc in (0, 75, -signal.SIGKILL)
    assert integrity(db) == 'ok'
    for m in mix:
        for _ in range(50):
            r = deliver(db, m, recipient=HELPDESK, timeout=120)
            if r.rc == 0:
                break
            assert r.rc == 75, r
        assert r.rc == 0
    for i in range(60):
        rows = query(db, "SELECT ticket_id FROM ticket_events WHERE kind = 'followup' AND trim(body, char(10, 13, 32)) = ?", ('reply %d' % i,))
        ticket = query(db, 'SELECT id FROM tickets WHERE message_id = ?', ('sweep-%d@customer.example.org' % i,))
        assert len(rows) == 1 and rows[0][0] == ticket[0][0], (i, rows, ticket)
    for i in range(120):
        assert query(db, 'SELECT count(*) FROM tickets WHERE message_id = ?', ('sweep-%d@customer.example.org' % i,)) == [(1,)]
    assert integrity(db) == 'ok'
    assert killed >= 20, killed
    record('kill sweep with replies: 120 deliveries (60 new, 60 replies), %d killed by SIGKILL; after redelivery every ticket '
           'once and every reply once in its ticket' % killed)


def test_explain_and_deliver_a_bounce(db):
    desk(db)
    fixture = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'Tests', 'MailMessageTests', 'Fixtures', 'conv-dsn-postfix.eml')
    data = open(fixture, 'rb').read()
    d = explain(db, data, sender='')
    assert (d['action'], d['ticket'], d['automatic']) == ('bounce', 1, True)
    assert any('delivery status notification' in r for r in d['reasons'])
    assert deliver(db, data, '-f', '', recipient=HELPDESK).rc == 0
    assert query(db, 'SELECT kind FROM ticket_events ORDER BY id') == [('created',), ('bounce',)]
    assert query(db, 'SELECT count(*) FROM tickets') == [(1,)]
