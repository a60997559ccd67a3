#!/usr/bin/env bash
# The real-nfsd VM lane: Debian's 6.1 kernel under qemu with a Debian root filesystem
# (debootstrap, cached) holding the real nfs-utils and gfs2-utils; pnfs_controld serves
# nfsd's client-tracking pipe in place of nfsdcld (which is not started), an NFSv4.1
# client mounts a real GFS2 export over loopback, and the guest script
# (tests/vm/nfsd-guest.sh) checks the record, a second client that confirms while no
# daemon serves the pipe (never recorded) and cannot reclaim, a server restart with grace,
# reclaim of an open file and a lock, and a daemon killed while it holds nfsd's GraceDone
# unanswered (its successor answers it from the journal); then a lock_dlm GFS2 (one-node
# corosync and dlm_controld in the guest) withdraws and waits until pnfs_controld
# acknowledges it.
#
# Usage: bash tests/vm/nfsd.sh   (root; after the vm tier, whose kernel image it reuses)
# Env: DAEMON_BIN_DIR (default target/debug: pnfs_controld, pnfsctl, built with feature
# `fuzzing` for the test hook that leaves a message unanswered), VMLANE_TIMEOUT.
# Last line: "N passed, M failed".
set -Eeuo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")/../.."
ROOT=$PWD
VM=$ROOT/kmod-shim/vm
CACHE=$VM/.cache
WORK=$VM/work-nfsd
TIMEOUT=${VMLANE_TIMEOUT:-900}
dbin=${DAEMON_BIN_DIR:-target/debug}
APT=(apt-get -y -q -o DPkg::Lock::Timeout=120)
FINISHED=0
trap '[ $FINISHED = 1 ] || echo "0 passed, 1 failed"' EXIT

need=()
for p in debootstrap gfs2-utils e2fsprogs qemu-system-x86 busybox-static; do
	[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	"${APT[@]}" update -q >/dev/null
	"${APT[@]}" install --no-install-recommends "${need[@]}"
fi

IMGDIR=$(ls -d "$CACHE"/linux-image-*/ 2>/dev/null | head -n1)
if [ -z "$IMGDIR" ] || [ ! -f "$IMGDIR/.complete" ]; then
	echo "nfsd-vm: no cached Debian kernel image; fetching it through the vm lane"
	"$VM/run.sh" --no-probe --cmd true >/dev/null 2>&1 || true
	IMGDIR=$(ls -d "$CACHE"/linux-image-*/ 2>/dev/null | head -n1)
fi
[ -n "$IMGDIR" ] && [ -f "$IMGDIR/.complete" ] || { echo "nfsd-vm: no kernel image"; exit 1; }
IMGDIR=${IMGDIR%/}
KABI=$(ls "$IMGDIR/lib/modules")
KERNEL=$IMGDIR/vmlinux-pvh
[ -s "$KERNEL" ] || KERNEL=$IMGDIR/boot/vmlinuz-$KABI
echo "nfsd-vm: kernel $KABI ($KERNEL)"

# ---- the Debian root filesystem, cached by its package list and kernel
. tests/vm/rootimg.sh
debian_root_image nfsd-vm

# ---- this run: a GFS2 image and the initramfs (busybox, disk modules, our payload)
rm -rf "$WORK"
mkdir -p "$WORK/initrd"/{bin,dev,proc,sys,newroot,modules,payload}
truncate -s 128M "$WORK/gfs2.img"
mkfs.gfs2 -O -p lock_nolock -j 1 -J 8 -t vmnfs:fs0 "$WORK/gfs2.img" >/dev/null
# A second one for lock_dlm (a one-node corosync cluster and dlm_controld in the guest):
# its withdraw waits for userland's acknowledgement.
truncate -s 64M "$WORK/gfs2dlm.img"
mkfs.gfs2 -O -p lock_dlm -j 1 -J 8 -t vmclus:fs1 "$WORK/gfs2dlm.img" >/dev/null
R=$WORK/initrd
cp /bin/busybox "$R/bin/busybox"
for a in sh mount umount mkdir insmod switch_root cp echo cat sleep; do ln -s busybox "$R/bin/$a"; done
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk \
	crc16 mbcache jbd2 crc32c_generic ext4; do
	ko=$(find "$IMGDIR/lib/modules/$KABI/kernel" -name "$m.ko" -print -quit)
	[ -n "$ko" ] || { echo "nfsd-vm: no $m.ko"; exit 1; }
	cp "$ko" "$R/modules/"
	echo "$m" >>"$R/modules/order"
done
grep -q PNFS_TEST_CLD_UNANSWERED "$dbin/pnfs_controld" || {
	echo "nfsd-vm: $dbin/pnfs_controld has no test hook: build it with --features fuzzing"
	exit 1
}
for b in "$dbin/pnfs_controld" "$dbin/pnfsctl"; do
	cp "$b" "$R/payload/"
	# Their shared libraries the guest may not have (libcorosync's, for a corosync build).
	ldd "$b" | awk '$3 ~ /^\// {print $3}' | while read -r lib; do
		mkdir -p "$R/payload/lib"
		cp -L "$lib" "$R/payload/lib/"
	done
done
cp tests/vm/nfsd-guest.sh "$R/payload/guest.sh"
cat >"$R/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules/order); do insmod /modules/$m.ko 2>/dev/null; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
mount -t ext4 /dev/vda /newroot || { echo "FAIL boot: cannot mount the root image"; echo o >/proc/sysrq-trigger; }
mkdir -p /newroot/opt/pnfs
cp -a /payload/. /newroot/opt/pnfs/
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /bin/bash /opt/pnfs/guest.sh
INIT
chmod 755 "$R/init"
(cd "$R" && find . | sort | busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$WORK/initrd.gz"

# ---- boot
SERIAL=$WORK/serial.log
echo "nfsd-vm: booting (TCG unless KVM works; timeout ${TIMEOUT}s)"
accel=(-accel tcg -cpu max)
if grep -qwE 'vmx|svm' /proc/cpuinfo && (exec 3<>/dev/kvm) 2>/dev/null; then accel=(-accel kvm -cpu host); fi
t0=$SECONDS
set +e
timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 "${accel[@]}" -m 1024 -smp 2 \
	-nodefaults -display none -no-reboot -net none -serial "file:$SERIAL" \
	-drive "file=$ROOTIMG,format=raw,if=virtio,snapshot=on" \
	-drive "file=$WORK/gfs2.img,format=raw,if=virtio" \
	-drive "file=$WORK/gfs2dlm.img,format=raw,if=virtio" \
	-kernel "$KERNEL" -initrd "$WORK/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet" </dev/null >"$WORK/qemu.out" 2>&1
qrc=$?
set -e
echo "nfsd-vm: qemu exit $qrc after $((SECONDS - t0)) s"
tr -d '\r' <"$SERIAL" >"$WORK/serial.txt"
sed -n '/NFSD-VM-BEGIN/,/NFSD-VM-END/p' "$WORK/serial.txt"
passed=$(grep -a -c '^PASS ' "$WORK/serial.txt" || true)
failed=$(grep -a -c '^FAIL ' "$WORK/serial.txt" || true)
if ! grep -a -q 'NFSD-VM-END' "$WORK/serial.txt"; then
	echo "nfsd-vm: the guest did not finish (qemu exit $qrc); serial log tail:"
	tail -40 "$WORK/serial.txt"
	failed=$((failed + 1))
fi
FINISHED=1
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
