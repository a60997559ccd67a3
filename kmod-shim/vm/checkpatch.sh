#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the kernel's scripts/checkpatch.pl (--no-tree -f) on kmod-shim's C
# files.  checkpatch.pl is not in linux-headers: it is taken from Debian's
# linux-source-6.1 package (apt-get download, ~140 MB, not installed), of
# which only scripts/{checkpatch.pl,spelling.txt,const_structs.checkpatch}
# are extracted into kmod-shim/vm/.cache/checkpatch-<version>/ and reused.
#
# Usage: kmod-shim/vm/checkpatch.sh [FILE...]   (default: all C files)
# Exit status is non-zero if checkpatch reports any error or warning.

set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHIM=$(dirname "$HERE")
CACHE="$HERE/.cache"

command -v perl >/dev/null || { echo "checkpatch.sh: perl missing" >&2; exit 1; }

ver=$(apt-cache policy linux-source-6.1 | sed -n 's/^ *Candidate: //p')
if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
	echo "checkpatch.sh: linux-source-6.1 unknown to apt (run apt-get update)" >&2
	exit 1
fi
CP_DIR="$CACHE/checkpatch-$ver"
CP="$CP_DIR/checkpatch.pl"
if [ ! -f "$CP_DIR/.complete" ]; then
	echo "fetching scripts/checkpatch.pl from linux-source-6.1=$ver"
	rm -rf "$CACHE"/checkpatch-* "$CACHE/download-src"
	mkdir -p "$CACHE/download-src" "$CP_DIR"
	chown _apt "$CACHE/download-src" 2>/dev/null || true
	(cd "$CACHE/download-src" &&
		apt-get -q -o DPkg::Lock::Timeout=60 download "linux-source-6.1=$ver")
	dpkg --fsys-tarfile "$CACHE"/download-src/linux-source-6.1_*.deb |
		tar -xOf - ./usr/src/linux-source-6.1.tar.xz | xz -dc |
		tar -xf - -C "$CP_DIR" --strip-components=2 --wildcards \
			'linux-source-6.1/scripts/checkpatch.pl' \
			'linux-source-6.1/scripts/spelling.txt' \
			'linux-source-6.1/scripts/const_structs.checkpatch'
	rm -rf "$CACHE/download-src"
	[ -f "$CP" ] || { echo "checkpatch.sh: extraction failed" >&2; exit 1; }
	touch "$CP_DIR/.complete"
fi

if [ $# -gt 0 ]; then
	files=("$@")
else
	mapfile -t files < <(cd "$SHIM" && find module vm/probe -name '*.[ch]' | sort |
		sed "s|^|$SHIM/|")
fi

rc=0
for f in "${files[@]}"; do
	case "$f" in
	# Userspace test code: kernel style, but not --strict (which wants
	# u16 for uint16_t), and it defines __printf/__aligned itself (no
	# kernel compiler.h), which checkpatch flags at the definition.
	*/vm/*) extra=(--ignore PREFER_DEFINED_ATTRIBUTE_MACRO) ;;
	*) extra=(--strict) ;;
	esac
	echo "== checkpatch $f"
	perl "$CP" --no-tree --quiet --show-types "${extra[@]}" -f "$f" || rc=1
done
[ "$rc" = 0 ] && echo "checkpatch: clean (${#files[@]} files)"
exit "$rc"
