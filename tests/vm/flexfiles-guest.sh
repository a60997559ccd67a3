#!/bin/bash
# Guest side of tests/vm/flexfiles.sh (pid 1 in the Debian guest): nfsd with the flexfile
# hooks, pnfs_shim + pnfs_shim_ff, pnfs_controld deciding the layouts, an NFSv4.1 client
# over loopback. Every check is a PASS/FAIL line; the evidence is printed before it, all
# between FF-VM-BEGIN and FF-VM-END.
#   0. setup                 modules, GFS2 exported with `pnfs`, hung-task detector at 10 s
#   1. no daemon             no layout (LAYOUTUNAVAILABLE), I/O through the MDS
#   2. the daemon decides    pnfs=LAYOUT_FLEX_FILES, client LAYOUTGET/GETDEVICEINFO counts
#                            = the daemon's, data I/O on the daemon's address, cmp
#   3. recall                `pnfsctl layout recall device <id>` then `all`: nfsd's trace
#                            events, LAYOUTRETURN rises, the next I/O gets a new layout
#   4. SIGKILL during I/O    no nfsd thread hangs, I/O goes on through the MDS; restart:
#                            layouts come back
#   5. layouts go away       200 files written and closed, then the unmount: nfsd frees
#                            the layout stateids, the adapter's `returned`/`forgotten`
#                            rise, the daemon hears layout-return, and `pnfsctl layout
#                            show` (the kernel half's table) no longer lists them
export PATH=/opt/pnfs:/usr/sbin:/usr/bin:/sbin:/bin LD_LIBRARY_PATH=/opt/pnfs/lib
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
hostname ff-vm
ip link set lo up
echo FF-VM-BEGIN
CHECK_PREFIX=ff_
. /opt/pnfs/guestlib.sh
finish() {
	echo "---- daemon log (tail) ----"
	tail -8 /tmp/daemon.log 2>/dev/null | cut -c1-300
	echo "---- kernel log (nfsd/pnfs/taint/hung) ----"
	dmesg | grep -iE 'nfsd|pnfs|taint|recall|fenc|blocked for|hung' | uniq | tail -15
	echo FF-VM-END
	sync
	echo o >/proc/sysrq-trigger
	sleep 30
}
guest_watchdog 780

counters() {
	echo "adapter: granted=$(ffc granted) refused=$(ffc refused) unreachable=$(ffc unreachable) devinfo=$(ffc devinfo) recalled=$(ffc recalled) fenced=$(ffc fenced) returned=$(ffc returned) forgotten=$(ffc forgotten)"
}
# Server counters: NFSv3 READ/WRITE (the data server) and NFSv4 READ/WRITE/LAYOUT*.
srv() {
	awk '/^proc3 /{printf "server v3 READ=%s WRITE=%s; ", $9, $10}
	     /^proc4ops /{printf "v4 READ=%s WRITE=%s LAYOUTGET=%s LAYOUTRETURN=%s GETDEVICEINFO=%s\n", $28, $41, $53, $54, $50}' \
		/proc/net/rpc/nfsd
}
v3writes() { awk '/^proc3 /{print $10}' /proc/net/rpc/nfsd; }
v3reads() { awk '/^proc3 /{print $9}' /proc/net/rpc/nfsd; }
v4writes() { awk '/^proc4ops /{print $41}' /proc/net/rpc/nfsd; }
v4reads() { awk '/^proc4ops /{print $28}' /proc/net/rpc/nfsd; }
client_line() {
	echo "client: LAYOUTGET=$(opcount LAYOUTGET) GETDEVICEINFO=$(opcount GETDEVICEINFO) LAYOUTRETURN=$(opcount LAYOUTRETURN); daemon: layout-get=$(dstat layout-get) get-device-info=$(dstat get-device-info)"
}
nfsd_pids() { pgrep -x nfsd; }
# nfsd threads whose kernel stack is inside pnfs_shim (waiting on an upcall).
nfsd_in_shim() {
	local p n=0
	for p in $(nfsd_pids); do
		grep -qE 'pnfs_shim|ff_layoutget|ff_getdeviceinfo' "/proc/$p/stack" 2>/dev/null && n=$((n + 1))
	done
	echo $n
}
start_daemon() {
	PNFS_LOG=info pnfs_controld --socket generic --engine local --node-id 1 --mds-priority 10 \
		--state-dir /var/lib/pnfs --grace-ms 1000 --addr tcp,127.0.0.2.8.1 >>/tmp/daemon.log 2>&1 &
	DPID=$!
}
granting() { pnfsctl member show 2>/dev/null | grep -q 'grace false.*granting true'; }
# The chosen data server: device id and address from `pnfsctl device show`.
device_id() { pnfsctl device show 2>/dev/null | awk '$1 == "device-id" {print $2; exit}'; }
device_uaddr() { pnfsctl device show 2>/dev/null | awk '$1 == "netid" && $2 == "tcp" {print $4; exit}'; }
# trace lines of one nfsd event since the last clear

