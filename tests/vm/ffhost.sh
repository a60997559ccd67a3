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
# The parts every Debian-guest lane shares (packages, kernel image, initramfs, accelerator,
# verdict) are tests/vm/vmhost.sh's; the guest scripts source tests/vm/guestlib.sh.

# A missing package or kernel image: the lane SKIPPED (as before vmhost.sh).
VM_MISSING=skip
. tests/vm/vmhost.sh

ff_host_prepare() {
	vm_host_packages
	vm_kernel_image

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
	local guest=$1 b
	shift
	# ---- this run: a GFS2 image and the initramfs (busybox, disk modules, our payload)
	if [ "${FF_GFS2_IMAGE:-1}" = 1 ]; then vm_gfs2_image "$WORK/gfs2.img" 128 lock_nolock vmff:fs0; fi
	vm_initrd_begin "$@"
	cp /bin/busybox "$VM_R/payload/busybox"
	vm_payload_bins "$dbin/pnfs_controld" "$dbin/pnfsctl"
	cp "$NFSD_KO" "$WORK/module/pnfs_shim.ko" "$WORK/module/pnfs_shim_ff.ko" "$VM_R/payload/"
	for b in ${FF_PAYLOAD:-}; do cp "$b" "$VM_R/payload/"; done
	cp "$guest" "$VM_R/payload/guest.sh"
	vm_initrd_pack /bin/bash /opt/pnfs/guest.sh
}

ff_host_boot() {
	local extra=${1:-}
	SERIAL=$WORK/serial.log
	echo "$TAG: booting (TCG unless KVM works; timeout ${TIMEOUT}s)"
	vm_accel
	local t0=$SECONDS
	set +e
	timeout --kill-after=10 "$TIMEOUT" nice qemu-system-x86_64 "${VM_ACCEL[@]}" -m 1024 -smp "${FF_SMP:-2}" \
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
