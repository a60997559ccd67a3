#!/bin/sh
# In the VM (busybox sh, the real pnfs_shim module loaded), for benches/vm.sh: the
# module's in-kernel load generator (TRIGGER: kthreads issuing upcalls through the real
# genl path) answered by
#   daemon    pnfs_controld (release build) on the local engine, MDS of its one-node
#             cluster: GET_STATE is a cache hit (the state is in the module, one untimed
#             GET_STATE fills the daemon's cache), as in the host's upcall bench;
#   echo      a bare user-space echo registered like the daemon (`pnfsctl bench
#             --echo-module`: blocking recvfrom/sendto of fixed replies);
#   loopback  no user space at all: the module answers each upcall itself, right where it
#             would hand it to genlmsg_unicast (TRIGGER --loopback).
# Every round visits every case on every side, in a rotating order. Prints one line per
# measurement, "BENCH <side> <kind> <depth> <round> <trigger JSON>", and PASS/FAIL lines
# for the VM lane's count.
set -u
ROUNDS=${BENCH_ROUNDS:-3}
N=${BENCH_COUNT:-2000}
FAILED=0
pass() { echo "PASS bench_$1"; }
fail() { echo "FAIL bench_$1: $2"; FAILED=1; }
S=0000000100000000000000000000abcd
ARGS="--fsid 7 --fileid 100 --stateid $S --clientid 42 --device node:1"
CASES="get-state:1 get-device-info:1 layout-get:1 get-state:8 get-state:64"

wait_until() { # what, command...
	what=$1
	shift
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 120 ]; then
			fail "$what" "not within 60 s"
			return 1
		fi
		sleep 0.5
	done
}
granting() { pnfsctl -j member show | grep -q '"granting":true' && ! pnfsctl -j member show | grep -q '"in_grace":true'; }
registered() { pnfsctl -j kernel show | grep -qE '"pnfsd":\{[^}]*"port":[1-9]'; }
unregistered() { ! registered; }

pnfsctl state set 7 100 $S 42 >/dev/null || fail state_set "pnfsctl state set failed"
mkdir -p /tmp/pnfs

start_side() {
	case $1 in
	daemon)
		pnfs_controld --socket generic --engine local --node-id 1 \
			--state-dir /tmp/pnfs --grace-ms 300 --addr tcp,10.0.0.1.8.1 >>/tmp/daemon.log 2>&1 &
		SIDE_PID=$!
		wait_until daemon_start granting || return 1
		# Fill the cache: the measured GET_STATEs are hits.
		pnfsctl -j trigger pnfsd get-state --count 1 $ARGS >/dev/null
		;;
	echo)
		pnfsctl bench --echo-module >>/tmp/echo.log 2>&1 &
		SIDE_PID=$!
		wait_until echo_start registered || return 1
		;;
	loopback) SIDE_PID= ;;
	esac
}
stop_side() {
	[ -n "$SIDE_PID" ] || return 0
	kill "$SIDE_PID"
	wait "$SIDE_PID" 2>/dev/null
	wait_until "$1_stop" unregistered
}

r=1
order="daemon echo loopback"
while [ $r -le "$ROUNDS" ]; do
	for side in $order; do
		start_side $side || { cat /tmp/daemon.log /tmp/echo.log 2>/dev/null | tail -20; exit 1; }
		for c in $CASES; do
			kind=${c%%:*}
			depth=${c##*:}
			extra=
			[ $side = loopback ] && extra=--loopback
			out=$(pnfsctl -j trigger pnfsd $kind --count $N --depth $depth $ARGS $extra 2>&1)
			echo "BENCH $side $kind $depth $r $out"
			case $out in
			*'"answered":'$N','*) ;;
			*) fail "${side}_$kind" "not every upcall answered: $out" ;;
			esac
		done
		stop_side $side
	done
	# rotate the order
	set -- $order
	order="$2 $3 $1"
	r=$((r + 1))
done
[ $FAILED = 0 ] && pass all_sides
exit $FAILED
