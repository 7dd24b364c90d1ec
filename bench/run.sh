#!/bin/sh
# Benchmark mod_scep against micromdm's scepserver and the RSA floor, on this
# machine, in one go (Debian 12; as root it installs what it misses):
#   1. openssl speed rsa2048 on every core -> floor = sign/s / 3 enrollments/s
#      (an enrollment costs three RSA private-key operations on the server)
#   2. mod_scep (event MPM, mod_dbd + SQLite in WAL as in the README), then
#      mod_scep with a private PostgreSQL (synchronous_commit=on)
#   3. micromdm scepserver (Debian package scep) with an RSA-2048 CA
#      ... each at concurrency 1, 8 and 32 with the same N requests
#   4. GetCACert requests/s with wrk: mod_scep vs the same bytes as a static file
#      OCSP responses/s with wrk (SetHandler scep-ocsp), for one certificate
#      issued first by scepbench, on SQLite (and PostgreSQL when pgsql is in
#      BENCH_SERVERS): GET without nonce and POST without nonce (answers from
#      the shared shmcb cache), POST with a nonce (signed each time), and GET
#      with SCEPOCSPCache none (signed each time, a second httpd config);
#      each kind is checked once (a verified "good") before it is timed, and
#      every timed response is checked afterwards in the access log (status
#      200 and the size of the verified one)
#   5. (BENCH_MEMORY=1) RSS of the httpd children after 10,000 and 50,000
#      enrollments against the shipped configuration on SQLite
#   6. one table, the ratios and the targets; with two concurrency levels or
#      more, curve.svg: enrollments/s against concurrency, a line a server,
#      the floor(s) dashed. Each cell also reports the machine's idle CPU
#      over its timed phase (/proc/stat, as vmstat reads it) and, from
#      mod_scep's /metrics read before and after it, the records' writes a
#      commit and how much of the timed phase SQLite's writers' lock was held
#      (one writer at a time: near 100%, the writer is the ceiling)
#
# Every server listens on 127.0.0.1 only (scepserver, which cannot bind one
# address, runs in a private network namespace with the load generator when
# unshare works); every state file lives in a scratch folder under /tmp.
# Outputs go to bench/out/<UTC time>/ (bench/out/latest links to it); each
# cell's requests, one a line with when each was sent and its latency, are
# in <server>-c<concurrency>.tsv there (scepbench --results).
#
# Environment:
#   BENCH_N=2000          requests per (server, concurrency) cell
#   BENCH_CONC="1 8 32"   concurrency levels
#   BENCH_SERVERS="sqlite pgsql shipped-sqlite shipped-pgsql micromdm ceiling"   (shipped-sqlite, shipped-pgsql:
#                         the configuration ./demo.sh ships for /scep, on that
#                         database, with the sample configuration's fixed pool
#                         (and, for PostgreSQL, its one child of 64 threads):
#                         one-time challenges (one a request, made
#                         through the admin API before the cell), renewal, the
#                         throttle, CRL and OCSP URLs in the certificates,
#                         LogLevel scep:info and the access log; also: sqlite-ec, mod_scep on SQLite
#                         with an EC P-256 CA and EC P-256 RA signing certificate
#                         beside an RSA RA encryption certificate (one RSA
#                         private-key operation per enrollment; its floor is
#                         printed from openssl speed rsa2048 + ecdsap256), and
#                         pgsql-ec, the same keys on PostgreSQL (pgsql's setup);
#                         sqlite-hsm, mod_scep on SQLite with the CA and RA keys
#                         in a SoftHSM2 token (pkcs11: URIs); sqlite-webhook, mod_scep on
#                         SQLite asking a local validation webhook before each
#                         issuance and notifying it of each, t/tools/webhook-receiver.py
#                         on port +3; after each run it waits for the outbox to
#                         drain and reports events written, delivered and lost)
#                         ceiling: not mod_scep but bench/mod_rsa_ceiling.c in the
#                         shipped cell's httpd (its MPM defaults, malloc and
#                         access log): each POST costs the three RSA private-key
#                         operations the floor counts and is answered with its
#                         own body (scepbench --echo checks each reply), no SCEP
#                         and no records: the most an httpd with OpenSSL reaches
#                         here, against which the SCEP and the records' cost shows
#   BENCH_PORT=18080      httpd port (scepserver: +1; PostgreSQL: unix socket .+2)
#   BENCH_WRK_SECONDS=5   per wrk run (two runs per target, alternating)
#   BENCH_OCSP=1          0: no OCSP cells
#   BENCH_MEMORY=0        1: the RSS test (50,000 enrollments, several minutes)
#                         on the shipped configuration, which runs httpd with
#                         the malloc ./demo.sh gives it (BENCH_MALLOC)
#   BENCH_MEMORY_POOL=2000  keys reused round-robin by the RSS test (random
#                         transactionIDs, unique subjects)
#   BENCH_MEMORY_STEP=10000 the RSS test measures after 1 and 5 steps
#   BENCH_GROWTH=0        1: database growth: for SQLite and PostgreSQL (those in
#                         BENCH_SERVERS), enrollments/s at the highest
#                         concurrency on an empty database, then on one
#                         holding BENCH_GROWTH_ROWS=1000000 earlier enrollments
#                         (rows of realistic size and mix: bench/records.sh)
#   BENCH_PERF=0          1: perf record the httpd children during one extra
#                         mod_scep SQLite run at the highest concurrency (the
#                         shipped configuration when shipped-sqlite is measured;
#                         the ceiling cell when it is the only server)
#                         (BENCH_PERF_FREQ=499 samples/s; perf-shares.md: the
#                         CPU in exclusive shares, bench/perf-shares.py)
#   BENCH_IDLE_LOAD=      e.g. 1.0: before each measurement wait (at most
#                         BENCH_IDLE_WAIT=180 s) until the 1-minute load average
#                         is below it; for machines shared with other work
#   BENCH_MPM=event       the MPM of every mod_scep cell (event, worker, prefork)
#   BENCH_NICE=           e.g. -15 (root): run every process of the benchmark
#                         (servers, databases, client, openssl speed) at that
#                         priority, so other work on a shared machine disturbs
#                         less; all of them alike, so the comparison stays fair
#   BENCH_SQLITE_INIT=    extra lines before the SQLite DBDInitSQL, e.g.
#                         'DBDInitSQL "PRAGMA cache_size=-256"' (experiments), or
#                         'SCEPSQLiteWriter realtime' (bench/RESULTS.md, fourth pass)
#   BENCH_SLOTS=          SCEPOperationSlots of shipped-pgsql (default: six a
#                         core, as conf/mod_scep.conf.sample advises; off to compare)
#   BENCH_PGSQL_INIT=     extra lines after the PostgreSQL DBDParams, e.g.
#                         'DBDMax 25' (experiments)
#   BENCH_PG_EXTRA=       more PostgreSQL server options, e.g. '-c
#                         log_min_duration_statement=15 -c log_connections=on'
#                         (its log: pg/log in the scratch folder; BENCH_KEEP=1)
#   BENCH_WARMUP=2        before each cell's timed phase, this many requests per
#                         client (concurrency x 2) warm the fresh server up,
#                         not counted: without them the first wave (connections
#                         opened, statements prepared, caches filled) was the
#                         p99 of 3,000 requests at 32 clients; the table shows
#                         the warm-up's slowest request (0: no warm-up)
#   BENCH_KEEP=0          1: keep the scratch folder
#   BENCH_MALLOC=jemalloc the shipped cells' malloc, as ./demo.sh's: jemalloc
#                         (preloaded, when libjemalloc2 is installed) or glibc
#                         (with MALLOC_ARENA_MAX, 2 unless set)
#   BENCH_HTTPD_ENV=      more environment for every httpd of the mod_scep
#                         cells, e.g. 'LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2'
#                         (another malloc, bench/RESULTS.md, eighteenth pass); an
#                         LD_PRELOAD here replaces the shipped cells' jemalloc
#                         (BENCH_MALLOC=glibc when comparing allocators)
#   SCEP_SO               module to load (default .libs/mod_scep.so)
#   OPENSSL_ia32cap       OpenSSL's own: ':~0x200000' hides AVX-512 IFMA from
#                         httpd and openssl speed alike, for RSA at the speed
#                         of CPUs without it (bench/RESULTS.md, fifteenth
#                         pass); never empty, which hides every extension
set -eu
if [ -n "${BENCH_NICE:-}" ] && [ -z "${BENCH_NICED:-}" ]; then
    # a session of its own: the scheduler's autogroup whose nice value is set
    # below (with autogrouping, a plain `nice` does not reach across sessions)
    BENCH_NICED=1 exec setsid -w "$0" "$@"
fi
# prioritize PID: the benchmark's priority for PID's autogroup (the daemons
# httpd and PostgreSQL start sessions, hence autogroups, of their own)
prioritize() {
    [ -n "${BENCH_NICE:-}" ] || return 0
    if [ -w "/proc/$1/autogroup" ]; then
        echo "$BENCH_NICE" > "/proc/$1/autogroup" 2>/dev/null || true
    fi
    renice -n "$BENCH_NICE" -p "$1" >/dev/null 2>&1 || true
}
prioritize $$
cd "$(dirname "$0")/.."
top=$(pwd)
bench=$top/bench

