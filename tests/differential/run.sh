#!/usr/bin/env bash
# The differential run (issue 22): every seed of fuzz/corpus/daemon and DIFF_N (default
# 10,000) generated step sequences replayed through the daemon's handlers of the baseline
# commit (a git worktree) and of this tree; every run's outputs (REPLY and other messages
# to the kernel half, cluster messages, downcalls, durable snapshots, then status,
# counters and the debug ring: `daemon::harness` `Harness::transcript`) must be
# identical. Each side runs twice first on a sample: a run that differs from itself
# would make the comparison meaningless.
#
#   bash tests/differential/run.sh [BASELINE]     (default: $DIFF_BASE or the commit below)
#
# The baseline is the last commit before the daemon was split into parts (4453515), with
# the harness's output recording (harness-recording.patch: the harness module only, no
# handler) applied in the worktree. Behaviour changes made
# on purpose since then are listed in tests/differential/intended-changes.txt; there are
# none today, so any difference fails.
set -euo pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$root"
base=${1:-${DIFF_BASE:-4453515}}
n=${DIFF_N:-10000}
work=${DIFF_WORK:-$root/target/differential}

if ! git cat-file -e "$base^{commit}" 2>/dev/null; then
    echo "differential: SKIPPED: baseline $base is not in this clone's history (shallow clone?)"
    exit 2
fi
mkdir -p "$work"
git worktree prune
rm -rf "$work/base" "$work/inputs"
git worktree add -q --detach "$work/base" "$base"
trap 'git -C "$root" worktree remove --force "$work/base" 2>/dev/null || true' EXIT
if ! grep -q "pub fn recording" "$work/base/src/daemon.rs"; then
    git -C "$work/base" apply "$root/tests/differential/harness-recording.patch"
fi

# One driver source, built against each tree (the baseline has none of its own); one
# target dir, so the two builds share every dependency.
for side in new base; do
    tree=$root
    [ "$side" = base ] && tree=$work/base
    d=$tree/tests/differential/driver
    if [ "$side" = base ]; then
        mkdir -p "$d"
        cp -r "$root/tests/differential/driver/." "$d/"
    fi
    cp "$tree/Cargo.lock" "$d/Cargo.lock"
    feat=()
    [ "$side" = new ] && feat=(--features gen)
    echo "differential: building the driver against the $side tree"
    CARGO_TARGET_DIR=$work/target cargo build -q --manifest-path "$d/Cargo.toml" "${feat[@]}"
    cp "$work/target/debug/pnfs-differential" "$work/driver-$side"
done

mkdir -p "$work/inputs/gen"
"$work/driver-new" gen "$work/inputs/gen" "$n" "${DIFF_SEED:-22}"
corpus=$root/fuzz/corpus/daemon
echo "differential: $(ls "$corpus" | wc -l) corpus seeds, $n generated sequences, baseline $(git rev-parse --short "$base")"

sample=$(ls "$work/inputs/gen" | sed -n "1,200s|^|$work/inputs/gen/|p")
for side in new base; do
    # shellcheck disable=SC2086
    a=$("$work/driver-$side" run "$corpus" $sample)
    # shellcheck disable=SC2086
    b=$("$work/driver-$side" run "$corpus" $sample)
    if [ "$a" != "$b" ]; then
        echo "differential: FAILED: the $side tree's runs differ from themselves:"
        diff <(echo "$a") <(echo "$b") | head -10
        exit 1
    fi
done

start=$SECONDS
"$work/driver-base" run "$corpus" "$work/inputs/gen" >"$work/base.txt"
"$work/driver-new" run "$corpus" "$work/inputs/gen" >"$work/new.txt"
total=$(wc -l <"$work/new.txt")
steps=$(awk '{s += $3} END {print s}' "$work/new.txt")
if diff -q "$work/base.txt" "$work/new.txt" >/dev/null; then
    echo "differential: PASSED: $total inputs ($steps steps) give identical outputs in both trees ($((SECONDS - start))s)"
    exit 0
fi
bad=$(diff <(awk '{print $1, $2}' "$work/base.txt") <(awk '{print $1, $2}' "$work/new.txt") | awk '/^>/ {print $2}' || true)
echo "differential: FAILED: $(echo "$bad" | wc -l) of $total inputs differ, e.g.:"
echo "$bad" | head -5
first=$(echo "$bad" | head -1)
diff <("$work/driver-base" show "$first") <("$work/driver-new" show "$first") | sed -n 1,60p || true
exit 1
