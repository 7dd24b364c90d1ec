#!/bin/sh
# build-ceiling.sh DIR: bench/mod_rsa_ceiling.c built in DIR with apxs
# (-Wall -Wextra -Werror), for bench/run.sh's ceiling cell and
# t/75-bench-ceiling.t. Prints the module's path; apxs's output goes to
# standard error.
set -eu
[ $# = 1 ] || { echo "usage: build-ceiling.sh DIR" >&2; exit 2; }
src=$(cd "$(dirname "$0")" && pwd)/mod_rsa_ceiling.c
mkdir -p "$1"
cp "$src" "$1/"
(cd "$1" && ${APXS:-apxs} -c -Wc,-Wall -Wc,-Wextra -Wc,-Werror mod_rsa_ceiling.c -lcrypto) >&2
echo "$(cd "$1" && pwd)/.libs/mod_rsa_ceiling.so"