N=${BENCH_N:-2000}
WARMUP=${BENCH_WARMUP:-2}
case $WARMUP in ''|*[!0-9]*) echo "bench/run.sh: BENCH_WARMUP must be a number" >&2; exit 2 ;; esac
CONCS=${BENCH_CONC:-"1 8 32"}
SERVERS=${BENCH_SERVERS-"sqlite pgsql shipped-sqlite shipped-pgsql micromdm ceiling"}   # may be empty: only the other parts
PORT=${BENCH_PORT:-18080}
MMPORT=$((PORT + 1))
PGPORT=$((PORT + 2))   # names the unix socket only: PostgreSQL listens on no TCP address
WRK_SECONDS=${BENCH_WRK_SECONDS:-5}
MEMORY=${BENCH_MEMORY:-0}
MEMORY_POOL=${BENCH_MEMORY_POOL:-2000}
MEMORY_STEP=${BENCH_MEMORY_STEP:-10000}   # five steps: 10k and 50k
PERF=${BENCH_PERF:-0}
OCSP=${BENCH_OCSP:-1}
GROWTH=${BENCH_GROWTH:-0}
GROWTH_ROWS=${BENCH_GROWTH_ROWS:-1000000}
SCEP_SO=${SCEP_SO:-$top/.libs/mod_scep.so}
ncpu=$(nproc)
started=$(date -u +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
load1=""

say() { printf '== %s\n' "$*" >&2; }

# with BENCH_IDLE_LOAD: wait, boundedly, for the machine to be quiet
wait_idle() {
    [ -n "${BENCH_IDLE_LOAD:-}" ] || return 0
    waited=0
    while [ "$waited" -lt "${BENCH_IDLE_WAIT:-180}" ] \
          && awk -v l="$BENCH_IDLE_LOAD" '{ exit !($1 >= l) }' /proc/loadavg; do
        sleep 5; waited=$((waited + 5))
    done
    [ "$waited" = 0 ] || say "waited ${waited}s for load average < $BENCH_IDLE_LOAD (now $(cut -d' ' -f1 /proc/loadavg))"
}
die() { printf 'bench/run.sh: %s\n' "$*" >&2; exit 1; }
case ${BENCH_MALLOC:-jemalloc} in jemalloc|glibc) ;; *) die "BENCH_MALLOC: jemalloc or glibc" ;; esac
# (bench/records.sh makes at least 1000; checked here, before any work)
if [ "$GROWTH" = 1 ]; then
    case $GROWTH_ROWS in ''|*[!0-9]*) die "BENCH_GROWTH_ROWS must be a number" ;; esac
    [ "$GROWTH_ROWS" -ge 1000 ] || die "BENCH_GROWTH_ROWS must be at least 1000"
fi

# ---- prerequisites ---------------------------------------------------------
# what the module builds with (jansson, libcurl, autotools...), as ./demo.sh installs it
"$top/build-tools/install-deps.sh" build || die "cannot install the build dependencies"
need="libaprutil1-dbd-pgsql postgresql scep wrk python3 curl"
case " ${BENCH_SERVERS:-} " in *" sqlite-hsm "*) need="$need softhsm2 libengine-pkcs11-openssl" ;; esac
[ "$PERF" = 1 ] && need="$need linux-perf"
missing=""
for p in $need; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
if [ -n "$missing" ]; then
    [ "$(id -u)" = 0 ] || die "missing Debian packages:$missing (run as root to install them)"
    say "installing$missing"
    had_policy=0
    [ -e /usr/sbin/policy-rc.d ] && had_policy=1
    [ "$had_policy" = 1 ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y -q --no-install-recommends $missing >/dev/null; }
    [ "$had_policy" = 1 ] || rm -f /usr/sbin/policy-rc.d
fi
[ -f Makefile ] || { ./autogen.sh >/dev/null && ./configure -q; }
if [ ! -e "$SCEP_SO" ]; then
    say "building mod_scep"
    make -s
fi
# the load generator: client/scepbench.c on the client library (client/)
make -s bench/scepbench >/dev/null
scepbench=$bench/scepbench
httpd=$(apxs -q SBINDIR)/$(apxs -q TARGET)
modules=$(apxs -q LIBEXECDIR)
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/initdb" ] || die "PostgreSQL server binaries not found"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=$bench/out/$stamp
mkdir -p "$out"
ln -sfn "$stamp" "$bench/out/latest"
scratch=$(mktemp -d /tmp/scep-bench.XXXXXX)
chmod 755 "$scratch"
results=$out/results.tsv
tsv_header='server\tconcurrency\tn\tok\tfailures\trate\tp50_ms\tp99_ms\tload1\tidle_pct\twrites_per_commit\twriter_busy_pct\twarmup_max_ms\n'
printf "$tsv_header" > "$results"

root=0
[ "$(id -u)" = 0 ] && root=1
httpd_user=""
pg_run=""
if [ "$root" = 1 ]; then
    httpd_user="User www-data
Group www-data"
    pg_run="runuser -u postgres --"
fi

# ---- clean-up: only what this script started -------------------------------
httpd_conf_current=""
pg_started=0
cleanup() {
    if [ -n "$httpd_conf_current" ]; then httpd_stop; fi
    if [ -n "${hook_pid:-}" ]; then kill "$hook_pid" 2>/dev/null || true; fi
    if [ "$pg_started" = 1 ]; then
        $pg_run "$pgbin/pg_ctl" -D "$scratch/pg/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "scratch folder kept: $scratch" >&2
    else
        rm -rf "$scratch"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the shipped cells' malloc, as ./demo.sh chooses it --------------------------
shipped_jemalloc=""
case ${BENCH_MALLOC:-jemalloc} in
    jemalloc) shipped_jemalloc=$("$top/build-tools/find-jemalloc.sh") ;;
esac
shipped_malloc="glibc, MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}"
[ -n "$shipped_jemalloc" ] && shipped_malloc="jemalloc ($shipped_jemalloc)"

# ---- PKI shared by every server --------------------------------------------
"$top/build-tools/make-pki.sh" "$scratch/pki" "mod_scep Bench CA" >/dev/null
challenge=$(cat "$scratch/pki/challenge")
mkdir -p "$scratch/htdocs"
# the administrator of the shipped configuration's cell
openssl rand -hex 12 > "$scratch/pki/admin.password"
htpasswd -bc "$scratch/pki/admins.htpasswd" admin "$(cat "$scratch/pki/admin.password")" 2>/dev/null \
    || die "htpasswd failed"

# ---- httpd -----------------------------------------------------------------
# httpd_start NAME DBKIND(sqlite|pgsql): a fresh instance with empty records
httpd_start() {
    d=$scratch/httpd-$1
    rm -rf "$d"
    mkdir -p "$d/logs" "$d/db"
    if [ "$2" = sqlite ]; then
        sqlite3 "$d/db/scep.sqlite" < "$top/conf/schema-sqlite3.sql" >/dev/null
        bench_db=$d/db/scep.sqlite
        [ -n "${GROWTH_FILL:-}" ] && fill_sqlite "$d/db/scep.sqlite" "$GROWTH_FILL"
        dbd='DBDriver sqlite3
DBDParams "'"$d/db/scep.sqlite"'"
'"${BENCH_SQLITE_INIT:-}"'
DBDInitSQL "PRAGMA journal_mode=WAL"'
        # ./demo.sh's fixed pool of connections (README, Sizing)
        shipped_pool=4
    else
        pg_reset
        [ -n "${GROWTH_FILL:-}" ] && fill_pgsql "$GROWTH_FILL"
        dbd='DBDriver pgsql
DBDParams "host='"$scratch/pg/sock"' port='"$PGPORT"' dbname=scep user=scep"
'"${BENCH_PGSQL_INIT:-}"
        # the sample configuration's fixed pool for PostgreSQL, one connection
        # a thread (README, Sizing): new connections opened at busy moments
        # made the p99 tail 5-9x the median
        shipped_pool=25
    fi
    if [ "${3:-}" = shipped ]; then
        dbd="$dbd
DBDMin $shipped_pool
DBDKeep $shipped_pool
DBDMax $shipped_pool"
        # with PostgreSQL, the sample configuration's one child with a thread
        # for every client (README, Sizing): spread over several children,
        # each child served its share of the clients at its own pace; and its
        # operation slots, six a core (BENCH_SLOTS: a number, or off)
        [ "$2" = sqlite ] || dbd="$dbd
ServerLimit 1
StartServers 1
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 64
SCEPOperationSlots ${BENCH_SLOTS:-$((6 * ncpu))}"
    fi
    [ "$root" = 1 ] && chown -R www-data:www-data "$d/db"
    hook_conf=""
    shipped_conf=""
    loglevel="warn"
    if [ "${3:-}" = shipped ]; then
        # what ./demo.sh ships for /scep: one-time challenges (made below
        # through the admin API), renewal, the throttle (on by default), the
        # CRL and OCSP URLs in each certificate, issuance logged at info
        loglevel="warn scep:info"
        shipped_conf="SCEPOneTimeChallenges on
    SCEPRenewal on
    SCEPCRLDistributionPoint http://127.0.0.1:$PORT/crl
    SCEPOCSPResponder http://127.0.0.1:$PORT/ocsp"
    fi
    ceiling_conf=""
    ceiling_load=""
    if [ "${3:-}" = ceiling ]; then
        ceiling_load="LoadModule rsa_ceiling_module $ceiling_so"
        ceiling_conf="RSACeilingKeyFile \"$scratch/pki/ca.key\""
    fi
    if [ "${3:-}" = webhook ]; then
        hook_conf="SCEPValidationWebhook https://127.0.0.1:$HOOKPORT/validate
    SCEPNotifyWebhook https://127.0.0.1:$HOOKPORT/events
    SCEPWebhookSecretFile \"$scratch/hook/secret\"
    SCEPOutboundCAFile \"$scratch/hook/cert.pem\""
    fi
    cat > "$d/httpd.conf" <<EOC
# bench/run.sh: mod_scep as the README configures it, event MPM defaults.
ServerRoot "$d"
ServerName 127.0.0.1
Listen 127.0.0.1:$PORT
PidFile "$d/logs/httpd.pid"
ErrorLog "$d/logs/error_log"
LogLevel $loglevel
$httpd_user
LoadModule mpm_${BENCH_MPM:-event}_module $modules/mod_mpm_${BENCH_MPM:-event}.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule authn_core_module $modules/mod_authn_core.so
LoadModule authn_file_module $modules/mod_authn_file.so
LoadModule auth_basic_module $modules/mod_auth_basic.so
LoadModule authz_user_module $modules/mod_authz_user.so
LoadModule dbd_module $modules/mod_dbd.so
LoadModule socache_shmcb_module $modules/mod_socache_shmcb.so
LoadModule scep_module $SCEP_SO
$ceiling_load
# (the child's pid and the time taken, µs, before the status and size that
# the OCSP check reads last: per-child latencies of each cell)
LogFormat "%h %l %u %t \"%r\" %P %D %>s %b" common
CustomLog "$d/logs/access_log" common
LimitRequestLine 32768
DocumentRoot "$scratch/htdocs"
# OCSP by GET: the base64 request's '/' comes as %2F
AllowEncodedSlashes NoDecode
${OCSP_CACHE_CONF:-}

$dbd

${KEYS_CONF:-SCEPCACertificateFile "$scratch/pki/ca.pem"
SCEPCACertificateKeyFile "$scratch/pki/ca.key"
SCEPRACertificateFile "$scratch/pki/ra.pem"
SCEPRACertificateKeyFile "$scratch/pki/ra.key"}

<Location /scep>
    SetHandler scep
    SCEPChallengePasswordFile "$scratch/pki/challenge"
    SCEPValidity 365d
    $hook_conf
    $shipped_conf
    $ceiling_conf
</Location>
<Location /crl>
    SetHandler scep-crl
</Location>
# the one-time challenges of the shipped configuration's cell
<Location /admin>
    SetHandler scep-admin
    AuthType Basic
    AuthName "bench"
    AuthUserFile "$scratch/pki/admins.htpasswd"
    Require valid-user
</Location>
<Location /ocsp>
    SetHandler scep-ocsp
</Location>
# read around each cell: the records' writes, commits, SQLite's writers' lock
<Location /metrics>
    SetHandler scep-metrics
</Location>
# the GetCACert body as a plain file, for the wrk comparison
<Location /cacert.bin>
    SetHandler default-handler
</Location>
EOC
    "$httpd" -t -f "$d/httpd.conf" >/dev/null 2>&1 || { "$httpd" -t -f "$d/httpd.conf"; die "bad httpd config"; }
    # the shipped cells run with the environment ./demo.sh gives httpd:
    # jemalloc when installed (BENCH_MALLOC), else glibc with two arenas
    arena_env=""
    case ${3:-} in shipped|ceiling) arena_env="MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}${shipped_jemalloc:+ LD_PRELOAD=$shipped_jemalloc}" ;; esac
    env $arena_env ${BENCH_HTTPD_ENV:-} "$httpd" -f "$d/httpd.conf" -k start || die "httpd did not start (see $d/logs/error_log)"
    httpd_conf_current=$d/httpd.conf
    "$scepbench" -u "http://127.0.0.1:$PORT/scep" --wait 20 --cacert-only -q \
        || { tail -5 "$d/logs/error_log" >&2; die "httpd does not answer GetCACert"; }
    prioritize "$(httpd_pid)"
}

