"""The PostgreSQL store through the release binaries, against a real server on loopback
(pgserver.py): several mail hosts delivering into one database, exactly once, under a server
restart and under SIGKILL; what maps to 75; the password never shown."""
import concurrent.futures
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid

import pytest

from conftest import ADMIN, DELIVER, bind_dev_log, deliver, deliver_killed_after, log_lines, message, unbind_dev_log
from test_load import mid_of, record

HERE = os.path.dirname(os.path.abspath(__file__))
MESSAGES = 2000
CONCURRENCY = 32


# ---- helpers ------------------------------------------------------------

def pg_deliver(server, uri, data, *args, env=None, timeout=120):
    return deliver(uri, data, *args, timeout=timeout, env=env or server.env)


def pg_admin(server, *args, env=None, input=None):
    return subprocess.run([ADMIN] + list(args), capture_output=True, text=True, timeout=120,
                          env=env or server.env, input=input)


def init(server, uri):
    r = pg_admin(server, 'init', '--db', uri)
    assert r.returncode == 0, r.stderr
    return r


def one(server, uri, sql):
    return server.psql(uri, sql)[0][0]


def deliver_until_done(server, uri, data, tries=100):
    for _ in range(tries):
        r = pg_deliver(server, uri, data)
        if r.rc == 0:
            return 0
        assert r.rc == 75, r
        time.sleep(random.uniform(0.02, 0.1))
    return 75


def ticket_ids_by_message_id(server, uri):
    rows = server.psql(uri, 'SELECT message_id, count(*) FROM tickets GROUP BY message_id')
    return {mid: int(n) for mid, n in rows}


def check_exactly_once(server, uri, msgs):
    """Every message one ticket, by Message-ID in the database: returns (lost, duplicated)."""
    got = ticket_ids_by_message_id(server, uri)
    want = {mid_of(m) for m in msgs}
    lost = sorted(want - set(got))
    duplicated = sorted(m for m, n in got.items() if n > 1)
    extra = sorted(set(got) - want)
    assert not extra, 'tickets for messages nobody sent: %s' % extra[:5]
    return lost, duplicated


class HeldLocks:
    """Another session holding every table of the database in ACCESS EXCLUSIVE mode until
    released: anything wt does there waits."""

    def __init__(self, server, db):
        self.p = subprocess.Popen(server._as_owner(['psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
                                                    '-h', server.sock, '-p', str(server.port), '-U', 'postgres', '-d', db]),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=server.dir)
        self.p.stdin.write("BEGIN;\nDO $$ DECLARE r record; BEGIN FOR r IN SELECT schemaname, tablename FROM pg_tables "
                           "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') LOOP "
                           "EXECUTE format('LOCK TABLE %I.%I IN ACCESS EXCLUSIVE MODE', r.schemaname, r.tablename); "
                           "END LOOP; END $$;\nSELECT 'locked';\n")
        self.p.stdin.flush()
        assert self.p.stdout.readline().strip() == 'locked'

    def release(self):
        if self.p.poll() is None:
            self.p.stdin.write('ROLLBACK;\n')
            self.p.stdin.close()
            self.p.wait(timeout=30)


def dbname(uri):
    return uri.rsplit('/', 1)[1].split('?')[0]


def waiting_on_lock(server, db):
    return int(server.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'wt' AND wait_event_type = 'Lock'",
                          db=db)[0][0])


@pytest.fixture
def syslog():
    """/dev/log bound here when no syslog daemon has it (as test_logging does); None otherwise."""
    s = bind_dev_log()
    yield s
    unbind_dev_log(s)


def argv_of_all_processes():
    out = []
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                with open('/proc/%s/cmdline' % pid, 'rb') as f:
                    out.append(f.read().replace(b'\0', b' ').decode('utf-8', 'replace'))
            except OSError:
                pass
    return out


# ---- (a) the basics -----------------------------------------------------

