#!/usr/bin/env bash
# The VM tier: the real module in Debian's 6.1 kernel under qemu, tested by the module's
# smoke test and, when it builds, the conformance suite (static) against NETLINK_GENERIC.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/vm
# The smoke test needs gcc and static libc (build-essential); run.sh installs the rest.
command -v gcc >/dev/null || apt-get install -y -q -o DPkg::Lock::Timeout=120 build-essential
gcc -static -O2 -Wall -I kmod-shim/module -o target/vm/smoke kmod-shim/module/tests/smoke.c
args=(--no-probe --test-bin target/vm/smoke)
cmd="smoke"
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
  cmd="smoke; pnfs-conformance --proto generic"
fi
exec kmod-shim/vm/run.sh "${args[@]}" --cmd "$cmd"
