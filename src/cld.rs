//! nfsd's client-tracking upcall, served as nfs-utils' nfsdcld serves it: the rpc_pipefs
//! pipe `<pipefs>/nfsd/cld` (include/uapi/linux/nfsd/cld.h, fs/nfsd/nfs4recover.c).
//!
//! One `read()` returns one message, one `write()` answers one; a reply must be exactly
//! as long as the message it answers (1034 bytes for `struct cld_msg`, v1; 1067 for
//! `struct cld_msg_v2`), host byte order. nfsd asks:
//! - GetVersion (first, v1 framing): we answer 2 (SHA-256 principal hashes);
//! - GraceStart (once per nfsd start): one reply per reclaimable client with status
//!   -EINPROGRESS and the same xid, then the final status;
//! - Create (a client confirmed: record it durably before answering), Remove (expired),
//!   GraceDone (nfsd leaves grace after our answer), Check (v0 kernels only).
//!
//! **A message read but never answered blocks an nfsd thread forever** (the kernel has
//! no timeout once a message was read), so this side journals every message it read
//! (`cld-inflight.json`, fsync'd before the daemon sees it) and answers the journal
//! again after a restart; the kernel drops answers to xids it no longer waits for.
//!
//! [`ClientRecords`] are the durable records (epochs as nfsdcld keeps them: `current`,
//! `recovery` (0 = not in grace) and the clients recorded in each epoch).

#![warn(clippy::undocumented_unsafe_blocks)]

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

/// `struct cld_msg_hdr`.
pub const HDR_LEN: usize = 8;
/// `struct cld_msg` (v1).
pub const V1_LEN: usize = 1034;
/// `struct cld_msg_v2`.
pub const V2_LEN: usize = 1067;
/// NFS4_OPAQUE_LIMIT: longest client name.
pub const NAME_MAX: usize = 1024;
/// SHA256_DIGEST_SIZE: longest principal hash.
pub const PRINCHASH_MAX: usize = 32;
/// The upcall version we offer.
pub const VERSION: u8 = 2;
/// Offset of `cp_len` in a v2 message (after the header and `struct cld_name`).
const PRINCHASH_OFF: usize = HDR_LEN + 2 + NAME_MAX;

/// `enum cld_command`.
pub mod cmd {
    pub const CREATE: u8 = 0;
    pub const REMOVE: u8 = 1;
    pub const CHECK: u8 = 2;
    pub const GRACE_DONE: u8 = 3;
    pub const GRACE_START: u8 = 4;
    pub const GET_VERSION: u8 = 5;
}

/// The command's name, for logs.
pub fn cmd_name(c: u8) -> &'static str {
    match c {
        cmd::CREATE => "Create",
        cmd::REMOVE => "Remove",
        cmd::CHECK => "Check",
        cmd::GRACE_DONE => "GraceDone",
        cmd::GRACE_START => "GraceStart",
        cmd::GET_VERSION => "GetVersion",
        _ => "unknown",
    }
}

/// Why bytes from the pipe are not a message we can answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CldError {
    #[error("message of {0} bytes: a cld message has {V1_LEN} (v1) or {V2_LEN} (v2)")]
    Size(usize),
    #[error("upcall version {0} is newer than ours ({VERSION})")]
    Version(u8),
    #[error("client name length {0} is not within 1..={NAME_MAX}")]
    NameLen(usize),
    #[error("principal hash length {0} is over {PRINCHASH_MAX}")]
    PrincLen(usize),
}

/// One message from nfsd, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct CldMsg<'a>(&'a [u8]);

impl<'a> CldMsg<'a> {
    /// Check the size and version; names are checked by [`CldMsg::name`].
    pub fn parse(b: &'a [u8]) -> Result<CldMsg<'a>, CldError> {
        if b.len() != V1_LEN && b.len() != V2_LEN {
            return Err(CldError::Size(b.len()));
        }
        if b[0] > VERSION {
            return Err(CldError::Version(b[0]));
        }
        Ok(CldMsg(b))
    }
    /// A message of a valid size whatever its version (to answer one we do not speak).
    pub fn parse_any(b: &'a [u8]) -> CldMsg<'a> {
        debug_assert!(b.len() >= HDR_LEN);
        CldMsg(b)
    }
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }
    pub fn vers(&self) -> u8 {
        self.0[0]
    }
    pub fn cmd(&self) -> u8 {
        self.0[1]
    }
    pub fn status(&self) -> i16 {
        i16::from_ne_bytes([self.0[2], self.0[3]])
    }
    pub fn xid(&self) -> u32 {
        xid_of(self.0).expect("parsed messages hold a header")
    }
    /// Whether this is `struct cld_msg_v2` (with a principal hash).
    pub fn is_v2(&self) -> bool {
        self.0.len() == V2_LEN
    }
    /// The client name (`cm_name`, or `cm_clntinfo.cc_name` in v2: the same offset).
    pub fn name(&self) -> Result<&'a [u8], CldError> {
        let n = u16::from_ne_bytes([self.0[HDR_LEN], self.0[HDR_LEN + 1]]) as usize;
        if n == 0 || n > NAME_MAX {
            return Err(CldError::NameLen(n));
        }
        Ok(&self.0[HDR_LEN + 2..HDR_LEN + 2 + n])
    }
    /// The principal hash (v2 Create; empty otherwise).
    pub fn princhash(&self) -> Result<&'a [u8], CldError> {
        if !self.is_v2() {
            return Ok(&[]);
        }
        let n = self.0[PRINCHASH_OFF] as usize;
        if n > PRINCHASH_MAX {
            return Err(CldError::PrincLen(n));
        }
        Ok(&self.0[PRINCHASH_OFF + 1..PRINCHASH_OFF + 1 + n])
    }
}

