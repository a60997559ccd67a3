#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 30); exit non-zero on a crash.
#
# Needs cargo-fuzz (installed here if missing) and a compiler that accepts -Z flags:
# a nightly toolchain if one is installed, else stable with RUSTC_BOOTSTRAP=1.
# Seeds come from fuzz/corpus/<target>/ (regenerate them with
#   PNFS_WRITE_CORPUS=$PWD/fuzz cargo test -p pnfs-netlink --test fixtures write_fuzz_corpus).
set -euo pipefail
secs=${1:-30}
cd "$(dirname "$0")"

# Exit 2 (not 1) when the fuzzers cannot be built here at all: the caller reports the
# tier SKIPPED with this reason rather than passed. A crash is exit 1.
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz || cargo install cargo-fuzz || {
        echo "fuzz: SKIPPED: cargo-fuzz could not be installed"; exit 2; }
fi

# Pick the toolchain: nightly if it builds the smallest target, else stable +
# RUSTC_BOOTSTRAP. Only when neither can build even that target is the tier SKIPPED (the
# toolchain cannot do it here); once one can, any other build failure is our code's: FAIL.
toolchain=()
bootstrap=()
if rustup run nightly rustc --version >/dev/null 2>&1 &&
    cargo +nightly fuzz build -O nlctrl >/tmp/fuzz-build.log 2>&1; then
    toolchain=(+nightly)
    echo "fuzz: using $(rustup run nightly rustc --version)"
elif env RUSTC_BOOTSTRAP=1 cargo fuzz build -O nlctrl >>/tmp/fuzz-build.log 2>&1; then
    bootstrap=(env RUSTC_BOOTSTRAP=1)
    echo "fuzz: nightly unusable; using $(rustc --version) with RUSTC_BOOTSTRAP=1"
else
    tail -30 /tmp/fuzz-build.log
    echo "fuzz: SKIPPED: no toolchain here builds even the nlctrl target with sanitizers (see /tmp/fuzz-build.log)"
    exit 2
fi

if ! "${bootstrap[@]}" cargo "${toolchain[@]}" fuzz build -O >/tmp/fuzz-build.log 2>&1; then
    grep -E -A12 '^error' /tmp/fuzz-build.log | head -60
    echo "fuzz: FAILED: the fuzz targets do not build (the toolchain does; see /tmp/fuzz-build.log)"
    exit 1
fi

status=0
for target in $(cargo "${toolchain[@]}" fuzz list); do
    mkdir -p "corpus/$target"
    echo "fuzz: $target for ${secs}s"
    # A scratch copy of the seeds, so new corpus entries do not dirty the tree.
    work=$(mktemp -d)
    cp -r "corpus/$target/." "$work/" 2>/dev/null || true
    if ! "${bootstrap[@]}" cargo "${toolchain[@]}" fuzz run -O "$target" "$work" -- \
        -max_total_time="$secs" -print_final_stats=1 2>"/tmp/fuzz-$target.log"; then
        echo "fuzz: $target FAILED (crash input in fuzz/artifacts/$target/); log /tmp/fuzz-$target.log"
        tail -40 "/tmp/fuzz-$target.log"
        status=1
    fi
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
        "/tmp/fuzz-$target.log" | sed "s/^/fuzz: $target /" || true
    rm -rf "$work"
done
exit $status