# make_challenges COUNT FILE: COUNT one-time challenges for /scep through the
# admin API (one keep-alive connection), one a line
make_challenges() {
    python3 - "$PORT" "$1" "$2" "$(cat "$scratch/pki/admin.password")" <<'EOP' || die "cannot make one-time challenges"
import base64, http.client, json, sys
port, count, out, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
auth = "Basic " + base64.b64encode(("admin:" + password).encode()).decode()
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
with open(out, "w") as f:
    for i in range(count):
        conn.request("POST", "/admin/api/challenges", body=json.dumps({"profile": "/scep", "ttl": "1d"}),
                     headers={"Content-Type": "application/json", "Authorization": auth})
        r = conn.getresponse()
        body = r.read()
        if r.status != 201:
            sys.exit("POST /admin/api/challenges: HTTP %d %s" % (r.status, body[:200]))
        f.write(json.loads(body)["challenge"] + "\n")
EOP
}

# challenge_args COUNT NAME [shipped]: sets $auth, scepbench's challenge
# arguments for a run of COUNT requests: the static challenge, or (shipped)
# COUNT one-time challenges made now
challenge_args() {
    if [ "${3:-}" = shipped ]; then
        make_challenges "$1" "$scratch/challenges-$2"
        auth="--challenges $scratch/challenges-$2"
    else
        auth="--challenge $challenge"
    fi
}

# ---- other keys: an EC CA and RA (sqlite-ec), a SoftHSM2 token (sqlite-hsm) ----
ec_keys() {
    "$top/build-tools/make-pki.sh" --ca-key ec:P-256 --split-ra ec:P-256 "$scratch/pki-ec" \
        "mod_scep Bench EC CA" >/dev/null
    cp "$scratch/pki/challenge" "$scratch/pki-ec/challenge"
    KEYS_CONF="SCEPCACertificateFile \"$scratch/pki-ec/ca.pem\"
SCEPCACertificateKeyFile \"$scratch/pki-ec/ca.key\"
SCEPRACertificateFile \"$scratch/pki-ec/ra-sig.pem\"
SCEPRACertificateKeyFile \"$scratch/pki-ec/ra-sig.key\"
SCEPRAEncryptionCertificateFile \"$scratch/pki-ec/ra-enc.pem\"
SCEPRAEncryptionCertificateKeyFile \"$scratch/pki-ec/ra-enc.key\""
}
# the bench PKI's CA and RA keys imported into a fresh token
hsm_keys() {
    h=$scratch/hsm
    mkdir -p "$h/tokens"
    printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$h" \
        > "$h/softhsm2.conf"
    export SOFTHSM2_CONF=$h/softhsm2.conf
    softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 5678 >/dev/null
    for k in ca ra; do
        openssl pkcs8 -topk8 -nocrypt -in "$scratch/pki/$k.key" -out "$h/$k.p8"
        softhsm2-util --import "$h/$k.p8" --token bench --label "$k" --id "0$([ $k = ca ] && echo 1 || echo 2)" \
            --pin 1234 >/dev/null
    done
    echo 1234 > "$h/pin"
    [ "$root" = 1 ] && chown -R www-data:www-data "$h/tokens"
    uri="pkcs11:token=bench;type=private"
    KEYS_CONF="SCEPPKCS11Module /usr/lib/softhsm/libsofthsm2.so
SCEPCACertificateFile \"$scratch/pki/ca.pem\"
SCEPCACertificateKeyFile \"$uri;object=ca?pin-source=file:$h/pin\"
SCEPRACertificateFile \"$scratch/pki/ra.pem\"
SCEPRACertificateKeyFile \"$uri;object=ra?pin-source=file:$h/pin\""
}

# ---- the ceiling cell's module (bench/mod_rsa_ceiling.c) ------------------------
ceiling_so=""
build_ceiling() {
    ceiling_so=$("$bench/build-ceiling.sh" "$scratch/ceiling" 2> "$out/ceiling-build.log") \
        || die "cannot build bench/mod_rsa_ceiling.c (see $out/ceiling-build.log)"
}

