//! GFS2's userland companion: what a real, unpatched GFS2 tells userland by kobject
//! uevents (NETLINK_KOBJECT_UEVENT, `SUBSYSTEM=gfs2`, one kobject per filesystem at
//! `/fs/gfs2/<cluster:fsname>`), kept as the state of each filesystem for `pnfsctl fs show`,
//! and the one answer GFS2 waits for: the acknowledgement of a withdraw, written to
//! `/sys/fs/gfs2/<table>/lock_module/withdraw` (gfs2-utils' udev rule does the same).
//!
//! The events (fs/gfs2/sys.c, ops_fstype.c, lock_dlm.c of Linux 6.1): `add` at mount
//! (LOCKTABLE, LOCKPROTO, UUID, RDONLY, SPECTATOR), `change` with `JID=n RECOVERY=Done|Failed`
//! after a journal recovery, `change` with `FIRSTMOUNT=Done`, `online`, `offline` on a
//! withdraw, `remove` at unmount; every one with JOURNALID once the journal is known.
//! Only lock_dlm waits for the withdraw acknowledgement (and only it accepts one: lock_nolock
//! answers EINVAL), so the acknowledgement is written for lock_dlm filesystems only.
//! DLM lockspace events (`SUBSYSTEM=dlm`) are counted, never answered: dlm_controld owns
//! them.
//!
//! Only datagrams from the kernel (sender port 0) are taken: any local process may send to
//! the uevent group, and a forged `offline` must not make us acknowledge a withdraw.

use pnfs_netlink::socket::{NlSocket, SocketOptions};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tokio::sync::mpsc;

/// The netlink protocol of kobject uevents.
pub const NETLINK_KOBJECT_UEVENT: isize = 15;
/// The multicast group the kernel sends uevents to (group 2 is udevd's re-broadcast).
pub const KERNEL_GROUP: u32 = 1;
/// Longest uevent the kernel sends (UEVENT_BUFFER_SIZE) plus its header.
pub const MAX_UEVENT: usize = 2048 + 512;
/// Recovery results kept per filesystem.
const MAX_RECOVERIES: usize = 16;
/// Unmounted filesystems kept for `fs show` before the oldest is forgotten.
const MAX_GONE: usize = 32;

/// Why a datagram is not a uevent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UeventError {
    #[error("empty datagram")]
    Empty,
    #[error("udevd's re-broadcast (libudev header), not the kernel's format")]
    Libudev,
    #[error("header is not ACTION@DEVPATH")]
    Header,
    #[error("not UTF-8")]
    Utf8,
    #[error("ACTION/DEVPATH variables disagree with the header")]
    Mismatch,
}

/// One kernel uevent, borrowed from its datagram: `ACTION@DEVPATH\0KEY=VALUE\0...`.
#[derive(Debug, Clone, Copy)]
pub struct Uevent<'a> {
    pub action: &'a str,
    pub devpath: &'a str,
    vars: &'a [u8],
}

impl<'a> Uevent<'a> {
    /// Parse a datagram. Variables without `=` are skipped; a non-UTF-8 variable is an
    /// error (the kernel writes ASCII).
    pub fn parse(buf: &'a [u8]) -> Result<Uevent<'a>, UeventError> {
        if buf.is_empty() {
            return Err(UeventError::Empty);
        }
        if buf.starts_with(b"libudev\0") {
            return Err(UeventError::Libudev);
        }
        let (head, vars) = match buf.iter().position(|&b| b == 0) {
            Some(i) => (&buf[..i], &buf[i + 1..]),
            None => (buf, &buf[buf.len()..]),
        };
        let head = std::str::from_utf8(head).map_err(|_| UeventError::Utf8)?;
        let (action, devpath) = head.split_once('@').ok_or(UeventError::Header)?;
        if action.is_empty() || !devpath.starts_with('/') {
            return Err(UeventError::Header);
        }
        let ev = Uevent {
            action,
            devpath,
            vars,
        };
        for item in vars.split(|&b| b == 0) {
            std::str::from_utf8(item).map_err(|_| UeventError::Utf8)?;
        }
        if ev.get("ACTION").is_some_and(|a| a != action)
            || ev.get("DEVPATH").is_some_and(|d| d != devpath)
        {
            return Err(UeventError::Mismatch);
        }
        Ok(ev)
    }

    /// The variables, in the order sent.
    pub fn vars(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.vars.split(|&b| b == 0).filter_map(|item| {
            // Checked in parse().
            let s = std::str::from_utf8(item).ok()?;
            s.split_once('=')
        })
    }

    /// One variable's value.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.vars().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The subsystem (`SUBSYSTEM=`), empty if absent.
    pub fn subsystem(&self) -> &'a str {
        self.get("SUBSYSTEM").unwrap_or("")
    }

