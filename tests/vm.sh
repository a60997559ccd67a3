#!/usr/bin/env bash
# The VM tier: the real module in Debian's 6.1 kernel under qemu, tested by the module's
# smoke test, the conformance suite against NETLINK_GENERIC, pnfs_controld with a real
# GFS2 filesystem (its uevents, a withdraw), a port thief (tests/vm/porttheft.c), and
# pnfs_controld across a reload of the module (tests/vm/restart.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/vm
# The smoke test needs gcc and static libc (build-essential); run.sh installs the rest.
command -v gcc >/dev/null || apt-get install -y -q -o DPkg::Lock::Timeout=120 build-essential
gcc -static -O2 -Wall -I kmod-shim/module -o target/vm/smoke kmod-shim/module/tests/smoke.c
# A dead daemon's port taken over before its NETLINK_URELEASE (tests/vm/porttheft.c).
gcc -static -O2 -Wall -Wextra -I kmod-shim/module -o target/vm/porttheft tests/vm/porttheft.c
args=(--no-probe --test-bin target/vm/smoke --test-bin target/vm/porttheft)
cmd="smoke"
# A client on a library this project did not write: libmnl (Debian's libmnl-dev has no
# static archive, so it goes in dynamically linked, with libmnl.so.0), run against the
# module as against the twin in the unit tier (tests/interop.rs).
if [ ! -e /usr/include/libmnl/libmnl.h ]; then
  apt-get install -y -q -o DPkg::Lock::Timeout=120 libmnl-dev
fi
gcc -O2 -Wall -Wextra -I kmod-shim/module/uapi -o target/vm/mnl_client \
  tests/interop/mnl_client.c -lmnl
args+=(--test-bin target/vm/mnl_client)
cmd="$cmd; mnl_client --proto generic"
if [ -d tests/conformance ]; then
  # tests/run.sh passes the binary its shared build just made (CONFORMANCE_BIN); run
  # alone, this builds it. Dynamically linked: run.sh puts its loader and libraries into
  # the guest.
  bin=${CONFORMANCE_BIN:-}
  if [ -z "$bin" ]; then
    cargo build -q -p pnfs-conformance
    bin=target/debug/pnfs-conformance
  fi
  args+=(--test-bin "$bin")
  cmd="$cmd; pnfs-conformance --proto generic"
fi

# The daemon as GFS2's companion, against a real GFS2 (tests/vm/gfs2.sh): the debug
# pnfs_controld and pnfsctl (tests/run.sh's build; run alone, this builds them), the
# image's gfs2 module and its dependencies, and a small lock_nolock filesystem made here.
command -v mkfs.gfs2 >/dev/null || apt-get install -y -q -o DPkg::Lock::Timeout=120 gfs2-utils
dbin=${DAEMON_BIN_DIR:-}
if [ -z "$dbin" ]; then
  cargo build -q --bin pnfs_controld --bin pnfsctl
  dbin=target/debug
fi
rm -f target/vm/gfs2.img
truncate -s 48M target/vm/gfs2.img
mkfs.gfs2 -O -p lock_nolock -j 1 -J 8 -t vmlane:fs0 target/vm/gfs2.img >/dev/null
args+=(--test-bin "$dbin/pnfs_controld" --test-bin "$dbin/pnfsctl"
  --file target/vm/gfs2.img:/gfs2.img --file tests/vm/gfs2.sh:/etc/gfs2-test.sh
  --file tests/vm/restart.sh:/etc/restart-test.sh)
for m in loop configfs dlm crc32c_generic libcrc32c gfs2; do args+=(--kmod "$m"); done
# Then, with no daemon registered: the port theft (porttheft); the daemon across
# `rmmod; insmod` of the module and a TRIGGER whose requester goes away (restart.sh).
cmd="$cmd; sh /etc/gfs2-test.sh; porttheft; sh /etc/restart-test.sh"
exec kmod-shim/vm/run.sh "${args[@]}" --cmd "$cmd"
