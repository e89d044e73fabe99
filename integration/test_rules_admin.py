"""Rules, ticket types, users, settings and the configuration file, through wt-admin and
through deliveries."""
import json
import os
import sqlite3

import pytest

from conftest import admin, deliver, message, query

SEED_RULES = [
    ('Internet Problem', 'Internet', 'Network', 'High', '2'),
    ('Internet Problem 2', 'Internet Down', 'Network', 'Urgent', '5'),
]


@pytest.fixture
def configured(db):
    assert admin('init', '--db', str(db)).returncode == 0
    assert admin('users', 'add', 'Jane Doe', '--role', 'technician', '--emails', 'jdoe@corp.example;jane@home.example', '--db', str(db)).returncode == 0
    assert admin('types', 'add', 'Network', '--technician', 'Jane Doe', '--notify', 'netops@corp.example', '--db', str(db)).returncode == 0
    for name, text, typ, prio, order in SEED_RULES:
        r = admin('rules', 'add', name, '--text', text, '--type', typ, '--priority', prio, '--order', order, '--db', str(db))
        assert r.returncode == 0, r.stderr
    return db


def ticket(db, n):
    return json.loads(admin('ticket', 'show', str(n), '--db', str(db), '--json').stdout)


def test_a_matching_rule_sets_type_priority_and_technician(configured):
    assert deliver(configured, message(subject='Internet down on floor 3')).rc == 0
    t = ticket(configured, 1)
    assert (t['ticket_type'], t['priority'], t['technician']) == ('Network', 'High', 'Jane Doe')
    assert 'rule: Internet Problem (subject: "Internet")' in t['events'][0]['detail']


def test_no_match_gives_the_defaults(configured):
    assert admin('settings', 'set', 'default_priority', 'low', '--db', str(configured)).returncode == 0
    assert deliver(configured, message(subject='Printer jam')).rc == 0
    t = ticket(configured, 1)
    assert (t['ticket_type'], t['priority'], t['technician']) == ('General', 'Low', None)


def test_requester_found_by_any_of_their_addresses(configured):
    assert deliver(configured, message(sender='JANE@home.example')).rc == 0
    assert ticket(configured, 1)['requester'] == 'Jane Doe'


def test_rule_changes_apply_to_the_next_delivery(configured):
    """The compiled index is kept in the database for one rules version; every change must
    make the next delivery rebuild it."""
    assert deliver(configured, message(subject='Internet down')).rc == 0
    assert query(configured, 'SELECT count(*) FROM rule_index') == [(1,)]
    assert admin('rules', 'disable', 'Internet Problem', '--db', str(configured)).returncode == 0
    assert deliver(configured, message(subject='Internet down')).rc == 0
    assert ticket(configured, 2)['priority'] == 'Urgent'
    assert admin('rules', 'edit', 'Internet Problem 2', '--priority', 'Low', '--db', str(configured)).returncode == 0
    assert deliver(configured, message(subject='Internet down')).rc == 0
    assert ticket(configured, 3)['priority'] == 'Low'
    assert admin('rules', 'remove', 'Internet Problem 2', '--db', str(configured)).returncode == 0
    assert deliver(configured, message(subject='Internet down')).rc == 0
    assert ticket(configured, 4)['priority'] == 'Medium'


def test_a_truncated_rule_index_is_rebuilt(configured):
    assert deliver(configured, message(subject='Internet down')).rc == 0
    query(configured, 'UPDATE rule_index SET image = CAST(substr(image, 1, 30) AS BLOB)')
    assert deliver(configured, message(subject='Internet down')).rc == 0
    assert ticket(configured, 2)['priority'] == 'High'


def test_rules_check_finds_the_seed_example(configured):
    r = admin('rules', 'check', '--db', str(configured))
    assert r.returncode == 1
    assert '"Internet Problem 2" (order 5) never fires' in r.stdout
    problems = [json.loads(l) for l in admin('rules', 'check', '--db', str(configured), '--json').stdout.splitlines()]
    assert [(p['kind'], p['rule']) for p in problems] == [('never-fires', 'Internet Problem 2')]
    assert admin('rules', 'edit', 'Internet Problem 2', '--order', '1', '--db', str(configured)).returncode == 0
    r = admin('rules', 'check', '--db', str(configured))
    assert r.returncode == 0 and 'no problems' in r.stdout


def test_rules_list_show_enable(configured):
    rows = [json.loads(l) for l in admin('rules', 'list', '--json', '--db', str(configured)).stdout.splitlines()]
    assert [r['name'] for r in rows] == ['Internet Problem', 'Internet Problem 2']
    assert admin('rules', 'disable', 'internet problem', '--db', str(configured)).returncode == 0
    shown = json.loads(admin('rules', 'show', 'Internet Problem', '--json', '--db', str(configured)).stdout)
    assert shown['enabled'] is False and shown['text'] == 'Internet' and shown['order'] == 2