    /// `JID=n RECOVERY=Done|Failed` (GFS2's `change` after a journal recovery): the
    /// journal and how its recovery went.
    pub fn recovery(&self) -> Option<(u32, &'a str)> {
        Some((self.get("JID")?.parse().ok()?, self.get("RECOVERY")?))
    }
}

/// One journal recovery GFS2 reported.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Recovery {
    pub jid: u32,
    pub result: String,
}

/// What the uevents said about one GFS2 filesystem.
#[derive(Debug, Clone, Serialize, Default)]
pub struct FsState {
    pub table: String,
    pub lockproto: String,
    pub uuid: String,
    pub jid: Option<u32>,
    pub rdonly: bool,
    pub spectator: bool,
    pub mounted: bool,
    pub online: bool,
    pub first_mount_done: bool,
    pub recoveries: Vec<Recovery>,
    pub withdrawn: bool,
    /// What was done about the withdraw: `acknowledged`, `not needed (...)`, `failed: ...`.
    pub withdraw_ack: Option<String>,
    pub events: u64,
    pub last_event: String,
}

/// Something the daemon must do for GFS2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write `1` to this `lock_module/withdraw` file: GFS2 (lock_dlm) waits for it.
    AckWithdraw { table: String, path: PathBuf },
}

/// Every GFS2 filesystem the uevents told us about, and the DLM events seen.
#[derive(Debug)]
pub struct Gfs2View {
    sysfs: PathBuf,
    fs: BTreeMap<String, FsState>,
    /// Unmounted tables, oldest first (bounded by MAX_GONE).
    gone: Vec<String>,
    dlm_events: u64,
    ignored: u64,
    /// Journal recoveries GFS2 reported on any node (newest last, bounded).
    cluster_recoveries: Vec<ClusterRecovery>,
}

/// A journal recovery a node's GFS2 reported (its daemon told the cluster).
#[derive(Debug, Clone, Serialize)]
pub struct ClusterRecovery {
    pub node: u32,
    pub table: String,
    pub jid: u32,
    pub result: String,
}

/// Cluster-wide recoveries kept for `pnfsctl fs show`.
const MAX_CLUSTER_RECOVERIES: usize = 64;

impl Gfs2View {
    /// A view whose acknowledgements go under `sysfs` (`/sys` in production).
    pub fn new(sysfs: impl Into<PathBuf>) -> Gfs2View {
        Gfs2View {
            sysfs: sysfs.into(),
            fs: BTreeMap::new(),
            gone: Vec::new(),
            dlm_events: 0,
            ignored: 0,
            cluster_recoveries: Vec::new(),
        }
    }

    /// A node's journal recovery result, as its daemon told the cluster.
    pub fn cluster_recovery(&mut self, r: ClusterRecovery) -> String {
        let line = format!(
            "gfs2 {}: node {} reports journal {} recovery {}",
            r.table, r.node, r.jid, r.result
        );
        if self.cluster_recoveries.len() == MAX_CLUSTER_RECOVERIES {
            self.cluster_recoveries.remove(0);
        }
        self.cluster_recoveries.push(r);
        line
    }

