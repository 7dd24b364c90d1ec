#!/bin/sh
# Build mod_scep and run a demo SCEP service on 127.0.0.1 in the foreground:
# a demo CA + RA, SQLite records, a static challenge. Run as root on Debian 12.
#   SCEP_DEMO_DIR   state folder (default ./demo); re-running reuses its CA
#   SCEP_DEMO_PORT  port (default 8080)
#   SCEP_DEMO_MALLOC  jemalloc (default, when libjemalloc2 is installed) or glibc
set -eu
case ${SCEP_DEMO_MALLOC:-jemalloc} in
    jemalloc|glibc) ;;
    *) echo "SCEP_DEMO_MALLOC: jemalloc or glibc, not '$SCEP_DEMO_MALLOC'" >&2; exit 1 ;;
esac
cd "$(dirname "$0")"
top=$(pwd)
state=${SCEP_DEMO_DIR:-$top/demo}
port=${SCEP_DEMO_PORT:-8080}

./build-tools/install-deps.sh build
[ -f Makefile ] || { ./autogen.sh && ./configure; }
make -s

mkdir -p "$state"
state=$(cd "$state" && pwd)
./build-tools/make-pki.sh "$state/pki"
mkdir -p "$state/db" "$state/logs"
# what httpd's children (www-data, when started as root) read while they
# serve: the database, the admin users, the webhook receiver's certificate.
# A state folder they cannot enter (a clone in root's home, mode 700, or a
# mktemp -d) gets those in a folder of their own under /var/lib.
run="$state"
if [ "$(id -u)" = 0 ] && ! runuser -u www-data -- test -x "$state" 2>/dev/null; then
    run=/var/lib/mod_scep-demo/$(printf %s "$state" | sha256sum | cut -c1-16)
    mkdir -p "$run/db" "$run/pki"
    chmod 755 /var/lib/mod_scep-demo "$run" "$run/pki"
    if [ -f "$state/db/scep.sqlite" ] && [ ! -f "$run/db/scep.sqlite" ]; then
        cp "$state/db/scep.sqlite" "$run/db/scep.sqlite"
    fi
    echo "note: www-data cannot enter $state; the demo's database and the files the"
    echo "      children read are in $run"
fi
db="$run/db/scep.sqlite"
if [ -f "$db" ] && ! sqlite3 "$db" 'SELECT auth_failed FROM scep_transactions LIMIT 0' \
       >/dev/null 2>&1; then
    # a demo database from an older schema: keep it aside, start afresh
    mv "$db" "$db.old.$(date +%s)"
    rm -f "$db-wal" "$db-shm"
fi
if [ -f "$db" ] && ! sqlite3 "$db" 'SELECT lineage FROM scep_certificates LIMIT 0' \
       >/dev/null 2>&1; then
    # a demo database from before renewal was bound to its profile: upgrade it
    sqlite3 "$db" < conf/upgrade-0.2-sqlite3.sql >/dev/null
fi
if [ -f "$db" ] && ! sqlite3 "$db" 'SELECT trace FROM scep_transactions LIMIT 0' \
       >/dev/null 2>&1; then
    # a demo database from before the transactions kept their trace
    sqlite3 "$db" < conf/upgrade-0.3-sqlite3.sql >/dev/null
fi
# the schema file only adds what is missing
sqlite3 "$db" < conf/schema-sqlite3.sql >/dev/null
# the manual-approval Location has a challenge of its own: the /scep one
# must not let a request skip the administrator
if [ ! -f "$state/pki/challenge-approval" ]; then
    (umask 077; openssl rand -hex 16 > "$state/pki/challenge-approval")
fi
if [ ! -f "$state/pki/admin.password" ]; then
    (umask 077; openssl rand -hex 12 > "$state/pki/admin.password")
fi
# a local webhook receiver (python3) that allows every request and logs
# every notification: the /scep-webhook Location asks and tells it
hook_port=$((port + 1))
hook="$state/webhook"
hook_lines=""
if command -v python3 >/dev/null 2>&1; then
    mkdir -p "$hook"
    if [ ! -f "$hook/cert.pem" ]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
            -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
            -keyout "$hook/key.pem" -out "$hook/cert.pem" 2>/dev/null
        (umask 077; openssl rand -hex 32 > "$hook/secret")
    fi
    [ -f "$hook/mode" ] || echo allow > "$hook/mode"
    chmod 644 "$hook/cert.pem"
    if [ "$run" != "$state" ]; then
        cp "$hook/cert.pem" "$run/pki/webhook-cert.pem" && chmod 644 "$run/pki/webhook-cert.pem"
        hook_ca="$run/pki/webhook-cert.pem"
    else
        hook_ca="$hook/cert.pem"
    fi
    python3 t/tools/webhook-receiver.py --port "$hook_port" --cert "$hook/cert.pem" \
        --key "$hook/key.pem" --secret-file "$hook/secret" --log "$hook/requests.jsonl" \
        --mode-file "$hook/mode" > "$hook/receiver.log" 2>&1 &
    hook_pid=$!
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        grep -q listening "$hook/receiver.log" 2>/dev/null && break
        sleep 0.5
    done
