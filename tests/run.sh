#!/usr/bin/env bash
# The test command of the README: every tier, each reported PASS, FAIL or SKIPPED (with
# the reason). Exits non-zero if any tier failed. Tiers that need root or packages say so
# loudly instead of pretending to pass.
#
#   bash tests/run.sh            all tiers
#   TIERS="unit cluster" bash tests/run.sh   a subset (lint unit ynl differential cluster faults soak vm fuzz nfsd flexfiles vmcluster packages)
#   RUN_DEADLINE=$(( $(date +%s) + 3600 )) bash tests/run.sh   finish within the hour
#
# Tiers run in the order above. This machine's speed varies a lot from run to run: on a
# quiet day every tier together takes ~20 min (lint + unit ~2 min from cold); CI once
# spent 45 min on lint + unit alone. So with RUN_DEADLINE set (.ci/run sets it from CI's
# 90 minutes) a tier that cannot start in the time left, or that the deadline cuts off, is
# reported SKIPPED with the reason: no verdict, never a pass. The order puts what most
# issues rest on first.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
TIERS=${TIERS:-"lint unit ynl differential cluster faults soak vm fuzz nfsd flexfiles vmcluster packages"}
# `soak` runs tests/cluster_faults.rs soak_random_faults this long after the cluster is
# up (~5 min in all), then checks every upcall. `nfsd` is the real-nfsd VM lane: 1-6 min
# with its Debian image cached, 4-13 min without (quiet or busy machine).
SOAK_SECONDS=${SOAK_SECONDS:-240}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
declare -a RESULTS=()
failed=0

tier_start=$SECONDS
# Each tier's banner carries the wall clock and the time since the start, so a log cut
# short (a CI time limit) still shows where the time went.
note() { printf '\n===== %s  [%s, +%ss] =====\n' "$*" "$(date -u +%H:%M:%S)" "$SECONDS"; tier_start=$SECONDS; }
record() {
  RESULTS+=("$(printf '%-8s %-7s %5ss  %s' "$1" "$2" "$((SECONDS - tier_start))" "${3:-}")")
  [ "$2" = FAIL ] && failed=1
  return 0
}
want() { [[ " $TIERS " == *" $1 "* ]]; }
# Seconds left before RUN_DEADLINE (a large number without one).
left() { if [ -n "${RUN_DEADLINE:-}" ]; then echo $((RUN_DEADLINE - $(date +%s))); else echo 1000000; fi; }
# fits TIER SECONDS: true if the tier's usual need fits in the time left, else SKIPPED.
fits() {
  local l
  l=$(left)
  [ "$l" -ge "$2" ] && return 0
  tier_start=$SECONDS
  record "$1" SKIPPED "not started: ${l}s of the run's time budget left, it needs ~${2}s"
  return 1
}
# bounded COMMAND...: runs it with a timeout at the deadline (less a minute for the
# summary); coreutils' timeout signals the command's whole process group (qemu,
# corosync, daemons), TERM and then KILL. Status 124 or 137 means the deadline cut it off.
# Without a deadline it just runs the command (in the terminal's process group, so
# Ctrl-C reaches it).
bounded() {
  if [ -z "${RUN_DEADLINE:-}" ]; then "$@"; else timeout -k 20 "$(( $(left) - 60 ))" "$@"; fi
}
# cut_off TIER STATUS: if STATUS says the deadline cut the tier off, record that.
cut_off() {
  case $2 in 124|137)
    record "$1" SKIPPED "cut off by the run's time budget after $((SECONDS - tier_start))s: no verdict"
    return 0 ;;
  esac
  return 1
}
is_root() { [ "$(id -u)" = 0 ]; }

# One feature set and one package selection (--workspace, tests included) for every cargo
# command below, so that no tier rebuilds what an earlier one built (cargo unifies
# features over the selected packages and targets: a narrower command recompiles).
# Feature `fuzzing` adds the daemon's handler harness (daemon::harness), which the
# stateful fuzz target and the unit tests of hostile cluster messages use.
FEAT=(--features fuzzing)
have_corosync() { command -v corosync >/dev/null && [ -e /usr/include/corosync/cpg.h ]; }
have_corosync && FEAT=(--features corosync,fuzzing)
CARGO_SEL=(--workspace "${FEAT[@]}")
# Every test target, binary and example of that selection: what the cluster suites start
# (pnfs_controld, pnfsctl, pnfs-twin, cpg_probe) and the VM tier's conformance binary.
# A no-op after the unit tier.
build_all() { cargo test "${CARGO_SEL[@]}" --no-run -q; }

