#!/bin/sh
# Build mod_scep and run every test: the C unit tests of scep/, then the
# Apache::Test suite in t/ against a real httpd with SQLite and with a
# private PostgreSQL and MariaDB servers started here. Ends with
# "N passed, N failed".
#
# A full run also runs the unit tests under valgrind, the fuzz smoke test
# (fuzz/run.sh) and the Apache::Test suite a second time with mod_scep
# built with AddressSanitizer + UBSan, where every sanitizer report fails.
#
# As root on Debian 12 it installs what it needs and runs the httpd tests
# as the unprivileged user "scep-test" (Apache::Test refuses root).
#   SCEP_TEST_KEEP=1     keep the scratch folder even when everything passed
#   SCEP_TEST_PG_PORT    PostgreSQL port (default 54329; the sanitized
#                        pass's own PostgreSQL takes the next one)
#   SCEP_TEST_PORT       first port of the test httpd (default 8529; the
#                        sanitized pass's starts 100 above)
#   SCEP_TEST_SANITIZE   1: the sanitized pass beside the normal one (default
#                        of a full run), 0: none, only: the sanitized pass
#                        instead of the normal one
#   SCEP_TEST_VALGRIND   1/0: the unit tests under valgrind (default: full run)
#   SCEP_TEST_DEB        1/0: build the Debian package, install it into the
#                        system httpd, enroll through it, purge it (root only;
#                        default: full run)
#   SCEP_TEST_FUZZ       1/0: fuzz/run.sh for SCEP_TEST_FUZZ_SECONDS (default
#                        10) per harness (default: full run)
# Arguments, if any, are Apache::Test files to run instead of all of t/*.t
# (e.g. ./test.sh t/70-load.t); the unit tests always run, the valgrind,
# fuzz and sanitized steps then only when a switch above asks for them.
set -u
cd "$(dirname "$0")"
top=$(pwd)
passed=0
failed=0
note() { printf '== %s\n' "$*"; }
now() { date +%s; }
# switch NAME: its value (0 is off), else 1 for a full run and 0 when files were named
full=1
[ $# -gt 0 ] && full=0
switch() { eval "echo \"\${$1:-$full}\""; }
sanitize=$(switch SCEP_TEST_SANITIZE)
# count_unit LOG: "N%: Checks: N, Failures: N, Errors: N" of a Check log into the totals
count_unit() {
    summary=$(grep -E '^[0-9]+%: Checks' "$1" 2>/dev/null | tail -1)
    [ -n "$summary" ] || return 1
    n=$(echo "$summary" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
    f=$(echo "$summary" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
    e=$(echo "$summary" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
    passed=$((passed + n - f - e))
    failed=$((failed + f + e))
}

./build-tools/install-deps.sh test || exit 1
if [ ! -f Makefile ]; then
    ./autogen.sh >/dev/null && ./configure -q || exit 1
fi
make -s || exit 1

# ---- 1. unit tests and static checks ---------------------------------------
work=$(mktemp -d /tmp/mod_scep-test.XXXXXX)
note "unit tests (Check) and static checks"
# TMPDIR: the unit tests' scratch folders go to the scratch folder
TMPDIR="$work" make -s check > /tmp/scep-make-check.$$ 2>&1
cat t/unit/test_scep.log 2>/dev/null | grep -E '^[0-9]+%|:[FE]:'
grep -E '^(PASS|FAIL): (scep|client)/|^(PASS|FAIL): [0-9]+ unique|^FAIL: log|^PASS: no function|: [0-9]+ lines: ' \
    /tmp/scep-make-check.$$
if ! count_unit t/unit/test_scep.log; then
    echo "unit tests did not run:"; tail -20 /tmp/scep-make-check.$$
    failed=$((failed + 1))
fi
for check in "scep/ has no httpd headers" "client/ uses nothing of scep/" "unique log tags" \
             "no function over"; do
    if grep -q "^PASS: .*$check" /tmp/scep-make-check.$$; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
done
rm -f /tmp/scep-make-check.$$


# ---- 2. the test user, its copies of the tree, the databases ----------------
runas=""
if [ "$(id -u)" = 0 ]; then
    id scep-test >/dev/null 2>&1 || useradd -M -d /nonexistent -s /bin/sh scep-test
    runas="runuser -u scep-test --"
fi
# a copy the test user owns: t/ writes its logs and generated config there
copy_tree() {
    mkdir -p "$1"
    tar -C "$top" --exclude=./.git --exclude=./demo --exclude=./bench/cache --exclude=./bench/out \
        --exclude=./fuzz/build --exclude=./fuzz/out -cf - . | tar -C "$1" -xf -
}
san=$work/san
[ "$sanitize" != only ] && copy_tree "$work/tree"
# the sanitized pass has its own copy, rebuilt with --enable-sanitizers
[ "$sanitize" != 0 ] && copy_tree "$san/tree"
[ -n "$runas" ] && chown -R scep-test "$work"
chmod 755 "$work"

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
pgport=${SCEP_TEST_PG_PORT:-54329}
port=${SCEP_TEST_PORT:-8529}
# start_databases DIR PGPORT: a private PostgreSQL (on PGPORT, its socket in
# DIR/pg) and MariaDB (a socket only, DIR/mysql) for one pass of the suite,
# and DIR/db.env with the variables its tests read. Each pass has its own:
# t/71-faults.t restarts them, t/20-pgsql.t counts statements in the log.
start_databases() {
    dbdir=$1 dbport=$2
    : > "$dbdir/db.env"
    note "starting PostgreSQL on port $dbport (socket in $dbdir/pg)"
    if $runas "$pgbin/initdb" -D "$dbdir/pg" -A trust -U scep >"$dbdir/pg-init.log" 2>&1 \
       && $runas "$pgbin/pg_ctl" -D "$dbdir/pg" -w -t 60 -l "$dbdir/pg.log" \
            -o "-k $dbdir/pg -p $dbport -c listen_addresses=''" start >/dev/null \
       && $runas "$pgbin/createdb" -h "$dbdir/pg" -p "$dbport" -U scep scep; then
        # t/71 restarts it with pg_ctl -D SCEP_TEST_PG_DATA (postmaster.opts keeps the options)
        cat >> "$dbdir/db.env" <<EOF
SCEP_TEST_PGSQL='host=$dbdir/pg port=$dbport dbname=scep user=scep'
SCEP_TEST_PG_DATA='$dbdir/pg'
SCEP_TEST_PG_BIN='$pgbin'
SCEP_TEST_PG_LOG='$dbdir/pg.log'
EOF
    else
        echo "PostgreSQL did not start:"; tail -5 "$dbdir/pg-init.log" "$dbdir/pg.log" 2>/dev/null
        failed=$((failed + 1))
    fi

    mydir="$dbdir/mysql"
    note "starting MariaDB (socket $mydir/sock)"
    if $runas mkdir -p "$mydir" \
       && $runas mariadb-install-db --no-defaults --datadir="$mydir/data" \
            --auth-root-authentication-method=normal --skip-test-db >"$dbdir/my-init.log" 2>&1; then
        $runas mariadbd --no-defaults --datadir="$mydir/data" --socket="$mydir/sock" \
            --skip-networking --skip-grant-tables --pid-file="$mydir/pid" \
            --log-error="$dbdir/my.log" >/dev/null 2>&1 &
        for i in $(seq 1 60); do
            [ -S "$mydir/sock" ] && mariadb --socket="$mydir/sock" -e 'SELECT 1' >/dev/null 2>&1 && break
            sleep 0.5
        done
    fi
    if mariadb --socket="$mydir/sock" -e 'CREATE DATABASE IF NOT EXISTS scep' 2>/dev/null; then
        # how it was started, for t/71-faults.t's restart
        cat >> "$dbdir/db.env" <<EOF
SCEP_TEST_MYSQL='$mydir/sock'
SCEP_TEST_MY_DIR='$mydir'
SCEP_TEST_MY_LOG='$dbdir/my.log'
EOF
    else
        echo "MariaDB did not start:"; tail -5 "$dbdir/my-init.log" "$dbdir/my.log" 2>/dev/null
        failed=$((failed + 1))
    fi
}
stop_databases() {
    [ -f "$1/pg/postmaster.pid" ] && $runas "$pgbin/pg_ctl" -D "$1/pg" -m fast stop >/dev/null 2>&1
    [ -f "$1/mysql/pid" ] && kill "$(cat "$1/mysql/pid")" 2>/dev/null
}
# the services are started from the scratch folder the test user can enter
cd "$work" || exit 1
[ "$sanitize" != only ] && start_databases "$work" "$pgport"
[ "$sanitize" != 0 ] && start_databases "$san" $((pgport + 1))

httpd=$(apxs -q SBINDIR)/$(apxs -q TARGET)
load_n=${SCEP_TEST_LOAD_N:-} fault_n=${SCEP_TEST_FAULT_N:-}
# run_suite TREE HTTPD LOG DBDIR PORT [FILES]: t/TEST in TREE on PORT (and
# the ports after it), against DBDIR's databases, into LOG
run_suite() {
    tree=$1 bin=$2 log=$3 dbdir=$4 tport=$5
    shift 5
    (
        . "$dbdir/db.env"      # (passed on by name below)
        cd "$tree" || exit 1
        $runas env HOME="$work" APACHE_TEST_NO_STICKY_PREFERENCES=1 \
            SCEP_TEST_PGSQL="${SCEP_TEST_PGSQL:-}" \
            perl -MApache::TestMM -e 'Apache::TestMM::generate_script("t/TEST")' >/dev/null
        $runas env HOME="$work" APACHE_TEST_NO_STICKY_PREFERENCES=1 \
            SCEP_TEST_PGSQL="${SCEP_TEST_PGSQL:-}" SCEP_TEST_MYSQL="${SCEP_TEST_MYSQL:-}" \
            SCEP_TEST_MY_DIR="${SCEP_TEST_MY_DIR:-}" SCEP_TEST_MY_LOG="${SCEP_TEST_MY_LOG:-}" \
            SCEP_TEST_PG_DATA="${SCEP_TEST_PG_DATA:-}" SCEP_TEST_PG_BIN="${SCEP_TEST_PG_BIN:-}" \
            SCEP_TEST_PG_LOG="${SCEP_TEST_PG_LOG:-}" \
            SCEP_TEST_LOAD_N="${load_n:-}" SCEP_TEST_FAULT_N="${fault_n:-}" \
            perl t/TEST -apxs "$(command -v apxs)" -httpd "$bin" -port "$tport" \
            -verbose=${SCEP_TEST_VERBOSE:-0} "$@"
    ) > "$log" 2>&1
}
# count_suite LOG: prints its failed tests and its tail, counts it into the totals
count_suite() {
    log=$1
    # each failed test with its diagnostics, which the tail below may not
    # reach (a CI run keeps only this output)
    diags=$(awk '/^#   Failed test/ { on = 1 } on && /^#/ { print; if (++n >= 200) exit; next } { on = 0 }' "$log")
    [ -n "$diags" ] && printf 'failed tests and their diagnostics:\n%s\n----\n' "$diags"
    grep -vE '^\[  info\]|^\s*$' "$log" | tail -60

    # Test::Harness: "Files=N, Tests=M" and, on failure, "Failed X/M subtests"
    total=$(grep -E '^Files=[0-9]+, Tests=[0-9]+' "$log" | sed -E 's/.*Tests=([0-9]+).*/\1/' | tail -1)
    bad=$(grep -E 'Failed [0-9]+/[0-9]+ subtests' "$log" | sed -E 's/.*Failed ([0-9]+)\/.*/\1/' \
          | awk '{s+=$1} END {print s+0}')
    dubious=$(grep -cE 'Dubious|Bad plan|No subtests run|exited [1-9]' "$log")
    if [ -z "$total" ]; then
        echo "the Apache::Test suite did not complete; see $log"
        failed=$((failed + 1))
    else
        passed=$((passed + total - bad))
        failed=$((failed + bad))
        if [ "$bad" = 0 ] && [ "$dubious" != 0 ]; then
            failed=$((failed + dubious))
        fi
    fi
}

# ---- 3. the sanitized pass, in the background -------------------------------
# The same suite with mod_scep built with ASan + UBSan. It runs beside the
# steps below: the suite leaves the two CPUs idle about half the time
# (servers starting, polls, one-threaded clients), and each pass has its
# own tree, ports (PORT + 100) and databases. Its results follow the
# normal pass's. httpd is not instrumented: a wrapper preloads gcc's ASan
# runtime into httpd only (not into Perl or the clients). ASan writes its
# reports to files in san/reports; gcc's UBSan ignores log_path and writes
# to stderr, which is httpd's error_log. Every report file, every error_log
# with a sanitizer line and every such line in the unit tests' log counts
# as a failure.
sanitized_pass() {
    asanlib=$(readlink -f "$(gcc -print-file-name=libasan.so)")
    $runas mkdir "$san/reports"
    cat > "$san/httpd" <<EOF
#!/bin/sh
# $httpd with the ASan runtime loaded first, as mod_scep.so needs (test.sh),
# before what a test preloads (t/65).
# detect_leaks=0: httpd is not instrumented and APR pools own memory at exit.
LD_PRELOAD="$asanlib\${LD_PRELOAD:+ \$LD_PRELOAD}"
ASAN_OPTIONS=log_path=$san/reports/asan:detect_leaks=0:halt_on_error=0
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=0
export LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS
exec $httpd "\$@"
EOF
    chmod 755 "$san/httpd"
    if ! (cd "$san/tree" && $runas sh -c './configure -q --enable-sanitizers \
            && make -s clean && make -s') > "$san/build.log" 2>&1; then
        return 1
    fi
    : > "$san/built"
    # the unit tests, with leak detection; CK_FORK=no: a forked test exits
    # without destroying the pools, whose mmap()ed blocks LSan does not scan
    (cd "$san/tree" && $runas env CK_FORK=no TMPDIR="$san" ASAN_OPTIONS=detect_leaks=1 make -s check) > "$san/check.log" 2>&1
    # the load and fault tests look for memory errors here, not for
    # throughput: fewer enrollments (the first pass sends 2,000 per cell)
    load_n=${SCEP_TEST_LOAD_N:-300} fault_n=${SCEP_TEST_FAULT_N:-200}
    # every file but the browser's (t/51 drives the admin page that t/41 to
    # t/47 already run under ASan; Chromium takes 40 s)
    [ $# -eq 0 ] && set -- $(cd "$san/tree" && ls t/*.t | grep -v '^t/51-admin-browser\.t$')
    run_suite "$san/tree" "$san/httpd" "$san/t.log" "$san" $((port + 100)) "$@"
}
san_pid=""
if [ "$sanitize" != 0 ]; then
    note "sanitized pass (ASan + UBSan): started, beside the steps below"
    t_san=$(now)
    sanitized_pass "$@" > "$san/pass.out" 2>&1 &
    san_pid=$!
fi
cd "$top" || exit 1
# ---- 4. the unit tests under valgrind, the fuzz smoke test (beside the sanitized pass)
if [ "$(switch SCEP_TEST_VALGRIND)" != 0 ]; then
    note "valgrind: unit tests (CK_FORK=no; errors and definite leaks fail)"
    t0=$(now)
    if grep -q '^SAN_CFLAGS = -fsanitize' Makefile; then
        echo "valgrind cannot run this build: configure it without --enable-sanitizers"
        failed=$((failed + 1))
    elif [ -x t/unit/test_scep ]; then
        # a native run first keeps its RSA keys: making them under valgrind takes minutes
        mkdir "$work/keys"
        vg_env="SCEP_UNIT_KEY_CACHE=$work/keys CK_FORK=no TMPDIR=$work"
        env $vg_env t/unit/test_scep >/dev/null 2>&1
        if env $vg_env valgrind -q --error-exitcode=1 \
               --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
               t/unit/test_scep > "$work/valgrind.log" 2>&1; then
            passed=$((passed + 1))
            echo "valgrind: no errors, no definite leaks ($(($(now) - t0)) s)"
        else
            failed=$((failed + 1))
            grep -vE '^(Running suite| [a-z]+$)' "$work/valgrind.log" | head -80
        fi
    else
        echo "valgrind: t/unit/test_scep was not built"
        failed=$((failed + 1))
    fi
fi
if [ "$(switch SCEP_TEST_FUZZ)" != 0 ]; then
    note "fuzz smoke test: fuzz/run.sh ${SCEP_TEST_FUZZ_SECONDS:-10}"
    t0=$(now)
    fuzz/run.sh "${SCEP_TEST_FUZZ_SECONDS:-10}" > "$work/fuzz.log" 2>&1
    fuzz_rc=$?
    grep -vE '^built ' "$work/fuzz.log" | tail -20
    # one line per harness: "name executions exec/s corpus ok" or "... FAILED (...)"
    n=$(grep -cE '^[a-z]+ +[0-9?]+ +[0-9?]+ +[0-9]+ +ok$' "$work/fuzz.log")
    f=$(grep -cE '^[a-z]+ +[0-9?]+ +[0-9?]+ +[0-9]+ +FAILED' "$work/fuzz.log")
    passed=$((passed + n))
    failed=$((failed + f))
    # a failed build, or an artifact without a FAILED line
    [ "$fuzz_rc" != 0 ] && [ "$f" = 0 ] && failed=$((failed + 1))
    echo "fuzz smoke test: $(($(now) - t0)) s"
fi

# ---- the Debian package: built, installed into the system httpd, used, purged
if [ "$(switch SCEP_TEST_DEB)" != 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        note "Debian package (build-tools/test-deb.sh)"
        t0=$(now)
        deb_out=$(build-tools/test-deb.sh "$work/deb" 2>&1 | tail -15)
        echo "$deb_out" | grep -v '^AH00558'
        if echo "$deb_out" | grep -q '^package test: ok'; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
        fi
        echo "Debian package: $(($(now) - t0)) s"
    else
        echo "Debian package: skipped (build-tools/test-deb.sh installs into the system httpd: root only)"
    fi
fi

# ---- 5. the Apache::Test suite, as an unprivileged user ----------------------
if [ "$sanitize" != only ]; then
    note "Apache::Test suite (httpd $httpd)"
    t0=$(now)
    rm -rf "$work/tree/t/logs/screenshots"     # (a copy of an earlier run's)
    run_suite "$work/tree" "$httpd" "$work/t.log" "$work" "$port" "$@"
    count_suite "$work/t.log"
    echo "Apache::Test suite: $(($(now) - t0)) s"
    # the admin page's screenshots (t/51-admin-browser.t) outlive the scratch tree
    if [ -d "$work/tree/t/logs/screenshots" ]; then
        rm -rf "$top/t/logs/screenshots"
        mkdir -p "$top/t/logs"
        cp -r "$work/tree/t/logs/screenshots" "$top/t/logs/screenshots"
        echo "screenshots of the admin page: $top/t/logs/screenshots/"
    fi
fi

# ---- 6. the sanitized pass's results -------------------------------------------
if [ -n "$san_pid" ]; then
    wait "$san_pid"
    note "sanitized pass: mod_scep and the unit tests with ASan + UBSan"
    cat "$san/pass.out"
    if [ -f "$san/built" ]; then
        if ! count_unit "$san/tree/t/unit/test_scep.log"; then
            echo "sanitized unit tests did not run:"; tail -20 "$san/check.log"
            failed=$((failed + 1))
        fi
        grep -E ':[FE]:' "$san/tree/t/unit/test_scep.log"
        count_suite "$san/t.log"
    else
        echo "sanitized build failed:"; tail -20 "$san/build.log"
        failed=$((failed + 1))
    fi
    found=0
    for r in $(find "$san/reports" -type f | sort) \
             $(find "$san/tree/t/logs" -name error_log -type f \
               -exec grep -lE 'runtime error:|ERROR: [A-Za-z]+Sanitizer' {} + 2>/dev/null | sort); do
        found=$((found + 1))
        echo "---- sanitizer report: $r"
        grep -E -A30 'runtime error:|ERROR: [A-Za-z]+Sanitizer' "$r" | head -60
    done
    # the unit tests' reports are in their log (stderr)
    n=$(grep -cE 'runtime error:|ERROR: [A-Za-z]+Sanitizer' "$san/tree/t/unit/test_scep.log" 2>/dev/null)
    if [ "${n:-0}" != 0 ]; then
        echo "---- sanitizer reports in the unit tests ($san/tree/t/unit/test_scep.log):"
        grep -E -A30 'runtime error:|ERROR: [A-Za-z]+Sanitizer' "$san/tree/t/unit/test_scep.log" | head -60
    fi
    failed=$((failed + found + ${n:-0}))
    echo "sanitized pass: $(($(now) - t_san)) s (beside the normal pass), $((found + ${n:-0})) sanitizer report(s)"
fi

[ "$sanitize" != only ] && stop_databases "$work"
[ "$sanitize" != 0 ] && stop_databases "$san"

if [ "$failed" = 0 ] && [ -z "${SCEP_TEST_KEEP:-}" ]; then
    rm -rf "$work"
else
    echo "scratch folder kept: $work (t.log, tree/t/logs/error_log, pg.log; san/ for the sanitized pass)"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