fi
if [ -n "${hook_pid:-}" ] && grep -q listening "$hook/receiver.log" 2>/dev/null; then
    hook_lines="# asks the demo receiver before each issuance, tells it every outcome
<Location /scep-webhook>
    SetHandler scep
    SCEPValidationWebhook https://127.0.0.1:$hook_port/validate
    SCEPNotifyWebhook https://127.0.0.1:$hook_port/events
    SCEPWebhookSecretFile \"$hook/secret\"
    SCEPOutboundCAFile \"$hook_ca\"
    SCEPOutboundTimeout 5
</Location>"
elif [ -n "${hook_pid:-}" ]; then
    echo "the demo webhook receiver did not start (port $hook_port?): $hook/receiver.log" >&2
    kill "$hook_pid" 2>/dev/null || true
fi
htpasswd -bc "$run/pki/admins.htpasswd" admin "$(cat "$state/pki/admin.password")" 2>/dev/null
chmod 644 "$run/pki/admins.htpasswd"
httpd=$(apxs -q SBINDIR)/$(apxs -q TARGET)
modules=$(apxs -q LIBEXECDIR)
user_lines=""
if [ "$(id -u)" = 0 ]; then
    # children drop to www-data: it must be able to write the database
    chown -R www-data:www-data "$run/db"
    user_lines="User www-data
Group www-data"
fi
cat > "$state/httpd.conf" <<EOC
# Generated by demo.sh: a self-contained httpd for the mod_scep demo.
ServerRoot "$state"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$state/logs/httpd.pid"
ErrorLog "$state/logs/error_log"
LogLevel warn scep:info
$user_lines
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule authn_core_module $modules/mod_authn_core.so
LoadModule authn_file_module $modules/mod_authn_file.so
LoadModule auth_basic_module $modules/mod_auth_basic.so
LoadModule authz_user_module $modules/mod_authz_user.so
LoadModule dbd_module $modules/mod_dbd.so
LoadModule socache_shmcb_module $modules/mod_socache_shmcb.so
LoadModule scep_module $top/.libs/mod_scep.so
LogFormat "%h %l %u %t \"%r\" %>s %b" common
CustomLog "$state/logs/access_log" common
# sscep/Cisco/certmonger send PKIOperation by GET: long request lines
LimitRequestLine 32768

DBDriver sqlite3
DBDParams "$db"
# a fixed pool of SQLite connections per child (README, Sizing): the
# children's memory stays flat instead of growing with each connection added
DBDMin 4
DBDKeep 4
DBDMax 4
DBDInitSQL "PRAGMA journal_mode=WAL"

SCEPCACertificateFile "$state/pki/ca.pem"
SCEPCACertificateKeyFile "$state/pki/ca.key"
SCEPRACertificateFile "$state/pki/ra.pem"
SCEPRACertificateKeyFile "$state/pki/ra.key"

SCEPCRLValidity 7d

<Location /scep>
    SetHandler scep
    SCEPChallengePasswordFile "$state/pki/challenge"
    SCEPOneTimeChallenges on
    SCEPRenewal on
    SCEPValidity 365d
    SCEPCRLDistributionPoint http://127.0.0.1:$port/crl
    SCEPOCSPResponder http://127.0.0.1:$port/ocsp
</Location>
# requests here wait for an administrator (admin page below)
<Location /scep-approval>
    SetHandler scep
    SCEPChallengePasswordFile "$state/pki/challenge-approval"
    SCEPApproval manual
</Location>
# NDES's URLs: the SCEP service and the page MDMs fetch one-time challenges from
<Location /certsrv/mscep/mscep.dll>
    SetHandler scep
    SCEPProfileName mscep
    SCEPOneTimeChallenges on
</Location>
<Location /certsrv/mscep_admin>
    SetHandler scep-ndes
    SCEPNDESProfile mscep
    AuthType Basic
    AuthName "mod_scep demo NDES"
    AuthUserFile "$run/pki/admins.htpasswd"
    Require valid-user
</Location>
<Location /crl>
    SetHandler scep-crl
</Location>
# OCSP, by POST or by GET (RFC 5019: the request's base64 in the URL, where
# a '/' comes as %2F)
AllowEncodedSlashes NoDecode
<Location /ocsp>
    SetHandler scep-ocsp
</Location>
<Location /health>
    SetHandler scep-health
</Location>
<Location /metrics>
    SetHandler scep-metrics
</Location>
<Location /admin>
    SetHandler scep-admin
    AuthType Basic
    AuthName "mod_scep demo administration"
    AuthUserFile "$run/pki/admins.htpasswd"
    Require valid-user
