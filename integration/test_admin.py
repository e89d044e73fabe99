"""wt-admin: what a person and a script see of what arrived."""
import hashlib
import json
import os
import subprocess

from conftest import ADMIN, admin, deliver, message


def test_init_creates_then_reports_up_to_date(db):
    r = admin('init', '--db', str(db))
    assert r.returncode == 0 and 'created (schema' in r.stdout
    r = admin('init', '--db', str(db))
    assert r.returncode == 0 and 'up to date' in r.stdout
    assert json.loads(admin('init', '--db', str(db), '--json').stdout) == {'path': str(db), 'schema': 8, 'created': False}


def test_list_show_raw_and_save(db, tmp_path):
    payload = os.urandom(5000)
    data = message(subject='Scanner jammed', attachment=payload)
    assert deliver(db, data).rc == 0
    assert deliver(db, message(subject='Second')).rc == 0

    r = admin('tickets', 'list', '--db', str(db))
    assert r.returncode == 0
    assert 'Scanner jammed' in r.stdout and 'Second' in r.stdout
    rows = [json.loads(l) for l in admin('tickets', 'list', '--db', str(db), '--json').stdout.splitlines()]
    assert [t['number'] for t in rows] == [2, 1]
    assert rows[1]['subject'] == 'Scanner jammed' and rows[1]['requester'] == 'Ann Example <ann@example.org>'
    assert rows[1]['status'] == 'Open' and rows[1]['priority'] == 'Medium' and rows[1]['ticket_type'] == 'General'

    t = json.loads(admin('ticket', 'show', '1', '--db', str(db), '--json').stdout)
    assert t['body'].startswith('The printer in room 2 is on fire.')
    assert t['requester_address'] == 'ann@example.org'
    assert [e['kind'] for e in t['events']] == ['created']
    [a] = t['attachments']
    assert a['filename'] == 'data.bin' and a['size'] == 5000
    assert a['sha256'] == hashlib.sha256(payload).hexdigest()

    human = admin('ticket', 'show', '1', '--db', str(db)).stdout
    assert 'Ticket #1: Scanner jammed' in human and 'data.bin' in human

    raw = subprocess.run([ADMIN, 'ticket', 'raw', '1', '--db', str(db)], capture_output=True).stdout
    assert raw == data

    out = tmp_path / 'saved.bin'
    r = admin('attachment', 'save', str(a['id']), '--db', str(db), '-o', str(out), '--json')
    assert r.returncode == 0 and json.loads(r.stdout)['size'] == 5000
    assert out.read_bytes() == payload
    r = admin('attachment', 'save', str(a['id']), '--db', str(db), '-o', str(out))
    assert r.returncode == 1 and 'exists (use --force' in r.stderr
    assert admin('attachment', 'save', str(a['id']), '--db', str(db), '-o', str(out), '--force').returncode == 0
    stdout = subprocess.run([ADMIN, 'attachment', 'save', str(a['id']), '--db', str(db), '-o', '-'], capture_output=True).stdout
    assert stdout == payload
    # Saved under its stored name by default, in the current folder.
    r = subprocess.run([ADMIN, 'attachment', 'save', str(a['id']), '--db', str(db)], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and (tmp_path / 'data.bin').read_bytes() == payload


def test_errors_are_clear(db, tmp_path):
    r = admin('tickets', 'list', '--db', str(tmp_path / 'none.db'))
    assert r.returncode == 1 and 'no database at' in r.stderr and 'wt-admin init' in r.stderr
    assert not (tmp_path / 'none.db').exists()
    admin('init', '--db', str(db))
    r = admin('ticket', 'show', '42', '--db', str(db))
    assert r.returncode == 1 and 'no ticket 42' in r.stderr
    r = admin('attachment', 'save', '9', '--db', str(db))
    assert r.returncode == 1 and 'no attachment 9' in r.stderr
    assert admin('tickets', 'list', '--db', str(db)).stdout.strip() == 'no tickets'
    assert admin('ticket', 'show', 'abc', '--db', str(db)).returncode == 64


def test_wt_db_environment_variable(db):
    env = dict(os.environ, WT_DB=str(db))
    assert subprocess.run([ADMIN, 'init'], env=env, capture_output=True).returncode == 0
    assert db.exists()