KABI=$(uname -r)
# ---- 0. setup
cp /opt/pnfs/nfsd.ko "/lib/modules/$KABI/kernel/fs/nfsd/nfsd.ko" && depmod
if modprobe nfsd && insmod /opt/pnfs/pnfs_shim.ko && insmod /opt/pnfs/pnfs_shim_ff.ko; then
	pass modules_load "$(grep -E '^(nfsd|pnfs_shim|pnfs_shim_ff) ' /proc/modules | cut -d' ' -f1 | tr '\n' ' ')tainted=$(cat /proc/sys/kernel/tainted)"
else
	fail modules_load "nfsd / pnfs_shim / pnfs_shim_ff: $(dmesg | tail -3)"
	finish
fi
# The hung-task detector reports a task in D state for more than 10 s (checked in 4.).
echo 10 >/proc/sys/kernel/hung_task_timeout_secs
echo -1 >/proc/sys/kernel/hung_task_warnings
check hung_task_detector_armed "hung_task_timeout_secs=$(cat /proc/sys/kernel/hung_task_timeout_secs)" \
	[ "$(cat /proc/sys/kernel/hung_task_timeout_secs 2>/dev/null)" = 10 ]
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
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
for e in nfsd_layout_recall nfsd_layout_recall_done nfsd_layout_recall_fail nfsd_cb_layout_done; do
	echo 1 >/sys/kernel/tracing/events/nfsd/$e/enable
done
echo "waiting out nfsd's grace (12 s)"
sleep 12
dd if=/dev/urandom of=/tmp/src bs=1M count=4 2>/dev/null
MOUNT=(mount -t nfs4 -o vers=4.1,proto=tcp,soft,timeo=100 127.0.0.1:/srv/gfs2 /mnt/nfs)

# ---- 1. no daemon: no layout, the client's I/O goes through the MDS, nfsd keeps serving
echo "---- 1. no daemon registered ----"
if timeout 120 "${MOUNT[@]}"; then pass client_mount; else fail client_mount "NFSv4.1 mount over loopback"; finish; fi
t=$SECONDS
timeout 120 cp /tmp/src /mnt/nfs/nodaemon && timeout 60 sync
echo 3 >/proc/sys/vm/drop_caches
counters
srv
check no_daemon_io_through_mds "$((SECONDS - t)) s; adapter unreachable=$(ffc unreachable), server v3 WRITE=$(v3writes) v4 WRITE=$(v4writes)" \
	eval 'timeout 120 cmp /tmp/src /mnt/nfs/nodaemon && [ "$(ffc unreachable)" -gt 0 ] && [ "$(v3writes)" = 0 ] && [ "$(v4writes)" -gt 0 ]'
umount /mnt/nfs

