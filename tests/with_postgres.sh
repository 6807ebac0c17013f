#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL 15 cluster (unix socket in a temp dir, fsync off),
# with TEST_DATABASE_URL pointing at it. Without the server binaries it says so and exits 0,
# unless --require is given.
set -euo pipefail
require=0
if [ "${1:-}" = "--require" ]; then require=1; shift; fi
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
if [ ! -x "$PGBIN/initdb" ]; then
  echo "with_postgres: no PostgreSQL 15 server binaries in $PGBIN; PostgreSQL pass skipped" >&2
  [ "$require" = 1 ] && exit 1
  exit 0
fi
dir=$(mktemp -d /tmp/supplychain-pg.XXXXXX)
chmod 755 "$dir"
as_pg=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$dir" 2>/dev/null || { useradd -r postgres 2>/dev/null; chown postgres "$dir"; }
  as_pg=(runuser -u postgres --)
fi
cleanup() {
  "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
"${as_pg[@]}" "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o \
  "-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >/dev/null
"${as_pg[@]}" "$PGBIN/createdb" -h "$dir" -U postgres supplychain_test
export TEST_DATABASE_URL="postgresql+psycopg://postgres@/supplychain_test?host=$dir"
echo "with_postgres: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') at $dir" >&2
"$@"
