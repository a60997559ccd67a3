#!/usr/bin/env bash
# The packages lane: the .debs built from a fresh clone (tests/vm/packages-build.sh:
# dpkg-buildpackage, lintian), installed offline in a Debian bookworm guest booted with
# systemd as init (Debian's 6.1 kernel under qemu, its own cached root image from
# tests/vm/rootimg.sh debian_pkg_root_image). pnfs-nfsd-dkms (with pnfs-shim-dkms and
# linux-source-6.1) is installed with apt in a chroot of a copy of that image on the host,
# where DKMS builds the patched nfsd.ko and pnfs_shim_ff.ko for the guest's kernel ABI
# (native speed; cached by its inputs). The guest (tests/vm/packages-guest.sh, run by a
# unit) finds DKMS's nfsd and pnfs_shim_ff for its kernel, checks the linux-source version
# rule's failure (its check and dkms build, with another version faked), reinstalls
# pnfs-shim-dkms (DKMS builds pnfs_shim.ko in the guest; it loads, pnfs_shim_ff on top of it
# and DKMS's nfsd) and installs pnfs-controld with apt, starts the daemon with systemctl under its unit's
# sandboxing on the corosync engine, serving the real nfsd's cld pipe and acknowledging
# a real lock_dlm GFS2 withdraw, and a GFS2 export with `pnfs` offering flexfile layouts
# (DKMS's nfsd); stops it, reads its journal, removes (conffile and state stay; Debian's
# nfsd back) and purges (nothing left, by listing).
#
# Usage: bash tests/vm/packages.sh   (root; network for crates, debootstrap and the
# Debian kernel image the first time)
# Env: PKG_SRC=worktree (build from the working tree's tracked files instead of a clone
# of HEAD), VMLANE_TIMEOUT (qemu, default 1500 s).
# Last line "N passed, M failed" (exit 0/1), or "SKIPPED: reason" (exit 2).
set -Eeuo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")/../.."
ROOT=$PWD
VM=$ROOT/kmod-shim/vm
CACHE=$VM/.cache
WORK=$VM/work-packages
TIMEOUT=${VMLANE_TIMEOUT:-1500}
APT=(apt-get -y -q -o DPkg::Lock::Timeout=300)
FINISHED=0
HOSTPASS=0
HOSTFAIL=0
T_START=$SECONDS
# The host's checks (the guest's are counted from its serial log).
hpass() { echo "PASS pkg_$1${2:+ ($2)}"; HOSTPASS=$((HOSTPASS + 1)); }
hfail() { echo "FAIL pkg_$1: $2"; HOSTFAIL=$((HOSTFAIL + 1)); }
# (chroot_umount: the nfsd image's chroot mounts, if an error left them)
trap '[ $FINISHED = 1 ] || echo "$HOSTPASS passed, $((HOSTFAIL + 1)) failed"; chroot_umount 2>/dev/null || true' EXIT
skip() {
	FINISHED=1
	echo "SKIPPED: $1"
	exit 2
}
[ "$(id -u)" = 0 ] || skip "not root (debootstrap, loop devices, apt-get)"
command -v cargo >/dev/null || skip "no cargo on PATH (rustup's, >= 1.85)"

TAG=packages-vm
. tests/vm/vmhost.sh
vm_host_packages

# ---- the packages, from a fresh clone, and lintian
DEBS=$CACHE/debs
t0=$SECONDS
if OUT=$DEBS SRC=${PKG_SRC:-} bash tests/vm/packages-build.sh >"$CACHE/packages-build.log" 2>&1; then
	hpass build_and_lintian_clean "$((SECONDS - t0)) s"
else
	if ls "$DEBS"/pnfs-controld_*.deb "$DEBS"/pnfs-shim-dkms_*.deb >/dev/null 2>&1; then
		hfail build_and_lintian_clean "built, but lintian: $(grep -E '^[EW]: ' "$DEBS/lintian.txt" | head -10)"
	else
		tail -20 "$CACHE/packages-build.log"
		echo "FAIL pkg_build_and_lintian_clean: no packages (log: $CACHE/packages-build.log)"
		exit 1
	fi
fi
grep -E '^packages-build: (clone|the working)|^[EWIP]: |^N: ' "$CACHE/packages-build.log" | grep -v '^N: *$' | head -40 || true

# ---- the kernel (the vm lane's cached Debian image) and this lane's root image
vm_kernel_image
. tests/vm/rootimg.sh
debian_pkg_root_image packages-vm || exit 1