# ---- 2. pnfs_controld registered with the module decides the layouts
echo "---- 2. pnfs_controld registered ----"
start_daemon
if until_ok 60 pnfsctl ping -c 1; then pass daemon_start; else fail daemon_start "$(tail -5 /tmp/daemon.log)"; finish; fi
until_ok 30 granting
pnfsctl kernel show 2>&1 | head -6
pnfsctl member show 2>&1 | head -4
if timeout 120 "${MOUNT[@]}"; then pass client_remount; else fail client_remount "NFSv4.1 mount with the daemon"; finish; fi
w0=$(v3writes) r0=$(v3reads) w40=$(v4writes) r40=$(v4reads)
t=$SECONDS
timeout 120 cp /tmp/src /mnt/nfs/data
timeout 60 sync
timeout 120 dd if=/tmp/src of=/mnt/nfs/direct bs=1M oflag=direct 2>/dev/null
echo 3 >/proc/sys/vm/drop_caches
timeout 120 cat /mnt/nfs/data >/dev/null
echo "data I/O took $((SECONDS - t)) s"
echo "---- client /proc/self/mountstats (the nfs4 mount) ----"
mstats | grep -E 'device|pnfs=|^[[:space:]]+(READ|WRITE|LAYOUTGET|LAYOUTRETURN|LAYOUTCOMMIT|GETDEVICEINFO|COMMIT):'
echo "---- pnfsctl stats show (kernel half's round trips, the daemon's service) ----"
pnfsctl stats show 2>&1 | grep -E 'layout-get|get-device-info|layout-recall'
counters
echo "---- pnfsctl device show (the data servers the daemon pushed) ----"
pnfsctl device show 2>&1 | head -6
DEVID=$(device_id)
UADDR=$(device_uaddr)
# uaddr h1.h2.h3.h4.p1.p2 -> h1.h2.h3.h4:p1*256+p2
DSADDR=$(awk -F. 'NF == 6 {print $1"."$2"."$3"."$4":"($5 * 256 + $6)}' <<<"$UADDR")
echo "the daemon's data server: device $DEVID at $UADDR = ${DSADDR:-?}"
echo "---- TCP connections to port 2049 (client -> server) ----"
ss -tn | awk '$5 ~ /:2049$/ {print $4, "->", $5}' | sort -u
echo "---- server ----"
srv
dw3=$(($(v3writes) - w0)) dr3=$(($(v3reads) - r0)) dw4=$(($(v4writes) - w40)) dr4=$(($(v4reads) - r40))
echo "during the copy: v3 (data server) READ +$dr3 WRITE +$dw3; v4 (MDS) READ +$dr4 WRITE +$dw4"
echo "---- layouts the kernel half recorded (first 3 of $(pnfsctl layout show 2>/dev/null | grep -c clientid)) ----"
pnfsctl layout show 2>&1 | head -3

check pnfs_flexfiles "$(mstats | grep -o 'pnfs=[A-Z_]*')" eval 'mstats | grep -q "pnfs=LAYOUT_FLEX_FILES"'
lg=$(opcount LAYOUTGET) gdi=$(opcount GETDEVICEINFO) dlg=$(dstat layout-get) dgdi=$(dstat get-device-info)
check layoutget_count_equals_daemon "client LAYOUTGET=$lg, daemon layout-get received=$dlg, adapter granted=$(ffc granted)" \
	eval '[ "$lg" -gt 0 ] && [ "$lg" = "$dlg" ]'
check getdeviceinfo_count_equals_daemon "client GETDEVICEINFO=$gdi, daemon get-device-info received=$dgdi, adapter devinfo=$(ffc devinfo)" \
	eval '[ "$gdi" -gt 0 ] && [ "$gdi" = "$dgdi" ]'
check data_io_on_the_daemons_address "device $DEVID uaddr $UADDR; connections to $DSADDR: $(ss -tn | grep -c " $DSADDR "); v3 READ +$dr3 WRITE +$dw3, v4 (MDS) READ +$dr4 WRITE +$dw4" \
	eval '[ -n "$DSADDR" ] && [ "$DSADDR" != 127.0.0.1:2049 ] && ss -tn | grep -q " $DSADDR " && [ "$dw3" -gt 0 ] && [ "$dr3" -gt 0 ] &&
		[ "$dw4" = 0 ] && [ "$dr4" = 0 ]'
check cmp_data "cmp source vs NFS (cp, O_DIRECT) and vs the GFS2 mount" \
	eval 'timeout 120 cmp /tmp/src /mnt/nfs/data && timeout 120 cmp /tmp/src /srv/gfs2/data &&
		timeout 120 cmp /tmp/src /mnt/nfs/direct && timeout 120 cmp /tmp/src /srv/gfs2/direct'

