#!/bin/sh
# How fast the admin page and the admin API answer over a large database: for
# SQLite and PostgreSQL, fill a fresh database with ADMIN_ROWS earlier
# enrollments (bench/records.sh: three years of them over three Locations,
# 90% ISSUED / 8% REJECTED / 2% PENDING, with their certificates, scep_names
# and scep_audit rows), start httpd with mod_scep on it, then time each URL
# below with curl: one warm-up request ("first"), then 5 timed ones (median
# and max, ms), with their HTTP status and size, so a route that does not
# exist (404) or fails shows. Also the database's size and row counts.
# A benchmark: it prints figures and judges none.
#
# Every server listens on 127.0.0.1 only (PostgreSQL on a unix socket only);
# every state file lives in a scratch folder under /tmp. Output goes to
# bench/out/<UTC time>/admin-scale.txt (bench/out/latest links to it).
# Debian 12; as root it installs what it misses and runs httpd as www-data.
#
# Environment:
#   ADMIN_ROWS=1000000    enrollments in each database (at least 1000; 1M
#                         takes about 1.5 min for SQLite, 2.5 min for
#                         PostgreSQL on 2 cores, and 7 GB / 6 GB of disk)
#   ADMIN_DBS="sqlite pgsql"   which databases (pgsql is skipped when no
#                         PostgreSQL server is installed)
#   ADMIN_PORT=18480      httpd port (PostgreSQL: unix socket named .+2)
#   ADMIN_TIMEOUT=60      seconds before a request counts as timed out (000)
#   ADMIN_SQLITE_ANALYZE=0  1: ANALYZE the SQLite database after filling it
#                         (a deployment has no SQLite statistics unless someone
#                         runs ANALYZE; PostgreSQL gets VACUUM ANALYZE, which
#                         autovacuum would have done by then)
#   ADMIN_KEEP=0          1: keep the scratch folder (databases, PKI, logs)
#   ADMIN_REUSE=DIR       a scratch folder kept by an earlier run: reuse its PKI
#                         and the databases it holds with ADMIN_ROWS rows
#                         instead of making them again (they keep the schema
#                         of the run that made them); DIR is kept
#   SCEP_SO               module to load (default .libs/mod_scep.so)
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
bench=$top/bench
. "$bench/records.sh"

ROWS=${ADMIN_ROWS:-1000000}
DBS=${ADMIN_DBS-"sqlite pgsql"}
PORT=${ADMIN_PORT:-18480}
PGPORT=$((PORT + 2))   # names the unix socket only: PostgreSQL listens on no TCP address
TIMEOUT=${ADMIN_TIMEOUT:-60}
KEEP=${ADMIN_KEEP:-0}
REUSE=${ADMIN_REUSE:-}
SCEP_SO=${SCEP_SO:-$top/.libs/mod_scep.so}
TIMED=5
started=$(date -u +%s)

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench/admin-scale.sh: %s\n' "$*" >&2; exit 1; }

# (in a pipeline into the database client, records_sql's own failure would
# not count: check its input here)
case $ROWS in ''|*[!0-9]*) die "ADMIN_ROWS must be a number" ;; esac
[ "$ROWS" -ge 1000 ] || die "ADMIN_ROWS must be at least 1000"
for d in $DBS; do
    case $d in sqlite|pgsql) ;; *) die "unknown database $d in ADMIN_DBS (sqlite, pgsql)" ;; esac
done

# ---- prerequisites ---------------------------------------------------------
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
need="apache2 apache2-dev apache2-utils libaprutil1-dbd-sqlite3 sqlite3 curl openssl"
case " $DBS " in
    *" pgsql "*)
        if [ -x "$pgbin/initdb" ]; then
            need="$need libaprutil1-dbd-pgsql"
        else
            say "no PostgreSQL server in /usr/lib/postgresql: pgsql skipped"
            DBS=$(echo "$DBS" | tr ' ' '\n' | grep -vx pgsql | tr '\n' ' ')
        fi ;;
esac
missing=""
for p in $need; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
if [ -n "$missing" ]; then
    [ "$(id -u)" = 0 ] || die "missing Debian packages:$missing (run as root to install them)"
    say "installing$missing"
    # shellcheck disable=SC2086  # one package a word
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y -q --no-install-recommends $missing >/dev/null; }
fi
[ -f Makefile ] || { ./autogen.sh >/dev/null && ./configure -q; }
if [ ! -e "$SCEP_SO" ]; then
    say "building mod_scep"
    make -s
