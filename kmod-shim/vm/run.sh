#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# kmod-shim VM lane: build pnfs_shim.ko against Debian's 6.1 headers, boot
# Debian's own matching 6.1 kernel under qemu with an initramfs holding
# busybox, the module and static test binaries, run a test command inside,
# and report.  Runs as root on a fresh Debian 12 machine (CI or developer).
#
# Usage: kmod-shim/vm/run.sh [--test-bin PATH]... [--cmd "COMMAND"]
#                            [--timeout SECONDS] [--no-probe]
#
#   --test-bin PATH  binary to put in the guest's /bin (if dynamically linked, its
#                    loader and libraries go to the same paths in the guest)
#                    (repeatable).
#   --cmd "..."      shell command the guest runs as the test suite
#                    (default: genl_probe).  It must print "PASS name" /
#                    "FAIL name: why" lines; a non-zero exit or no such line
#                    at all counts as a failure.
#   --timeout SEC    wall-clock limit for the VM (default 600, env
#                    VMLANE_TIMEOUT).  Boot + probe took 42-122 s under TCG
#                    on a loaded 2-core machine.
#   --no-probe       do not build/include vm/probe/genl_probe.
#   --kmod NAME      put the Debian image's module NAME.ko (found under its
#                    lib/modules) at /lib/modules/extra/NAME.ko in the guest;
#                    the test command loads it (repeatable).
#   --file SRC:DEST  copy the host file SRC to DEST in the guest (repeatable).
#
# Environment: VMLANE_ACCEL=tcg|kvm forces the accelerator (kvm is refused
# if unusable), VMLANE_MEM (MiB, default 512), VMLANE_SMP (default 1),
# VMLANE_NO_APT=1 skips the package step (everything must be present),
# VMLANE_BOOT=pvh|bzimage (default pvh: boot the cached uncompressed vmlinux
# through its PVH entry, see the image phase).
#
# VMLANE_WORK=DIR puts the per-run tree elsewhere (two runs at once).
#
# Caches (reused between runs, gitignored): kmod-shim/vm/.cache holds the
# extracted linux-image for the current ABI; kmod-shim/vm/work holds the
# per-run build tree, initramfs and serial log (recreated each run).
#
# The last line printed is always "N passed, M failed"; the exit status is
# 0 only when M is 0 and N > 0.

set -Eeuo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHIM=$(dirname "$HERE")
MODSRC="$SHIM/module"
CACHE="$HERE/.cache"
WORK=${VMLANE_WORK:-$HERE/work}
MODNAME=pnfs_shim

TIMEOUT=${VMLANE_TIMEOUT:-600}
MEM=${VMLANE_MEM:-512}
SMP=${VMLANE_SMP:-1}
TEST_BINS=()
KMODS=()
FILES=()
CMD=""
WITH_PROBE=1

usage() {
	sed -n '4,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--test-bin) [ $# -ge 2 ] || usage; TEST_BINS+=("$2"); shift 2 ;;
	--test-bin=*) TEST_BINS+=("${1#*=}"); shift ;;
	--cmd) [ $# -ge 2 ] || usage; CMD=$2; shift 2 ;;
	--cmd=*) CMD=${1#*=}; shift ;;
	--timeout) [ $# -ge 2 ] || usage; TIMEOUT=$2; shift 2 ;;
	--timeout=*) TIMEOUT=${1#*=}; shift ;;
	--no-probe) WITH_PROBE=0; shift ;;
	--kmod) [ $# -ge 2 ] || usage; KMODS+=("$2"); shift 2 ;;
	--file) [ $# -ge 2 ] || usage; FILES+=("$2"); shift 2 ;;
	-h|--help) usage ;;
	*) echo "run.sh: unknown argument: $1" >&2; usage ;;
	esac
done
if [ -z "$CMD" ]; then
	[ "$WITH_PROBE" = 1 ] || { echo "run.sh: --no-probe needs --cmd" >&2; exit 2; }
	CMD=genl_probe
fi

# ---------------------------------------------------------------- helpers

