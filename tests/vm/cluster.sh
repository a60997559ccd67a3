#!/usr/bin/env bash
# The `vmcluster` tier of tests/run.sh: the whole system as a user deploys it, in two
# Debian guests under qemu (Debian's 6.1 kernel, TCG here). Each guest runs corosync
# (knet between the guests over a qemu `-netdev socket` pair bound to the host's
# 127.0.0.1 only), dlm_controld (fencing off), one lock_dlm GFS2 on a raw disk both
# guests share (share-rw), the patched nfsd.ko (kmod-shim/nfsd) exporting it with `pnfs`
# and the same fsid, pnfs_shim.ko + pnfs_shim_ff.ko, and pnfs_controld on the corosync
# engine serving the genl families and nfsd's cld pipe. The NFSv4.1 client runs on
# node 1 (the MDS). The guests (tests/vm/cluster-guest.sh) assert, evidence printed:
#   - pNFS across nodes: the client's data I/O goes to node 2's nfsd (its NFSv3 counters,
#     the client's connections), and reads back identical on both nodes' GFS2 mounts;
#   - a node's death (node 2's qemu SIGKILLed by this script on node 1's request):
#     corosync detects it, node 1's daemon recalls the layouts on node 2's device within
#     100 ms of corosync handing its clients the new membership (corosync's log and nfsd's
#     trace events on one clock; the daemons run with --rt-priority 1), the client's
#     I/O goes on with a new layout on node 1 (checksums), GFS2 on node 1 recovers node 2's
#     journal and `pnfsctl fs show` says so, and the daemon's members agree with dlm's;
#   - a drained data server: `pnfsctl layout recall device` of node 2's device (run on node
#     2) makes the MDS recall it and the next layout go to node 1's device;
#   - a client's lock reclaimed on another node: node 2 boots again (on node 1's request)
#     and rejoins; its client mounts node 1's service address 10.9.0.100 and holds a lock
#     there; node 2's nfsd restarts once meanwhile; node 1's qemu is SIGKILLed (on node 2's
#     request); node 2 recovers node 1's journal, takes the address over and restarts its
#     nfsd into grace: the client reclaims its lock there (every nfsd presents the same
#     server owner and scope).
#
# Usage: bash tests/vm/cluster.sh   (root)
# Env: DAEMON_BIN_DIR (default target/debug; pnfs_controld built with the corosync
#      feature, pnfsctl), VMLANE_TIMEOUT (s, default 1200), CLUSTER_SMP (vCPUs per guest,
#      default 2: with one, corosync's real-time threads hold the only CPU for tens of
#      ms after a membership change), CLUSTER_DIAG=1 (node 1 prints a scheduler and
#      syscall trace of the daemon and corosync around the death), CLUSTER_REPORT=1
#      (path 5's report in benches/cluster.md from a run that passed), CLUSTER_KEEP=1 keeps
#      the shared disk image. Work files and serial logs: kmod-shim/vm/.cache/work-cluster.
# Last line "N passed, M failed"; exit 0 all passed, 1 any failure, 2 "SKIPPED: <reason>".
set -Eeuo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")/../.."
ROOT=$PWD
VM=$ROOT/kmod-shim/vm
CACHE=$VM/.cache
WORK=$CACHE/work-cluster
TIMEOUT=${VMLANE_TIMEOUT:-1200}
dbin=${DAEMON_BIN_DIR:-target/debug}
NODES=2
# The loopback port the guests' wire uses: the first free one from CLUSTER_PORT up.
BASEPORT=${CLUSTER_PORT:-47310}
while [ -n "$(ss -Htln "sport = :$BASEPORT")" ]; do BASEPORT=$((BASEPORT + 1)); done
APT=(apt-get -y -q -o DPkg::Lock::Timeout=120)
FINISHED=0
T0=$SECONDS
trap '[ $FINISHED = 1 ] || echo "0 passed, 1 failed"' EXIT
skip() { FINISHED=1; echo "SKIPPED: $*"; exit 2; }
hlog() { echo "vmcluster: $(date +%H:%M:%S.%3N) $*"; }
[ "$(id -u)" = 0 ] || skip "needs root (apt-get, qemu image setup, mkfs.gfs2)"

