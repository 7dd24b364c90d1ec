#!/bin/sh
# The path of jemalloc's library (Debian's libjemalloc2) from the dynamic
# linker's cache, as ./demo.sh preloads it into httpd and bench/run.sh and
# t/74-jemalloc.t follow; nothing when it is not installed.
/sbin/ldconfig -p 2>/dev/null | awk '$1 == "libjemalloc.so.2" { print $NF; exit }'
