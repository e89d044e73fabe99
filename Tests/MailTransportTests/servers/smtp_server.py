"""An SMTP server on loopback for MailTransportTests; keeps what it receives as files.

Run with Debian's Python (/usr/bin/python3, which has python3-aiosmtpd):

  smtp_server.py --dir DIR [--tls none|starttls|implicit --cert C --key K] [--user U]
                 [--silent] [--echo-credentials] [--idle-timeout S] [--parent PID]

The password for --user is read from the environment (SMTP_TEST_PASSWORD). The port is
written to DIR/port once the server listens. Each message becomes DIR/NNNN.eml (the bytes
as received after dot-unstuffing) and DIR/NNNN.json (envelope, connection number, whether
TLS was on, the login), the .json last. DIR/connections counts connections.

Recipients steer the replies: refuse550@... gets 550 at RCPT, later451@... 451 at RCPT,
reject554@... 554 after the data. --silent accepts connections and never says a word;
--echo-credentials quotes a wrong password back in the 535 reply.
The server exits when the process --parent (by default its parent) goes away.
"""
import argparse
import asyncio
import base64
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time

parser = argparse.ArgumentParser()
parser.add_argument('--dir', required=True)
parser.add_argument('--tls', choices=['none', 'starttls', 'implicit'], default='none')
parser.add_argument('--cert')
parser.add_argument('--key')
parser.add_argument('--user')
parser.add_argument('--silent', action='store_true')
parser.add_argument('--echo-credentials', action='store_true')
parser.add_argument('--idle-timeout', type=float, default=60)
parser.add_argument('--parent', type=int, default=os.getppid())
args = parser.parse_args()
# Whoever started us may have blocked signals in its thread: SIGTERM must stop the server.
signal.pthread_sigmask(signal.SIG_SETMASK, [])


def parent_alive():
    try:
        os.kill(args.parent, 0)
        return True
    except ProcessLookupError:
        return False


def write_atomically(path, data):
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.rename(tmp, path)


def watch_parent():
    # Never outlive the test process, even when it crashes.
    while parent_alive():
        time.sleep(0.5)
    os._exit(0)


def serve_silently():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    s.listen(16)
    write_atomically(os.path.join(args.dir, 'port'), str(s.getsockname()[1]).encode())
    held = []
    threading.Thread(target=watch_parent, daemon=True).start()
    while True:
        conn, _ = s.accept()
        held.append(conn)   # accepted, never answered, never closed


if args.silent:
    serve_silently()
    sys.exit(0)

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword  # noqa: E402

state = {'connections': 0, 'messages': 0}


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split('@')[0]
        if local == 'refuse550':
            return '550 5.1.1 <%s>: Recipient address rejected: User unknown' % address
        if local == 'later451':
            return '451 4.3.0 <%s>: Temporary lookup failure' % address
        envelope.rcpt_tos.append(address)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        if any(r.split('@')[0] == 'reject554' for r in envelope.rcpt_tos):
            return '554 5.6.0 Message content rejected'
        state['messages'] += 1
        n = state['messages']
        base = os.path.join(args.dir, '%04d' % n)
        write_atomically(base + '.eml', envelope.original_content)
        login = None
        if session.auth_data is not None and hasattr(session.auth_data, 'login'):
            login = session.auth_data.login.decode()
        meta = {
            'mail_from': envelope.mail_from,
            'rcpt_tos': envelope.rcpt_tos,
            'connection': session.connection_number,
            'tls': session.ssl is not None or args.tls == 'implicit',
            'login': login,
        }
        write_atomically(base + '.json', json.dumps(meta).encode())
        return '250 2.0.0 Ok: queued as %04d' % n


def authenticator(server, session, envelope, mechanism, auth_data):
    if not isinstance(auth_data, LoginPassword):
        return AuthResult(success=False, handled=False)
    ok = (args.user is not None and auth_data.login.decode() == args.user
          and auth_data.password.decode() == os.environ.get('SMTP_TEST_PASSWORD', ''))
    if not ok and args.echo_credentials:
        # A careless server that quotes what it was given, in the clear and in base64.
        given = auth_data.password.decode()
        plain = base64.b64encode(b'\0' + auth_data.login + b'\0' + auth_data.password).decode()
        return AuthResult(success=False, handled=False,
                          message='535 5.7.8 password %s (%s, %s) is wrong' % (
                              given, base64.b64encode(auth_data.password).decode(), plain))
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def tls_context():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    return ctx


def factory():
    state['connections'] += 1
    number = state['connections']
    write_atomically(os.path.join(args.dir, 'connections'), str(number).encode())
    options = dict(hostname='mx.wt.test', ident='wt-test', timeout=args.idle_timeout)
    if args.user is not None:
        options.update(authenticator=authenticator, auth_required=True)
    if args.tls == 'starttls':
        options.update(tls_context=tls_context(), require_starttls=True)
    if args.tls == 'implicit':
        # The whole connection is TLS: AUTH needs no STARTTLS first.
        options.update(auth_require_tls=False)
    smtp = SMTP(Handler(), **options)
    original = smtp._create_session

    def session_with_number():
        s = original()
        s.connection_number = number
        return s
    smtp._create_session = session_with_number
    return smtp


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, host='127.0.0.1', port=0,
                                      ssl=tls_context() if args.tls == 'implicit' else None)
    port = server.sockets[0].getsockname()[1]
    write_atomically(os.path.join(args.dir, 'port'), str(port).encode())
    while parent_alive():
        await asyncio.sleep(0.5)


asyncio.run(main())
