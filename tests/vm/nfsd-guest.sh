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
pass() { echo "PASS nfsd_$1"; }
fail() { echo "FAIL nfsd_$1: $2"; }
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
(
	sleep 780
	echo "FAIL nfsd_watchdog: the guest script still ran after 780 s"
	finish
) &

# Wait up to $1 seconds for the command in the rest of the arguments to succeed.
until_ok() {
	local n=$1
	shift
	for ((i = 0; i < n * 2; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}

ring_has() { pnfsctl debug dump | grep -q -- "$1"; }
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
start_daemon() {
	pnfs_controld --config /nonexistent --socket usersock --engine local --node-id 1 \
		--state-dir /var/lib/pnfs --cld-pipe /run/rpc_pipefs/nfsd/cld >>/tmp/daemon.log 2>&1 &
	DPID=$!
	until_ok 60 pnfsctl ping -c 1
}
if start_daemon; then pass daemon_start; else fail daemon_start "$(tail -5 /tmp/daemon.log)"; finish; fi

rpcbind
exportfs -o rw,sync,no_root_squash,no_subtree_check,fsid=1 '*:/srv/gfs2'
rpc.mountd -N 2 -N 3
start_nfsd() { rpc.nfsd -N 3 -V 4.1 -V 4.2 2; }
start_nfsd
if until_ok 20 ring_has 'cld: GetVersion' && dmesg | grep -q 'Using nfsdcld client tracking operations'; then
	pass cld_serves_nfsd
else
	fail cld_serves_nfsd "nfsd did not take our cld pipe: $(dmesg | grep -i nfsd | tail -3)"
fi

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
if until_ok 30 clients_have '"name":"Linux NFSv4.1 pnfs-vm'; then
	pass client_recorded
else
	fail client_recorded "$(pnfsctl -j client show)"
fi

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
if kill -0 $LPID 2>/dev/null && timeout 20 cat /mnt/nfs/f >/dev/null; then
	pass lock_holder_alive
else
	fail lock_holder_alive "the lock holder died or the file is unreadable"
fi
if until_ok 60 ring_has 'cld: grace done'; then
	pass grace_done
else
	fail grace_done "nfsd never ended grace"
fi

kill $LPID 2>/dev/null
timeout 20 umount -f /mnt/nfs 2>/dev/null
timeout 30 rpc.nfsd 0
finish
