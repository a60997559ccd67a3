#!/usr/bin/env bash
# Every benchmark report and its plots, in one command:
#   bash benches/run.sh          (QUICK=1 for the short upcall run)
# Writes benches/codec.md + codec-report.json, benches/upcall.md + upcall-report.json,
# then the PNG plots (benches/plot.py; needs matplotlib).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p pnfs-netlink --features compare --bench codec
if [ "${QUICK:-0}" = 1 ]; then
	BENCH_QUICK=1 cargo bench --bench upcall
else
	cargo bench --bench upcall
fi
python3 benches/plot.py