# ---- 3. recall through the daemon's LAYOUT_RECALL downcall: by device, then all
echo "---- 3. recall ----"
# recall_by LABEL ARGS...: hold the file open with a fresh layout, recall, then write again.
recall_by() {
	local label=$1
	shift
	exec 3<>/mnt/nfs/data
	timeout 60 dd if=/tmp/src of=/mnt/nfs/data bs=1M count=1 conv=notrunc oflag=direct 2>/dev/null
	echo >/sys/kernel/tracing/trace
	local rec0 cr0 sr0 fe0
	rec0=$(ffc recalled) cr0=$(opcount LAYOUTRETURN) fe0=$(ffc fenced)
	sr0=$(awk '/^proc4ops /{print $54}' /proc/net/rpc/nfsd)
	echo "before: $(client_line)"
	echo "\$ pnfsctl layout recall $*"
	pnfsctl layout recall "$@" 2>&1
	for ((i = 0; i < 30; i++)); do
		[ "$(opcount LAYOUTRETURN)" -gt "$cr0" ] && [ "$(tcount nfsd_cb_layout_done)" -gt 0 ] && break
		sleep 0.5
	done
	# nfsd polls the client (CB_LAYOUTRECALL every 10 ms) while the stateid still holds
	# layouts: wait until its callbacks stop (no new nfsd_cb_layout_done for 1 s), so the
	# next I/O does not race the poll (see the fenced check below)
	local nd0=-1 stable=0
	for ((i = 0; i < 50 && stable < 4; i++)); do
		local nd1
		nd1=$(tcount nfsd_cb_layout_done)
		if [ "$nd1" = "$nd0" ]; then stable=$((stable + 1)); else stable=0; fi
		nd0=$nd1
		sleep 0.25
	done
	echo "after:  $(client_line)"
	echo "        $(srv)"
	counters
	echo "nfsd trace events:"
	grep -v '^#' /sys/kernel/tracing/trace | sed 's/^ *//' | cut -c1-140 | head -8
	local nrec ndone
	nrec=$(tcount nfsd_layout_recall) ndone=$(grep -v '^#' /sys/kernel/tracing/trace | grep -c 'nfsd_cb_layout_done:.*status=0' || true)
	check "recall_${label}_cb_layoutrecall" "trace nfsd_layout_recall=$nrec nfsd_cb_layout_done status=0: $ndone; adapter recalled +$(($(ffc recalled) - rec0))" \
		eval '[ "$nrec" -gt 0 ] && [ "$ndone" -gt 0 ] && [ "$(ffc recalled)" -gt "$rec0" ]'
	check "recall_${label}_returned_not_fenced" "no nfsd_layout_recall_fail: $(tcount nfsd_layout_recall_fail) lines; adapter fenced $fe0 -> $(ffc fenced)" \
		eval '[ "$(tcount nfsd_layout_recall_fail)" = 0 ] && [ "$(ffc fenced)" = "$fe0" ]'
	check "recall_${label}_layoutreturn_rises" "client LAYOUTRETURN $cr0 -> $(opcount LAYOUTRETURN), server $sr0 -> $(awk '/^proc4ops /{print $54}' /proc/net/rpc/nfsd)" \
		eval '[ "$(opcount LAYOUTRETURN)" -gt "$cr0" ]'
	# the next I/O: a new LAYOUTGET answered by the daemon, data on its data server again
	local lg1 dlg1 w1
	lg1=$(opcount LAYOUTGET) dlg1=$(dstat layout-get) w1=$(v3writes)
	timeout 60 dd if=/tmp/src of=/mnt/nfs/data bs=1M count=1 conv=notrunc oflag=direct 2>/dev/null
	local dlg=$(($(opcount LAYOUTGET) - lg1)) ddlg=$(($(dstat layout-get) - dlg1)) nd
	# counted while fd 3 holds the file open: its close returns the layout (return on close)
	nd=$(pnfsctl layout show 2>/dev/null | awk -v d="$DEVID" '$8 == d' | wc -l)
	exec 3<&-
	echo "layouts now recorded on device $DEVID: $nd"
	check "recall_${label}_next_io_new_layout" "client LAYOUTGET +$dlg, daemon layout-get +$ddlg, v3 WRITE +$(($(v3writes) - w1)); one node = one data server: the new layout is on the same device $DEVID ($UADDR)" \
		eval '[ "$dlg" -gt 0 ] && [ "$dlg" = "$ddlg" ] && [ "$(($(v3writes) - w1))" -gt 0 ] && [ "$nd" -gt 0 ]'
}
recall_by device device "$DEVID"
recall_by all all
check cmp_after_recall "cmp source vs NFS and GFS2" \
	eval 'timeout 120 cmp /tmp/src /mnt/nfs/data && timeout 120 cmp /tmp/src /srv/gfs2/data'

