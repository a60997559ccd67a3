#!/bin/bash
# The packages lane's guest side (tests/vm/packages.sh): run by the unit pnfs-pkgtest.service
# in a Debian guest booted with systemd as init, no network. Installs the .debs in
# /opt/pnfs/debs as an administrator would, runs the daemon under its unit and checks
# remove and purge. PASS/FAIL lines between PKG-VM-BEGIN and PKG-VM-END on the serial
# console, then power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive
exec >/dev/ttyS0 2>&1
echo PKG-VM-BEGIN
CHECK_PREFIX=pkg_
. /opt/pnfs/guestlib.sh
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
guest_watchdog "${PKG_GUEST_TIMEOUT:-1000}"
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

# ---- pnfs-nfsd-dkms (with pnfs-shim-dkms and linux-source-6.1), installed with apt in a
# chroot of this image on the host, where DKMS built them for this kernel (tests/vm/packages.sh
# says why): modprobe finds DKMS's nfsd.ko and pnfs_shim_ff.ko, built for this kernel
NV=$(dpkg-query -W -f='${Version}' pnfs-nfsd-dkms 2>/dev/null)
KVER=$(dpkg-query -W -f='${Version}' "linux-headers-$KABI" 2>/dev/null)
U=/lib/modules/$KABI/updates/dkms
nko=$(modinfo -n nfsd 2>&1) fko=$(modinfo -n pnfs_shim_ff 2>&1)
nvm=$(modinfo -F vermagic nfsd 2>&1) fvm=$(modinfo -F vermagic pnfs_shim_ff 2>&1)
nst=$(dkms status pnfs-nfsd 2>/dev/null)
if [ "$nko" = "$U/nfsd.ko" ] && [ "$fko" = "$U/pnfs_shim_ff.ko" ] && [ "${nvm%% *}" = "$KABI" ] &&
	[ "${fvm%% *}" = "$KABI" ] && echo "$nst" | grep -q "^pnfs-nfsd/$NV, $KABI, x86_64: installed"; then
	pass nfsd_dkms_modules_for_this_kernel "modinfo -n nfsd: $nko, vermagic $nvm; pnfs_shim_ff: $fko; $nst"
else
	fail nfsd_dkms_modules_for_this_kernel "modinfo -n nfsd: $nko ($nvm); pnfs_shim_ff: $fko ($fvm); dkms status: $nst"
fi
# The version rule: the build's check passes with linux-source-6.1 at the kernel's version,
# and fails, naming both versions and the fix, when dpkg reports another version (a
# dpkg-query in front of the real one on PATH answers 6.1.999-1 for linux-source-6.1).
B=/usr/src/pnfs-nfsd-$NV/pnfs-nfsd-build
mkdir -p /tmp/fakebin
cat >/tmp/fakebin/dpkg-query <<'FAKE'
#!/bin/sh
case " $* " in *" linux-source-6.1 "*) printf 'ii |6.1.999-1'; exit 0 ;; esac
exec /usr/bin/dpkg-query "$@"
FAKE
chmod 755 /tmp/fakebin/dpkg-query
good=$("$B" check "$KABI" 2>&1)
grc=$?
bad=$(PATH=/tmp/fakebin:$PATH "$B" check "$KABI" 2>&1)
brc=$?
info "check with linux-source-6.1 $KVER: exit $grc: $good"
info "check with linux-source-6.1 6.1.999-1 (faked): exit $brc: $bad"
if [ $grc = 0 ] && [ -n "$KVER" ] && [ $brc = 1 ] &&
	echo "$bad" | grep -qF "linux-source-6.1 is version 6.1.999-1 but kernel $KABI is version $KVER" &&
	echo "$bad" | grep -qF "Fix: apt install linux-source-6.1=$KVER"; then
	pass nfsd_dkms_version_check "exit $grc at $KVER; exit $brc at 6.1.999-1 with both versions and the fix"
else
	fail nfsd_dkms_version_check "at $KVER: exit $grc; faked 6.1.999-1: exit $brc: $bad"
fi
# The same through DKMS (a copy of the sources as version 0.0.0-check): dkms build fails,
# and the message is on its stderr, which apt shows (the postinst drops dkms's stdout).
cp -a "/usr/src/pnfs-nfsd-$NV" /usr/src/pnfs-nfsd-0.0.0-check
sed -i 's/^PACKAGE_VERSION=.*/PACKAGE_VERSION="0.0.0-check"/' /usr/src/pnfs-nfsd-0.0.0-check/dkms.conf
dkms add pnfs-nfsd/0.0.0-check >/dev/null 2>&1
PATH=/tmp/fakebin:$PATH dkms build pnfs-nfsd/0.0.0-check -k "$KABI" >/tmp/dkms-check.out 2>/tmp/dkms-check.err
drc=$?
info "dkms build with linux-source-6.1 faked at 6.1.999-1: exit $drc; stderr: $(tr '\n' ' ' </tmp/dkms-check.err | head -c 600)"
if [ $drc != 0 ] && grep -qF "linux-source-6.1 is version 6.1.999-1 but kernel $KABI is version $KVER" /tmp/dkms-check.err &&
	grep -qF "apt install linux-source-6.1=$KVER" /tmp/dkms-check.err; then
	pass nfsd_dkms_build_fails_clearly_on_version_mismatch "dkms build exit $drc"
