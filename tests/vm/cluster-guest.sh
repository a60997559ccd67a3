#!/bin/bash
# pid 1 of each guest of tests/vm/cluster.sh (Debian bookworm root, snapshot=on). The
# kernel command line says vmc.node=N vmc.nodes=M vmc.boot=B. Both nodes set up corosync, dlm,
# the lock_dlm GFS2, nfsd with the flexfile hooks, the shim and pnfs_controld (corosync
# engine, node 1 the MDS by priority); node 2 then serves commands from node 1 on TCP
# 7777 (busybox nc) and waits to be killed; node 1 is the NFS client and runs the checks:
#   1. pNFS across nodes   a file striped on node 2: the client's data I/O goes there
#                          (node 2's NFSv3 counters, the client's connections), the data
#                          reads back identical through NFS and on both GFS2 mounts
#   1c. drain              `pnfsctl layout recall device` of node 2's device, run on node
#                          2: the MDS recalls it, the next layout is on node 1's device;
#                          `pnfsctl device restore` puts it back
#   2. node 2 dies         node 1 asks the host ("VMC-HOST kill 2") during client I/O:
#                          corosync detects it, node 1's daemon recalls node 2's device
#                          within detection + 100 ms (corosync's log, nfsd's trace events,
#                          one clock), the I/O goes on with a new layout on node 1, GFS2
#                          recovers node 2's journal, `pnfsctl fs show` and the daemon's
#                          members agree with GFS2 and dlm
#   3. node 1 dies         the host boots node 2 again (vmc.boot=2; it rejoins), node 1
#                          adds the service address 10.9.0.100 and serves commands; node 2's
#                          client mounts the service address and holds a lock on node 1's
#                          nfsd; node 2's nfsd restarts once meanwhile (a rolling restart);
#                          node 2 has the host kill node 1 ("VMC-HOST kill 1"), recovers its
#                          journal, takes the service address over and restarts its nfsd into
#                          grace: the client reclaims its lock there (the client's own
#                          nfs4_lock_reclaim event, node 2's nfsd's lock state)
# Every nfsd presents one server owner and scope (nfsd takes both from the nodename of the
# process that starts it): rpc.nfsd runs in a UTS namespace named vmc-nfs (/tmp/nfsd-up.sh).
# Every check is a PASS/FAIL line with its evidence, between VMC-BEGIN and VMC-END.
export PATH=/opt/pnfs:/usr/sbin:/usr/bin:/sbin:/bin LD_LIBRARY_PATH=/opt/pnfs/lib
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm
NODE=1 NODES=2 DIAG=0 BOOT=1
for w in $(cat /proc/cmdline); do
	case $w in
	vmc.node=*) NODE=${w#*=} ;;
	vmc.boot=*) BOOT=${w#*=} ;;
	vmc.nodes=*) NODES=${w#*=} ;;
	vmc.diag=*) DIAG=${w#*=} ;;
	esac
done
PEER=$((3 - NODE))
# check names: vmc_n1_*, vmc_n2_* (node 2's first boot), vmc_n2r_* (node 2 rejoined)
TN=n$NODE
[ "$BOOT" = 1 ] || TN=n${NODE}r
hostname "n$NODE"
echo VMC-BEGIN
log() { echo "$TN $(date +%H:%M:%S.%3N) $*"; }
CHECK_PREFIX=vmc_${TN}_
. /opt/pnfs/guestlib.sh
# diag: the logs' tails and VMC-END (the host prints a guest's serial log up to it)
diag() {
	echo "---- $TN daemon log (tail) ----"
	tail -12 /tmp/daemon.log 2>/dev/null | cut -c1-240
	echo "---- $TN daemon ring (membership, recall, fs, grace) ----"
	pnfsctl debug dump 2>/dev/null | grep -E 'membership|left|recall|recover|grace|mds' | tail -20 | cut -c1-240
	echo "---- $TN corosync log (membership lines) ----"
	grep -E 'membership|Members|quorum|failed|Completed' /tmp/corosync.log 2>/dev/null | tail -12
	echo "---- $TN kernel log (nfsd, dlm, gfs2, pnfs, hung) ----"
	dmesg | grep -iE 'nfsd|dlm|gfs2|pnfs|blocked for|WARN|BUG' | tail -25
	echo VMC-END
}
finish() {
	log "finishing: $*"
	diag
	sync
	echo o >/proc/sysrq-trigger
	sleep 60
}
guest_watchdog 900
# rpc COMMAND: run COMMAND on the peer (node 2's command server), print its output.
rpc() { echo "$*" | timeout "${RPC_T:-20}" busybox nc "10.9.0.$PEER" 7777; }
v3w() { awk '/^proc3 /{print $10}' /proc/net/rpc/nfsd; }
v3r() { awk '/^proc3 /{print $9}' /proc/net/rpc/nfsd; }
v4w() { awk '/^proc4ops /{print $41}' /proc/net/rpc/nfsd; }
adapter() { echo "granted=$(ffc granted) refused=$(ffc refused) unreachable=$(ffc unreachable) devinfo=$(ffc devinfo) recalled=$(ffc recalled) fenced=$(ffc fenced)"; }
qnodes() { corosync-quorumtool -s 2>/dev/null | awk '/^Nodes:/ {print $2}'; }
granting() { pnfsctl member show 2>/dev/null | grep -q 'grace false.*granting true'; }
members() { pnfsctl member show 2>/dev/null | awk '$1 == "member" {printf "%s ", $2}'; }
devid() { printf '504e4653%08x0000000000000000' "$1"; }

# ---- network: the virtio NIC on the qemu socket wire, 10.9.0.N/24
IF=
for _ in $(seq 1 50); do
	IF=$(ls /sys/class/net | grep -v '^lo$' | head -n1)
	[ -n "$IF" ] && break
	sleep 0.2
done
[ -n "$IF" ] || { fail net "no NIC ($(ls /sys/class/net))"; finish nonic; }
ip link set lo up
ip link set "$IF" up
ip addr add "10.9.0.$NODE/24" dev "$IF"
if until_ok 120 busybox ping -c 1 -W 1 "10.9.0.$PEER"; then
	pass ping "10.9.0.$PEER from 10.9.0.$NODE on $IF"
else
	fail ping "10.9.0.$PEER: no answer in 120 s"
	finish noping
fi

# ---- corosync (knet) on 10.9.0.0/24; token 5000 (detection ~10 s under TCG)
mkdir -p /etc/corosync /var/lib/corosync /var/log/corosync
{
	printf 'totem {\n\tversion: 2\n\tcluster_name: vmc\n\ttransport: knet\n\ttoken: 5000\n'
	printf '\tcrypto_cipher: none\n\tcrypto_hash: none\n}\nnodelist {\n'
	for p in $(seq 1 "$NODES"); do
		printf '\tnode {\n\t\tring0_addr: 10.9.0.%s\n\t\tnodeid: %s\n\t\tname: n%s\n\t}\n' "$p" "$p" "$p"
	done
	printf '}\nquorum {\n\tprovider: corosync_votequorum\n\ttwo_node: 1\n}\n'
	printf 'logging {\n\tto_logfile: yes\n\tlogfile: /tmp/corosync.log\n\tto_syslog: no\n'
	printf '\tto_stderr: no\n\ttimestamp: hires\n}\n'
} >/etc/corosync/corosync.conf
corosync || { fail corosync_start "$(tail -5 /tmp/corosync.log)"; finish; }
nodes_are() { [ "$(qnodes)" = "$1" ]; }
if until_ok 180 nodes_are "$NODES"; then
	pass corosync_membership "$(corosync-quorumtool -s | grep -E '^(Nodes|Quorate|Ring ID):' | tr -s ' ' | tr '\n' ';')"
else
	fail corosync_membership "$(corosync-quorumtool -s 2>&1 | tr '\n' ' ')"
	finish
fi

# ---- dlm_controld (fencing off: no fence agent in this lane) and the lock_dlm GFS2
modprobe dlm && modprobe gfs2 || { fail modprobe "dlm/gfs2"; finish; }
mount -t configfs configfs /sys/kernel/config
mkdir -p /dev/misc /etc/dlm
for d in dlm-control dlm-monitor dlm_plock; do [ -e /dev/$d ] && ln -sf ../$d /dev/misc/$d; done
echo 'enable_fencing=0' >/etc/dlm/dlm.conf
dlm_controld -D >/tmp/dlm_controld.log 2>&1 &
until_ok 60 test -d "/sys/kernel/config/dlm/cluster/comms/$NODE" || { fail dlm_controld "$(tail -5 /tmp/dlm_controld.log)"; finish; }
DEV=
for b in /sys/block/vd*; do [ "$(cat "$b/serial" 2>/dev/null)" = shared0 ] && DEV=/dev/${b##*/}; done
mkdir -p /srv/gfs2 /mnt/nfs /run/rpc_pipefs /var/lib/pnfs /run/rpcbind /var/lib/nfs
if timeout 300 mount -t gfs2 -o noatime "$DEV" /srv/gfs2; then
	JID=$(cat /sys/fs/gfs2/vmc:fs0/lock_module/jid)
	pass gfs2_mount "$DEV lock_dlm vmc:fs0 jid $JID"
else
	fail gfs2_mount "$(dmesg | grep -iE 'gfs2|dlm' | tail -5 | tr '\n' ' ')"
	finish
fi
chmod 777 /srv/gfs2

# ---- nfsd with the flexfile hooks, the shim, the adapter; pnfs_controld; nfsd
cp /opt/pnfs/nfsd.ko "/lib/modules/$(uname -r)/kernel/fs/nfsd/nfsd.ko" && depmod
if modprobe nfsd && insmod /opt/pnfs/pnfs_shim.ko && insmod /opt/pnfs/pnfs_shim_ff.ko; then
	pass modules_load "$(grep -E '^(nfsd|pnfs_shim|pnfs_shim_ff) ' /proc/modules | cut -d' ' -f1 | tr '\n' ' ')"
else
	fail modules_load "$(dmesg | tail -3)"
	finish
fi
# The hung-task detector at 30 s: GFS2 holds every node's I/O until a dead node's journal
# is replayed (detection ~11 s + replay here), so nfsd threads writing to GFS2 wait that
# long by design; a thread blocked for 30 s is a hang.
echo 30 >/proc/sys/kernel/hung_task_timeout_secs
echo -1 >/proc/sys/kernel/hung_task_warnings
mount -t nfsd nfsd /proc/fs/nfsd
mount -t rpc_pipefs sunrpc /run/rpc_pipefs
echo 10 >/proc/fs/nfsd/nfsv4leasetime
echo 10 >/proc/fs/nfsd/nfsv4gracetime
# lockd's grace (NFSv3 locks) holds NFSv4 locks too (locks_in_grace: any lock manager of
# the namespace): 50 s by default (5 x nlm_timeout); the same 10 s as nfsd's here.
modprobe lockd
echo 10 >/proc/sys/fs/nfs/nlm_grace_period
# The NFS client's modules now (each node's client mounts during a grace later, where
# loading them from disk under TCG took seconds); the flexfile client's data-server
# timeouts: 3 s, one retry (the default is 60 s).
modprobe nfsv4
modprobe nfs_layout_flexfiles dataserver_timeo=30 dataserver_retrans=1
rpcbind
exportfs -o rw,sync,no_root_squash,no_subtree_check,insecure,fsid=1,pnfs '*:/srv/gfs2'
rpc.mountd -N 2
PNFS_LOG=info pnfs_controld --engine corosync --socket generic --node-id "$NODE" \
	--mds-priority $((NODE == 1 ? 10 : 1)) --cluster-name vmc --state-dir /var/lib/pnfs --rt-priority 1 \
	--grace-ms 1000 --addr "tcp,10.9.0.$NODE.8.1" --cld-pipe /run/rpc_pipefs/nfsd/cld \
	>>/tmp/daemon.log 2>&1 &
DPID=$!
until_ok 60 pnfsctl ping -c 1 || { fail daemon_start "$(tail -5 /tmp/daemon.log)"; finish; }
# Every node's nfsd presents one server owner and scope, so that a client whose service
# address moves to another node may reclaim there: nfsd takes both from the nodename of
# the process that starts it (nfsd_svc), so rpc.nfsd runs in a UTS namespace of its own.
# (The data server speaks NFSv3: loosely coupled flexfiles.)
printf '#!/bin/sh\nexec unshare --uts sh -c "hostname vmc-nfs && exec rpc.nfsd -V 3 -V 4.1 -V 4.2 4"\n' >/tmp/nfsd-up.sh
chmod 755 /tmp/nfsd-up.sh
# cstates PATTERN: the states nfsd holds for the client whose info matches PATTERN
printf '#!/bin/sh\nfor d in /proc/fs/nfsd/clients/*; do grep -q "$1" "$d/info" 2>/dev/null && cat "$d/states"; done\n' >/tmp/cstates.sh
chmod 755 /tmp/cstates.sh
/tmp/nfsd-up.sh || { fail nfsd_start "rpc.nfsd"; finish; }
T_NFSD=$SECONDS
check nfsd_uses_our_cld "$(dmesg | grep -o 'Using nfsdcld client tracking operations' | head -1)" \
	until_ok 30 eval "dmesg | grep -q 'Using nfsdcld client tracking operations'"
if until_ok 90 eval '[ "$(members)" = "1 2 " ]'; then
	pass daemon_members "$(pnfsctl member show 2>/dev/null | sed -n 2,4p | tr '\n' ';')"
else
	fail daemon_members "$(pnfsctl member show 2>&1 | tr '\n' ';')"
fi
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
for e in nfsd_layout_recall nfsd_layout_recall_done nfsd_layout_recall_fail nfsd_cb_layout_done; do
	echo 1 >/sys/kernel/tracing/events/nfsd/$e/enable
done
# The kernel's messages too (dlm's reaction to the same membership change, on this clock).
echo 1 >/sys/kernel/tracing/events/printk/console/enable
# One clock for corosync's log (wall clock) and nfsd's trace events: CLOCK_TAI (the
# wall clock here: no TAI offset is ever set in the guest).
echo tai >/sys/kernel/tracing/trace_clock 2>/dev/null

# serve_peer: run the peer's commands (its `rpc`) from TCP 7777; publish our jid; ready
serve_peer() {
	printf '#!/bin/bash\nexport PATH=%s LD_LIBRARY_PATH=%s\nread -r cmd\neval "$cmd" 2>&1\n' "$PATH" "$LD_LIBRARY_PATH" >/tmp/rpc.sh
	chmod 755 /tmp/rpc.sh
	busybox nc -ll -p 7777 -e /tmp/rpc.sh &
	echo "$JID" >/tmp/jid
	: >/tmp/ready
}
# kill_peer N: the host SIGKILLs node N's qemu (T_KILL: when asked); corosync detects it
kill_peer() {
	T_KILL=$(date +%s.%N)
	echo "VMC-HOST kill $1"
	if until_ok 120 nodes_are 1; then
		pass corosync_detects "corosync-quorumtool: $(qnodes) node(s), $(awk -v k="$T_KILL" -v n="$(date +%s.%N)" 'BEGIN {printf "%.1f", n - k}') s after the kill request"
	else
		fail corosync_detects "corosync still has $(qnodes) nodes"
	fi
}
if [ "$NODE" = 2 ] && [ "$BOOT" = 1 ]; then
	# ---- node 2, first boot: serve node 1's commands until the host kills this guest
	serve_peer
	log "ready; serving node 1's commands on 7777 until killed"
	sleep 840
	fail never_killed "node 1 did not have this guest killed"
	finish
fi

if [ "$NODE" = 2 ]; then
	# ---- 3. node 2 rejoined (its second boot): node 1 serves the service address
	# 10.9.0.100; this node's client mounts it and holds a lock; node 1 dies; this node
	# takes the address over and its nfsd restarts into grace: the client reclaims here.
	echo "---- 3. node 2 rejoined; node 1 dies: its client's lock is reclaimed on node 2 ----"
	SVC=10.9.0.100
	until_ok 120 eval 'rpc "cat /tmp/ready && echo ok" | grep -q ok' || { fail peer_ready "node 1 never served"; finish; }
	PJID=$(rpc 'cat /tmp/jid')
	check rejoined "corosync: $(qnodes) nodes; journal $JID; daemon: $(pnfsctl member show 2>/dev/null | sed -n 2p)" \
		eval '[ "$(qnodes)" = 2 ] && pnfsctl member show 2>/dev/null | grep -q "^mds 1 "'
	# this nfsd's own grace (10 s) ends first: the cluster is out of grace
	while [ $((SECONDS - T_NFSD)) -lt 15 ]; do sleep 1; done
	# timeo=50: the client retries every 5 s (TCP's default: 60 s), so it finds the service
	# address on its new node soon after the takeover. A hard mount, as for any HA service.
	if timeout 120 mount -t nfs4 -o vers=4.1,proto=tcp,timeo=50 "$SVC:/srv/gfs2" /mnt/nfs; then
		pass client_mount "$SVC:/srv/gfs2 (node 1's service address) vers=4.1"
	else
		fail client_mount "NFSv4.1 mount of $SVC"
		finish
	fi
	: >/srv/gfs2/lock3
	chmod 666 /srv/gfs2/lock3
	flock /mnt/nfs/lock3 -c 'echo locked >/tmp/locked3; exec sleep 3600' &
	LPID=$!
	until_ok 30 test -e /tmp/locked3 || fail lock3 "flock through the service address did not succeed"
	ME='NFSv4.1 n2"'
	pstates() { rpc "/tmp/cstates.sh '$ME'"; }
	states() { /tmp/cstates.sh "$ME"; }
	check lock_held_on_node1 "node 1's nfsd holds $(pstates | grep -c 'type: lock') lock state(s) of client \"Linux $ME" \
		eval 'pstates | grep -q "type: lock"'
	# A rolling restart of this node's nfsd while the client's state lives on node 1: a
	# cluster grace begins and ends; the client has nothing to reclaim here (node 1's nfsd
	# kept running) and its record must outlive this grace.
	T_RR=$(date +%s.%N)
	rpc.nfsd 0
	/tmp/nfsd-up.sh || fail nfsd_restart "rpc.nfsd"
	since() { pnfsctl debug dump 2>/dev/null | awk -v t="$1" '$1 >= t'; }
	until_ok 40 eval 'since "$T_RR" | grep -q "cld: grace done: epoch"'
	check grace_after_rolling_restart "node 2's daemon: $(since "$T_RR" | grep -E 'cluster grace begins|cld: grace (starts|done)' | cut -c1-120 | tr '\n' ';')" \
		eval 'since "$T_RR" | grep -q "cld: grace done: epoch"'
	clients() { pnfsctl -j client show 2>/dev/null | tr -d '\n' | tr -s ' '; }
	check client_record_outlives_grace "pnfsctl -j client show: $(clients | cut -c1-300)" \
		eval 'clients | grep -q "Linux NFSv4.1 n2"'
	# the client's reclaims and nfsd's grace, in one trace buffer (one clock)
	for e in nfs4/nfs4_open_reclaim nfs4/nfs4_state_lock_reclaim nfs4/nfs4_set_lock nfsd/nfsd_grace_start nfsd/nfsd_grace_complete; do
		echo 1 >/sys/kernel/tracing/events/$e/enable 2>/dev/null || log "no trace event $e"
	done
	echo >/sys/kernel/tracing/trace
	kill_peer 1
	jdone() { dmesg | grep -qE "jid=$PJID: (Done|Busy)"; }
	until_ok 120 jdone
	check gfs2_recovers_journal "node 1's jid $PJID: $(dmesg | grep -oE "jid=$PJID: (Done|Busy)" | head -1); recover_status=$(cat /sys/fs/gfs2/vmc:fs0/lock_module/recover_status)" jdone
	# The takeover, as a cluster resource manager does it: the service address comes up
	# here and nfsd restarts (an nfsd enters grace only when it starts), with 20 s of grace.
	ip addr add "$SVC/24" dev "$IF"
	rpc.nfsd 0
	echo 20 >/proc/fs/nfsd/nfsv4gracetime
	echo 20 >/proc/sys/fs/nfs/nlm_grace_period
	T_TO=$(date +%s.%N)
	/tmp/nfsd-up.sh || fail takeover_nfsd "rpc.nfsd"
	log "took over $SVC; nfsd in grace"
	tr_lines() { grep -v '^#' /sys/kernel/tracing/trace | grep -E ": ($1):" | sed 's/^ *//' | cut -c1-220; }
	# tr_time EVENT [REGEX]: the trace time of EVENT's first line (matching REGEX)
	tr_time() { tr_lines "$1" | grep -E -- "${2:-.}" | head -n1 | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+:$/) {sub(":", "", $i); print $i; exit}}'; }
	until_ok 90 eval 'states | grep -q "type: lock"'
	echo "---- trace: nfsd's grace, the client's reclaims ----"
	tr_lines 'nfsd_grace_start|nfsd_grace_complete|nfs4_open_reclaim|nfs4_state_lock_reclaim|nfs4_set_lock' | head -10
	dmesg | grep -E 'NFSD: (starting|all clients|no clients).*grace|reclaim failed' | tail -4
	gs=$(since "$T_TO" | grep -m1 'cld: grace starts' | cut -c1-140)
	t_gs=$(tr_time nfsd_grace_start) t_lr=$(tr_time nfs4_state_lock_reclaim) t_sl=$(tr_time nfs4_set_lock 'error=0 ')
	t_gc=$(tr_time nfsd_grace_complete)
	# A lock granted while nfsd is in grace is a reclaim (any other gets NFS4ERR_GRACE).
	check lock_reclaimed_on_node2 "trace: nfsd grace start ${t_gs:-none}, the client's LOCK error=0 at ${t_sl:-never}, its lock state reclaimed at ${t_lr:-never}, grace complete ${t_gc:-not yet}; $(tr_lines nfs4_open_reclaim | grep -oE 'error=[^ ]+ [^ ]+' | head -1 | sed 's/^/open reclaim /'); node 2's nfsd holds $(states | grep -c 'type: lock') lock state(s) of the client; the holder (pid $LPID) alive: $(kill -0 $LPID 2>/dev/null && echo yes || echo no); daemon: ${gs:-no grace start}" \
		eval '[ -n "$t_gs" ] && [ -n "$t_lr" ] && [ -n "$t_sl" ] && awk -v a="$t_gs" -v b="$t_lr" -v c="$t_sl" -v d="${t_gc:-1e12}" "BEGIN { exit !(a <= c && c <= d && a <= b && b <= d) }" &&
			states | grep -q "type: lock" && kill -0 $LPID && ! dmesg | grep -qi "reclaim failed"'
	dd if=/dev/urandom of=/tmp/src3 bs=1M count=2 2>/dev/null
	SUM3=$(sha256sum </tmp/src3 | cut -d' ' -f1)
	timeout 180 dd if=/tmp/src3 of=/mnt/nfs/f3 bs=1M conv=fsync 2>/dev/null
	echo 3 >/proc/sys/vm/drop_caches
	s_nfs=$(timeout 60 sha256sum </mnt/nfs/f3 | cut -d' ' -f1)
	s_g=$(sha256sum </srv/gfs2/f3 | cut -d' ' -f1)
	check io_after_takeover "sha256 source $SUM3, NFS via $SVC $s_nfs, GFS2 $s_g" eval '[ "$s_nfs" = "$SUM3" ] && [ "$s_g" = "$SUM3" ]'
	dlmm=$(dlm_tool ls 2>/dev/null | awk '/^members/ {$1=""; print}' | head -1 | tr -s ' ')
	check views_agree "daemon: $(pnfsctl member show 2>/dev/null | sed -n 2p), members $(members)| dlm fs0 members:$dlmm | corosync nodes: $(qnodes)" \
		eval '[ "$(members)" = "2 " ] && [ "$(echo $dlmm)" = 2 ] && [ "$(qnodes)" = 1 ] && pnfsctl member show 2>/dev/null | grep -q "^mds 2 "'
	check no_hung_task "dmesg 'blocked for more than': $(dmesg | grep -c 'blocked for more than')" \
		eval '! dmesg | grep -q "blocked for more than"'
	kill $LPID 2>/dev/null
	timeout 30 umount /mnt/nfs
	finish done
fi

# ---- node 1: the MDS and the NFS client
until_ok 120 eval 'rpc "cat /tmp/ready && echo ok" | grep -q ok' || { fail peer_ready "node 2 never got ready"; finish; }
PJID=$(rpc 'cat /tmp/jid')
check mds_is_node1 "$(pnfsctl member show 2>/dev/null | sed -n 2p)" until_ok 60 granting
check peer_daemon_members "node 2's daemon: $(rpc 'pnfsctl member show' | sed -n 2,4p | tr '\n' ';')" \
	eval 'rpc "pnfsctl member show" | grep -q "^mds 1 "'
# nfsd's grace (10 s) on both nodes, ended cluster-wide
while [ $((SECONDS - T_NFSD)) -lt 15 ]; do sleep 1; done
# A hard mount, as for any HA NFS service: I/O waits out a server's death and recovery.
if timeout 120 mount -t nfs4 -o vers=4.1,proto=tcp 10.9.0.1:/srv/gfs2 /mnt/nfs; then
	pass client_mount "10.9.0.1:/srv/gfs2 vers=4.1"
else
	fail client_mount "NFSv4.1 mount of node 1"
	finish
fi

# ---- 1. pNFS across nodes. The daemon stripes file F on the (F's fileid mod 2)-th live
# member: odd inode numbers go to node 2. Files made on GFS2 first, one of each parity.
echo "---- 1. pNFS across nodes ----"
R= L=
for i in $(seq 1 12); do
	: >"/srv/gfs2/f$i"
	ino=$(stat -c %i "/srv/gfs2/f$i")
	if [ $((ino % 2)) = 1 ]; then [ -n "$R" ] || R=f$i; else [ -n "$L" ] || L=f$i; fi
done
chmod 666 /srv/gfs2/f*
log "file $R (inode $(stat -c %i /srv/gfs2/$R)) for node 2, $L (inode $(stat -c %i /srv/gfs2/$L)) for node 1"
dd if=/dev/urandom of=/tmp/src bs=1M count=4 2>/dev/null
SUM=$(sha256sum </tmp/src | cut -d' ' -f1)
p3w0=$(rpc "awk '/^proc3 /{print \$10}' /proc/net/rpc/nfsd") p3r0=$(rpc "awk '/^proc3 /{print \$9}' /proc/net/rpc/nfsd")
w30=$(v3w) w40=$(v4w)
# Held open until the checks: nfsd's layouts are return-on-close, and the kernel half
# forgets a layout its client returned.
exec 4<"/mnt/nfs/$R"
timeout 120 dd if=/tmp/src of="/mnt/nfs/$R" bs=1M oflag=direct 2>/dev/null
echo 3 >/proc/sys/vm/drop_caches
timeout 120 cat "/mnt/nfs/$R" >/dev/null
p3w1=$(rpc "awk '/^proc3 /{print \$10}' /proc/net/rpc/nfsd") p3r1=$(rpc "awk '/^proc3 /{print \$9}' /proc/net/rpc/nfsd")
echo "---- client mountstats ----"
mstats | grep -E 'pnfs=|^[[:space:]]+(READ|WRITE|LAYOUTGET|LAYOUTRETURN|GETDEVICEINFO):'
echo "---- TCP connections to port 2049 ----"
ss -tn | awk '$5 ~ /:2049$/ {print $4, "->", $5}' | sort -u
echo "---- pnfsctl device show / layout show (node 1, the MDS) ----"
pnfsctl device show 2>&1 | head -8
pnfsctl layout show 2>&1 | head -6
RINO=$(stat -c %i "/srv/gfs2/$R")
check pnfs_flexfiles "$(mstats | grep -o 'pnfs=[A-Z_]*')" eval 'mstats | grep -q pnfs=LAYOUT_FLEX_FILES'
check layout_on_node2_device "pnfsctl layout show (the file held open): fileid $RINO on device $(devid 2)" \
	eval 'pnfsctl layout show 2>/dev/null | awk -v f="$RINO" -v d="$(devid 2)" "\$6 == f && \$8 == d" | grep -q .'
check data_io_on_node2 "node 2's nfsd NFSv3 WRITE +$((p3w1 - p3w0)) READ +$((p3r1 - p3r0)); node 1's NFSv3 WRITE +$(($(v3w) - w30)) NFSv4 WRITE +$(($(v4w) - w40)); client connections to 10.9.0.2:2049: $(ss -tn | grep -c ' 10.9.0.2:2049 ')" \
	eval '[ $((p3w1 - p3w0)) -gt 0 ] && [ $((p3r1 - p3r0)) -gt 0 ] && [ $(($(v4w) - w40)) = 0 ] && ss -tn | grep -q " 10.9.0.2:2049 "'
lg=$(opcount LAYOUTGET) dlg=$(dstat layout-get)
check layoutget_count_equals_daemon "client LAYOUTGET=$lg, node 1's daemon layout-get received=$dlg" eval '[ "$lg" -gt 0 ] && [ "$lg" = "$dlg" ]'
exec 4<&-
s_nfs=$(sha256sum <"/mnt/nfs/$R" | cut -d' ' -f1)
s_g1=$(sha256sum <"/srv/gfs2/$R" | cut -d' ' -f1)
s_g2=$(rpc "sha256sum </srv/gfs2/$R" | cut -d' ' -f1)
check same_data_everywhere "sha256 source $SUM, NFS $s_nfs, node 1 GFS2 $s_g1, node 2 GFS2 $s_g2" \
	eval '[ "$s_nfs" = "$SUM" ] && [ "$s_g1" = "$SUM" ] && [ "$s_g2" = "$SUM" ]'

# ---- 1c. an operator drains node 2's data server, from node 2: `pnfsctl layout recall
# device` goes through the daemons (the agreed order); the MDS (node 1) recalls the
# device's layouts; the client's next layout for the same file is on node 1's device;
# `pnfsctl device restore` puts node 2 back.
echo "---- 1c. drain node 2's data server ----"
exec 4<>"/mnt/nfs/$R"
timeout 60 dd if=/tmp/src of="/mnt/nfs/$R" bs=1M count=1 conv=notrunc oflag=direct 2>/dev/null
on_dev() { pnfsctl layout show 2>/dev/null | awk -v f="$RINO" -v d="$(devid "$1")" '$6 == f && $8 == d' | grep -q .; }
held2=$(on_dev 2 && echo yes || echo no)
echo >/sys/kernel/tracing/trace
lr0=$(opcount LAYOUTRETURN) lg0=$(opcount LAYOUTGET)
echo "\$ pnfsctl layout recall device $(devid 2)   (on node 2)"
rpc "pnfsctl layout recall device $(devid 2)"
until_ok 15 eval '[ "$(opcount LAYOUTRETURN)" -gt "$lr0" ] && [ "$(tcount nfsd_cb_layout_done)" -gt 0 ]'
# nfsd polls the client while the stateid still holds layouts: wait for its callbacks to stop
nd0=-1 stable=0
for ((i = 0; i < 50 && stable < 4; i++)); do
	nd1=$(tcount nfsd_cb_layout_done)
	if [ "$nd1" = "$nd0" ]; then stable=$((stable + 1)); else stable=0; fi
	nd0=$nd1
	sleep 0.25
done
grep -v '^#' /sys/kernel/tracing/trace | sed 's/^ *//' | cut -c1-140 | head -4
drained=$(pnfsctl member show 2>/dev/null | awk '$1 == "drained" {print $2}')
check drain_recalls_device "the file's layout on node 2's device before: $held2; nfsd_layout_recall $(tcount nfsd_layout_recall), nfsd_cb_layout_done $(tcount nfsd_cb_layout_done); client LAYOUTRETURN $lr0 -> $(opcount LAYOUTRETURN); node 1's daemon: drained ${drained:-none}, $(pnfsctl debug dump 2>/dev/null | grep -m1 'device of node 2 drained' | cut -c1-100)" \
	eval '[ "$held2" = yes ] && [ "$(tcount nfsd_layout_recall)" -gt 0 ] && [ "$(opcount LAYOUTRETURN)" -gt "$lr0" ] && [ "$drained" = "$(devid 2)" ]'
p3d0=$(rpc "awk '/^proc3 /{print \$10}' /proc/net/rpc/nfsd") w3d0=$(v3w)
timeout 60 dd if=/tmp/src of="/mnt/nfs/$R" bs=1M count=1 conv=notrunc oflag=direct 2>/dev/null
p3d1=$(rpc "awk '/^proc3 /{print \$10}' /proc/net/rpc/nfsd")
check drained_next_layout_elsewhere "client LAYOUTGET $lg0 -> $(opcount LAYOUTGET); fileid $RINO now on device $(devid 1): $(on_dev 1 && echo yes || echo no), on $(devid 2): $(on_dev 2 && echo yes || echo no); NFSv3 WRITE node 1 +$(($(v3w) - w3d0)), node 2 +$((p3d1 - p3d0))" \
	eval '[ "$(opcount LAYOUTGET)" -gt "$lg0" ] && on_dev 1 && ! on_dev 2 && [ $(($(v3w) - w3d0)) -gt 0 ] && [ $((p3d1 - p3d0)) = 0 ]'
exec 4<&-
rpc "pnfsctl device restore $(devid 2)"
check device_restored "node 1's daemon: $(pnfsctl member show 2>/dev/null | grep -c '^drained') drained; $(pnfsctl debug dump 2>/dev/null | grep -m1 'device of node 2 restored' | cut -c1-100)" \
	eval '! pnfsctl member show 2>/dev/null | grep -q "^drained"'

# ---- 1a. path 5 of the latency benchmarks between the guests: node 2's kernel half
# (the real module's load generator, depth 1) asks GET_STATE for a stateid no node knows:
# node 2's daemon misses its cache, asks the MDS over CPG, node 1's daemon asks its kernel
# half (the real module) and answers over CPG: every upcall takes the whole path (an
# unknown stateid is not cached). The floor: a bare CPG ping-pong (cpg_probe) between the
# same two guests. Printed as a PATH5 line; the ratio is reported, not asserted (TCG).
echo "---- 1a. path 5: DS->MDS GET_STATE miss vs a bare CPG ping-pong ----"
P5N=${P5N:-200}
if [ -x /opt/pnfs/cpg_probe ]; then
	rpc "(cpg_probe pingpong pnfs-p5 1 $P5N 50 >/tmp/pp.out 2>&1 &)"
	pp=$(timeout 300 cpg_probe pingpong pnfs-p5 2 "$P5N" 50 2>&1 | grep '"ev":"pingpong"' | tail -1)
	miss0=$(rpc "pnfsctl -j stats show" | tr -d ' \n' | grep -o '"cache_misses":[0-9]*' | head -1)
	tr=$(RPC_T=300 rpc "pnfsctl -j trigger pnfsd get-state --count $P5N --depth 1 --fsid 1 --fileid 999 --stateid 0000000200000000000000000000beef --clientid 4242" | tr -d ' \n')
	miss1=$(rpc "pnfsctl -j stats show" | tr -d ' \n' | grep -o '"cache_misses":[0-9]*' | head -1)
	jnum() { grep -o "\"$1\":[0-9.]*" | head -1 | cut -d: -f2; }
	pp50=$(jnum p50_us <<<"$pp") pp99=$(jnum p99_us <<<"$pp")
	t50=$(jnum p50-ns <<<"$tr") t99=$(jnum p99-ns <<<"$tr") tans=$(jnum answered <<<"$tr") tto=$(jnum timeouts <<<"$tr")
	echo "PATH5 product (node 2's module, GET_STATE miss, depth 1): answered ${tans:-?}/$P5N timeouts ${tto:-?} p50 ${t50:-?} ns p99 ${t99:-?} ns; node 2's daemon ${miss0:-?} -> ${miss1:-?}"
	echo "PATH5 floor (cpg_probe ping-pong node 1 <-> node 2): $pp"
	echo "PATH5-JSON product $tr"
	echo "PATH5-JSON floor $pp"
	[ -n "$t50" ] && [ -n "$pp50" ] && echo "PATH5 ratio p50 $(awk -v a="$t50" -v b="$pp50" 'BEGIN {printf "%.2f", a / 1000 / b}')x p99 $(awk -v a="$t99" -v b="$pp99" 'BEGIN {printf "%.2f", a / 1000 / b}')x (TCG guests; the module's p50 is a log-bucket histogram's)"
	check path5_every_upcall_answered "node 2's module: answered ${tans:-?} of $P5N, timeouts ${tto:-?}; ping-pong p50 ${pp50:-?} us" \
		eval '[ "$tans" = "$P5N" ] && [ "$tto" = 0 ] && [ -n "$pp50" ] && [ "${miss1#*:}" -ge $((${miss0#*:} + P5N)) ]'
else
	fail path5 "no cpg_probe in the payload (the host's DAEMON_BIN_DIR/examples/cpg_probe: cargo test --no-run builds it)"
fi

# ---- 1b. cluster-wide grace with real nfsds. Node 2's nfsd restarts (its grace: 10 s),
# node 1's 6 s later while node 1's client holds a lock; node 1's client cannot reach
# node 1's nfsd from then until node 2's GraceDone is held (a policy-routing rule on
# locally made packets to 10.9.0.1; corosync and dlm come in on eth0, untouched). Node 2's
# nfsd ends its grace first: its GraceDone must be held until node 1's nfsd has finished
# reclaim, and node 2's nfsd stays in grace until then (a new lock there waits).
echo "---- 1b. cluster-wide grace ----"
: >/srv/gfs2/lockf
: >/srv/gfs2/lock2
chmod 666 /srv/gfs2/lockf /srv/gfs2/lock2
flock /mnt/nfs/lockf -c 'echo locked >/tmp/locked; exec sleep 3600' &
LPID=$!
until_ok 30 test -e /tmp/locked || fail lock "flock on node 1's NFS file did not succeed"
states1() { cat /proc/fs/nfsd/clients/*/states 2>/dev/null; }
check lock_held_on_node1 "node 1's nfsd: $(states1 | grep -c 'type: lock') lock state(s)" eval 'states1 | grep -q "type: lock"'
rdump() { rpc 'pnfsctl debug dump' 2>/dev/null; }
T2=$SECONDS
rpc 'rpc.nfsd 0; /tmp/nfsd-up.sh && echo restarted' | grep -q restarted || fail nfsd2_restart "rpc.nfsd on node 2"
log "node 2's nfsd restarted"
while [ $((SECONDS - T2)) -lt 6 ]; do sleep 0.5; done
ip rule add to 10.9.0.1 iif lo prohibit pref 1 && ip rule del pref 0 && ip rule add from all lookup local pref 2 ||
	fail block_client "ip rule: $(ip rule 2>&1 | tr '\n' ';')"
timeout 30 rpc.nfsd 0
timeout 30 /tmp/nfsd-up.sh || fail nfsd1_restart "rpc.nfsd on node 1"
log "node 1's nfsd restarted; its client is cut off from it"
# Node 2's nfsd ends its own grace after 10 s and asks GraceDone: held while node 1
# needs grace. Then, during the hold, node 2's own client mounts node 2 and asks a new
# lock there: it must wait (NFS4ERR_GRACE) until the hold ends. (A client that mounted
# only node 2: the nodes present one server scope, so a second mount by node 1's client
# would be taken for a trunk of the server it already has. It has no state on node 2
# before: a mount earlier would reclaim at once and end node 2's grace early.) Then node
# 1's client may reach node 1 again and reclaim. The lock's times are node 2's clock, as
# its daemon's ring.
until_ok 30 eval 'rdump | grep -q "GraceDone held: nodes \[1\]"'
log "node 2's GraceDone is held (or 30 s passed)"
RPC_T=70 rpc 'mkdir -p /mnt/nfs2 && timeout 60 mount -t nfs4 -o vers=4.1,proto=tcp 10.9.0.2:/srv/gfs2 /mnt/nfs2 && echo mounted' |
	grep -q mounted || fail mount_node2 "NFSv4.1 mount of node 2 by node 2's client"
a2=$(rpc 'date +%s.%N; (timeout 120 flock /mnt/nfs2/lock2 -c "date +%s.%N >/tmp/lock2.at" </dev/null >/dev/null 2>&1 &)')
ip rule add from all lookup local pref 0 && ip rule del pref 2 && ip rule del pref 1 ||
	fail unblock_client "ip rule: $(ip rule 2>&1 | tr '\n' ';')"
log "node 1's client can reach node 1's nfsd again"
timeout 5 stat /mnt/nfs/lockf >/dev/null 2>&1 &
until_ok 60 eval 'rdump | sed -n "/GraceDone held: nodes \\[1\\]/,\$p" | grep -q "cld: grace done: epoch"'
until_ok 130 eval 'rpc "cat /tmp/lock2.at" | grep -q .'
held=$(rdump | grep -m1 'GraceDone held: nodes \[1\]')
done1=$(rdump | grep 'grace: node 1.s nfsd finished reclaim' | tail -1)
gdone=$(rdump | grep 'cld: grace done: epoch' | tail -1)
echo "node 2's daemon:"
rdump | grep -E 'grace|cld' | tail -14 | sed 's/^/  /'
echo "node 2's client's view of node 2: $(rpc "awk '/mounted on \/mnt\/nfs2 /{p=1} p&&/^[[:space:]]+LOCK:/{print; exit}' /proc/self/mountstats")"
check graceDone_held_on_node2 "${held:-no 'GraceDone held' line}" test -n "$held"
t_held=${held%% *} t_done1=${done1%% *} t_gdone=${gdone%% *}
check node2_answered_after_node1_reclaimed "node 2's GraceDone held at ${t_held:-?}, node 1 finished reclaim at ${t_done1:-?}, node 2's GraceDone answered at ${t_gdone:-?}" \
	eval '[ -n "$t_held" ] && [ -n "$t_done1" ] && [ -n "$t_gdone" ] && awk -v a="$t_held" -v b="$t_done1" -v c="$t_gdone" "BEGIN { exit !(a <= b && b <= c) }"'
check lock_reclaimed_on_node1 "node 1's nfsd after its restart: $(states1 | grep -c 'type: lock') lock state(s); the holder (pid $LPID) alive: $(kill -0 $LPID 2>/dev/null && echo yes || echo no)" \
	until_ok 30 eval 'states1 | grep -q "type: lock" && kill -0 $LPID'
l2=$(rpc 'cat /tmp/lock2.at')
check node2_in_grace_while_held "node 2's clock: a new lock on node 2 asked at ${a2:-?} during the hold (lockd's grace $(cat /proc/sys/fs/nfs/nlm_grace_period) s), granted at ${l2:-never}; node 2's GraceDone held at ${t_held:-?}, answered at ${t_gdone:-?}" \
	eval '[ -n "$a2" ] && [ -n "$l2" ] && [ -n "$t_gdone" ] && awk -v a="$a2" -v l="$l2" -v g="$t_gdone" "BEGIN { exit !(a < g && l >= g) }"'
kill $LPID 2>/dev/null
RPC_T=40 rpc "timeout 30 umount /mnt/nfs2" >/dev/null

# ---- 2. node 2 dies during client I/O on its device
echo "---- 2. node 2 dies ----"
dd if=/dev/urandom of=/tmp/src2 bs=1M count=8 2>/dev/null
SUM2=$(sha256sum </tmp/src2 | cut -d' ' -f1)
echo >/sys/kernel/tracing/trace
rec0=$(ffc recalled) lg0=$(opcount LAYOUTGET)
exec 3<>"/mnt/nfs/$R"
# the writer: 32 chunks of 256 KiB, each written and fsync'ed (an application's buffered
# writes: the client's writeback retries with a fresh layout; O_DIRECT would hand the
# application the data server's I/O error), paced to span the death and the recovery
(
	rc=0
	for ((c = 0; c < 32; c++)); do
		timeout 300 dd if=/tmp/src2 of="/mnt/nfs/$R" bs=256k count=1 skip=$c seek=$c conv=notrunc,fsync 2>/tmp/dd.err ||
			{ rc=1; log "writer: chunk $c failed: $(tr '\n' ' ' </tmp/dd.err)"; }
		sleep 0.5
	done
	echo $rc >/tmp/writer.rc
) &
WPID=$!
sleep 3
log "writer under way: $(stat -c %s "/srv/gfs2/$R") bytes on GFS2; asking the host to kill node 2"
if [ "$DIAG" = 1 ]; then
	# diagnosis (CLUSTER_DIAG=1): the daemon's and corosync's threads, syscalls and scheduling
	echo 16384 >/sys/kernel/tracing/buffer_size_kb
	(ls /proc/$DPID/task; ls /proc/$(pgrep -x corosync)/task) | tr '\n' ' ' >/sys/kernel/tracing/set_event_pid
	for e in raw_syscalls/sys_enter raw_syscalls/sys_exit sched/sched_switch sched/sched_wakeup; do
		echo 1 >/sys/kernel/tracing/events/$e/enable
	done
fi
kill_peer 2
until_ok 10 eval '[ "$(tcount nfsd_layout_recall)" -gt 0 ]'
# corosync's lines after the kill request, as epoch seconds (its timestamps: local time, ms)
cotime() {
	grep -E "$1" /tmp/corosync.log | while read -r mon day hms _; do
		t=$(date -d "$mon $day $hms" +%s.%N 2>/dev/null) || continue
		awk -v t="$t" -v k="$T_KILL" 'BEGIN { if (t >= k) { printf "%.3f\n", t; exit 1 } }' || break
	done | head -n1
}
T_FAIL=$(cotime 'A processor failed|token timed out')
T_MEMB=$(cotime 'A new membership .* was formed')
T_SYNC=$(cotime 'Completed service synchronization')
# ttime REGEX: the trace clock time of the first trace line matching REGEX
ttime() { grep -v '^#' /sys/kernel/tracing/trace | grep -E "$1" | head -n1 | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+:$/) {sub(":", "", $i); print $i; exit}}'; }
T_REC=$(ttime ': nfsd_layout_recall:')
T_DLM=$(ttime 'console: .*dlm: closing connection to node 2')
echo "---- nfsd trace events since the kill request (trace_clock $(grep -o '\[[a-z_]*\]' /sys/kernel/tracing/trace_clock)) ----"
grep -v '^#' /sys/kernel/tracing/trace | sed 's/^ *//' | cut -c1-160 | head -12
if [ "$DIAG" = 1 ]; then
	for e in raw_syscalls/sys_enter raw_syscalls/sys_exit sched/sched_switch sched/sched_wakeup; do
		echo 0 >/sys/kernel/tracing/events/$e/enable
	done
	echo "---- DIAG: threads: daemon $(ls /proc/$DPID/task | tr '\n' ' ') corosync $(ls /proc/$(pgrep -x corosync)/task | tr '\n' ' ')"
	grep -v '^#' /sys/kernel/tracing/trace | awk -v a="$T_SYNC" -v b="$T_REC" '{for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+:$/) {t = substr($i, 1, length($i) - 1) + 0; if (t >= a - 0.08 && t <= b + 0.005) print; break}}' | sed 's/^ *//' | cut -c1-200 | head -3000 | sed 's/^/DIAG /'
fi
rel() { [ -n "$1" ] && awk -v t="$1" -v k="$T_KILL" 'BEGIN {printf "%.3f", t - k}' || echo none; }
echo "TIMES after the kill request (s): corosync token lost $(rel "$T_FAIL"), new membership $(rel "$T_MEMB"), sync completed $(rel "$T_SYNC"); dlm closes node 2's connection $(rel "$T_DLM"); our daemon: membership $(rel "$(pnfsctl debug dump 2>/dev/null | awk '/membership: members \[1\] .*left \[\(2/ {print $1; exit}')"), nfsd_layout_recall $(rel "$T_REC")"
# Detection: corosync hands the new membership to its clients (CPG, votequorum) when it
# logs "Completed service synchronization"; none of them can know earlier.
DLY=$([ -n "$T_SYNC" ] && [ -n "$T_REC" ] && awk -v a="$T_SYNC" -v b="$T_REC" 'BEGIN {printf "%d", (b - a) * 1000}' || echo none)
check recall_within_detection_plus_100ms "first nfsd_layout_recall ${DLY} ms after corosync handed its clients the new membership; adapter recalled +$(($(ffc recalled) - rec0)); daemon ring: $(pnfsctl debug dump 2>/dev/null | grep -m1 'node 2 left')" \
	eval '[ "$DLY" != none ] && [ "$DLY" -ge 0 ] && [ "$DLY" -le 100 ] && [ "$(ffc recalled)" -gt "$rec0" ]'
# the writer ends (it waits out dlm and GFS2 recovery), then one more write: a new layout
timeout 400 bash -c "while kill -0 $WPID 2>/dev/null; do sleep 1; done"
wrc=$(cat /tmp/writer.rc 2>/dev/null || echo none)
w3a=$(v3w)
timeout 120 dd if=/tmp/src2 of="/mnt/nfs/$R" bs=1M count=1 conv=notrunc oflag=direct 2>/dev/null
echo "---- after the death: client ----"
mstats | grep -E '^[[:space:]]+(WRITE|LAYOUTGET|LAYOUTRETURN|GETDEVICEINFO):'
echo "---- pnfsctl layout show (node 1) ----"
pnfsctl layout show 2>&1 | head -6
echo "adapter: $(adapter)"
check io_goes_on_new_layout "writer dd status $wrc; client LAYOUTGET $lg0 -> $(opcount LAYOUTGET); layout of fileid $RINO now on device $(devid 1); node 1's NFSv3 WRITE +$(($(v3w) - w3a)) for the last write" \
	eval '[ "$wrc" = 0 ] && [ "$(opcount LAYOUTGET)" -gt "$lg0" ] && [ $(($(v3w) - w3a)) -gt 0 ] &&
		pnfsctl layout show 2>/dev/null | awk -v f="$RINO" -v d="$(devid 1)" "\$6 == f && \$8 == d" | grep -q .'
exec 3<&-
s_nfs=$(sha256sum <"/mnt/nfs/$R" | cut -d' ' -f1)
s_g1=$(sha256sum <"/srv/gfs2/$R" | cut -d' ' -f1)
check nothing_lost "sha256 source $SUM2, NFS $s_nfs, node 1 GFS2 $s_g1" eval '[ "$s_nfs" = "$SUM2" ] && [ "$s_g1" = "$SUM2" ]'
jdone() { dmesg | grep -qE "jid=$PJID: (Done|Busy)"; }
until_ok 120 jdone
check gfs2_recovers_journal "node 2's jid $PJID: $(dmesg | grep -oE "jid=$PJID: (Done|Busy)" | head -1); lock_module recover_done=$(cat /sys/fs/gfs2/vmc:fs0/lock_module/recover_done) recover_status=$(cat /sys/fs/gfs2/vmc:fs0/lock_module/recover_status)" \
	jdone
echo "---- pnfsctl fs show (node 1) ----"
pnfsctl fs show 2>&1 | head -20
check fs_show_has_recovery "pnfsctl -j fs show: $(pnfsctl -j fs show 2>/dev/null | tr -d ' \n' | grep -oE '"recoveries":\[[^]]*\]' | head -3 | tr '\n' ' ')" \
	eval "pnfsctl -j fs show 2>/dev/null | tr -d ' \n' | grep -qE '\"jid\":$PJID,\"result\":\"Done\"'"
dlmm=$(dlm_tool ls 2>/dev/null | awk '/^members/ {$1=""; print}' | head -1 | tr -s ' ')
check views_agree "daemon members: $(members)| dlm fs0 members:$dlmm | corosync nodes: $(qnodes)" \
	eval '[ "$(members)" = "1 " ] && [ "$(echo $dlmm)" = 1 ] && [ "$(qnodes)" = 1 ]'
check no_hung_task "dmesg 'blocked for more than' ($(cat /proc/sys/kernel/hung_task_timeout_secs) s): $(dmesg | grep -c 'blocked for more than')$(dmesg | grep -A24 'blocked for more than' | grep -oE ' [a-z_0-9.]+\+0x' | tr -d '+' | head -14 | tr '\n' ' ')" \
	eval '! dmesg | grep -q "blocked for more than"'
timeout 30 umount /mnt/nfs

# ---- 3. (node 1's part) the service address 10.9.0.100 here; the host boots node 2 again;
# node 2 drives section 3 through this node's command server and has this guest killed
echo "---- 3. node 1 serves the service address 10.9.0.100 until node 2 has it killed ----"
ip addr add 10.9.0.100/24 dev "$IF"
serve_peer
diag
echo "VMC-HOST boot 2"
sleep 840
fail never_killed "the rejoined node 2 did not have this guest killed"
finish
