#!/usr/bin/env bash
# A Corosync cluster of N nodes in network namespaces on one machine (needs root).
#
#   netns.sh up N DIR              create namespaces, start corosync on each node, wait for
#                                  an N-node quorate membership; prints membership_ms=...
#   netns.sh down DIR              stop exactly the corosyncs this run started, remove its
#                                  namespaces and its /dev/shm/qb-* files (logs stay in DIR)
#   netns.sh exec [DIR] NODE CMD.. run CMD inside NODE's namespace
#   netns.sh ns [DIR] NODE         print NODE's namespace name
#   netns.sh pid [DIR] NODE        print the pid of NODE's corosync
#   netns.sh kill [DIR] NODE       SIGKILL NODE's corosync (and wait until it is gone)
#   netns.sh start [DIR] NODE      (re)start NODE's corosync
#   netns.sh partition [DIR] NODE  cut NODE off the network (its eth0 down)
#   netns.sh heal [DIR] NODE       reconnect NODE (eth0 up)
#   netns.sh wait [DIR] NODE COUNT [SECS]
#                                  wait until NODE's corosync reports COUNT nodes
#
# DIR may be omitted when NETNS_DIR is set. The file can also be sourced: it then only
# defines the nn_* functions. Every namespace name starts with a per-run id, so parallel
# or leftover runs do not clash. Node I has address 10.77.0.I/24 on eth0 and node id I.
# NETNS_SCHED_RR=no puts `sched_rr: no` in corosync.conf (runners without real-time
# priority); NETNS_TOKEN sets the totem token in ms (default 1000).

nn_die() {
	echo "netns.sh: $*" >&2
	exit 1
}

nn_now_ms() { echo $(($(date +%s%N) / 1000000)); }

nn_load() { # DIR
	local dir=$1
	[[ -f $dir/run.env ]] || nn_die "$dir is not an active run (no $dir/run.env)"
	# shellcheck source=/dev/null
	. "$dir/run.env"
	NN_DIR=$dir
}

nn_ns() { echo "${NN_RUNID}-n$1"; }