PHASE=""
PHASE_T0=0
SCRIPT_T0=$(date +%s.%N)
TIMINGS=()
FINISHED=0

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

phase() {
	phase_end
	PHASE=$1
	PHASE_T0=$(date +%s.%N)
	echo "==> [$PHASE]"
}

phase_end() {
	if [ -n "$PHASE" ]; then
		local t
		t=$(elapsed "$PHASE_T0")
		echo "<== [$PHASE] ${t}s"
		TIMINGS+=("$(printf '%-10s %6ss' "$PHASE" "$t")")
		PHASE=""
	fi
}

die() {
	echo "run.sh: ERROR${PHASE:+ in phase '$PHASE'}: $*" >&2
	exit 1
}

print_timings() {
	local t
	echo "---- phase timings ----"
	for t in "${TIMINGS[@]}"; do echo "  $t"; done
	echo "  total      $(elapsed "$SCRIPT_T0")s"
}

on_exit() {
	local rc=$?
	if [ "$FINISHED" = 0 ]; then
		# Died before the VM reported: still end with the summary line.
		[ -n "$PHASE" ] && echo "run.sh: phase '$PHASE' failed (exit $rc)" >&2
		phase_end
		print_timings
		echo "0 passed, 1 failed"
		[ "$rc" = 0 ] && rc=1
	fi
	exit "$rc"
}
trap on_exit EXIT

pkg_installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

APT=(apt-get -y -q -o DPkg::Lock::Timeout=60)

[ "$(id -u)" = 0 ] || die "must run as root (apt-get, dpkg -x, mknod)"

# ---------------------------------------------------------------- packages

PKGS=(qemu-system-x86 linux-headers-amd64 busybox-static build-essential kmod xz-utils)

phase packages
missing=()
for p in "${PKGS[@]}"; do pkg_installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
	echo "all present: ${PKGS[*]}"
elif [ "${VMLANE_NO_APT:-0}" = 1 ]; then
	die "missing packages and VMLANE_NO_APT=1: ${missing[*]}"
else
	echo "installing: ${missing[*]}"
	"${APT[@]}" update
	# No recommends: qemu-system-x86 recommends the GUI/gstreamer/mesa
	# stack (170 packages instead of 32 on a Debian 12 machine).
	"${APT[@]}" install --no-install-recommends "${PKGS[@]}"
fi

# ---------------------------------------------------------------- kabi

derive_kabi() {
	KABI=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 |
		grep -o 'linux-headers-[0-9][^ ,]*-amd64' | head -n1 |
		sed 's/^linux-headers-//')
	[ -n "$KABI" ] || die "cannot derive KABI from linux-headers-amd64 Depends"
	pkg_installed "linux-headers-$KABI" ||
		die "linux-headers-$KABI (from linux-headers-amd64 Depends) not installed"
	KVER=$(dpkg-query -W -f='${Version}' "linux-headers-$KABI")
	KDIR=/usr/src/linux-headers-$KABI
	[ -f "$KDIR/Makefile" ] || die "$KDIR/Makefile missing"
}

phase kabi
derive_kabi
echo "KABI=$KABI version=$KVER headers=$KDIR"

# ---------------------------------------------------------------- image

fetch_image() {
	local dl="$CACHE/download"
	rm -rf "$dl" "$IMGDIR.tmp"
	mkdir -p "$dl" "$IMGDIR.tmp"
	# Let apt's sandbox user write there (else a harmless warning).
	chown _apt "$dl" 2>/dev/null || true
	# (set -e does not apply inside a function called from "if": check
	# every step.)
	(cd "$dl" && apt-get -q -o DPkg::Lock::Timeout=60 download \
		"linux-image-$KABI=$KVER") || return 1
	local deb
	deb=$(ls "$dl"/linux-image-"$KABI"_*.deb) || return 1
	dpkg -x "$deb" "$IMGDIR.tmp" || return 1
	rm -rf "$dl"
}

