#!/bin/sh
# The one recipe for mod_scep's PKIs: the demo (demo.sh), the benchmark
# (bench/run.sh), the Apache::Test suite (t/TEST.PL, t/lib/SCEPLifecycle.pm)
# and the fuzzers (fuzz/tools/mkpki.sh).
#
# make-pki.sh [options] DIR [CA-NAME [RA-NAME]]
#   makes in DIR (idempotent: existing files are kept):
#     ca.pem/ca.key   CA "CA-NAME" (default "mod_scep Demo CA"), RSA 2048,
#                     self-signed: keyCertSign, cRLSign, digitalSignature,
#                     keyEncipherment
#     ra.pem/ra.key   RA "RA-NAME" (default "CA-NAME RA") issued by the CA:
#                     digitalSignature + keyEncipherment
#     ocsp.pem/ocsp.key  a delegated OCSP responder issued by the CA:
#                     digitalSignature, OCSPSigning, ocsp-nocheck
#     challenge       a random static challenge password
#   --issuer CA-DIR   the CA is an intermediate (pathlen:0) issued by the CA
#                     in CA-DIR; chain.pem holds that CA's certificate
#   --sign-only       a self-signed CA with keyCertSign + cRLSign only (it
#                     cannot decrypt: it needs its RA)
#   --ca-days N       the CA's validity (3650)
#   --ra-days N       the RA's validity (1825)
#   --ra-bits N       the RA's RSA key size (2048)
#   --no-challenge    no challenge file
#   --ca-key SPEC     the CA's key: rsa:2048 (default), ec:P-256, ec:P-384
#                     (an EC CA needs an RA: its keyUsage has no
#                     keyEncipherment)
#   --split-ra [SPEC] also ra-sig.pem/key (digitalSignature only; key SPEC,
#                     default rsa:2048) and ra-enc.pem/key (keyEncipherment
#                     only, RSA): an RA that signs beside one that decrypts
#
# make-pki.sh --cert CA-DIR KEY SUBJECT OUT [START END]
#   a client certificate (clientAuth; digitalSignature, keyEncipherment)
#   for the existing KEY, issued by the CA in CA-DIR, valid from START to
#   END (YYYYMMDDHHMMSSZ; default: now, for 30 days), written to OUT
set -eu
usage() {
    echo "usage: make-pki.sh [--issuer CA-DIR] [--sign-only] [--ca-days N] [--ra-days N]" \
         "[--ra-bits N] [--no-challenge] DIR [CA-NAME [RA-NAME]]" >&2
    echo "       make-pki.sh --cert CA-DIR KEY SUBJECT OUT [START END]" >&2
    exit 2
}

# the extensions of every certificate this script issues
write_ext() {
    cat > "$1" <<EOC
[sub_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign, digitalSignature, keyEncipherment
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ra]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ra_sig]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ra_enc]
basicConstraints = critical, CA:FALSE
keyUsage = critical, keyEncipherment
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ocsp]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = OCSPSigning
noCheck = ignored
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOC
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
write_ext "$tmp/ext.cnf"

# quiet COMMAND...: openssl's chatter only when it fails
quiet() {
    "$@" 2>"$tmp/err" || { cat "$tmp/err" >&2; return 1; }
}

# issue CA-DIR CSR SECTION DAYS OUT: a certificate with a random serial
issue() {
    quiet openssl x509 -req -in "$2" -CA "$1/ca.pem" -CAkey "$1/ca.key" \
        -set_serial "0x$(openssl rand -hex 16)" -days "$4" \
        -extfile "$tmp/ext.cnf" -extensions "$3" -out "$5"
}

