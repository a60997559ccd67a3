#!/bin/sh
# In the VM (busybox sh, the real pnfs_shim module loaded, tests/vm.sh runs it after
# gfs2.sh): the kernel half under a live daemon (#20 items 10 and 11, module side).
#
# restart_*: pnfs_controld (local engine, --socket generic) registered with the module;
# `rmmod pnfs_shim; insmod pnfs_shim.ko` while it runs. rmmod must not be held up by the
# daemon's open sockets (the module holds no reference of theirs that pins it: the
# families unregister, the daemon's next status-get fails), and within 10 s the daemon's
# kernel watch must have registered again (`pnfsctl -j kernel show` pnfsd port == the
# daemon's upcall port in `pnfsctl -j member show`) and pushed its devices back, so that
# `pnfsctl trigger pnfsd get-device-info --device node:1` is answered with status ok.
#
# trigger_cancel_*: a TRIGGER whose requester goes away must stop issuing upcalls. A
# pnfsctl TRIGGER of 2^32-1 get-state upcalls 64 deep, answered by the daemon, with
# --wait-ms 1: pnfsctl must give up by itself (the module answers a TRIGGER when its
# run ends, not inside the requester's sendmsg) and exit, and its socket's release
# must end the run: the module's cumulative get-state `sent` counter (`pnfsctl -j stats
# show`) stops growing, and no pnfs_shim_trg kthread is left.
#
# Prints PASS/FAIL lines for the VM lane's count.
set -u
FAILED=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; FAILED=1; }
LOG=/tmp/restart-daemon.log

# The registered port of the kernel half's pnfsd family (0: none), and the daemon's port.
kernel_port() {
	pnfsctl -j kernel show 2>/dev/null | sed -n 's/.*"pnfsd":{//p' |
		grep -o '"port":[0-9]*' | head -n1 | cut -d: -f2
}
daemon_port() {
	pnfsctl -j member show 2>/dev/null | grep -o '"port":[0-9]*' | head -n1 | cut -d: -f2
}
registered() {
	k=$(kernel_port)
	d=$(daemon_port)
	[ -n "$k" ] && [ "$k" != 0 ] && [ "$k" = "$d" ]
}
device_info_ok() {
	pnfsctl -j trigger pnfsd get-device-info --device node:1 --wait-ms 5000 \
		>/tmp/restart-trigger.out 2>&1 &&
		grep -q '"status":"ok"\|"status":0' /tmp/restart-trigger.out
}
# get-state upcalls the kernel half has issued since it was loaded
sent_get_state() {
	pnfsctl -j stats show 2>/dev/null | sed -n 's/.*"kernel":{//p' |
		sed 's/"gfs2ctl".*//' | grep -o '"kind":"get-state"[^}]*' |
		grep -o '"sent":[0-9]*' | head -n1 | cut -d: -f2
}

mkdir -p /tmp/pnfs-restart
pnfs_controld --socket generic --engine local --node-id 1 \
	--state-dir /tmp/pnfs-restart >$LOG 2>&1 &
dpid=$!
i=0
until registered && device_info_ok; do
	i=$((i + 1))
	if [ $i -gt 120 ]; then
		fail restart_daemon_start "not registered and answering in 60 s (kernel port '$(kernel_port)', daemon port '$(daemon_port)')"
		cat /tmp/restart-trigger.out
		cat $LOG
		kill -9 $dpid
		exit 1
	fi
	sleep 0.5
done
pass restart_daemon_start
echo "restart: daemon registered on port $(kernel_port)"
pnfsctl -j stats show | sed 's/^/restart: stats before: /'

# ---- item 10: rmmod + insmod under the running daemon
t0=$(date +%s)
if rmmod pnfs_shim; then
	pass restart_rmmod_with_daemon
else
	fail restart_rmmod_with_daemon "rmmod pnfs_shim failed while pnfs_controld runs"
	lsmod
fi
if [ -e /sys/module/pnfs_shim ]; then
	fail restart_unloaded "/sys/module/pnfs_shim still there after rmmod"
fi
sleep 1
if insmod /lib/modules/pnfs_shim.ko; then
	pass restart_insmod
else
	fail restart_insmod "insmod failed"
	cat $LOG
	exit 1
fi
i=0
until registered && device_info_ok; do
	i=$((i + 1))
	if [ $i -gt 20 ]; then
		break
	fi
	sleep 0.5
done
if registered && device_info_ok; then
	pass restart_registered_again
	echo "restart: registered again on port $(kernel_port) $(( $(date +%s) - t0 )) s after rmmod"
else
	fail restart_registered_again "10 s after insmod: kernel port '$(kernel_port)', daemon port '$(daemon_port)', trigger: $(cat /tmp/restart-trigger.out)"
	echo "---- daemon log ----"
	cat $LOG
fi

# ---- item 11: a TRIGGER whose requester goes away stops
# Before the TRIGGER was answered asynchronously, pnfsctl stayed blocked in its
# sendmsg() (the handler waited for the run there, so --wait-ms never fired) until
# killed, and only that signal ended the run: trigger_cancel_requester_exits failed.
before=$(sent_get_state)
pnfsctl trigger pnfsd get-state --count 4294967295 --depth 64 --wait-ms 1 \
	>/tmp/trigger-cancel.out 2>&1 &
tpid=$!
i=0
while kill -0 $tpid 2>/dev/null && [ $i -lt 10 ]; do sleep 0.5; i=$((i + 1)); done
if kill -0 $tpid 2>/dev/null; then
	fail trigger_cancel_requester_exits "pnfsctl trigger --wait-ms 1 still running after 5 s: killing it"
	kill $tpid
else
	pass trigger_cancel_requester_exits
fi
wait $tpid
echo "trigger_cancel: pnfsctl exit status $? ($(head -c 300 /tmp/trigger-cancel.out))"
# bounded: sent must hold still for 2 s within 20 s
stopped=0
prev=$(sent_get_state)
i=0
while [ $i -lt 10 ]; do
	sleep 2
	now=$(sent_get_state)
	if [ "$now" = "$prev" ]; then
		stopped=1
		break
	fi
	prev=$now
	i=$((i + 1))
done
echo "trigger_cancel: get-state sent $before before the run, $now after"
if [ $stopped = 1 ] && [ "$now" -gt "${before:-0}" ]; then
	pass trigger_cancel_stops
elif [ $stopped = 1 ]; then
	fail trigger_cancel_stops "the run issued no get-state upcall (sent $before -> $now)"
else
	fail trigger_cancel_stops "get-state sent still growing 20 s after the requester went away ($prev -> $now)"
fi
if ps | grep -q '[p]nfs_shim_trg'; then
	fail trigger_cancel_threads "pnfs_shim_trg kthreads left: $(ps | grep -c '[p]nfs_shim_trg')"
else
	pass trigger_cancel_threads
fi

kill -TERM $dpid
i=0
while kill -0 $dpid 2>/dev/null && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
if kill -0 $dpid 2>/dev/null; then
	fail restart_daemon_stop "pnfs_controld still running 30 s after SIGTERM"
	kill -9 $dpid
else
	pass restart_daemon_stop
fi
[ $FAILED = 0 ] || { echo "---- daemon log ----"; cat $LOG; }
exit $FAILED