phase image
mkdir -p "$CACHE"
IMGDIR="$CACHE/linux-image-${KABI}_$KVER"
VMLINUZ="$IMGDIR/boot/vmlinuz-$KABI"
if [ -f "$IMGDIR/.complete" ] && [ -f "$VMLINUZ" ]; then
	echo "cached: $IMGDIR"
else
	echo "fetching linux-image-$KABI=$KVER"
	if ! fetch_image; then
		[ "${VMLANE_NO_APT:-0}" = 1 ] && die "download failed"
		# The archive may have moved on to a new ABI: refresh, upgrade
		# the headers metapackage, derive again, retry once.
		echo "download failed; apt-get update and re-derive KABI"
		"${APT[@]}" update
		"${APT[@]}" install --no-install-recommends linux-headers-amd64
		derive_kabi
		IMGDIR="$CACHE/linux-image-${KABI}_$KVER"
		VMLINUZ="$IMGDIR/boot/vmlinuz-$KABI"
		fetch_image || die "cannot download linux-image-$KABI=$KVER"
	fi
	rm -rf "$IMGDIR"
	mv "$IMGDIR.tmp" "$IMGDIR"
	[ -f "$VMLINUZ" ] || die "no $VMLINUZ in the image package"
	touch "$IMGDIR/.complete"
fi
# Under TCG, decompressing the xz bzImage in the guest is a large share of
# the boot (first console byte after 123 s vs 51 s on a loaded host).  The
# Debian kernel has CONFIG_PVH=y, so qemu can boot the uncompressed ELF
# vmlinux directly: extract it once (xz stream inside the bzImage) and cache
# it.  Falls back to the bzImage if anything about it looks wrong;
# VMLANE_BOOT=bzimage forces the bzImage.
VMLINUX="$IMGDIR/vmlinux-pvh"
if [ "${VMLANE_BOOT:-pvh}" = pvh ] && [ ! -s "$VMLINUX" ]; then
	off=$(grep -obUaP '\xfd7zXZ\x00' "$VMLINUZ" | head -n1 | cut -d: -f1 || true)
	# (No pipe into xz: it stops reading after the stream, and the
	# writer's SIGPIPE would fail the pipeline under pipefail.)
	if [ -n "$off" ] &&
	   tail -c +$((off + 1)) "$VMLINUZ" >"$VMLINUX.xz" &&
	   xz -dc --single-stream "$VMLINUX.xz" >"$VMLINUX.tmp" &&
	   readelf -n "$VMLINUX.tmp" | grep -q 'Xen.*(0x00000012)'; then
		rm -f "$VMLINUX.xz"
		mv "$VMLINUX.tmp" "$VMLINUX"
		echo "extracted PVH-bootable vmlinux ($(stat -c %s "$VMLINUX") bytes)"
	else
		rm -f "$VMLINUX.tmp" "$VMLINUX.xz"
		echo "WARNING: no PVH vmlinux could be extracted; booting the bzImage"
	fi
fi
if [ "${VMLANE_BOOT:-pvh}" = pvh ] && [ -s "$VMLINUX" ]; then
	BOOTKERNEL=$VMLINUX
else
	BOOTKERNEL=$VMLINUZ
fi
echo "boot kernel: $BOOTKERNEL"
# Keep the cache bounded: drop images of other ABIs/versions.
for d in "$CACHE"/linux-image-*; do
	[ -e "$d" ] || continue
	[ "$d" = "$IMGDIR" ] && continue
	echo "pruning stale cache entry $d"
	rm -rf "$d"
done

# ---------------------------------------------------------------- module

phase module
rm -rf "$WORK"
mkdir -p "$WORK/module" "$WORK/bin" "$WORK/root"
# Build a fresh copy each run so that the warning check always sees a full
# compile, and the source tree stays free of build products.
tar -C "$MODSRC" -cf - \
	--exclude='*.o' --exclude='*.ko' --exclude='*.mod' --exclude='*.mod.c' \
	--exclude='.*.cmd' --exclude='Module.symvers' --exclude='modules.order' \
	--exclude='.tmp_versions' . | tar -C "$WORK/module" -xf -