for b in "$dbin/pnfs_controld" "$dbin/pnfsctl"; do
	[ -x "$b" ] || { echo "vmcluster: no $b (cargo build --workspace --bins --features corosync first)"; exit 1; }
done
if [[ "$(ldd "$dbin/pnfs_controld")" != *libcpg* ]]; then
	echo "vmcluster: $dbin/pnfs_controld has no corosync engine (not linked with libcpg): build it with --features corosync"
	exit 1
fi

# ---- packages, the Debian kernel image, nfsd.ko with the flexfile hooks, pnfs_shim.ko and
# pnfs_shim_ff.ko in $WORK/module, the nfsd lanes' root image (corosync and dlm-controld
# in it): the flexfiles lane's host steps (tests/vm/ffhost.sh)
TAG=vmcluster
. tests/vm/ffhost.sh
ff_host_prepare

# ---- the initramfs (the flexfiles lane's, with the NIC's modules; no lock_nolock image):
# busybox, virtio (blk, net), ext4; payload: our binaries and modules, cpg_probe (an example
# of this workspace, built by `cargo test`: the bare CPG ping-pong, the floor of the DS->MDS
# query measured in the guests)
probe=
if [ -x "$dbin/examples/cpg_probe" ]; then probe=$dbin/examples/cpg_probe; fi
FF_GFS2_IMAGE=0 FF_PAYLOAD=$probe ff_host_initrd tests/vm/cluster-guest.sh failover net_failover virtio_net

# ---- the shared lock_dlm GFS2 disk (cluster "vmc" is corosync's cluster_name in the guests)
SHARED=$WORK/shared.img
truncate -s 512M "$SHARED"
mkfs.gfs2 -O -p lock_dlm -t vmc:fs0 -j "$NODES" -J 32 "$SHARED" >"$WORK/mkfs.log" 2>&1 ||
	{ cat "$WORK/mkfs.log"; echo "vmcluster: mkfs.gfs2 failed"; exit 1; }

# ---- boot the guests: node 1 listens on 127.0.0.1:BASEPORT, node 2 connects
vm_accel tb-size=256
declare -A TPID QPID
cleanup() {
	local n
	for n in "${!TPID[@]}"; do kill "${TPID[$n]}" 2>/dev/null || true; done
	[ $FINISHED = 1 ] || echo "0 passed, 1 failed"
}
trap cleanup EXIT
# launch KEY NODE BOOT: one guest; its serial log is serial.KEY.log
launch() {
	local key=$1 n=$2 boot=$3 net
	if [ "$n" = 1 ]; then
		net="socket,id=n0,listen=127.0.0.1:$BASEPORT"
	else
		net="socket,id=n0,connect=127.0.0.1:$BASEPORT"
	fi
	timeout --kill-after=10 "$TIMEOUT" nice qemu-system-x86_64 "${VM_ACCEL[@]}" -m 768 -smp "${CLUSTER_SMP:-2}" \
		-nodefaults -display none -no-reboot -serial "file:$WORK/serial.$key.log" \
		-pidfile "$WORK/qemu.$key.pid" \
		-drive "file=$ROOTIMG,format=raw,if=none,id=root,snapshot=on" \
		-device virtio-blk-pci,drive=root,serial=root \
		-drive "file=$SHARED,format=raw,if=none,id=sh,cache=none,file.locking=off" \
		-device virtio-blk-pci,drive=sh,share-rw=on,serial=shared0 \
		-netdev "$net" -device "virtio-net-pci,netdev=n0,mac=52:54:00:00:09:0$n" \
		-kernel "$KERNEL" -initrd "$WORK/initrd.gz" \
		-append "console=ttyS0 panic=-1 quiet vmc.node=$n vmc.nodes=$NODES vmc.boot=$boot vmc.diag=${CLUSTER_DIAG:-0}" \
		</dev/null >"$WORK/qemu.$key.out" 2>&1 &
	TPID[$key]=$!
	# no "Killed" job report when the host kills it on purpose
	disown "${TPID[$key]}"
	for _ in $(seq 1 100); do [ -s "$WORK/qemu.$key.pid" ] && break; sleep 0.1; done
	QPID[$key]=$(cat "$WORK/qemu.$key.pid" 2>/dev/null || echo none)
}
rm -f "$WORK"/serial.*.log "$WORK"/qemu.*.pid
hlog "booting $NODES guests (${VM_ACCEL[1]}; timeout ${TIMEOUT}s)"
tb=$SECONDS
launch 1 1 1
sleep 1
launch 2 2 1

