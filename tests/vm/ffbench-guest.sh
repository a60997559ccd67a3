#!/bin/bash
# Guest side of benches/flexfiles.sh (pid 1 in the Debian guest): LAYOUTGET and
# GETDEVICEINFO round trips as the NFSv4.1 client sees them, with the same patched nfsd
# either answering by itself (stock flexfiles: pnfs_shim_ff not loaded, no hooks
# registered, the MDS is its own data server) or asking pnfs_controld (pnfs_shim_ff loaded:
# a LAYOUT_GET / GET_DEVICE_INFO upcall per operation, the daemon's data server
# 127.0.0.2). The two variants alternate segment by segment in this one boot (stock,
# daemon, stock, daemon, ...), so every daemon segment has a stock floor taken next to it.
#
# One segment: MOUNTS times { mount; read 4 KiB with O_DIRECT from each of FILES files
# (open -> LAYOUTGET, the first I/O on a device -> GETDEVICEINFO, close -> the layout
# returned: nfsd sets return-on-close); mountstats read; umount }. The samples are the
# client's sunrpc tracepoint sunrpc:rpc_stats_latency (one event per completed RPC: procedure
# name, rtt = transmit to reply, execute = task start to end, in µs), filtered to the two
# procedures. Printed, between FFB-BEGIN and FFB-END:
#   FFB-SAMPLES <variant> <segment> <LAYOUTGET|GETDEVICEINFO> <n> <rtt>:<execute> ...
#   FFB-SEGMENT <variant> <segment> key=value ...   (counters that prove who answered)
#   PASS/FAIL lines for those proofs
# Parameters from the kernel command line: ffb.rounds= ffb.files= ffb.mounts=
export PATH=/opt/pnfs:/usr/sbin:/usr/bin:/sbin:/bin LD_LIBRARY_PATH=/opt/pnfs/lib
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
hostname ffbench
ip link set lo up
echo FFB-BEGIN
param() { tr ' ' '\n' </proc/cmdline | sed -n "s/^ffb\.$1=//p" | tail -n1 | grep -E '^[0-9]+$' || echo "$2"; }
ROUNDS=$(param rounds 12)
FILES=$(param files 10)
MOUNTS=$(param mounts 4)
# stock, echo, daemon: ffb.echo=0 leaves the echo out
VARIANTS="stock echo daemon"
[ "$(param echo 1)" = 0 ] && VARIANTS="stock daemon"
echo "FFB-PARAMS rounds=$ROUNDS files=$FILES mounts=$MOUNTS kernel=$(uname -r) cpus=$(nproc) variants=${VARIANTS// /,}"
CHECK_PREFIX=ffb_
. /opt/pnfs/guestlib.sh
finish() {
	echo "---- daemon log (tail) ----"
	tail -5 /tmp/daemon.log 2>/dev/null | cut -c1-300
	echo "---- kernel log (nfsd/pnfs/hung) ----"
	dmesg | grep -iE 'nfsd|pnfs|recall|fenc|blocked for|hung|BUG|WARN' | uniq | tail -10
	echo FFB-END
	sync
	echo o >/proc/sysrq-trigger
	sleep 30
}
guest_watchdog 1500
# nfsd's own counts: NFSv3 READ (data server), NFSv4 LAYOUTGET, GETDEVICEINFO
v3reads() { awk '/^proc3 /{print $9}' /proc/net/rpc/nfsd; }
slg() { awk '/^proc4ops /{print $53}' /proc/net/rpc/nfsd; }
sgdi() { awk '/^proc4ops /{print $50}' /proc/net/rpc/nfsd; }
granting() { pnfsctl member show 2>/dev/null | grep -q 'grace false.*granting true'; }
loaded() { grep -q "^$1 " /proc/modules; }

KABI=$(uname -r)
# ---- setup (as tests/vm/flexfiles-guest.sh)
cp /opt/pnfs/nfsd.ko "/lib/modules/$KABI/kernel/fs/nfsd/nfsd.ko" && depmod
if modprobe nfsd && insmod /opt/pnfs/pnfs_shim.ko; then
	pass modules_load "$(grep -E '^(nfsd|pnfs_shim) ' /proc/modules | cut -d' ' -f1 | tr '\n' ' ')"
else
	fail modules_load "nfsd / pnfs_shim: $(dmesg | tail -3)"
	finish
