# Sourced by tests/vm/flexfiles.sh (the `flexfiles` tier), benches/flexfiles.sh (its
# benchmark) and tests/vm/cluster.sh (the `vmcluster` tier): the host side of a flexfiles guest, one qemu boot of Debian's 6.1 kernel with
# nfsd.ko built with the flexfile hooks, pnfs_shim.ko + pnfs_shim_ff.ko, pnfs_controld and
# pnfsctl, a lock_nolock GFS2 image and a guest script run as the guest's pid 1.
#
# The caller runs from the repository's root with `set -Eeuo pipefail` and sets
#   TAG      prefix of the log lines (ff-vm, ffbench)
#   CACHE    kmod-shim/vm/.cache;  VM  kmod-shim/vm
#   WORK     this run's directory under $CACHE (removed and made again)
#   TIMEOUT  seconds for qemu;  dbin  the directory of pnfs_controld and pnfsctl
#   APT      the apt-get command;  skip()  "SKIPPED: reason", exit 2
# and calls, in this order:
#   ff_host_prepare           packages, kernel image (KABI, KERNEL, IMGDIR), nfsd.ko
#                             (NFSD_KO), the modules in $WORK/module, the root image (ROOTIMG)
#   ff_host_initrd GUEST [MODULE...]
#                             $WORK/initrd.gz with GUEST as guest.sh, MODULEs (e.g. the
#                             NIC's) loaded after the disk's, and the files FF_PAYLOAD
#                             names in /opt/pnfs; with FF_GFS2_IMAGE=1 (default) the
#                             lock_nolock GFS2 image $WORK/gfs2.img. The guest's root is
#                             the disk with serial "root", else /dev/vda
#   ff_host_boot [APPEND]     boots; sets QRC (qemu's exit) and writes $WORK/serial.txt
#                             (FF_SMP vCPUs, default 2)

