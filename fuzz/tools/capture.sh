#!/bin/sh
# Capture what real SCEP clients send, as fuzz seeds: micromdm's scepclient
# (POST, DER, DES + SHA-1) and certmonger (its scep-submit helper: GET
# message=<%-escaped base64>, AES-256 + SHA-256), talking to the demo server
# (demo.sh) through a logging proxy (capture_proxy.py). The demo runs with
# the fuzz PKI (fuzz/pki), so the fuzzers can decrypt what was captured.
# Also keeps a CRL from the demo's /crl and a CertRep reply.
# Run as root on Debian 12 (demo.sh builds and starts httpd):
#   fuzz/tools/capture.sh        state in /tmp/fuzzdemo, ports 18999/18998
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
top=$(cd "$here/.." && pwd)
state=${SCEP_DEMO_DIR:-/tmp/fuzzdemo}
port=${SCEP_DEMO_PORT:-18999}
pport=$((port - 1))
cap=$state/capture
corpus=$here/corpus
work=$state/clients

rm -rf "$cap" "$work"
mkdir -p "$state/pki" "$cap" "$work"
for f in ca.pem ca.key ra.pem ra.key; do
    cp "$here/pki/$f" "$state/pki/$f"
done

demo_pid=""
proxy_pid=""
cleanup() {
    if [ -n "$proxy_pid" ]; then kill "$proxy_pid" 2>/dev/null || true; fi
    if [ -n "$demo_pid" ]; then
        kill "$demo_pid" 2>/dev/null || true
        wait "$demo_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

SCEP_DEMO_DIR=$state SCEP_DEMO_PORT=$port "$top/demo.sh" > "$state/demo.out" 2>&1 &
demo_pid=$!
i=0
until curl -fs "http://127.0.0.1:$port/scep?operation=GetCACaps" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 120 ] || ! kill -0 "$demo_pid" 2>/dev/null; then
        cat "$state/demo.out" >&2
        echo "capture.sh: the demo server did not start" >&2
        exit 1
    fi
    sleep 1
done
challenge=$(cat "$state/pki/challenge")
python3 "$here/tools/capture_proxy.py" "$pport" "$port" "$cap" &
proxy_pid=$!
sleep 1
url=http://127.0.0.1:$pport

# micromdm scepclient: PKCS#1 key, POST DER to the legacy Location
openssl genrsa -traditional -out "$work/mdm.key" 2048 2>/dev/null
(cd "$work" && scepclient -server-url "$url/scep-legacy" -private-key mdm.key \
    -certificate mdm.pem -challenge "$challenge" -cn fuzz-mdm) > "$work/scepclient.out" 2>&1 \
    || echo "capture.sh: scepclient failed (see $work/scepclient.out)" >&2

# certmonger on a private session bus; its scep-submit sends the request
cm=$work/certmonger
mkdir -p "$cm/home" "$cm/config" "$cm/requests" "$cm/cas" "$cm/local" "$cm/tmp"
HOME=$cm/home CERTMONGER_CONFIG_DIR=$cm/config CERTMONGER_REQUESTS_DIR=$cm/requests \
CERTMONGER_CAS_DIR=$cm/cas CERTMONGER_LOCAL_CA_DIR=$cm/local CERTMONGER_TMPDIR=$cm/tmp \
    dbus-run-session -- sh -c "
        certmonger -s -n > '$cm/daemon.out' 2>&1 &
        cmpid=\$!
        sleep 2
        getcert add-scep-ca -s -c fuzz -u '$url/scep' -N '$state/pki/ca.pem'
        sleep 2
        getcert request -s -c fuzz -f '$cm/cert.pem' -k '$cm/key.pem' -L '$challenge' \
            -N CN=fuzz-certmonger -D fuzz-certmonger.example.com -w -v || true
        getcert list -s
        kill \$cmpid
    " > "$work/certmonger.out" 2>&1 || echo "capture.sh: certmonger failed (see $work/certmonger.out)" >&2

curl -fs "http://127.0.0.1:$port/crl" -o "$cap/crl.der" || true
cat "$cap/index"

# ---- keep the interesting ones as seeds ---------------------------------
# POSTs: the DER body (pkimessage) and the same as a query-harness input
for b in "$cap"/*.body; do
    [ -f "$b" ] || continue
    n=$(basename "$b" .body)
    cp "$b" "$corpus/pkimessage/capture-scepclient-$n.der"
    cp "$b" "$corpus/query/capture-scepclient-post-$n"
done
# GET PKIOperation: the raw query (query harness) and its decoded DER
for q in "$cap"/*.query; do
    n=$(basename "$q" .query)
    grep -q 'operation=PKIOperation' "$q" || continue
    [ -f "$cap/$n.body" ] && continue
    cp "$q" "$corpus/query/capture-certmonger-get-$n"
    python3 - "$q" "$corpus/pkimessage/capture-certmonger-$n.der" <<'EOP'
import base64, sys, urllib.parse
q = open(sys.argv[1]).read()
for part in q.split("&"):
    k, _, v = part.partition("=")
    if k == "message":
        s = urllib.parse.unquote(v)      # never unquote_plus: '+' stays '+'
        s = s.replace("-", "+").replace("_", "/")
        s += "=" * (-len(s) % 4)
        open(sys.argv[2], "wb").write(base64.b64decode(s))
EOP
done
# one CertRep (any PKIOperation reply with a pki-message type)
rep=$(awk '$4 == "application/x-pki-message" {print $1; exit}' "$cap/index")
[ -n "$rep" ] && cp "$cap/$rep.resp" "$corpus/pkimessage/capture-certrep-$rep.der"
[ -s "$cap/crl.der" ] && cp "$cap/crl.der" "$corpus/ias/capture-demo-crl.der"
# the clients' CSRs, decrypted with the fuzz RA (csr harness)
for m in "$corpus"/pkimessage/capture-scepclient-*.der "$corpus"/pkimessage/capture-certmonger-*.der; do
    [ -f "$m" ] || continue
    openssl cms -verify -noverify -binary -inform DER -in "$m" 2>/dev/null \
        | openssl cms -decrypt -provider legacy -provider default -binary -inform DER \
              -recip "$here/pki/ra.pem" -inkey "$here/pki/ra.key" \
              -out "$corpus/csr/$(basename "$m")" \
        || echo "capture.sh: cannot decrypt $m" >&2
done
echo "capture.sh: seeds added to $corpus"