# ---- the local webhook receiver (sqlite-webhook) -----------------------------
HOOKPORT=$((PORT + 3))
hook_start() {
    mkdir -p "$scratch/hook"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$scratch/hook/key.pem" -out "$scratch/hook/cert.pem" 2>/dev/null
    openssl rand -hex 32 > "$scratch/hook/secret"
    chmod 644 "$scratch/hook/cert.pem"
    echo allow > "$scratch/hook/mode"
    python3 "$top/t/tools/webhook-receiver.py" --port "$HOOKPORT" --cert "$scratch/hook/cert.pem" \
        --key "$scratch/hook/key.pem" --secret-file "$scratch/hook/secret" \
        --log "$scratch/hook/requests.jsonl" --mode-file "$scratch/hook/mode" \
        > "$scratch/hook/out.log" 2>&1 &
    hook_pid=$!
    i=0
    until grep -q listening "$scratch/hook/out.log" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 50 ] || die "the webhook receiver did not start"; sleep 0.1
    done
}
hook_stop() { kill "$hook_pid" 2>/dev/null || true; wait "$hook_pid" 2>/dev/null || true; }
# after a run: wait (60 s at most) for the outbox to drain; events written,
# delivered, lost
outbox_report() {
    i=0
    while [ "$(sqlite3 "$bench_db" 'SELECT COUNT(*) FROM scep_outbox WHERE delivered_at IS NULL')" != 0 ] \
          && [ $i -lt 600 ]; do
        i=$((i + 1)); sleep 0.1
    done
    written=$(sqlite3 "$bench_db" 'SELECT COUNT(*) FROM scep_outbox')
    delivered=$(sqlite3 "$bench_db" 'SELECT COUNT(*) FROM scep_outbox WHERE delivered_at IS NOT NULL')
    issued=$(sqlite3 "$bench_db" "SELECT COUNT(*) FROM scep_transactions WHERE status = 'ISSUED'")
    # lost: an issued certificate whose event was never written
    lost=$(sqlite3 "$bench_db" "SELECT COUNT(*) FROM scep_transactions t WHERE t.status = 'ISSUED'
        AND NOT EXISTS (SELECT 1 FROM scep_outbox o WHERE o.event = 'issued'
                        AND o.event_key = t.transaction_id)")
    say "outbox: $issued issued, $written events written, $delivered delivered $((i / 10)) s after the run, $((written - delivered)) still waiting, $lost lost"
    echo "outbox $1 issued=$issued written=$written delivered=$delivered drain_s=$((i / 10)) lost=$lost" >> "$out/outbox.txt"
}

httpd_pid() { cat "$(dirname "$httpd_conf_current")/logs/httpd.pid" 2>/dev/null || true; }

# pids of the parent's children (the processes that serve requests)
httpd_children() {
    ppid=$(httpd_pid)
    [ -n "$ppid" ] || return 0
    for s in /proc/[0-9]*/status; do
        awk -v p="$ppid" '/^PPid:/ { if ($2 == p) found = 1 } END { exit !found }' "$s" 2>/dev/null \
            && basename "$(dirname "$s")"
    done
    return 0
}

httpd_stop() {
    [ -n "$httpd_conf_current" ] || return 0
    d=$(dirname "$httpd_conf_current")
    pid=$(httpd_pid)
    "$httpd" -f "$httpd_conf_current" -k stop >/dev/null 2>&1 || true
    i=0
    while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1; i=$((i + 1))
    done
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    # anything at [warn] or worse goes into the outputs
    grep -E '\] \[[a-z_]*:?(warn|error|crit|alert|emerg)\]' "$d/logs/error_log" \
        >> "$out/httpd-warnings.log" 2>/dev/null || true
    httpd_conf_current=""
}

# ---- PostgreSQL: a private cluster, unix socket only -------------------------
pg_start() {
    mkdir -p "$scratch/pg/data" "$scratch/pg/sock"
    [ "$root" = 1 ] && chown -R postgres "$scratch/pg"
    chmod 700 "$scratch/pg/data"
    chmod 755 "$scratch/pg" "$scratch/pg/sock"
    $pg_run "$pgbin/initdb" -D "$scratch/pg/data" -A trust -U scep >"$out/pg-init.log" 2>&1 \
        || die "initdb failed (see $out/pg-init.log)"
    # max_connections: the shipped cell's children keep 25 connections each
    $pg_run "$pgbin/pg_ctl" -D "$scratch/pg/data" -w -t 60 -l "$scratch/pg/log" \
        -o "-k $scratch/pg/sock -p $PGPORT -c listen_addresses='' -c synchronous_commit=on -c fsync=on -c max_connections=300 ${BENCH_PG_EXTRA:-}" \
        start >/dev/null || { tail -5 "$scratch/pg/log" >&2; die "PostgreSQL did not start"; }
    pg_started=1
    prioritize "$(head -1 "$scratch/pg/data/postmaster.pid")"
}

pg_reset() {
    $pg_run "$pgbin/dropdb" --if-exists -h "$scratch/pg/sock" -p "$PGPORT" -U scep scep 2>/dev/null
    $pg_run "$pgbin/createdb" -h "$scratch/pg/sock" -p "$PGPORT" -U scep scep
    $pg_run psql -X -q -v ON_ERROR_STOP=1 -h "$scratch/pg/sock" -p "$PGPORT" -U scep -d scep \
        -f "$top/conf/schema-pgsql.sql" >/dev/null
}

# ---- earlier enrollments, for the growth test ---------------------------------
# ROWS enrollments of this CA over the last three years, made in SQL by
# bench/records.sh (shared with bench/admin-scale.sh, which says what the
# rows hold): 90% ISSUED with their certificates, the rest REJECTED or
# PENDING, over three Locations, with their scep_names and some scep_audit
# rows, every column at a real row's size.
. "$bench/records.sh"
ca_fp() { records_ca_fp "$scratch/pki/ca.pem"; }

fill_sqlite() { # DBFILE ROWS
    say "filling $1 with $2 earlier enrollments"
    records_sql sqlite "$2" "$(ca_fp)" "$(date +%s)" "$top/conf/schema-sqlite3.sql" \
        | sqlite3 -bail "$1" >/dev/null || die "cannot fill $1"
}

fill_pgsql() { # ROWS
    say "filling PostgreSQL with $1 earlier enrollments"
    records_sql pgsql "$1" "$(ca_fp)" "$(date +%s)" "$top/conf/schema-pgsql.sql" \
        | $pg_run psql -X -q -v ON_ERROR_STOP=1 -h "$scratch/pg/sock" -p "$PGPORT" -U scep -d scep \
            >/dev/null || die "cannot fill PostgreSQL"
}

# ---- one measurement ---------------------------------------------------------
# record SERVER CONC LOGFILE: RESULT line of scepbench -> results.tsv
# (load1: the 1-minute load average when the cell started, since other work
# on the machine changes every figure)
# result_get LOG NAME: a field of the last RESULT line of scepbench's LOG
result_get() {
    grep '^RESULT ' "$1" | tail -1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}

record() {
    line=$(grep '^RESULT ' "$3" | tail -1)
    if [ -z "$line" ]; then
        printf '%s\t%s\t%s\t0\t%s\t0\t0\t0\t%s\t-\t-\t-\t-\n' "$1" "$2" "$N" "$N" "$load1" >> "$results"
        return
    fi
    result=$3
    get() { result_get "$result" "$1"; }
    warm_max=$(grep '^WARMUP ' "$3" | tail -1 | tr ' ' '\n' | sed -n 's/^max_ms=//p')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$(get n)" "$(get ok)" \
        "$(get failures)" "$(get rate)" "$(get p50_ms)" "$(get p99_ms)" "$load1" "$(get idle_pct)" \
        "${writes_per_commit:--}" "${writer_busy:--}" "${warm_max:--}" >> "$results"
    writes_per_commit=""
    writer_busy=""
}

# scrape FILE: mod_scep's /metrics now (empty if it cannot be read)
scrape() {
    curl -sS --noproxy '*' --max-time 10 "http://127.0.0.1:$PORT/metrics" > "$1" 2>/dev/null || : > "$1"
}

# writer_report BEFORE AFTER LOG: the records' writes a commit, and the
# share of the timed phase SQLite's writers' lock was held (one writer at a
# time: near 100%, it is the bottleneck), from the metrics around a cell
writer_report() {
    metric() { awk -v n="$2" '$1 == n { v = $2 } END { print v + 0 }' "$1"; }
    elapsed_s=$(result_get "$3" elapsed_s)
    set -- "$(metric "$1" scep_database_writes_total)" "$(metric "$2" scep_database_writes_total)" \
        "$(metric "$1" scep_database_commits_total)" "$(metric "$2" scep_database_commits_total)" \
        "$(metric "$1" scep_database_write_lock_held_seconds_total)" \
        "$(metric "$2" scep_database_write_lock_held_seconds_total)" \
        "$(metric "$1" scep_database_write_lock_wait_seconds_total)" \
        "$(metric "$2" scep_database_write_lock_wait_seconds_total)" "${elapsed_s:-0}"
    eval "$(awk -v w0="$1" -v w1="$2" -v c0="$3" -v c1="$4" -v h0="$5" -v h1="$6" -v q0="$7" -v q1="$8" \
        -v t="$9" 'BEGIN {
            w = w1 - w0; c = c1 - c0; h = h1 - h0; q = q1 - q0
            printf "writes_per_commit=%s\n", (c > 0 ? sprintf("%.1f", w / c) : "-")
            printf "writer_busy=%s\n", ((h > 0 && t > 0) ? sprintf("%.0f", 100 * h / t) : "-")
            if (c > 0)
                printf "say \"records: %d writes in %d commits%s\"\n", w, c,
                    ((h > 0 && t > 0) ? sprintf("; SQLite write lock held %.0f%% of the timed phase (%.2f ms a write), waited %.2f ms a write", 100 * h / t, 1000 * h / w, 1000 * q / w) : "")
        }')"
}

# children_report ACCESS_LOG LINES_BEFORE: for each httpd child that served
# the timed phase's PKIOperations, how many and their p50/p99 inside httpd
# (%D): with keep-alive connections each child keeps the clients it got, so
# anything a child does alone (a per-process lock) shows as a child slower
# than the others
children_report() {
    tail -n +"$(($2 + 1))" "$1" | awk '/operation=PKIOperation/ { print $(NF - 3), $(NF - 2) }' \
        | sort -k1,1n -k2,2n | awk '
        function flush() {
            if (n) printf "pid %s: %d requests, p50 %.1f ms, p99 %.1f ms\n", pid, n,
                v[int((n - 1) * 0.5) + 1] / 1000, v[int((n - 1) * 0.99) + 1] / 1000
            n = 0 }
        $1 != pid { flush(); pid = $1 }
        { v[++n] = $2 }
        END { flush() }'
}

bench_httpd() { # NAME CONC [shipped: one one-time challenge a request]
    log=$out/$1-c$2.log
    : > "$log.warm"
    if [ "$WARMUP" -gt 0 ]; then
        challenge_args "$((WARMUP * $2))" "$1-c$2-warm" "${3:-}"
        # (a pool of keys: random transactionIDs, none of the timed run's)
        "$scepbench" -u "http://127.0.0.1:$PORT/scep" -n "$((WARMUP * $2))" -c "$2" $auth ${cell_args:-} \
            --key-pool "$((WARMUP * $2))" --cn-prefix "$1-c$2-warm" > "$log.warm" 2>&1 || true
    fi
    challenge_args "$N" "$1-c$2" "${3:-}"
    wait_idle
    load1=$(cut -d' ' -f1 /proc/loadavg)
    say "$1, concurrency $2, $N requests (load average $load1)"
    scrape "$log.metrics-before"
    alog=$(dirname "$httpd_conf_current")/logs/access_log
    alog_before=$(wc -l < "$alog")
    "$scepbench" -u "http://127.0.0.1:$PORT/scep" -n "$N" -c "$2" $auth ${cell_args:-} \
        --cn-prefix "$1-c$2" --results "$out/$1-c$2.tsv" > "$log" 2>&1 || true
    sleep 0.5   # (the last lines of the access log)
    children_report "$alog" "$alog_before" > "$out/$1-c$2-children.txt"
    say "children: $(paste -sd';' "$out/$1-c$2-children.txt")"
    grep '^RESULT ' "$log.warm" | sed 's/^RESULT/WARMUP/' >> "$log"
    rm -f "$log.warm"
    scrape "$log.metrics-after"
    grep -E '^(rate|latency|failed|machine CPU)|failure' "$log" >&2 || true
    writer_report "$log.metrics-before" "$log.metrics-after" "$log"
    rm -f "$log.metrics-before" "$log.metrics-after"
    record "$1" "$2" "$log"
}

# ---- micromdm scepserver -------------------------------------------------------
mm_prepare() {
    mkdir -p "$scratch/mm"
    (cd "$scratch/mm" && scepserver ca -init -keySize 2048 -depot pristine \
        -organization "scepserver bench" >/dev/null 2>&1) || die "scepserver ca -init failed"
    netns=0
    if unshare -n true 2>/dev/null && command -v ip >/dev/null; then
        netns=1
    else
        say "warning: no network namespace: scepserver listens on every address of port $MMPORT"
    fi
}

