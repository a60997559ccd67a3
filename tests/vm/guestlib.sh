# Sourced by the VM lanes' guest scripts (the nfsd, flexfiles, ffbench, vmcluster and
# packages guests; in the guest it is /opt/pnfs/guestlib.sh, put there by the host side's
# initramfs). The caller sets CHECK_PREFIX (the lane's check-name prefix: nfsd_, ff_,
# ffb_, vmc_n1_, pkg_) and defines finish() (its logs, its END marker, power off).
#
# A check is one line, "PASS <prefix><name> (evidence)" or "FAIL <prefix><name>: evidence";
# the host counts them.

pass() { echo "PASS ${CHECK_PREFIX}$1${2:+ ($2)}"; }
fail() { echo "FAIL ${CHECK_PREFIX}$1: $2"; }
# check NAME EVIDENCE CONDITION...: PASS or FAIL with the evidence.
check() {
	local name=$1 ev=$2
	shift 2
	if "$@"; then pass "$name" "$ev"; else fail "$name" "$ev"; fi
}
# guest_watchdog SECONDS: a FAIL and finish() if the script still runs after SECONDS (a
# hung step must end in a verdict, not in the host's qemu timeout).
guest_watchdog() {
	(
		sleep "$1"
		echo "FAIL ${CHECK_PREFIX}watchdog: the guest script still ran after $1 s"
		finish watchdog
	) &
}
# until_ok SECONDS COMMAND...: wait up to SECONDS for COMMAND to succeed (every 0.5 s).
until_ok() {
	local n=$1 i
	shift
	for ((i = 0; i < n * 2; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}
# The daemon's debug ring has a line matching $1.
ring_has() { pnfsctl debug dump | grep -q -- "$1"; }
# pnfs_shim_ff's counter $1 (granted, refused, devinfo, recalled, fenced, ...), 0 without it.
ffc() { cat "/sys/module/pnfs_shim_ff/parameters/$1" 2>/dev/null || echo 0; }
# The NFSv4 mount's (/mnt/nfs) section of mountstats, and its count of operation $1.
mstats() {
	awk '/mounted on \/mnt\/nfs with fstype nfs4/{p=1; print; next} p&&/^device /{p=0} p' /proc/self/mountstats
}
opcount() { mstats | awk -v op="$1:" '$1 == op {print $2; exit}' | grep . || echo 0; }
# The daemon's own count of received upcalls of kind $1 (pnfsctl stats show, "pnfsd" part).
dstat() {
	pnfsctl stats show 2>/dev/null | awk -v k="$1" '$1 == "pnfsd" && $2 == k && $3 == "received" {print $4; f=1} END {if (!f) print 0}'
}
# How many trace events named $1 the trace buffer holds.
tcount() { grep -v '^#' /sys/kernel/tracing/trace | grep -c ": $1:" || true; }
