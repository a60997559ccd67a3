#!/usr/bin/env bash
# The `flexfiles` tier of tests/run.sh (opt-in: TIERS=flexfiles): real nfsd hands out pNFS
# flexfile layouts for a GFS2 export, decided by pnfs_controld.  A Debian guest (Debian's
# 6.1 kernel under qemu, the real-nfsd lane's cached root image) runs nfsd.ko built with
# the flexfile hooks (kmod-shim/nfsd/build.sh), pnfs_shim.ko and the adapter
# pnfs_shim_ff.ko, pnfs_controld registered with the module (no twin) on the local engine
# with a data-server address 127.0.0.2.8.1, a lock_nolock GFS2 exported with `pnfs`, and an
# NFSv4.1 client over loopback.  The guest (tests/vm/flexfiles-guest.sh) asserts, with the
# evidence printed: no daemon -> I/O through the MDS; with the daemon -> pnfs=LAYOUT_FLEX_FILES,
# the client's LAYOUTGET/GETDEVICEINFO counts equal to the daemon's upcall counters, data
# I/O on the daemon's data server (NFSv3 counters, connections), cmp through NFS and on
# GFS2; `pnfsctl layout recall device <id>` and `all` -> CB_LAYOUTRECALL (nfsd's trace
# events), LAYOUTRETURN rises, the next I/O gets a new layout (one node: one data server);
# the daemon SIGKILLed during a copy -> no hung nfsd thread (hung-task detector at 10 s),
# I/O through the MDS, and after its restart layouts come back.
#
# Usage: bash tests/vm/flexfiles.sh   (root; fetches the vm lane's kernel image if needed)
# Env: DAEMON_BIN_DIR (default target/debug: pnfs_controld, pnfsctl), VMLANE_TIMEOUT.
# Last line: "N passed, M failed"; exit 0 all passed, 1 any failure, 2 "SKIPPED: <reason>"
# when this machine cannot run it (not root, no packages, no linux-source for the ABI).
set -Eeuo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")/../.."
ROOT=$PWD
VM=$ROOT/kmod-shim/vm
CACHE=$VM/.cache
WORK=$CACHE/work-flexfiles
TIMEOUT=${VMLANE_TIMEOUT:-900}
dbin=${DAEMON_BIN_DIR:-target/debug}
APT=(apt-get -y -q -o DPkg::Lock::Timeout=120)
FINISHED=0
T0=$SECONDS
trap '[ $FINISHED = 1 ] || echo "0 passed, 1 failed"' EXIT
skip() { FINISHED=1; echo "SKIPPED: $*"; exit 2; }
[ "$(id -u)" = 0 ] || skip "needs root (apt-get, qemu image setup, mkfs.gfs2)"

