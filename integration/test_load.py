"""Concurrency, kill sweep and the corpus: exactly once under load and under SIGKILL."""
import concurrent.futures
import os
import random
import signal
import subprocess
import time

import pytest

from conftest import ADMIN, DELIVER, SHARED, deliver, deliver_killed_after, integrity, message, query

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'out')


def record(line):
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, 'figures.txt'), 'a') as f:
        f.write(line + '\n')


def message_ids(db):
    return [r[0] for r in query(db, 'SELECT message_id FROM tickets')]


def mid_of(data):
    return [l for l in data.split(b'\r\n') if l.startswith(b'Message-ID:')][0].split(b'<')[1].split(b'>')[0].decode()


def deliver_until_done(db, data, tries=50):
    for _ in range(tries):
        r = deliver(db, data, timeout=120)
        if r.rc == 0:
            return 0
        assert r.rc == 75, r
        time.sleep(random.uniform(0.01, 0.05))
    return 75


def test_thirty_processes_create_the_database_at_once(db):
    msgs = [message() for _ in range(30)]
    procs = [subprocess.Popen([DELIVER, '--db', str(db), '--', 'helpdesk@wt.test'], stdin=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in msgs]
    for p, m in zip(procs, msgs):
        p.stdin.write(m)
        p.stdin.close()
    codes = [p.wait(timeout=120) for p in procs]
    assert codes == [0] * 30, [p.stderr.read() for p in procs if p.returncode]
    assert sorted(message_ids(db)) == sorted(mid_of(m) for m in msgs)
    assert integrity(db) == 'ok'


def test_load_2000_messages_32_at_a_time(db):
    assert not os.path.exists(db)
    msgs = [message(subject='load %d' % i, attachment=os.urandom(2000) if i % 10 == 0 else None) for i in range(2000)]
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        codes = list(pool.map(lambda m: deliver_until_done(db, m), msgs))
    elapsed = time.monotonic() - start
    assert codes == [0] * len(msgs)
    ids = message_ids(db)
    assert len(ids) == len(set(ids)) == 2000, 'lost or duplicated'
    assert set(ids) == {mid_of(m) for m in msgs}
    assert integrity(db) == 'ok'
    record('load: 2000 messages, 32 at a time, from no database: %.1f s, %.0f messages/s, 0 lost, 0 duplicated'
           % (elapsed, 2000 / elapsed))


def test_kill_sweep_500_sigkills_then_redelivery(db):
    assert deliver(db, message()).rc == 0
    # How long one delivery takes here, to spread the kills across it.
    t0 = time.monotonic()
    for _ in range(5):
        assert deliver(db, message()).rc == 0
    span = (time.monotonic() - t0) / 5
    rng = random.Random(20261129)
    msgs = [message(subject='sweep %d' % i, attachment=os.urandom(rng.choice([0, 5000, 200000])) or None) for i in range(500)]
    killed = finished = 0
    for m in msgs:
        rc = deliver_killed_after(db, m, rng.uniform(0, span * 1.2))
        if rc == -signal.SIGKILL:
            killed += 1
        else:
            assert rc in (0, 75)
            finished += 1
    assert integrity(db) == 'ok'
    before = len(message_ids(db))
    for m in msgs:
        assert deliver_until_done(db, m) == 0
    ids = message_ids(db)
    assert len(ids) == len(set(ids)), 'duplicated'
    assert {mid_of(m) for m in msgs} <= set(ids), 'lost'
    assert integrity(db) == 'ok'
    assert killed >= 100, 'the sweep killed too few deliveries (%d) to mean anything' % killed
    record('kill sweep: 500 deliveries, %d killed by SIGKILL mid-way, %d finished first, %d committed before '
           'redelivery; after redelivery every message exactly once, integrity ok' % (killed, finished, before - 6))


def test_every_corpus_message_delivers(db):
    corpus = os.path.join(SHARED, 'corpus')
    if not os.path.isdir(corpus):
        pytest.skip('%s not found: the shared corpus comes with the project workspace, not with a clone' % corpus)
    files = []
    for root, dirs, names in os.walk(corpus):
        dirs[:] = [d for d in dirs if not d.startswith('_')]
        files += [os.path.join(root, n) for n in names if n.endswith(('.eml', '.box', '.txt', '.msg', '.mbox'))
                  and not n.endswith('.expected.json')]
    assert len(files) >= 589
    contents = {}
    failures = []
    for f in sorted(files):
        data = open(f, 'rb').read()
        contents[data] = f
        r = deliver(db, data)
        if r.rc != 0:
            failures.append((f, r))
    assert failures == []
    nonempty = {d for d in contents if d}
    assert query(db, 'SELECT count(*) FROM deliveries')[0][0] == len(nonempty)
    assert integrity(db) == 'ok'
    # Every stored attachment reads back with its SHA-256 (wt-admin checks it), whether kept
    # as a range of the raw message or as a blob.
    ids = [r[0] for r in query(db, 'SELECT id FROM attachments')]
    assert len(ids) > 300
    bad = []
    for i in ids:
        p = subprocess.run([ADMIN, 'attachment', 'save', str(i), '--db', str(db), '-o', '-'], capture_output=True)
        if p.returncode != 0:
            bad.append((i, p.stderr[-200:]))
    assert bad == []
