#!/bin/sh
# Install the Debian packages mod_scep needs (as root), only if missing.
#   install-deps.sh build   compiler, httpd, APR, OpenSSL, SQLite, jansson, libcurl;
#                           and, as root, jemalloc (./demo.sh's malloc for httpd;
#                           optional: without it httpd runs with glibc's)
#   install-deps.sh test    plus Apache::Test, PostgreSQL, the real SCEP clients,
#                           valgrind, clang and its libFuzzer/sanitizer runtimes,
#                           python3 (the tests' HTTPS servers in t/tools)
set -eu
pkgs="build-essential autoconf automake libtool pkg-config apache2 apache2-dev
      libaprutil1-dev libaprutil1-dbd-sqlite3 libssl-dev libjansson-dev libcurl4-openssl-dev sqlite3 openssl"
if [ "${1:-build}" = test ]; then
    pkgs="$pkgs check python3 libapache2-mod-perl2 libwww-perl libaprutil1-dbd-pgsql postgresql
          libaprutil1-dbd-mysql mariadb-server mariadb-client apache2-utils
          scep certmonger dbus chromium chromium-driver
          strongswan-pki libstrongswan-standard-plugins libstrongswan-extra-plugins
          softhsm2 libengine-pkcs11-openssl
          valgrind clang libclang-rt-14-dev
          curl dpkg-dev debhelper lintian"
fi
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=""
for p in $pkgs; do
    installed "$p" || missing="$missing $p"
done
# wanted, not needed: installed when run as root, else left out
optional="libjemalloc2"
if [ "$(id -u)" = 0 ]; then
    for p in $optional; do
        installed "$p" || missing="$missing $p"
    done
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages:$missing (run as root to install them)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# policy-rc.d keeps the packages' own services (apache2, postgresql) from starting
had_policy=0
[ -e /usr/sbin/policy-rc.d ] && had_policy=1
[ "$had_policy" = 1 ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
apt-get install -y -q --no-install-recommends $missing
[ "$had_policy" = 1 ] || rm -f /usr/sbin/policy-rc.d