else
	fail nfsd_dkms_build_fails_clearly_on_version_mismatch "dkms build exit $drc; $(tail -5 /tmp/dkms-check.err)"
fi
dkms remove pnfs-nfsd/0.0.0-check --all >/dev/null 2>&1
rm -rf /usr/src/pnfs-nfsd-0.0.0-check /var/lib/dkms/pnfs-nfsd/0.0.0-check

# ---- pnfs-shim-dkms: DKMS builds pnfs_shim.ko for the running kernel in this guest
# (reinstalled with apt: its prerm removes the chroot's build, its postinst builds again),
# and it loads
t0=$SECONDS
if apt-get install -y -q --reinstall "$DEBS"/pnfs-shim-dkms_*_all.deb >/tmp/apt-dkms.log 2>&1; then
	pass dkms_package_installs
else
	fail dkms_package_installs "$(tail -15 /tmp/apt-dkms.log)"
	cat /var/lib/dkms/pnfs-shim/*/build/make.log 2>/dev/null | tail -20
	finish
fi
info "apt install of pnfs-shim-dkms (DKMS build) took $((SECONDS - t0)) s"
st=$(dkms status pnfs-shim 2>&1)
ko=$(modinfo -n pnfs_shim 2>/dev/null)
if echo "$st" | grep -q "pnfs-shim/.*, $KABI, x86_64: installed" && [ "$ko" = "/lib/modules/$KABI/updates/dkms/pnfs_shim.ko" ] &&
	grep -q "Building initial module for $KABI" /tmp/apt-dkms.log; then
	pass dkms_built_for_running_kernel
else
	fail dkms_built_for_running_kernel "dkms status: $st; modinfo: $ko"
fi
if modprobe pnfs_shim && [ -d /sys/module/pnfs_shim ]; then
	pass module_loads
else
	fail module_loads "$(dmesg | tail -5)"
fi
# DKMS's nfsd (it exports nfsd_ff_register_hooks; out of tree: taint O) and pnfs_shim_ff on
# top of it and pnfs_shim
if modprobe pnfs_shim_ff && [ -d /sys/module/pnfs_shim_ff ] && grep -qw nfsd_ff_register_hooks /proc/kallsyms &&
	[[ $(cat /sys/module/nfsd/taint) == *O* ]]; then
	pass nfsd_dkms_modules_load "$(grep -E '^(nfsd|pnfs_shim|pnfs_shim_ff) ' /proc/modules | cut -d' ' -f1,4 | tr '\n' ' ')nfsd taint $(cat /sys/module/nfsd/taint)"
else
	fail nfsd_dkms_modules_load "$(grep -E '^(nfsd|pnfs_shim|pnfs_shim_ff) ' /proc/modules | tr '\n' ' '); nfsd taint $(cat /sys/module/nfsd/taint 2>&1); $(dmesg | tail -5)"
fi

# ---- pnfs-controld: installed from the .deb with apt (dependencies from the image)
t0=$SECONDS
if apt-get install -y -q "$DEBS"/pnfs-controld_*_amd64.deb >/tmp/apt-daemon.log 2>&1; then
	pass daemon_package_installs
else
	fail daemon_package_installs "$(tail -15 /tmp/apt-daemon.log)"
	finish
fi
dpkg -L pnfs-controld pnfs-shim-dkms pnfs-nfsd-dkms | sort -u >/tmp/pkg-files.txt
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
# nfsd with v4.1+ and v3 (the flexfile data server, the daemon's address below, speaks
# NFSv3), short lease and grace (nfs-utils' /etc/nfs.conf).
printf '%s\n' '[nfsd]' 'vers3=y' 'vers4.0=n' 'grace-time=10' 'lease-time=10' >/etc/nfs.conf.d/pkgtest.conf

# ---- the administrator's configuration: this node, the corosync engine, the module,
# the cld pipe in place of nfsdcld, this node's data server address (127.0.0.2, nfsd's port)
systemctl mask nfsdcld.service >/dev/null 2>&1
sed -i -e 's/^#engine = .*/engine = "corosync"/' -e 's/^#socket = .*/socket = "generic"/' \
	-e 's/^#addrs = .*/addrs = [{ netid = "tcp", uaddr = "127.0.0.2.8.1" }]/' \
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
# DKMS's nfsd has the flexfile layout server: the GFS2 export with `pnfs` offers
# LAYOUT_FLEX_FILES to an NFSv4.1 client (Debian's nfsd offers no layout type for GFS2);
# the daemon, registered through pnfs_shim_ff, is asked for the layouts. Then the export
# as /etc/exports has it again, unmounted before the daemon stops.
mkdir -p /mnt/ff
exportfs -o rw,sync,no_root_squash,no_subtree_check,fsid=1,pnfs '*:/srv/gfs2'
lg0=$(pnfsctl stats show 2>/dev/null | awk '$1 == "pnfsd" && $2 == "layout-get" && $3 == "received" {print $4}')
if timeout 120 mount -t nfs4 -o vers=4.1,proto=tcp,soft,timeo=100 127.0.0.1:/srv/gfs2 /mnt/ff; then
	head -c 1M /dev/urandom >/tmp/ffdata
	timeout 60 cp /tmp/ffdata /mnt/ff/ffdata && timeout 60 sync
	echo 3 >/proc/sys/vm/drop_caches
	ms=$(awk '/mounted on \/mnt\/ff with fstype nfs4/{p=1; next} p&&/^device /{p=0} p' /proc/self/mountstats)
	ffm=$(echo "$ms" | grep -o 'pnfs=[A-Za-z_ ]*' | head -1)
	lg=$(echo "$ms" | awk '$1 == "LAYOUTGET:" {print $2}')
	lg1=$(pnfsctl stats show 2>/dev/null | awk '$1 == "pnfsd" && $2 == "layout-get" && $3 == "received" {print $4}')
	ds=$(ss -tn | grep -c ' 127.0.0.2:2049 ' || true)
	info "flexfile export: mountstats $ffm, client LAYOUTGET ${lg:-?}; daemon layout-get received ${lg0:-?} -> ${lg1:-?}; connections to 127.0.0.2:2049: $ds; pnfs_shim_ff: $(cd /sys/module/pnfs_shim_ff/parameters 2>/dev/null && grep -H . * 2>/dev/null | tr '\n' ' ')"
	if [ "$ffm" = pnfs=LAYOUT_FLEX_FILES ] && [ "${lg:-0}" -gt 0 ] && [ "${lg1:-0}" -gt "${lg0:-0}" ] && [ "$ds" -gt 0 ] &&
		timeout 60 cmp -s /tmp/ffdata /mnt/ff/ffdata && cmp -s /tmp/ffdata /srv/gfs2/ffdata; then
		pass nfsd_dkms_serves_flexfile_layouts "mountstats: $ffm; client LAYOUTGET $lg, daemon layout-get +$((lg1 - lg0)), $ds connections to its data server 127.0.0.2:2049; 1 MiB written through the mount read back and on GFS2"
	else
		fail nfsd_dkms_serves_flexfile_layouts "mountstats: ${ffm:-no pnfs= line}; client LAYOUTGET ${lg:-?}, daemon layout-get ${lg0:-0} -> ${lg1:-?}, connections to 127.0.0.2:2049: $ds; or cmp through the mount / on GFS2 failed"
	fi
	timeout 60 umount /mnt/ff 2>/dev/null || timeout 20 umount -f /mnt/ff 2>/dev/null