def test_init_deliver_and_see_the_ticket(pg):
    server, uri = pg
    init(server, uri)
    data = message(subject='Printer on fire in PostgreSQL')
    r = pg_deliver(server, uri, data)
    assert r.rc == 0, r
    assert r.out == b'' and r.err == ''
    listed = pg_admin(server, 'tickets', 'list', '--db', uri)
    assert listed.returncode == 0, listed.stderr
    assert 'Printer on fire in PostgreSQL' in listed.stdout
    assert server.psql(uri, "SELECT count(*), min(subject) FROM tickets WHERE message_id = '%s'" % mid_of(data)) == [
        ['1', 'Printer on fire in PostgreSQL']]
    # The same bytes again: one ticket still.
    assert pg_deliver(server, uri, data).rc == 0
    assert one(server, uri, 'SELECT count(*) FROM tickets') == '1'


def test_wt_db_in_the_environment_selects_the_store(pg):
    server, uri = pg
    init(server, uri)
    data = message()
    p = subprocess.run([DELIVER, '-f', 'ann@example.org', '--', 'helpdesk@wt.test'], input=data, capture_output=True,
                       timeout=60, env=dict(server.env, WT_DB=uri))
    assert p.returncode == 0, p.stderr
    assert one(server, uri, "SELECT count(*) FROM tickets WHERE message_id = '%s'" % mid_of(data)) == '1'


