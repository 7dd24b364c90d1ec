#!/bin/sh
# Build mod_scep and run every test: the C unit tests of scep/, then the
# Apache::Test suite in t/ against a real httpd with SQLite and with a
# private PostgreSQL and MariaDB servers started here. Ends with
# "N passed, N failed".
#
# As root on Debian 12 it installs what it needs and runs the httpd tests
# as the unprivileged user "scep-test" (Apache::Test refuses root).
#   SCEP_TEST_KEEP=1     keep the scratch folder even when everything passed
#   SCEP_TEST_PG_PORT    PostgreSQL port (default 54329)
#   SCEP_TEST_PORT       first port of the test httpd (default 8529)
# Arguments, if any, are Apache::Test files to run instead of all of t/*.t
# (e.g. ./test.sh t/70-load.t); the unit tests always run.
set -u
cd "$(dirname "$0")"
top=$(pwd)
passed=0
failed=0
note() { printf '== %s\n' "$*"; }

./build-tools/install-deps.sh test || exit 1
if [ ! -f Makefile ]; then
    ./autogen.sh >/dev/null && ./configure -q || exit 1
fi
make -s || exit 1
make -s -C t/tools || exit 1

# ---- 1. unit tests and static checks ---------------------------------------
note "unit tests (Check) and static checks"
make -s check > /tmp/scep-make-check.$$ 2>&1
cat t/unit/test_scep.log 2>/dev/null | grep -E '^[0-9]+%|:[FE]:'
grep -E '^(PASS|FAIL): scep/|^(PASS|FAIL): [0-9]+ unique|^FAIL: log' /tmp/scep-make-check.$$
summary=$(grep -E '^[0-9]+%: Checks' t/unit/test_scep.log 2>/dev/null | tail -1)
if [ -n "$summary" ]; then
    n=$(echo "$summary" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
    f=$(echo "$summary" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
    e=$(echo "$summary" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
    passed=$((passed + n - f - e))
    failed=$((failed + f + e))
else
    echo "unit tests did not run:"; tail -20 /tmp/scep-make-check.$$
    failed=$((failed + 1))
fi
for check in "scep/ has no httpd headers" "unique log tags"; do
    if grep -q "^PASS: .*$check" /tmp/scep-make-check.$$; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
done
rm -f /tmp/scep-make-check.$$

# ---- 2. Apache::Test suite, as an unprivileged user --------------------------
work=$(mktemp -d /tmp/mod_scep-test.XXXXXX)
runas=""
if [ "$(id -u)" = 0 ]; then
    id scep-test >/dev/null 2>&1 || useradd -M -d /nonexistent -s /bin/sh scep-test
    runas="runuser -u scep-test --"
fi
# a copy the test user owns: t/ writes its logs and generated config there
mkdir "$work/tree"
tar -C "$top" --exclude=./.git --exclude=./demo --exclude=./bench/cache --exclude=./bench/out \
    --exclude=./fuzz/build --exclude=./fuzz/out -cf - . | tar -C "$work/tree" -xf -
[ -n "$runas" ] && chown -R scep-test "$work"
chmod 755 "$work"

# the services are started from the scratch folder the test user can enter
cd "$work" || exit 1
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
pgport=${SCEP_TEST_PG_PORT:-54329}
pgdir="$work/pg"
pg_started=0
note "starting PostgreSQL on port $pgport (socket in $pgdir)"
if $runas "$pgbin/initdb" -D "$pgdir" -A trust -U scep >"$work/pg-init.log" 2>&1 \
   && $runas "$pgbin/pg_ctl" -D "$pgdir" -w -t 60 -l "$work/pg.log" \
        -o "-k $pgdir -p $pgport -c listen_addresses=''" start >/dev/null \
   && $runas "$pgbin/createdb" -h "$pgdir" -p "$pgport" -U scep scep; then
    pg_started=1
    export SCEP_TEST_PGSQL="host=$pgdir port=$pgport dbname=scep user=scep"
    # t/71-faults.t restarts it: pg_ctl -D $SCEP_TEST_PG_DATA restart (postmaster.opts keeps the options)
    export SCEP_TEST_PG_DATA="$pgdir" SCEP_TEST_PG_BIN="$pgbin"
else
    echo "PostgreSQL did not start:"; tail -5 "$work/pg-init.log" "$work/pg.log" 2>/dev/null
    failed=$((failed + 1))
fi

# a private MariaDB on a socket only, for t/21-mysql.t
mydir="$work/mysql"
my_started=0
note "starting MariaDB (socket $mydir/sock)"
if $runas mkdir -p "$mydir" \
   && $runas mariadb-install-db --no-defaults --datadir="$mydir/data" \
        --auth-root-authentication-method=normal --skip-test-db >"$work/my-init.log" 2>&1; then
    $runas mariadbd --no-defaults --datadir="$mydir/data" --socket="$mydir/sock" \
        --skip-networking --skip-grant-tables --pid-file="$mydir/pid" \
        --log-error="$work/my.log" >/dev/null 2>&1 &
    for i in $(seq 1 60); do
        [ -S "$mydir/sock" ] && mariadb --socket="$mydir/sock" -e 'SELECT 1' >/dev/null 2>&1 && break
        sleep 0.5
    done
    if mariadb --socket="$mydir/sock" -e 'CREATE DATABASE IF NOT EXISTS scep' 2>/dev/null; then
        my_started=1
        export SCEP_TEST_MYSQL="$mydir/sock"
    fi
fi
if [ "$my_started" = 0 ]; then
    echo "MariaDB did not start:"; tail -5 "$work/my-init.log" "$work/my.log" 2>/dev/null
    failed=$((failed + 1))
fi

note "Apache::Test suite (httpd $(apxs -q SBINDIR)/$(apxs -q TARGET))"
httpd=$(apxs -q SBINDIR)/$(apxs -q TARGET)
(
    cd "$work/tree" || exit 1
    $runas env HOME="$work" APACHE_TEST_NO_STICKY_PREFERENCES=1 \
        SCEP_TEST_PGSQL="${SCEP_TEST_PGSQL:-}" \
        perl -MApache::TestMM -e 'Apache::TestMM::generate_script("t/TEST")' >/dev/null
    $runas env HOME="$work" APACHE_TEST_NO_STICKY_PREFERENCES=1 \
        SCEP_TEST_PGSQL="${SCEP_TEST_PGSQL:-}" SCEP_TEST_MYSQL="${SCEP_TEST_MYSQL:-}" \
        SCEP_TEST_PG_DATA="${SCEP_TEST_PG_DATA:-}" SCEP_TEST_PG_BIN="${SCEP_TEST_PG_BIN:-}" \
        perl t/TEST -apxs "$(command -v apxs)" -httpd "$httpd" -port "${SCEP_TEST_PORT:-8529}" \
        -verbose=0 "$@"
) > "$work/t.log" 2>&1
cat "$work/t.log" | grep -vE '^\[  info\]|^\s*$' | tail -60

if [ "$pg_started" = 1 ]; then
    $runas "$pgbin/pg_ctl" -D "$pgdir" -m fast stop >/dev/null 2>&1
fi
if [ -f "$mydir/pid" ]; then
    kill "$(cat "$mydir/pid")" 2>/dev/null
fi

# Test::Harness: "Files=N, Tests=M" and, on failure, "Failed X/M subtests"
total=$(grep -E '^Files=[0-9]+, Tests=[0-9]+' "$work/t.log" | sed -E 's/.*Tests=([0-9]+).*/\1/' | tail -1)
bad=$(grep -E 'Failed [0-9]+/[0-9]+ subtests' "$work/t.log" | sed -E 's/.*Failed ([0-9]+)\/.*/\1/' \
      | awk '{s+=$1} END {print s+0}')
dubious=$(grep -cE 'Dubious|Bad plan|No subtests run|exited [1-9]' "$work/t.log")
if [ -z "$total" ]; then
    echo "the Apache::Test suite did not complete; see $work/t.log"
    failed=$((failed + 1))
else
    passed=$((passed + total - bad))
    failed=$((failed + bad))
    if [ "$bad" = 0 ] && [ "$dubious" != 0 ]; then
        failed=$((failed + dubious))
    fi
fi

if [ "$failed" = 0 ] && [ -z "${SCEP_TEST_KEEP:-}" ]; then
    rm -rf "$work"
else
    echo "scratch folder kept: $work (t.log, tree/t/logs/error_log, pg.log)"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