fi
modprobe gfs2
mkdir -p /srv/gfs2 /mnt/nfs /run/rpc_pipefs /run/rpcbind /var/lib/nfs/nfsdcld /var/lib/pnfs
mount -t gfs2 /dev/vdb /srv/gfs2 || { fail gfs2_mount "mount -t gfs2 /dev/vdb"; finish; }
chmod 777 /srv/gfs2
mount -t nfsd nfsd /proc/fs/nfsd
mount -t rpc_pipefs sunrpc /run/rpc_pipefs
echo 10 >/proc/fs/nfsd/nfsv4leasetime
echo 10 >/proc/fs/nfsd/nfsv4gracetime
rpcbind
exportfs -o rw,sync,no_root_squash,no_subtree_check,insecure,fsid=1,pnfs '*:/srv/gfs2'
rpc.mountd -N 2
nfsdcld -F -p /run/rpc_pipefs >/tmp/nfsdcld.log 2>&1 &
sleep 1
rpc.nfsd -V 3 -V 4.1 -V 4.2 2 || { fail nfsd_start "rpc.nfsd"; finish; }
# the files every segment reads: 4 KiB each, written on GFS2 directly (mode 644: a read
# layout's credentials are the owner's uid + 1, so "other" must be able to read)
for ((i = 1; i <= FILES; i++)); do head -c 4096 /dev/urandom >/srv/gfs2/f$i; done
chmod 644 /srv/gfs2/f*
sync
# the data server the daemon and the echo name: an address of this guest, so nfsd again
ip addr add 10.0.0.1/32 dev lo
registered() { pnfsctl -j kernel show 2>/dev/null | grep -qE '"pnfsd":\{[^}]*"port":[1-9]'; }
SIDE=none SIDE_PID=
# side daemon|echo|none: who is registered with pnfs_shim (the other one stopped first)
side() {
	[ "$SIDE" = "$1" ] && return 0
	if [ -n "$SIDE_PID" ]; then
		kill "$SIDE_PID"
		wait "$SIDE_PID" 2>/dev/null
		until_ok 30 eval '! registered' || fail "${SIDE}_stop" "still registered"
	fi
	SIDE=$1 SIDE_PID=
	case $1 in
	daemon)
		PNFS_LOG=warn pnfs_controld --socket generic --engine local --node-id 1 --mds-priority 10 \
			--state-dir /var/lib/pnfs --grace-ms 1000 --addr tcp,10.0.0.1.8.1 >>/tmp/daemon.log 2>&1 &
		SIDE_PID=$!
		until_ok 60 pnfsctl ping -c 1 && until_ok 30 granting || { fail daemon_start "$(tail -3 /tmp/daemon.log)"; return 1; }
		;;
	echo)
		pnfsctl bench --echo-module >>/tmp/echo.log 2>&1 &
		SIDE_PID=$!
		until_ok 60 registered || { fail echo_start "$(tail -3 /tmp/echo.log)"; return 1; }
		;;
	esac
}
if side daemon; then
	pass daemon_start "$(pnfsctl member show 2>/dev/null | sed -n 2p)"
else
	finish
fi
T=/sys/kernel/tracing
mount -t tracefs tracefs $T 2>/dev/null
E=$T/events/sunrpc/rpc_stats_latency
if [ -d "$E" ]; then
	pass tracepoint "sunrpc:rpc_stats_latency: $(sed -n 's/^print fmt: //p' $E/format | cut -c1-120)"
else
	fail tracepoint "no $E in $KABI"
	finish
fi
echo 8192 >$T/buffer_size_kb
echo 'procname == "LAYOUTGET" || procname == "GETDEVICEINFO"' >$E/filter 2>/dev/null ||
	echo "(no filter: the awk below selects the procedures)"
echo 1 >$E/enable
echo "waiting out nfsd's grace (12 s)"
sleep 12
MOUNT=(mount -t nfs4 -o vers=4.1,proto=tcp,soft,timeo=100 127.0.0.1:/srv/gfs2 /mnt/nfs)

# The samples of one procedure from the trace buffer: "rtt:execute" per event.
samples() {
	grep -v '^#' $T/trace | awk -v p="$1" '/rpc_stats_latency:/ {
		name = ""; rtt = ""; ex = ""
		for (i = 1; i <= NF; i++) {
			if ($i == p) name = p
			if ($i ~ /^rtt=/) rtt = substr($i, 5)
			if ($i ~ /^execute=/) ex = substr($i, 9)
		}
		if (name != "" && rtt != "") printf "%s:%s ", rtt, ex
	}'
}

