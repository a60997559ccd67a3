#!/usr/bin/env bash
# Build the Debian packages pnfs-controld and pnfs-shim-dkms (debian/, dpkg-buildpackage)
# from a fresh clone of this tree's HEAD, then check them with lintian.
#
# Usage: bash tests/vm/packages-build.sh   (root to apt-get the build tools when missing)
# Env: OUT (default kmod-shim/vm/.cache/debs: the .debs, .changes, lintian.txt),
#      SRC=worktree (the working tree's tracked files as they are, uncommitted edits
#      included, instead of HEAD), FRESH=1 (a new clone, not the kept one brought to HEAD),
#      CARGO_TARGET_DIR (default target/deb: kept between runs).
# cargo >= 1.85 must be on PATH (rustup); the crates come from crates.io (Cargo.lock).
# Exit 0 when built and lintian reports no error or warning.
set -Eeuo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${OUT:-$ROOT/kmod-shim/vm/.cache/debs}
BUILD=$ROOT/kmod-shim/vm/.cache/debbuild
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/deb}
APT=(apt-get -y -q -o DPkg::Lock::Timeout=300)

command -v cargo >/dev/null || { echo "packages-build: no cargo on PATH"; exit 1; }
need=()
for p in dpkg-dev debhelper dh-dkms lintian pkgconf libsqlite3-dev libcpg-dev libcfg-dev \
	libcmap-dev libquorum-dev libvotequorum-dev git; do
	[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "packages-build: installing ${need[*]}"
	"${APT[@]}" update -q >/dev/null
	"${APT[@]}" install --no-install-recommends "${need[@]}" >/dev/null
fi

version=$(dpkg-parsechangelog -l debian/changelog -S Version)
src=$BUILD/pnfs-controld-$version
rm -f "$BUILD"/*.deb "$BUILD"/*.ddeb "$BUILD"/*.changes "$BUILD"/*.buildinfo
if [ "${SRC:-}" = worktree ]; then
	rm -rf "$src"
	mkdir -p "$src"
	git ls-files -z | tar --null -T - -cf - | tar -C "$src" -xf -
	echo "packages-build: the working tree's tracked files -> $src"
else
	# A fresh clone the first time; then the same clone brought to HEAD and cleaned
	# (reset --hard, clean -ffdx: exactly HEAD's files), so that files which did not
	# change keep their times and cargo's release build in CARGO_TARGET_DIR is reused.
	if [ "${FRESH:-}" != 1 ] && [ -d "$src/.git" ] && git -C "$src" fetch -q "$ROOT" HEAD 2>/dev/null; then
		git -C "$src" reset -q --hard FETCH_HEAD
		git -C "$src" clean -q -ffdx
	else
		rm -rf "$src"
		mkdir -p "$BUILD"
		git clone -q --no-hardlinks "$ROOT" "$src"
	fi
	echo "packages-build: clone at $(git -C "$src" rev-parse --short HEAD) -> $src"
fi
t0=$SECONDS
(cd "$src" && dpkg-buildpackage -b -us -uc) >"$BUILD/build.log" 2>&1 ||
	{ tail -30 "$BUILD/build.log"; echo "packages-build: dpkg-buildpackage failed (log: $BUILD/build.log)"; exit 1; }
echo "packages-build: built in $((SECONDS - t0)) s"
rm -rf "$OUT"
mkdir -p "$OUT"
cp "$BUILD"/*.deb "$BUILD"/*.changes "$BUILD"/*.buildinfo "$OUT"/
cp "$BUILD"/*.ddeb "$OUT"/ 2>/dev/null || true
ls -l "$OUT"
changes=$(ls "$OUT"/*.changes)
# Every tag down to pedantic, overridden ones shown too (an override would carry its reason
# in debian/*.lintian-overrides).
lintian --info --pedantic --show-overrides --tag-display-limit 0 "$changes" >"$OUT/lintian.txt" 2>&1 || true
cat "$OUT/lintian.txt"
if grep -qE '^[EW]: ' "$OUT/lintian.txt"; then
	echo "packages-build: lintian reports errors or warnings"
	exit 1
fi
echo "packages-build: lintian: no error or warning"