BUILDLOG="$WORK/module-build.log"
set +e
make -C "$KDIR" M="$WORK/module" -j"$(nproc)" modules >"$BUILDLOG" 2>&1
mrc=$?
set -e
cat "$BUILDLOG"
[ "$mrc" = 0 ] || die "module build failed (make exit $mrc)"
if grep -i 'warning:' "$BUILDLOG" | grep -v 'Skipping BTF generation' >"$WORK/warnings"; then
	echo "---- build warnings ----"
	cat "$WORK/warnings"
	die "module build printed $(wc -l <"$WORK/warnings") warning line(s)"
fi
KO="$WORK/module/$MODNAME.ko"
[ -f "$KO" ] || die "$KO not produced"
vermagic=$(modinfo -F vermagic "$KO")
echo "vermagic: $vermagic"
[ "${vermagic%% *}" = "$KABI" ] || die "vermagic '$vermagic' does not start with $KABI"
ref=$(find "$IMGDIR/lib/modules/$KABI/kernel" -name '*.ko*' -print -quit)
if [ -n "$ref" ]; then
	refmagic=$(modinfo -F vermagic "$ref")
	[ "$vermagic" = "$refmagic" ] ||
		die "vermagic mismatch: ours '$vermagic', image '$refmagic' ($ref)"
	echo "vermagic matches image module $(basename "$ref")"
fi

# ---------------------------------------------------------------- test binaries

phase testbins
is_static() { ! readelf -lW "$1" 2>/dev/null | grep -q 'Requesting program interpreter'; }
if [ "$WITH_PROBE" = 1 ]; then
	gcc -static -O2 -Wall -Wextra -Werror -o "$WORK/bin/genl_probe" \
		"$HERE/probe/genl_probe.c"
	echo "built genl_probe ($(stat -c %s "$WORK/bin/genl_probe") bytes)"
fi
for b in ${TEST_BINS[@]+"${TEST_BINS[@]}"}; do
	[ -f "$b" ] && [ -x "$b" ] || die "--test-bin $b: not an executable file"
	readelf -h "$b" >/dev/null 2>&1 || die "--test-bin $b: not an ELF file"
	cp "$b" "$WORK/bin/"
	echo "added $(basename "$b") ($(stat -c %s "$b") bytes)"
	# A dynamically linked binary brings its loader and libraries (as ldd resolves them
	# on the host) to the same paths in the guest.
	if ! is_static "$b"; then
		ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' \
			>>"$WORK/libs.list" || die "--test-bin $b: ldd failed"
		echo "  dynamically linked: $(wc -l <"$WORK/libs.list") libraries so far"
	fi
done

# ---------------------------------------------------------------- initramfs

phase initramfs
R="$WORK/root"
mkdir -p "$R"/{bin,dev,proc,sys,tmp,etc,lib/modules}
cp /bin/busybox "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do
	[ "$a" = busybox ] || ln -s busybox "$R/bin/$a"
