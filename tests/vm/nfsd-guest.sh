#!/bin/bash
# The real-nfsd VM lane's guest side (pid 1 in the Debian guest; see tests/vm/nfsd.sh).
# Prints PASS/FAIL lines between NFSD-VM-BEGIN and NFSD-VM-END, then powers off.
export PATH=/opt/pnfs:/usr/sbin:/usr/bin:/sbin:/bin LD_LIBRARY_PATH=/opt/pnfs/lib
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
hostname pnfs-vm
ip link set lo up
echo NFSD-VM-BEGIN
CHECK_PREFIX=nfsd_
. /opt/pnfs/guestlib.sh
finish() {
	echo "---- daemon ring ----"
	pnfsctl debug dump 2>&1 | grep -E 'cld|grace' | tail -30
	echo "---- kernel log (nfsd) ----"
	dmesg | grep -iE 'nfsd|nfs4|gfs2' | tail -20
	echo NFSD-VM-END
	sync
	echo o >/proc/sysrq-trigger
	sleep 30
}
guest_watchdog 840

clients_have() { pnfsctl -j client show | grep -q -- "$1"; }
states() { cat /proc/fs/nfsd/clients/*/states 2>/dev/null; }
states_have() { states | grep -q -- "$1"; }

modprobe nfsd && modprobe gfs2 || { fail modules "modprobe nfsd/gfs2 failed"; finish; }
mkdir -p /srv/gfs2 /mnt/nfs /run/rpc_pipefs /var/lib/pnfs /run/rpcbind
if mount -t gfs2 /dev/vdb /srv/gfs2; then pass gfs2_mount; else fail gfs2_mount "mount -t gfs2 /dev/vdb"; finish; fi
mount -t nfsd nfsd /proc/fs/nfsd
mount -t rpc_pipefs sunrpc /run/rpc_pipefs
# Short lease and grace (the minimum nfsd takes is 10 s): a restart's grace is short.
echo 10 >/proc/fs/nfsd/nfsv4leasetime
echo 10 >/proc/fs/nfsd/nfsv4gracetime

pnfsctl twin >/tmp/twin.log 2>&1 &
until_ok 30 pnfsctl --socket usersock family show pnfsd || { fail twin "the twin did not start"; finish; }
# DAEMON_ENV: extra environment for the daemon (the test hook below).
start_daemon() {
	env ${DAEMON_ENV:-} pnfs_controld --socket usersock --engine local --node-id 1 \
		--state-dir /var/lib/pnfs --cld-pipe /run/rpc_pipefs/nfsd/cld >>/tmp/daemon.log 2>&1 &
	DPID=$!
	until_ok 60 pnfsctl ping -c 1
}

rpcbind
exportfs -o rw,sync,no_root_squash,no_subtree_check,fsid=1 '*:/srv/gfs2'
rpc.mountd -N 2 -N 3
start_nfsd() { rpc.nfsd -N 3 -V 4.1 -V 4.2 2; }

# nfs-utils' own nfsdcld serves the pipe first and records the client in its sqlite
# database; pnfs_controld, started afterwards on an empty state directory, imports it.
mkdir -p /var/lib/nfs/nfsdcld
nfsdcld -F -p /run/rpc_pipefs >/tmp/nfsdcld.log 2>&1 &
NPID=$!
sleep 1
start_nfsd
if timeout 90 mount -t nfs4 -o vers=4.1,proto=tcp,soft,timeo=100 127.0.0.1:/srv/gfs2 /mnt/nfs; then
	pass client_mount
else
	fail client_mount "NFSv4.1 mount over loopback failed"
	finish
fi
echo hello >/mnt/nfs/f
# A process keeps an open file and a lock (flock on NFS is a whole-file byte-range lock).
flock /mnt/nfs/f -c 'echo locked >/tmp/locked; exec sleep 3600' &
LPID=$!
until_ok 30 test -e /tmp/locked || fail lock "flock on the NFS file did not succeed"
sleep 2
timeout 30 rpc.nfsd 0
kill $NPID
wait $NPID 2>/dev/null
if [ -s /var/lib/nfs/nfsdcld/main.sqlite ]; then pass nfsdcld_db; else fail nfsdcld_db "nfsdcld wrote no database: $(tail -3 /tmp/nfsdcld.log)"; fi

if start_daemon; then pass daemon_start; else fail daemon_start "$(tail -5 /tmp/daemon.log)"; finish; fi
if ring_has "imported nfsdcld's database .*1 client record" && clients_have '"name":"Linux NFSv4.1 pnfs-vm'; then
	pass nfsdcld_import
else
	fail nfsdcld_import "$(pnfsctl debug dump | grep -i nfsdcld) $(pnfsctl -j client show)"
fi
# nfsd starts on our pipe: the imported client may reclaim its lock.
start_nfsd
if until_ok 20 ring_has 'cld: GetVersion' && dmesg | grep -q 'Using nfsdcld client tracking operations'; then
	pass cld_serves_nfsd
else
	fail cld_serves_nfsd "nfsd did not take our cld pipe: $(dmesg | grep -i nfsd | tail -3)"
fi
if until_ok 30 ring_has 'grace starts: .*(1 client(s) may reclaim)' && until_ok 120 states_have 'type: lock'; then
	pass imported_client_reclaims
else
	fail imported_client_reclaims "$(pnfsctl debug dump | grep cld | tail -5) $(states | head -5)"
fi
if until_ok 60 ring_has 'cld: grace done'; then pass import_grace_done; else fail import_grace_done "no GraceDone"; fi
if until_ok 30 clients_have '"name":"Linux NFSv4.1 pnfs-vm'; then
	pass client_recorded
else
	fail client_recorded "$(pnfsctl -j client show)"
fi

# A client that is never recorded: a second NFSv4 client (another uniquifier and server
# address give it another identity) confirms while no daemon serves the pipe, so nfsd's
# Create for it waits unread and fails after 30 s. It takes a lock too.
kill $DPID
wait $DPID 2>/dev/null
echo pnfs-other >/sys/module/nfs/parameters/nfs4_unique_id
mkdir -p /mnt/nfs2
if timeout 120 mount -t nfs4 -o vers=4.1,proto=tcp,soft,timeo=100 127.0.0.2:/srv/gfs2 /mnt/nfs2; then
	pass client2_mount
else
	fail client2_mount "the second client's mount failed"
fi
echo other >/mnt/nfs2/g
flock /mnt/nfs2/g -c 'echo locked >/tmp/locked2; exec sleep 3600' &
L2PID=$!
until_ok 60 test -e /tmp/locked2 || fail lock2 "flock by the second client did not succeed"
if until_ok 60 sh -c "dmesg | grep -q 'Unable to create client record'"; then
	pass client2_not_recorded
else
	fail client2_not_recorded "nfsd's Create for the second client did not fail: $(dmesg | grep -i nfsd | tail -3)"
fi
if start_daemon && [ "$(pnfsctl -j client show | grep -o '"name":' | wc -l)" = 1 ]; then
	pass records_one_client
else
	fail records_one_client "$(pnfsctl -j client show)"
fi
# This daemon leaves nfsd's GraceDone unanswered (a test hook: as if it died between
# reading and answering); it is killed below and the next one must answer it.
kill $DPID
wait $DPID 2>/dev/null
DAEMON_ENV=PNFS_TEST_CLD_UNANSWERED=GraceDone start_daemon || fail daemon_restart "$(tail -5 /tmp/daemon.log)"

# The server restarts: nfsd asks for the reclaimable clients (GraceStart).
timeout 30 rpc.nfsd 0
sleep 2
start_nfsd
if until_ok 30 ring_has 'grace starts: .*(1 client(s) may reclaim)'; then
	pass grace_upload
else
	fail grace_upload "$(pnfsctl debug dump | grep cld | tail -5)"
fi
if dmesg | tail -5 | grep -q 'no clients to reclaim'; then
	fail grace_kept "nfsd skipped grace after the restart"
else
	pass grace_kept
fi
# The client finds the new server instance and reclaims its open and its lock.
if until_ok 120 states_have 'type: lock'; then
	pass reclaim_lock
else
	fail reclaim_lock "no lock state after the restart: $(states | head -5)"
fi
if states | grep -q 'type: open'; then pass reclaim_open; else fail reclaim_open "no open state"; fi
# (Its file is read back below, once nfsd is out of grace: this nfsd's grace is held.)
if kill -0 $LPID 2>/dev/null; then
	pass lock_holder_alive
else
	fail lock_holder_alive "the lock holder died"
fi
# The client never recorded may not reclaim: its lock is not back at the server.
client2_dir() { grep -l 'pnfs-other' /proc/fs/nfsd/clients/*/info 2>/dev/null | head -1 | xargs -r dirname; }
client2_connected() { [ -n "$(client2_dir)" ]; }
until_ok 60 client2_connected
sleep 5
d2=$(client2_dir)
if [ -n "$d2" ] && ! grep -q 'type: lock' "$d2/states"; then
	pass unrecorded_client_no_reclaim
