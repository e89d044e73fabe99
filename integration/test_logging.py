"""One syslog line (facility mail) per delivery, and nothing on stdout or stderr."""

import pytest

from conftest import bind_dev_log, deliver, log_lines, message, unbind_dev_log

LOG_MAIL = 2 << 3
LOG_INFO, LOG_ERR = 6, 3


@pytest.fixture
def syslog():
    s = bind_dev_log()
    if s is None:
        pytest.skip('a syslog daemon owns /dev/log here')
    yield s
    unbind_dev_log(s)


lines = log_lines


def test_one_mail_facility_line_per_delivery(db, syslog):
    data = message()
    r = deliver(db, data)
    assert r.rc == 0 and r.err == '' and r.out == b''
    got = lines(syslog)
    assert len(got) == 1, got
    line = got[0]
    assert line.startswith('<%d>' % (LOG_MAIL | LOG_INFO))
    assert 'wt-deliver[' in line
    assert 'action=created' in line and 'ticket=1' in line and 'size=%d' % len(data) in line
    assert 'ms=' in line and 'message-id=<' in line
    # Message content never goes to the log.
    assert 'Printer on fire' not in line


def test_errors_are_logged_at_error_level(tmp_path, syslog):
    r = deliver(tmp_path / 'missing' / 'wt.db', message())
    assert r.rc == 75
    got = lines(syslog)
    assert len(got) == 1 and got[0].startswith('<%d>' % (LOG_MAIL | LOG_ERR))
    assert 'will be retried' in got[0]