done
ln -s bin "$R/sbin"
for b in "$WORK"/bin/*; do
	[ -e "$b" ] || continue
	rm -f "$R/bin/$(basename "$b")"
	cp "$b" "$R/bin/"
done
cp "$KO" "$R/lib/modules/$MODNAME.ko"
for m in ${KMODS[@]+"${KMODS[@]}"}; do
	ko=$(find "$IMGDIR/lib/modules/$KABI/kernel" -name "$m.ko" -print -quit)
	[ -n "$ko" ] || die "--kmod $m: no $m.ko in the image's modules"
	mkdir -p "$R/lib/modules/extra"
	cp "$ko" "$R/lib/modules/extra/"
	echo "added module $m ($(modinfo -F depends "$ko" | sed 's/^$/no deps/'))"
done
for f in ${FILES[@]+"${FILES[@]}"}; do
	src=${f%%:*}
	dst=${f#*:}
	[ -f "$src" ] && [ "$dst" != "$f" ] && [ "${dst#/}" != "$dst" ] ||
		die "--file $f: want SRC:/DEST with SRC an existing file"
	mkdir -p "$R$(dirname "$dst")"
	cp "$src" "$R$dst"
	echo "added file $dst ($(stat -c %s "$src") bytes)"
done
if [ -s "$WORK/libs.list" ]; then
	sort -u "$WORK/libs.list" | while read -r lib; do
		mkdir -p "$R$(dirname "$lib")"
		cp -L "$lib" "$R$lib"
	done
fi
mknod -m 600 "$R/dev/console" c 5 1 2>/dev/null || true
printf '%s\n' "$CMD" >"$R/etc/vmlane-test.sh"

cat >"$R/init" <<'INIT'
#!/bin/sh
# VM lane guest init (generated by kmod-shim/vm/run.sh).
export PATH=/bin HOME=/ TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t debugfs debugfs /sys/kernel/debug || echo "vmlane: debugfs mount failed"
ip link set lo up 2>/dev/null

MOD=pnfs_shim
passed=0
failed=0
res() {
	echo "$*"
	case "$1" in
	PASS) passed=$((passed + 1)) ;;
	FAIL) failed=$((failed + 1)) ;;
	esac
}
finish() {
	echo "VMLANE-RESULT passed=$passed failed=$failed"
	sync
	poweroff -f
	sleep 5
	echo o >/proc/sysrq-trigger
	sleep 60
}

echo "VMLANE-BEGIN kernel=$(uname -r) cmd=$(cat /etc/vmlane-test.sh)"
echo "vmlane: tests begin" >/dev/kmsg
if insmod /lib/modules/$MOD.ko; then
	res PASS insmod
else
	res FAIL "insmod: insmod /lib/modules/$MOD.ko failed"
	echo "!!!!!!!! MODULE LOAD FAILED: dmesg tail follows !!!!!!!!"
	dmesg | tail -n 30
	finish
fi

( sh /etc/vmlane-test.sh; echo $? >/tmp/test.rc ) 2>&1 | tee /tmp/test.out
rc=$(cat /tmp/test.rc 2>/dev/null || echo 255)
p=$(grep -c '^PASS ' /tmp/test.out)
f=$(grep -c '^FAIL ' /tmp/test.out)
passed=$((passed + p))
failed=$((failed + f))
if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
	res FAIL "test_command: exit status $rc without a FAIL line"
fi
if [ "$p" = 0 ] && [ "$f" = 0 ]; then
	res FAIL "test_command: printed no PASS/FAIL line"
fi

if rmmod $MOD && [ ! -e /sys/module/$MOD ]; then
	res PASS rmmod
else
	res FAIL "rmmod: module $MOD did not unload"
	lsmod
fi

# Any kernel splat since the tests began is a failure, except between the markers a
# test writes around what it provokes on purpose (a GFS2 withdraw dumps the stack).
dmesg | sed -n '/vmlane: tests begin/,$p' |
	sed '/vmlane: expected-splat begin/,/vmlane: expected-splat end/d' >/tmp/kmsg
if grep -E 'BUG:|WARNING:|Oops|general protection|Call Trace|RIP:|UBSAN|KASAN|refcount_t' /tmp/kmsg >/tmp/splat; then
	res FAIL "kernel_log_clean: kernel splat during tests"
	cat /tmp/kmsg
else
	res PASS kernel_log_clean
fi
finish
INIT
chmod 755 "$R/init"
INITRD="$WORK/initrd.cpio.gz"
(cd "$R" && find . | sort | "$R/bin/busybox" cpio -o -H newc 2>/dev/null) | gzip -1 >"$INITRD"
echo "initramfs: $(stat -c %s "$INITRD") bytes, cmd: $CMD"

# ---------------------------------------------------------------- boot

phase boot
ACCEL_REASON=""
kvm_usable() {
	grep -qwE 'vmx|svm' /proc/cpuinfo || { ACCEL_REASON="no vmx/svm flag in /proc/cpuinfo"; return 1; }
	[ -c /dev/kvm ] || { ACCEL_REASON="no /dev/kvm"; return 1; }
	(exec 3<>/dev/kvm) 2>/dev/null || { ACCEL_REASON="/dev/kvm not openable read-write"; return 1; }
	ACCEL_REASON="vmx/svm present and /dev/kvm usable"
}
case "${VMLANE_ACCEL:-auto}" in
auto) if kvm_usable; then ACCEL=kvm; else ACCEL=tcg; fi ;;
kvm) kvm_usable || die "VMLANE_ACCEL=kvm but KVM unusable: $ACCEL_REASON"; ACCEL=kvm ;;
tcg) ACCEL=tcg; ACCEL_REASON="forced by VMLANE_ACCEL=tcg" ;;
*) die "VMLANE_ACCEL must be auto, kvm or tcg" ;;
esac
if [ "$ACCEL" = kvm ]; then
	ACCEL_ARGS=(-accel kvm -cpu host)
else
	ACCEL_ARGS=(-accel tcg -cpu max)
fi
echo "************************************************************"
echo "*** qemu accelerator: ${ACCEL^^} ($ACCEL_REASON)"
[ "$ACCEL" = tcg ] && echo "*** TCG is software emulation: timings are NOT representative"
echo "************************************************************"

SERIAL="$WORK/serial.log"
: >"$SERIAL"
QEMU=(qemu-system-x86_64 "${ACCEL_ARGS[@]}" -m "$MEM" -smp "$SMP"
	-nodefaults -display none -no-reboot -net none
	-serial "file:$SERIAL"
	-kernel "$BOOTKERNEL" -initrd "$INITRD"
	-append "console=ttyS0 panic=-1 quiet")
echo "timeout ${TIMEOUT}s: ${QEMU[*]}"
set +e
timeout --kill-after=10 "$TIMEOUT" "${QEMU[@]}" </dev/null >"$WORK/qemu.out" 2>&1
qrc=$?
set -e
cat "$WORK/qemu.out"
echo "qemu exit status $qrc"

# ---------------------------------------------------------------- report

phase report
tr -d '\r' <"$SERIAL" >"$WORK/serial.txt"
result=$(grep -a -o 'VMLANE-RESULT passed=[0-9]* failed=[0-9]*' "$WORK/serial.txt" | tail -n1 || true)
problems=()
if [ -n "$result" ]; then
	echo "---- guest output ----"
	sed -n '/VMLANE-BEGIN/,/VMLANE-RESULT/p' "$WORK/serial.txt"
	echo "----------------------"
	passed=$(sed 's/.*passed=\([0-9]*\).*/\1/' <<<"$result")
	failed=$(sed 's/.*failed=\([0-9]*\).*/\1/' <<<"$result")