# ---- pnfs-nfsd-dkms, installed with apt in a chroot of a copy of the guest's root image,
# on the host. Its DKMS build unpacks linux-source-6.1's 140 MB tarball and compiles nfsd:
# 37 s here with apt and pnfs-shim's build, but 438 s in the TCG guest (dkms install
# pnfs-nfsd alone, measured once, 91 s of it unpacking): too slow for every CI run, so it
# runs at native speed for the guest's kernel ABI, with the guest's own apt, dpkg,
# dkms, compiler and headers (the chroot is the guest's root filesystem). The guest boots
# that image and checks what DKMS installed, loads it and serves with it. linux-source-6.1
# of the kernel's exact version is given to apt as a .deb (the image has no network);
# the image is cached by the root image, the two DKMS .debs and that version.
KVER=${IMGDIR##*_}
SRCDEB=$CACHE/linux-source-6.1_${KVER}_all.deb
if [ ! -s "$SRCDEB" ]; then
	dl=$CACHE/download-linux-source
	rm -rf "$dl"
	mkdir -p "$dl"
	chown _apt "$dl" 2>/dev/null || true
	echo "packages-vm: downloading linux-source-6.1=$KVER"
	if (cd "$dl" && apt-get -q -o DPkg::Lock::Timeout=60 download "linux-source-6.1=$KVER") \
		>"$CACHE/download-linux-source.log" 2>&1; then
		mv "$dl"/linux-source-6.1_*.deb "$SRCDEB"
	else
		tail -3 "$CACHE/download-linux-source.log"
	fi
	rm -rf "$dl"
fi
NFSDDEBS=("$DEBS"/pnfs-shim-dkms_*_all.deb "$DEBS"/pnfs-nfsd-dkms_*_all.deb)
nkey=$( { basename "$PKGROOTIMG"; basename "$SRCDEB"; cat "${NFSDDEBS[@]}" 2>/dev/null; echo nfsd-v1; } |
	sha256sum | cut -c1-12)
NFSDIMG=$CACHE/debian-pkgnfsd-$nkey.img
MNT=$CACHE/pkgnfsd-mnt
CHLOG=$CACHE/pkgnfsd-chroot.log
# chroot_mount IMAGE: IMAGE at $MNT, writable, with /proc and the host's /dev, for apt
chroot_mount() {
	mkdir -p "$MNT"
	mount -o loop "$1" "$MNT"
	mount -t proc proc "$MNT/proc"
	mount --bind /dev "$MNT/dev"
}
chroot_umount() {
	for m in "$MNT/tmp" "$MNT/dev" "$MNT/proc" "$MNT"; do mountpoint -q "$m" && umount "$m"; done
	return 0
}
# inchroot COMMAND...: COMMAND in the image at $MNT, in a clean environment
inchroot() { chroot "$MNT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive "$@"; }
# dkms_has STATUS MODULE KABI: `dkms status` output STATUS has MODULE installed for KABI
dkms_has() { grep -q "^$2/[^,]*, $3, x86_64: installed" <<<"$1"; }
t0=$SECONDS
nfsd_cached=yes
if [ ! -s "$NFSDIMG" ] && [ -s "$SRCDEB" ] && [ -s "${NFSDDEBS[1]}" ]; then
	nfsd_cached=no
	rm -f "$CACHE"/debian-pkgnfsd-*.img*
	cp --sparse=always "$PKGROOTIMG" "$NFSDIMG.tmp"
	chroot_mount "$NFSDIMG.tmp"
	mkdir -p "$MNT/tmp/debs"
	cp "$SRCDEB" "${NFSDDEBS[@]}" "$MNT/tmp/debs/"
	crc=0
	inchroot sh -c 'apt-get install -y -q /tmp/debs/*.deb && apt-mark auto linux-source-6.1' >"$CHLOG" 2>&1 || crc=$?
	rm -rf "$MNT/tmp/debs"
	chroot_umount
	echo "packages-vm: pnfs-nfsd-dkms installed in a chroot of the guest's image: apt exit $crc, $((SECONDS - t0)) s (log $CHLOG)"
	if [ $crc = 0 ]; then mv "$NFSDIMG.tmp" "$NFSDIMG"; else rm -f "$NFSDIMG.tmp"; fi
fi
# Checked on the image itself, whether built now or cached: the packages installed,
# DKMS's modules there for the guest's ABI.
if [ -s "$NFSDIMG" ]; then
	mkdir -p "$MNT"
	mount -o loop,ro "$NFSDIMG" "$MNT"
	mount -t proc proc "$MNT/proc"
	mount -t tmpfs tmpfs "$MNT/tmp"
	st=$(inchroot dkms status 2>&1 || true)
	pk=$(chroot "$MNT" dpkg-query -W -f='${Package}=${Version} ${db:Status-Abbrev};' \
		pnfs-nfsd-dkms pnfs-shim-dkms linux-source-6.1 2>&1 || true)
	kos=$(cd "$MNT/lib/modules/$KABI/updates/dkms" 2>/dev/null && ls | tr '\n' ' ' || true)
	chroot_umount
else
	st=none pk=none kos=none
fi
if [ -s "$NFSDIMG" ] && dkms_has "$st" pnfs-nfsd "$KABI" && dkms_has "$st" pnfs-shim "$KABI" && [[ $kos == *nfsd.ko* ]] &&
	[[ $kos == *pnfs_shim_ff.ko* ]] && [[ $pk == *"linux-source-6.1=$KVER ii"* ]]; then
	hpass nfsd_dkms_built_in_chroot "cached: $nfsd_cached, $((SECONDS - t0)) s; $(tr '\n' ';' <<<"$st") $pk updates/dkms: $kos"
	PKGROOTIMG=$NFSDIMG
else
	[ -s "$CHLOG" ] && tail -25 "$CHLOG"
	hfail nfsd_dkms_built_in_chroot "source deb: $(ls "$SRCDEB" 2>&1); dkms status: $(tr '\n' ';' <<<"$st"); packages: $pk; updates/dkms: $kos (log $CHLOG)"
fi

# ---- a kernel upgrade, in a throwaway copy of that image (every run): a second 6.1
# kernel's headers installed with apt, as an upgrade installs them. DKMS's hook builds
# pnfs_shim.ko for it; pnfs-nfsd-dkms's own hook finds linux-source-6.1 at another version,
# says so with the fix, and apt goes on (DKMS's autoinstall of pnfs-nfsd used to fail there
# and leave linux-headers-<ABI> unconfigured: apt stopped); the fix as the message gives
# it builds nfsd.ko for that kernel. (Removing a kernel's modules is DKMS's own hook, run
# by linux-image's prerm; the image is not installed here.) The second kernel: the newest
# other 6.1 ABI whose linux-source-6.1 version the archive still has (its .debs cached).
kernel_upgrade() {
	local k2= v2= h v dl=$CACHE/kernel-upgrade img=$CACHE/kup.img rc1 rc2 st1 st2 vm2
	for h in $(apt-cache search --names-only '^linux-headers-6\.1\.0-[0-9]+-amd64$' | awk '{print $1}' | sort -t- -k4,4nr); do
		[ "$h" = "linux-headers-$KABI" ] && continue
		v=$(apt-cache show "$h" 2>/dev/null | awk '/^Version:/ {print $2; exit}')
		apt-cache show "linux-source-6.1=$v" >/dev/null 2>&1 || continue
		k2=${h#linux-headers-} v2=$v
		break
	done
	if [ -z "$k2" ]; then
		hfail kernel_upgrade "no second 6.1 kernel with its linux-source-6.1 in this host's apt lists"
		return
	fi
	if [ ! -s "$dl/linux-source-6.1_${v2}_all.deb" ] || [ ! -s "$dl/linux-headers-${k2}_${v2}_amd64.deb" ]; then
		rm -rf "$dl"
		mkdir -p "$dl"
		chown _apt "$dl" 2>/dev/null || true
		(cd "$dl" && apt-get -q -o DPkg::Lock::Timeout=60 download "linux-headers-$k2=$v2" \
			"linux-headers-${k2%-amd64}-common=$v2" "linux-source-6.1=$v2") >"$CACHE/kernel-upgrade-download.log" 2>&1 ||
			tail -3 "$CACHE/kernel-upgrade-download.log"
	fi
	local t0=$SECONDS
	cp --sparse=always "$NFSDIMG" "$img"
	chroot_mount "$img"
	mkdir -p "$MNT/tmp/debs"
	cp "$dl"/*.deb "$MNT/tmp/debs/"
	rc1=0 rc2=0
	inchroot sh -c 'apt-get install -y -q /tmp/debs/linux-headers-*.deb' >"$CACHE/kup-headers.log" 2>&1 || rc1=$?
	st1=$(inchroot dkms status 2>&1)
	inchroot sh -c "apt-get install -y -q --allow-downgrades /tmp/debs/linux-source-6.1_*.deb && /etc/kernel/postinst.d/pnfs-nfsd-dkms $k2" \
		>"$CACHE/kup-fix.log" 2>&1 || rc2=$?
	st2=$(inchroot dkms status 2>&1)
	vm2=$(modinfo -F vermagic "$MNT/lib/modules/$k2/updates/dkms/nfsd.ko" 2>&1 || true)
	chroot_umount
	rm -f "$img"
	echo "packages-vm: kernel $k2 ($v2) installed and fixed in a copy of the guest's image: $((SECONDS - t0)) s (logs $CACHE/kup-*.log)"
	grep -E '^pnfs-nfsd-dkms: ' "$CACHE/kup-headers.log" || true
	if [ $rc1 = 0 ] && dkms_has "$st1" pnfs-shim "$k2" && ! grep -q "^pnfs-nfsd/[^,]*, $k2," <<<"$st1" &&
		grep -qF "linux-source-6.1 is version $KVER but kernel $k2 is version $v2" "$CACHE/kup-headers.log" &&
		grep -qF "Fix: apt install linux-source-6.1=$v2" "$CACHE/kup-headers.log" &&
		grep -qF "not built for kernel $k2: its installation goes on" "$CACHE/kup-headers.log"; then
		hpass kernel_upgrade_goes_on "apt exit 0; DKMS built pnfs_shim for $k2; pnfs-nfsd not built, the versions and the fix said"
	else
		tail -15 "$CACHE/kup-headers.log"
		hfail kernel_upgrade_goes_on "apt exit $rc1; dkms status: $(tr '\n' ';' <<<"$st1")"
	fi
	if [ $rc2 = 0 ] && dkms_has "$st2" pnfs-nfsd "$k2" && [[ $vm2 == "$k2 "* ]]; then
		hpass kernel_upgrade_fix_builds_nfsd "linux-source-6.1=$v2, the hook: nfsd.ko for $k2, vermagic $vm2"
	else
		tail -15 "$CACHE/kup-fix.log"
		hfail kernel_upgrade_fix_builds_nfsd "exit $rc2; dkms status: $(tr '\n' ';' <<<"$st2"); nfsd.ko vermagic: $vm2"
	fi
}
if [ -s "$NFSDIMG" ]; then
	kernel_upgrade
else
	hfail kernel_upgrade "no image with pnfs-nfsd-dkms installed (see above)"
fi

# ---- this run: GFS2 images (lock_nolock for the NFS export, lock_dlm for the withdraw)
# and the initramfs, which switch_roots into the image with systemd as init
rm -rf "$WORK"
mkdir -p "$WORK"
vm_gfs2_image "$WORK/gfs2.img" 128 lock_nolock vmnfs:fs0
vm_gfs2_image "$WORK/gfs2dlm.img" 64 lock_dlm vmclus:fs1
vm_initrd_begin
mkdir -p "$VM_R/payload/debs"
cp "$DEBS"/pnfs-controld_*_amd64.deb "$DEBS"/pnfs-shim-dkms_*_all.deb "$VM_R/payload/debs/"
cp tests/vm/packages-guest.sh "$VM_R/payload/guest.sh"
cat >"$VM_R/payload/pnfs-pkgtest.service" <<'UNIT'
[Unit]
Description=pnfs-controld packages test (tests/vm/packages-guest.sh)
After=basic.target systemd-journald.service

[Service]
Type=simple
ExecStart=/opt/pnfs/guest.sh
UNIT
VM_INIT_EXTRA='cp /payload/pnfs-pkgtest.service /newroot/etc/systemd/system/
mkdir -p /newroot/etc/systemd/system/multi-user.target.wants
ln -sf ../pnfs-pkgtest.service /newroot/etc/systemd/system/multi-user.target.wants/pnfs-pkgtest.service'
vm_initrd_pack /lib/systemd/systemd

# ---- boot
SERIAL=$WORK/serial.log
echo "packages-vm: booting (TCG unless KVM works; timeout ${TIMEOUT}s)"
vm_accel
t0=$SECONDS
set +e
timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 "${VM_ACCEL[@]}" -m 1536 -smp 2 \
	-nodefaults -display none -no-reboot -net none -serial "file:$SERIAL" \
	-drive "file=$PKGROOTIMG,format=raw,if=virtio,snapshot=on" \
	-drive "file=$WORK/gfs2.img,format=raw,if=virtio" \
	-drive "file=$WORK/gfs2dlm.img,format=raw,if=virtio" \
	-kernel "$KERNEL" -initrd "$WORK/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet systemd.show_status=0 systemd.mask=serial-getty@ttyS0.service systemd.mask=getty@tty1.service" \
	</dev/null >"$WORK/qemu.out" 2>&1
QRC=$?
set -e
echo "packages-vm: qemu exit $QRC after $((SECONDS - t0)) s"
tr -d '\r' <"$SERIAL" >"$WORK/serial.txt"
vm_verdict PKG-VM-BEGIN PKG-VM-END
PASSED=$((PASSED + HOSTPASS))
FAILED=$((FAILED + HOSTFAIL))
echo "packages-vm: $((SECONDS - T_START)) s in all"
FINISHED=1
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ] && [ "$PASSED" -gt 0 ]
