#!/usr/bin/env bash
# The long fuzz run recorded in the README: every target, SECONDS each (default 300), one
# after another, with the binaries `bash fuzz/run.sh` built (run that first: it builds
# them with the right toolchain). Runs the binaries directly, so editing the sources
# meanwhile does not trigger a sanitizer rebuild. Prints executions and crashes per
# target and the total; exits 1 on any crash (the input is kept in fuzz/artifacts/).
# LONG_TARGETS="a b" runs only those targets.
set -uo pipefail
secs=${1:-300}
cd "$(dirname "$0")"
bin=target/x86_64-unknown-linux-gnu/release
targets=${LONG_TARGETS:-$(sed -n 's/^name = "\(.*\)"/\1/p' Cargo.toml | grep -v -- '-fuzz$')}
total=0
status=0
for t in $targets; do
    if [ ! -x "$bin/$t" ]; then
        echo "long-fuzz: $t not built: run 'bash fuzz/run.sh 1' first"; exit 2
    fi
    work=$(mktemp -d)
    cp -r "corpus/$t/." "$work/" 2>/dev/null || true
    mkdir -p "artifacts/$t"
    start=$(date +%s)
    "$bin/$t" "$work" -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" >"/tmp/long-fuzz-$t.log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "/tmp/long-fuzz-$t.log" | tail -1)
    runs=${runs:-0}
    total=$((total + runs))
    if [ $rc -ne 0 ]; then
        status=1
        echo "long-fuzz: $t CRASH after $runs runs (rc $rc); see /tmp/long-fuzz-$t.log"
        tail -30 "/tmp/long-fuzz-$t.log"
    else
        echo "long-fuzz: $t $runs runs in $(( $(date +%s) - start )) s, 0 crashes"
    fi
    rm -rf "$work"
done
echo "long-fuzz: total $total runs, $(date -u +%F) $(git rev-parse --short HEAD 2>/dev/null), status $status"
exit $status
