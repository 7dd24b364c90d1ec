#!/bin/sh
# The Debian package, end to end (as root, on a Debian 12 machine whose
# system httpd may be used): build libapache2-mod-scep with
# dpkg-buildpackage, check it with lintian, install it into the system
# httpd, enable it with a2enmod scep, configure a virtual host from the
# sample (/usr/share/mod_scep/mod_scep.conf.sample: its /scep/wifi Location),
# start httpd with apache2ctl, enroll one certificate through it, then stop
# httpd and purge the package, leaving nothing behind.
#   build-tools/test-deb.sh [WORKDIR]     (SCEP_DEB_PORT=18580)
# Ends with "package test: ok" or "package test: FAILED (...)".
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
work=${1:-$(mktemp -d /tmp/mod_scep-deb.XXXXXX)}
port=${SCEP_DEB_PORT:-18580}
etc=/etc/mod_scep-debtest
var=/var/lib/mod_scep-debtest
site=/etc/apache2/sites-available/scep-debtest.conf

fail() { echo "package test: FAILED ($*)"; cleanup; exit 1; }
cleanup() {
    apache2ctl stop >/dev/null 2>&1 || true
    a2dissite -q scep-debtest >/dev/null 2>&1 || true
    rm -f "$site"
    dpkg -s libapache2-mod-scep >/dev/null 2>&1 && apt-get purge -y -q libapache2-mod-scep >/dev/null 2>&1
    rm -rf "$etc" "$var"
}
[ "$(id -u)" = 0 ] || { echo "package test: skipped (needs root)"; exit 0; }
mkdir -p "$work"

# 1. build, from a clean copy of the sources
rm -rf "$work/src"
if [ -d .git ]; then
    git clone -q "$top" "$work/src"
else
    mkdir "$work/src" && tar -C "$top" --exclude=./demo --exclude=./bench/out -cf - . | tar -C "$work/src" -xf -
fi
(cd "$work/src" && dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1 \
    || { tail -20 "$work/build.log"; fail "dpkg-buildpackage, see $work/build.log"; }
deb=$(ls "$work"/libapache2-mod-scep_*.deb)
lintian --fail-on error,warning "$deb" > "$work/lintian.log" 2>&1 \
    || { cat "$work/lintian.log"; fail "lintian"; }

# 2. install into the system httpd, enable, a virtual host from the sample
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q "$deb" > "$work/install.log" 2>&1 || { tail "$work/install.log"; fail "install"; }
a2enmod -q scep > /dev/null || fail "a2enmod scep"
mkdir -p "$etc" "$var"
sh build-tools/make-pki.sh "$etc" "mod_scep Package Test CA" > /dev/null
sqlite3 "$var/scep.sqlite" < /usr/share/mod_scep/schema-sqlite3.sql > /dev/null
chown -R www-data:www-data "$var"
{
    echo "Listen 127.0.0.1:$port"
    # the sample's virtual host: its database and CA lines, its /scep/wifi Location
    awk -v port="$port" -v etc="$etc" -v var="$var" '
        /^<VirtualHost/ { print "<VirtualHost 127.0.0.1:" port ">"; invh = 1; next }
        invh && /^<\/VirtualHost>/ { print; invh = 0; next }
        !invh { next }
        /<Location \/scep\/wifi>/ { inloc = 1 }
        /^ *<Location/ && !/\/scep\/wifi>/ { skip = 1 }
        skip { if (/<\/Location>/) skip = 0; next }
        /ServerName/ { next }
        { gsub("/etc/mod_scep", etc); gsub("/var/lib/mod_scep", var); print }
        inloc && /<\/Location>/ { inloc = 0 }
    ' /usr/share/mod_scep/mod_scep.conf.sample
} > "$site"
a2ensite -q scep-debtest > /dev/null
apache2ctl configtest > "$work/configtest.log" 2>&1 || { cat "$work/configtest.log"; fail "configtest"; }
apache2ctl start > "$work/start.log" 2>&1 || { cat "$work/start.log"; fail "apache2ctl start"; }
for i in 1 2 3 4 5 6 7 8 9 10; do
    curl -s -o /dev/null "http://127.0.0.1:$port/scep/wifi?operation=GetCACaps" && break
    sleep 0.5
done

# 3. one enrollment through it (the sample's wifi profile: CN of [a-z0-9-],
#    a dNSName under .wifi.example.com)
url="http://127.0.0.1:$port/scep/wifi"
openssl genrsa -out "$work/device.key" 2048 2> /dev/null
curl -s -o "$work/cacert.p7" "$url?operation=GetCACert" || fail "GetCACert"
openssl pkcs7 -inform DER -in "$work/cacert.p7" -print_certs -out "$work/cacert.pem" 2> /dev/null \
    || fail "GetCACert's answer is not a PKCS#7 of certificates"
./client/scepreq build --key "$work/device.key" --recipient "$work/cacert.p7" \
    --subject /CN=debtest-device --challenge "$(cat "$etc/challenge")" \
    --signer-out "$work/signer.pem" -o "$work/req.der" > /dev/null || fail "scepreq build"
curl -s -o "$work/rep.der" -H 'Content-Type: application/x-pki-message' \
    --data-binary @"$work/req.der" "$url?operation=PKIOperation" || fail "PKIOperation"
out=$(./client/scepreq parse -i "$work/rep.der" --verify "$work/cacert.pem" --key "$work/device.key" \
      --signer-cert "$work/signer.pem" --out-cert "$work/device.pem" 2>&1) || true
echo "$out" | grep -q '^pkiStatus=0$' || { echo "$out"; tail -5 /var/log/apache2/error.log; fail "enrollment"; }
n=$(sqlite3 "$var/scep.sqlite" "SELECT COUNT(*) FROM scep_certificates")
[ "$n" = 1 ] || fail "$n certificates on record, not 1"
openssl verify -CAfile "$etc/ca.pem" "$work/device.pem" > /dev/null || fail "the certificate does not verify"

# 4. removed cleanly
apache2ctl stop > /dev/null 2>&1
a2dissite -q scep-debtest > /dev/null
rm -f "$site"
apt-get purge -y -q libapache2-mod-scep > "$work/purge.log" 2>&1 || fail "purge"
for f in /usr/lib/apache2/modules/mod_scep.so /etc/apache2/mods-available/scep.load \
         /etc/apache2/mods-enabled/scep.load /usr/share/mod_scep; do
    [ ! -e "$f" ] || fail "$f is left after purge"
done
apache2ctl configtest > /dev/null 2>&1 || fail "httpd's configuration is broken after purge"
rm -rf "$etc" "$var"
echo "package test: ok (built, lintian clean, installed, enabled, enrolled one certificate through apache2ctl's httpd, purged)"
