#!/bin/sh
# In the VM (busybox sh, the real pnfs_shim module loaded): pnfs_controld registered with
# the module, as GFS2's userland companion of a real GFS2 filesystem (made on the host by
# mkfs.gfs2, lock_nolock, table vmlane:fs0, at /gfs2.img). Checks that the daemon's state
# (`pnfsctl fs show`) and `pnfsctl monitor` follow the real uevents of a mount, a
# withdraw and an unmount. Prints PASS/FAIL lines for the VM lane's count.
set -u
T=vmlane:fs0
pass() { echo "PASS gfs2_$1"; }
fail() { echo "FAIL gfs2_$1: $2"; FAILED=1; }
FAILED=0

for m in loop configfs dlm crc32c_generic libcrc32c gfs2; do
	insmod "/lib/modules/extra/$m.ko" || { fail modules "insmod $m failed"; exit 1; }
done
pass modules

mkdir -p /tmp/pnfs /mnt/gfs2
pnfs_controld --socket generic --engine local --node-id 1 \
	--state-dir /tmp/pnfs >/tmp/daemon.log 2>&1 &
dpid=$!
i=0
until pnfsctl -j ping -c 1 >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 60 ]; then
		fail daemon_start "no answer on the control socket in 60 s"
		cat /tmp/daemon.log
		exit 1
	fi
	sleep 1
done
pass daemon_start

pnfsctl -j monitor gfs2 --timeout 300 >/tmp/monitor.out 2>&1 &
mpid=$!
# Mount only once the monitor listens: two sockets on the kernel's uevent group (protocol
# 15, group 1) in /proc/net/netlink, the daemon's and the monitor's.
uevent_listeners() { awk '$2 == 15 && $4 == "00000001"' /proc/net/netlink | wc -l; }
i=0
while [ "$(uevent_listeners)" -lt 2 ] && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
[ "$(uevent_listeners)" -ge 2 ] || fail monitor_start "pnfsctl monitor did not join the uevent group in 60 s"

# Wait until `pnfsctl -j fs show` has every "key":value given (one filesystem only, so
# the keys are unambiguous); at most 60 s.
fs_has() {
	i=0
	while [ $i -lt 60 ]; do
		pnfsctl -j fs show >/tmp/fs.json 2>&1
		all=1
		for kv in "$@"; do
			grep -qF "$kv" /tmp/fs.json || all=0
		done
		[ $all = 1 ] && return 0
		i=$((i + 1))
		sleep 1
	done
	return 1
}

if losetup /dev/loop0 /gfs2.img && mount -t gfs2 /dev/loop0 /mnt/gfs2; then
	pass mount
else
	fail mount "losetup/mount -t gfs2 failed"
	dmesg | tail -20
fi
echo hello >/mnt/gfs2/f && sync

if fs_has "\"table\":\"$T\"" '"lockproto":"lock_nolock"' '"jid":0' '"mounted":true' \
	'"online":true' '"first_mount_done":true' '"recoveries":[{"jid":0,"result":"Done"}]'; then
	pass fs_show_mount
	echo "---- pnfsctl fs show (mounted) ----"
	pnfsctl fs show | sed -n '/gfs2:/,$p'
else
	fail fs_show_mount "daemon state does not show the mount: $(cat /tmp/fs.json)"
fi
# The journal recovery GFS2 reported went to the cluster (here the local engine, one node)
# and came back as the cluster's record.
if fs_has "\"cluster_recoveries\":[{\"node\":1,\"table\":\"$T\",\"jid\":0,\"result\":\"Done\"}]"; then
	pass fs_show_cluster_recovery
else
	fail fs_show_cluster_recovery "$(cat /tmp/fs.json)"
fi

# A withdraw on request (sysfs `withdraw`): GFS2 sends `offline`. The stack dump GFS2
# prints on a withdraw is expected here, and only here.
echo "vmlane: expected-splat begin (gfs2 withdraw)" >/dev/kmsg
if echo 1 >"/sys/fs/gfs2/$T/withdraw"; then
	pass withdraw_request
else
	fail withdraw_request "write to /sys/fs/gfs2/$T/withdraw failed"
fi
sleep 2
echo "vmlane: expected-splat end" >/dev/kmsg
# lock_nolock neither waits for nor accepts the acknowledgement (EINVAL): the daemon
# says so instead of writing it; lock_dlm gets it written (unit-tested against a sysfs
# tree: a lock_dlm mount needs dlm_controld).
if fs_has '"withdrawn":true' '"online":false' '"withdraw_ack":"not needed (lock_nolock'; then
	pass fs_show_withdraw
	echo "---- pnfsctl fs show (withdrawn) ----"
	pnfsctl fs show | sed -n '/gfs2:/,$p'
else
	fail fs_show_withdraw "daemon state does not show the withdraw: $(cat /tmp/fs.json)"
fi

umount /mnt/gfs2 || fail umount "umount of the withdrawn filesystem failed"
losetup -d /dev/loop0 2>/dev/null
if fs_has '"mounted":false'; then
	pass fs_show_unmount
else
	fail fs_show_unmount "daemon state still shows the mount: $(cat /tmp/fs.json)"
fi

kill $mpid 2>/dev/null
wait $mpid 2>/dev/null
echo "---- pnfsctl -j monitor gfs2 ----"
cat /tmp/monitor.out
for ev in add online change offline remove; do
	if grep -q "\"family\":\"uevent\",\"event\":\"$ev\",\"devpath\":\"/fs/gfs2/$T\"" /tmp/monitor.out; then
		pass "monitor_$ev"
	else
		fail "monitor_$ev" "pnfsctl monitor printed no $ev uevent: $(cat /tmp/monitor.out)"
	fi
done

if pnfsctl -j debug dump | grep -q "gfs2 $T: WITHDRAWN"; then
	pass ring_withdraw
else
	fail ring_withdraw "the debug ring does not record the withdraw"
fi

# The daemon stops cleanly (unregisters), so the module can be unloaded afterwards.
kill -TERM $dpid
i=0
while kill -0 $dpid 2>/dev/null && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
if kill -0 $dpid 2>/dev/null; then
	fail daemon_stop "pnfs_controld still running 30 s after SIGTERM"
	kill -9 $dpid
else
	pass daemon_stop
fi
[ $FAILED = 0 ] || { echo "---- daemon log ----"; cat /tmp/daemon.log; }
exit $FAILED