    /// Take one uevent. Returns a line for the debug ring and what to do, if anything.
    pub fn apply(&mut self, ev: &Uevent<'_>) -> (Option<String>, Option<Action>) {
        match ev.subsystem() {
            "gfs2" => {}
            "dlm" => {
                self.dlm_events += 1;
                let line = format!(
                    "dlm uevent {} {} (observed; dlm_controld answers it)",
                    ev.action, ev.devpath
                );
                return (Some(line), None);
            }
            _ => {
                self.ignored += 1;
                return (None, None);
            }
        }
        // The kobject is /fs/gfs2/<table>: one path component, the kernel's sd_table_name.
        let Some(table) = ev
            .devpath
            .strip_prefix("/fs/gfs2/")
            .filter(|t| !t.is_empty() && !t.contains('/') && *t != "." && *t != "..")
        else {
            self.ignored += 1;
            return (
                Some(format!(
                    "gfs2 uevent with unexpected devpath {:?} ignored",
                    ev.devpath
                )),
                None,
            );
        };
        if ev.action == "add" {
            // A new mount of this table starts a new record.
            self.gone.retain(|t| t != table);
            self.fs.insert(
                table.to_string(),
                FsState {
                    table: table.to_string(),
                    mounted: true,
                    ..FsState::default()
                },
            );
        }
        let st = self.fs.entry(table.to_string()).or_insert_with(|| FsState {
            table: table.to_string(),
            mounted: true,
            ..FsState::default()
        });
        st.events += 1;
        st.last_event = ev.action.to_string();
        if let Some(v) = ev.get("LOCKPROTO") {
            st.lockproto = v.to_string();
        }
        if let Some(v) = ev.get("LOCKTABLE") {
            // The same as the kobject name; keep the kernel's spelling if it differs.
            if v != table {
                st.table = v.to_string();
            }
        }
        if let Some(v) = ev.get("UUID") {
            st.uuid = v.to_string();
        }
        if let Some(j) = ev.get("JOURNALID").and_then(|v| v.parse().ok()) {
            st.jid = Some(j);
        }
        if let Some(v) = ev.get("RDONLY") {
            st.rdonly = v == "1";
        }
        if let Some(v) = ev.get("SPECTATOR") {
            st.spectator = v == "1";
        }
        let mut action = None;
        let line = match ev.action {
            "add" => format!(
                "gfs2 {table}: mounted (lockproto {}, rdonly {}, spectator {})",
                st.lockproto, st.rdonly, st.spectator
            ),
            "online" => {
                st.online = true;
                format!("gfs2 {table}: online")
            }
            "change" => {
                let mut what = Vec::new();
                if ev.get("FIRSTMOUNT") == Some("Done") {
                    st.first_mount_done = true;
                    what.push("first mount done".to_string());
                }
                if let Some((jid, res)) = ev.recovery() {
                    if st.recoveries.len() == MAX_RECOVERIES {
                        st.recoveries.remove(0);
                    }
                    st.recoveries.push(Recovery {
                        jid,
                        result: res.to_string(),
                    });
                    what.push(format!("journal {jid} recovery {res}"));
                }
                if what.is_empty() {
                    what.push("change".into());
                }
                format!("gfs2 {table}: {}", what.join(", "))
            }
            "offline" => {
                st.online = false;
                st.withdrawn = true;
                if st.lockproto == "lock_dlm" {
                    action = Some(Action::AckWithdraw {
                        table: table.to_string(),
                        path: self
                            .sysfs
                            .join("fs/gfs2")
                            .join(table)
                            .join("lock_module/withdraw"),
                    });
                } else {
                    st.withdraw_ack = Some(format!(
                        "not needed ({} does not wait for one)",
                        if st.lockproto.is_empty() {
                            "lock protocol unknown"
                        } else {
                            &st.lockproto
                        }
                    ));
                }
                format!("gfs2 {table}: WITHDRAWN (lockproto {})", st.lockproto)
            }
            "remove" => {
                st.mounted = false;
                st.online = false;
                self.gone.push(table.to_string());
                if self.gone.len() > MAX_GONE {
                    let old = self.gone.remove(0);
                    self.fs.remove(&old);
                }
                format!("gfs2 {table}: unmounted")
            }
            other => format!("gfs2 {table}: {other}"),
        };
        (Some(line), action)
    }

    /// Do an action (a sysfs write: quick, in memory) and record its outcome.
    pub fn act(&mut self, a: &Action) -> String {
        match a {
            Action::AckWithdraw { table, path } => {
                let r = std::fs::write(path, b"1\n");
                let outcome = match &r {
                    Ok(()) => "acknowledged".to_string(),
                    Err(e) => format!("failed: {}: {e}", path.display()),
                };
                if let Some(st) = self.fs.get_mut(table) {
                    st.withdraw_ack = Some(outcome.clone());
                }
                format!("gfs2 {table}: withdraw {outcome}")
            }
        }
    }

    /// For `pnfsctl fs show`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "filesystems": self.fs.values().collect::<Vec<_>>(),
            "cluster_recoveries": self.cluster_recoveries,
            "dlm_events": self.dlm_events,
            "ignored_events": self.ignored,
        })
    }

    /// The state of one filesystem.
    pub fn get(&self, table: &str) -> Option<&FsState> {
        self.fs.get(table)
    }
}

