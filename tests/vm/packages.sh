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
# (chroot_umount: the nfsd image's chroot mounts, if an error left them)
trap '[ $FINISHED = 1 ] || echo "$HOSTPASS passed, $((HOSTFAIL + 1)) failed"; chroot_umount 2>/dev/null || true' EXIT
skip() {
	FINISHED=1
	echo "SKIPPED: $1"
	exit 2
}
[ "$(id -u)" = 0 ] || skip "not root (debootstrap, loop devices, apt-get)"
command -v cargo >/dev/null || skip "no cargo on PATH (rustup's, >= 1.85)"

need=()
for p in debootstrap gfs2-utils e2fsprogs qemu-system-x86 busybox-static; do
	[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	"${APT[@]}" update -q >/dev/null
	"${APT[@]}" install --no-install-recommends "${need[@]}" >/dev/null
fi

# ---- the packages, from a fresh clone, and lintian
DEBS=$CACHE/debs
t0=$SECONDS
if OUT=$DEBS SRC=${PKG_SRC:-} bash tests/vm/packages-build.sh >"$CACHE/packages-build.log" 2>&1; then
	echo "PASS pkg_build_and_lintian_clean ($((SECONDS - t0)) s)"
	HOSTPASS=$((HOSTPASS + 1))
else
	if ls "$DEBS"/pnfs-controld_*.deb "$DEBS"/pnfs-shim-dkms_*.deb >/dev/null 2>&1; then
		echo "FAIL pkg_build_and_lintian_clean: built, but lintian: $(grep -E '^[EW]: ' "$DEBS/lintian.txt" | head -10)"
		HOSTFAIL=$((HOSTFAIL + 1))
	else
		tail -20 "$CACHE/packages-build.log"
		echo "FAIL pkg_build_and_lintian_clean: no packages (log: $CACHE/packages-build.log)"
		exit 1
	fi
fi
grep -E '^packages-build: (clone|the working)|^[EWIP]: |^N: ' "$CACHE/packages-build.log" | grep -v '^N: *$' | head -40 || true

# ---- the kernel (the vm lane's cached Debian image) and this lane's root image
IMGDIR=$(ls -d "$CACHE"/linux-image-*/ 2>/dev/null | head -n1)
if [ -z "$IMGDIR" ] || [ ! -f "$IMGDIR/.complete" ]; then
	echo "packages-vm: no cached Debian kernel image; fetching it through the vm lane"
	"$VM/run.sh" --no-probe --cmd true >/dev/null 2>&1 || true
	IMGDIR=$(ls -d "$CACHE"/linux-image-*/ 2>/dev/null | head -n1)
fi
[ -n "$IMGDIR" ] && [ -f "$IMGDIR/.complete" ] || { echo "packages-vm: no kernel image"; exit 1; }
IMGDIR=${IMGDIR%/}
KABI=$(ls "$IMGDIR/lib/modules")
KERNEL=$IMGDIR/vmlinux-pvh
[ -s "$KERNEL" ] || KERNEL=$IMGDIR/boot/vmlinuz-$KABI
echo "packages-vm: kernel $KABI ($KERNEL)"
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
chroot_umount() {
	for m in "$MNT/tmp" "$MNT/dev" "$MNT/proc" "$MNT"; do mountpoint -q "$m" && umount "$m"; done
	return 0
}
t0=$SECONDS
nfsd_cached=yes
if [ ! -s "$NFSDIMG" ] && [ -s "$SRCDEB" ] && [ -s "${NFSDDEBS[1]}" ]; then
	nfsd_cached=no
	rm -f "$CACHE"/debian-pkgnfsd-*.img*
	cp --sparse=always "$PKGROOTIMG" "$NFSDIMG.tmp"
	mkdir -p "$MNT"
	mount -o loop "$NFSDIMG.tmp" "$MNT"
	mount -t proc proc "$MNT/proc"
	mount --bind /dev "$MNT/dev"
	mkdir -p "$MNT/tmp/debs"
	cp "$SRCDEB" "${NFSDDEBS[@]}" "$MNT/tmp/debs/"
	crc=0
	chroot "$MNT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive \
		sh -c 'apt-get install -y -q /tmp/debs/*.deb && apt-mark auto linux-source-6.1' >"$CHLOG" 2>&1 || crc=$?
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
	st=$(chroot "$MNT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin dkms status 2>&1 | tr '\n' ';' || true)
	pk=$(chroot "$MNT" dpkg-query -W -f='${Package}=${Version} ${db:Status-Abbrev};' \
		pnfs-nfsd-dkms pnfs-shim-dkms linux-source-6.1 2>&1 || true)
	kos=$(cd "$MNT/lib/modules/$KABI/updates/dkms" 2>/dev/null && ls | tr '\n' ' ' || true)
	chroot_umount
else
	st=none pk=none kos=none
fi
if [ -s "$NFSDIMG" ] && [[ $st == *"pnfs-nfsd/"*", $KABI, x86_64: installed"* ]] &&
	[[ $st == *"pnfs-shim/"*", $KABI, x86_64: installed"* ]] && [[ $kos == *nfsd.ko* ]] &&
	[[ $kos == *pnfs_shim_ff.ko* ]] && [[ $pk == *"linux-source-6.1=$KVER ii"* ]]; then
	echo "PASS pkg_nfsd_dkms_built_in_chroot (cached: $nfsd_cached, $((SECONDS - t0)) s; $st $pk updates/dkms: $kos)"
	HOSTPASS=$((HOSTPASS + 1))
	PKGROOTIMG=$NFSDIMG
else
	[ -s "$CHLOG" ] && tail -25 "$CHLOG"
	echo "FAIL pkg_nfsd_dkms_built_in_chroot: source deb: $(ls "$SRCDEB" 2>&1); dkms status: $st; packages: $pk; updates/dkms: $kos (log $CHLOG)"
	HOSTFAIL=$((HOSTFAIL + 1))
fi

# ---- this run: GFS2 images (lock_nolock for the NFS export, lock_dlm for the withdraw)
# and the initramfs, which switch_roots into the image with systemd as init
rm -rf "$WORK"
mkdir -p "$WORK/initrd"/{bin,dev,proc,sys,newroot,modules,payload/debs}
truncate -s 128M "$WORK/gfs2.img"
mkfs.gfs2 -O -p lock_nolock -j 1 -J 8 -t vmnfs:fs0 "$WORK/gfs2.img" >/dev/null
truncate -s 64M "$WORK/gfs2dlm.img"
mkfs.gfs2 -O -p lock_dlm -j 1 -J 8 -t vmclus:fs1 "$WORK/gfs2dlm.img" >/dev/null
R=$WORK/initrd
cp /bin/busybox "$R/bin/busybox"
for a in sh mount umount mkdir ln insmod switch_root cp echo cat sleep; do ln -s busybox "$R/bin/$a"; done
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk \
	crc16 mbcache jbd2 crc32c_generic ext4; do
	ko=$(find "$IMGDIR/lib/modules/$KABI/kernel" -name "$m.ko" -print -quit)
	[ -n "$ko" ] || { echo "packages-vm: no $m.ko"; exit 1; }
	cp "$ko" "$R/modules/"
	echo "$m" >>"$R/modules/order"
done
cp "$DEBS"/pnfs-controld_*_amd64.deb "$DEBS"/pnfs-shim-dkms_*_all.deb "$R/payload/debs/"
cp tests/vm/packages-guest.sh "$R/payload/guest.sh"
cat >"$R/payload/pnfs-pkgtest.service" <<'UNIT'
[Unit]
Description=pnfs-controld packages test (tests/vm/packages-guest.sh)
After=basic.target systemd-journald.service

[Service]
Type=simple
ExecStart=/opt/pnfs/guest.sh
UNIT
cat >"$R/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules/order); do insmod /modules/$m.ko 2>/dev/null; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
mount -t ext4 /dev/vda /newroot || { echo "FAIL pkg_boot: cannot mount the root image"; echo o >/proc/sysrq-trigger; }
mkdir -p /newroot/opt/pnfs
cp -a /payload/. /newroot/opt/pnfs/
cp /payload/pnfs-pkgtest.service /newroot/etc/systemd/system/
mkdir -p /newroot/etc/systemd/system/multi-user.target.wants
ln -sf ../pnfs-pkgtest.service /newroot/etc/systemd/system/multi-user.target.wants/pnfs-pkgtest.service
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /lib/systemd/systemd
INIT
chmod 755 "$R/init"
(cd "$R" && find . | sort | busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$WORK/initrd.gz"

# ---- boot
SERIAL=$WORK/serial.log
echo "packages-vm: booting (TCG unless KVM works; timeout ${TIMEOUT}s)"
accel=(-accel tcg -cpu max)
if grep -qwE 'vmx|svm' /proc/cpuinfo && (exec 3<>/dev/kvm) 2>/dev/null; then accel=(-accel kvm -cpu host); fi
t0=$SECONDS
set +e
timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 "${accel[@]}" -m 1536 -smp 2 \
	-nodefaults -display none -no-reboot -net none -serial "file:$SERIAL" \
	-drive "file=$PKGROOTIMG,format=raw,if=virtio,snapshot=on" \
	-drive "file=$WORK/gfs2.img,format=raw,if=virtio" \
	-drive "file=$WORK/gfs2dlm.img,format=raw,if=virtio" \
	-kernel "$KERNEL" -initrd "$WORK/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet systemd.show_status=0 systemd.mask=serial-getty@ttyS0.service systemd.mask=getty@tty1.service" \
	</dev/null >"$WORK/qemu.out" 2>&1
qrc=$?
set -e
echo "packages-vm: qemu exit $qrc after $((SECONDS - t0)) s"
tr -d '\r' <"$SERIAL" >"$WORK/serial.txt"
sed -n '/PKG-VM-BEGIN/,/PKG-VM-END/p' "$WORK/serial.txt"
passed=$(grep -a -c '^PASS ' "$WORK/serial.txt" || true)
failed=$(grep -a -c '^FAIL ' "$WORK/serial.txt" || true)
if ! grep -a -q 'PKG-VM-END' "$WORK/serial.txt"; then
	echo "packages-vm: the guest did not finish (qemu exit $qrc); serial log tail:"
	tail -40 "$WORK/serial.txt"
	failed=$((failed + 1))
fi
passed=$((passed + HOSTPASS))
failed=$((failed + HOSTFAIL))
echo "packages-vm: $((SECONDS - T_START)) s in all"
FINISHED=1
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
