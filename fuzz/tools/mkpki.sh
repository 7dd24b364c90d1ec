#!/bin/sh
# Make the fixed, test-only PKI the fuzzers load (fuzz/pki/). It is
# committed on purpose: the seed messages in fuzz/corpus/ are encrypted to
# this RA, so the fuzzers can decrypt them and reach the CSR code. Never use
# these keys for anything else. Regenerating them invalidates the seeds: run
# tools/mkseeds.sh afterwards.
#   ca.pem/ca.key  root CA, RSA 2048, 20 years
#   ra.pem/ra.key  RA, RSA 1024 (cheap decrypt attempts), digitalSignature +
#                  keyEncipherment, issued by the CA
# The recipe is build-tools/make-pki.sh's, as for every other PKI.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=$top/fuzz/pki
# make-pki.sh keeps what exists: a new pair replaces the old one
rm -f "$dir/ca.pem" "$dir/ca.key" "$dir/ra.pem" "$dir/ra.key"
"$top/build-tools/make-pki.sh" --ca-days 7300 --ra-days 7300 --ra-bits 1024 --no-challenge \
    "$dir" "mod_scep Fuzz CA"
chmod 644 "$dir/ca.key" "$dir/ra.key"
echo "fuzz PKI written to $dir"