else
	fail unrecorded_client_no_reclaim "second client ${d2:-not connected}: $(cat "$d2/states" 2>/dev/null | head -5)"
fi
# nfsd's GraceDone is read and left unanswered: nfsd stays in grace, new opens wait.
if until_ok 60 ring_has 'test hook: GraceDone'; then
	pass grace_done_unanswered
else
	fail grace_done_unanswered "nfsd sent no GraceDone"
fi
if timeout 8 sh -c 'echo new >/mnt/nfs/new-in-grace' 2>/dev/null; then
	fail grace_held "a new file was created while nfsd waited for GraceDone"
else
	pass grace_held
fi
# The daemon dies with it unanswered; the next one answers it from its journal.
kill -9 $DPID
wait $DPID 2>/dev/null
if start_daemon && until_ok 60 ring_has 'cld: grace done'; then
	pass journaled_grace_done_answered
else
	fail journaled_grace_done_answered "$(pnfsctl debug dump | grep cld | tail -5)"
fi
if timeout 60 sh -c 'echo new >/mnt/nfs/after-grace && grep -q hello /mnt/nfs/f'; then
	pass grace_done
else
	fail grace_done "nfsd still refuses new opens after the answer"
fi

kill $LPID $L2PID 2>/dev/null
timeout 20 umount -f /mnt/nfs 2>/dev/null
timeout 20 umount -f /mnt/nfs2 2>/dev/null
timeout 30 rpc.nfsd 0