/// The xid of any bytes long enough to hold the header.
pub fn xid_of(b: &[u8]) -> Option<u32> {
    b.get(4..HDR_LEN)
        .map(|x| u32::from_ne_bytes([x[0], x[1], x[2], x[3]]))
}

/// The answer to `req` with `status` (the request echoed, as nfsdcld does).
pub fn reply(req: &CldMsg<'_>, status: i16) -> Vec<u8> {
    let mut b = req.0.to_vec();
    b[2..4].copy_from_slice(&status.to_ne_bytes());
    b
}

/// The answer to GetVersion: status 0, `cm_version`.
pub fn reply_version(req: &CldMsg<'_>, version: u8) -> Vec<u8> {
    let mut b = reply(req, 0);
    b[HDR_LEN] = version;
    b
}

/// One reclaimable client in answer to GraceStart: status -EINPROGRESS, the client's name
/// (and principal hash in v2), the request's xid.
pub fn reply_upload(req: &CldMsg<'_>, name: &[u8], princhash: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; req.0.len()];
    b[..HDR_LEN].copy_from_slice(&req.0[..HDR_LEN]);
    b[2..4].copy_from_slice(&(-(libc::EINPROGRESS as i16)).to_ne_bytes());
    let n = name.len().min(NAME_MAX);
    b[HDR_LEN..HDR_LEN + 2].copy_from_slice(&(n as u16).to_ne_bytes());
    b[HDR_LEN + 2..HDR_LEN + 2 + n].copy_from_slice(&name[..n]);
    if req.is_v2() {
        let p = princhash.len().min(PRINCHASH_MAX);
        b[PRINCHASH_OFF] = p as u8;
        b[PRINCHASH_OFF + 1..PRINCHASH_OFF + 1 + p].copy_from_slice(&princhash[..p]);
    }
    b
}

/// A message nfsd could send (for tests and the stand-in pipe).
pub fn request(v2: bool, cmd: u8, xid: u32, name: &[u8], princhash: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; if v2 { V2_LEN } else { V1_LEN }];
    b[0] = if v2 { 2 } else { 1 };
    b[1] = cmd;
    b[4..8].copy_from_slice(&xid.to_ne_bytes());
    let n = name.len().min(NAME_MAX);
    b[HDR_LEN..HDR_LEN + 2].copy_from_slice(&(n as u16).to_ne_bytes());
    b[HDR_LEN + 2..HDR_LEN + 2 + n].copy_from_slice(&name[..n]);
    if v2 {
        let p = princhash.len().min(PRINCHASH_MAX);
        b[PRINCHASH_OFF] = p as u8;
        b[PRINCHASH_OFF + 1..PRINCHASH_OFF + 1 + p].copy_from_slice(&princhash[..p]);
    }
    b
}

use crate::{hex, unhex};

/// The durable client records, in nfsdcld's model: clients confirmed in epoch
/// `current`; while `recovery` is non-zero (grace), the clients of that epoch may
/// reclaim. Names and principal hashes are kept as hex (they are opaque bytes).
///
/// Unlike nfsdcld, which serves one node, a cluster's nodes restart their nfsds one at a
/// time: each record says which node's nfsd confirmed it (`owners`), so that the clients
/// of nodes whose nfsds keep serving stay confirmed through another node's grace (they
/// have nothing to reclaim, and a grace that dropped their records would leave them
/// unable to reclaim anywhere later, e.g. on the node that takes over their address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecords {
    pub current: u64,
    pub recovery: u64,
    /// epoch -> client name (hex) -> principal hash (hex, may be empty).
    pub epochs: BTreeMap<u64, BTreeMap<String, String>>,
    /// client name (hex) -> the node whose nfsd recorded it last. None for records taken
    /// over from nfsdcld or kept before owners were (state files of earlier versions).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub owners: BTreeMap<String, u32>,
}

impl Default for ClientRecords {
    fn default() -> Self {
        ClientRecords {
            current: 1,
            recovery: 0,
            epochs: BTreeMap::from([(1, BTreeMap::new())]),
            owners: BTreeMap::new(),
        }
    }
}