# ---- 4. the daemon SIGKILLed during client I/O, then restarted
echo "---- 4. SIGKILL during I/O ----"
dd if=/dev/urandom of=/tmp/src2 bs=1M count=16 2>/dev/null
dd if=/dev/urandom of=/tmp/src3 bs=1M count=2 2>/dev/null
g0=$(ffc granted)
# the copy: 64 chunks of 256 KiB (O_DIRECT), paced so that it spans the kill (>= 10 s)
(
	rc=0
	for ((c = 0; c < 64; c++)); do
		timeout 120 dd if=/tmp/src2 of=/mnt/nfs/killio bs=256k count=1 skip=$c seek=$c \
			conv=notrunc oflag=direct 2>/dev/null || rc=1
		sleep 0.15
	done
	echo $rc >/tmp/killio.rc
) &
IOPID=$!
# kill once the copy is under way with layouts (>= 1 MiB on GFS2, the daemon granted some)
for ((i = 0; i < 240; i++)); do
	[ "$(stat -c %s /srv/gfs2/killio 2>/dev/null || echo 0)" -ge 1048576 ] && [ "$(ffc granted)" -gt "$g0" ] && break
	sleep 0.25
done
running=no
kill -0 $IOPID 2>/dev/null && [ ! -s /tmp/killio.rc ] && running=yes
un0=$(ffc unreachable) w4k=$(v4writes) w3k=$(v3writes) lgk=$(opcount LAYOUTGET)
echo "copy under way: $(stat -c %s /srv/gfs2/killio 2>/dev/null) bytes written, $(client_line)"
# With whole-file layouts the copy asks no more LAYOUTGETs: to kill the daemon while an
# nfsd thread waits on its upcall, stop it, start a new file (LAYOUTGET -> upcall), and
# kill it once an nfsd thread is seen inside pnfs_shim.
kill -STOP $DPID
(
	timeout 300 dd if=/tmp/src3 of=/mnt/nfs/inflight bs=64k oflag=direct 2>/dev/null
	echo $? >/tmp/inflight.rc
) &
IOPID2=$!
inshim0=0
for ((i = 0; i < 100; i++)); do
	inshim0=$(nfsd_in_shim)
	[ "$inshim0" -gt 0 ] && break
	sleep 0.1
done
echo "at the kill: $(stat -c %s /srv/gfs2/killio 2>/dev/null) bytes of the copy written; nfsd threads waiting inside pnfs_shim: $inshim0"
for p in $(nfsd_pids); do grep -qE 'pnfs_shim' "/proc/$p/stack" 2>/dev/null && sed "s/^/  nfsd $p: /" "/proc/$p/stack" | head -6; done
kill -0 $IOPID 2>/dev/null && [ ! -s /tmp/killio.rc ] || running=no
kill -KILL $DPID
tk=$SECONDS
t0ms=$(date +%s%N)
# how long until no nfsd thread waits on the dead daemon (the upcall timeout is 5 s)
rel=none
for ((i = 0; i < 100; i++)); do
	[ "$(nfsd_in_shim)" = 0 ] && { rel=$((($(date +%s%N) - t0ms) / 1000000)); break; }
	sleep 0.1