</Location>
# micromdm's scepclient only speaks single DES + SHA-1
<Location /scep-legacy>
    SetHandler scep
    SCEPChallengePasswordFile "$state/pki/challenge"
    SCEPLegacyAlgorithms on
</Location>
$hook_lines
EOC
"$httpd" -t -f "$state/httpd.conf"
# httpd's malloc (README, Sizing): jemalloc, preloaded, spends about half
# the CPU glibc's malloc did on an enrollment's allocations (OpenSSL's,
# SQLite's), for more memory; with glibc, each worker thread that allocates
# gets an arena of its own that keeps its high-water mark, and two arenas
# keep httpd's memory flat
jemalloc=""
case ${SCEP_DEMO_MALLOC:-jemalloc} in
    jemalloc)
        jemalloc=$(./build-tools/find-jemalloc.sh)
        [ -n "$jemalloc" ] || echo "note: libjemalloc2 is not installed: httpd runs with glibc's malloc" ;;
esac
malloc_said="glibc, MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}"
[ -n "$jemalloc" ] && malloc_said="jemalloc, $jemalloc"
env MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" ${jemalloc:+LD_PRELOAD="$jemalloc"} \
    "$httpd" -f "$state/httpd.conf" -DFOREGROUND &
httpd_pid=$!
stop() {
    kill "$httpd_pid" 2>/dev/null || true
    [ -n "${hook_pid:-}" ] && kill "$hook_pid" 2>/dev/null
    wait 2>/dev/null
}
trap 'stop; exit 130' INT TERM
# the self-test: one enrollment against the demo, its certificate decrypted
# and checked; nothing is announced unless it works. A new key each run:
# the transactionID is the key's hash, and a second run's request (another
# subject) under the first one's ID is refused, as it should be
rm -rf "$state/selftest"
mkdir -p "$state/selftest"
selftest=$(./bench/scepbench -u "http://127.0.0.1:$port/scep" -n 1 -c 1 --wait 20 \
           --challenge-file "$state/pki/challenge" --decrypt-every 1 --cache "$state/selftest" \
           --cn-prefix demo-selftest -q 2>&1 | grep '^RESULT' || true)
case $selftest in
    *" ok=1 "*"decrypted=1"*)
        echo "self-test: enrolled one certificate at /scep and decrypted it: the demo works" ;;
    *)
        echo "self-test FAILED: ${selftest:-no answer from httpd}" >&2
        tail -5 "$state/logs/error_log" >&2
        stop
        exit 1 ;;
esac
# and the OCSP responder answers, signed by the CA
ocsp_check=$(openssl ocsp -issuer "$state/pki/ca.pem" -serial 0x01 -url "http://127.0.0.1:$port/ocsp" \
             -CAfile "$state/pki/ca.pem" 2>&1 || true)
case $ocsp_check in
    *"0x01: unknown"*"Response verify OK"*|*"Response verify OK"*"0x01: unknown"*)
        echo "self-test: the OCSP responder answers, signed by the CA" ;;
    *)
        echo "self-test FAILED: OCSP: $ocsp_check" >&2
        stop
        exit 1 ;;
esac
cat <<EOM

mod_scep demo
  SCEP URL:        http://127.0.0.1:$port/scep
  legacy URL:      http://127.0.0.1:$port/scep-legacy   (DES/MD5, for micromdm scepclient)
  manual approval: http://127.0.0.1:$port/scep-approval   (challenge $(cat "$state/pki/challenge-approval"))
  challenge:       $(cat "$state/pki/challenge")
  admin page:      http://127.0.0.1:$port/admin/  (user admin, password $(cat "$state/pki/admin.password"))
  NDES SCEP URL:   http://127.0.0.1:$port/certsrv/mscep/mscep.dll
  NDES challenges: http://127.0.0.1:$port/certsrv/mscep_admin/  (admin credentials above)
  CRL:             http://127.0.0.1:$port/crl
  OCSP:            http://127.0.0.1:$port/ocsp   (named in the certificates /scep issues)
  health:          http://127.0.0.1:$port/health   (JSON for load balancers)
  metrics:         http://127.0.0.1:$port/metrics  (Prometheus)
  CA certificate:  $state/pki/ca.pem
  malloc:          $malloc_said   (SCEP_DEMO_MALLOC; README, Sizing)
  records:         sqlite3 $db 'select * from scep_certificates'
  error log:       $state/logs/error_log
  try:             curl 'http://127.0.0.1:$port/scep?operation=GetCACaps'
EOM
if [ -n "$hook_lines" ]; then
    cat <<EOM
  webhook URL:     http://127.0.0.1:$port/scep-webhook   (any challenge: the receiver decides)
  receiver:        https://127.0.0.1:$hook_port (t/tools/webhook-receiver.py); it logs to
                   $hook/requests.jsonl; echo 'deny not enrolled' > $hook/mode to refuse
EOM
else
    echo "  (no python3: the webhook demo Location is left out; see docs/mdm.md)"
fi
echo "Stop with Ctrl-C."
wait "$httpd_pid"
