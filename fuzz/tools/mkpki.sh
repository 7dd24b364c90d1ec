#!/bin/sh
# Make the fixed, test-only PKI the fuzzers load (fuzz/pki/). It is
# committed on purpose: the seed messages in fuzz/corpus/ are encrypted to
# this RA, so the fuzzers can decrypt them and reach the CSR code. Never use
# these keys for anything else. Regenerating them invalidates the seeds: run
# tools/mkseeds.sh afterwards.
#   ca.pem/ca.key  root CA, RSA 2048, 20 years
#   ra.pem/ra.key  RA, RSA 1024 (cheap decrypt attempts), digitalSignature +
#                  keyEncipherment, issued by the CA
set -eu
dir=$(cd "$(dirname "$0")/.." && pwd)/pki
mkdir -p "$dir"
cd "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/ext.cnf" <<EOC
[ra]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOC
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 7300 \
    -subj "/O=mod_scep/CN=mod_scep Fuzz CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment" 2>/dev/null
openssl req -new -newkey rsa:1024 -nodes -keyout ra.key -out "$tmp/ra.csr" \
    -subj "/O=mod_scep/CN=mod_scep Fuzz CA RA" 2>/dev/null
openssl x509 -req -in "$tmp/ra.csr" -CA ca.pem -CAkey ca.key \
    -set_serial "0x$(openssl rand -hex 16)" -days 7300 -extfile "$tmp/ext.cnf" \
    -extensions ra -out ra.pem 2>/dev/null
chmod 644 ca.pem ca.key ra.pem ra.key
echo "fuzz PKI written to $dir"
