#!/bin/sh
# Every SCEPLOGNO(nnnnn) tag is used at exactly one place.
cd "${1:-.}" || exit 1
dups=$(grep -ohE 'SCEPLOGNO\([0-9]+\)' mod_scep*.c scep/*.c | sort | uniq -d)
if [ -n "$dups" ]; then
    echo "FAIL: log tags used more than once: $dups"
    exit 1
fi
echo "PASS: $(grep -ohE 'SCEPLOGNO\([0-9]+\)' mod_scep*.c scep/*.c | wc -l) unique log tags"