def test_several_hosts_run_init_at_once(pg):
    """Eight `wt-admin init` at the same instant on an empty database: all succeed, one schema."""
    server, uri = pg
    procs = [subprocess.Popen([ADMIN, 'init', '--db', uri], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=server.env) for _ in range(8)]
    out = [(p.wait(timeout=120), p.stderr.read().decode()) for p in procs]
    assert [rc for rc, _ in out] == [0] * 8, out
    assert one(server, uri, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'tickets'") == '1'
    # And again, on the finished schema; then it works.
    procs = [subprocess.Popen([ADMIN, 'init', '--db', uri], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=server.env) for _ in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 4
    data = message()
    assert pg_deliver(server, uri, data).rc == 0
    assert one(server, uri, 'SELECT count(*) FROM tickets') == '1'


def test_wrong_password_is_75_and_the_password_is_never_shown(pg, tmp_path, syslog):
    server, uri = pg
    init(server, uri)
    wrong = 'Wrong-%s' % secrets.token_hex(8)
    passfile = tmp_path / 'pgpass'
    passfile.write_text('127.0.0.1:*:*:wt:%s\n' % wrong)
    passfile.chmod(0o600)
    data = message()
    # A wrong password in the password file.
    r = pg_deliver(server, uri, data, env=dict(server.env, PGPASSFILE=str(passfile)))
    assert r.rc == 75, r
    assert 'will be retried' in r.err
    assert re.search(r'password|authentication', r.err, re.I), r.err
    # A wrong password inside the URI, given in WT_DB (never argv).
    env = dict(server.env, WT_DB=uri.replace('postgresql://wt@', 'postgresql://wt:%s@' % wrong))
    p = subprocess.run([DELIVER, '-f', 'ann@example.org', '--', 'helpdesk@wt.test'], input=data, capture_output=True,
                       timeout=60, env=env)
    assert p.returncode == 75, p.stderr
    err2 = p.stderr.decode('utf-8', 'replace')
    # wt-admin says why too, without the password.
    a = pg_admin(server, 'tickets', 'list', '--db', uri, env=dict(server.env, PGPASSFILE=str(passfile)))
    assert a.returncode != 0
    logged = log_lines(syslog)
    for text in [r.err, err2, a.stdout, a.stderr] + logged:
        assert wrong not in text and server.password not in text, text
    if syslog is not None:
        assert len(logged) >= 2 and all('will be retried' in line for line in logged[:2]), logged
    assert one(server, uri, 'SELECT count(*) FROM tickets') == '0'


def test_the_password_is_not_in_any_command_line(pg):
    """With the password in WT_DB's URI, no process started for the delivery (wt-deliver, and
    whatever it runs) carries it in its argv."""
    server, uri = pg
    init(server, uri)
    env = dict(server.env, WT_DB=uri.replace('postgresql://wt@', 'postgresql://wt:%s@' % server.password))
    env.pop('PGPASSFILE')
    lock = HeldLocks(server, dbname(uri))
    try:
        p = subprocess.Popen([DELIVER, '-f', 'ann@example.org', '--', 'helpdesk@wt.test'], stdin=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
        p.stdin.write(message())
        p.stdin.close()
        for _ in range(200):
            if waiting_on_lock(server, dbname(uri)):
                break
            time.sleep(0.05)
        assert waiting_on_lock(server, dbname(uri)), 'the delivery never reached the database'
        leaks = [a for a in argv_of_all_processes() if server.password in a]
    finally:
        lock.release()
    rc = p.wait(timeout=60)
    assert leaks == []
    assert rc == 0, p.stderr.read()


# ---- (b), (c) three hosts -------------------------------------------------

def three_hosts(server, uri, tmp_path, restart_after=None):
    """2,000 messages, each to two of three delivery streams (processes) at once, 32
    deliveries at a time in all; optionally `pg_ctl restart -m fast` once `restart_after`
    tickets exist. Returns (msgs, per-stream results, restart window)."""
    init(server, uri)
    rng = random.Random(20261130)
    folder = tmp_path / 'msgs'
    folder.mkdir()
    msgs = []
    for i in range(MESSAGES):
        m = message(subject='three hosts %d' % i, attachment=rng.randbytes(2000) if i % 10 == 0 else None)
        (folder / ('%d.eml' % i)).write_bytes(m)
        msgs.append(m)
    streams = [[] for _ in range(3)]
    for i in range(MESSAGES):
        a = i % 3
        streams[a].append(i)
        streams[(a + 1) % 3].append(i)
    for s in streams:
        s.sort()  # both hosts of a message reach it at about the same moment
    share = [11, 11, 10]
    procs, outs = [], []
    start = time.monotonic()
    for k, s in enumerate(streams):
        (tmp_path / ('stream%d.txt' % k)).write_text('\n'.join(map(str, s)) + '\n')
        out = tmp_path / ('stream%d.json' % k)
        outs.append(out)
        procs.append(subprocess.Popen([sys.executable, os.path.join(HERE, 'mx_stream.py'), uri, str(folder),
                                       str(tmp_path / ('stream%d.txt' % k)), str(share[k]), str(out)],
                                      env=server.env, cwd=HERE))
    window = None
    try:
        if restart_after is not None:
            while int(one(server, uri, 'SELECT count(*) FROM tickets')) < restart_after:
                assert all(p.poll() is None for p in procs), 'a stream ended before the restart'
                time.sleep(0.1)
            t0 = time.monotonic() - start
            server.restart('fast')
            window = (t0, time.monotonic() - start)
        codes = [p.wait(timeout=600) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    elapsed = time.monotonic() - start
    assert codes == [0, 0, 0]
    results = [json.load(open(o)) for o in outs]
    return msgs, results, window, elapsed


def summarize(results):
    deliveries = sum(len(r['codes']) for s in results for r in s['results'])
    tempfails = sum(r['codes'].count(75) for s in results for r in s['results'])
    other = [(r['i'], r['codes'], r['errors']) for s in results for r in s['results']
             if any(c not in (0, 75) for c in r['codes'])]
    unfinished = [(r['i'], r['codes'][-3:], r['errors']) for s in results for r in s['results'] if r['codes'][-1] != 0]
    return deliveries, tempfails, other, unfinished


def test_three_hosts_2000_messages_each_twice_32_at_a_time(pg, tmp_path):
    server, uri = pg
    msgs, results, _, elapsed = three_hosts(server, uri, tmp_path)
    deliveries, tempfails, other, unfinished = summarize(results)
    assert other == [], other[:5]
    assert unfinished == [], unfinished[:5]
    lost, duplicated = check_exactly_once(server, uri, msgs)
    assert (len(lost), len(duplicated)) == (0, 0), (lost[:5], duplicated[:5])
    assert one(server, uri, 'SELECT count(*) FROM tickets') == str(MESSAGES)
    record('postgres, three hosts: %d messages, each to two of three streams, %d at a time: %d deliveries '
           '(%d exit 75, retried) in %.1f s, %.0f deliveries/s; %d tickets, 0 lost, 0 duplicated'
           % (MESSAGES, CONCURRENCY, deliveries, tempfails, elapsed, deliveries / elapsed, MESSAGES))


def test_three_hosts_with_the_server_restarted_in_the_middle(pg, tmp_path):
    server, uri = pg
    msgs, results, window, elapsed = three_hosts(server, uri, tmp_path, restart_after=MESSAGES // 3)
    deliveries, tempfails, other, unfinished = summarize(results)
    assert other == [], other[:5]
    assert unfinished == [], unfinished[:5]
    near = [t for s in results for r in s['results'] for t in r['tempfails_at'] if window[0] - 1 <= t <= window[1] + 5]
    assert near, 'no delivery exited 75 during the restart (%.1f s to %.1f s)' % window
    later = sorted(t for s in results for r in s['results'] for t in r['tempfails_at'] if t > window[1] + 5)
    if later:
        why = {e.strip().splitlines()[-1][:160] for s in results for r in s['results'] for e in r['errors']}
        record('postgres, three hosts with a restart: exit 75 after the restart window at %s s; reasons seen: %s'
               % (', '.join('%.1f' % t for t in later[:10]), ' | '.join(sorted(why)[:6])))
    lost, duplicated = check_exactly_once(server, uri, msgs)
    assert (len(lost), len(duplicated)) == (0, 0), (lost[:5], duplicated[:5])
    assert one(server, uri, 'SELECT count(*) FROM tickets') == str(MESSAGES)
    record('postgres, three hosts, pg_ctl restart -m fast at %.1f s (took %.1f s): %d deliveries, %d exit 75 '
           '(%d of them during the restart), every one retried to 0 in %.1f s; %d tickets, 0 lost, 0 duplicated'
           % (window[0], window[1] - window[0], deliveries, tempfails, len(near), elapsed, MESSAGES))


# ---- (d) follow-ups from two hosts --------------------------------------

def mail(subject, mid, headers='', body='It burns.'):
    return ('From: Ann Customer <ann@customer.example.org>\r\nTo: helpdesk@wt.test\r\nSubject: %s\r\nMessage-ID: %s\r\n'
            'Date: Mon, 30 Nov 2026 10:00:00 +0000\r\n%s\r\n%s\r\n' % (subject, mid, headers, body)).encode()


def test_follow_ups_from_two_hosts_into_one_ticket_are_both_kept(pg):
    server, uri = pg
    init(server, uri)
    rounds = 20
    originals = ['<orig-%d-%s@customer.example.org>' % (i, uuid.uuid4().hex[:8]) for i in range(rounds)]
    for mid in originals:
        assert pg_deliver(server, uri, mail('Printer %s' % mid, mid)).rc == 0
    for i, mid in enumerate(originals):
        replies = [mail('Re: Printer', '<reply-%d-%d@customer.example.org>' % (i, k), 'In-Reply-To: %s\r\n' % mid,
                        'reply %d from host %d' % (i, k)) for k in range(2)]
        procs = [subprocess.Popen([DELIVER, '--db', uri, '-f', 'ann@customer.example.org', '--', 'helpdesk@wt.test'],
                                  stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=server.env) for _ in replies]
        for p, m in zip(procs, replies):  # both connected and waiting for stdin, then fed together
            p.stdin.write(m)
        for p in procs:
            p.stdin.close()
        codes = [p.wait(timeout=120) for p in procs]
        for p, m, rc in zip(procs, replies, codes):
            if rc != 0:
                assert rc == 75, p.stderr.read()
                assert deliver_until_done(server, uri, m) == 0
    assert one(server, uri, 'SELECT count(*) FROM tickets') == str(rounds)
    rows = server.psql(uri, "SELECT t.message_id, e.message_id, e.id FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id "
                            "WHERE e.kind = 'followup' ORDER BY e.id")
    by_ticket = {}
    for ticket_mid, event_mid, _ in rows:
        by_ticket.setdefault(ticket_mid, []).append(event_mid)
    for i, mid in enumerate(originals):
        got = sorted(by_ticket.get(mid.strip('<>'), []))
        assert got == ['reply-%d-0@customer.example.org' % i, 'reply-%d-1@customer.example.org' % i], (i, got)


# ---- (e) kill sweep -----------------------------------------------------

def test_kill_sweep_500_sigkills_then_redelivery(pg):
    server, uri = pg
    init(server, uri)
    warm = [message() for _ in range(6)]
    assert pg_deliver(server, uri, warm[0]).rc == 0
    t0 = time.monotonic()
    for m in warm[1:]:
        assert pg_deliver(server, uri, m).rc == 0
    span = (time.monotonic() - t0) / 5
    rng = random.Random(20261130)
    msgs = [message(subject='pg sweep %d' % i, attachment=rng.randbytes(rng.choice([0, 5000, 200000])) or None)
            for i in range(500)]
    killed = finished = 0
    for m in msgs:
        rc = deliver_killed_after(uri, m, rng.uniform(0, span * 1.2), env=server.env)
        if rc == -signal.SIGKILL:
            killed += 1
        else:
            assert rc in (0, 75), rc
            finished += 1
    before = int(one(server, uri, 'SELECT count(*) FROM tickets')) - 6
    for m in msgs:
        assert deliver_until_done(server, uri, m) == 0
    lost, duplicated = check_exactly_once(server, uri, warm + msgs)
    assert (lost, duplicated) == ([], [])
    # Killed clients leave no transaction open on the server.
    for _ in range(100):
        stuck = int(server.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'wt' AND state LIKE 'idle in%'",
                               db=dbname(uri))[0][0])
        if not stuck:
            break
        time.sleep(0.1)
    assert stuck == 0
    assert killed >= 100, 'the sweep killed too few deliveries (%d) to mean anything' % killed
    record('postgres kill sweep: 500 deliveries, %d killed by SIGKILL mid-way, %d finished first, %d committed before '
           'redelivery; after redelivery every message exactly once' % (killed, finished, before))


# ---- (f) what maps to 75 --------------------------------------------------

def test_a_stopped_server_is_75_with_a_clear_message(pg):
    server, uri = pg
    init(server, uri)
    data = message()
    server.stop('fast')
    try:
        r = pg_deliver(server, uri, data)
    finally:
        server.start()
    assert r.rc == 75, r
    assert 'will be retried' in r.err
    assert re.search(r'connect|refused|server', r.err, re.I), r.err
    assert r.seconds < 30
    assert deliver_until_done(server, uri, data) == 0
    assert one(server, uri, "SELECT count(*) FROM tickets WHERE message_id = '%s'" % mid_of(data)) == '1'


def test_a_wrong_host_is_75_with_a_clear_message(pg):
    server, uri = pg
    data = message()
    for bad in (uri.replace('127.0.0.1', 'wt-no-such-host.invalid') + '?connect_timeout=5',
                uri.replace(':%d/' % server.port, ':1/')):
        r = pg_deliver(server, bad, data, timeout=60)
        assert r.rc == 75, (bad, r)
        assert 'will be retried' in r.err
        assert re.search(r'connect|resolve|host|refused', r.err, re.I), r.err
        assert r.seconds < 30


def test_a_statement_timeout_is_75_then_delivered_once(pg):
    server, uri = pg
    init(server, uri)
    assert pg_deliver(server, uri, message()).rc == 0
    data = message()
    lock = HeldLocks(server, dbname(uri))
    try:
        r = pg_deliver(server, uri + '?options=-c%20statement_timeout%3D1000', data, timeout=60)
        r2 = pg_deliver(server, uri, data, env=dict(server.env, PGOPTIONS='-c lock_timeout=1000'), timeout=60)
    finally:
        lock.release()
    for x in (r, r2):
        assert x.rc == 75, x
        assert 'will be retried' in x.err
        assert re.search(r'timeout|cancel', x.err, re.I), x.err
        assert x.seconds < 30
    assert one(server, uri, "SELECT count(*) FROM tickets WHERE message_id = '%s'" % mid_of(data)) == '0'
    assert pg_deliver(server, uri, data).rc == 0
    assert one(server, uri, "SELECT count(*) FROM tickets WHERE message_id = '%s'" % mid_of(data)) == '1'


def test_locks_past_the_deadline_are_75(pg):
    server, uri = pg
    init(server, uri)
    data = message()
    lock = HeldLocks(server, dbname(uri))
    try:
        r = pg_deliver(server, uri, data, '--deadline', '3', timeout=60)
    finally:
        lock.release()
    assert r.rc == 75, r
    assert r.seconds < 10
    assert 'will be retried' in r.err
    assert deliver_until_done(server, uri, data) == 0
    assert one(server, uri, "SELECT count(*) FROM tickets WHERE message_id = '%s'" % mid_of(data)) == '1'


# ---- wt-notify on two hosts -----------------------------------------------

def test_two_notifiers_on_two_hosts_never_send_a_mail_twice(pg, tmp_path):
    """300 new tickets, each confirmed to its requester; two wt-notify (one per host) drain
    the outbox at the same time into one SMTP sink: every mail arrives once."""
    from test_notify_smtp import Server as SMTPServer, have_aiosmtpd, NOTIFY
    if not have_aiosmtpd():
        pytest.skip('needs Debian python3-aiosmtpd (.ci/run installs it)')
    server, uri = pg
    init(server, uri)
    sink = SMTPServer(tmp_path)
    try:
        for k, v in (('smtp_server', '127.0.0.1'), ('smtp_port', str(sink.port)), ('smtp_security', 'none'),
                     ('email_technician_on_create', 'false'), ('max_mails_per_recipient_per_day', '0'),
                     ('max_mails_per_ticket_per_hour', '0'), ('from_email', 'helpdesk@wt.test')):
            r = pg_admin(server, 'settings', 'set', k, v, '--db', uri)
            assert r.returncode == 0, r.stderr
        n = 300
        msgs = [message(subject='notify %d' % i, sender='user%d@customer.example.org' % i) for i in range(n)]
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            assert list(pool.map(lambda m: deliver_until_done(server, uri, m), msgs)) == [0] * n
        t1 = time.monotonic()
        queued = n  # the outbox expands into one confirmation per ticket, to its requester
        procs = [subprocess.Popen([NOTIFY, '--once', '--db', uri], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=server.env) for _ in range(2)]
        out = [(p.wait(timeout=300), p.stderr.read().decode()) for p in procs]
        t2 = time.monotonic()
        assert all(rc in (0, 75) for rc, _ in out), out
        for _ in range(5):  # whatever is left (a 75), as the next run would
            if one(server, uri, "SELECT count(*) FROM notifications WHERE state = 'queued'") == '0':
                break
            subprocess.run([NOTIFY, '--once', '--db', uri], capture_output=True, env=server.env, timeout=300)
        got = sink.messages()
        keys = [(m['Message-ID'], tuple(meta['rcpt_tos'])) for meta, m in got]
        twice = len(keys) - len(set(keys))
        assert twice == 0, 'sent twice: %d' % twice
        assert len(got) == queued
        assert one(server, uri, "SELECT count(*) FROM notifications WHERE state = 'sent'") == str(queued)
        record('postgres, two notifiers: %d mails, each sent once; delivering took %.1f s, the two notifiers %.1f s'
               % (queued, t1 - t0, t2 - t1))
    finally:
        sink.stop()


# ---- the README's ways of naming the server -------------------------------

def test_a_service_file_and_the_password_file_name_the_server(pg, tmp_path):
    """`postgresql:///?service=wt` with a PGSERVICEFILE, as the README suggests for the hosts."""
    server, uri = pg
    init(server, uri)
    services = tmp_path / 'pg_service.conf'
    services.write_text('[wt]\nhost=127.0.0.1\nport=%d\ndbname=%s\nuser=wt\n' % (server.port, dbname(uri)))
    env = dict(server.env, PGSERVICEFILE=str(services))
    data = message()
    r = pg_deliver(server, 'postgresql:///?service=wt', data, env=env)
    assert r.rc == 0, r
    assert one(server, uri, "SELECT count(*) FROM tickets WHERE message_id = '%s'" % mid_of(data)) == '1'


def test_a_password_in_db_is_refused_by_every_command_and_never_printed(pg):
    server, uri = pg
    init(server, uri)
    with_pw = uri.replace('postgresql://wt@', 'postgresql://wt:%s@' % server.password)
    from test_notify_smtp import NOTIFY
    r = pg_deliver(server, with_pw, message())
    a = pg_admin(server, 'tickets', 'list', '--db', with_pw)
    n = subprocess.run([NOTIFY, '--once', '--db', with_pw], capture_output=True, text=True, env=server.env, timeout=60)
    codes = (r.rc, a.returncode, n.returncode)
    assert all(c != 0 for c in codes), codes
    for text in (r.err, a.stdout, a.stderr, n.stdout, n.stderr):
        assert server.password not in text
        assert 'password' in (r.err + a.stderr + n.stderr).lower()
    # A refused delivery stays in the MTA's queue (75), not bounced, while the configuration is fixed.
    assert r.rc == 75, r
    assert one(server, uri, 'SELECT count(*) FROM tickets') == '0'