else
	echo "---- serial log (last 80 lines; no VMLANE-RESULT line) ----"
	if [ -s "$WORK/serial.txt" ]; then
		tail -n 80 "$WORK/serial.txt"
	else
		echo "(serial log is empty: the kernel never wrote to ttyS0)"
	fi
	echo "----------------------"
	passed=$(grep -a -c '^PASS ' "$WORK/serial.txt" || true)
	failed=$(grep -a -c '^FAIL ' "$WORK/serial.txt" || true)
	failed=$((failed + 1))
	problems+=("guest never printed VMLANE-RESULT")
fi
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	problems+=("TIMEOUT: qemu killed after ${TIMEOUT}s")
elif [ "$qrc" != 0 ]; then
	problems+=("qemu exited with status $qrc")
fi
if grep -a -q 'Kernel panic' "$WORK/serial.txt"; then
	problems+=("kernel panic in serial log")
fi
if [ "$passed" = 0 ] && [ "$failed" = 0 ]; then
	problems+=("no test ran")
fi
# Every VM-level problem counts as one more failure.
if [ -n "$result" ] && [ ${#problems[@]} -gt 0 ]; then
	failed=$((failed + 1))
fi
for p in ${problems[@]+"${problems[@]}"}; do echo "run.sh: $p" >&2; done
echo "serial log: $SERIAL"
phase_end
print_timings
FINISHED=1
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
