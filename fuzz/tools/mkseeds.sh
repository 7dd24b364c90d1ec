#!/bin/sh
# Regenerate the synthetic seeds of fuzz/corpus/ against the fuzz PKI
# (fuzz/pki): pkiMessages built with client/scepreq (independent of
# libscep) in several ciphers, digests and message types, CSRs made with
# openssl req, IssuerAndSerial/IssuerAndSubject payloads and CRLs, and
# query strings. Captured client traffic (micromdm scepclient, certmonger)
# comes from tools/capture.sh and is kept as is.
# Usage: fuzz/tools/mkseeds.sh   (needs openssl and a configured tree; run from anywhere)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
top=$(cd "$here/.." && pwd)
pki=$here/pki
corpus=$here/corpus
scepreq=$top/client/scepreq
make -s -C "$top" client/scepreq >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$corpus/pkimessage" "$corpus/query" "$corpus/csr" "$corpus/ias"
cd "$tmp"

# ---- keys, a certificate issued by the fuzz CA (renewal, GetCert) --------
openssl genrsa -out rsa2048.key 2048 2>/dev/null
openssl genrsa -out rsa1024.key 1024 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256.key 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.key 2>/dev/null
openssl genpkey -algorithm ED25519 -out ed25519.key 2>/dev/null
openssl req -new -key rsa2048.key -subj "/CN=renew.example.com" -out issued.csr 2>/dev/null
openssl x509 -req -in issued.csr -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -days 30 \
    -set_serial 0x1234ABCD -out issued.pem 2>/dev/null