# the server and the load generator, together in a private network namespace
mm_script='set -u
d=$1; port=$2; chal=$3; bin=$4; n=$5; conc=$6; netns=$7; warm=$8
[ "$netns" = 1 ] && ip link set lo up
rm -rf "$d/depot"; cp -a "$d/pristine" "$d/depot"
scepserver -depot "$d/depot" -port "$port" -challenge "$chal" >"$d/server.log" 2>&1 &
spid=$!
"$bin" -u "http://127.0.0.1:$port/scep" --wait 20 --cacert-only -q || { kill $spid; exit 1; }
if [ "$warm" -gt 0 ]; then
    "$bin" -u "http://127.0.0.1:$port/scep" -n "$warm" -c "$conc" --challenge "$chal" \
        --key-pool "$warm" --cn-prefix "mm-c$conc-warm" > "$d/warm.log" 2>&1
    grep "^RESULT " "$d/warm.log" | sed "s/^RESULT/WARMUP/"
fi
"$bin" -u "http://127.0.0.1:$port/scep" -n "$n" -c "$conc" --challenge "$chal" --cn-prefix "mm-c$conc"
rc=$?
kill $spid; wait $spid 2>/dev/null
exit $rc'

bench_micromdm() { # CONC
    log=$out/micromdm-c$1.log
    wait_idle
    load1=$(cut -d' ' -f1 /proc/loadavg)
    say "micromdm scepserver, concurrency $1, $N requests (load average $load1)"
    if [ "$netns" = 1 ]; then
        unshare -n sh -c "$mm_script" sh "$scratch/mm" "$MMPORT" "$challenge" "$scepbench" \
            "$N" "$1" 1 "$((WARMUP * $1))" > "$log" 2>&1 || true
    else
        sh -c "$mm_script" sh "$scratch/mm" "$MMPORT" "$challenge" "$scepbench" \
            "$N" "$1" 0 "$((WARMUP * $1))" > "$log" 2>&1 || true
    fi
    grep -E '^(rate|latency|failed|machine CPU)|failure' "$log" >&2 || true
    record micromdm "$1" "$log"
}

# ---- 1. the RSA floor ------------------------------------------------------------
wait_idle
say "openssl speed -multi $ncpu -seconds 3 rsa2048 (load average $(cut -d' ' -f1 /proc/loadavg))"
openssl speed -multi "$ncpu" -seconds 3 rsa2048 > "$out/openssl-speed.txt" 2>&1
signs=$(awk '/^rsa 2048 bits/ { v = $6 } END { print v }' "$out/openssl-speed.txt")
[ -n "$signs" ] || die "cannot read openssl speed output ($out/openssl-speed.txt)"
floor=$(awk -v s="$signs" 'BEGIN { printf "%.1f", s / 3 }')
ec_floor_line=""
case " $SERVERS " in *" sqlite-ec "*|*" pgsql-ec "*)
    # an EC CA and EC RA signing: one RSA decryption and two ECDSA P-256
    # signatures per enrollment (RSA decrypt ~ sign: both are the private op)
    openssl speed -multi "$ncpu" -seconds 3 ecdsap256 > "$out/openssl-speed-ec.txt" 2>&1
    ecsigns=$(awk '/256 bits ecdsa \(nistp256\)/ { v = $(NF-1) } END { print v }' "$out/openssl-speed-ec.txt")
    ec_floor=$(awk -v r="$signs" -v e="$ecsigns" 'BEGIN { if (r > 0 && e > 0) printf "%.1f", 1 / (1 / r + 2 / e); else print 0 }')
    ec_floor_line="EC configuration (sqlite-ec, pgsql-ec): one RSA-2048 private operation ($signs/s) and two ECDSA P-256 signatures ($ecsigns/s) per enrollment -> floor $ec_floor enrollments/s ($(awk -v a="$ec_floor" -v b="$floor" 'BEGIN { printf "%.1f", a / b }')x the RSA floor)" ;;
esac
say "RSA-2048 sign/s on $ncpu cores: $signs -> floor $floor enrollments/s"

# the keys, once, before any timing (cached in bench/cache between runs)
keys=$N
[ "$MEMORY" = 1 ] && [ "$MEMORY_POOL" -gt "$keys" ] && keys=$MEMORY_POOL
say "RSA-2048 keys for $keys requests (generated once, then read from bench/cache)"
"$scepbench" --prepare-keys -n "$keys" || die "cannot prepare the keys"

# ---- 2./3. enrollments ---------------------------------------------------------------
for s in $SERVERS; do
    case $s in
        sqlite)
            for c in $CONCS; do httpd_start sqlite sqlite; bench_httpd mod_scep-sqlite "$c"; httpd_stop; done ;;
        shipped-sqlite|shipped-pgsql)
            db=${s#shipped-}
            [ "$db" = pgsql ] && [ "$pg_started" = 0 ] && pg_start
            for c in $CONCS; do
                httpd_start "$s" "$db" shipped; bench_httpd "mod_scep-$s" "$c" shipped; httpd_stop
            done ;;
        sqlite-webhook)
            hook_start
            for c in $CONCS; do
                httpd_start sqlite-webhook sqlite webhook; bench_httpd mod_scep-sqlite-webhook "$c"
                outbox_report "c$c"; httpd_stop
            done
            hook_stop ;;
        sqlite-ec)
            ec_keys
            for c in $CONCS; do httpd_start sqlite-ec sqlite; bench_httpd mod_scep-sqlite-ec "$c"; httpd_stop; done
            KEYS_CONF="" ;;
        pgsql-ec)
            [ "$pg_started" = 1 ] || pg_start
            ec_keys
            for c in $CONCS; do httpd_start pgsql-ec pgsql; bench_httpd mod_scep-pgsql-ec "$c"; httpd_stop; done
            KEYS_CONF="" ;;
        sqlite-hsm)
            hsm_keys
            for c in $CONCS; do httpd_start sqlite-hsm sqlite; bench_httpd mod_scep-sqlite-hsm "$c"; httpd_stop; done
            KEYS_CONF="" ;;
        ceiling)
            build_ceiling
            cell_args=--echo
            for c in $CONCS; do httpd_start ceiling sqlite ceiling; bench_httpd ceiling "$c"; httpd_stop; done
            cell_args="" ;;
        pgsql)
            [ "$pg_started" = 1 ] || pg_start
            for c in $CONCS; do httpd_start pgsql pgsql; bench_httpd mod_scep-pgsql "$c"; httpd_stop; done ;;
        micromdm)
            mm_prepare
            for c in $CONCS; do bench_micromdm "$c"; done ;;
        *) die "unknown server $s" ;;
    esac
done
cmax=$(echo $CONCS | tr ' ' '\n' | sort -n | tail -1)
# the concurrency the targets and the profile are read at: 32 when measured
ctarget=$cmax
case " $CONCS " in *" 32 "*) ctarget=32 ;; esac

# ---- perf profile of mod_scep, or of the ceiling cell alone (optional) ---------------
# Two extra runs at the highest concurrency against a warmed-up SQLite server
# (a first short run makes the event MPM start the children it needs, so
# `perf -p` sees them all): CPU samples with DWARF call graphs (libcrypto has
# no frame pointers), then every sleep syscall with its call stack.
if [ "$PERF" = 1 ]; then
    wait_idle
    # the shipped configuration when it is measured, else the plain one
    # (or the ceiling cell when it is the only one measured)
    perf_variant=""
    perf_what="SQLite"
    # (echo: SERVERS with its blanks normalized)
    case " $(echo $SERVERS) " in
        *" shipped-sqlite "*) perf_variant=shipped; perf_what="SQLite, shipped configuration" ;;
        " ceiling ") perf_variant=ceiling; perf_what="the ceiling cell"; cell_args=--echo ;;
    esac
    say "perf: where the httpd children spend CPU and where they sleep ($perf_what, concurrency $ctarget)"
    httpd_start perf sqlite $perf_variant
    challenge_args 300 perf-warm "$perf_variant"
    "$scepbench" -u "http://127.0.0.1:$PORT/scep" -n 300 -c "$ctarget" $auth ${cell_args:-} \
        --key-pool 300 --key-offset 0 --cn-prefix perf-warm -q >/dev/null 2>&1 || true
    pids=$(httpd_children | paste -sd, -)
    echo "httpd children: $pids" > "$out/perf-record.log"
    perf_run() { # NAME PERF-ARGS...: perf record on the children during one scepbench run
        name=$1; shift
        challenge_args "$N" "perf-$name" "$perf_variant"
        "$scepbench" -u "http://127.0.0.1:$PORT/scep" -n "$N" -c "$ctarget" $auth ${cell_args:-} \
            --key-pool "$N" --cn-prefix "perf-$name" > "$out/perf-$name-run.log" 2>&1 &
        bpid=$!
        # past the request-building phase (client CPU only), then 6 s of load
        i=0
        while ! grep -q '^scepbench: sending' "$out/perf-$name-run.log" 2>/dev/null && [ $i -lt 600 ]; do
            sleep 0.1; i=$((i + 1))
        done
        perf record "$@" -p "$pids" -o "$out/perf-$name.data" -- sleep 6 >> "$out/perf-record.log" 2>&1 || true
        wait "$bpid" || true
    }
    perf_run cpu -F "${BENCH_PERF_FREQ:-499}" --call-graph dwarf,32768
    perf_run sleep -e syscalls:sys_enter_pselect6 -e syscalls:sys_enter_clock_nanosleep \
        -e syscalls:sys_enter_nanosleep --call-graph dwarf,32768
    httpd_stop
    cell_args=""
    # inclusive CPU share of named functions (children mode); perf-shares.md
    # has the RSA private-key operations whole (as openssl speed times them)
    # against everything else
    perf report -i "$out/perf-cpu.data" --children --sort sym --stdio -g none 2>/dev/null \
        | awk '/^ +[0-9.]+% +[0-9.]+% +\[[.k]\] [A-Za-z_]/ && $4 != "clone3" { print }' \
        | head -80 > "$out/perf-cpu-children.txt" || true
    perf report -i "$out/perf-cpu.data" --no-children --sort dso --stdio -g none 2>/dev/null \
        | awk '/^ +[0-9.]+%/' | head -12 > "$out/perf-cpu-dso.txt" || true
    perf script -i "$out/perf-cpu.data" -F comm,tid,ip,sym,dso 2>/dev/null \
        | python3 "$bench/perf-shares.py" > "$out/perf-shares.md" 2>&1 || true
    # sleeps: count per call chain of the functions that matter
    perf script -i "$out/perf-sleep.data" -F event,ip,sym 2>/dev/null | awk '
        function flush() { if (seen) n[chain == "" ? "(other)" : chain]++; chain = ""; seen = 0 }
        /syscalls:sys_enter/ { flush(); seen = 1; ev = $1; sub(/^syscalls:sys_enter_/, "", ev); sub(/:$/, "", ev); chain = ev; next }
        /^[ \t]+[0-9a-f]+ / && $2 ~ /^(apr_sleep|apr_dbd_[a-z_]+|in_transaction|select_rows|scep_store_[a-z_]+|PQ[A-Za-z]+|sqlite3_[a-z_]+|usleep|scep_handler)$/ {
            chain = chain " < " $2 }
        END { flush(); for (c in n) printf "%7d  %s\n", n[c], c }' \
        | sort -rn | head -15 > "$out/perf-sleep-stacks.txt" || true
    rm -f "$out/perf-cpu.data.old" "$out/perf-sleep.data.old"
