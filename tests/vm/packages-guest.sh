#!/bin/bash
# The packages lane's guest side (tests/vm/packages.sh): run by the unit pnfs-pkgtest.service
# in a Debian guest booted with systemd as init, no network. Installs the .debs in
# /opt/pnfs/debs as an administrator would, runs the daemon under its unit and checks
# remove and purge. PASS/FAIL lines between PKG-VM-BEGIN and PKG-VM-END on the serial
# console, then power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive
exec >/dev/ttyS0 2>&1
echo PKG-VM-BEGIN
pass() { echo "PASS pkg_$1"; }
fail() { echo "FAIL pkg_$1: $2"; }
info() { echo "INFO $*"; }
finish() {
	echo "---- journalctl -u pnfs-controld (last 25) ----"
	journalctl -u pnfs-controld --no-pager -o short-monotonic 2>&1 | tail -25
	echo "---- kernel log (pnfs_shim, nfsd, gfs2) ----"
	dmesg | grep -iE 'pnfs|nfsd|gfs2' | tail -15
	echo PKG-VM-END
	sync
	systemctl poweroff --force --force 2>/dev/null || echo o >/proc/sysrq-trigger
	sleep 30
}
(
	sleep "${PKG_GUEST_TIMEOUT:-1000}"
	echo "FAIL pkg_watchdog: the guest script still ran after ${PKG_GUEST_TIMEOUT:-1000} s"
	finish
) &
until_ok() {
	local n=$1
	shift
	for ((i = 0; i < n * 2; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}
ring_has() { pnfsctl debug dump | grep -q -- "$1"; }
KABI=$(uname -r)
DEBS=/opt/pnfs/debs

# ---- systemd is init
if [ "$(cat /proc/1/comm)" = systemd ] && [ -d /run/systemd/system ]; then
	pass systemd_is_init
else
	fail systemd_is_init "pid 1 is $(cat /proc/1/comm)"
	finish
fi
info "systemd $(systemctl --version | head -1); system state: $(systemctl is-system-running)"

# ---- pnfs-shim-dkms: DKMS builds pnfs_shim.ko for the running kernel, and it loads
t0=$SECONDS
if apt-get install -y -q "$DEBS"/pnfs-shim-dkms_*_all.deb >/tmp/apt-dkms.log 2>&1; then
	pass dkms_package_installs
else
	fail dkms_package_installs "$(tail -15 /tmp/apt-dkms.log)"
	cat /var/lib/dkms/pnfs-shim/*/build/make.log 2>/dev/null | tail -20
	finish
fi
info "apt install of pnfs-shim-dkms (DKMS build) took $((SECONDS - t0)) s"
st=$(dkms status pnfs-shim 2>&1)
ko=$(modinfo -n pnfs_shim 2>/dev/null)
if echo "$st" | grep -q "pnfs-shim/.*, $KABI, x86_64: installed" && [ "$ko" = "/lib/modules/$KABI/updates/dkms/pnfs_shim.ko" ]; then
	pass dkms_built_for_running_kernel
else
	fail dkms_built_for_running_kernel "dkms status: $st; modinfo: $ko"
fi
if modprobe pnfs_shim && [ -d /sys/module/pnfs_shim ]; then
	pass module_loads
else
	fail module_loads "$(dmesg | tail -5)"
fi

# ---- pnfs-controld: installed from the .deb with apt (dependencies from the image)
t0=$SECONDS
if apt-get install -y -q "$DEBS"/pnfs-controld_*_amd64.deb >/tmp/apt-daemon.log 2>&1; then
	pass daemon_package_installs
else
	fail daemon_package_installs "$(tail -15 /tmp/apt-daemon.log)"
	finish
fi
dpkg -L pnfs-controld pnfs-shim-dkms | sort -u >/tmp/pkg-files.txt
info "installed $(wc -l </tmp/pkg-files.txt) paths; Depends: $(dpkg-query -W -f='${Depends}' pnfs-controld)"
if ldd /usr/sbin/pnfs_controld | grep -q libcpg && ! ldd /usr/sbin/pnfs_controld | grep -q 'not found' &&
	dpkg-query -W -f='${Depends}' pnfs-controld | grep -q libcpg4; then
	pass corosync_build_and_depends
else
	fail corosync_build_and_depends "$(ldd /usr/sbin/pnfs_controld)"
fi
if [ "$(systemctl is-enabled pnfs-controld 2>&1)" = disabled ] && ! systemctl -q is-active pnfs-controld; then
	pass unit_installed_not_enabled
else
	fail unit_installed_not_enabled "is-enabled: $(systemctl is-enabled pnfs-controld 2>&1), is-active: $(systemctl is-active pnfs-controld)"
fi
if dpkg-query -W -f='${Conffiles}\n' pnfs-controld | grep -q '/etc/pnfs-controld.toml' &&
	[ -z "$(grep -vE '^(#|$)' /etc/pnfs-controld.toml)" ]; then
	pass conffile_all_commented
else
	fail conffile_all_commented "$(dpkg-query -W -f='${Conffiles}' pnfs-controld); $(grep -vE '^(#|$)' /etc/pnfs-controld.toml | head -3)"
fi
if [ "$(stat -c '%U:%G %a' /var/lib/pnfs-controld)" = "root:root 700" ]; then
	pass state_dir_owner_mode
else
	fail state_dir_owner_mode "$(stat -c '%U:%G %a' /var/lib/pnfs-controld 2>&1)"
fi
missing=
for f in /usr/bin/pnfsctl /usr/share/man/man8/pnfs_controld.8.gz /usr/share/man/man5/pnfs-controld.toml.5.gz \
	/usr/share/man/man1/pnfsctl.1.gz /usr/share/bash-completion/completions/pnfsctl \
	/usr/share/zsh/vendor-completions/_pnfsctl /usr/share/fish/vendor_completions.d/pnfsctl.fish \
	/usr/share/doc/pnfs-controld/copyright /usr/share/doc/pnfs-controld/README.md.gz; do
	[ -s "$f" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then pass man_completions_docs; else fail man_completions_docs "missing:$missing"; fi

# ---- the stack around it: a one-node corosync, GFS2 exported by the real nfsd
mkdir -p /etc/corosync /srv/gfs2 /srv/dlm /mnt/nfs
ip link set lo up
ip addr add 10.99.0.1/32 dev lo
printf '%s\n' 'totem {' '	version: 2' '	cluster_name: vmclus' '	transport: knet' \
	'	crypto_cipher: none' '	crypto_hash: none' '}' \
	'nodelist {' '	node {' '		ring0_addr: 10.99.0.1' '		nodeid: 1' '		name: pnfs-vm' '	}' '}' \
	'quorum {' '	provider: corosync_votequorum' '}' \
	'logging {' '	to_logfile: no' '	to_syslog: yes' '	to_stderr: no' '}' >/etc/corosync/corosync.conf
if systemctl start corosync && until_ok 30 sh -c 'corosync-quorumtool -s | grep -q "Quorate: *Yes"'; then
	pass corosync_started
else
	fail corosync_started "$(journalctl -u corosync --no-pager | tail -5)"
fi
modprobe nfsd
modprobe gfs2
mount -t gfs2 /dev/vdb /srv/gfs2 || fail gfs2_mount "mount -t gfs2 /dev/vdb"
echo '/srv/gfs2 *(rw,sync,no_root_squash,no_subtree_check,fsid=1)' >/etc/exports
# nfsd with v4 only, short lease and grace (nfs-utils' /etc/nfs.conf).
printf '%s\n' '[nfsd]' 'vers3=n' 'vers4.0=n' 'grace-time=10' 'lease-time=10' >/etc/nfs.conf.d/pkgtest.conf

# ---- the administrator's configuration: this node, the corosync engine, the module,
# the cld pipe in place of nfsdcld
systemctl mask nfsdcld.service >/dev/null 2>&1
sed -i -e 's/^#engine = .*/engine = "corosync"/' -e 's/^#socket = .*/socket = "generic"/' \
	-e 's|^#cld_pipe = .*|cld_pipe = "/run/rpc_pipefs/nfsd/cld"|' /etc/pnfs-controld.toml
t0=$SECONDS
if systemctl start pnfs-controld && until_ok 30 pnfsctl ping -c 1; then
	pass systemctl_start
else
	fail systemctl_start "$(systemctl status pnfs-controld --no-pager 2>&1 | tail -10)"
	finish
fi
info "started and answering in $((SECONDS - t0)) s"
DPID=$(systemctl show -p MainPID --value pnfs-controld)
caps=$(sed -n 's/^CapEff:\t*//p' /proc/$DPID/status)
bnd=$(sed -n 's/^CapBnd:\t*//p' /proc/$DPID/status)
nnp=$(sed -n 's/^NoNewPrivs:\t*//p' /proc/$DPID/status)
ro=no
nsenter -t "$DPID" -m sh -c 'touch /usr/pnfs-sandbox-probe' 2>/dev/null || ro=yes
tmp=$(nsenter -t "$DPID" -m sh -c 'ls /tmp | wc -l')
if [ "$caps" = 0000000000001000 ] && [ "$bnd" = 0000000000001000 ] && [ "$nnp" = 1 ] && [ "$ro" = yes ] &&
	[ "$tmp" = 0 ]; then
	pass unit_sandbox_applied
else
	fail unit_sandbox_applied "CapEff $caps CapBnd $bnd NoNewPrivs $nnp /usr read-only: $ro, private /tmp entries: $tmp"
fi
M=$(pnfsctl -j member show 2>&1)
if echo "$M" | grep -q '"engine":"corosync"' && echo "$M" | grep -q '"quorate":true'; then
	pass daemon_on_corosync_engine
else
	fail daemon_on_corosync_engine "$(echo "$M" | head -c 300)"
fi
if echo "$M" | grep -q '"kernel":"kernel module (NETLINK_GENERIC)"'; then
	pass daemon_registered_with_module
else
	fail daemon_registered_with_module "$(echo "$M" | head -c 300)"
fi

# ---- the real nfsd on the daemon's cld pipe
t0=$SECONDS
systemctl start nfs-server || fail nfs_server_start "$(journalctl -u nfs-server --no-pager | tail -5)"
if until_ok 30 ring_has 'cld: GetVersion' && dmesg | grep -q 'Using nfsdcld client tracking operations'; then
	pass cld_serves_nfsd
else
	fail cld_serves_nfsd "$(dmesg | grep -i nfsd | tail -3); $(pnfsctl debug dump | grep -i cld | tail -3)"
fi
if timeout 120 mount -t nfs4 -o vers=4.1,proto=tcp,soft,timeo=100 127.0.0.1:/srv/gfs2 /mnt/nfs &&
	echo hello >/mnt/nfs/f; then
	pass nfs_client_writes
else
	fail nfs_client_writes "NFSv4.1 mount or write over loopback failed"
fi
if until_ok 60 sh -c 'pnfsctl -j client show | grep -q "\"name\":\"Linux NFSv4.1 pnfs-vm"'; then
	pass cld_client_recorded
else
	fail cld_client_recorded "$(pnfsctl -j client show 2>&1 | head -c 400)"
fi
if [ -n "$(ls -A /var/lib/pnfs-controld)" ]; then
	pass state_written_in_state_dir
else
	fail state_written_in_state_dir "nothing in /var/lib/pnfs-controld"
fi
info "nfsd served and the client recorded in $((SECONDS - t0)) s"
# ProtectSystem=strict: a daemon started while rpc_pipefs is mounted sees it read-only in
# its namespace; nfsd's pipes are FIFOs, which it may still open for writing. A restarted
# daemon serves the restarted nfsd (GetVersion, GraceStart, the client's reclaim).
systemctl restart pnfs-controld && until_ok 30 pnfsctl ping -c 1
DPID=$(systemctl show -p MainPID --value pnfs-controld)
rpcro=$(nsenter -t "$DPID" -m findmnt -no OPTIONS /run/rpc_pipefs 2>&1)
systemctl restart nfs-server
if [ "${rpcro%%,*}" = ro ] && until_ok 30 ring_has 'cld: GetVersion' && until_ok 30 ring_has 'grace starts'; then
	pass cld_pipe_served_from_read_only_rpc_pipefs
else
	fail cld_pipe_served_from_read_only_rpc_pipefs "rpc_pipefs in the unit's namespace: $rpcro; $(pnfsctl debug dump | grep -i cld | tail -3)"
fi

# ---- a real GFS2 withdraw (lock_dlm: waits for userland's acknowledgement)
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
mkdir -p /dev/misc
for d in dlm-control dlm-monitor dlm_plock; do [ -e /dev/$d ] && ln -sf ../$d /dev/misc/$d; done
dlm_controld --enable_fencing 0 >/tmp/dlm_controld.log 2>&1 &
if until_ok 30 test -d /sys/kernel/config/dlm/cluster/comms/1 && timeout 60 mount -t gfs2 /dev/vdc /srv/dlm; then
	pass dlm_gfs2_mount
else
	fail dlm_gfs2_mount "$(tail -3 /tmp/dlm_controld.log) $(dmesg | grep -iE 'gfs2|dlm' | tail -3)"
fi
T=vmclus:fs1
until_ok 30 sh -c "pnfsctl -j fs show | grep -q '$T'"
(
	echo 1 >"/sys/fs/gfs2/$T/withdraw"
	echo done >/tmp/withdraw-returned
) &
if until_ok 60 test -e /tmp/withdraw-returned && dmesg | grep -q "fsid=$T.*File system withdrawn"; then
	pass gfs2_withdraw_completes
else
	fail gfs2_withdraw_completes "the withdraw still waits: $(dmesg | grep -i gfs2 | tail -3)"
fi
if until_ok 10 sh -c "pnfsctl -j fs show | grep -q '\"withdraw_ack\":\"acknowledged'"; then
	pass gfs2_withdraw_acknowledged
else
	fail gfs2_withdraw_acknowledged "$(pnfsctl -j fs show 2>&1 | head -c 400)"
fi

# ---- systemctl stop: clean, in time; its log in the journal (nfsd keeps running; its
# client unmounted first, so that its record's removal is answered)
timeout 60 umount /mnt/nfs 2>/dev/null || timeout 20 umount -f /mnt/nfs 2>/dev/null
t0=$SECONDS
systemctl stop pnfs-controld
res=$(systemctl show -p Result --value pnfs-controld)
code=$(systemctl show -p ExecMainStatus --value pnfs-controld)
if [ "$res" = success ] && [ "$code" = 0 ] && ! pgrep -x pnfs_controld >/dev/null; then
	pass systemctl_stop_clean
else
	fail systemctl_stop_clean "Result=$res ExecMainStatus=$code pids: $(pgrep -x pnfs_controld)"
fi
info "stopped in $((SECONDS - t0)) s"
J=$(journalctl -u pnfs-controld --no-pager -o cat)
if echo "$J" | grep -q 'capabilities dropped' && echo "$J" | grep -qi 'cld'; then
	pass journal_has_daemon_log
else
	fail journal_has_daemon_log "$(echo "$J" | tail -5)"
fi
if echo "$J" | grep -q $'\e\['; then
	fail journal_plain_text "ANSI colour codes in the journal (the unit sets NO_COLOR=1)"
else
	pass journal_plain_text
fi

# ---- apt remove: configuration and state stay; the running daemon is stopped first
systemctl stop nfs-server
systemctl start pnfs-controld
until_ok 30 pnfsctl ping -c 1
if apt-get remove -y -q pnfs-controld pnfs-shim-dkms >/tmp/apt-remove.log 2>&1; then
	pass apt_remove
else
	fail apt_remove "$(tail -10 /tmp/apt-remove.log)"
fi
if ! pgrep -x pnfs_controld >/dev/null && ! systemctl -q is-active pnfs-controld && [ ! -e /usr/sbin/pnfs_controld ]; then
	pass remove_stops_daemon
else
	fail remove_stops_daemon "still running: $(pgrep -x pnfs_controld)"
fi
st=$(dpkg-query -W -f='${db:Status-Abbrev}' pnfs-controld 2>&1)
if [ "${st% }" = rc ] && grep -q '^cld_pipe = ' /etc/pnfs-controld.toml && [ -n "$(ls -A /var/lib/pnfs-controld)" ]; then
	pass remove_keeps_conffile_and_state
else
	fail remove_keeps_conffile_and_state "status '$st'; $(ls -la /etc/pnfs-controld.toml /var/lib/pnfs-controld 2>&1 | head -5)"
fi
if [ ! -e "/lib/modules/$KABI/updates/dkms/pnfs_shim.ko" ] && [ ! -e /var/lib/dkms/pnfs-shim ] && [ -z "$(ls -d /usr/src/pnfs-shim-* 2>/dev/null)" ]; then
	pass remove_unbuilds_dkms_module
else
	fail remove_unbuilds_dkms_module "$(ls -d /lib/modules/$KABI/updates/dkms/pnfs_shim.ko /var/lib/dkms/pnfs-shim /usr/src/pnfs-shim-* 2>&1)"
fi

# ---- apt purge: no file of the packages left, checked by listing
if apt-get purge -y -q pnfs-controld pnfs-shim-dkms >/tmp/apt-purge.log 2>&1; then
	pass apt_purge
else
	fail apt_purge "$(tail -10 /tmp/apt-purge.log)"
fi
left=$(while read -r p; do
	[ "$p" = /. ] && continue
	[ -e "$p" ] || continue
	# Directories shared with other packages (/usr/bin, /etc, ...) stay.
	if [ -d "$p" ] && [ -n "$(dpkg -S "$p" 2>/dev/null)" ]; then continue; fi
	echo "$p"
done </tmp/pkg-files.txt)
found=$(find / -xdev \( -path /opt/pnfs -o -path /proc -o -path /sys \) -prune -o \
	-iname '*pnfs*' ! -path '/usr/src/linux-headers-*' ! -name '*pnfs-pkgtest*' -print 2>/dev/null)
found=$(echo "$found"; find /run /dev/shm -iname '*pnfs*' ! -name '*pnfs-pkgtest*' 2>/dev/null)
found=$(echo "$found" | sed '/^$/d')
echo "---- after purge: package paths left: ${left:-none}; files named *pnfs* outside /opt/pnfs: ${found:-none}"
if [ -z "$left" ] && [ -z "$found" ] && [ "$(dpkg-query -W -f='${db:Status-Abbrev}' pnfs-controld 2>/dev/null)" = "" ]; then
	pass purge_leaves_nothing
else
	fail purge_leaves_nothing "left: $left $found"
fi
finish
