#!/usr/bin/env bash
# Profile of the upcall hot path (twin -> pnfs_controld -> twin), the numbers behind
# benches/PROFILE.md:
#   bash benches/profile.sh [BUILD_DIR]      (default target/release; root; strace, perf)
# In a private network namespace, both processes pinned to cpu0 (as the bench's pinned
# placement), GET_DEVICE_INFO at depth 1:
#   1. syscalls per upcall, per process (strace -c -f attached for a 20000-upcall run);
#   2. context switches per upcall, per process (/proc/PID/status, 100000 upcalls);
#   3. where cpu0's time goes (perf record -e cpu-clock, 100000 upcalls): per process,
#      user space vs kernel, and the top user-space symbols.
# Prints markdown on stdout (PERF_OUT=FILE keeps perf's data). Give BUILD_DIR of another build (e.g. of an older commit) to
# profile that one the same way (LABEL=... names it in the heading).
set -euo pipefail
B=$(realpath "${1:-target/release}")
for t in strace perf; do
	command -v $t >/dev/null || { echo "profile.sh: $t is not installed (apt-get install strace linux-perf)" >&2; exit 2; }
done
[ -x "$B/pnfs_controld" ] && [ -x "$B/pnfsctl" ] || { echo "profile.sh: no pnfs_controld/pnfsctl in $B (cargo build --release)" >&2; exit 2; }
if [ "${PROFILE_INNER:-}" != 1 ]; then
	exec env PROFILE_INNER=1 unshare -n bash "$0" "$B"
fi
W=$(mktemp -d /tmp/pnfs-profile.XXXXXX)
trap 'kill $(cat $W/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf $W' EXIT
ip link set lo up
taskset -c 0 "$B/pnfsctl" twin >"$W/twin.log" 2>&1 &
echo $! >"$W/twin.pid"
for _ in $(seq 100); do "$B/pnfsctl" kernel show >/dev/null 2>&1 && break; sleep 0.05; done
taskset -c 0 "$B/pnfs_controld" -c /dev/null --node-id 1 --engine local --socket usersock \
	--state-dir "$W/state" --control-socket @pnfs-profile --grace-ms 300 \
	--addr tcp,10.0.0.1.8.1 >"$W/daemon.log" 2>&1 &
echo $! >"$W/daemon.pid"
TWIN=$(cat "$W/twin.pid") DAEMON=$(cat "$W/daemon.pid")
run() { "$B/pnfsctl" --control @pnfs-profile trigger pnfsd get-device-info --device node:1 --count "$1"; }
for _ in $(seq 100); do run 1 >/dev/null 2>&1 && break; sleep 0.1; done
run 5000 >/dev/null

echo "### ${LABEL:-$(git -C "$(dirname "$0")" describe --always --dirty 2>/dev/null || echo build)} — $B"
echo
echo "$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
echo
# 1. syscalls
N=20000
strace -f -c -p "$DAEMON" -o "$W/strace.daemon" 2>/dev/null & S1=$!
strace -f -c -p "$TWIN" -o "$W/strace.twin" 2>/dev/null & S2=$!
sleep 1
run $N >/dev/null
sleep 0.3
kill -INT $S1 $S2; wait $S1 $S2 2>/dev/null || true
echo "Syscalls per upcall ($N upcalls, strace -c; errors are EAGAIN):"
echo
echo "| process | syscall | per upcall | errors per upcall |"
echo "|---|---|---:|---:|"
for p in daemon twin; do
	awk -v p=$p -v n=$N '$NF ~ /^[a-z_0-9]+$/ && $1 ~ /^[0-9.]+$/ && $NF != "total" {
		calls = $4; errs = (NF == 6) ? $5 : 0;
		if (calls / n >= 0.01) printf "| %s | %s | %.2f | %.2f |\n", p, $NF, calls / n, errs / n }' "$W/strace.$p"
done
echo
# 2. context switches
# every thread of the process (the daemon's upcall fast path is a thread of its own)
cs() { cat /proc/$1/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'; }
N=100000
d0=$(cs $DAEMON) t0=$(cs $TWIN)
run $N >/dev/null
d1=$(cs $DAEMON) t1=$(cs $TWIN)
echo "Context switches per upcall ($N upcalls): daemon $(awk -v a=$d0 -v b=$d1 -v n=$N 'BEGIN {printf "%.2f", (b-a)/n}'), twin $(awk -v a=$t0 -v b=$t1 -v n=$N 'BEGIN {printf "%.2f", (b-a)/n}')."
echo
# 3. perf
perf record -q -F 10000 -e cpu-clock -C 0 -o "$W/perf.data" -- "$B/pnfsctl" --control @pnfs-profile \
	trigger pnfsd get-device-info --device node:1 --count $N >"$W/perf.out" 2>&1
[ -n "${PERF_OUT:-}" ] && cp "$W/perf.data" "$PERF_OUT"
p50=$(grep -o 'p50-ns [0-9]*' "$W/perf.out" | awk '{print $2}')
echo "cpu0 under perf ($N upcalls, p50 ${p50} ns under perf): share of cpu0's samples (both processes run on cpu0 only: the shares split each round trip's time)"
echo
echo "| process | user space | kernel | total |"
echo "|---|---:|---:|---:|"
perf report -i "$W/perf.data" --no-children --sort comm,dso -q -g none 2>/dev/null |
	awk '{gsub("%","",$1); c=$2; if ($3 ~ /kernel/) k[c]+=$1; else u[c]+=$1; seen[c]=1}
	     END {for (c in seen) if (u[c]+k[c] >= 1) printf "| %s | %.1f %% | %.1f %% | %.1f %% |\n", (c=="twin-serve"?"twin (twin-serve thread)":(c=="upcall-fast"?"pnfs_controld (upcall-fast thread)":c)), u[c], k[c], u[c]+k[c]}' | sort
echo
for c in upcall-fast twin-serve; do
	perf report -i "$W/perf.data" --no-children --comm $c --sort sym -q -g none 2>/dev/null | grep -q . || continue
	echo "Top user-space symbols of $c (% of cpu0):"
	echo
	echo '```'
	perf report -i "$W/perf.data" --no-children --comm $c --sort sym -q -g none 2>/dev/null |
		grep -v '\[k\]' | sed 's/ *$//' | awk 'NR <= 12'
	echo '```'
	echo
done