/// Listen to the kernel's uevents and pass GFS2's and DLM's (whole datagrams) to the
/// daemon. Other subsystems are dropped here. A full queue drops the event and counts it
/// (uevents are rare; the daemon is never blocked by them).
pub fn spawn_watcher(tx: mpsc::Sender<Vec<u8>>) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let sock = NlSocket::open(NETLINK_KOBJECT_UEVENT, &SocketOptions::default())
        .map_err(std::io::Error::other)?;
    sock.join_group(KERNEL_GROUP)
        .map_err(std::io::Error::other)?;
    Ok(tokio::spawn(async move {
        let mut buf = vec![0u8; MAX_UEVENT];
        let mut dropped = 0u64;
        loop {
            let (n, from) = match sock.recv_from(&mut buf).await {
                Ok(r) => r,
                Err(pnfs_netlink::NlError::Overrun) => {
                    tracing::warn!("uevent socket overran: some GFS2 events were lost");
                    continue;
                }
                Err(e) => {
                    tracing::warn!("uevent socket: {e}; GFS2 events no longer watched");
                    return;
                }
            };
            if from.port != 0 {
                tracing::debug!(port = from.port, "uevent not from the kernel ignored");
                continue;
            }
            let keep = Uevent::parse(&buf[..n])
                .map(|e| matches!(e.subsystem(), "gfs2" | "dlm"))
                .unwrap_or(false);
            if keep && tx.try_send(buf[..n].to_vec()).is_err() {
                if tx.is_closed() {
                    return;
                }
                dropped += 1;
                tracing::warn!(dropped, "daemon busy: GFS2 uevent dropped");
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(action: &str, table: &str, vars: &[&str]) -> Vec<u8> {
        let mut b = format!("{action}@/fs/gfs2/{table}\0ACTION={action}\0DEVPATH=/fs/gfs2/{table}\0SUBSYSTEM=gfs2\0SEQNUM=7\0").into_bytes();
        for v in vars {
            b.extend_from_slice(v.as_bytes());
            b.push(0);
        }
        b
    }

    #[test]
    fn parses_a_kernel_uevent() {
        let b = ev(
            "add",
            "test:fs0",
            &["LOCKTABLE=test:fs0", "LOCKPROTO=lock_nolock"],
        );
        let e = Uevent::parse(&b).unwrap();
        assert_eq!(e.action, "add");
        assert_eq!(e.devpath, "/fs/gfs2/test:fs0");
        assert_eq!(e.subsystem(), "gfs2");
        assert_eq!(e.get("LOCKPROTO"), Some("lock_nolock"));
        assert_eq!(e.get("NOPE"), None);
    }

    #[test]
    fn rejects_what_is_not_a_kernel_uevent() {
        assert_eq!(Uevent::parse(b"").unwrap_err(), UeventError::Empty);
        assert_eq!(
            Uevent::parse(b"libudev\0xxxx").unwrap_err(),
            UeventError::Libudev
        );
        assert_eq!(Uevent::parse(b"add/fs\0").unwrap_err(), UeventError::Header);
        assert_eq!(Uevent::parse(b"@/fs\0").unwrap_err(), UeventError::Header);
        assert_eq!(Uevent::parse(b"add@fs\0").unwrap_err(), UeventError::Header);
        assert_eq!(
            Uevent::parse(b"add@/a\0K=\xff\0").unwrap_err(),
            UeventError::Utf8
        );
        assert_eq!(
            Uevent::parse(b"add@/a\0ACTION=remove\0").unwrap_err(),
            UeventError::Mismatch
        );
    }

    #[test]
    fn a_mount_and_its_life_as_gfs2_reports_it() {
        // The sequence seen from a real lock_nolock mount in Debian's 6.1 (see
        // ../shared/notes/real-nfsd-gfs2-vm.md), then a withdraw and the unmount.
        let mut v = Gfs2View::new("/nonexistent");
        let t = "test:fs0";
        let base = ["LOCKTABLE=test:fs0", "LOCKPROTO=lock_nolock", "UUID=ab-cd"];
        let mut add = base.to_vec();
        add.extend(["RDONLY=0", "SPECTATOR=0"]);
        for (action, extra) in [
            ("add", add.clone()),
            (
                "change",
                [&base[..], &["JOURNALID=0", "JID=0", "RECOVERY=Done"]].concat(),
            ),
            (
                "change",
                [&base[..], &["JOURNALID=0", "FIRSTMOUNT=Done"]].concat(),
            ),
            (
                "online",
                [&base[..], &["JOURNALID=0", "RDONLY=0", "SPECTATOR=0"]].concat(),
            ),
        ] {
            let b = ev(action, t, &extra);
            let (line, act) = v.apply(&Uevent::parse(&b).unwrap());
            assert!(line.is_some());
            assert_eq!(act, None);
        }
        let s = v.get(t).unwrap();
        assert!(s.mounted && s.online && s.first_mount_done && !s.withdrawn);
        assert_eq!(s.jid, Some(0));
        assert_eq!(s.lockproto, "lock_nolock");
        assert_eq!(s.uuid, "ab-cd");
        assert_eq!(
            s.recoveries,
            vec![Recovery {
                jid: 0,
                result: "Done".into()
            }]
        );
        // lock_nolock does not wait for (nor accept) an acknowledgement.
        let b = ev("offline", t, &base);
        let (_, act) = v.apply(&Uevent::parse(&b).unwrap());
        assert_eq!(act, None);
        let s = v.get(t).unwrap();
        assert!(s.withdrawn && !s.online);
        assert!(s.withdraw_ack.as_deref().unwrap().starts_with("not needed"));
        let b = ev("remove", t, &base);
        v.apply(&Uevent::parse(&b).unwrap());
        assert!(!v.get(t).unwrap().mounted);
        assert_eq!(v.to_json()["filesystems"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_lock_dlm_withdraw_is_acknowledged_in_sysfs() {
        let dir = std::env::temp_dir().join(format!("pnfs-gfs2-{}", std::process::id()));
        let lm = dir.join("fs/gfs2/c:f/lock_module");
        std::fs::create_dir_all(&lm).unwrap();
        let mut v = Gfs2View::new(&dir);
        let base = ["LOCKTABLE=c:f", "LOCKPROTO=lock_dlm", "JOURNALID=1"];
        v.apply(&Uevent::parse(&ev("add", "c:f", &base)).unwrap());
        let (_, act) = v.apply(&Uevent::parse(&ev("offline", "c:f", &base)).unwrap());
        let act = act.expect("lock_dlm withdraw needs an ack");
        assert_eq!(
            act,
            Action::AckWithdraw {
                table: "c:f".into(),
                path: lm.join("withdraw")
            }
        );
        assert_eq!(v.act(&act), "gfs2 c:f: withdraw acknowledged");
        assert_eq!(std::fs::read(lm.join("withdraw")).unwrap(), b"1\n");
        assert_eq!(
            v.get("c:f").unwrap().withdraw_ack.as_deref(),
            Some("acknowledged")
        );
        // A failed write is recorded, not hidden.
        std::fs::remove_dir_all(&dir).unwrap();
        let out = v.act(&act);
        assert!(out.contains("failed"), "{out}");
    }

    #[test]
    fn other_subsystems_and_odd_paths_change_nothing() {
        let mut v = Gfs2View::new("/sys");
        let b = b"add@/devices/virtual/net/lo\0ACTION=add\0SUBSYSTEM=net\0";
        assert_eq!(v.apply(&Uevent::parse(b).unwrap()), (None, None));
        let b = b"offline@/fs/gfs2/../../etc\0SUBSYSTEM=gfs2\0LOCKPROTO=lock_dlm\0";
        let (line, act) = v.apply(&Uevent::parse(b).unwrap());
        assert!(line.unwrap().contains("unexpected devpath"));
        assert_eq!(act, None);
        let b = b"online@/kernel/dlm/ls1\0SUBSYSTEM=dlm\0LOCKSPACE=ls1\0";
        let (line, act) = v.apply(&Uevent::parse(b).unwrap());
        assert!(line.unwrap().contains("observed"));
        assert_eq!(act, None);
        assert_eq!(v.to_json()["filesystems"].as_array().unwrap().len(), 0);
        assert_eq!(v.to_json()["dlm_events"], 1);
    }

    #[test]
    fn unmounted_filesystems_are_bounded() {
        let mut v = Gfs2View::new("/sys");
        for i in 0..(MAX_GONE + 5) {
            let t = format!("c:f{i}");
            v.apply(&Uevent::parse(&ev("add", &t, &[])).unwrap());
            v.apply(&Uevent::parse(&ev("remove", &t, &[])).unwrap());
        }
        assert_eq!(v.fs.len(), MAX_GONE);
    }
}