impl ClientRecords {
    /// Node `node`'s nfsd starts: the cluster enters grace. If it is not in grace, the
    /// current epoch becomes the recovery epoch and a new one starts (returns true), which
    /// keeps the clients of the nodes in `serving` (nodes whose nfsds serve out of grace:
    /// their clients hold their state there and reclaim nothing); if it is (another
    /// node's nfsd, or this one, started during grace), the epochs stay and the clients
    /// `node`'s nfsd had confirmed must reclaim again (moved back to the recovery epoch).
    /// Unlike nfsdcld, the current epoch is not started over: it holds the records of
    /// every node's clients that confirmed during this grace.
    pub fn grace_start(&mut self, node: u32, serving: &[u32]) -> bool {
        let new = self.recovery == 0;
        if new {
            self.recovery = self.current;
            self.current += 1;
        }
        let (c, r) = (self.current, self.recovery);
        // Only the two live epochs are kept.
        self.epochs.retain(|e, _| *e == c || *e == r);
        let owners = &self.owners;
        let owned_by = |n: &String, set: &[u32]| owners.get(n).is_some_and(|o| set.contains(o));
        let mut rec = self.epochs.remove(&r).unwrap_or_default();
        let mut cur = self.epochs.remove(&c).unwrap_or_default();
        if new {
            for (n, p) in &rec {
                if owned_by(n, serving) {
                    cur.insert(n.clone(), p.clone());
                }
            }
        } else {
            let again: Vec<String> = cur
                .keys()
                .filter(|n| owned_by(n, &[node]))
                .cloned()
                .collect();
            for n in again {
                if let Some(p) = cur.remove(&n) {
                    rec.entry(n).or_insert(p);
                }
            }
        }
        self.epochs.insert(r, rec);
        self.epochs.insert(c, cur);
        self.prune_owners();
        new
    }
    /// Grace is over: the recovery epoch's records are dropped.
    pub fn grace_done(&mut self) {
        if self.recovery != 0 {
            self.epochs.remove(&self.recovery);
            self.recovery = 0;
            self.prune_owners();
        }
    }
    /// Owners of names no epoch holds any more are forgotten.
    fn prune_owners(&mut self) {
        let epochs = &self.epochs;
        self.owners
            .retain(|n, _| epochs.values().any(|m| m.contains_key(n)));
    }
    pub fn create(&mut self, name: &[u8], princhash: &[u8]) {
        self.apply(None, true, &hex(name), &hex(princhash));
    }
    pub fn remove(&mut self, name: &[u8]) -> bool {
        self.apply(None, false, &hex(name), "")
    }
    /// A record in the current epoch, name and hash already in hex (as the cluster
    /// carries them): created by node `node`'s nfsd (true if new) or removed (true if it
    /// was there). A node's nfsd removes only a record it owns: a client that moved to
    /// another node (its address did) is that node's, whatever its old node's nfsd
    /// expires.
    pub fn apply(&mut self, node: Option<u32>, create: bool, name: &str, princhash: &str) -> bool {
        if !create {
            if let (Some(n), Some(o)) = (node, self.owners.get(name)) {
                if *o != n {
                    return false;
                }
            }
        }
        if create {
            if let Some(o) = node {
                self.owners.insert(name.to_string(), o);
            }
            let m = self.epochs.entry(self.current).or_default();
            m.insert(name.to_string(), princhash.to_string()).is_none()
        } else {
            let was = self
                .epochs
                .get_mut(&self.current)
                .is_some_and(|m| m.remove(name).is_some());
            self.prune_owners();
            was
        }
    }
    /// The epochs whose clients may reclaim: during grace, the recovery epoch and the
    /// current one (a client that reclaimed on a node which then restarted within the
    /// same grace is recorded only there).
    fn reclaim_epochs(&self) -> impl Iterator<Item = &BTreeMap<String, String>> {
        let live = if self.recovery == 0 {
            [None, None]
        } else {
            [
                self.epochs.get(&self.recovery),
                self.epochs.get(&self.current),
            ]
        };
        live.into_iter().flatten()
    }
    /// Whether `name` may reclaim.
    pub fn may_reclaim(&self, name: &[u8]) -> bool {
        let h = hex(name);
        self.reclaim_epochs().any(|m| m.contains_key(&h))
    }
    /// The clients that may reclaim: (name, principal hash), each once.
    pub fn reclaimable(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut all: BTreeMap<&String, &String> = BTreeMap::new();
        for m in self.reclaim_epochs() {
            for (n, p) in m {
                all.entry(n).or_insert(p);
            }
        }
        all.into_iter()
            .filter_map(|(n, p)| Some((unhex(n)?, unhex(p)?)))
            .collect()
    }
    /// For `pnfsctl client show`: names printable where they are ASCII.
    pub fn to_json(&self) -> serde_json::Value {
        let show = |h: &str| -> String {
            match unhex(h) {
                Some(b) if b.iter().all(|c| (0x20..0x7f).contains(c)) => {
                    String::from_utf8(b).unwrap_or_default()
                }
                _ => format!("0x{h}"),
            }
        };
        serde_json::json!({
            "current_epoch": self.current,
            "recovery_epoch": self.recovery,
            "in_grace": self.recovery != 0,
            "epochs": self.epochs.iter().map(|(e, m)| serde_json::json!({
                "epoch": e,
                "role": if *e == self.current { "current" } else if *e == self.recovery { "recovery" } else { "old" },
                "clients": m.iter().map(|(n, p)| serde_json::json!({
                    "name": show(n),
                    "princhash": p,
                    "node": self.owners.get(n),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
}

/// nfs-utils' nfsdcld keeps its records in sqlite (Debian:
/// `/var/lib/nfs/nfsdcld/main.sqlite`): table `grace(current, recovery)` and one table
/// `"rec-%016x"` per live epoch with the client name in `id` and, from schema 4, the
/// principal hash in `princhash`. Reads them (read-only) as our records, to take over
/// from nfsdcld without losing who may reclaim.
pub fn import_nfsdcld(path: &Path) -> Result<ClientRecords, String> {
    use rusqlite::{Connection, OpenFlags};
    let err = |e: rusqlite::Error| format!("{}: {e}", path.display());
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    let (current, recovery): (i64, i64) = db
        .query_row("SELECT current, recovery FROM grace", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(err)?;
    if current < 1 || recovery < 0 || recovery >= current {
        return Err(format!(
            "{}: grace epochs current {current} recovery {recovery} make no sense",
            path.display()
        ));
    }
    let mut epochs = BTreeMap::new();
    for e in [current, recovery].into_iter().filter(|e| *e != 0) {
        let table = format!("rec-{e:016x}");
        let m: &mut BTreeMap<String, String> = epochs.entry(e as u64).or_default();
        let exists: i64 = db
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [&table],
                |r| r.get(0),
            )
            .map_err(err)?;
        if exists == 0 {
            continue; // no client recorded in that epoch yet
        }
        // Schema 3 has no princhash column.
        let cols = if db
            .prepare(&format!("SELECT princhash FROM \"{table}\" LIMIT 0"))
            .is_ok()
        {
            "id, princhash"
        } else {
            "id, NULL"
        };
        let mut st = db
            .prepare(&format!("SELECT {cols} FROM \"{table}\""))
            .map_err(err)?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Option<Vec<u8>>>(1)?))
            })
            .map_err(err)?;
        for row in rows {
            let (id, ph) = row.map_err(err)?;
            m.insert(hex(&id), hex(&ph.unwrap_or_default()));
        }
    }
    Ok(ClientRecords {
        current: current as u64,
        recovery: recovery as u64,
        epochs,
        // nfsdcld served one node and kept no owner: these clients reclaim at the first
        // grace or are dropped with it.
        owners: BTreeMap::new(),
    })
}

/// What the daemon answers: the datagrams to write, and whether they end the message
/// (then it leaves the in-flight journal).
#[derive(Debug)]
pub struct CldOut {
    pub xid: u32,
    pub replies: Vec<Vec<u8>>,
}

/// Which pipe a message came from: the device and inode of the pipe file (nfsd makes a
/// new one each time it starts, and its xids start over), or of the stand-in's socket file.
type PipeId = (u64, u64);

#[derive(Serialize, Deserialize)]
struct JournalEntry {
    dev: u64,
    ino: u64,
    msg: String,
}

/// The in-flight journal's file in the state directory.
const JOURNAL_FILE: &str = "cld-inflight.json";

/// Whether the in-flight journal in `state_dir` holds a message of `command` (read from
/// nfsd by an earlier incarnation of the daemon and not answered yet).
pub fn journal_holds(state_dir: &Path, command: u8) -> bool {
    Journal::open(state_dir.join(JOURNAL_FILE))
        .entries
        .iter()
        .any(|(_, m)| m.len() >= HDR_LEN && m[1] == command)
}

/// The in-flight journal: every message read and not yet answered, with the pipe it came
/// from, on disk.
struct Journal {
    path: PathBuf,
    entries: Vec<(PipeId, Vec<u8>)>,
}

impl Journal {
    fn open(path: PathBuf) -> Journal {
        let entries = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Vec<JournalEntry>>(&b).ok())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| Some(((e.dev, e.ino), unhex(&e.msg)?)))
            .collect();
        Journal { path, entries }
    }
    fn save(&self) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            let v: Vec<JournalEntry> = self
                .entries
                .iter()
                .map(|((dev, ino), m)| JournalEntry {
                    dev: *dev,
                    ino: *ino,
                    msg: hex(m),
                })
                .collect();
            f.write_all(&serde_json::to_vec(&v).expect("serializable"))?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(d) = self.path.parent() {
            std::fs::File::open(d)?.sync_all()?;
        }
        Ok(())
    }
    fn add(&mut self, id: PipeId, m: &[u8]) -> std::io::Result<()> {
        self.entries.push((id, m.to_vec()));
        self.save()
    }
    /// Whether the message `xid` from pipe `id` waits for its answer.
    fn holds(&self, id: PipeId, xid: u32) -> bool {
        self.entries
            .iter()
            .any(|(i, m)| *i == id && xid_of(m) == Some(xid))
    }
    fn done(&mut self, id: PipeId, xid: u32) -> std::io::Result<()> {
        let before = self.entries.len();
        self.entries
            .retain(|(i, m)| !(*i == id && xid_of(m) == Some(xid)));
        if self.entries.len() != before {
            self.save()?;
        }
        Ok(())
    }
    /// Forget what came from another pipe than `id`: that nfsd instance is gone, and its
    /// xids mean other upcalls to the new one. Returns how many were forgotten.
    fn forget_others(&mut self, id: PipeId) -> std::io::Result<usize> {
        let before = self.entries.len();
        self.entries.retain(|(i, _)| *i == id);
        let n = before - self.entries.len();
        if n > 0 {
            self.save()?;
        }
        Ok(n)
    }
    fn pending(&self, id: PipeId) -> Vec<Vec<u8>> {
        self.entries
            .iter()
            .filter(|(i, _)| *i == id)
            .map(|(_, m)| m.clone())
            .collect()
    }
}

/// The pipe, opened: rpc_pipefs's file (or, as a stand-in for tests and the cluster
/// suite, a unix SOCK_SEQPACKET socket at the same path, which keeps message boundaries
/// as the pipe does).
struct Pipe {
    fd: AsyncFd<File>,
    id: PipeId,
    /// The stand-in socket: a read of 0 bytes is its end. On rpc_pipefs, a read of 0
    /// bytes means only that nothing is queued (its end is EPIPE).
    socket: bool,
}

impl Pipe {
    fn open(path: &Path) -> std::io::Result<Pipe> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let ft = std::fs::metadata(path)?.file_type();
        // A `File` for either: its `read`/`write` are one read(2)/write(2) each, which is
        // all a socket needs too.
        let file: File = if ft.is_socket() {
            seqpacket_connect(path)
                .map_err(|e| {
                    std::io::Error::new(e.kind(), format!("stand-in pipe {}: {e}", path.display()))
                })?
                .into()
        } else {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)?
        };
        // SAFETY: register_with_interest needs the fd to stay open, and to be the same
        // open file description, for as long as the AsyncFd holds it. The AsyncFd owns the
        // `File` (moved in), which closes its fd only when dropped, after the
        // registration; `Pipe` never hands out `&mut File` (no `get_mut`/`into_inner`), so
        // nothing can swap or close the fd underneath.
        let fd = unsafe { AsyncFd::register_with_interest(file, tokio::io::Interest::READABLE) }?;
        let m = if ft.is_socket() {
            std::fs::metadata(path)?
        } else {
            fd.get_ref().metadata()?
        };
        let id = (m.dev(), m.ino());
        Ok(Pipe {
            fd,
            id,
            socket: ft.is_socket(),
        })
    }