done
wait $DPID 2>/dev/null
kill -CONT $DPID 2>/dev/null
check daemon_killed_during_io "copy still running at SIGKILL: $running; nfsd threads waiting on its upcall: $inshim0; daemon pid $DPID gone: $(kill -0 $DPID 2>/dev/null && echo no || echo yes)" \
	eval '[ $running = yes ] && [ "$inshim0" -gt 0 ] && ! kill -0 $DPID 2>/dev/null'
check upcall_waiters_released "the nfsd thread(s) waiting on the killed daemon left pnfs_shim within ${rel} ms (limit 6000: the 5 s upcall timeout)" \
	eval '[ "$rel" != none ] && [ "$rel" -le 6000 ]'
# both writers finish (the copy on its layout or through the MDS, the new file through the MDS)
timeout 300 bash -c "while kill -0 $IOPID 2>/dev/null || kill -0 $IOPID2 2>/dev/null; do sleep 0.5; done"
iorc=$(cat /tmp/killio.rc 2>/dev/null || echo none)
iorc2=$(cat /tmp/inflight.rc 2>/dev/null || echo none)
echo "the copy and the new file ended $((SECONDS - tk)) s after the kill (dd status $iorc, $iorc2)"
# a new file after the kill: no layout to be had, through the MDS
w4a=$(v4writes) w3a=$(v3writes)
timeout 120 dd if=/tmp/src3 of=/mnt/nfs/afterkill bs=64k oflag=direct 2>/dev/null
dw4a=$(($(v4writes) - w4a)) dw3a=$(($(v3writes) - w3a))
echo "after the kill: $(srv)"
counters
echo "new file after the kill: v4 (MDS) WRITE +$dw4a, v3 (data server) WRITE +$dw3a"
check io_goes_on_after_kill "copy dd status $iorc, the file whose LAYOUTGET waited on the daemon: dd status $iorc2; cmp both vs NFS and GFS2" \
	eval '[ "$iorc" = 0 ] && [ "$iorc2" = 0 ] && timeout 120 cmp /tmp/src2 /mnt/nfs/killio && timeout 120 cmp /tmp/src2 /srv/gfs2/killio &&
		timeout 60 cmp /tmp/src3 /mnt/nfs/inflight && timeout 60 cmp /tmp/src3 /srv/gfs2/inflight'
check io_through_mds_after_kill "adapter unreachable +$(($(ffc unreachable) - un0)); v4 WRITE since the kill +$(($(v4writes) - w4k)), of the new file +$dw4a (v3 +$dw3a)" \
	eval '[ "$(ffc unreachable)" -gt "$un0" ] && [ "$dw4a" -gt 0 ] && [ "$dw3a" = 0 ] &&
		timeout 60 cmp /tmp/src3 /mnt/nfs/afterkill && timeout 60 cmp /tmp/src3 /srv/gfs2/afterkill'
# give the hung-task detector (10 s) two periods after the kill
while [ $((SECONDS - tk)) -lt 25 ]; do sleep 1; done
inshim1=$(nfsd_in_shim)
echo "nfsd threads: $(for p in $(nfsd_pids); do printf '%s:%s ' "$p" "$(awk '{print $3}' /proc/$p/stat)"; done)"
echo "nfsd threads inside pnfs_shim: $inshim0 at the kill, $inshim1 at +$((SECONDS - tk)) s"
echo "kernel half after the kill: $(pnfsctl stats show 2>/dev/null | grep -E 'layout-get +sent' | sed 's/^ *//')"
hung=$(dmesg | grep -c 'blocked for more than' || true)
dmesg | grep -A3 'blocked for more than' | head -8
check no_hung_nfsd_thread "dmesg 'blocked for more than': $hung (hung_task_timeout_secs=$(cat /proc/sys/kernel/hung_task_timeout_secs), $((SECONDS - tk)) s since the kill); nfsd threads in pnfs_shim: $inshim1" \
	eval '[ "$hung" = 0 ] && [ "$inshim1" = 0 ]'

echo "---- 4b. the daemon restarted ----"
lgr=$(opcount LAYOUTGET) gr=$(ffc granted) w3r=$(v3writes)
start_daemon
if until_ok 60 pnfsctl ping -c 1 && until_ok 30 granting; then
	pass daemon_restart "$(pnfsctl member show 2>/dev/null | sed -n 2p)"