fi

# ---- 4. GetCACert: mod_scep vs a static file ------------------------------------------
wait_idle
say "GetCACert with wrk (2 x ${WRK_SECONDS}s each, alternating)"
httpd_start wrk sqlite
"$scepbench" -u "http://127.0.0.1:$PORT/scep" --cacert-only -q --save-cacert "$scratch/htdocs/cacert.bin"
wrk_rate() { # URL LOG
    wrk -t2 -c32 -d"${WRK_SECONDS}s" --timeout 5s "$1" > "$2" 2>&1 || true
    awk '/^Requests\/sec:/ { print $2 }' "$2"
}
static_url="http://127.0.0.1:$PORT/cacert.bin"
scep_url="http://127.0.0.1:$PORT/scep?operation=GetCACert"
# the static file must answer the same bytes (the default handler ignores the
# query string scepbench adds)
"$scepbench" -u "$static_url" --cacert-only -q --save-cacert "$scratch/static-check.bin" \
    && cmp -s "$scratch/htdocs/cacert.bin" "$scratch/static-check.bin" \
    || die "the static file does not answer the GetCACert bytes"
s1=$(wrk_rate "$scep_url" "$out/wrk-scep-1.txt")
f1=$(wrk_rate "$static_url" "$out/wrk-static-1.txt")
s2=$(wrk_rate "$scep_url" "$out/wrk-scep-2.txt")
f2=$(wrk_rate "$static_url" "$out/wrk-static-2.txt")
httpd_stop
cacert_scep=$(awk -v a="${s1:-0}" -v b="${s2:-0}" 'BEGIN { printf "%.0f", (a + b) / 2 }')
cacert_static=$(awk -v a="${f1:-0}" -v b="${f2:-0}" 'BEGIN { printf "%.0f", (a + b) / 2 }')
cacert_ratio=$(awk -v a="$cacert_scep" -v b="$cacert_static" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
non2xx=$(cat "$out"/wrk-*.txt | awk '/Non-2xx/ { s += $NF } END { print s + 0 }')

# ---- 4b. OCSP responses/s ---------------------------------------------------------------
# For each database: one certificate issued by scepbench on a fresh server,
# its requests (no nonce; with a nonce), each kind of answer checked once
# (status 200, "good" for that serial, signed for the CA, nonce echoed)
# before wrk times it; then every timed response checked in the access log:
# status 200 and the byte size of the checked one (a tryLater or
# malformedRequest is 200 too, but 5 bytes long).
ocsp_rows=$out/ocsp.tsv
printf 'database\tcell\trate1\trate2\trate\twrong\tchecked\tload1\n' > "$ocsp_rows"
cat > "$scratch/ocsp-post.lua" <<'EOL'
-- wrk -s ocsp-post.lua URL -- FILE: POST FILE as application/ocsp-request
function init(args)
    local f = assert(io.open(args[1], "rb"))
    wrk.method = "POST"
    wrk.body = f:read("*a")
    f:close()
    wrk.headers["Content-Type"] = "application/ocsp-request"
end
EOL
ocsp_url="http://127.0.0.1:$PORT/ocsp"
# ocsp_issue TAG: a certificate issued by scepbench on the running server;
# sets ocsp_dir, ocsp_serial, ocsp_get (the GET URL) and the request files
ocsp_issue() {
    ocsp_dir=$scratch/ocsp-$1
    rm -rf "$ocsp_dir"; mkdir -p "$ocsp_dir"
    "$scepbench" -u "http://127.0.0.1:$PORT/scep" -n 1 -c 1 --challenge "$challenge" \
        --decrypt-every 1 --results "$ocsp_dir/issued.tsv" --cn-prefix "ocsp-$1" -q \
        > "$ocsp_dir/issue.log" 2>&1 || true
    ocsp_serial=$(awk -F'\t' '!/^#/ && $3 == "SUCCESS" && $7 != "-" { print $7 }' "$ocsp_dir/issued.tsv" 2>/dev/null)
    [ -n "$ocsp_serial" ] || { cat "$ocsp_dir/issue.log" >&2; die "OCSP ($1): scepbench issued no certificate"; }
    openssl ocsp -issuer "$scratch/pki/ca.pem" -serial "0x$ocsp_serial" -no_nonce \
        -reqout "$ocsp_dir/req.der" >/dev/null 2>&1 || die "openssl ocsp -reqout failed"
    openssl ocsp -issuer "$scratch/pki/ca.pem" -serial "0x$ocsp_serial" \
        -reqout "$ocsp_dir/req-nonce.der" >/dev/null 2>&1 || die "openssl ocsp -reqout failed"
    ocsp_get="$ocsp_url/$(base64 -w0 < "$ocsp_dir/req.der" | sed 's,+,%2B,g; s,/,%2F,g; s,=,%3D,g')"
}
# ocsp_check NAME REQFILE [GET]: one answer, by POST of REQFILE (or GET of
# its URL); prints its size in bytes if it is a verified "good" for the
# serial, with the request's nonce if it has one, else dies
ocsp_check() {
    resp=$ocsp_dir/$1.der
    if [ "${3:-}" = GET ]; then
        code=$(curl -sS --noproxy '*' --max-time 10 -o "$resp" -w '%{http_code}' "$ocsp_get") || code=0
    else
        code=$(curl -sS --noproxy '*' --max-time 10 -o "$resp" -w '%{http_code}' \
            -H 'Content-Type: application/ocsp-request' --data-binary "@$2" "$ocsp_url") || code=0
    fi
    # the status of that serial, signed for the CA (with -serial, openssl
    # ocsp compares the nonce of a request of its own: -no_nonce) ...
    openssl ocsp -respin "$resp" -issuer "$scratch/pki/ca.pem" -serial "0x$ocsp_serial" -no_nonce \
        -CAfile "$scratch/pki/ca.pem" -resp_text > "$ocsp_dir/$1.txt" 2>&1 || true
    if [ "$code" != 200 ] || ! grep -q "^0x$ocsp_serial: good" "$ocsp_dir/$1.txt" \
       || ! grep -q '^Response verify OK' "$ocsp_dir/$1.txt"; then
        tail -5 "$ocsp_dir/$1.txt" >&2
        die "OCSP $1: no verified \"good\" answer (HTTP $code; $ocsp_dir/$1.txt)"
    fi
    # ... and the nonce against REQFILE's (without -serial, -reqin is used)
    openssl ocsp -respin "$resp" -reqin "$2" -issuer "$scratch/pki/ca.pem" \
        -CAfile "$scratch/pki/ca.pem" > "$ocsp_dir/$1-nonce.txt" 2>&1 || true
    if ! grep -q '^Response verify OK' "$ocsp_dir/$1-nonce.txt" \
       || grep -qiE 'nonce verify error|no nonce in response' "$ocsp_dir/$1-nonce.txt"; then
        cat "$ocsp_dir/$1-nonce.txt" >&2
        die "OCSP $1: the request's nonce is not echoed ($ocsp_dir/$1-nonce.txt)"
    fi
    wc -c < "$resp" | tr -d ' '
}
# ocsp_time DB CELL BYTES URL [POSTFILE]: one wrk run -> ocsp_rate, and
# ocsp_wrong of the ocsp_checked responses in the access log
ocsp_time() {
    alog=$(dirname "$httpd_conf_current")/logs/access_log
    before=$(wc -l < "$alog")
    log=$out/wrk-ocsp-$1-$2-$ocsp_run.txt
    if [ -n "${5:-}" ]; then
        wrk -t2 -c32 -d"${WRK_SECONDS}s" --timeout 5s -s "$scratch/ocsp-post.lua" "$4" -- "$5" > "$log" 2>&1 || true
    else
        wrk -t2 -c32 -d"${WRK_SECONDS}s" --timeout 5s "$4" > "$log" 2>&1 || true
    fi
    sleep 1     # the last lines of the access log
    ocsp_rate=$(awk '/^Requests\/sec:/ { print $2 }' "$log")
    set -- $(tail -n +"$((before + 1))" "$alog" \
             | awk -v b="$3" '$(NF - 1) != 200 || $NF != b { w++ } END { print w + 0, NR }')
    ocsp_wrong=$1; ocsp_checked=$2
    [ -n "$ocsp_rate" ] || { cat "$log" >&2; die "wrk gave no rate ($log)"; }
}
# ocsp_cells DB CACHE CELL...: a fresh server (SCEPOCSPCache CACHE), one
# certificate, each CELL (get, post: no nonce; nonce: POST with a nonce)
# checked, then timed twice, alternating
ocsp_cells() {
    db=$1; cache=$2; shift 2
    wait_idle
    if [ "$cache" = none ]; then OCSP_CACHE_CONF="SCEPOCSPCache none"; else OCSP_CACHE_CONF=""; fi
    httpd_start "ocsp-$db-$cache" "$db"; OCSP_CACHE_CONF=""
    ocsp_issue "$db-$cache"
    for cell in "$@"; do
        case $cell in
            get) b=$(ocsp_check "$cell" "$ocsp_dir/req.der" GET) ;;
            post) b=$(ocsp_check "$cell" "$ocsp_dir/req.der") ;;
            nonce) b=$(ocsp_check "$cell" "$ocsp_dir/req-nonce.der") ;;
        esac
        eval "bytes_$cell=$b"
    done
    load1=$(cut -d' ' -f1 /proc/loadavg)
    say "OCSP on $db, SCEPOCSPCache ${cache}: $* (serial $ocsp_serial; wrk 2 x ${WRK_SECONDS}s each, alternating; load average $load1)"
    for ocsp_run in 1 2; do
        for cell in "$@"; do
            eval "b=\$bytes_$cell"
            case $cell in
                get) ocsp_time "$db" "$cell-$cache" "$b" "$ocsp_get" ;;
                post) ocsp_time "$db" "$cell-$cache" "$b" "$ocsp_url" "$ocsp_dir/req.der" ;;
                nonce) ocsp_time "$db" "$cell-$cache" "$b" "$ocsp_url" "$ocsp_dir/req-nonce.der" ;;
            esac
            eval "rate${ocsp_run}_$cell=$ocsp_rate wrong${ocsp_run}_$cell=$ocsp_wrong checked${ocsp_run}_$cell=$ocsp_checked"
        done
    done
    httpd_stop
    for cell in "$@"; do
        eval "r1=\$rate1_$cell r2=\$rate2_$cell w=\$((wrong1_$cell + wrong2_$cell))"
        eval "n=\$((checked1_$cell + checked2_$cell))"
        printf '%s\t%s-%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$db" "$cell" "$cache" "$r1" "$r2" \
            "$(awk -v a="$r1" -v b="$r2" 'BEGIN { printf "%.0f", (a + b) / 2 }')" "$w" "$n" "$load1" >> "$ocsp_rows"
        say "  $cell: $r1 / $r2 responses/s, $w wrong of $n in the access log"
    done
}
if [ "$OCSP" = 1 ]; then
    for db in sqlite pgsql; do
        if [ "$db" = pgsql ]; then
            case " $SERVERS " in *" pgsql "*) ;; *) continue ;; esac
            [ "$pg_started" = 1 ] || pg_start
        fi
        ocsp_cells "$db" shmcb get post nonce
        ocsp_cells "$db" none get
    done
