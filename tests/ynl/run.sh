#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Kernel-exact netlink: the kernel's own YNL generator must take our specs, and what it
# makes of them must be what our ynl-gen makes (tests/ynl/compare.py, differences only
# as listed in tests/ynl/intended-differences.txt).
#
#   1. fetch linux-source-6.12 from bookworm-backports with a private apt config (the
#      system's sources are not touched) and keep only tools/net/ynl, Documentation/netlink
#      and the genetlink uapi headers, cached in target/ynl-kernel/ (YNL_KERNEL_CACHE);
#   2. validate both specs against the kernel's genetlink schema (jsonschema);
#   3. run tools/net/ynl/ynl-gen-c.py on both specs in every mode: kernel source and
#      header, uapi header, user source and header;
#   4. compare the kernel's uapi header and kernel policies/op table with ours.
#
# Exit 0: no difference but the intended ones. 1: a failure or an unlisted difference.
# 2 (and "SKIPPED: <reason>"): the kernel source cannot be fetched.
# Needs root for apt-get install of python3-yaml/python3-jsonschema if they are missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${YNL_KERNEL_CACHE:-$ROOT/target/ynl-kernel}
KSERIES=6.12
SUITE=bookworm-backports
MIRROR=${YNL_KERNEL_MIRROR:-http://deb.debian.org/debian}
PY=/usr/bin/python3
FAMILIES=(pnfsd gfs2ctl)
T0=$SECONDS

say() { printf 'ynl: %s\n' "$*"; }
skip() { printf 'SKIPPED: %s\n' "$*"; exit 2; }

python_deps() {
	if "$PY" -c 'import yaml, jsonschema' 2>/dev/null; then
		return
	fi
	say "installing python3-yaml python3-jsonschema"
	if [ "$(id -u)" != 0 ] ||
		! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			python3-yaml python3-jsonschema >/dev/null; then
		say "FAIL: $PY needs the yaml and jsonschema modules (apt-get install python3-yaml python3-jsonschema)"
		exit 1
	fi
}

# The kernel's YNL tools, fetched once: $CACHE/linux-source-$KSERIES/{tools/net/ynl,...}
fetch_kernel() {
	local src=$CACHE/linux-source-$KSERIES
	if [ -f "$src/.complete" ]; then
		KSRC=$src
		KVER=$(cat "$src/.complete")
		return
	fi
	command -v apt-get >/dev/null || skip "no apt-get to fetch linux-source-$KSERIES"
	local apt=$CACHE/apt
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/deb"
	echo "deb $MIRROR $SUITE main" >"$apt/sources.list"
	local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
		-o Debug::NoLocking=1 -o APT::Sandbox::User=root)
	say "fetching linux-source-$KSERIES from $SUITE"
	apt-get "${opts[@]}" -qq update >"$apt/update.log" 2>&1 ||
		skip "apt-get update of $MIRROR $SUITE failed ($(tail -1 "$apt/update.log"))"
	rm -f "$apt/deb"/*.deb
	(cd "$apt/deb" && apt-get "${opts[@]}" -qq download "linux-source-$KSERIES") \
		>"$apt/download.log" 2>&1 ||
		skip "apt-get download linux-source-$KSERIES failed ($(tail -1 "$apt/download.log"))"
	local deb
	deb=$(ls "$apt/deb"/linux-source-"$KSERIES"_*.deb)
	KVER=$(dpkg-deb -f "$deb" Version)
	local x=$CACHE/extract
	rm -rf "$x" "$src"
	mkdir -p "$x"
	dpkg-deb --fsys-tarfile "$deb" |
		tar -x -C "$x" --wildcards "./usr/src/linux-source-$KSERIES.tar.*" ||
		skip "linux-source-$KSERIES package has no source tarball"
	say "extracting tools/net/ynl and Documentation/netlink ($KVER)"
	tar -xaf "$x"/usr/src/linux-source-"$KSERIES".tar.* -C "$x" --wildcards \
		"linux-source-$KSERIES/tools/net/ynl" \
		"linux-source-$KSERIES/Documentation/netlink" \
		"linux-source-$KSERIES/include/uapi/linux/netlink.h" \
		"linux-source-$KSERIES/include/uapi/linux/genetlink.h" ||
		skip "linux-source-$KSERIES tarball lacks tools/net/ynl"
	mv "$x/linux-source-$KSERIES" "$src"
	rm -rf "$x" "$apt/deb"
	echo "$KVER" >"$src/.complete"
	KSRC=$src
}

python_deps
fetch_kernel
GEN=$KSRC/tools/net/ynl/ynl-gen-c.py
[ -f "$GEN" ] || GEN=$KSRC/tools/net/ynl/pyynl/ynl_gen_c.py
say "kernel generator: linux-source-$KSERIES $KVER, ${GEN#"$KSRC"/}"

# ynl-gen-c.py takes the schema from <spec dir>/../<protocol>.yaml and names the spec
# relative to the tree holding MAINTAINERS (without one it loops forever): a miniature
# kernel tree per run.
WORK=$CACHE/work
OUT=$CACHE/out
rm -rf "$WORK" "$OUT"
mkdir -p "$WORK/Documentation/netlink/specs" "$OUT"
touch "$WORK/MAINTAINERS"
cp "$KSRC"/Documentation/netlink/*.yaml "$WORK/Documentation/netlink/"
for f in "${FAMILIES[@]}"; do
	cp "$ROOT/netlink/specs/$f.yaml" "$WORK/Documentation/netlink/specs/"
done

fail=0
say "validating the specs against the kernel's schemas"
"$PY" - "$WORK/Documentation/netlink" "${FAMILIES[@]}" <<'EOF' || fail=1
import sys, yaml, jsonschema
base, fams = sys.argv[1], sys.argv[2:]
bad = 0
for f in fams:
    spec = yaml.safe_load(open(f"{base}/specs/{f}.yaml"))
    proto = spec.get("protocol", "genetlink")
    schema = yaml.safe_load(open(f"{base}/{proto}.yaml"))
    try:
        jsonschema.validate(spec, schema)
        print(f"ynl:   {f}.yaml: valid against {proto}.yaml")
    except jsonschema.ValidationError as e:
        print(f"ynl:   {f}.yaml: INVALID against {proto}.yaml: {e.message} at {list(e.path)}")
        bad = 1
sys.exit(bad)
EOF

say "running the kernel generator in every mode"
for f in "${FAMILIES[@]}"; do
	for mode in "kernel --source:$f-nl.c" "kernel --header:$f-nl.h" \
		"uapi --header:$f-uapi.h" "user --source:$f-user.c" "user --header:$f-user.h"; do
		args=${mode%%:*}
		out=${mode#*:}
		# shellcheck disable=SC2086 # $args is "MODE --KIND"
		if (cd "$WORK" && timeout 300 "$PY" "$GEN" --mode $args \
			--spec "Documentation/netlink/specs/$f.yaml" -o "$OUT/$out") \
			>"$OUT/$out.log" 2>&1; then
			say "  ok   $f --mode $args"
		else
			say "  FAIL $f --mode $args:"
			sed 's/^/        /' "$OUT/$out.log" | tail -5
			fail=1
		fi
	done
done
if [ "$fail" != 0 ]; then
	say "FAIL: the kernel's generator or schema refused a spec"
	exit 1
fi

# The user-space code it made is C that compiles against its own uapi header and the
# kernel's YNL library header (the kernel-side code needs a 6.12 build tree: not here).
if command -v gcc >/dev/null; then
	mkdir -p "$OUT/include/linux"
	for f in "${FAMILIES[@]}"; do
		cp "$OUT/$f-uapi.h" "$OUT/include/linux/$f.h"
		if gcc -fsyntax-only -Wall -Werror -I"$OUT/include" -I"$KSRC/tools/net/ynl/lib" \
			"$OUT/$f-user.c" >"$OUT/$f-user.gcc.log" 2>&1; then
			say "  ok   $f user code compiles (gcc -fsyntax-only -Wall)"
		else
			say "  FAIL $f user code does not compile:"
			sed 's/^/        /' "$OUT/$f-user.gcc.log" | head -10
			fail=1
		fi
	done
	[ "$fail" = 0 ] || exit 1
else
	say "  (no gcc: the generated user code is not compiled)"
fi

say "comparing the kernel generator's output with ours"
rc=0
"$PY" "$ROOT/tests/ynl/compare.py" --kernel-out "$OUT" --root "$ROOT" \
	--allow "$ROOT/tests/ynl/intended-differences.txt" "${FAMILIES[@]}" || rc=$?
say "done in $((SECONDS - T0)) s (kernel generator output: $OUT)"
exit "$rc"