segment() {
	local v=$1 s=$2 m i lg=0 gdi=0 ds=""
	if [ "$v" = stock ]; then
		loaded pnfs_shim_ff && rmmod pnfs_shim_ff
	else
		side "$v" || return 1
		loaded pnfs_shim_ff || insmod /opt/pnfs/pnfs_shim_ff.ko
	fi
	# the same untimed warm-up for every variant (a restarted daemon or echo faults its
	# pages in here, as a long-running one would have them)
	if timeout 120 "${MOUNT[@]}"; then
		for ((i = 1; i <= 3; i++)); do timeout 60 dd if=/mnt/nfs/f$i of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null; done
		timeout 60 umount /mnt/nfs
	fi
	local g0 dv0 dlg0 dgdi0 slg0 sgdi0 r30 t0
	g0=$(ffc granted) dv0=$(ffc devinfo) dlg0=$(dstat layout-get) dgdi0=$(dstat get-device-info)
	[ "$v" = stock ] && g0=0 dv0=0
	slg0=$(slg) sgdi0=$(sgdi) r30=$(v3reads)
	echo >$T/trace
	t0=$(date +%s%N) mount_ns=0
	for ((m = 1; m <= MOUNTS; m++)); do
		tm=$(date +%s%N)
		timeout 120 "${MOUNT[@]}" || { fail "mount_${v}_$s" "mount $m"; continue; }
		mount_ns=$((mount_ns + $(date +%s%N) - tm))
		for ((i = 1; i <= FILES; i++)); do
			timeout 60 dd if=/mnt/nfs/f$i of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null
		done
		lg=$((lg + $(opcount LAYOUTGET))) gdi=$((gdi + $(opcount GETDEVICEINFO)))
		[ $m = 1 ] && ds=$(ss -tn | awk '$5 ~ /:2049$/ {print $5}' | sort -u | tr '\n' ',')
		[ $m = 1 ] && pnfs=$(mstats | grep -o 'pnfs=[A-Z_]*')
		tm=$(date +%s%N)
		timeout 60 umount /mnt/nfs
		mount_ns=$((mount_ns + $(date +%s%N) - tm))
	done
	local ms=$((($(date +%s%N) - t0) / 1000000))
	local tl tg
	tl=$(samples LAYOUTGET) tg=$(samples GETDEVICEINFO)
	local ntl ntg
	ntl=$(wc -w <<<"$tl") ntg=$(wc -w <<<"$tg")
	echo "FFB-SAMPLES $v $s LAYOUTGET $ntl $tl"
	echo "FFB-SAMPLES $v $s GETDEVICEINFO $ntg $tg"
	local dg=$(($(ffc granted) - g0)) ddv=$(($(ffc devinfo) - dv0))
	local ddl=$(($(dstat layout-get) - dlg0)) ddg=$(($(dstat get-device-info) - dgdi0))
	local sl=$(($(slg) - slg0)) sg=$(($(sgdi) - sgdi0)) r3=$(($(v3reads) - r30))
	echo "FFB-SEGMENT $v $s ms=$ms mount_umount_ms=$((mount_ns / 1000000)) client_layoutget=$lg client_getdeviceinfo=$gdi trace_layoutget=$ntl trace_getdeviceinfo=$ntg server_layoutget=$sl server_getdeviceinfo=$sg daemon_layoutget=$ddl daemon_getdeviceinfo=$ddg adapter_granted=$dg adapter_devinfo=$ddv v3_read=$r3 ds=${ds%,} $pnfs hooks=$(loaded pnfs_shim_ff && echo yes || echo no)"
	local ok=1
	# nfsd counts one LAYOUTGET more per mount: the client's first OPEN carries one
	# (PNFS_LAYOUTGET_ON_OPEN), which nfsd refuses before the layout code; not a timed RPC
	[ "$lg" -gt 0 ] && [ "$ntl" = "$lg" ] && [ "$ntg" = "$gdi" ] && [ "$sl" -ge "$lg" ] && [ "$sg" = "$gdi" ] && [ "$r3" -gt 0 ] || ok=0
	case $v in
	stock) [ "$ddl" = 0 ] && [ "$ddg" = 0 ] && [ "$dg" = 0 ] && [[ ",$ds," != *10.0.0.1:2049* ]] || ok=0 ;;
	daemon) [ "$ddl" = "$lg" ] && [ "$ddg" = "$gdi" ] && [ "$dg" = "$lg" ] && [ "$ddv" = "$gdi" ] && [[ ",$ds," == *10.0.0.1:2049* ]] || ok=0 ;;
	echo) [ "$ddl" = 0 ] && [ "$dg" = "$lg" ] && [ "$ddv" = "$gdi" ] && [[ ",$ds," == *10.0.0.1:2049* ]] || ok=0 ;;
	esac
	local what
	case $v in
	stock) what="no hooks: nfsd alone, data on the MDS's 127.0.0.1" ;;
	daemon) what="each one an upcall answered by pnfs_controld, data on its 10.0.0.1" ;;
	echo) what="each one an upcall answered by the bare echo, data on its 10.0.0.1" ;;
	esac
	check "segment_${v}_$s" "every client op traced, counted by the client and nfsd; $what" [ $ok = 1 ]
	[ $ok = 1 ]
}