if want lint && fits lint 120; then
  note "lint: cargo fmt --check, clippy -D warnings, cargo doc"
  # The codec bench's baselines (feature pnfs-netlink/compare) are linted too.
  bounded cargo fmt --all -- --check && \
    bounded cargo clippy "${CARGO_SEL[@]}" --features pnfs-netlink/compare --all-targets -- -D warnings && \
    RUSTDOCFLAGS="-D warnings" bounded cargo doc "${CARGO_SEL[@]}" --features pnfs-netlink/compare --no-deps -q
  rc=$?
  if [ $rc = 0 ]; then
    record lint PASS
  elif ! cut_off lint $rc; then
    record lint FAIL "formatting, clippy or rustdoc"
  fi
fi

if want unit && fits unit 300; then
  note "unit + integration (codec fixtures, round trips, bad input, host nlctrl vs genl, twin conformance, daemon on the local engine)"
  if ! is_root; then
    echo "SKIPPED parts: not root — network-namespace tests skip themselves and say so" >&2
  fi
  # The cluster suites are #[ignore]d here: the cluster and faults tiers run them.
  # --no-fail-fast: one failing test binary does not hide the others.
  bounded cargo test "${CARGO_SEL[@]}" --no-fail-fast 2>&1 | tee target/unit.log
  rc=$?
  if [ $rc = 0 ]; then
    if grep -q "SKIPPED" target/unit.log; then
      record unit PASS "(some tests SKIPPED: see target/unit.log)"
    else
      record unit PASS
    fi
  elif ! cut_off unit $rc; then
    record unit FAIL "see target/unit.log"
  fi
fi

if want ynl && fits ynl 120; then
  note "ynl: the kernel's own YNL generator (linux-source-6.12) on both specs, compared with ours"
  bounded bash tests/ynl/run.sh 2>&1 | tee target/ynl.log
  rc=${PIPESTATUS[0]}
  case $rc in
    0) record ynl PASS "$(grep -E '^[0-9]+ differences?$' target/ynl.log | tail -n1)" ;;
    2) record ynl SKIPPED "$(grep -m1 'SKIPPED' target/ynl.log)" ;;
    *) cut_off ynl $rc || record ynl FAIL "see target/ynl.log" ;;
  esac
fi

if want differential && fits differential 300; then
  note "differential: the corpus and 10,000 generated step sequences through the daemon's handlers of the baseline (the last change on purpose) and of this tree"
  bounded bash tests/differential/run.sh 2>&1 | tee target/differential.log
  rc=${PIPESTATUS[0]}
  case $rc in
    0) record differential PASS "$(grep -m1 'PASSED' target/differential.log | sed 's/^differential: PASSED: //')" ;;
    2) record differential SKIPPED "$(grep -m1 'SKIPPED' target/differential.log)" ;;
    *) cut_off differential $rc || record differential FAIL "see target/differential.log" ;;
  esac
fi

cluster_suite() { # tier, log, libtest filter args (one word-split string), test targets...
  local tier=$1 log=$2 rc
  local -a filter
  read -r -a filter <<<"$3"
  shift 3
  local tests=()
  for t in "$@"; do tests+=(--test "$t"); done
  if ! is_root; then
    record "$tier" SKIPPED "needs root for network namespaces"
    return 1
  elif ! have_corosync; then
    record "$tier" SKIPPED "corosync/libcpg not installed (apt-get install corosync libcpg-dev libcfg-dev libcmap-dev libquorum-dev libvotequorum-dev)"
    return 1
  fi
  bounded bash -c 'cargo test "$@" --no-run -q' _ "${CARGO_SEL[@]}" && \
    bounded cargo test "${CARGO_SEL[@]}" "${tests[@]}" -- --ignored --nocapture --test-threads=1 "${filter[@]}" 2>&1 | tee "$log"
  rc=$?
  [ $rc = 0 ] && return 0
  cut_off "$tier" $rc || record "$tier" FAIL "see $log"
  return 1
}

if want cluster && fits cluster 300; then
  note "cluster: real corosync, 3 nodes in network namespaces"
  cluster_suite cluster target/cluster.log "" cluster_corosync cluster_daemon && record cluster PASS
fi

if want faults && fits faults 600; then
  note "faults: the cluster fault suite (7 scenarios, 3 nodes each)"
  cluster_suite faults target/faults.log "--skip soak_" cluster_faults &&
    record faults PASS "$(grep -c '^SCENARIO .*: PASS' target/faults.log) scenarios"
fi