else
	fail daemon_restart "$(tail -5 /tmp/daemon.log)"
fi
timeout 120 dd if=/tmp/src3 of=/mnt/nfs/afterrestart bs=64k oflag=direct 2>/dev/null
echo 3 >/proc/sys/vm/drop_caches
timeout 60 cat /mnt/nfs/afterrestart >/dev/null
echo "after the restart: $(client_line)"
counters
srv
dlgr=$(($(opcount LAYOUTGET) - lgr)) dgr=$(dstat layout-get)
check layouts_back_after_restart "client LAYOUTGET +$dlgr, the restarted daemon's layout-get received $dgr, adapter granted +$(($(ffc granted) - gr)), v3 WRITE +$(($(v3writes) - w3r))" \
	eval '[ "$dlgr" -gt 0 ] && [ "$dlgr" = "$dgr" ] && [ "$(ffc granted)" -gt "$gr" ] && [ "$(($(v3writes) - w3r))" -gt 0 ] &&
		timeout 60 cmp /tmp/src3 /mnt/nfs/afterrestart && timeout 60 cmp /tmp/src3 /srv/gfs2/afterrestart'
check no_fence_whole_run "the client answered every recall: adapter fenced=$(ffc fenced), nfsd_layout_recall_fail in the trace: $(tcount nfsd_layout_recall_fail)" \
	eval '[ "$(ffc fenced)" = 0 ]'
check no_hung_task_whole_run "dmesg 'blocked for more than': $(dmesg | grep -c 'blocked for more than')" \
	eval '! dmesg | grep -q "blocked for more than"'

# ---- 5. layouts leave the kernel half's table when nfsd frees their layout stateid
echo "---- 5. returned layouts leave the table ----"
nlay() { pnfsctl layout show 2>/dev/null | grep -c clientid || true; }
# the kernel half's layouts of the files named (by inode number on the GFS2 mount)
listed() {
	local ino
	ino=$(stat -c %i "$@" 2>/dev/null | tr '\n' ' ')
	pnfsctl layout show 2>/dev/null | awk -v l=" $ino" '$5 == "fileid" && index(l, " " $6 " ")' | wc -l
}
echo "---- pnfsctl layout show before ($(nlay) layouts) ----"
pnfsctl layout show 2>&1 | head -3
ret0=$(ffc returned) fg0=$(ffc forgotten) n0=$(nlay) lg5=$(opcount LAYOUTGET) lr5=$(opcount LAYOUTRETURN) dlr0=$(dstat layout-return)
mkdir -p /mnt/nfs/many
# What a grant costs in pnfs_shim after the upcall (the layout table: one scan per grant),
# by the function_graph tracer on pnfs_shim_layout_get and pnfs_shim_upcall: per nfsd
# thread, pnfs_shim_layout_get's time minus its upcall's.
TR=/sys/kernel/tracing
graph=no
if echo 'pnfs_shim_layout_get pnfs_shim_upcall' >$TR/set_ftrace_filter 2>/dev/null; then
	echo 4 >$TR/max_graph_depth
	echo function_graph >$TR/current_tracer && graph=yes
	echo funcgraph-tail >$TR/trace_options 2>/dev/null
	echo funcgraph-proc >$TR/trace_options 2>/dev/null
	echo >$TR/trace
fi
t=$SECONDS
NF=200
for ((f = 0; f < NF; f++)); do
	timeout 60 dd if=/tmp/src3 of=/mnt/nfs/many/f$f bs=64k count=1 oflag=direct 2>/dev/null
