#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build nfsd.ko with the flexfile layout server and the flexfile policy hooks
# (nfsd-hooks.patch) for one Debian kernel ABI, out of tree, from
# linux-source-6.1 of exactly that kernel's version and the installed
# linux-headers-<ABI>.  Debian's own nfsd.ko has CONFIG_NFSD_FLEXFILELAYOUT
# off; this one is a drop-in replacement (same vermagic and modversions).
#
# Usage: kmod-shim/nfsd/build.sh [KABI]
#   KABI defaults to the VM lane's kernel (the cached image under
#   kmod-shim/vm/.cache, else the ABI linux-headers-amd64 depends on).
#
# Caches (under kmod-shim/vm/.cache, or $NFSD_CACHE):
#   nfsd-src-<version>/          fs/nfsd and fs/internal.h, pristine
#   nfsd-ff-<ABI>-<hash>/        the patched tree and its build, keyed by the
#                                version, the patch and this script
#   nfsd-ff-<ABI> -> the newest of those (the adapter module's Kbuild finds
#                                nfsd's Module.symvers and pnfs_ff.h there)
#
# Prints the path of the built nfsd.ko as its last line and exits 0; exits 2
# with "SKIPPED: <reason>" when it cannot (no headers, no apt, no network);
# exits 1 when the build itself fails.

set -Eeuo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHIM=$(dirname "$HERE")
CACHE=${NFSD_CACHE:-$SHIM/vm/.cache}
PATCH=$HERE/nfsd-hooks.patch

skip() { echo "SKIPPED: $*"; exit 2; }
die() { echo "nfsd/build.sh: ERROR: $*" >&2; exit 1; }

KABI=${1:-}
if [ -z "$KABI" ]; then
	img=$(ls -d "$CACHE"/linux-image-*-amd64_*/ 2>/dev/null | head -n1 || true)
	if [ -n "$img" ]; then
		KABI=$(basename "$img")
		KABI=${KABI#linux-image-}
		KABI=${KABI%%_*}
	else
		KABI=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null |
			grep -o 'linux-headers-[0-9][^ ,]*-amd64' | head -n1 |
			sed 's/^linux-headers-//' || true)
	fi
fi
[ -n "$KABI" ] || skip "no kernel ABI: no VM lane image and no linux-headers-amd64"
KDIR=/usr/src/linux-headers-$KABI
[ -f "$KDIR/Makefile" ] || skip "linux-headers-$KABI not installed ($KDIR)"
KVER=$(dpkg-query -W -f='${Version}' "linux-headers-$KABI" 2>/dev/null || true)
[ -n "$KVER" ] || skip "cannot tell the version of linux-headers-$KABI"

key=$( { echo "$KVER"; cat "$PATCH" "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-12)
OUT=$CACHE/nfsd-ff-$KABI-$key
KO=$OUT/fs/nfsd/nfsd.ko
if [ -f "$OUT/.complete" ] && [ -f "$KO" ]; then
	echo "nfsd/build.sh: cached ($KABI, linux-source $KVER, key $key)"
	ln -sfn "$(basename "$OUT")" "$CACHE/nfsd-ff-$KABI"
	echo "$KO"
	exit 0
fi
mkdir -p "$CACHE"

# ---- pristine fs/nfsd of exactly this version
SRC=$CACHE/nfsd-src-$KVER
if [ ! -f "$SRC/.complete" ]; then
	command -v apt-get >/dev/null || skip "no apt-get to fetch linux-source-6.1=$KVER"
	dl=$CACHE/download-nfsd-src
	rm -rf "$dl" "$SRC"
	mkdir -p "$dl" "$SRC"
	chown _apt "$dl" 2>/dev/null || true
	echo "nfsd/build.sh: fetching linux-source-6.1=$KVER"
	if ! (cd "$dl" && apt-get -q -o DPkg::Lock::Timeout=60 download "linux-source-6.1=$KVER") \
		>"$CACHE/download-nfsd-src.log" 2>&1; then
		tail -3 "$CACHE/download-nfsd-src.log"
		rm -rf "$dl" "$SRC"
		skip "cannot download linux-source-6.1=$KVER (network or apt index)"
	fi
	dpkg --fsys-tarfile "$dl"/linux-source-6.1_*.deb |
		tar -xOf - ./usr/src/linux-source-6.1.tar.xz | xz -dc |
		tar -xf - -C "$SRC" --strip-components=1 \
			linux-source-6.1/fs/nfsd linux-source-6.1/fs/internal.h ||
		die "cannot extract fs/nfsd from linux-source-6.1=$KVER"
	rm -rf "$dl" "$CACHE/download-nfsd-src.log"
	touch "$SRC/.complete"
fi

# ---- patch and build
rm -rf "$OUT"
mkdir -p "$OUT/fs"
cp -a "$SRC/fs/nfsd" "$SRC/fs/internal.h" "$OUT/fs/"
(cd "$OUT" && patch -p1 --quiet --no-backup-if-mismatch) <"$PATCH" ||
	die "nfsd-hooks.patch does not apply to linux-source $KVER"
# The other NFSD options come from the headers' autoconf.h; flexfiles is off there.
echo 'ccflags-y += -DCONFIG_NFSD_FLEXFILELAYOUT=1' >>"$OUT/fs/nfsd/Makefile"
echo "nfsd/build.sh: building nfsd.ko for $KABI (linux-source $KVER)"
t0=$SECONDS
if ! nice make -C "$KDIR" M="$OUT/fs/nfsd" -j"$(nproc)" \
	CONFIG_NFSD=m CONFIG_NFSD_V4=y CONFIG_NFSD_PNFS=y CONFIG_NFSD_V3_ACL=y \
	CONFIG_NFSD_BLOCKLAYOUT=y CONFIG_NFSD_FLEXFILELAYOUT=y \
	CONFIG_NFSD_V4_SECURITY_LABEL=y modules >"$OUT/build.log" 2>&1; then
	tail -30 "$OUT/build.log"
	die "nfsd.ko build failed (log: $OUT/build.log)"
fi
[ -f "$KO" ] || die "no $KO after the build"
grep -q 'nfsd_ff_register_hooks' "$OUT/fs/nfsd/Module.symvers" ||
	die "nfsd_ff_register_hooks not exported"
warn=$(grep -c 'warning:' "$OUT/build.log" || true)
echo "nfsd/build.sh: built in $((SECONDS - t0)) s ($warn warning lines, log $OUT/build.log)"
echo "nfsd/build.sh: vermagic $(modinfo -F vermagic "$KO")"
touch "$OUT/.complete"
# Keep one build per ABI.
for d in "$CACHE"/nfsd-ff-"$KABI"-*; do
	[ "$d" = "$OUT" ] || rm -rf "$d"
done
ln -sfn "$(basename "$OUT")" "$CACHE/nfsd-ff-$KABI"
echo "$KO"