fi

# ---- 5. memory (optional) ----------------------------------------------------------------
rss_line=""
if [ "$MEMORY" = 1 ]; then
    say "RSS of the httpd children: $MEMORY_STEP then $((5 * MEMORY_STEP)) enrollments (the shipped configuration on SQLite, one-time challenges, concurrency 8)"
    httpd_start memory sqlite shipped
    rss() { # sum of VmRSS, children, and the anonymous (heap) and file-backed parts
        total=0; count=0; anon=0; file=0
        for p in $(httpd_children); do
            kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
            a=$(awk '/^RssAnon:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
            f=$(awk '/^RssFile:|^RssShmem:/ { s += $2 } END { print s + 0 }' "/proc/$p/status" 2>/dev/null || echo 0)
            total=$((total + ${kb:-0})); count=$((count + 1))
            anon=$((anon + ${a:-0})); file=$((file + ${f:-0}))
        done
        # and each child's SQLite connections (mod_dbd's pool): one page
        # cache and one set of prepared statements each
        conns=""
        for p in $(httpd_children); do
            conns="$conns${conns:+,}$(ls -l "/proc/$p/fd" 2>/dev/null | grep -c 'scep\.sqlite$')"
        done
        echo "$total $count anon_kb=$anon file_kb=$file sqlite_connections=$conns"
    }
    echo "# enrollments rss_kb children anon_kb file_kb sqlite_connections (per child)" > "$out/memory.txt"
    echo "0 $(rss)" >> "$out/memory.txt"
    done_n=0
    for step in 1 2 3 4 5; do
        challenge_args "$MEMORY_STEP" memory shipped
        "$scepbench" -u "http://127.0.0.1:$PORT/scep" -n "$MEMORY_STEP" -c 8 \
            $auth --key-pool "$MEMORY_POOL" --cn-prefix "mem$step" --decrypt-every 1000 --max-time 1800 \
            > "$out/memory-$step.log" 2>&1 || true
        done_n=$((done_n + $(sed -n 's/^RESULT .* ok=\([0-9]*\) .*/\1/p' "$out/memory-$step.log")))
        echo "$((step * MEMORY_STEP)) $(rss) ok_total=$done_n" >> "$out/memory.txt"
    done
    httpd_stop
    rss10=$(awk -v n="$MEMORY_STEP" '$1 == n { print $2 }' "$out/memory.txt")
    rss50=$(awk -v n="$((5 * MEMORY_STEP))" '$1 == n { print $2 }' "$out/memory.txt")
    growth=$(awk -v a="$rss10" -v b="$rss50" 'BEGIN { printf "%+.1f", (a > 0 ? 100 * (b - a) / a : 0) }')
    arenas="malloc: $shipped_malloc"
    [ -n "${BENCH_HTTPD_ENV:-}" ] && arenas="$arenas, $BENCH_HTTPD_ENV"
    rss_line="RSS of httpd children (sum of VmRSS; $arenas): $((rss10 / 1024)) MiB after $MEMORY_STEP enrollments, $((rss50 / 1024)) MiB after $((5 * MEMORY_STEP)) ($growth%; $done_n successful; $out/memory.txt)"
fi

# ---- 6. database growth (optional) ------------------------------------------------------
growth_lines=""
if [ "$GROWTH" = 1 ]; then
    all_results=$results
    results=$out/growth.tsv
    printf "$tsv_header" > "$results"
    for s in $SERVERS; do
        case $s in sqlite|pgsql) ;; *) continue ;; esac
        [ "$s" = pgsql ] && [ "$pg_started" = 0 ] && pg_start
        say "growth: $s empty, then with $GROWTH_ROWS earlier enrollments (concurrency $cmax)"
        httpd_start "growth-$s-empty" "$s"; bench_httpd "growth-$s-empty" "$cmax"; httpd_stop
        GROWTH_FILL=$GROWTH_ROWS; httpd_start "growth-$s-full" "$s"; GROWTH_FILL=""
        bench_httpd "growth-$s-full" "$cmax"; httpd_stop
        [ "$s" = sqlite ] && rm -rf "$scratch/httpd-growth-sqlite-full"   # a few GB
        growth_lines="$growth_lines$(awk -F'\t' -v s="$s" -v rows="$GROWTH_ROWS" '
            $1 == "growth-" s "-empty" { e = $6; ef = $5 }
            $1 == "growth-" s "-full" { f = $6; ff = $5; p = $8 }
            END { printf "  %s: empty %.1f/s, with %d rows %.1f/s (%+.1f%%; failures %d/%d; p99 %.1f ms): %s\n",
                  s, e, rows, f, (e > 0 ? 100 * (f - e) / e : 0), ef, ff, p,
                  (e > 0 && f >= 0.9 * e) ? "MET (within 10%)" : "MISSED (more than 10% slower)" }' "$results")
"
    done
    results=$all_results
fi

# ---- the curve: enrollments/s against concurrency, one line a server ----------------------------
# (drawn from results.tsv when BENCH_CONC has two levels or more; the RSA
# floor, and the EC configuration's when measured, as dashed lines)
curve_line=""
if [ "$(echo $CONCS | wc -w)" -ge 2 ] && [ -n "$SERVERS" ]; then
    python3 - "$results" "$out/curve.svg" "$floor" "${ec_floor:-0}" "$stamp" <<'EOP' && curve_line="curve: $out/curve.svg"
import math, sys
results, svg, floor, ec_floor, stamp = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
rows = [l.rstrip("\n").split("\t") for l in open(results)][1:]
series = {}
for r in rows:
    if len(r) >= 6 and r[1].isdigit():
        series.setdefault(r[0], []).append((int(r[1]), float(r[5] or 0)))
series = {k: sorted(v) for k, v in series.items() if len(v) >= 2}
if not series:
    sys.exit(1)
concs = sorted({c for v in series.values() for c, _ in v})
top = max([floor, ec_floor] + [y for v in series.values() for _, y in v]) * 1.1
W, H, L, R, T, B = 760, 460, 70, 220, 40, 50
pw, ph = W - L - R, H - T - B
lo, hi = math.log2(concs[0]), math.log2(concs[-1])
X = lambda c: L + (pw * (math.log2(c) - lo) / (hi - lo) if hi > lo else pw / 2)
Y = lambda v: T + ph - ph * v / top
colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (W, H),
     '<rect width="100%" height="100%" fill="white"/>',
     '<text x="%d" y="22" font-size="14">enrollments/s against concurrency (bench/run.sh %s)</text>' % (L, stamp)]
step = 10 ** math.floor(math.log10(top / 5))
step = step * (5 if top / step > 25 else 2 if top / step > 10 else 1)
v = 0.0
while v <= top:
    o.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (L, L + pw, Y(v), Y(v)))
    o.append('<text x="%d" y="%.1f" text-anchor="end">%d</text>' % (L - 6, Y(v) + 4, v))
    v += step
for c in concs:
    o.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#eee"/>' % (X(c), X(c), T, T + ph))
    o.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>' % (X(c), T + ph + 18, c))
