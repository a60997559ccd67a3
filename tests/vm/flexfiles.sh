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
# I/O through the MDS, and after its restart layouts come back; 200 files written and
# closed, then the unmount -> nfsd frees their layout stateids (the layout_free hook), the
# kernel half's table forgets them and the daemon hears layout-return.
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

TAG=ff-vm
. tests/vm/ffhost.sh
ff_host_prepare
ff_host_initrd tests/vm/flexfiles-guest.sh
ff_host_boot
vm_verdict FF-VM-BEGIN FF-VM-END
FINISHED=1
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ] && [ "$PASSED" -gt 0 ]