# GFS2 with lock_dlm (a one-node corosync cluster and dlm_controld): a withdraw blocks
# the withdrawing task until userland acknowledges it through lock_module/withdraw, as
# gfs2-utils' udev rule would; here pnfs_controld does, on the `offline` uevent.
lock_dlm() {
	mkdir -p /etc/corosync /srv/dlm /dev/misc /dev/shm
	# libqb's IPC (corosync and its clients) lives in /dev/shm.
	mountpoint -q /dev/shm || mount -t tmpfs tmpfs /dev/shm
	# The node's address: not a 127/8 one (DLM's comms), on lo (no NIC here).
	ip addr add 10.99.0.1/32 dev lo
	printf '%s\n' 'totem {' '	version: 2' '	cluster_name: vmclus' '	transport: knet' \
		'	crypto_cipher: none' '	crypto_hash: none' '}' \
		'nodelist {' '	node {' '		ring0_addr: 10.99.0.1' '		nodeid: 1' '		name: pnfs-vm' '	}' '}' \
		'quorum {' '	provider: corosync_votequorum' '}' \
		'logging {' '	to_logfile: yes' '	logfile: /tmp/corosync.log' '	to_syslog: no' '	to_stderr: no' '}' \
		>/etc/corosync/corosync.conf
	corosync || { fail dlm_corosync "corosync did not start: $(tail -5 /tmp/corosync.log)"; return; }
	if until_ok 30 sh -c 'corosync-quorumtool -s | grep -q "Quorate: *Yes"'; then
		pass dlm_corosync
	else
		fail dlm_corosync "not quorate: $(corosync-quorumtool -s 2>&1 | tail -3); $(tail -5 /tmp/corosync.log)"
		return
	fi
	mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
	for d in dlm-control dlm-monitor dlm_plock; do
		[ -e /dev/$d ] && ln -sf ../$d /dev/misc/$d
	done
	dlm_controld --enable_fencing 0 >/tmp/dlm_controld.log 2>&1 &
	# Ready once it has told the kernel this node's address (configfs comms/<nodeid>).
	if until_ok 30 test -d /sys/kernel/config/dlm/cluster/comms/1; then
		pass dlm_controld
	else
		fail dlm_controld "$(tail -5 /tmp/dlm_controld.log) $(dlm_tool dump 2>&1 | tail -10)"
		return
	fi
	if timeout 60 mount -t gfs2 /dev/vdc /srv/dlm; then
		pass dlm_gfs2_mount
	else
		fail dlm_gfs2_mount "$(dmesg | grep -iE 'gfs2|dlm' | tail -5) $(dlm_tool dump 2>&1 | tail -15)"
		return
	fi
	local T=vmclus:fs1
	until_ok 30 sh -c "pnfsctl -j fs show | grep -q 'vmclus:fs1'"
	# The write blocks until the acknowledgement: in the background.
	(
		echo 1 >"/sys/fs/gfs2/$T/withdraw"
		echo done >/tmp/withdraw-returned
	) &
	if until_ok 60 test -e /tmp/withdraw-returned && dmesg | grep -q "fsid=$T.*File system withdrawn"; then
		pass dlm_withdraw_completes
	else
		fail dlm_withdraw_completes "the withdraw still waits: $(dmesg | grep -iE 'gfs2' | tail -3)"
	fi
	if until_ok 10 sh -c "pnfsctl -j fs show | grep -q '\"withdraw_ack\":\"acknowledged'"; then
		pass dlm_withdraw_acknowledged
	else
		fail dlm_withdraw_acknowledged "$(pnfsctl -j fs show)"
	fi
}
lock_dlm
finish