if want soak && fits soak $((SOAK_SECONDS + 240)); then
  note "soak: one 3-node cluster under load, a random fault every few seconds for ${SOAK_SECONDS}s"
  SOAK_SECONDS=$SOAK_SECONDS cluster_suite soak target/soak.log "soak_" cluster_faults &&
    record soak PASS "$(grep -o '^SOAK: PASS.*faults=[0-9]*' target/soak.log | grep -o 'faults=[0-9]*')"
fi

# The VM tiers put the binaries of the shared build into the guest.
vm_tier() { # tier, log, command... (exit 2 with "SKIPPED: why" = SKIPPED)
  local tier=$1 log=$2 rc
  shift 2
  if ! is_root; then
    record "$tier" SKIPPED "needs root (apt-get, qemu image setup)"
    return
  fi
  bounded bash -c 'cargo test "$@" --no-run -q' _ "${CARGO_SEL[@]}" && \
    bounded "$@" 2>&1 | tee "$log"
  rc=$?
  if [ $rc = 0 ] && tail -n 1 "$log" | grep -q ' 0 failed'; then
    record "$tier" PASS "$(tail -n 1 "$log")"
  elif [ $rc = 2 ] && grep -q '^SKIPPED' "$log"; then
    record "$tier" SKIPPED "$(grep -m1 '^SKIPPED' "$log")"
  elif ! cut_off "$tier" $rc; then
    record "$tier" FAIL "$(tail -n 1 "$log" 2>/dev/null)"
  fi
}

if want vm && fits vm 600; then
  note "vm: the C module in Debian's 6.1 kernel under qemu"
  vm_tier vm target/vm.log env CONFORMANCE_BIN=target/debug/pnfs-conformance \
    DAEMON_BIN_DIR=target/debug bash tests/vm.sh
fi

if want fuzz && fits fuzz $((8 * FUZZ_SECONDS + 300)); then
  note "fuzz: every target for ${FUZZ_SECONDS}s"
  bounded fuzz/run.sh "$FUZZ_SECONDS" > target/fuzz.log 2>&1
  rc=$?
  cat target/fuzz.log
  case $rc in
    0) record fuzz PASS "${FUZZ_SECONDS}s per target, no crash" ;;
    2) record fuzz SKIPPED "$(grep -m1 'SKIPPED' target/fuzz.log)" ;;
    *) cut_off fuzz $rc || record fuzz FAIL "crash or error: see target/fuzz.log" ;;
  esac
fi

if want nfsd && fits nfsd 900; then
  note "nfsd: real nfsd + GFS2 in a Debian guest (debootstrap, cached), pnfs_controld serving the cld pipe"
  vm_tier nfsd target/nfsd.log env DAEMON_BIN_DIR=target/debug bash tests/vm/nfsd.sh
fi

# Real nfsd handing out flexfile layouts decided by pnfs_controld (issue 23). ~2-3 min
# with the nfsd lane's image cached; exit 2 = SKIPPED.
if want flexfiles && fits flexfiles 300; then
  note "flexfiles: real nfsd (flexfile hooks) + pnfs_shim_ff + pnfs_controld, a GFS2 export with pnfs, an NFSv4.1 client"
  vm_tier flexfiles target/flexfiles.log env DAEMON_BIN_DIR=target/debug bash tests/vm/flexfiles.sh
fi

# The whole system in two guests (issue 24): corosync, dlm, a shared lock_dlm GFS2, the
# patched nfsd, the shim and pnfs_controld on the corosync engine on each; an NFSv4.1
# client on node 1 doing I/O on node 2; node 2 killed. ~2-3 min; exit 2 = SKIPPED.
if want vmcluster && fits vmcluster 400; then
  note "vmcluster: two Debian guests, corosync + dlm + lock_dlm GFS2 + patched nfsd + pnfs_controld (corosync engine); pNFS across nodes; a node's death"
  if have_corosync; then
    vm_tier vmcluster target/vmcluster.log env DAEMON_BIN_DIR=target/debug bash tests/vm/cluster.sh
  else
    record vmcluster SKIPPED "the daemon needs the corosync engine: corosync/libcpg-dev not installed on the host"
  fi
fi

# The Debian packages (issue 25), built from a clone of HEAD with dpkg-buildpackage and
# lintian, installed in a guest booted with systemd. ~3-6 min with its image and release
# build cached, ~10 min cold; exit 2 = SKIPPED.
if want packages && fits packages 900; then
  note "packages: .debs from a clone of HEAD (dpkg-buildpackage, lintian), installed with apt in a systemd guest: DKMS builds pnfs_shim.ko, the unit runs the daemon"
  vm_tier packages target/packages.log bash tests/vm/packages.sh
fi

printf '\n===== summary (%ss in all) =====\n' "$SECONDS"
for r in "${RESULTS[@]}"; do echo "$r"; done
exit $failed
