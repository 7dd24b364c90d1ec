#!/bin/bash
# Build the fuzzers and run each for SECONDS (default 60) on its committed
# seeds. New corpus items go to a scratch folder, never into the repository;
# crashes, leaks and sanitizer reports are saved in fuzz/out/ and make the
# script exit non-zero. `fuzz/run.sh 10` is the CI smoke test.
#   FUZZ_JOBS     harnesses run at once (default: the number of CPUs)
#   FUZZ_TARGETS  which ones (default: pkimessage query csr ias)
#   FUZZ_KEEP     set to keep the scratch corpora (their path is printed)
#   FUZZ_ARGS     extra libFuzzer flags (e.g. -use_value_profile=1)
set -u
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-60}
case $secs in ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
targets=${FUZZ_TARGETS:-pkimessage query csr ias}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
out=$here/out

"$here/build.sh" || { echo "run.sh: build failed" >&2; exit 2; }
mkdir -p "$out"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/scep-fuzz-corpus.XXXXXX")
if [ -z "${FUZZ_KEEP:-}" ]; then
    trap 'rm -rf "$scratch"' EXIT
fi

# abort_on_error: a sanitizer report must end the run as a crash
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:abort_on_error=1}

run_one() {
    local t=$1 log=$out/$1.log
    mkdir -p "$scratch/$t" "$out/$t"
    # the first folder receives new items, the committed seeds are only read
    # shellcheck disable=SC2086
    "$here/build/fuzz_$t" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
        -timeout=30 -print_final_stats=1 -artifact_prefix="$out/$t/" \
        ${FUZZ_ARGS:-} "$scratch/$t" "$here/corpus/$t" > "$log" 2>&1
    echo $? > "$out/$t.rc"
}

running=0
for t in $targets; do
    if [ ! -x "$here/build/fuzz_$t" ]; then
        echo "run.sh: no harness fuzz_$t" >&2
        exit 2
    fi
    rm -f "$out/$t.rc"
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

fail=0
printf '%-12s %12s %10s %8s  %s\n' harness executions exec/s corpus result
for t in $targets; do
    log=$out/$t.log
    rc=$(cat "$out/$t.rc" 2>/dev/null || echo 99)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corp=$(find "$scratch/$t" -type f 2>/dev/null | wc -l)
    result=ok
    if [ "$rc" != 0 ] || grep -qE '^(==[0-9]+==ERROR|SUMMARY: )|runtime error:|FUZZ CHECK FAILED' "$log"; then
        result="FAILED (rc $rc, see $log)"
        fail=1
    fi
    printf '%-12s %12s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$corp" "$result"
done
arts=$(find "$out" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
       -o -name 'oom-*' -o -name 'slow-unit-*' \) -newer "$scratch" 2>/dev/null)
if [ -n "$arts" ]; then
    echo "artifacts:"
    # shellcheck disable=SC2086  # one path a word (no spaces in fuzz/out)
    printf '  %s\n' $arts
    echo "$arts" | grep -qv 'slow-unit-' && fail=1
fi
if [ -n "${FUZZ_KEEP:-}" ]; then
    echo "scratch corpora kept in $scratch"
fi
exit $fail
