#!/usr/bin/env bash
# The VM benchmark (issue #8, path 3): the real pnfs_shim module in Debian's 6.1 kernel
# under qemu (kmod-shim/vm/run.sh), its in-kernel load generator answered by
# pnfs_controld, by a bare user-space echo, and by the module itself (loopback).
#   bash benches/vm.sh           (root; BENCH_ROUNDS, BENCH_COUNT pass to the guest)
# Writes benches/vm.md + vm-report.json (benches/vm_report.py); the plot is plot.py's.
# Under TCG (no usable KVM) every number is an emulated CPU's: only the ratios carry.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "SKIPPED: vm bench: needs root (apt-get, qemu image setup); benches/vm.md not rewritten" >&2
	exit 0
fi
cargo build --release --bin pnfs_controld --bin pnfsctl
mkdir -p target
log=target/vm-bench.log
VMLANE_TIMEOUT=${VMLANE_TIMEOUT:-1500} bash kmod-shim/vm/run.sh --no-probe \
	--test-bin target/release/pnfs_controld --test-bin target/release/pnfsctl \
	--file tests/vm/bench.sh:/etc/vm-bench.sh \
	--cmd "BENCH_ROUNDS=${BENCH_ROUNDS:-3} BENCH_COUNT=${BENCH_COUNT:-2000} sh /etc/vm-bench.sh" \
	2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" != 0 ] || ! tail -n 1 "$log" | grep -q ' 0 failed'; then
	echo "vm bench: the VM run failed (see $log); benches/vm.md not rewritten" >&2
	exit 1
fi
python3 benches/vm_report.py "$log"
