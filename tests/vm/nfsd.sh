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

TAG=nfsd-vm
. tests/vm/vmhost.sh
vm_host_packages
vm_kernel_image

# ---- the Debian root filesystem, cached by its package list and kernel
. tests/vm/rootimg.sh
debian_root_image nfsd-vm

# ---- this run: GFS2 images and the initramfs (busybox, disk modules, our payload)
rm -rf "$WORK"
mkdir -p "$WORK"
vm_gfs2_image "$WORK/gfs2.img" 128 lock_nolock vmnfs:fs0
# A second one for lock_dlm (a one-node corosync cluster and dlm_controld in the guest):
# its withdraw waits for userland's acknowledgement.
vm_gfs2_image "$WORK/gfs2dlm.img" 64 lock_dlm vmclus:fs1
grep -q PNFS_TEST_CLD_UNANSWERED "$dbin/pnfs_controld" || {
	echo "nfsd-vm: $dbin/pnfs_controld has no test hook: build it with --features fuzzing"
	exit 1
}
vm_initrd_begin
vm_payload_bins "$dbin/pnfs_controld" "$dbin/pnfsctl"
cp tests/vm/nfsd-guest.sh "$VM_R/payload/guest.sh"
vm_initrd_pack /bin/bash /opt/pnfs/guest.sh

# ---- boot
SERIAL=$WORK/serial.log
echo "nfsd-vm: booting (TCG unless KVM works; timeout ${TIMEOUT}s)"
vm_accel
t0=$SECONDS
set +e
timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 "${VM_ACCEL[@]}" -m 1024 -smp 2 \
	-nodefaults -display none -no-reboot -net none -serial "file:$SERIAL" \
	-drive "file=$ROOTIMG,format=raw,if=virtio,snapshot=on" \
	-drive "file=$WORK/gfs2.img,format=raw,if=virtio" \
	-drive "file=$WORK/gfs2dlm.img,format=raw,if=virtio" \
	-kernel "$KERNEL" -initrd "$WORK/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet" </dev/null >"$WORK/qemu.out" 2>&1
QRC=$?
set -e
echo "nfsd-vm: qemu exit $QRC after $((SECONDS - t0)) s"
tr -d '\r' <"$SERIAL" >"$WORK/serial.txt"
vm_verdict NFSD-VM-BEGIN NFSD-VM-END
FINISHED=1
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ] && [ "$PASSED" -gt 0 ]
