#!/bin/sh
# Installs what building (and, with "test", testing) needs, only what is missing.
# Debian packages through apt-get; pytest through pip when no python3 module has it.
set -e
mode=${1:-build}
command -v swift >/dev/null 2>&1 || { echo "swift is not on PATH (expected /opt/swift/usr/bin)" >&2; exit 1; }
need=""
[ -f /usr/include/sqlite3.h ] || need="$need libsqlite3-dev"
[ -f /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -f /usr/include/curl/curl.h ] || need="$need libcurl4-openssl-dev"
[ -f /usr/include/postgresql/libpq-fe.h ] || need="$need libpq-dev"
command -v python3 >/dev/null 2>&1 || need="$need python3"
if [ "$mode" = test ]; then
  for tool in strace:strace sqlite3:sqlite3 setpriv:util-linux postfix:postfix procmail:procmail; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${tool%%:*}" ] || need="$need ${tool#*:}"
  done
  # GNU time: peak memory of a delivery (the shell's time keyword has none).
  [ -x /usr/bin/time ] || need="$need time"
  # MailTransportTests: an SMTP server under Debian's Python, a test CA made with openssl.
  /usr/bin/python3 -c 'import aiosmtpd.smtp' >/dev/null 2>&1 || need="$need python3-aiosmtpd"
  command -v openssl >/dev/null 2>&1 || need="$need openssl"
  # The PostgreSQL store's tests start a server of their own (initdb, pg_ctl).
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$need postgresql"
  # POP fetch tests: a Dovecot POP3 server of their own on loopback; fetchmail for the bench.
  [ -x /usr/sbin/dovecot ] || need="$need dovecot-core"
  [ -x /usr/lib/dovecot/pop3 ] || need="$need dovecot-pop3d"
  command -v fetchmail >/dev/null 2>&1 || need="$need fetchmail"
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
if [ -n "$need" ]; then
  echo "installing:$need"
  # The postgresql package would create and start a cluster on port 5432: the tests run their own.
  case "$need " in *" postgresql "*)
    $SUDO mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.d/wt-tests.conf >/dev/null ;;
  esac
  # Postfix asks questions on install: a local-only mail system named wt.test.
  echo "postfix postfix/main_mailer_type select Local only" | $SUDO debconf-set-selections 2>/dev/null || true
  echo "postfix postfix/mailname string wt.test" | $SUDO debconf-set-selections 2>/dev/null || true
  $SUDO apt-get update -q >/dev/null
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/dev/null
fi
# wt-deliver-pg links libpq statically, with libpq's own pgcommon and pgport, which Debian
# ships in the server development package of libpq's major version.
if ! ls /usr/lib/postgresql/*/lib/libpgcommon_shlib.a >/dev/null 2>&1; then
  major=$(pg_config --version | sed -n 's/^PostgreSQL \([0-9][0-9]*\).*/\1/p')
  echo "installing: postgresql-server-dev-$major"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "postgresql-server-dev-$major" >/dev/null
fi
if [ "$mode" = test ] && ! python3 -m pytest --version >/dev/null 2>&1; then
  echo "installing: pytest"
  python3 -m pip install -q pytest
fi