ff_host_prepare() {
	local need=() p
	for p in debootstrap gfs2-utils e2fsprogs qemu-system-x86 busybox-static; do
		[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || need+=("$p")
	done
	if [ ${#need[@]} -gt 0 ]; then
		"${APT[@]}" update -q >/dev/null || true
		"${APT[@]}" install --no-install-recommends "${need[@]}" || skip "cannot install ${need[*]}"
	fi

	IMGDIR=$(ls -d "$CACHE"/linux-image-*/ 2>/dev/null | head -n1)
	if [ -z "$IMGDIR" ] || [ ! -f "$IMGDIR/.complete" ]; then
		echo "$TAG: no cached Debian kernel image; fetching it through the vm lane"
		"$VM/run.sh" --no-probe --cmd true >/dev/null 2>&1 || true
		IMGDIR=$(ls -d "$CACHE"/linux-image-*/ 2>/dev/null | head -n1)
	fi
	[ -n "$IMGDIR" ] && [ -f "$IMGDIR/.complete" ] || skip "no Debian kernel image (the vm lane could not fetch it)"
	IMGDIR=${IMGDIR%/}
	KABI=$(ls "$IMGDIR/lib/modules")
	KERNEL=$IMGDIR/vmlinux-pvh
	[ -s "$KERNEL" ] || KERNEL=$IMGDIR/boot/vmlinuz-$KABI
	echo "$TAG: kernel $KABI ($KERNEL)"

	# ---- nfsd.ko with the flexfile hooks, then pnfs_shim.ko + pnfs_shim_ff.ko against it
	local out brc
	set +e
	out=$(bash kmod-shim/nfsd/build.sh "$KABI" 2>&1)
	brc=$?
	set -e
	echo "$out"
	NFSD_KO=$(tail -n1 <<<"$out")
	if [ "$brc" = 2 ]; then skip "${NFSD_KO#SKIPPED: }"; fi
	[ "$brc" = 0 ] && [ -f "$NFSD_KO" ] || { echo "$TAG: nfsd build failed"; exit 1; }
	NFSD_DIR=$(dirname "$NFSD_KO")
	rm -rf "$WORK"
	mkdir -p "$WORK/module"
	tar -C kmod-shim/module -cf - --exclude='*.o' --exclude='*.ko' --exclude='*.mod' \
		--exclude='*.mod.c' --exclude='.*.cmd' --exclude='Module.symvers' \
		--exclude='modules.order' . | tar -C "$WORK/module" -xf -
	nice make -C "/usr/src/linux-headers-$KABI" M="$WORK/module" NFSD_FF_DIR="$NFSD_DIR" -j"$(nproc)" \
		modules >"$WORK/module-build.log" 2>&1 || { cat "$WORK/module-build.log"; echo "$TAG: module build failed"; exit 1; }
	if grep -i 'warning:' "$WORK/module-build.log" | grep -v 'Skipping BTF'; then
		echo "$TAG: module build warnings"
		exit 1
	fi
	local k
	for k in pnfs_shim pnfs_shim_ff; do
		[ -f "$WORK/module/$k.ko" ] || { echo "$TAG: no $k.ko"; exit 1; }
	done
	echo "$TAG: built nfsd.ko, pnfs_shim.ko, pnfs_shim_ff.ko ($((SECONDS - T0)) s so far)"

	# ---- the Debian root filesystem: the real-nfsd lane's (tests/vm/nfsd.sh), same key and cache
	. tests/vm/rootimg.sh
	debian_root_image "$TAG"
}

ff_host_initrd() {
	local guest=$1 a m ko b
	shift
	# ---- this run: a GFS2 image and the initramfs (busybox, disk modules, our payload)
	mkdir -p "$WORK/initrd"/{bin,dev,proc,sys,newroot,modules,payload}
	if [ "${FF_GFS2_IMAGE:-1}" = 1 ]; then
		truncate -s 128M "$WORK/gfs2.img"
		mkfs.gfs2 -O -p lock_nolock -j 1 -J 8 -t vmff:fs0 "$WORK/gfs2.img" >/dev/null
	fi
	local R=$WORK/initrd
	cp /bin/busybox "$R/bin/busybox"
	cp /bin/busybox "$R/payload/busybox"
	for a in sh mount umount mkdir insmod switch_root cp echo cat sleep; do ln -s busybox "$R/bin/$a"; done
	for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk \
		crc16 mbcache jbd2 crc32c_generic ext4 "$@"; do
		ko=$(find "$IMGDIR/lib/modules/$KABI/kernel" -name "$m.ko" -print -quit)
		[ -n "$ko" ] || { echo "$TAG: no $m.ko"; exit 1; }
		cp "$ko" "$R/modules/"
		echo "$m" >>"$R/modules/order"
	done
	for b in "$dbin/pnfs_controld" "$dbin/pnfsctl"; do
		[ -x "$b" ] || { echo "$TAG: no $b (cargo build first)"; exit 1; }
		cp "$b" "$R/payload/"
		ldd "$b" | awk '$3 ~ /^\// {print $3}' | while read -r lib; do
			mkdir -p "$R/payload/lib"
			cp -L "$lib" "$R/payload/lib/"
		done
	done
	cp "$NFSD_KO" "$WORK/module/pnfs_shim.ko" "$WORK/module/pnfs_shim_ff.ko" "$R/payload/"
	for b in ${FF_PAYLOAD:-}; do cp "$b" "$R/payload/"; done
	cp "$guest" "$R/payload/guest.sh"
	cat >"$R/init" <<'INIT'
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
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /bin/bash /opt/pnfs/guest.sh
INIT
	chmod 755 "$R/init"
	(cd "$R" && find . | sort | busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$WORK/initrd.gz"
	rm -rf "$R"
}

ff_host_boot() {
	local extra=${1:-}
	SERIAL=$WORK/serial.log
	echo "$TAG: booting (TCG unless KVM works; timeout ${TIMEOUT}s)"
	ACCEL=tcg
	local accel=(-accel tcg -cpu max)
	if grep -qwE 'vmx|svm' /proc/cpuinfo && (exec 3<>/dev/kvm) 2>/dev/null; then
		accel=(-accel kvm -cpu host)
		ACCEL=kvm
	fi
	local t0=$SECONDS
	set +e
	timeout --kill-after=10 "$TIMEOUT" nice qemu-system-x86_64 "${accel[@]}" -m 1024 -smp "${FF_SMP:-2}" \
		-nodefaults -display none -no-reboot -net none -serial "file:$SERIAL" \
		-drive "file=$ROOTIMG,format=raw,if=virtio,snapshot=on" \
		-drive "file=$WORK/gfs2.img,format=raw,if=virtio" \
		-kernel "$KERNEL" -initrd "$WORK/initrd.gz" \
		-append "console=ttyS0 panic=-1 quiet${extra:+ $extra}" </dev/null >"$WORK/qemu.out" 2>&1
	QRC=$?
	set -e
	echo "$TAG: qemu exit $QRC after $((SECONDS - t0)) s (total $((SECONDS - T0)) s)"
	tr -d '\r' <"$SERIAL" >"$WORK/serial.txt"
}