fi
httpd=$(apxs -q SBINDIR)/$(apxs -q TARGET)
modules=$(apxs -q LIBEXECDIR)

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=$bench/out/$stamp
mkdir -p "$out"
ln -sfn "$stamp" "$bench/out/latest"
if [ -n "$REUSE" ]; then
    [ -f "$REUSE/pki/ca.pem" ] || die "ADMIN_REUSE=$REUSE: not a scratch folder of this script"
    scratch=$REUSE
    KEEP=1
else
    scratch=$(mktemp -d /tmp/scep-admin-bench.XXXXXX)
fi
chmod 755 "$scratch"
results=$out/admin-scale.tsv
printf 'db\turl\thttp\tfirst_ms\tmedian_ms\tmax_ms\tbytes\n' > "$results"
report=$out/admin-scale.txt

root=0
[ "$(id -u)" = 0 ] && root=1
httpd_user=""
pg_run=""
if [ "$root" = 1 ]; then
    # httpd's children as www-data, as in a deployment; initdb refuses root
    httpd_user="User www-data
Group www-data"
    pg_run="runuser -u postgres --"
fi

# ---- clean-up: only what this script started ---------------------------------
httpd_conf_current=""
pg_started=0
cleanup() {
    if [ -n "$httpd_conf_current" ]; then httpd_stop; fi
    if [ "$pg_started" = 1 ]; then pg_stop; fi
    if [ "$KEEP" = 1 ]; then
        echo "scratch folder kept: $scratch" >&2
    else
        rm -rf "$scratch"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- PKI, the administrator ----------------------------------------------------
"$top/build-tools/make-pki.sh" "$scratch/pki" "mod_scep Admin Bench CA" >/dev/null
ca=$(records_ca_fp "$scratch/pki/ca.pem")
# the password goes from a file to htpasswd's stdin and to a curl config
# file: never into a command line (ps) or the outputs
if [ ! -f "$scratch/pki/admin.password" ]; then
    (umask 077; openssl rand -hex 16 > "$scratch/pki/admin.password")
fi
htpasswd -ic "$scratch/pki/admins.htpasswd" admin < "$scratch/pki/admin.password" 2>/dev/null
chmod 644 "$scratch/pki/admins.htpasswd"
curlrc=$scratch/pki/curl.conf
(umask 077; printf 'user = "admin:%s"\n' "$(cat "$scratch/pki/admin.password")" > "$curlrc")

# ---- PostgreSQL: a private cluster, unix socket only ---------------------------
pg_psql() { # [psql args...]: as the cluster's superuser "scep"
    $pg_run psql -X -q -v ON_ERROR_STOP=1 -h "$scratch/pg/sock" -p "$PGPORT" -U scep "$@"
}
pg_start() {
    if [ ! -f "$scratch/pg/data/PG_VERSION" ]; then
        rm -rf "$scratch/pg"
        mkdir -p "$scratch/pg/data" "$scratch/pg/sock"
        [ "$root" = 1 ] && chown -R postgres "$scratch/pg"
        chmod 700 "$scratch/pg/data"
        chmod 755 "$scratch/pg" "$scratch/pg/sock"
        $pg_run "$pgbin/initdb" -D "$scratch/pg/data" -A trust -U scep > "$out/pg-init.log" 2>&1 \
            || die "initdb failed (see $out/pg-init.log)"
    fi
    # the server's defaults (shared_buffers 128 MB...), except for the bulk
    # load: fewer checkpoints while it writes the few GB
    $pg_run "$pgbin/pg_ctl" -D "$scratch/pg/data" -w -t 60 -l "$scratch/pg/log" \
        -o "-k $scratch/pg/sock -p $PGPORT -c listen_addresses='' -c max_wal_size=4GB" \
        start >/dev/null || { tail -5 "$scratch/pg/log" >&2; die "PostgreSQL did not start"; }
    pg_started=1
}
pg_stop() {
    $pg_run "$pgbin/pg_ctl" -D "$scratch/pg/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    pg_started=0
}

# ---- the databases -------------------------------------------------------------
# db_query DB SQL: the result rows, columns separated by |
db_query() {
    if [ "$1" = sqlite ]; then
        sqlite3 -bail "$scratch/sqlite/scep.sqlite" "$2"
    else
        pg_psql -d scep -At -c "$2"
    fi
}

# db_make DB: a fresh database with ROWS enrollments (or the one ADMIN_REUSE
# holds); gen_s is how long the filling took ("reused" when none)
db_make() {
    if [ -f "$scratch/$1.rows" ] && [ "$(cat "$scratch/$1.rows")" = "$ROWS" ]; then
        gen_s=reused
        return 0
    fi
    rm -f "$scratch/$1.rows"
    say "$1: filling a fresh database with $ROWS enrollments"
    t0=$(date +%s)
    if [ "$1" = sqlite ]; then
        rm -rf "$scratch/sqlite"
        mkdir -p "$scratch/sqlite"
        sqlite3 -bail "$scratch/sqlite/scep.sqlite" < "$top/conf/schema-sqlite3.sql" >/dev/null
        records_sql sqlite "$ROWS" "$ca" "$(date +%s)" "$top/conf/schema-sqlite3.sql" \
            | sqlite3 -bail "$scratch/sqlite/scep.sqlite" >/dev/null || die "cannot fill SQLite"
        if [ "${ADMIN_SQLITE_ANALYZE:-0}" = 1 ]; then
            sqlite3 -bail "$scratch/sqlite/scep.sqlite" 'ANALYZE' || die "ANALYZE failed"
        fi
    else
        $pg_run "$pgbin/dropdb" --if-exists -h "$scratch/pg/sock" -p "$PGPORT" -U scep scep 2>/dev/null
        $pg_run "$pgbin/createdb" -h "$scratch/pg/sock" -p "$PGPORT" -U scep scep
        pg_psql -d scep -f "$top/conf/schema-pgsql.sql" >/dev/null
        records_sql pgsql "$ROWS" "$ca" "$(date +%s)" "$top/conf/schema-pgsql.sql" \
            | pg_psql -d scep >/dev/null || die "cannot fill PostgreSQL"
    fi
    gen_s=$(( $(date +%s) - t0 ))
    echo "$ROWS" > "$scratch/$1.rows"
    say "$1: filled in ${gen_s}s"
}

# db_facts DB: size, row counts and whether the indexes are the schema's,
# as lines of the report
db_facts() {
    if [ "$1" = sqlite ]; then
        bytes=$(( $(stat -c %s "$scratch/sqlite/scep.sqlite") \
                  + $(stat -c %s "$scratch/sqlite/scep.sqlite-wal" 2>/dev/null || echo 0) ))
        schema=$top/conf/schema-sqlite3.sql
        # (the automatic indexes of PRIMARY KEY and UNIQUE have no SQL)
        have=$(db_query sqlite "SELECT name FROM sqlite_master WHERE type = 'index'
                                AND sql IS NOT NULL ORDER BY 1")
    else
        bytes=$(db_query pgsql "SELECT pg_database_size('scep')")
        schema=$top/conf/schema-pgsql.sql
        have=$(db_query pgsql "SELECT c.relname FROM pg_index i
            JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public'
            AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
            ORDER BY 1")
    fi
    want=$(records_schema_indexes "$schema" | LC_ALL=C sort)
    have=$(echo "$have" | LC_ALL=C sort)
    now=$(date +%s)
    counts=$(db_query "$1" "SELECT
        (SELECT COUNT(*) FROM scep_transactions),
        (SELECT COUNT(*) FROM scep_transactions WHERE status = 'ISSUED'),
        (SELECT COUNT(*) FROM scep_transactions WHERE status = 'REJECTED'),
        (SELECT COUNT(*) FROM scep_transactions WHERE status = 'PENDING'),
        (SELECT COUNT(*) FROM scep_transactions WHERE created_at >= $now - 30 * 86400),
        (SELECT COUNT(*) FROM scep_certificates),
        (SELECT COUNT(*) FROM scep_certificates WHERE not_after > $now
                                                AND not_after <= $now + 30 * 86400),
        (SELECT COUNT(*) FROM scep_certificates WHERE revoked_at IS NOT NULL),
        (SELECT COUNT(*) FROM scep_names),
        (SELECT COUNT(*) FROM scep_audit)")
    echo "$counts" | awk -F'|' -v b="$bytes" -v g="$gen_s" '{
        printf "database: %.2f GB (%s bytes); filled in %s%s\n", b / 1e9, b, g, (g == "reused" ? "" : " s")
        printf "rows: scep_transactions %d (ISSUED %d, REJECTED %d, PENDING %d; %d in the last 30 days), ", $1, $2, $3, $4, $5
        printf "scep_certificates %d (%d expire within 30 days, %d revoked), scep_names %d, scep_audit %d\n", $6, $7, $8, $9, $10
    }'
    if [ "$have" = "$want" ]; then
        echo "indexes: exactly the $(echo "$want" | wc -l) of $(basename "$schema") (and the constraints')"
    else
        echo "WARNING: the indexes differ from $(basename "$schema"):"
        printf '%s\n' "$want" > "$scratch/want"; printf '%s\n' "$have" > "$scratch/have"
        diff "$scratch/want" "$scratch/have" | sed -n 's/^</  missing:/p; s/^>/  extra:/p'
    fi
}

# ---- httpd ---------------------------------------------------------------------
httpd_start() { # DB
    d=$scratch/httpd-$1
    rm -rf "$d"
    mkdir -p "$d/logs"
    if [ "$1" = sqlite ]; then
        [ "$root" = 1 ] && chown -R www-data:www-data "$scratch/sqlite"
        dbd='DBDriver sqlite3
DBDParams "'"$scratch/sqlite/scep.sqlite"'"
DBDInitSQL "PRAGMA journal_mode=WAL"'
    else
        dbd='DBDriver pgsql
DBDParams "host='"$scratch/pg/sock"' port='"$PGPORT"' dbname=scep user=scep"'
    fi
    locations=""
    for loc in /scep /scep-vpn /scep-wifi; do
        locations="$locations
<Location $loc>
    SetHandler scep
    SCEPChallengePasswordFile \"$scratch/pki/challenge\"
    SCEPValidity 365d
</Location>"
    done
    cat > "$d/httpd.conf" <<EOC
# bench/admin-scale.sh: mod_scep as the README configures it, event MPM
# defaults, three enrollment Locations and the admin Location.
ServerRoot "$d"
ServerName 127.0.0.1
Listen 127.0.0.1:$PORT
PidFile "$d/logs/httpd.pid"
ErrorLog "$d/logs/error_log"
LogLevel warn
$httpd_user
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule authz_user_module $modules/mod_authz_user.so
LoadModule authn_core_module $modules/mod_authn_core.so
LoadModule authn_file_module $modules/mod_authn_file.so
LoadModule auth_basic_module $modules/mod_auth_basic.so
LoadModule dbd_module $modules/mod_dbd.so
LoadModule scep_module $SCEP_SO
# %D: the server's own time for each request, in microseconds
LogFormat "%h %l %u %t \"%r\" %>s %b %D" timed
CustomLog "$d/logs/access_log" timed
LimitRequestLine 32768

$dbd

SCEPCACertificateFile "$scratch/pki/ca.pem"
SCEPCACertificateKeyFile "$scratch/pki/ca.key"
SCEPRACertificateFile "$scratch/pki/ra.pem"
SCEPRACertificateKeyFile "$scratch/pki/ra.key"
$locations
<Location /scep-admin>
    SetHandler scep-admin
    AuthType Basic
    AuthName "mod_scep admin bench"
    AuthUserFile "$scratch/pki/admins.htpasswd"
    Require valid-user
</Location>
EOC
    "$httpd" -t -f "$d/httpd.conf" >/dev/null 2>&1 || { "$httpd" -t -f "$d/httpd.conf"; die "bad httpd config"; }
    "$httpd" -f "$d/httpd.conf" -k start || die "httpd did not start (see $d/logs/error_log)"
    httpd_conf_current=$d/httpd.conf
    i=0
    until [ "$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' --max-time 5 \
               "http://127.0.0.1:$PORT/scep?operation=GetCACert" || true)" = 200 ]; do
        i=$((i + 1))
        [ $i -lt 100 ] || { tail -5 "$d/logs/error_log" >&2; die "httpd does not answer GetCACert"; }
        sleep 0.2
    done
}

httpd_stop() {
    [ -n "$httpd_conf_current" ] || return 0
    d=$(dirname "$httpd_conf_current")
    pid=$(cat "$d/logs/httpd.pid" 2>/dev/null || true)
    "$httpd" -f "$httpd_conf_current" -k stop >/dev/null 2>&1 || true
    i=0
    while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1; i=$((i + 1))
    done
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    # anything at [warn] or worse goes into the outputs
    grep -E '\] \[[a-z_]*:?(warn|error|crit|alert|emerg)\]' "$d/logs/error_log" \
        >> "$out/httpd-warnings.log" 2>/dev/null || true
    cp "$d/logs/access_log" "$out/access_log-$(basename "$d" | sed 's/^httpd-//')" 2>/dev/null || true
    httpd_conf_current=""
}

# ---- the timed requests ----------------------------------------------------------
# one request: "HTTP-status seconds bytes" (status 000 when it timed out
# or failed; never an error of this script)
fetch() {
    curl -s -o /dev/null -K "$curlrc" --noproxy '*' --max-time "$TIMEOUT" \
        -w '%{http_code} %{time_total} %{size_download}' "$1" 2>/dev/null || true
}

# time_url DB PATH: a warm-up, then TIMED requests of admin/PATH -> results.tsv
time_url() {
    url=http://127.0.0.1:$PORT/scep-admin/$2
    first=$(fetch "$url")
    : > "$scratch/times"
    n=0
    while [ $n -lt $TIMED ]; do
        fetch "$url" >> "$scratch/times"
        echo >> "$scratch/times"
        n=$((n + 1))
    done
    # statuses (each one seen, in order), first, median, max (ms), bytes of the last
    awk -v db="$1" -v path="/$2" -v first="$first" '
        NF { code[++n] = $1; ms[n] = $2 * 1000; bytes = $3
             if (!(($1) in seen)) { seen[$1] = 1; codes = codes (codes == "" ? "" : ",") $1 } }
        END {
            split(first, f, " ")
            for (i = 2; i <= n; i++) {          # insertion sort: five values
                v = ms[i]; j = i - 1
                while (j >= 1 && ms[j] > v) { ms[j + 1] = ms[j]; j-- }
                ms[j + 1] = v
            }
            printf "%s\t%s\t%s\t%.1f\t%.1f\t%.1f\t%s\n", db, path, codes, f[2] * 1000,
                   ms[int((n + 1) / 2)], ms[n], bytes
        }' "$scratch/times" >> "$results"
    tail -1 "$results" | awk -F'\t' '{ printf "   %-60s %s  first %s ms, median %s ms, max %s ms\n", $2, $3, $4, $5, $6 }' >&2
}

# sample_cert_b64 SERIAL NAME: base64 DER of a certificate with that serial
# and name, signed by the bench CA
sample_cert_b64() {
    printf 'subjectAltName = DNS:%s.example.com\nkeyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = clientAuth\n' "$2" > "$scratch/sample.ext"
    openssl req -new -newkey rsa:2048 -nodes -keyout /dev/null -subj "/CN=$2" 2>/dev/null |
        openssl x509 -req -CA "$scratch/pki/ca.pem" -CAkey "$scratch/pki/ca.key" \
            -set_serial "0x$1" -days 365 -outform DER -extfile "$scratch/sample.ext" 2>/dev/null |
        base64 -w0
}

# the URLs, relative to the admin Location. Their values come from the
# database: existing ids, a name, a serial, a transactionID, an address.
bench_db() { # DB
    [ "$1" = pgsql ] && [ "$pg_started" = 0 ] && pg_start
    db_make "$1"
    facts=$(db_facts "$1")
    printf '%s\n' "$facts" | sed 's/^/   /' >&2
    mid=$((ROWS / 2))
    near_issued() { echo $(( $1 - $1 % 50 + 10 )); }   # records.sh: i % 50 = 10 is ISSUED
    name=device$((ROWS * 123456 / 1000000))   # device123456 with 1M rows
    serial=$(db_query "$1" "SELECT serial FROM scep_transactions WHERE id = $(near_issued $((ROWS / 4)))")
    tid=$(db_query "$1" "SELECT transaction_id FROM scep_transactions WHERE id = $((3 * ROWS / 4))")
    addr=$(db_query "$1" "SELECT client_addr FROM scep_transactions WHERE id = $((9 * ROWS / 10))")
    if [ -z "$serial" ] || [ -z "$tid" ] || [ -z "$addr" ]; then die "$1: the sample rows are missing"; fi
    # the generated rows carry filler bytes for a certificate, which the
    # detail view rightly refuses to decode: the sample serial gets a real one
    db_query "$1" "UPDATE scep_certificates SET der = '$(sample_cert_b64 "$serial" "$name")'
                   WHERE serial = '$serial'" >/dev/null
    since=$(date -u -d '10 days ago' +%Y-%m-%d)
    today=$(date -u +%Y-%m-%d)
    old_since=$(date -u -d '2 years ago' +%Y-%m-%d)     # a month, far back
    old_until=$(date -u -d '2 years ago + 30 days' +%Y-%m-%d)
    say "$1: httpd on 127.0.0.1:$PORT, $TIMED timed requests per URL after one warm-up"
    httpd_start "$1"
    for path in \
        "" \
        "?before=$mid" \
        "?q=$name" \
        "?q=$serial" \
        "?q=$tid" \
        "?q=$addr" \
        "?status=REJECTED&profile=/scep-vpn" \
        "?since=$since&until=$today" \
        "?since=$old_since&until=$old_until" \
        "?status=PENDING&profile=/scep-wifi&since=$old_since" \
        "?q=device1234&status=ISSUED" \
        "expiring?days=30" \
        "certificates/$serial" \
        "api/enrollments" \
        "api/enrollments?q=$name" \
        "api/enrollments?status=PENDING&limit=100" \
        "api/stats" \
        "api/audit" \
        "api/certificates?expiring_within=30" \
        "api/enrollments/$mid" \
        "api/certificates/$serial"
    do
        time_url "$1" "$path"
    done
    httpd_stop
    {
        echo "## $1"
        echo
        printf '%s\n' "$facts"
        echo "sample values: enrollment id $mid (the middle), name $name, serial $serial,"
        echo "  transactionID $tid, client address $addr"
        echo
        echo "| URL (below /scep-admin) | HTTP | first ms | median ms | max ms | bytes |"
        echo "|---|---|---:|---:|---:|---:|"
        # "= /": a search or filter (a parameter older servers do not know:
        # not before=, nor the API's status=) answered 200 with exactly the
        # plain list's size, as when the server ignores the parameter: the
        # figure is then the plain list's, not the search's
        awk -F'\t' -v db="$1" '
            FNR == NR { if ($1 == db && $3 == "200") size[$2] = $7; next }
            $1 != db { next }
            {
                plain = ($2 ~ /^\/\?/ && $2 !~ /^\/\?before=/) ? "/" \
                      : ($2 ~ /^\/api\/enrollments\?/ && $2 !~ /^\/api\/enrollments\?status=/) ? "/api/enrollments" : ""
                same = (plain != "" && $3 == "200" && size[plain] == $7) ? " (= " plain ")" : ""
                printf "| `%s` | %s | %s | %s | %s | %s%s |\n", $2, $3, $4, $5, $6, $7, same
            }' "$results" "$results"
        echo
    } >> "$scratch/sections"
    if [ "$KEEP" != 1 ]; then   # a few GB each: one database on disk at a time
        if [ "$1" = sqlite ]; then rm -rf "$scratch/sqlite"; else pg_stop; rm -rf "$scratch/pg"; fi
        rm -f "$scratch/$1.rows"
    fi
}

: > "$scratch/sections"
for db in $DBS; do
    bench_db "$db"
done
[ "$pg_started" = 1 ] && pg_stop

# ---- the report ------------------------------------------------------------------
{
    echo "# admin page and API with $ROWS enrollments ($stamp)"
    echo
    echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "module: $SCEP_SO ($(git -C "$top" describe --always --dirty 2>/dev/null || echo 'no git'))"
    echo "each URL: one warm-up request (first), then $TIMED timed (median, max), curl time_total"
    echo "over 127.0.0.1, HTTP Basic; HTTP lists every status seen; bytes \"(= /)\": the same size as"
    echo "the unfiltered list, as when the parameters are ignored; run time $(( $(date -u +%s) - started )) s"
    echo
    cat "$scratch/sections"
    if [ -s "$out/httpd-warnings.log" ]; then
        echo "httpd logged $(wc -l < "$out/httpd-warnings.log") line(s) at [warn] or worse: $out/httpd-warnings.log"
    fi
} > "$report"
cat "$report"
echo "outputs: $out"