done
echo "$NF files written (O_DIRECT) and closed in $((SECONDS - t)) s"
if [ $graph = yes ]; then
	grep -v '^#' $TR/trace >/tmp/graph5.txt
	echo nop >$TR/current_tracer
	echo nofuncgraph-tail >$TR/trace_options 2>/dev/null
	echo nofuncgraph-proc >$TR/trace_options 2>/dev/null
	echo >$TR/set_ftrace_filter
	awk '
		{ if (!match($0, /[^ |)]+-[0-9]+ /)) next; task = substr($0, RSTART, RLENGTH) }
		/pnfs_shim_layout_get.*\{/ { open[task] = 1; up[task] = 0; next }
		!match($0, /[0-9]+\.[0-9]+ us/) { next }
		{ d = substr($0, RSTART, RLENGTH - 3) }
		/pnfs_shim_upcall/ && open[task] { up[task] = d; next }
		/\} \/\* pnfs_shim_layout_get/ && open[task] { print d - up[task]; open[task] = 0 }
	' /tmp/graph5.txt | sort -n >/tmp/table5.txt
	nt=$(wc -l </tmp/table5.txt)
	if [ "$nt" -gt 0 ]; then
		echo "a grant's time in pnfs_shim after its upcall (the table), $nt grants: p50 $(sed -n "$(((nt + 1) / 2))p" /tmp/table5.txt) us, max $(tail -1 /tmp/table5.txt) us"
	else
		echo "(function_graph: no pnfs_shim_layout_get seen; $(wc -l </tmp/graph5.txt) trace lines)"
		head -5 /tmp/graph5.txt
	fi
fi
# the adapter forgets from its work queue: give it a moment
for ((i = 0; i < 40; i++)); do
	[ "$(listed /srv/gfs2/many/f*)" = 0 ] && [ "$(($(ffc returned) - ret0))" -ge $NF ] && break
	sleep 0.25
done
n1=$(nlay) l1=$(listed /srv/gfs2/many/f*)
echo "client LAYOUTGET +$(($(opcount LAYOUTGET) - lg5)) LAYOUTRETURN +$(($(opcount LAYOUTRETURN) - lr5)); $(srv)"
counters
echo "daemon layout-return received +$(($(dstat layout-return) - dlr0))"
pnfsctl stats show 2>&1 | grep -E 'layout-(get|return)' | head -4
echo "---- pnfsctl layout show after the $NF files ($n1 layouts, $l1 of those files) ----"
pnfsctl layout show 2>&1 | head -3
check layouts_forgotten_on_close "$NF files closed: adapter returned +$(($(ffc returned) - ret0)) forgotten +$(($(ffc forgotten) - fg0)); the kernel half's table $n0 -> $n1 layouts, $l1 of the $NF files; daemon layout-return received +$(($(dstat layout-return) - dlr0))" \
	eval '[ "$(($(ffc returned) - ret0))" -ge $NF ] && [ "$(($(ffc forgotten) - fg0))" -ge $NF ] && [ "$l1" = 0 ] &&
		[ "$n1" -le "$n0" ] && [ "$(($(dstat layout-return) - dlr0))" -ge $NF ]'
exec 3<>/mnt/nfs/data
timeout 60 dd if=/tmp/src of=/mnt/nfs/data bs=1M count=1 conv=notrunc oflag=direct 2>/dev/null
nopen=$(listed /srv/gfs2/data)
echo "a file held open with a layout: $nopen layout(s) listed"
ret1=$(ffc returned)
timeout 30 umount -l /mnt/nfs 2>/dev/null
exec 3<&-
for ((i = 0; i < 60; i++)); do
	[ "$(nlay)" = 0 ] && break
	sleep 0.5
done
echo "---- after the unmount: pnfsctl layout show ($(nlay) layouts) ----"
pnfsctl layout show 2>&1 | head -3
counters
check layouts_forgotten_on_unmount "held open: $nopen listed; after the unmount: $(nlay) layouts in the kernel half's table, adapter returned +$(($(ffc returned) - ret1)) (layouts_evicted=$(cat /sys/module/pnfs_shim/parameters/layouts_evicted), max_layouts=$(cat /sys/module/pnfs_shim/parameters/max_layouts))" \
	eval '[ "$nopen" -gt 0 ] && [ "$(nlay)" = 0 ] && [ "$(ffc returned)" -gt "$ret1" ] &&
		[ "$(cat /sys/module/pnfs_shim/parameters/layouts_evicted)" = 0 ]'
kill $DPID 2>/dev/null
finish