need=()
for p in debootstrap gfs2-utils e2fsprogs qemu-system-x86 busybox-static; do
	[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	"${APT[@]}" update -q >/dev/null || true
	"${APT[@]}" install --no-install-recommends "${need[@]}" || skip "cannot install ${need[*]}"
fi

IMGDIR=$(ls -d "$CACHE"/linux-image-*/ 2>/dev/null | head -n1)
if [ -z "$IMGDIR" ] || [ ! -f "$IMGDIR/.complete" ]; then
	echo "ff-vm: no cached Debian kernel image; fetching it through the vm lane"
	"$VM/run.sh" --no-probe --cmd true >/dev/null 2>&1 || true
	IMGDIR=$(ls -d "$CACHE"/linux-image-*/ 2>/dev/null | head -n1)
fi
[ -n "$IMGDIR" ] && [ -f "$IMGDIR/.complete" ] || skip "no Debian kernel image (the vm lane could not fetch it)"
IMGDIR=${IMGDIR%/}
KABI=$(ls "$IMGDIR/lib/modules")
KERNEL=$IMGDIR/vmlinux-pvh
[ -s "$KERNEL" ] || KERNEL=$IMGDIR/boot/vmlinuz-$KABI
echo "ff-vm: kernel $KABI ($KERNEL)"

# ---- nfsd.ko with the flexfile hooks, then pnfs_shim.ko + pnfs_shim_ff.ko against it
set +e
out=$(bash kmod-shim/nfsd/build.sh "$KABI" 2>&1)
brc=$?
set -e
echo "$out"
NFSD_KO=$(tail -n1 <<<"$out")
if [ "$brc" = 2 ]; then skip "${NFSD_KO#SKIPPED: }"; fi
[ "$brc" = 0 ] && [ -f "$NFSD_KO" ] || { echo "ff-vm: nfsd build failed"; exit 1; }
NFSD_DIR=$(dirname "$NFSD_KO")
rm -rf "$WORK"
mkdir -p "$WORK/module"
tar -C kmod-shim/module -cf - --exclude='*.o' --exclude='*.ko' --exclude='*.mod' \
	--exclude='*.mod.c' --exclude='.*.cmd' --exclude='Module.symvers' \
	--exclude='modules.order' . | tar -C "$WORK/module" -xf -
nice make -C "/usr/src/linux-headers-$KABI" M="$WORK/module" NFSD_FF_DIR="$NFSD_DIR" -j"$(nproc)" \
	modules >"$WORK/module-build.log" 2>&1 || { cat "$WORK/module-build.log"; echo "ff-vm: module build failed"; exit 1; }
if grep -i 'warning:' "$WORK/module-build.log" | grep -v 'Skipping BTF'; then
	echo "ff-vm: module build warnings"
	exit 1
fi
for k in pnfs_shim pnfs_shim_ff; do
	[ -f "$WORK/module/$k.ko" ] || { echo "ff-vm: no $k.ko"; exit 1; }
done
echo "ff-vm: built nfsd.ko, pnfs_shim.ko, pnfs_shim_ff.ko ($((SECONDS - T0)) s so far)"

# ---- the Debian root filesystem: the real-nfsd lane's (tests/vm/nfsd.sh), same key and cache
. tests/vm/rootimg.sh
debian_root_image ff-vm

# ---- this run: a GFS2 image and the initramfs (busybox, disk modules, our payload)
mkdir -p "$WORK/initrd"/{bin,dev,proc,sys,newroot,modules,payload}
truncate -s 128M "$WORK/gfs2.img"
mkfs.gfs2 -O -p lock_nolock -j 1 -J 8 -t vmff:fs0 "$WORK/gfs2.img" >/dev/null
R=$WORK/initrd
cp /bin/busybox "$R/bin/busybox"
for a in sh mount umount mkdir insmod switch_root cp echo cat sleep; do ln -s busybox "$R/bin/$a"; done
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk \
	crc16 mbcache jbd2 crc32c_generic ext4; do
	ko=$(find "$IMGDIR/lib/modules/$KABI/kernel" -name "$m.ko" -print -quit)
	[ -n "$ko" ] || { echo "ff-vm: no $m.ko"; exit 1; }
	cp "$ko" "$R/modules/"
	echo "$m" >>"$R/modules/order"
done
for b in "$dbin/pnfs_controld" "$dbin/pnfsctl"; do
	[ -x "$b" ] || { echo "ff-vm: no $b (cargo build first)"; exit 1; }
	cp "$b" "$R/payload/"
	ldd "$b" | awk '$3 ~ /^\// {print $3}' | while read -r lib; do
		mkdir -p "$R/payload/lib"
		cp -L "$lib" "$R/payload/lib/"
	done
done
cp "$NFSD_KO" "$WORK/module/pnfs_shim.ko" "$WORK/module/pnfs_shim_ff.ko" "$R/payload/"
cp tests/vm/flexfiles-guest.sh "$R/payload/guest.sh"
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
echo "ff-vm: booting (TCG unless KVM works; timeout ${TIMEOUT}s)"
accel=(-accel tcg -cpu max)
if grep -qwE 'vmx|svm' /proc/cpuinfo && (exec 3<>/dev/kvm) 2>/dev/null; then accel=(-accel kvm -cpu host); fi
t0=$SECONDS
set +e
timeout --kill-after=10 "$TIMEOUT" nice qemu-system-x86_64 "${accel[@]}" -m 1024 -smp 2 \
	-nodefaults -display none -no-reboot -net none -serial "file:$SERIAL" \
	-drive "file=$ROOTIMG,format=raw,if=virtio,snapshot=on" \
	-drive "file=$WORK/gfs2.img,format=raw,if=virtio" \
	-kernel "$KERNEL" -initrd "$WORK/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet" </dev/null >"$WORK/qemu.out" 2>&1
qrc=$?
set -e
echo "ff-vm: qemu exit $qrc after $((SECONDS - t0)) s (total $((SECONDS - T0)) s)"
tr -d '\r' <"$SERIAL" >"$WORK/serial.txt"
sed -n '/FF-VM-BEGIN/,/FF-VM-END/p' "$WORK/serial.txt"
passed=$(grep -a -c '^PASS ' "$WORK/serial.txt" || true)
failed=$(grep -a -c '^FAIL ' "$WORK/serial.txt" || true)
if ! grep -a -q 'FF-VM-END' "$WORK/serial.txt"; then
	echo "ff-vm: the guest did not finish (qemu exit $qrc); serial log tail:"
	tail -40 "$WORK/serial.txt"
	failed=$((failed + 1))
fi
FINISHED=1
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
