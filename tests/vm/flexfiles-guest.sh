#!/bin/bash
# Guest side of tests/vm/flexfiles.sh (pid 1 in the Debian guest): nfsd with the flexfile
# hooks, pnfs_shim + pnfs_shim_ff, pnfs_controld deciding the layouts, an NFSv4.1 client
# over loopback. Prints PASS/FAIL lines and the evidence between FF-VM-BEGIN and FF-VM-END.
export PATH=/opt/pnfs:/usr/sbin:/usr/bin:/sbin:/bin LD_LIBRARY_PATH=/opt/pnfs/lib
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
hostname ff-vm
ip link set lo up
echo FF-VM-BEGIN
pass() { echo "PASS ff_$1${2:+ ($2)}"; }
fail() { echo "FAIL ff_$1: $2"; }
finish() {
	echo "---- daemon log (tail) ----"
	tail -15 /tmp/daemon.log 2>/dev/null
	echo "---- kernel log (nfsd/pnfs/taint) ----"
	dmesg | grep -iE 'nfsd|pnfs|taint|recall|fenc' | uniq | tail -15
	echo FF-VM-END
	sync
	echo o >/proc/sysrq-trigger
	sleep 30
}
(
	sleep 780
	echo "FAIL ff_watchdog: the guest script still ran after 780 s"
	finish
) &