# ---- CSRs ---------------------------------------------------------------
cat > req.cnf <<'EOC'
[req]
distinguished_name = dn
attributes = attrs
prompt = no
[dn]
CN = host1.example.com
[attrs]
challengePassword = fuzz-challenge
[full]
subjectAltName = DNS:host1.example.com,DNS:evil.org,IP:10.1.2.3,IP:192.168.1.1,IP:fd00::1,email:a@example.com,URI:https://example.com/x,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:alice@corp
keyUsage = critical,digitalSignature,keyEncipherment,keyCertSign
extendedKeyUsage = serverAuth,clientAuth,codeSigning
basicConstraints = critical,CA:FALSE
subjectKeyIdentifier = hash
1.3.6.1.4.1.311.20.2 = ASN1:BMPSTRING:WebServer
[ca]
basicConstraints = critical,CA:TRUE
[tmpl_utf8]
1.3.6.1.4.1.311.20.2 = ASN1:UTF8String:Machine
keyUsage = digitalSignature
[upn_bad]
subjectAltName = otherName:1.3.6.1.4.1.311.20.2.3;INTEGER:5,otherName:1.2.3.4;UTF8:x,dirName:dir_sect
[dir_sect]
CN = inner
EOC
csr() {   # name key subject [extension section] [extra args]
    n=$1; k=$2; s=$3; shift 3
    ext=""
    if [ $# -gt 0 ] && [ -n "$1" ]; then ext="-reqexts $1"; fi
    [ $# -gt 0 ] && shift
    # shellcheck disable=SC2086
    openssl req -new -config req.cnf -key "$k" -subj "$s" $ext -outform DER \
        -out "$corpus/csr/$n.der" "$@" 2>/dev/null
}
csr rsa-cn          rsa2048.key "/CN=dev1"
csr rsa-full        rsa2048.key "/C=US/O=Example/OU=a/OU=b/CN=host1.example.com/emailAddress=x@example.com/serialNumber=00AB12" full
csr rsa-ca          rsa2048.key "/CN=ca.example.com" ca
csr rsa1024-small   rsa1024.key "/CN=small"
csr ec-p256         p256.key    "/CN=ec.example.com/UID=u1" full
csr ec-p384-tmpl    p384.key    "/CN=p384.example.com" tmpl_utf8 -sha384
csr ed25519         ed25519.key "/CN=ed.example.com"
csr rsa-utf8        rsa2048.key "/CN=h\\C3\\A9llo.example.com/O=\\E2\\82\\AC" "" -utf8
csr rsa-multirdn    rsa2048.key "/CN=a.example.com+OU=x/DC=example/DC=com" "" -multivalue-rdn
csr rsa-upn-bad     rsa2048.key "/CN=x.example.com" upn_bad
openssl req -new -key rsa2048.key -subj "/" -outform DER -out "$corpus/csr/rsa-empty-subject.der" 2>/dev/null || true
# text seeds for scep_policy_parse_subject / scep_policy_parse_sans
printf '/CN=device1/O=Example Corp/OU=a\\/b' > "$corpus/csr/text-subject"
printf 'dns:a.example.com\nip:10.0.0.1\r\nip:fd00::2\nemail:x@example.com\nuri:https://e.x/\nupn:alice@corp\n' \
    > "$corpus/csr/text-sans"

# ---- pkiMessages --------------------------------------------------------
msg() {   # name args...
    n=$1; shift
    "$scepreq" build --recipient "$pki/ra.pem" --key rsa2048.key \
        --challenge fuzz-challenge "$@" -o "$corpus/pkimessage/$n.der" >/dev/null
}
msg pkcsreq-aes128-sha256   --subject /CN=dev1
msg pkcsreq-des3-sha1       --cipher des3 --digest sha1 --subject /CN=dev2
msg pkcsreq-aes256-sha512   --cipher aes256 --digest sha512 --san-dns a.example.com
msg pkcsreq-aes192-sha384   --cipher aes192 --digest sha384 --challenge-utf8
msg pkcsreq-des-md5         --cipher des --digest md5 --csr-digest sha1
msg pkcsreq-aes128-sha224   --digest sha224 --tid 12345678901234567890123456789012345678901234567890123456789012345678901234567
msg pkcsreq-ec-p256         --key p256.key --csr "$corpus/csr/ec-p256.der"
msg pkcsreq-full-csr        --csr "$corpus/csr/rsa-full.der"
msg pkcsreq-template        --csr "$corpus/csr/ec-p384-tmpl.der" --signer-self-key p384.key
msg renewalreq              --type 17 --signer-cert issued.pem --signer-key rsa2048.key
msg pkcsreq-renew-signed    --signer-cert issued.pem --signer-key rsa2048.key --nonce 00112233
msg certpoll                --type 20 --issuer-subject "$pki/ca.pem" --subject /CN=dev1
msg getcert                 --type 21 --issuer-serial issued.pem
msg getcrl                  --type 22 --issuer-serial "$pki/ca.pem"
msg updatereq               --type 18
msg certrep-type            --type 3
msg omit-tid                --omit tid
msg tamper-signature        --tamper signature
msg tamper-content          --tamper content
msg no-envelope             --no-envelope
msg payload-junk            --payload "$pki/ca.pem"

# ---- IssuerAndSerial / IssuerAndSubject / CRLs ---------------------------
plain() {   # name args...: the plaintext payload, via --no-envelope
    n=$1; shift
    "$scepreq" build --recipient "$pki/ra.pem" --key rsa2048.key --no-envelope "$@" \
        -o plain.der >/dev/null
    openssl cms -verify -noverify -binary -inform DER -in plain.der \
        -out "$corpus/ias/$n.der" 2>/dev/null
}
plain ias-issued      --type 21 --issuer-serial issued.pem
plain ias-ca          --type 22 --issuer-serial "$pki/ca.pem"
plain iasubject       --type 20 --issuer-subject "$pki/ca.pem" --subject /CN=dev1/O=Example
mkdir -p ca/newcerts
: > ca/index.txt
echo 1000 > ca/crlnumber
printf 'V\t300101000000Z\t\t1234ABCD\tunknown\t/CN=renew.example.com\n' > ca/index.txt
cat > ca.cnf <<EOC
[ca]
default_ca = fz
[fz]
dir = ca
database = ca/index.txt
crlnumber = ca/crlnumber
certificate = $pki/ca.pem
private_key = $pki/ca.key
default_md = sha256
default_crl_days = 7
new_certs_dir = ca/newcerts
[crl_ext]
authorityKeyIdentifier = keyid:always
EOC
openssl ca -config ca.cnf -gencrl -crlexts crl_ext -out crl0.pem 2>/dev/null
openssl crl -in crl0.pem -outform DER -out "$corpus/ias/crl-empty.der"
openssl ca -config ca.cnf -revoke issued.pem -crl_reason keyCompromise 2>/dev/null
openssl ca -config ca.cnf -gencrl -crlexts crl_ext -out crl1.pem 2>/dev/null
openssl crl -in crl1.pem -outform DER -out "$corpus/ias/crl-revoked.der"

# ---- query strings ------------------------------------------------------
q=$corpus/query
printf 'operation=GetCACaps' > "$q/getcacaps"
printf 'operation=GetCACert&message=CAIdentifier' > "$q/getcacert"
printf 'operation=GetNextCACert' > "$q/getnextcacert"
printf 'operation=GetCACaps&message=0&operation=PKIOperation' > "$q/duplicate-keys"
printf 'Operation=%%50KIOperation&message=%%zz%%4&=x&&flag' > "$q/escapes"
small=$corpus/pkimessage/pkcsreq-des3-sha1.der
# standard base64, literal '+', as Apple and mod_scep's handler keep it
printf 'operation=PKIOperation&message=%s' "$(openssl base64 -A -in "$small")" > "$q/get-b64"
# URL-safe, unpadded (micromdm GET)
printf 'operation=PKIOperation&message=%s' \
    "$(openssl base64 -A -in "$corpus/pkimessage/certpoll.der" | tr '+/' '-_' | tr -d '=')" \
    > "$q/get-b64url"
# line-wrapped with %0A, as sscep sends it
printf 'operation=PKIOperation&message=%s' \
    "$(openssl base64 -in "$corpus/pkimessage/getcrl.der" | sed 's/+/%2B/g; s/\//%2F/g; s/=/%3D/g' \
       | awk '{printf "%s%%0A", $0}')" > "$q/get-sscep-wrapped"
# raw DER: what a POST body is
cp "$corpus/pkimessage/pkcsreq-des-md5.der" "$q/post-der"
openssl base64 -in "$corpus/pkimessage/getcert.der" > "$q/post-b64"
echo "seeds written to $corpus"
