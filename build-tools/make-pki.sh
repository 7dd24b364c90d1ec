#!/bin/sh
# Make a demo/test PKI in DIR (idempotent: existing files are kept).
#   ca.pem/ca.key      root CA, RSA 2048
#   ra.pem/ra.key      RA issued by the CA: digitalSignature + keyEncipherment
#   challenge          a random static challenge password
set -eu
dir=${1:?usage: make-pki.sh DIR [CA-NAME]}
name=${2:-mod_scep Demo CA}
mkdir -p "$dir"
cd "$dir"
umask 077
if [ ! -f ca.pem ]; then
    cat > ext.cnf <<EOC
[ra]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOC
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 \
        -subj "/O=mod_scep/CN=$name" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment" 2>/dev/null
    openssl req -new -newkey rsa:2048 -nodes -keyout ra.key -out ra.csr \
        -subj "/O=mod_scep/CN=$name RA" 2>/dev/null
    openssl x509 -req -in ra.csr -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
        -days 1825 -extfile ext.cnf -extensions ra -out ra.pem 2>/dev/null
    rm -f ra.csr ext.cnf
fi
if [ ! -f challenge ]; then
    openssl rand -hex 16 > challenge
fi
chmod 644 ca.pem ra.pem
