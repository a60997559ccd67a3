# Sourced by tests/vm/nfsd.sh and tests/vm/flexfiles.sh: the Debian root filesystem both
# guests boot, cached by its package list and kernel ABI (one image for both lanes).
# Needs CACHE, IMGDIR (the extracted Debian kernel image) and KABI; sets ROOTIMG.
# debian_root_image TAG   (TAG prefixes the log lines)
debian_root_image() {
	local tag=$1
	PKGS=nfs-kernel-server,nfs-common,gfs2-utils,kmod,iproute2,procps,util-linux,psmisc,corosync,dlm-controld
	key=$(printf '%s %s v1' "$PKGS" "$KABI" | sha256sum | cut -c1-12)
	ROOTIMG=$CACHE/debian-root-$key.img
	if [ -s "$ROOTIMG" ]; then
		echo "$tag: cached root image $ROOTIMG"
		return 0
	fi
	rm -f "$CACHE"/debian-root-*.img
	mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
	mirror=${mirror:-http://deb.debian.org/debian}
	rfs=$CACHE/rootfs.tmp
	rm -rf "$rfs"
	echo "$tag: debootstrap bookworm from $mirror"
	t0=$SECONDS
	debootstrap --variant=minbase --include="$PKGS" bookworm "$rfs" "$mirror" >"$CACHE/debootstrap.log" 2>&1 ||
		{ tail -20 "$CACHE/debootstrap.log"; echo "$tag: debootstrap failed"; exit 1; }
	# Only the module trees the guest loads (nfsd, sunrpc, gfs2/dlm, loop, crypto, libs).
	mkdir -p "$rfs/lib/modules/$KABI"
	(cd "$IMGDIR/lib/modules/$KABI" && cp -a modules.* "$rfs/lib/modules/$KABI/" &&
		tar cf - kernel/fs kernel/net/sunrpc kernel/net/dns_resolver kernel/crypto kernel/lib kernel/drivers/block |
		tar -C "$rfs/lib/modules/$KABI" -xf -)
	depmod -b "$rfs" "$KABI"
	# nfsdcld is not started: pnfs_controld serves the pipe.
	echo "pnfs-vm" >"$rfs/etc/hostname"
	mkfs.ext4 -q -F -L root -d "$rfs" "$ROOTIMG.tmp" 2G
	mv "$ROOTIMG.tmp" "$ROOTIMG"
	rm -rf "$rfs"
	echo "$tag: root image built in $((SECONDS - t0)) s ($(du -h "$ROOTIMG" | cut -f1))"
}