# Is PID a corosync started by this run for node directory NDIR (not a reused pid)?
nn_is_ours() { # PID NDIR
	local pid=$1 ndir=$2 state
	[[ -r /proc/$pid/cmdline ]] || return 1
	state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
	[[ $state != Z ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$ndir/corosync.conf"
}

nn_write_conf() { # NODE
	local i=$1 ndir="$NN_DIR/n$1" j
	{
		cat <<EOF
totem {
	version: 2
	cluster_name: ${NN_RUNID}
	transport: knet
	crypto_cipher: none
	crypto_hash: none
	token: ${NETNS_TOKEN:-1000}
	token_coefficient: 0
	interface {
		linknumber: 0
		knet_transport: udp
	}
}
nodelist {
EOF
		for ((j = 1; j <= NN_N; j++)); do
			cat <<EOF
	node {
		nodeid: $j
		name: n$j
		ring0_addr: 10.77.0.$j
	}
EOF
		done
		cat <<EOF
}
quorum {
	provider: corosync_votequorum
}
system {
	state_dir: $ndir/state
EOF
		[[ ${NETNS_SCHED_RR:-yes} == no ]] && echo "	sched_rr: no"
		cat <<EOF
}
logging {
	to_logfile: yes
	logfile: $ndir/corosync.log
	to_syslog: no
	to_stderr: no
	timestamp: hires
}
EOF
	} >"$ndir/corosync.conf"
}

nn_start() { # NODE
	local i=$1 ndir="$NN_DIR/n$1" pid
	if [[ -f $ndir/pid ]] && nn_is_ours "$(cat "$ndir/pid")" "$ndir"; then
		nn_die "node $i: corosync already running (pid $(cat "$ndir/pid"))"
	fi
	# `ip netns exec` gives a private mount namespace; the bind hides the hard-coded
	# /run/corosync.pid of the other nodes. Both `ip` and `sh` exec, so $! is corosync.
	ip netns exec "$(nn_ns "$i")" sh -c \
		"mount --bind '$ndir/rundir' /run && exec corosync -f -c '$ndir/corosync.conf'" \
		>>"$ndir/stdout" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$ndir/pid"
	echo "$pid" >>"$NN_DIR/pids.all"
}

nn_kill() { # NODE
	local i=$1 ndir="$NN_DIR/n$1" pid t
	[[ -f $ndir/pid ]] || nn_die "node $i: no corosync pid recorded"
	pid=$(cat "$ndir/pid")
	nn_is_ours "$pid" "$ndir" || nn_die "node $i: corosync (pid $pid) is not running"
	kill -KILL "$pid"
	for ((t = 0; t < 500; t++)); do
		nn_is_ours "$pid" "$ndir" || return 0
		sleep 0.01
	done
	nn_die "node $i: corosync pid $pid still there 5 s after SIGKILL"
}

nn_quorum() { # NODE -> "NODES QUORATE" or empty
	ip netns exec "$(nn_ns "$1")" corosync-quorumtool -s 2>/dev/null |
		awk -F: '/^Nodes:/ {gsub(/ /,"",$2); n=$2} /^Quorate:/ {gsub(/ /,"",$2); q=$2} END {if (n != "") print n, q}'
}

nn_wait() { # NODE COUNT SECS
	local i=$1 want=$2 secs=${3:-30} deadline got
	deadline=$(($(nn_now_ms) + secs * 1000))
	while :; do
		got=$(nn_quorum "$i" || true)
		[[ ${got%% *} == "$want" ]] && return 0
		if (($(nn_now_ms) > deadline)); then
			echo "netns.sh: node $i: corosync-quorumtool shows '${got:-no answer}', wanted $want nodes within ${secs}s" >&2
			echo "--- tail of $NN_DIR/n$i/corosync.log:" >&2
			tail -n 20 "$NN_DIR/n$i/corosync.log" >&2 2>/dev/null || true
			return 1
		fi
		sleep 0.05
	done
}

nn_up() { # N DIR
	local n=$1 dir=$2 i t0 br ns
	[[ $n =~ ^[1-9][0-9]?$ ]] && ((n <= 32)) || nn_die "up: N must be 1..32"
	[[ $(id -u) == 0 ]] || nn_die "up: needs root"
	command -v corosync >/dev/null || nn_die "up: corosync not installed"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[[ -e $dir/run.env ]] && nn_die "up: $dir already holds a run; use down first"
	NN_RUNID="pn$(printf %04x $(($$ & 0xffff)))$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
	NN_N=$n
	NN_DIR=$dir
	printf 'NN_RUNID=%s\nNN_N=%s\n' "$NN_RUNID" "$NN_N" >"$dir/run.env"
	: >"$dir/netns.list"
	: >"$dir/pids.all"
	trap 'echo "netns.sh: up failed, cleaning up" >&2; nn_down "$dir"' ERR
	set -o errtrace

	br="${NN_RUNID}-br"
	echo "$br" >>"$dir/netns.list"
	ip netns add "$br"
	ip -n "$br" link set lo up
	ip -n "$br" link add br0 type bridge
	ip -n "$br" link set br0 up
	for ((i = 1; i <= n; i++)); do
		ns=$(nn_ns "$i")
		echo "$ns" >>"$dir/netns.list"
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		ip -n "$ns" link add eth0 type veth peer name "vn$i" netns "$br"
		ip -n "$br" link set "vn$i" master br0
		ip -n "$br" link set "vn$i" up
		ip -n "$ns" addr add "10.77.0.$i/24" dev eth0
		ip -n "$ns" link set eth0 up
		mkdir -p "$dir/n$i/rundir" "$dir/n$i/state"
		nn_write_conf "$i"
	done
	t0=$(nn_now_ms)
	for ((i = 1; i <= n; i++)); do nn_start "$i"; done
	for ((i = 1; i <= n; i++)); do nn_wait "$i" "$n" 30 || false; done
	trap - ERR
	echo "runid=$NN_RUNID"
	echo "membership_ms=$(($(nn_now_ms) - t0))"
}

nn_down() { # DIR
	local dir=$1 i ndir pid t ns left
	[[ -f $dir/run.env ]] || {
		echo "netns.sh: down: $dir holds no active run" >&2
		return 0
	}
	nn_load "$dir"
	for ((i = 1; i <= NN_N; i++)); do
		ndir="$dir/n$i"
		[[ -f $ndir/pid ]] || continue
		pid=$(cat "$ndir/pid")
		nn_is_ours "$pid" "$ndir" && kill -TERM "$pid" 2>/dev/null
	done
	for ((i = 1; i <= NN_N; i++)); do
		ndir="$dir/n$i"
		[[ -f $ndir/pid ]] || continue
		pid=$(cat "$ndir/pid")
		for ((t = 0; t < 300; t++)); do
			nn_is_ours "$pid" "$ndir" || break
			sleep 0.01
		done
		if nn_is_ours "$pid" "$ndir"; then
			kill -KILL "$pid" 2>/dev/null
			for ((t = 0; t < 300; t++)); do
				nn_is_ours "$pid" "$ndir" || break
				sleep 0.01
			done
		fi
	done
	if [[ -f $dir/pids.all ]]; then
		while read -r pid; do
			[[ $pid =~ ^[0-9]+$ ]] || continue
			rm -rf /dev/shm/qb-"$pid"-* /dev/shm/qb-corosync-"$pid"-* || true
		done <"$dir/pids.all"
	fi
	if [[ -f $dir/netns.list ]]; then
		while read -r ns; do
			[[ -n $ns ]] || continue
			left=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
			[[ -z $left ]] || echo "netns.sh: down: processes still in $ns: $left(not ours to kill)" >&2
			ip netns del "$ns" 2>/dev/null || true
		done <"$dir/netns.list"
	fi
	mv "$dir/run.env" "$dir/run.env.down"
}

nn_main() {
	set -euo pipefail
	local cmd=${1:-}
	shift || true
	case $cmd in
	up)
		(($# == 2)) || nn_die "usage: up N DIR"
		nn_up "$1" "$2"
		return
		;;
	down)
		(($# == 1)) || nn_die "usage: down DIR"
		nn_down "$1"
		return
		;;
	exec | ns | pid | kill | start | partition | heal | wait) ;;
	*) nn_die "unknown command '${cmd}' (see the header of $0)" ;;
	esac
	# Per-node commands: [DIR] NODE ...
	local dir=${NETNS_DIR:-}
	if (($# > 0)) && [[ ! $1 =~ ^[0-9]+$ ]]; then
		dir=$1
		shift
	fi
	[[ -n $dir ]] || nn_die "$cmd: give DIR or set NETNS_DIR"
	(($# >= 1)) && [[ $1 =~ ^[0-9]+$ ]] || nn_die "$cmd: NODE (a number) expected"
	nn_load "$dir"
	local node=$1
	shift
	((node >= 1 && node <= NN_N)) || nn_die "$cmd: no node $node in a $NN_N-node run"
	case $cmd in
	exec) exec ip netns exec "$(nn_ns "$node")" "$@" ;;
	ns) nn_ns "$node" ;;
	pid) cat "$NN_DIR/n$node/pid" ;;
	kill) nn_kill "$node" ;;
	start) nn_start "$node" ;;
	partition) ip -n "$(nn_ns "$node")" link set eth0 down ;;
	heal) ip -n "$(nn_ns "$node")" link set eth0 up ;;
	wait) nn_wait "$node" "$1" "${2:-30}" ;;
	esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	nn_main "$@"
fi
