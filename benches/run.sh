#!/usr/bin/env bash
# Every benchmark report and its plots, in one command:
#   bash benches/run.sh          (QUICK=1 for short runs; root for the CPG bench)
# Writes benches/codec.md + codec-report.json, benches/upcall.md + upcall-report.json,
# benches/cpg.md + cpg-report.json (3 corosync nodes in network namespaces: root and
# corosync; otherwise it says SKIPPED and keeps the last report), then the PNG plots
# (benches/plot.py; installs matplotlib with pip if it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${QUICK:-0}" = 1 ]; then
	export BENCH_QUICK=1
fi
cargo bench -p pnfs-netlink --features compare --bench codec
# The upcall bench runs pnfsctl (the twin) and pnfs_controld, other packages' binaries
# of the same target directory: build them first.
cargo build --release --bins
cargo bench --bench upcall
# The CPG bench drives the twin binary and cpg_probe (an example): build them first.
cargo build --release --workspace --features corosync --bins --examples
cargo bench --features corosync --bench cpg
python3 -c 'import matplotlib' 2>/dev/null || pip install -q matplotlib
python3 benches/plot.py