def snapshot(db):
    con = sqlite3.connect(str(db))
    try:
        return [con.execute('SELECT * FROM %s ORDER BY 1' % t).fetchall() for t in ('rules', 'ticket_types', 'users', 'settings')]
    finally:
        con.close()


@pytest.mark.parametrize('args,field', [
    (['rules', 'add', 'X', '--text', 'x', '--type', 'Nope', '--priority', 'High', '--order', '1'], 'type: no ticket type "Nope"'),
    (['rules', 'add', 'Internet Problem', '--text', 'x', '--type', 'Network', '--priority', 'High', '--order', '1'], 'name: a rule named'),
    (['rules', 'add', 'X', '--text', 'x', '--type', 'Network', '--priority', 'High', '--order', 'first'], 'order: "first" is not a whole number'),
    (['rules', 'add', 'X', '--text', ' ', '--type', 'Network', '--priority', 'High', '--order', '1'], 'text: rule "X" needs text'),
    (['rules', 'add', 'X', '--text', 'x', '--type', 'Network', '--priority', 'Whenever', '--order', '1'], 'priority: "Whenever" is not a priority'),
    (['rules', 'edit', 'Nope', '--order', '1'], 'name: no rule named "Nope"'),
    (['types', 'add', 'Net', '--technician', 'Nobody'], 'technician: no user "Nobody"'),
    (['types', 'remove', 'Network'], 'is used by the rules'),
    (['types', 'remove', 'General'], 'default_ticket_type'),
    (['users', 'add', 'Ann', '--emails', 'not-an-address'], 'emails: "not-an-address" is not an e-mail address'),
    (['users', 'add', 'Ann', '--emails', 'jdoe@corp.example'], 'emails: jdoe@corp.example already belongs to "Jane Doe"'),
    (['users', 'add', 'Ann', '--role', 'boss', '--emails', 'a@b.example'], 'role: "boss" is not technician or end_user'),
    (['users', 'edit', 'Jane Doe', '--role', 'end_user'], 'role: "Jane Doe" is the technician of ticket type "Network"'),
    (['settings', 'set', 'email_fields', 'number;subject;status;priority;ticket_type;technician;requester;body;created'], 'email_fields: 9 fields given, at most 8'),
    (['settings', 'set', 'linkback_position', 'Middle'], 'linkback_position: "Middle" is not one of Top, Bottom, Exclude'),
    (['settings', 'set', 'smtp_port', '70000'], 'smtp_port: "70000" is not a port number'),
    (['settings', 'set', 'from_email', 'service desk'], 'from_email: "service desk" is not an e-mail address'),
    (['settings', 'set', 'default_ticket_type', 'Hardware'], 'default_ticket_type: no ticket type "Hardware"'),
    (['settings', 'set', 'priorities', 'Low;Medium'], 'priorities: rules use the priority "High"'),
    (['settings', 'set', 'no_such_thing', '1'], 'no_such_thing: no such setting'),
])
def test_bad_input_names_the_field_and_changes_nothing(configured, args, field):
    before = snapshot(configured)
    r = admin(*args, '--db', str(configured))
    assert r.returncode == 65, (r.stdout, r.stderr)
    assert field in r.stderr
    assert 'nothing was changed' in r.stderr
    assert snapshot(configured) == before


def test_settings_are_normalised_and_listed(configured):
    assert admin('settings', 'set', 'linkback_position', 'top', '--db', str(configured)).stdout.strip() == 'linkback_position = Top'
    assert admin('settings', 'set', 'html_email', 'yes', '--db', str(configured)).stdout.strip() == 'html_email = true'
    assert admin('settings', 'get', 'html_email', '--db', str(configured)).stdout.strip() == 'true'
    admin('settings', 'set', 'smtp_password', 's3cret', '--db', str(configured))
    listing = [json.loads(l) for l in admin('settings', 'list', '--json', '--db', str(configured)).stdout.splitlines()]
    keys = [s['key'] for s in listing]
    for k in ['from_email', 'display_name', 'smtp_server', 'smtp_port', 'smtp_requires_auth', 'smtp_user', 'smtp_password',
              'email_technician_on_create', 'email_technician_on_update', 'email_end_user_on_create', 'email_end_user_on_update',
              'self_notify', 'html_email', 'email_subject', 'new_ticket_prebody', 'update_ticket_prebody', 'email_fields',
              'linkback_position', 'pop_host', 'pop_user', 'pop_password', 'root_url']:
        assert k in keys
    assert [s['value'] for s in listing if s['key'] == 'smtp_password'] == ['(set)']
    assert 's3cret' not in admin('settings', 'list', '--db', str(configured)).stdout


