#!/usr/bin/env bash
# The test command of the README: every tier, each reported PASS, FAIL or SKIPPED (with
# the reason). Exits non-zero if any tier failed. Tiers that need root or packages say so
# loudly instead of pretending to pass.
#
#   bash tests/run.sh            all tiers
#   TIERS="unit cluster" bash tests/run.sh   a subset (unit lint cluster fuzz vm faults)
#
# `faults` (the cluster fault suite, tests/cluster_faults.rs, 6-9 min) is not in the
# default list yet: it passed 7/7 in its last runs but has not yet passed three runs in a
# row (issue #7), and a flaky tier would fail every CI run. Run it with TIERS=faults.
set -uo pipefail
cd "$(dirname "$0")/.."
TIERS=${TIERS:-"lint unit cluster fuzz vm"}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
declare -a RESULTS=()
failed=0

tier_start=$SECONDS
note() { printf '\n===== %s =====\n' "$*"; tier_start=$SECONDS; }
record() {
  RESULTS+=("$(printf '%-8s %-7s %5ss  %s' "$1" "$2" "$((SECONDS - tier_start))" "${3:-}")")
  [ "$2" = FAIL ] && failed=1
  return 0
}
want() { [[ " $TIERS " == *" $1 "* ]]; }
is_root() { [ "$(id -u)" = 0 ]; }

if want lint; then
  note "lint: cargo fmt --check, clippy -D warnings, cargo doc"
  if cargo fmt --all -- --check && cargo clippy --workspace --all-targets -- -D warnings \
     && RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps -q; then
    record lint PASS
  else
    record lint FAIL "formatting, clippy or rustdoc"
  fi
fi

if want unit; then
  note "unit + integration (codec fixtures, round trips, bad input, host nlctrl vs genl, twin conformance, daemon on the local engine)"
  if ! is_root; then
    echo "SKIPPED parts: not root — network-namespace tests skip themselves and say so" >&2
  fi
  if cargo test --workspace 2>&1 | tee target/unit.log; then
    if grep -q "SKIPPED" target/unit.log; then
      record unit PASS "(some tests SKIPPED: see target/unit.log)"
    else
      record unit PASS
    fi
  else
    record unit FAIL "see target/unit.log"
  fi
fi

if want cluster; then
  note "cluster: real corosync, 3 nodes in network namespaces"
  if ! is_root; then
    record cluster SKIPPED "needs root for network namespaces"
  elif ! command -v corosync >/dev/null || [ ! -e /usr/include/corosync/cpg.h ]; then
    record cluster SKIPPED "corosync/libcpg not installed (apt-get install corosync libcpg-dev libcfg-dev libcmap-dev libquorum-dev libvotequorum-dev)"
  else
    if cargo build --features corosync --bins --examples -q && \
       cargo build --workspace --features corosync --bins -q && cargo test --features corosync --test cluster_corosync --test cluster_daemon -- --nocapture --test-threads=1 2>&1 | tee target/cluster.log; then
      record cluster PASS
    else
      record cluster FAIL "see target/cluster.log"
    fi
  fi
fi

if want faults; then
  note "faults: the cluster fault suite (7 scenarios, 3 nodes each)"
  if ! is_root; then
    record faults SKIPPED "needs root for network namespaces"
  elif ! command -v corosync >/dev/null || [ ! -e /usr/include/corosync/cpg.h ]; then
    record faults SKIPPED "corosync/libcpg not installed"
  else
    if cargo build --workspace --features corosync --bins -q && \
       cargo test --features corosync --test cluster_faults -- --nocapture --test-threads=1 2>&1 | tee target/faults.log; then
      record faults PASS "$(grep -c '^SCENARIO .*: PASS' target/faults.log) scenarios"
    else
      record faults FAIL "see target/faults.log"
    fi
  fi
fi

if want fuzz; then
  note "fuzz: every target for ${FUZZ_SECONDS}s"
  if [ -x fuzz/run.sh ]; then
    fuzz/run.sh "$FUZZ_SECONDS" > target/fuzz.log 2>&1
    rc=$?
    cat target/fuzz.log
    case $rc in
      0) record fuzz PASS "${FUZZ_SECONDS}s per target, no crash" ;;
      2) record fuzz SKIPPED "$(grep -m1 'SKIPPED' target/fuzz.log)" ;;
      *) record fuzz FAIL "crash or error: see target/fuzz.log" ;;
    esac
  else
    record fuzz SKIPPED "fuzz/run.sh not present"
  fi
fi

if want vm; then
  note "vm: the C module in Debian's 6.1 kernel under qemu"
  if ! is_root; then
    record vm SKIPPED "needs root (apt-get, qemu image setup)"
  else
    if bash tests/vm.sh 2>&1 | tee target/vm.log && tail -n 1 target/vm.log | grep -q ' 0 failed'; then
      record vm PASS "$(tail -n 1 target/vm.log)"
    else
      record vm FAIL "$(tail -n 1 target/vm.log 2>/dev/null)"
    fi
  fi
fi

printf '\n===== summary =====\n'
for r in "${RESULTS[@]}"; do echo "$r"; done
exit $failed