if [ "${1:-}" = --cert ]; then
    [ $# -eq 5 ] || [ $# -eq 7 ] || usage
    ca=$2 key=$3 subject=$4 out=$5
    # openssl ca, not x509 -req: only it takes a start and an end date
    : > "$tmp/index.txt"
    openssl rand -hex 16 > "$tmp/serial"
    cat > "$tmp/ca.cnf" <<EOC
[ca]
default_ca = this
[this]
database = $tmp/index.txt
serial = $tmp/serial
new_certs_dir = $tmp
default_md = sha256
default_days = 30
policy = any
unique_subject = no
email_in_dn = no
[any]
commonName = supplied
EOC
    cat "$tmp/ext.cnf" >> "$tmp/ca.cnf"
    quiet openssl req -new -key "$key" -subj "$subject" -out "$tmp/req.csr"
    if [ $# -eq 7 ]; then
        set -- -startdate "$6" -enddate "$7"
    else
        set --
    fi
    quiet openssl ca -config "$tmp/ca.cnf" -batch -notext \
        -cert "$ca/ca.pem" -keyfile "$ca/ca.key" -extensions client "$@" \
        -in "$tmp/req.csr" -out "$out"
    exit 0
fi

issuer='' usage_ca=keyCertSign,cRLSign,digitalSignature,keyEncipherment
ca_days=3650 ra_days=1825 ra_bits=2048 challenge=1 ca_key=rsa:2048 split_ra=''
while [ $# -gt 0 ]; do
    case $1 in
        --issuer) [ $# -ge 2 ] || usage; issuer=$(cd "$2" && pwd); shift 2 ;;
        --sign-only) usage_ca=keyCertSign,cRLSign; shift ;;
        --ca-days) [ $# -ge 2 ] || usage; ca_days=$2; shift 2 ;;
        --ra-days) [ $# -ge 2 ] || usage; ra_days=$2; shift 2 ;;
        --ra-bits) [ $# -ge 2 ] || usage; ra_bits=$2; shift 2 ;;
        --no-challenge) challenge=0; shift ;;
        --ca-key) [ $# -ge 2 ] || usage; ca_key=$2; shift 2 ;;
        --split-ra)
            split_ra=rsa:2048; shift
            case ${1:-} in rsa:*|ec:*) split_ra=$1; shift ;; esac ;;
        -*) usage ;;
        *) break ;;
    esac
done
dir=${1:-}
[ -n "$dir" ] || usage
name=${2:-mod_scep Demo CA}
ra_name=${3:-$name RA}
mkdir -p "$dir"
cd "$dir"
umask 077
# newkey SPEC: openssl req's arguments for a new key of SPEC
newkey() {
    case $1 in
        ec:*) echo "-newkey ec -pkeyopt ec_paramgen_curve:${1#ec:}" ;;
        rsa:*) echo "-newkey $1" ;;
        *) echo "make-pki.sh: unknown key $1" >&2; exit 2 ;;
    esac
}
case $ca_key in ec:*) usage_ca=keyCertSign,cRLSign,digitalSignature ;; esac
if [ ! -f ca.pem ]; then
    if [ -n "$issuer" ]; then
        quiet openssl req -new -newkey rsa:2048 -nodes -keyout ca.key -out "$tmp/ca.csr" \
            -subj "/O=mod_scep/CN=$name"
        issue "$issuer" "$tmp/ca.csr" sub_ca "$ca_days" ca.pem
        cp "$issuer/ca.pem" chain.pem
    else
        # shellcheck disable=SC2046
        quiet openssl req -x509 $(newkey "$ca_key") -nodes -keyout ca.key -out ca.pem -days "$ca_days" \
            -subj "/O=mod_scep/CN=$name" -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,$usage_ca"
    fi
    quiet openssl req -new -newkey "rsa:$ra_bits" -nodes -keyout ra.key -out "$tmp/ra.csr" \
        -subj "/O=mod_scep/CN=$ra_name"
    issue . "$tmp/ra.csr" ra "$ra_days" ra.pem
fi
if [ ! -f ocsp.pem ]; then
    quiet openssl req -new -newkey rsa:2048 -nodes -keyout ocsp.key -out "$tmp/ocsp.csr" \
        -subj "/O=mod_scep/CN=$name OCSP responder"
    issue . "$tmp/ocsp.csr" ocsp "$ra_days" ocsp.pem
fi
if [ -n "$split_ra" ] && [ ! -f ra-enc.pem ]; then
    # shellcheck disable=SC2046
    quiet openssl req -new $(newkey "$split_ra") -nodes -keyout ra-sig.key -out "$tmp/sig.csr" \
        -subj "/O=mod_scep/CN=$ra_name signing"
    issue . "$tmp/sig.csr" ra_sig "$ra_days" ra-sig.pem
    quiet openssl req -new -newkey "rsa:$ra_bits" -nodes -keyout ra-enc.key -out "$tmp/enc.csr" \
        -subj "/O=mod_scep/CN=$ra_name encryption"
    issue . "$tmp/enc.csr" ra_enc "$ra_days" ra-enc.pem
    chmod 644 ra-sig.pem ra-enc.pem
fi
if [ "$challenge" = 1 ] && [ ! -f challenge ]; then
    openssl rand -hex 16 > challenge
fi
chmod 644 ca.pem ra.pem ocsp.pem
[ -f chain.pem ] && chmod 644 chain.pem
exit 0