echo "---- warm-up (one segment each, not counted) ----"
for v in $VARIANTS; do segment $v 0 >/dev/null; done
t=$SECONDS
for ((r = 1; r <= ROUNDS; r++)); do
	for v in $VARIANTS; do segment $v $r; done
done
echo "FFB-TIME $((SECONDS - t)) s for $ROUNDS rounds"

# Where the time goes, outside the measured rounds: how long an nfsd thread spends inside
# the hooks (pnfs_shim_ff's ff_layoutget / ff_getdeviceinfo), inside pnfs_shim's API they
# call (pnfs_shim_layout_get: the upcall, then the kernel half's layout table;
# pnfs_shim_get_device_info) and inside pnfs_shim_upcall (send, sleep until the REPLY, run
# again), by the function_graph tracer on those six functions only; with the kernel half's
# layout table as the rounds left it (full) and emptied (`pnfsctl layout recall all` with no
# client mounted: nothing to call back, the table's entries dropped). Printed as
# FFB-HOOK <side> <full|empty> <lg|gdi>_<hook|api|upcall> n d...
hooktime() {
	local v=$1 tbl=$2 k
	side "$v" || return 1
	loaded pnfs_shim_ff || insmod /opt/pnfs/pnfs_shim_ff.ko
	echo 0 >$E/enable
	echo "layouts in the kernel half's table before the $v $tbl decomposition: $(pnfsctl layout show 2>/dev/null | grep -c clientid)"
	echo 'ff_layoutget ff_getdeviceinfo pnfs_shim_layout_get pnfs_shim_get_device_info pnfs_shim_upcall' >$T/set_ftrace_filter ||
		{ echo "(no function_graph on the hooks)"; echo 1 >$E/enable; return 1; }
	echo 4 >$T/max_graph_depth
	echo function_graph >$T/current_tracer
	echo funcgraph-tail >$T/trace_options 2>/dev/null
	echo >$T/trace
	for ((m = 1; m <= MOUNTS; m++)); do
		timeout 120 "${MOUNT[@]}" || continue
		for ((i = 1; i <= FILES; i++)); do
			timeout 60 dd if=/mnt/nfs/f$i of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null
		done
		timeout 60 umount /mnt/nfs
	done
	grep -v '^#' $T/trace >/tmp/graph-$v-$tbl.txt
	awk '
		/ff_layoutget|ff_getdeviceinfo/ && /\{ *$/ { cur = ($0 ~ /ff_layoutget/) ? "lg" : "gdi"; next }
		match($0, /[0-9]+\.[0-9]+ us/) {
			d = substr($0, RSTART, RLENGTH - 3)
			if ($0 ~ /ff_layoutget/) k = "lg_hook"
			else if ($0 ~ /ff_getdeviceinfo/) k = "gdi_hook"
			else if ($0 ~ /pnfs_shim_layout_get/) k = "lg_api"
			else if ($0 ~ /pnfs_shim_get_device_info/) k = "gdi_api"
			else if ($0 ~ /pnfs_shim_upcall/) k = cur "_upcall"
			else next
			out[k] = out[k] " " d; n[k]++
		}
		END { for (k in out) print k, n[k], out[k] }' /tmp/graph-$v-$tbl.txt | sort |
		while read -r k n rest; do echo "FFB-HOOK $v $tbl $k $n $rest"; done
	echo "function_graph sample ($v, table $tbl):"
	grep -m1 -A5 'ff_layoutget.*{' /tmp/graph-$v-$tbl.txt | cut -c1-100
	echo nop >$T/current_tracer
	echo nofuncgraph-tail >$T/trace_options 2>/dev/null
	echo >$T/set_ftrace_filter
	echo 1 >$E/enable
}
hooktime echo full
hooktime daemon full
side none
pnfsctl layout recall all >/dev/null 2>&1
echo "pnfsctl layout recall all: the table now holds $(pnfsctl layout show 2>/dev/null | grep -c clientid) layouts"
hooktime echo empty
hooktime daemon empty
echo "---- pnfsctl stats show (the kernel half's upcall round trips, the daemon's service) ----"
pnfsctl stats show 2>&1 | grep -E 'layout-get|get-device-info'
echo "FFB-KSTATS $(pnfsctl -j stats show 2>/dev/null | tr -d '\n')"
echo "layouts in the kernel half's table: $(pnfsctl layout show 2>/dev/null | grep -c clientid)"
side none
finish