else
	fail nfsd_dkms_serves_flexfile_layouts "NFSv4.1 mount of the pnfs export failed"
fi
exportfs -r
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
if apt-get remove -y -q pnfs-controld pnfs-nfsd-dkms pnfs-shim-dkms >/tmp/apt-remove.log 2>&1; then
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
if [ -z "$(ls -A "$U" 2>/dev/null)" ] && [ ! -e /var/lib/dkms/pnfs-shim ] && [ ! -e /var/lib/dkms/pnfs-nfsd ] &&
	[ -z "$(ls -d /usr/src/pnfs-shim-* /usr/src/pnfs-nfsd-* 2>/dev/null)" ] &&
	[ "$(modinfo -n nfsd 2>&1)" = "/lib/modules/$KABI/kernel/fs/nfsd/nfsd.ko" ]; then
	pass remove_unbuilds_dkms_module "modinfo -n nfsd: $(modinfo -n nfsd 2>&1)"
else
	fail remove_unbuilds_dkms_module "$(ls -d $U/* /var/lib/dkms/pnfs-shim /var/lib/dkms/pnfs-nfsd /usr/src/pnfs-shim-* /usr/src/pnfs-nfsd-* 2>&1); modinfo -n nfsd: $(modinfo -n nfsd 2>&1)"
fi

# pnfs-nfsd-dkms's kernel hooks are conffiles: after remove they stay (until purge), and a
# kernel installed meanwhile runs them: they must do nothing and succeed.
hk=/etc/kernel/header_postinst.d/pnfs-nfsd-dkms
hout=$("$hk" "$KABI" 2>&1)
hrc=$?
if [ -x "$hk" ] && [ -x /etc/kernel/postinst.d/pnfs-nfsd-dkms ] && [ $hrc = 0 ] && [ -z "$hout" ]; then
	pass remove_leaves_inert_kernel_hooks "conffiles kept; $hk $KABI: exit 0, silent"
else
	fail remove_leaves_inert_kernel_hooks "$(ls -l /etc/kernel/*/pnfs-nfsd-dkms 2>&1 | tr '\n' ' '); exit $hrc: $hout"
fi

# ---- apt purge: no file of the packages left, checked by listing
if apt-get purge -y -q pnfs-controld pnfs-nfsd-dkms pnfs-shim-dkms >/tmp/apt-purge.log 2>&1; then
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