o.append('<text x="%d" y="%d" text-anchor="middle">concurrent clients</text>' % (L + pw / 2, H - 8))
o.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>' % (L, T, pw, ph))
for name, val in (("RSA floor", floor), ("EC floor", ec_floor)):
    if val > 0:
        o.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#000" stroke-dasharray="6,4"/>' % (L, L + pw, Y(val), Y(val)))
        o.append('<text x="%d" y="%.1f">%s %.0f/s</text>' % (L + pw + 8, Y(val) + 4, name, val))
ly = T + 60
for i, (name, pts) in enumerate(sorted(series.items())):
    col = colors[i % len(colors)]
    o.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (col, " ".join("%.1f,%.1f" % (X(c), Y(y)) for c, y in pts)))
    for c, y in pts:
        o.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s c=%d: %.1f/s</title></circle>' % (X(c), Y(y), col, name, c, y))
    o.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"/>' % (L + pw + 8, L + pw + 28, ly, ly, col))
    o.append('<text x="%d" y="%d">%s</text>' % (L + pw + 32, ly + 4, name.replace("mod_scep-", "")))
    ly += 18
o.append("</svg>")
open(svg, "w").write("\n".join(o) + "\n")
EOP
fi

# ---- 7. the table -----------------------------------------------------------------------------
elapsed=$(( $(date -u +%s) - started ))
# the best mod_scep enrollment rate of this run, for the OCSP ratios
best_enroll=$(awk -F'\t' 'NR > 1 && $1 ~ /^mod_scep/ && $6 + 0 > m { m = $6 + 0 } END { printf "%.1f", m }' "$results")
best_enroll_where=$(awk -F'\t' 'NR > 1 && $1 ~ /^mod_scep/ && $6 + 0 > m { m = $6 + 0; w = $1 ", concurrency " $2 }
    END { print w }' "$results")
{
    echo "# scepbench results $stamp"
    echo
    echo "machine: $ncpu CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), load average at start: $load_start, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "openssl speed -multi $ncpu rsa2048: $signs sign/s -> floor $floor enrollments/s"
    [ -n "$ec_floor_line" ] && echo "$ec_floor_line"
    echo "requests per cell: $N; run time: ${elapsed}s; priority: $(cat /proc/self/autogroup 2>/dev/null | sed 's/.* //;s/^/autogroup nice /')"
    echo "the shipped cells' malloc: $shipped_malloc${BENCH_HTTPD_ENV:+; BENCH_HTTPD_ENV (every mod_scep cell): $BENCH_HTTPD_ENV}"
    echo
    echo "| server | concurrency | enrollments/s | ok/n | failures | p50 ms | p99 ms | vs micromdm | vs floor | idle CPU | load avg | writes a commit | SQLite writer busy | warm-up max ms |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' -v floor="$floor" '
        NR == 1 { next }
        { key = $1 SUBSEP $2; rate[key] = $6; row[++n] = $0 }
        END {
            for (i = 1; i <= n; i++) {
                split(row[i], f, "\t")
                mm = rate["micromdm" SUBSEP f[2]]
                vmm = (f[1] != "micromdm" && mm > 0) ? sprintf("%.1fx", f[6] / mm) : "-"
                vfl = sprintf("%.0f%%", 100 * f[6] / floor)
                printf "| %s | %s | %.1f | %s/%s | %s | %.1f | %.1f | %s | %s | %s%% | %s | %s | %s | %s |\n",
                    f[1], f[2], f[6], f[4], f[3], f[5], f[7], f[8], vmm, vfl, f[10], f[9],
                    f[11], (f[12] == "-" || f[12] == "") ? "-" : f[12] "%",
                    (f[13] == "" ? "-" : f[13])
            }
        }' "$results"
    echo
    echo "GetCACert (wrk -t2 -c32): mod_scep $cacert_scep req/s, static file $cacert_static req/s, ratio $cacert_ratio (non-2xx: $non2xx)"
    if [ "$OCSP" = 1 ]; then
        echo
        best_line="none measured"
        [ -n "$best_enroll_where" ] && best_line="$best_enroll/s ($best_enroll_where)"
        echo "OCSP responses/s (wrk -t2 -c32, 2 x ${WRK_SECONDS}s each, alternating; one certificate issued by scepbench; best mod_scep enrollment rate of this run: $best_line):"
        echo
        echo "| database | request | answer | responses/s | runs | vs best enrollment | wrong / checked | load avg |"
        echo "|---|---|---|---:|---:|---:|---:|---:|"
        awk -F'\t' -v best="$best_enroll" '
            NR == 1 { next }
            {
                split($2, c, "-")
                req = (c[1] == "get") ? "GET, no nonce" : (c[1] == "post") ? "POST, no nonce" : "POST, nonce"
                ans = (c[1] == "nonce" || c[2] == "none") ? "signed each time (SCEPOCSPCache " c[2] ")" : "shared cache (shmcb)"
                printf "| %s | %s | %s | %.0f | %.0f / %.0f | %s | %d / %d | %s |\n", $1, req, ans, $5, $3, $4,
                    (best > 0 ? sprintf("%.1fx", $5 / best) : "-"), $6, $7, $8
            }' "$ocsp_rows"
    fi
    [ -n "$rss_line" ] && echo "$rss_line"
    [ -n "$curve_line" ] && echo "$curve_line"
    if [ -s "$out/perf-shares.md" ]; then
        echo
        echo "where the httpd children's CPU went (perf, $perf_what, concurrency $ctarget; $out/perf-cpu-children.txt has the inclusive view):"
        echo
        cat "$out/perf-shares.md"
    fi
    echo
    echo "targets (#19: at concurrency $ctarget, and at 8 for the p99 bound; the -ec cells against 1.5x the RSA floor):"
    awk -F'\t' -v floor="$floor" -v c="$ctarget" -v ratio="$cacert_ratio" '
        function verdict(ok) { return ok ? "MET" : "MISSED" }
        NR == 1 { next }
        $2 == c { rate[$1] = $6; fails[$1] = $5; p50[$1] = $7; p99[$1] = $8; idle[$1] = $10 }
        $2 == 8 { p99_8[$1] = $8; has8[$1] = 1 }
        END {
            mm = rate["micromdm"]
            for (s in rate) {
                if (s == "micromdm" || s == "ceiling") continue
                goal = (s ~ /-ec$/) ? 1.5 : 0.6
                c8 = has8[s] ? sprintf("p99 at 8 < 50 ms: %s (%.1f ms)", verdict(p99_8[s] < 50), p99_8[s]) : "p99 at 8: not measured"
                printf "  %-24s >= %.0f%% of the RSA floor: %s (%.0f%%); zero failures: %s (%d); p99 <= 3x p50: %s (%.1f / %.1f ms); %s; idle CPU < 5%%: %s (%s%%)%s\n",
                    s, 100 * goal, verdict(rate[s] >= goal * floor), 100 * rate[s] / floor,
                    verdict(fails[s] == 0), fails[s], verdict(p99[s] <= 3 * p50[s]), p99[s], p50[s], c8,
                    verdict(idle[s] != "" && idle[s] + 0 < 5), idle[s],
                    (mm > 0) ? sprintf("; %.1fx micromdm", rate[s] / mm) : ""
            }
            printf "  GetCACert >= 90%% of static: %s (%.0f%%)\n", verdict(ratio >= 0.9), 100 * ratio
            # (the ceiling cell: what httpd and three RSA operations reach, no SCEP, no records)
            if (rate["ceiling"] > 0) {
                printf "  the ceiling (httpd, three RSA operations a request, nothing else) reaches %.0f%% of the RSA floor (%.1f/s); against it:", 100 * rate["ceiling"] / floor, rate["ceiling"]
                n = 0
                for (s in rate)
                    if (s != "ceiling" && s != "micromdm" && s !~ /-ec$/) {
                        printf " %s %.0f%%", s, 100 * rate[s] / rate["ceiling"]; n++
                    }
                printf "%s\n", n ? "" : " (no mod_scep cell)"
            }
        }' "$results"
    if [ -s "$out/perf-shares.md" ]; then
        # (the ceiling cell's profile has no target)
        awk -F'|' -v ceiling="$([ "$perf_variant" = ceiling ] && echo 1)" '/^\| RSA private-key operations/ {
            v = $3; gsub(/[ %]/, "", v)
            if (ceiling)
                printf "  (the ceiling cell, no target: RSA private-key operations are %s%% of its children'"'"'s CPU)\n", v
            else
                printf "  RSA private-key operations >= 70%% of the children'"'"'s CPU (perf): %s (%s%%)\n", (v + 0 >= 70) ? "MET" : "MISSED", v }' \
            "$out/perf-shares.md"
    fi
    if [ "$OCSP" = 1 ]; then
        awk -F'\t' -v best="$best_enroll" '
            NR == 1 { next }
            { printf "  OCSP %s %s >= 10x the best enrollment rate: %s (%s); every timed response right: %s (%d wrong of %d)\n",
                  $1, $2, (best > 0 ? ($5 >= 10 * best ? "MET" : "MISSED") : "n/a"),
                  (best > 0 ? sprintf("%.1fx", $5 / best) : "-"), ($6 == 0 && $7 > 0 ? "MET" : "MISSED"), $6, $7 }' "$ocsp_rows"
    fi
    if [ -n "$rss_line" ]; then
        awk -v g="$growth" -v a="$MEMORY_STEP" -v b="$((5 * MEMORY_STEP))" 'BEGIN { v = (g < 0) ? -g : g; w = (v <= 5) ? "MET" : "MISSED"; printf "  RSS flat within 5%% (%d -> %d enrollments): %s (%s%%)\n", a, b, w, g }'
    fi
    if [ -n "$growth_lines" ]; then
        echo
        echo "database growth (concurrency $cmax, $N requests each, $out/growth.tsv):"
        printf '%s' "$growth_lines"
    fi
    if [ -s "$out/httpd-warnings.log" ]; then
        echo
        echo "httpd logged $(wc -l < "$out/httpd-warnings.log") line(s) at [warn] or worse: $out/httpd-warnings.log"
    fi
} > "$out/table.md"
cat "$out/table.md"
echo
echo "outputs: $out"
