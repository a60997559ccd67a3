#!/usr/bin/env bash
# The flexfiles benchmark (issue #23): LAYOUTGET and GETDEVICEINFO round trips as a real
# NFSv4.1 client sees them (its sunrpc:rpc_stats_latency tracepoint), the patched nfsd
# asking pnfs_controld (pnfs_shim + pnfs_shim_ff: an upcall per operation) against the same
# nfsd with no hooks registered (stock flexfiles), alternating segment by segment in one
# boot of Debian's 6.1 kernel under qemu (tests/vm/ffbench-guest.sh; the host side is the
# flexfiles tier's, tests/vm/ffhost.sh).
#   bash benches/flexfiles.sh     (root; FFB_ROUNDS, FFB_FILES, FFB_MOUNTS pass to the guest)
# Writes benches/flexfiles.md + flexfiles-report.json (benches/flexfiles_report.py) and
# flexfiles-cdf.png (benches/plot.py flexfiles). Env: DAEMON_BIN_DIR (default target/release,
# built here), VMLANE_TIMEOUT. Under TCG every number is an emulated CPU's: the ratio is the
# result. Exit 0 with the report written, 1 on a failed run (report not rewritten), 2
# "SKIPPED: <reason>" when this machine cannot run it.
set -Eeuo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")/.."
ROOT=$PWD
VM=$ROOT/kmod-shim/vm
CACHE=$VM/.cache
WORK=$CACHE/work-ffbench
TIMEOUT=${VMLANE_TIMEOUT:-1800}
APT=(apt-get -y -q -o DPkg::Lock::Timeout=120)
T0=$SECONDS
TAG=ffbench
skip() { echo "SKIPPED: $*"; exit 2; }
[ "$(id -u)" = 0 ] || skip "ffbench: needs root (apt-get, qemu image setup, mkfs.gfs2); benches/flexfiles.md not rewritten"
if [ -z "${DAEMON_BIN_DIR:-}" ]; then
	cargo build --release --bin pnfs_controld --bin pnfsctl
	dbin=target/release
else
	dbin=$DAEMON_BIN_DIR
fi

. tests/vm/ffhost.sh
ff_host_prepare
ff_host_initrd tests/vm/ffbench-guest.sh
FF_SMP=${FFB_SMP:-1} ff_host_boot "ffb.rounds=${FFB_ROUNDS:-12} ffb.files=${FFB_FILES:-10} ffb.mounts=${FFB_MOUNTS:-4}"
mkdir -p target
log=target/ffbench.log
{
	echo "ffbench: accelerator $ACCEL; host $(nproc) CPUs, kernel $(uname -r); daemon binaries $dbin; qemu exit $QRC; total $((SECONDS - T0)) s"
	sed -n '/FFB-BEGIN/,/FFB-END/p' "$WORK/serial.txt"
} >"$log"
grep -a -E '^(PASS|FAIL|FFB-PARAMS|FFB-TIME)|layouts in' "$log" || true
failed=$(grep -a -c '^FAIL ' "$log" || true)
if ! grep -a -q 'FFB-END' "$log" || [ "$failed" != 0 ]; then
	echo "ffbench: the VM run failed ($failed FAIL lines, qemu exit $QRC; $log, serial $WORK/serial.txt); benches/flexfiles.md not rewritten" >&2
	tail -30 "$WORK/serial.txt" >&2
	exit 1
fi
python3 benches/flexfiles_report.py "$log"
# the plot needs matplotlib: the first python3 that has it (Debian's python3-matplotlib is /usr/bin's)
py=
for p in python3 /usr/bin/python3; do
	if "$p" -c 'import matplotlib' 2>/dev/null; then py=$p; break; fi
done
if [ -n "$py" ]; then "$py" benches/plot.py flexfiles; else echo "ffbench: no plot (apt-get install python3-matplotlib)"; fi
echo "ffbench: done in $((SECONDS - T0)) s"
