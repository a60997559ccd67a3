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

# The packages lane's root filesystem (tests/vm/packages.sh): the same base packages plus
# systemd as init and what installing the .debs offline needs (dkms, its compiler and the
# headers of the guest's kernel ABI, from bookworm-security like the host's; the corosync
# and sqlite libraries the daemon links). Its own name and cache key: the image above is
# neither rebuilt nor removed by it, nor it by the image above.
# Needs CACHE, IMGDIR and KABI; sets PKGROOTIMG.
# debian_pkg_root_image TAG
debian_pkg_root_image() {
	local tag=$1 base extra key mirror rfs t0
	base=nfs-kernel-server,nfs-common,gfs2-utils,kmod,iproute2,procps,util-linux,psmisc,corosync,dlm-controld
	base=$base,systemd,dkms,make,gcc,libc6-dev,libsqlite3-0,libcpg4,libcfg7,libcmap4,libquorum5,libvotequorum8
	extra="linux-headers-$KABI"
	key=$(printf '%s %s %s pkg-v1' "$base" "$extra" "$KABI" | sha256sum | cut -c1-12)
	PKGROOTIMG=$CACHE/debian-pkgroot-$key.img
	if [ -s "$PKGROOTIMG" ]; then
		echo "$tag: cached root image $PKGROOTIMG"
		return 0
	fi
	rm -f "$CACHE"/debian-pkgroot-*.img
	mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
	mirror=${mirror:-http://deb.debian.org/debian}
	rfs=$CACHE/pkgrootfs.tmp
	rm -rf "$rfs"
	echo "$tag: debootstrap bookworm from $mirror"
	t0=$SECONDS
	debootstrap --variant=minbase --include="$base" bookworm "$rfs" "$mirror" >"$CACHE/debootstrap-pkg.log" 2>&1 ||
		{ tail -20 "$CACHE/debootstrap-pkg.log"; echo "$tag: debootstrap failed"; return 1; }
	# The kernel's headers are in bookworm-security (as on the host): the host's sources,
	# then no package lists left in the image (the guest installs only local .debs).
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		cp /etc/apt/sources.list.d/debian.sources "$rfs/etc/apt/sources.list.d/"
		rm -f "$rfs/etc/apt/sources.list"
	fi
	mount -t proc proc "$rfs/proc"
	mount --bind /dev "$rfs/dev"
	local rc=0
	chroot "$rfs" sh -c "apt-get -q update && apt-get -y -q install --no-install-recommends $extra" \
		>>"$CACHE/debootstrap-pkg.log" 2>&1 || rc=$?
	chroot "$rfs" sh -c 'apt-get clean; rm -rf /var/lib/apt/lists/*' >/dev/null 2>&1 || true
	umount "$rfs/dev" "$rfs/proc"
	[ $rc = 0 ] || { tail -20 "$CACHE/debootstrap-pkg.log"; echo "$tag: installing $extra failed"; return 1; }
	mkdir -p "$rfs/lib/modules/$KABI"
	(cd "$IMGDIR/lib/modules/$KABI" && cp -a modules.* "$rfs/lib/modules/$KABI/" &&
		tar cf - kernel/fs kernel/net/sunrpc kernel/net/dns_resolver kernel/crypto kernel/lib kernel/drivers/block |
		tar -C "$rfs/lib/modules/$KABI" -xf -)
	depmod -b "$rfs" "$KABI"
	# Nothing of the NFS/cluster stack starts at boot: the test starts what it needs.
	for u in nfs-server.service corosync.service dlm.service rpcbind.service rpcbind.socket \
		nfs-client.target remote-fs.target apt-daily.timer apt-daily-upgrade.timer \
		dpkg-db-backup.timer e2scrub_all.timer fstrim.timer; do
		chroot "$rfs" systemctl disable "$u" >/dev/null 2>&1 || true
	done
	echo "pnfs-vm" >"$rfs/etc/hostname"
	mkfs.ext4 -q -F -L root -d "$rfs" "$PKGROOTIMG.tmp" 3G
	mv "$PKGROOTIMG.tmp" "$PKGROOTIMG"
	rm -rf "$rfs"
	echo "$tag: root image built in $((SECONDS - t0)) s ($(du -h "$PKGROOTIMG" | cut -f1))"
}
