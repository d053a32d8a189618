#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need from Debian packages when it is missing
# (PostgreSQL, Redis, Chromium; the Node client libraries from npm), starts a throw-away PostgreSQL cluster and
# Redis on 127.0.0.1, checks formatting, runs every test on SQLite and then on PostgreSQL, and stops what it started.
# Usage: scripts/test.sh [extra dotnet test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# Ports below Linux's ephemeral range (32768-60999): a client socket that a bench or an earlier run left bound there
# cannot take them from the servers.
pg_port="${GEOLOGISTICS_TEST_PG_PORT:-25432}"
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. Packages: PostgreSQL (Debian keeps it under /usr/lib/postgresql/<version>/bin), Redis, and Chromium for the
#    dashboard's browser tests (Debian's, never a downloaded browser; GEOLOGISTICS_CHROMIUM names another).
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x "${GEOLOGISTICS_CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]} (apt-get)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"

# 2. A cluster of our own in a temporary folder, on loopback only. PostgreSQL refuses to run as root.
pg_dir="$(mktemp -d /tmp/geologistics-pg.XXXXXX)"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$pg_dir"
stop_pg() {
  as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir" || true
}
trap stop_pg EXIT
as_pg "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
# fsync off: a test cluster that is thrown away; durability is not what these tests measure.
as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
  -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=500 -c fsync=off -c synchronous_commit=off" \
  start >/dev/null || { cat "$pg_dir/server.log"; exit 1; }
echo "== PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port"

# 3. Redis: a throw-away instance on loopback for the tests of shared positions (they skip without it); no
#    persistence. Stopped on exit together with PostgreSQL.
redis_port="${GEOLOGISTICS_TEST_REDIS_PORT:-26379}"
redis_dir="$(mktemp -d /tmp/geologistics-redis.XXXXXX)"
stop_redis() {
  local pid=""
  [ -f "$redis_dir/redis.pid" ] && pid="$(cat "$redis_dir/redis.pid")"
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    # Redis writes its log as it stops: its folder goes once it is gone (a run failed on "Directory not empty").
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$redis_dir" || true
}
trap 'stop_redis; stop_pg' EXIT
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --dir "$redis_dir" --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log"
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$redis_port" ping >/dev/null || { cat "$redis_dir/redis.log"; exit 1; }
export GEOLOGISTICS_TEST_REDIS="127.0.0.1:$redis_port"
echo "== Redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on $GEOLOGISTICS_TEST_REDIS"

# 3b. The protocol adapters are tested with the real client libraries under Node, pinned by a lock file.
command -v npm >/dev/null 2>&1 || { echo "== installing npm (apt-get)"; as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
if ! cmp -s tests/clients/package-lock.json tests/clients/node_modules/.installed-lock.json; then
  echo "== npm ci (tests/clients)"
  npm ci --prefix tests/clients --no-audit --no-fund --loglevel=error
  cp tests/clients/package-lock.json tests/clients/node_modules/.installed-lock.json
fi

# 4. Formatting and analyzers are part of the build contract.
echo "== dotnet format --verify-no-changes"
dotnet format GeoLogistics.slnx --verify-no-changes

# 5. The suite, once per store. One test project at a time: the browser tests share two cores with a browser and
#    server processes of their own, and a project beside them would starve them. A failing pass ends with a digest
#    of its failures (name, message, stack; not the server logs), so the end of the output says what failed.
dotnet build GeoLogistics.slnx -c Release --nologo -v quiet
log_dir="$(mktemp -d /tmp/geologistics-tests.XXXXXX)"
trap 'stop_redis; stop_pg; rm -rf "$log_dir" || true' EXIT
run_pass() {
  local name="$1"
  shift
  echo "== tests on $name"
  local status=0
  "$@" 2>&1 | tee "$log_dir/$name.log" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "== failed on $name:"
    awk '/^failed /{show=1} /^  (Standard output|Error output)/{show=0} show' "$log_dir/$name.log"
    exit "$status"
  fi
}
run_pass SQLite dotnet test --solution GeoLogistics.slnx -c Release --no-build --max-parallel-test-modules 1 "$@"
run_pass PostgreSQL env GEOLOGISTICS_TEST_POSTGRES="Host=127.0.0.1;Port=$pg_port;Username=postgres;Maximum Pool Size=200" \
  dotnet test --solution GeoLogistics.slnx -c Release --no-build --max-parallel-test-modules 1 "$@"
echo "== all tests passed on SQLite and PostgreSQL"