def test_csv_import_all_or_nothing(configured, tmp_path):
    good = tmp_path / 'users.csv'
    good.write_text('First Name,Last Name,Email,Role\nAnn,Lee,ann@corp.example,\n"Smith, Jr.",Bob,"bob@corp.example;bob@home.example",technician\nJane,Doe,jdoe@corp.example,technician\n')
    # "Jane Doe" exists: updated, not duplicated.
    r = admin('users', 'import', str(good), '--db', str(configured))
    assert r.returncode == 0 and 'added 2 and updated 1' in r.stdout
    users = {u['name']: u for u in map(json.loads, admin('users', 'list', '--json', '--db', str(configured)).stdout.splitlines())}
    assert users['Smith, Jr. Bob']['emails'] == ['bob@corp.example', 'bob@home.example']
    assert users['Smith, Jr. Bob']['role'] == 'technician' and users['Ann Lee']['role'] == 'end_user'
    assert users['Jane Doe']['emails'] == ['jdoe@corp.example']
    bad = tmp_path / 'bad.csv'
    bad.write_text('name,email\nCarl,carl@corp.example\nDora,not-an-address\n')
    before = snapshot(configured)
    r = admin('users', 'import', str(bad), '--db', str(configured))
    assert r.returncode == 65 and 'record 2' in r.stderr and 'not-an-address' in r.stderr
    assert snapshot(configured) == before


def test_config_export_apply_round_trip(configured, tmp_path):
    exported = admin('config', 'export', '--db', str(configured)).stdout
    f = tmp_path / 'wt.conf'
    f.write_text(exported)
    r = admin('config', 'apply', str(f), '--db', str(configured))
    assert r.returncode == 0
    assert admin('config', 'export', '--db', str(configured)).stdout == exported
    # Edit in the file: fix the seed's ordering problem, add a type and a rule.
    text = exported.replace('order = 5', 'order = 1') + '\n[type "Hardware"]\n\n[rule "Printer"]\ntext = printer\ntype = Hardware\npriority = Low\norder = 10\nenabled = true\n'
    f.write_text(text)
    assert admin('rules', 'check', '--file', str(f), '--db', str(configured)).returncode == 0
    r = admin('config', 'apply', str(f), '--check', '--db', str(configured))
    assert r.returncode == 0 and 'nothing changed' in r.stdout
    assert 'Printer' not in admin('rules', 'list', '--db', str(configured)).stdout
    r = admin('config', 'apply', str(f), '--db', str(configured))
    assert r.returncode == 0, r.stderr
    assert deliver(configured, message(subject='printer smoking')).rc == 0
    assert ticket(configured, 1)['ticket_type'] == 'Hardware'
    assert admin('rules', 'check', '--db', str(configured)).returncode == 0


@pytest.mark.parametrize('text,error', [
    ('[rule "x"]\ntext = a\ntype = Network\npriority = High\n', ':1: this section needs "order"'),
    ('[rule "x"]\ntext = a\ntype = Network\npriority = High\norder = soon\n', ':5: order: "soon" is not a whole number'),
    ('[rules "x"]\n', ':1: unknown section "rules"'),
    ('[settings]\nlinkback_position = Middle\n', 'linkback_position: "Middle" is not one of'),
    ('[settings]\nfrom_email = a@b.example\nfrom_email = c@d.example\n', ':3: "from_email" is given twice'),
    ('text = outside\n', ':1: "text" is outside any section'),
    ('[rule "x"]\ntext = "unclosed\n', ':2: a quoted value is not closed'),
    ('[type "General"]\n[rule "x"]\ntext = a\ntype = Nowhere\npriority = High\norder = 1\n', 'no ticket type "Nowhere"'),
    ('[user "A"]\nrole = end_user\nemails = jdoe@corp.example\n[type "General"]\n[type "Network"]\ntechnician = Jane Doe\n', 'already belongs to "Jane Doe"'),
])
def test_a_bad_config_file_changes_nothing(configured, tmp_path, text, error):
    f = tmp_path / 'bad.conf'
    f.write_text(text)
    before = snapshot(configured)
    r = admin('config', 'apply', str(f), '--db', str(configured))
    assert r.returncode == 65, (r.stdout, r.stderr)
    assert error in r.stderr
    assert snapshot(configured) == before


def test_explain_shows_the_rules_tried(configured):
    import subprocess
    from conftest import DELIVER
    data = message(subject='Internet down')
    p = subprocess.run([DELIVER, '--explain', '--json', '--db', str(configured)], input=data, capture_output=True)
    d = json.loads(p.stdout)['delivery']
    assert [r['name'] for r in d['rules_tried']] == ['Internet Problem']
    assert d['rule'] == {'name': 'Internet Problem', 'field': 'subject', 'matched_text': 'Internet'}
    assert (d['ticket_type'], d['priority'], d['technician'], d['action']) == ('Network', 'High', 'Jane Doe', 'new')
    p = subprocess.run([DELIVER, '--explain', '--db', str(configured)], input=message(subject='Printer'), capture_output=True)
    out = p.stdout.decode()
    assert '✘ Internet Problem (order 2' in out and 'No rule matched' in out
    assert query(configured, 'SELECT count(*) FROM tickets')[0][0] == 0
    assert deliver(configured, data).rc == 0
    p = subprocess.run([DELIVER, '--explain', '--json', '--db', str(configured), '--', 'helpdesk@wt.test'], input=data, capture_output=True)
    assert json.loads(p.stdout)['delivery']['action'] == 'duplicate'