# ---- watch: node 1 asks for node 2's death ("VMC-HOST kill 2"), then for node 2's second
# boot ("VMC-HOST boot 2", serial.2r); the rejoined node 2 asks for node 1's death
# ("VMC-HOST kill 1"); then the end of every guest
killed2=0 booted2=0 killed1=0
asked() { grep -aq "^VMC-HOST $2" "$WORK/serial.$1.log" 2>/dev/null; }
while :; do
	alive=0
	for k in "${!TPID[@]}"; do kill -0 "${TPID[$k]}" 2>/dev/null && alive=$((alive + 1)); done
	[ $alive = 0 ] && break
	if [ $killed2 = 0 ] && asked 1 'kill 2'; then
		kill -9 "${QPID[2]}" 2>/dev/null || true
		killed2=1
		hlog "SIGKILL node 2 (qemu pid ${QPID[2]})"
	fi
	if [ $killed2 = 1 ] && [ $booted2 = 0 ] && asked 1 'boot 2' && ! kill -0 "${TPID[2]}" 2>/dev/null; then
		launch 2r 2 2
		booted2=1
		hlog "node 2 boots again (qemu pid ${QPID[2r]})"
	fi
	if [ $booted2 = 1 ] && [ $killed1 = 0 ] && asked 2r 'kill 1'; then
		kill -9 "${QPID[1]}" 2>/dev/null || true
		killed1=1
		hlog "SIGKILL node 1 (qemu pid ${QPID[1]})"
	fi
	sleep 0.2
done
hlog "guests ended after $((SECONDS - tb)) s (total $((SECONDS - T0)) s)"
passed=0
failed=0
for k in 1 2 2r; do
	[ -f "$WORK/serial.$k.log" ] || continue
	tr -d '\r' <"$WORK/serial.$k.log" >"$WORK/serial.$k.txt"
	echo "==================== node $k ===================="
	sed -n '/VMC-BEGIN/,/VMC-END/p' "$WORK/serial.$k.txt"
	p=$(grep -a -c '^PASS ' "$WORK/serial.$k.txt" || true)
	f=$(grep -a -c '^FAIL ' "$WORK/serial.$k.txt" || true)
	# node 2's first boot is killed before its end; every other guest prints VMC-END
	if ! grep -aq 'VMC-END' "$WORK/serial.$k.txt" && ! { [ "$k" = 2 ] && [ $killed2 = 1 ]; }; then
		echo "vmcluster: node $k did not finish; its serial log's tail:"
		tail -30 "$WORK/serial.$k.txt"
		f=$((f + 1))
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done
for ev in "killed2:node 1 never asked for node 2's death" "booted2:node 1 never asked for node 2's second boot" "killed1:the rejoined node 2 never asked for node 1's death"; do
	v=${ev%%:*}
	if [ "${!v}" = 0 ]; then
		echo "vmcluster: ${ev#*:}"
		failed=$((failed + 1))
	fi
done
[ "${CLUSTER_KEEP:-0}" = 1 ] || rm -f "$SHARED"
# CLUSTER_REPORT=1: path 5's report in benches/ (cluster.md, its JSON and plot) from node
# 1's PATH5-JSON lines, only from a run where every check passed.
if [ "${CLUSTER_REPORT:-0}" = 1 ]; then
	if [ "$failed" = 0 ]; then
		"$(command -v /usr/bin/python3 || command -v python3)" benches/cluster_report.py "$WORK/serial.1.txt" "$dbin ($(git log -1 --format=%h))" || failed=$((failed + 1))
	else
		echo "vmcluster: a check failed: benches/cluster.md not rewritten"
	fi
fi
FINISHED=1
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