    async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let mut g = self.fd.readable().await?;
            // `Read for &File`: one read(2), not retried on EINTR.
            match g.try_io(|fd| match fd.get_ref().read(buf) {
                Ok(0) if !self.socket => Err(std::io::ErrorKind::WouldBlock.into()),
                r => r,
            }) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    /// Whether `path` is still the file we have open (same device and inode).
    fn is_at(&self, path: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == self.id)
    }

    fn write(&self, b: &[u8]) -> std::io::Result<()> {
        // `Write for &File`: one write(2), not retried on EINTR or a short count.
        let n = self.fd.get_ref().write(b)?;
        if n != b.len() {
            return Err(std::io::Error::other(format!(
                "short write {n} of {}",
                b.len()
            )));
        }
        Ok(())
    }
}

use std::os::unix::fs::OpenOptionsExt;

fn seqpacket_connect(path: &Path) -> std::io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    // std has no SOCK_SEQPACKET unix socket: socket(2) and connect(2) by hand.
    // SAFETY: socket(2) takes integers only and touches no memory of ours.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` (>= 0) was just returned by socket(2): open, and owned by nobody else;
    // the OwnedFd is its only owner from here and closes it once.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut addr = libc::sockaddr_un {
        sun_family: libc::AF_UNIX as libc::sa_family_t,
        sun_path: [0; 108],
    };
    let p = path.as_os_str().as_bytes();
    if p.len() >= addr.sun_path.len() {
        return Err(std::io::Error::other("stand-in pipe path too long"));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(p) {
        *d = *s as libc::c_char;
    }
    // SAFETY: `addr` is a live, initialised sockaddr_un on this stack frame, borrowed for
    // the call only, and the length passed is exactly its size; its path is
    // NUL-terminated (checked shorter than sun_path, which starts zeroed). `fd` is open
    // (owned by `fd` until we return it).
    let r = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

/// Serve the pipe at `path` for the daemon: wait for it to appear (nfsd creates it when
/// it starts and waits only ~1 s for a reader, so it is polled every 50 ms), open it,
/// answer what the journal holds from before, then pass each message read (journaled
/// first) to `to_daemon` and write what comes back on `from_daemon`. Reopens when nfsd
/// stops or restarts.
pub fn spawn_server(
    path: PathBuf,
    state_dir: &Path,
    to_daemon: mpsc::Sender<Vec<u8>>,
    mut from_daemon: mpsc::Receiver<CldOut>,
) -> tokio::task::JoinHandle<()> {
    let mut journal = Journal::open(state_dir.join(JOURNAL_FILE));
    tokio::spawn(async move {
        let mut buf = vec![0u8; V2_LEN + 1];
        let mut waiting_logged = false;
        loop {
            let pipe = match Pipe::open(&path) {
                Ok(p) => p,
                Err(e) => {
                    if !waiting_logged {
                        tracing::info!("cld: waiting for {}: {e}", path.display());
                        waiting_logged = true;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if to_daemon.is_closed() {
                        return;
                    }
                    continue;
                }
            };
            waiting_logged = false;
            tracing::info!("cld: serving {}", path.display());
            // Messages read from this pipe by an earlier incarnation and never answered;
            // those of a pipe nfsd has since replaced are void.
            match journal.forget_others(pipe.id) {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    "cld: {n} unanswered message(s) of an earlier nfsd instance dropped"
                ),
                Err(e) => tracing::error!("cld: in-flight journal not written: {e}"),
            }
            for m in journal.pending(pipe.id) {
                if to_daemon.send(m).await.is_err() {
                    return;
                }
            }
            let mut check = tokio::time::interval(Duration::from_millis(50));
            loop {
                tokio::select! {
                    _ = check.tick() => {
                        // nfsd removes the pipe when it stops and makes a new one when it
                        // starts, then waits only ~1 s for a reader: notice by the path,
                        // not by a wake-up on the old file.
                        if !pipe.socket && !pipe.is_at(&path) {
                            tracing::info!("cld: {} was replaced (nfsd restarted); reopening", path.display());
                            break;
                        }
                    }
                    r = pipe.read(&mut buf) => match r {
                        Ok(0) => { tracing::info!("cld: stand-in pipe closed"); break; }
                        Ok(n) if n < HDR_LEN => {
                            tracing::warn!("cld: {n}-byte message dropped (no header, nothing to answer)");
                        }
                        Ok(n) => {
                            let m = &buf[..n];
                            if let Err(e) = journal.add(pipe.id, m) {
                                tracing::error!("cld: in-flight journal not written: {e}");
                            }
                            if to_daemon.send(m.to_vec()).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::info!("cld: pipe read: {e}; reopening");
                            break;
                        }
                    },
                    out = from_daemon.recv() => {
                        let Some(out) = out else { return };
                        if !journal.holds(pipe.id, out.xid) {
                            // Read from a pipe nfsd has replaced since (or dropped as
                            // malformed): the new instance's same xid is another upcall.
                            tracing::info!(xid = out.xid, "cld: answer for an earlier pipe dropped");
                            continue;
                        }
                        let mut ok = true;
                        for r in &out.replies {
                            if let Err(e) = pipe.write(r) {
                                // EINVAL: nfsd no longer waits for this xid (restarted).
                                tracing::warn!(xid = out.xid, "cld: reply not taken: {e}");
                                ok = e.raw_os_error() == Some(libc::EINVAL);
                                break;
                            }
                        }
                        if ok {
                            if let Err(e) = journal.done(pipe.id, out.xid) {
                                tracing::error!("cld: in-flight journal not written: {e}");
                            }
                        } else {
                            break;
                        }
                    }
                }
            }
            drop(pipe);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_the_kernels() {
        assert_eq!(V1_LEN, HDR_LEN + 2 + NAME_MAX);
        assert_eq!(V2_LEN, HDR_LEN + 2 + NAME_MAX + 1 + PRINCHASH_MAX);
    }

    #[test]
    fn parses_and_answers() {
        let r = request(true, cmd::CREATE, 77, b"Linux NFSv4.1 host", &[9; 32]);
        let m = CldMsg::parse(&r).unwrap();
        assert_eq!(
            (m.vers(), m.cmd(), m.xid(), m.status()),
            (2, cmd::CREATE, 77, 0)
        );
        assert_eq!(m.name().unwrap(), b"Linux NFSv4.1 host");
        assert_eq!(m.princhash().unwrap(), &[9; 32]);
        let a = reply(&m, -(libc::EREMOTEIO as i16));
        let am = CldMsg::parse(&a).unwrap();
        assert_eq!(a.len(), V2_LEN);
        assert_eq!((am.xid(), am.status()), (77, -(libc::EREMOTEIO as i16)));

        let v = request(false, cmd::GET_VERSION, 1, b"", &[]);
        let vm = CldMsg::parse(&v).unwrap();
        let a = reply_version(&vm, VERSION);
        assert_eq!((a.len(), a[HDR_LEN]), (V1_LEN, 2));

        let g = request(true, cmd::GRACE_START, 5, b"", &[]);
        let gm = CldMsg::parse(&g).unwrap();
        let u = reply_upload(&gm, b"client-a", b"\x01\x02");
        let um = CldMsg::parse(&u).unwrap();
        assert_eq!(um.status(), -(libc::EINPROGRESS as i16));
        assert_eq!((um.xid(), um.cmd()), (5, cmd::GRACE_START));
        assert_eq!(um.name().unwrap(), b"client-a");
        assert_eq!(um.princhash().unwrap(), b"\x01\x02");
    }

    #[test]
    fn rejects_bad_messages() {
        assert_eq!(CldMsg::parse(&[0; 100]).unwrap_err(), CldError::Size(100));
        let mut r = request(true, cmd::CREATE, 1, b"x", &[]);
        r[0] = 3;
        assert_eq!(CldMsg::parse(&r).unwrap_err(), CldError::Version(3));
        let r = request(true, cmd::CREATE, 1, b"", &[]);
        assert_eq!(
            CldMsg::parse(&r).unwrap().name().unwrap_err(),
            CldError::NameLen(0)
        );
        let mut r = request(true, cmd::CREATE, 1, b"x", &[]);
        r[HDR_LEN..HDR_LEN + 2].copy_from_slice(&2000u16.to_ne_bytes());
        assert_eq!(
            CldMsg::parse(&r).unwrap().name().unwrap_err(),
            CldError::NameLen(2000)
        );
        let mut r = request(true, cmd::CREATE, 1, b"x", &[]);
        r[PRINCHASH_OFF] = 33;
        assert_eq!(
            CldMsg::parse(&r).unwrap().princhash().unwrap_err(),
            CldError::PrincLen(33)
        );
    }

    /// A database laid out as nfsdcld (schema 4) writes it, in grace: epoch 3 recovering
    /// epoch 2; and one of schema 3 (no princhash).
    #[test]
    fn imports_nfsdclds_database() {
        let dir = std::env::temp_dir().join(format!("pnfs-nfsdcld-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("main.sqlite");
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(
            "CREATE TABLE parameters (key TEXT PRIMARY KEY, value TEXT);
             INSERT INTO parameters VALUES ('version', '4');
             CREATE TABLE grace (current INTEGER, recovery INTEGER);
             INSERT INTO grace VALUES (3, 2);
             CREATE TABLE \"rec-0000000000000002\" (id BLOB PRIMARY KEY, princhash BLOB);
             INSERT INTO \"rec-0000000000000002\" VALUES (x'6f6c64', x'0102');
             INSERT INTO \"rec-0000000000000002\" VALUES (x'626f7468', NULL);
             CREATE TABLE \"rec-0000000000000003\" (id BLOB PRIMARY KEY, princhash BLOB);
             INSERT INTO \"rec-0000000000000003\" VALUES (x'626f7468', NULL);",
        )
        .unwrap();
        drop(db);
        let c = import_nfsdcld(&path).unwrap();
        assert_eq!((c.current, c.recovery), (3, 2));
        assert!(c.may_reclaim(b"old") && c.may_reclaim(b"both") && !c.may_reclaim(b"new"));
        let mut up = c.reclaimable();
        up.sort();
        assert_eq!(
            up,
            vec![(b"both".to_vec(), vec![]), (b"old".to_vec(), vec![1, 2])]
        );
        // Schema 3, out of grace, its current table not made yet.
        let p3 = dir.join("v3.sqlite");
        let db = rusqlite::Connection::open(&p3).unwrap();
        db.execute_batch(
            "CREATE TABLE grace (current INTEGER, recovery INTEGER);
             INSERT INTO grace VALUES (5, 0);",
        )
        .unwrap();
        drop(db);
        let c = import_nfsdcld(&p3).unwrap();
        assert_eq!((c.current, c.recovery, c.epochs.len()), (5, 0, 1));
        // Not a database of nfsdcld's: an error that names the file, no panic.
        std::fs::write(dir.join("junk"), b"not sqlite").unwrap();
        let e = import_nfsdcld(&dir.join("junk")).unwrap_err();
        assert!(e.contains("junk"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn epochs_follow_nfsdclds_model() {
        let mut c = ClientRecords::default();
        assert_eq!((c.current, c.recovery), (1, 0));
        c.create(b"a", b"");
        c.create(b"b", b"\x01");
        assert!(c.remove(b"b"));
        assert!(!c.remove(b"zz"));
        // nfsd restarts: epoch 1's clients may reclaim, new records go to epoch 2.
        c.grace_start(1, &[]);
        assert_eq!((c.current, c.recovery), (2, 1));
        assert_eq!(c.reclaimable(), vec![(b"a".to_vec(), vec![])]);
        assert!(c.may_reclaim(b"a") && !c.may_reclaim(b"b"));
        c.create(b"a", b"");
        c.create(b"new", b"");
        // A start during grace (another node's, or this nfsd again): the epochs and their
        // records stay; who confirmed during this grace may reclaim too.
        assert!(!c.grace_start(2, &[]));
        assert_eq!((c.current, c.recovery), (2, 1));
        assert_eq!(c.epochs[&2].len(), 2);
        assert!(c.may_reclaim(b"new"));
        assert_eq!(c.reclaimable().len(), 2);
        c.remove(b"new");
        c.grace_done();
        assert_eq!((c.current, c.recovery), (2, 0));
        assert!(!c.may_reclaim(b"a"));
        assert_eq!(c.epochs.keys().copied().collect::<Vec<_>>(), vec![2]);
        c.grace_start(1, &[]);
        assert_eq!(c.reclaimable(), vec![(b"a".to_vec(), vec![])]);
        let j = c.to_json();
        assert_eq!(j["epochs"][0]["clients"][0]["name"], "a");
    }

    /// A cluster restarts its nfsds one at a time: the clients of a node whose nfsd keeps
    /// serving stay confirmed through another node's grace, so they may reclaim later
    /// (on the node that takes their address over when theirs dies); the clients a
    /// restarted nfsd had confirmed must reclaim, also when it restarts again in grace.
    #[test]
    fn a_serving_nodes_clients_outlive_another_nodes_grace() {
        let mut c = ClientRecords::default();
        let (a, b, x) = (hex(b"on-1"), hex(b"on-2"), hex(b"nfsdcld"));
        c.apply(Some(1), true, &a, "");
        c.apply(Some(2), true, &b, "");
        c.create(b"nfsdcld", b""); // taken over from nfsdcld: no owner
                                   // Node 2's nfsd restarts while node 1's serves: a's record stays confirmed.
        assert!(c.grace_start(2, &[1]));
        assert!(c.epochs[&c.current].contains_key(&a));
        assert!(!c.epochs[&c.current].contains_key(&b));
        assert!(c.may_reclaim(b"on-2") && c.may_reclaim(b"nfsdcld"));
        // b did not reclaim: gone with the grace; a and its owner stay; x is gone.
        c.grace_done();
        assert!(c.epochs[&c.current].contains_key(&a) && !c.may_reclaim(b"on-1"));
        assert_eq!(c.owners.keys().collect::<Vec<_>>(), vec![&a]);
        assert!(!c
            .epochs
            .values()
            .any(|m| m.contains_key(&b) || m.contains_key(&x)));
        // Node 1 dies; node 2's nfsd takes its address over and restarts: a may reclaim
        // there (node 1 is no longer serving).
        assert!(c.grace_start(2, &[]));
        assert_eq!(c.reclaimable(), vec![(b"on-1".to_vec(), vec![])]);
        c.apply(Some(2), true, &a, "");
        assert_eq!(c.owners[&a], 2);
        c.grace_done();
        assert!(c.epochs[&c.current].contains_key(&a));
        // A grace begun by node 1 keeps node 2's clients; node 2's nfsd then restarts in
        // that grace: its clients must reclaim again, and do not outlive it if they do not.
        assert!(c.grace_start(1, &[2]));
        assert!(c.epochs[&c.current].contains_key(&a));
        assert!(!c.grace_start(2, &[]));
        assert!(!c.epochs[&c.current].contains_key(&a) && c.may_reclaim(b"on-1"));
        c.grace_done();
        assert!(!c.epochs.values().any(|m| m.contains_key(&a)) && c.owners.is_empty());
        // A client that moved from node 1 to node 2: node 1's nfsd expiring its old state
        // does not remove the record node 2's nfsd made; node 2's does.
        c.apply(Some(1), true, &a, "");
        c.apply(Some(2), true, &a, "");
        assert!(!c.apply(Some(1), false, &a, ""));
        assert!(c.epochs[&c.current].contains_key(&a));
        assert!(c.apply(Some(2), false, &a, ""));
        assert!(!c.epochs[&c.current].contains_key(&a) && c.owners.is_empty());
    }

    #[test]
    fn the_journal_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("pnfs-cld-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("cld-inflight.json");
        let mut j = Journal::open(p.clone());
        let (a, b) = ((1, 10), (1, 11));
        j.add(a, &request(true, cmd::GRACE_DONE, 9, b"", &[]))
            .unwrap();
        j.add(a, &request(true, cmd::CREATE, 10, b"c", &[]))
            .unwrap();
        j.add(b, &request(true, cmd::CREATE, 9, b"d", &[])).unwrap();
        j.done(a, 10).unwrap();
        assert!(j.holds(a, 9) && j.holds(b, 9) && !j.holds(a, 10));
        let mut j2 = Journal::open(p);
        assert_eq!(j2.pending(a).len(), 1);
        assert_eq!(CldMsg::parse(&j2.pending(a)[0]).unwrap().xid(), 9);
        // nfsd restarted (pipe b): what came from pipe a is void.
        assert_eq!(j2.forget_others(b).unwrap(), 1);
        assert_eq!(j2.pending(a).len(), 0);
        assert_eq!(j2.pending(b).len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
