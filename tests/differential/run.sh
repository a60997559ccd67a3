#!/usr/bin/env bash
# The differential run (issue 22): every seed of fuzz/corpus/daemon and DIFF_N (default
# 10,000) generated step sequences replayed through the daemon's handlers of a baseline
# commit (a git worktree) and of this tree; every run's outputs (REPLY and other messages
# to the kernel half, cluster messages, downcalls, durable snapshots, then status,
# counters and the debug ring: `daemon::harness` `Harness::transcript`) must be
# identical. Each side first runs a sample twice: a run that differs from itself would
# make the comparison meaningless.
#
#   bash tests/differential/run.sh [BASELINE [NEW]]
#
# BASELINE defaults to the last behaviour change made on purpose (5148360, a node's nfsd
# removes only the client records it made; before it 9001a06, the records keep the node
# that recorded them, and b7778a9, whole-file layouts); NEW (a commit) defaults to this working tree. The daemon's split into parts
# (issue 22) was shown against the last commit before it, 4453515: 0 differences, from
# the split through b7778a9^. After a change of behaviour on purpose, re-pin BASELINE to
# that commit in a commit of its own and add its row, with the count of inputs it
# changed (run.sh PARENT COMMIT), to intended-changes.md. A commit without the harness's output
# recording gets harness-recording.patch (the harness module only, no handler) applied
# in its worktree. DIFF_INPUTS=DIR replays DIR instead of generating; DIFF_IGNORE=k1,k2
# drops status/stats keys a later commit added on purpose. history.sh runs this over
# every commit since f506fb8 (the issue's baseline) and lists what each changed on
# purpose (intended-changes.md).
set -euo pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$root"
base=${1:-${DIFF_BASE:-5148360}}
new=${2:-}
n=${DIFF_N:-10000}
work=${DIFF_WORK:-$root/target/differential}

for c in "$base" ${new:+"$new"}; do
    if ! git cat-file -e "$c^{commit}" 2>/dev/null; then
        echo "differential: SKIPPED: commit $c is not in this clone's history (shallow clone?)"
        exit 2
    fi
done
mkdir -p "$work/drivers"
git worktree prune

# The driver (one source, this tree's) built against a commit's tree (or this working
# tree: "."), cached by commit; one target dir, so that every build shares the
# dependencies. Prints the binary's path.
driver_for() {
    local c=$1 tree d name feat=()
    if [ "$c" = . ]; then
        tree=$root
        name=worktree
        feat=(--features gen)
    else
        # Keyed by the commit and by what is built into it (the driver, the patch).
        name=$(git rev-parse --short=12 "$c")-$(cat "$root/tests/differential/harness-recording.patch" \
            "$root"/tests/differential/driver/Cargo.toml "$root"/tests/differential/driver/src/*.rs \
            "$root/tests/differential/run.sh" |
            sha1sum | cut -c1-8)
        if [ -x "$work/drivers/$name" ]; then
            echo "$work/drivers/$name"
            return
        fi
        tree=$work/tree-$name
        rm -rf "$tree"
        git worktree add -q --detach "$tree" "$c"
        if ! grep -q "pub fn recording" "$tree/src/daemon.rs" "$tree"/src/daemon/*.rs 2>/dev/null; then
            git -C "$tree" apply "$root/tests/differential/harness-recording.patch" >&2
        fi
        # The harness's MDS grace ends at the first tick (grace_ms 0, as in this tree's
        # harness since b7778a9): without it no sequence reaches a granted layout.
        python3 - "$tree" <<'PY'
import re, sys, pathlib
for f in ["src/daemon.rs", "src/daemon/harness.rs"]:
    p = pathlib.Path(sys.argv[1], f)
    if not p.exists():
        continue
    s = p.read_text()
    if "grace_ms: 0" not in s:
        s, n = re.subn(r"(node_id: 1,\s*\n(\s*))(state_dir: state_dir\.to_path_buf\(\),)",
                       r"\1grace_ms: 0,\n\2\3", s, count=1)
        if n != 1:
            sys.exit(f"{p}: the harness's config not found")
        p.write_text(s)
PY
        mkdir -p "$tree/tests/differential/driver"
        cp -r "$root/tests/differential/driver/." "$tree/tests/differential/driver/"
    fi
    d=$tree/tests/differential/driver
    cp "$tree/Cargo.lock" "$d/Cargo.lock"
    echo "differential: building the driver against $c" >&2
    CARGO_TARGET_DIR=$work/target cargo build -q --manifest-path "$d/Cargo.toml" "${feat[@]}" >&2
    cp "$work/target/debug/pnfs-differential" "$work/drivers/$name"
    if [ "$c" != . ]; then
        git worktree remove --force "$tree"
    fi
    echo "$work/drivers/$name"
}

drv_base=$(driver_for "$base")
drv_new=$(driver_for "${new:-.}")

inputs=${DIFF_INPUTS:-}
if [ -z "$inputs" ]; then
    inputs=$work/inputs
    rm -rf "$inputs"
    mkdir -p "$inputs"
    gen=$drv_new
    [ -n "$new" ] && gen=$(driver_for .)
    "$gen" gen "$inputs" "$n" "${DIFF_SEED:-22}"
fi
corpus=$root/fuzz/corpus/daemon
echo "differential: $(ls "$corpus" | wc -l) corpus seeds, $(ls "$inputs" | wc -l) generated sequences, $(git rev-parse --short "$base") against ${new:-this tree}"

sample=$(ls "$inputs" | sed -n "1,200s|^|$inputs/|p")
for drv in "$drv_base" "$drv_new"; do
    # shellcheck disable=SC2086
    a=$("$drv" run "$corpus" $sample)
    # shellcheck disable=SC2086
    b=$("$drv" run "$corpus" $sample)
    if [ "$a" != "$b" ]; then
        echo "differential: FAILED: $drv's runs differ from themselves:"
        diff <(echo "$a") <(echo "$b") | sed -n 1,10p || true
        exit 1
    fi
done

start=$SECONDS
"$drv_base" run "$corpus" "$inputs" >"$work/base.txt"
"$drv_new" run "$corpus" "$inputs" >"$work/new.txt"
total=$(wc -l <"$work/new.txt")
steps=$(awk '{s += $3} END {print s}' "$work/new.txt")
if diff -q "$work/base.txt" "$work/new.txt" >/dev/null; then
    echo "differential: PASSED: $total inputs ($steps steps) give identical outputs in both trees ($((SECONDS - start))s)"
    exit 0
fi
bad=$(diff <(awk '{print $1, $2}' "$work/base.txt") <(awk '{print $1, $2}' "$work/new.txt") | awk '/^>/ {print $2}' || true)
echo "differential: FAILED: $(echo "$bad" | wc -l) of $total inputs differ, e.g.:"
echo "$bad" | sed -n 1,5p
first=$(echo "$bad" | sed -n 1p)
diff <("$drv_base" show "$first") <("$drv_new" show "$first") | sed -n 1,60p || true
exit 1
