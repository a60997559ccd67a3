# Sourced by the host sides of the Debian-guest VM lanes (tests/vm/nfsd.sh, packages.sh,
# ffhost.sh for flexfiles, ffbench and vmcluster): the parts every such lane does the same
# way. The caller runs from the repository's root with `set -Eeuo pipefail` and sets
#   TAG    prefix of its log lines;  CACHE  kmod-shim/vm/.cache;  VM  kmod-shim/vm
#   WORK   this run's directory;  APT  the apt-get command
# and sets VM_MISSING=skip when a missing piece (packages, kernel image) is to end the lane
# SKIPPED through its skip() (exit 2); otherwise that is a failure (exit 1).
#
#   vm_host_packages        debootstrap, gfs2-utils, e2fsprogs, qemu, busybox-static
#   vm_kernel_image         IMGDIR, KABI, KERNEL: Debian's kernel image the vm lane caches
#                           (fetched through it the first time)
#   vm_gfs2_image FILE MB PROTO TABLE
#                           a one-journal GFS2 image (lock_nolock or lock_dlm)
#   vm_initrd_begin [MODULE...]
#                           $WORK/initrd (VM_R): busybox, the modules for a virtio disk
#                           with ext4 and the MODULEs, loaded in that order; payload/ is
#                           copied to the guest's /opt/pnfs, with guestlib.sh in it
#   vm_payload_bins BIN...  the binaries and the shared libraries the guest may lack
#   vm_initrd_pack EXEC...  writes the init (root: the disk with serial "root", else
#                           /dev/vda when it has none; VM_INIT_EXTRA: shell lines run with
#                           the root at /newroot before switch_root) and $WORK/initrd.gz
#   vm_accel [TCG_OPTS]     VM_ACCEL (qemu's -accel/-cpu arguments) and ACCEL (kvm or tcg)
#   vm_verdict BEGIN END    the guest's lines between its markers from $WORK/serial.txt;
#                           PASSED and FAILED counted (the END marker missing is a failure)

vm_missing() {
	if [ "${VM_MISSING:-fail}" = skip ]; then skip "$1"; fi
	echo "$TAG: $1"
	exit 1
}

vm_host_packages() {
	local need=() p
	for p in debootstrap gfs2-utils e2fsprogs qemu-system-x86 busybox-static; do
		[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || need+=("$p")
	done
	if [ ${#need[@]} -gt 0 ]; then
		"${APT[@]}" update -q >/dev/null || true
		"${APT[@]}" install --no-install-recommends "${need[@]}" >/dev/null ||
			vm_missing "cannot install ${need[*]}"
	fi
}

vm_kernel_image() {
	IMGDIR=$(ls -d "$CACHE"/linux-image-*/ 2>/dev/null | head -n1)
	if [ -z "$IMGDIR" ] || [ ! -f "$IMGDIR/.complete" ]; then
		echo "$TAG: no cached Debian kernel image; fetching it through the vm lane"
		"$VM/run.sh" --no-probe --cmd true >/dev/null 2>&1 || true
		IMGDIR=$(ls -d "$CACHE"/linux-image-*/ 2>/dev/null | head -n1)
	fi
	[ -n "$IMGDIR" ] && [ -f "$IMGDIR/.complete" ] || vm_missing "no Debian kernel image (the vm lane could not fetch it)"
	IMGDIR=${IMGDIR%/}
	KABI=$(ls "$IMGDIR/lib/modules")
	KERNEL=$IMGDIR/vmlinux-pvh
	[ -s "$KERNEL" ] || KERNEL=$IMGDIR/boot/vmlinuz-$KABI
	echo "$TAG: kernel $KABI ($KERNEL)"
}

vm_gfs2_image() {
	truncate -s "$2M" "$1"
	mkfs.gfs2 -O -p "$3" -j 1 -J 8 -t "$4" "$1" >/dev/null
}

vm_initrd_begin() {
	local a m ko
	VM_R=$WORK/initrd
	rm -rf "$VM_R"
	mkdir -p "$VM_R"/{bin,dev,proc,sys,newroot,modules,payload}
	cp /bin/busybox "$VM_R/bin/busybox"
	for a in sh mount umount mkdir ln insmod switch_root cp echo cat sleep; do ln -s busybox "$VM_R/bin/$a"; done
	for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk \
		crc16 mbcache jbd2 crc32c_generic ext4 "$@"; do
		ko=$(find "$IMGDIR/lib/modules/$KABI/kernel" -name "$m.ko" -print -quit)
		[ -n "$ko" ] || { echo "$TAG: no $m.ko"; exit 1; }
		cp "$ko" "$VM_R/modules/"
		echo "$m" >>"$VM_R/modules/order"
	done
	cp tests/vm/guestlib.sh "$VM_R/payload/"
}

vm_payload_bins() {
	local b lib
	for b in "$@"; do
		[ -x "$b" ] || { echo "$TAG: no $b (cargo build first)"; exit 1; }
		cp "$b" "$VM_R/payload/"
		ldd "$b" | awk '$3 ~ /^\// {print $3}' | while read -r lib; do
			mkdir -p "$VM_R/payload/lib"
			cp -L "$lib" "$VM_R/payload/lib/"
		done
	done
}

vm_initrd_pack() {
	cat >"$VM_R/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules/order); do insmod /modules/$m.ko 2>/dev/null; done
i=0
ROOTDEV=
while [ -z "$ROOTDEV" ] && [ $i -lt 50 ]; do
	for b in /sys/block/vd*; do [ "$(cat $b/serial 2>/dev/null)" = root ] && ROOTDEV=/dev/${b##*/}; done
	[ -n "$ROOTDEV" ] || { [ -b /dev/vda ] && [ -z "$(cat /sys/block/vda/serial 2>/dev/null)" ] && ROOTDEV=/dev/vda; }
	[ -n "$ROOTDEV" ] && [ -b "$ROOTDEV" ] || { ROOTDEV=; sleep 0.2; }
	i=$((i + 1))
done
mount -t ext4 "$ROOTDEV" /newroot || { echo "FAIL boot: cannot mount the root image"; echo o >/proc/sysrq-trigger; }
mkdir -p /newroot/opt/pnfs
cp -a /payload/. /newroot/opt/pnfs/
INIT
	{
		[ -z "${VM_INIT_EXTRA:-}" ] || printf '%s\n' "$VM_INIT_EXTRA"
		echo 'mount --move /dev /newroot/dev'
		echo 'umount /proc /sys'
		echo "exec switch_root /newroot $*"
	} >>"$VM_R/init"
	chmod 755 "$VM_R/init"
	(cd "$VM_R" && find . | sort | busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$WORK/initrd.gz"
	rm -rf "$VM_R"
}

vm_accel() {
	ACCEL=tcg
	VM_ACCEL=(-accel "tcg${1:+,$1}" -cpu max)
	if grep -qwE 'vmx|svm' /proc/cpuinfo && (exec 3<>/dev/kvm) 2>/dev/null; then
		VM_ACCEL=(-accel kvm -cpu host)
		ACCEL=kvm
	fi
}

vm_verdict() {
	sed -n "/$1/,/$2/p" "$WORK/serial.txt"
	PASSED=$(grep -a -c '^PASS ' "$WORK/serial.txt" || true)
	FAILED=$(grep -a -c '^FAIL ' "$WORK/serial.txt" || true)
	if ! grep -a -q "$2" "$WORK/serial.txt"; then
		echo "$TAG: the guest did not finish (qemu exit ${QRC:-?}); serial log tail:"
		tail -40 "$WORK/serial.txt"
		FAILED=$((FAILED + 1))
	fi
}