until_ok() {
	local n=$1
	shift
	for ((i = 0; i < n * 2; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}
ffc() { cat "/sys/module/pnfs_shim_ff/parameters/$1" 2>/dev/null || echo "?"; }
counters() {
	echo "adapter: granted=$(ffc granted) refused=$(ffc refused) unreachable=$(ffc unreachable) devinfo=$(ffc devinfo) recalled=$(ffc recalled) fenced=$(ffc fenced)"
}
# The NFSv4 mount's section of mountstats.
mstats() {
	awk '/mounted on \/mnt\/nfs with fstype nfs4/{p=1; print; next} p&&/^device /{p=0} p' /proc/self/mountstats
}
opcount() { mstats | awk -v op="$1:" '$1 == op {print $2; exit}'; }
# Server counters: NFSv3 READ/WRITE (the data server) and NFSv4 READ/WRITE/LAYOUT*.
srv() {
	awk '/^proc3 /{printf "server v3 READ=%s WRITE=%s; ", $9, $10}
	     /^proc4ops /{printf "v4 READ=%s WRITE=%s LAYOUTGET=%s LAYOUTRETURN=%s GETDEVICEINFO=%s\n", $28, $41, $53, $54, $50}' \
		/proc/net/rpc/nfsd
}
v3writes() { awk '/^proc3 /{print $10}' /proc/net/rpc/nfsd; }
v3reads() { awk '/^proc3 /{print $9}' /proc/net/rpc/nfsd; }

KABI=$(uname -r)
cp /opt/pnfs/nfsd.ko "/lib/modules/$KABI/kernel/fs/nfsd/nfsd.ko" && depmod
if modprobe nfsd && insmod /opt/pnfs/pnfs_shim.ko && insmod /opt/pnfs/pnfs_shim_ff.ko; then
	pass modules_load
else
	fail modules_load "nfsd / pnfs_shim / pnfs_shim_ff: $(dmesg | tail -3)"
	finish
fi
grep -E '^(nfsd|pnfs_shim|pnfs_shim_ff) ' /proc/modules | cut -d' ' -f1,4
echo "tainted=$(cat /proc/sys/kernel/tainted)"
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
# The data server speaks NFSv3 (loosely coupled flexfiles): v3 must be on.
rpc.nfsd -V 3 -V 4.1 -V 4.2 2 || { fail nfsd_start "rpc.nfsd"; finish; }
echo "waiting out nfsd's grace (12 s)"
sleep 12
dd if=/dev/urandom of=/tmp/src bs=1M count=4 2>/dev/null

# ---- 1. no daemon: no layout, the client's I/O goes through the MDS, nfsd keeps serving
echo "---- 1. no daemon registered ----"
if timeout 120 mount -t nfs4 -o vers=4.1,proto=tcp,soft,timeo=100 127.0.0.1:/srv/gfs2 /mnt/nfs; then
	pass client_mount
else
	fail client_mount "NFSv4.1 mount over loopback"
	finish
fi
t=$SECONDS
timeout 120 cp /tmp/src /mnt/nfs/nodaemon && timeout 60 sync
echo 3 >/proc/sys/vm/drop_caches
if timeout 120 cmp /tmp/src /mnt/nfs/nodaemon && [ "$(ffc unreachable)" -gt 0 ] && [ "$(v3writes)" = 0 ]; then
	pass no_daemon_io_through_mds "$((SECONDS - t)) s"
else
	fail no_daemon_io_through_mds "cmp/unreachable/v3 writes: $(counters) $(srv)"
fi
counters
srv
echo "client: $(mstats | grep -E 'pnfs=' | sed 's/^[[:space:]]*//') LAYOUTGET=$(opcount LAYOUTGET)"
umount /mnt/nfs

# ---- 2. pnfs_controld registered with the module decides the layouts
echo "---- 2. pnfs_controld registered ----"
PNFS_LOG=info pnfs_controld --socket generic --engine local --node-id 1 --mds-priority 10 \
	--state-dir /var/lib/pnfs --grace-ms 1000 --addr tcp,127.0.0.2.8.1 >>/tmp/daemon.log 2>&1 &
DPID=$!
if until_ok 60 pnfsctl ping -c 1; then pass daemon_start; else fail daemon_start "$(tail -5 /tmp/daemon.log)"; finish; fi
pnfsctl kernel show 2>&1 | head -12
sleep 3
pnfsctl member show 2>&1 | head -8
if timeout 120 mount -t nfs4 -o vers=4.1,proto=tcp,soft,timeo=100 127.0.0.1:/srv/gfs2 /mnt/nfs; then
	pass client_remount
else
	fail client_remount "NFSv4.1 mount with the daemon"
	finish
fi
w0=$(v3writes)
r0=$(v3reads)
t=$SECONDS
timeout 120 cp /tmp/src /mnt/nfs/data
timeout 60 sync
timeout 120 dd if=/tmp/src of=/mnt/nfs/direct bs=1M oflag=direct 2>/dev/null
echo 3 >/proc/sys/vm/drop_caches
timeout 120 cat /mnt/nfs/data >/dev/null
echo "data I/O took $((SECONDS - t)) s"
echo "---- client /proc/self/mountstats (the nfs4 mount) ----"
mstats | grep -E 'device|pnfs=|^[[:space:]]+(READ|WRITE|LAYOUTGET|LAYOUTRETURN|LAYOUTCOMMIT|GETDEVICEINFO|COMMIT):'
echo "---- TCP connections to port 2049 (client -> server) ----"
ss -tn | awk '$5 ~ /:2049$/ {print $4, "->", $5}' | sort -u
echo "---- server ----"
srv
echo "v3 (data server) READ +$(($(v3reads) - r0)) WRITE +$(($(v3writes) - w0)) during the copy"
echo "---- pnfsctl stats (daemon upcall counters) ----"
pnfsctl stats show 2>&1 | grep -iE 'kind|layout.get|get.device.info' | head -12
counters
echo "---- layouts the kernel half recorded ----"
pnfsctl layout show 2>&1 | head -8

mstats | grep -q 'pnfs=LAYOUT_FLEX_FILES' && pass pnfs_flexfiles || fail pnfs_flexfiles "$(mstats | grep pnfs=)"
lg=$(opcount LAYOUTGET)
gdi=$(opcount GETDEVICEINFO)
[ "${lg:-0}" -gt 0 ] && [ "$(ffc granted)" -gt 0 ] && pass layoutget_by_daemon ||
	fail layoutget_by_daemon "LAYOUTGET=$lg $(counters)"
[ "${gdi:-0}" -gt 0 ] && [ "$(ffc devinfo)" -gt 0 ] && pass getdeviceinfo_by_daemon ||
	fail getdeviceinfo_by_daemon "GETDEVICEINFO=$gdi $(counters)"
if ss -tn | grep -q '127.0.0.2:2049' && [ "$(($(v3writes) - w0))" -gt 0 ]; then
	pass data_io_on_the_data_server
else
	fail data_io_on_the_data_server "no connection to 127.0.0.2:2049 or no v3 WRITE"
fi
if timeout 120 cmp /tmp/src /mnt/nfs/data && timeout 120 cmp /tmp/src /srv/gfs2/data &&
	timeout 120 cmp /tmp/src /mnt/nfs/direct; then
	pass cmp_data
else
	fail cmp_data "the data differ"
fi

# ---- 3. recall through the daemon's LAYOUT_RECALL downcall
echo "---- 3. recall ----"
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
for e in nfsd_layout_recall nfsd_layout_recall_done nfsd_layout_recall_fail nfsd_cb_layout_done; do
	echo 1 >/sys/kernel/tracing/events/nfsd/$e/enable
done
exec 3<>/mnt/nfs/data
timeout 60 dd if=/tmp/src of=/mnt/nfs/data bs=1M count=1 conv=notrunc oflag=direct 2>/dev/null
echo "before: $(srv)"
pnfsctl layout recall all 2>&1
sleep 5
echo "after:  $(srv)"
counters
grep -v '^#' /sys/kernel/tracing/trace | sed 's/^ *//' | cut -c1-160 | head -8
exec 3<&-
if [ "$(ffc recalled)" -gt 0 ] && grep -q nfsd_layout_recall /sys/kernel/tracing/trace; then
	pass recall_reaches_nfsd
else
	fail recall_reaches_nfsd "$(counters)"
fi
timeout 120 cmp /tmp/src /mnt/nfs/data && pass cmp_after_recall || fail cmp_after_recall "data differ"
timeout 30 umount /mnt/nfs
kill $DPID 2>/dev/null
finish
