//! Messages between daemons over the cluster engine (CPG), with version negotiation.
//!
//! Layout: `magic u16 = 0x504e ("PN")`, `version u8`, `kind u8`, then the kind's fields
//! in little-endian, strings as `u16 len + bytes`. A message whose version this daemon
//! does not speak, or that is malformed, is rejected with a reason (logged by the caller)
//! and changes nothing.

use std::collections::BTreeMap;
use std::fmt;

pub const MAGIC: u16 = 0x504e;
/// Highest protocol version this daemon speaks.
pub const PROTO_VERSION: u8 = 1;
/// Lowest protocol version this daemon speaks.
pub const PROTO_MIN_VERSION: u8 = 1;
/// Largest message accepted. Most are small; the snapshot a joiner gets (journal map and
/// nfsd's client records, up to ~10k clients of 40-byte names) is the large one.
pub const MAX_MSG: usize = 1024 * 1024;

/// `Msg::Grace` operations: what a node's nfsd did on its cld pipe.
pub mod grace_op {
    /// nfsd started (GraceStart): the node needs and enforces grace.
    pub const START: u8 = 1;
    /// nfsd finished reclaim (GraceDone): the node no longer needs grace.
    pub const DONE: u8 = 2;
    /// The daemon restarted while its nfsd was still in grace: it needs and enforces it.
    pub const REJOIN: u8 = 3;
    /// The same, but its nfsd already finished reclaim (its GraceDone waits in the
    /// daemon's journal): it enforces grace and no longer needs it.
    pub const REJOIN_DONE: u8 = 4;
}

/// Per-node grace flags in [`GraceSnap::nodes`].
pub const GRACE_NEED: u8 = 1;
pub const GRACE_ENFORCING: u8 = 2;

/// The cluster's grace and client records, as a joiner adopts them (ganesha's
/// rados_cluster model: epochs current/recovery, per-node NEED_GRACE and ENFORCING).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraceSnap {
    pub current: u64,
    pub recovery: u64,
    /// node -> GRACE_NEED | GRACE_ENFORCING.
    pub nodes: BTreeMap<u32, u8>,
    /// epoch -> client name (hex) -> principal hash (hex).
    pub epochs: BTreeMap<u64, BTreeMap<String, String>>,
    /// client name (hex) -> the node whose nfsd recorded it ([`crate::cld::ClientRecords`]).
    /// Encoded after the epochs, and only when not empty: a message without it decodes
    /// as before.
    pub owners: BTreeMap<String, u32>,
}

/// Identity of a stateid in caches: (clientid, fsid, fileid, other).
pub type StateKey = (u64, u64, u64, [u8; 12]);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsAddr {
    pub netid: String,
    pub uaddr: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Sent on start and whenever a member joins: who I am and what I speak.
    Hello {
        min_version: u8,
        max_version: u8,
        node: u32,
        priority: u32,
        /// Highest MDS epoch this node has seen (durable).
        epoch: u64,
        /// Incarnation of this daemon (changes at every start).
        incarnation: u64,
        addrs: Vec<DsAddr>,
    },
    /// A DS asks the MDS about a stateid.
    StateQuery {
        qid: u64,
        from: u32,
        fsid: u64,
        fileid: u64,
        stateid: [u8; 16],
        clientid: u64,
    },
    /// The MDS's answer; every DS caches it.
    StateAnswer {
        qid: u64,
        to: u32,
        fsid: u64,
        fileid: u64,
        stateid: [u8; 16],
        clientid: u64,
        status: u32,
        access: u32,
        generation: u32,
        verifier: u64,
        epoch: u64,
    },
    /// The MDS revoked or closed state: drop it from caches (other = None: all of the
    /// client's state), then acknowledge.
    Invalidate {
        iid: u64,
        origin: u32,
        clientid: u64,
        fsid: u64,
        fileid: u64,
        other: Option<[u8; 12]>,
    },
    InvalidateAck {
        iid: u64,
        origin: u32,
        node: u32,
    },
    /// A node took over as MDS with a new epoch (grace starts).
    MdsEpoch {
        node: u32,
        epoch: u64,
    },
    /// A node mounts a GFS2 filesystem: every node assigns the same journal.
    Mount {
        req: u64,
        node: u32,
        table: String,
        spectator: bool,
    },
    Unmount {
        req: u64,
        node: u32,
        table: String,
    },
    Withdraw {
        node: u32,
        table: String,
        jid: u32,
    },
    RecoveryDone {
        node: u32,
        table: String,
        jid: u32,
        status: u32,
    },
    /// The journal assignments and the grace state as of the membership change that
    /// added members, sent by the lowest old member; a joiner adopts them (its disk copy
    /// may be stale).
    Journals {
        node: u32,
        journals: BTreeMap<String, BTreeMap<u32, u32>>,
        grace: GraceSnap,
    },
    /// A node's nfsd started or ended grace (`grace_op`); `req` matches the answer the
    /// node holds for its nfsd.
    Grace {
        node: u32,
        req: u64,
        op: u8,
    },
    /// A node's GFS2 reported a journal recovery by uevent (`JID=n RECOVERY=Done|Failed`):
    /// every node shows it.
    FsRecovery {
        node: u32,
        table: String,
        jid: u32,
        result: String,
    },
    /// A node's nfsd recorded (create) or expired a client: every node's store follows.
    /// Name and principal hash in hex, as stored.
    Client {
        node: u32,
        req: u64,
        create: bool,
        name: String,
        princhash: String,
    },
    /// An operator drained (`on`) or restored a data server: node `device`'s device
    /// gets no new layouts while another live data server can take them, and the MDS
    /// recalls the layouts it holds on it. `node` asked (`req` matches its operator's
    /// answer).
    Drain {
        node: u32,
        req: u64,
        device: u32,
        on: bool,
    },
}

/// Why a message was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    Short,
    BadMagic(u16),
    Version(u8),
    UnknownKind(u8),
    BadString,
    TooLarge(usize),
    Trailing(usize),
    BadField(&'static str),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Short => write!(f, "message truncated"),
            WireError::BadMagic(m) => write!(f, "bad magic {m:#06x}"),
            WireError::Version(v) => write!(
                f,
                "protocol version {v} not spoken here ({PROTO_MIN_VERSION}..={PROTO_VERSION})"
            ),
            WireError::UnknownKind(k) => write!(f, "unknown message kind {k}"),
            WireError::BadString => write!(f, "string not UTF-8"),
            WireError::TooLarge(n) => write!(f, "message of {n} bytes too large"),
            WireError::Trailing(n) => write!(f, "{n} trailing bytes"),
            WireError::BadField(what) => write!(f, "bad value in field {what}"),
        }
    }
}

impl std::error::Error for WireError {}

struct W<'a>(&'a mut Vec<u8>);

impl W<'_> {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(v);
        self
    }
    fn str(&mut self, v: &str) -> &mut Self {
        let b = &v.as_bytes()[..v.len().min(u16::MAX as usize)];
        self.0.extend_from_slice(&(b.len() as u16).to_le_bytes());
        self.0.extend_from_slice(b);
        self
    }
}

struct R<'a>(&'a [u8]);

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::Short);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    /// A byte that must be 0 or 1 (`what` names the field in the error).
    fn flag(&mut self, what: &'static str) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::BadField(what)),
        }
    }
    fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        Ok(self.take(N)?.try_into().unwrap())
    }
    fn str(&mut self) -> Result<String, WireError> {
        let n = self.u16()? as usize;
        std::str::from_utf8(self.take(n)?)
            .map(str::to_string)
            .map_err(|_| WireError::BadString)
    }
    /// A string of lowercase hex digits, even length (client names and hashes).
    fn hex(&mut self) -> Result<String, WireError> {
        let s = self.str()?;
        if s.len() % 2 != 0
            || !s
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        {
            return Err(WireError::BadField("hex string"));
        }
        Ok(s)
    }
}

impl Msg {
    fn kind(&self) -> u8 {
        match self {
            Msg::Hello { .. } => 1,
            Msg::StateQuery { .. } => 2,
            Msg::StateAnswer { .. } => 3,
            Msg::Invalidate { .. } => 4,
            Msg::InvalidateAck { .. } => 5,
            Msg::MdsEpoch { .. } => 6,
            Msg::Mount { .. } => 7,
            Msg::Unmount { .. } => 8,
            Msg::Withdraw { .. } => 9,
            Msg::RecoveryDone { .. } => 10,
            Msg::Journals { .. } => 11,
            Msg::Grace { .. } => 12,
            Msg::Client { .. } => 13,
            Msg::FsRecovery { .. } => 14,
            Msg::Drain { .. } => 15,
        }
    }

    /// Encode into `buf` (cleared first).
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.clear();
        let mut w = W(buf);
        w.bytes(&MAGIC.to_le_bytes())
            .u8(PROTO_VERSION)
            .u8(self.kind());
        match self {
            Msg::Hello {
                min_version,
                max_version,
                node,
                priority,
                epoch,
                incarnation,
                addrs,
            } => {
                w.u8(*min_version)
                    .u8(*max_version)
                    .u32(*node)
                    .u32(*priority)
                    .u64(*epoch);
                w.u64(*incarnation).u8(addrs.len().min(255) as u8);
                for a in addrs.iter().take(255) {
                    w.str(&a.netid).str(&a.uaddr);
                }
            }
            Msg::StateQuery {
                qid,
                from,
                fsid,
                fileid,
                stateid,
                clientid,
            } => {
                w.u64(*qid)
                    .u32(*from)
                    .u64(*fsid)
                    .u64(*fileid)
                    .bytes(stateid)
                    .u64(*clientid);
            }
            Msg::StateAnswer {
                qid,
                to,
                fsid,
                fileid,
                stateid,
                clientid,
                status,
                access,
                generation,
                verifier,
                epoch,
            } => {
                w.u64(*qid)
                    .u32(*to)
                    .u64(*fsid)
                    .u64(*fileid)
                    .bytes(stateid)
                    .u64(*clientid);
                w.u32(*status)
                    .u32(*access)
                    .u32(*generation)
                    .u64(*verifier)
                    .u64(*epoch);
            }
            Msg::Invalidate {
                iid,
                origin,
                clientid,
                fsid,
                fileid,
                other,
            } => {
                w.u64(*iid)
                    .u32(*origin)
                    .u64(*clientid)
                    .u64(*fsid)
                    .u64(*fileid);
                match other {
                    Some(o) => w.u8(1).bytes(o),
                    None => w.u8(0),
                };
            }
            Msg::InvalidateAck { iid, origin, node } => {
                w.u64(*iid).u32(*origin).u32(*node);
            }
            Msg::MdsEpoch { node, epoch } => {
                w.u32(*node).u64(*epoch);
            }
            Msg::Mount {
                req,
                node,
                table,
                spectator,
            } => {
                w.u64(*req).u32(*node).str(table).u8(*spectator as u8);
            }
            Msg::Unmount { req, node, table } => {
                w.u64(*req).u32(*node).str(table);
            }
            Msg::Withdraw { node, table, jid } => {
                w.u32(*node).str(table).u32(*jid);
            }
            Msg::RecoveryDone {
                node,
                table,
                jid,
                status,
            } => {
                w.u32(*node).str(table).u32(*jid).u32(*status);
            }
            Msg::Journals {
                node,
                journals,
                grace,
            } => {
                w.u32(*node).u32(journals.len() as u32);
                for (table, m) in journals {
                    w.str(table).u32(m.len() as u32);
                    for (n, j) in m {
                        w.u32(*n).u32(*j);
                    }
                }
                w.u64(grace.current)
                    .u64(grace.recovery)
                    .u32(grace.nodes.len() as u32);
                for (n, f) in &grace.nodes {
                    w.u32(*n).u8(*f);
                }
                w.u32(grace.epochs.len() as u32);
                for (e, m) in &grace.epochs {
                    w.u64(*e).u32(m.len() as u32);
                    for (name, p) in m {
                        w.str(name).str(p);
                    }
                }
                if !grace.owners.is_empty() {
                    w.u32(grace.owners.len() as u32);
                    for (name, n) in &grace.owners {
                        w.str(name).u32(*n);
                    }
                }
            }
            Msg::Grace { node, req, op } => {
                w.u32(*node).u64(*req).u8(*op);
            }
            Msg::FsRecovery {
                node,
                table,
                jid,
                result,
            } => {
                w.u32(*node).str(table).u32(*jid).str(result);
            }
            Msg::Client {
                node,
                req,
                create,
                name,
                princhash,
            } => {
                w.u32(*node)
                    .u64(*req)
                    .u8(*create as u8)
                    .str(name)
                    .str(princhash);
            }
            Msg::Drain {
                node,
                req,
                device,
                on,
            } => {
                w.u32(*node).u64(*req).u32(*device).u8(*on as u8);
            }
        }
    }

    /// Decode one message; any defect is an error, never a panic.
    pub fn decode(buf: &[u8]) -> Result<Msg, WireError> {
        if buf.len() > MAX_MSG {
            return Err(WireError::TooLarge(buf.len()));
        }
        let mut r = R(buf);
        let magic = r.u16()?;
        if magic != MAGIC {
            return Err(WireError::BadMagic(magic));
        }
        let version = r.u8()?;
        if !(PROTO_MIN_VERSION..=PROTO_VERSION).contains(&version) {
            return Err(WireError::Version(version));
        }
        let kind = r.u8()?;
        let m = match kind {
            1 => {
                let (min_version, max_version) = (r.u8()?, r.u8()?);
                let (node, priority, epoch, incarnation) = (r.u32()?, r.u32()?, r.u64()?, r.u64()?);
                let n = r.u8()?;
                let mut addrs = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    addrs.push(DsAddr {
                        netid: r.str()?,
                        uaddr: r.str()?,
                    });
                }
                Msg::Hello {
                    min_version,
                    max_version,
                    node,
                    priority,
                    epoch,
                    incarnation,
                    addrs,
                }
            }
            2 => Msg::StateQuery {
                qid: r.u64()?,
                from: r.u32()?,
                fsid: r.u64()?,
                fileid: r.u64()?,
                stateid: r.arr()?,
                clientid: r.u64()?,
            },
            3 => Msg::StateAnswer {
                qid: r.u64()?,
                to: r.u32()?,
                fsid: r.u64()?,
                fileid: r.u64()?,
                stateid: r.arr()?,
                clientid: r.u64()?,
                status: r.u32()?,
                access: r.u32()?,
                generation: r.u32()?,
                verifier: r.u64()?,
                epoch: r.u64()?,
            },
            4 => {
                let (iid, origin, clientid, fsid, fileid) =
                    (r.u64()?, r.u32()?, r.u64()?, r.u64()?, r.u64()?);
                let other = match r.u8()? {
                    0 => None,
                    _ => Some(r.arr()?),
                };
                Msg::Invalidate {
                    iid,
                    origin,
                    clientid,
                    fsid,
                    fileid,
                    other,
                }
            }
            5 => Msg::InvalidateAck {
                iid: r.u64()?,
                origin: r.u32()?,
                node: r.u32()?,
            },
            6 => Msg::MdsEpoch {
                node: r.u32()?,
                epoch: r.u64()?,
            },
            7 => Msg::Mount {
                req: r.u64()?,
                node: r.u32()?,
                table: r.str()?,
                spectator: r.u8()? != 0,
            },
            8 => Msg::Unmount {
                req: r.u64()?,
                node: r.u32()?,
                table: r.str()?,
            },
            9 => Msg::Withdraw {
                node: r.u32()?,
                table: r.str()?,
                jid: r.u32()?,
            },
            10 => Msg::RecoveryDone {
                node: r.u32()?,
                table: r.str()?,
                jid: r.u32()?,
                status: r.u32()?,
            },
            11 => {
                let node = r.u32()?;
                let mut journals = BTreeMap::new();
                for _ in 0..r.u32()? {
                    let table = r.str()?;
                    let mut m = BTreeMap::new();
                    for _ in 0..r.u32()? {
                        m.insert(r.u32()?, r.u32()?);
                    }
                    journals.insert(table, m);
                }
                let mut grace = GraceSnap {
                    current: r.u64()?,
                    recovery: r.u64()?,
                    ..GraceSnap::default()
                };
                for _ in 0..r.u32()? {
                    let n = r.u32()?;
                    let f = r.u8()?;
                    if f & !(GRACE_NEED | GRACE_ENFORCING) != 0 {
                        return Err(WireError::BadField("grace flags"));
                    }
                    grace.nodes.insert(n, f);
                }
                for _ in 0..r.u32()? {
                    let e = r.u64()?;
                    let mut m = BTreeMap::new();
                    for _ in 0..r.u32()? {
                        m.insert(r.hex()?, r.hex()?);
                    }
                    grace.epochs.insert(e, m);
                }
                if !r.0.is_empty() {
                    for _ in 0..r.u32()? {
                        let name = r.hex()?;
                        grace.owners.insert(name, r.u32()?);
                    }
                }
                if grace.current == 0 || grace.recovery >= grace.current {
                    return Err(WireError::BadField("grace epochs"));
                }
                Msg::Journals {
                    node,
                    journals,
                    grace,
                }
            }
            12 => {
                let (node, req, op) = (r.u32()?, r.u64()?, r.u8()?);
                if !(grace_op::START..=grace_op::REJOIN_DONE).contains(&op) {
                    return Err(WireError::BadField("grace op"));
                }
                Msg::Grace { node, req, op }
            }
            14 => Msg::FsRecovery {
                node: r.u32()?,
                table: r.str()?,
                jid: r.u32()?,
                result: r.str()?,
            },
            13 => {
                let (node, req) = (r.u32()?, r.u64()?);
                let create = r.flag("client op")?;
                Msg::Client {
                    node,
                    req,
                    create,
                    name: r.hex()?,
                    princhash: r.hex()?,
                }
            }
            15 => Msg::Drain {
                node: r.u32()?,
                req: r.u64()?,
                device: r.u32()?,
                on: r.flag("drain flag")?,
            },
            k => return Err(WireError::UnknownKind(k)),
        };
        if !r.0.is_empty() {
            return Err(WireError::Trailing(r.0.len()));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Msg> {
        vec![
            Msg::Hello {
                min_version: 1,
                max_version: 1,
                node: 2,
                priority: 10,
                epoch: 7,
                incarnation: 99,
                addrs: vec![DsAddr {
                    netid: "tcp".into(),
                    uaddr: "10.0.0.2.8.1".into(),
                }],
            },
            Msg::StateQuery {
                qid: 1,
                from: 2,
                fsid: 3,
                fileid: 4,
                stateid: [5; 16],
                clientid: 6,
            },
            Msg::StateAnswer {
                qid: 1,
                to: 2,
                fsid: 3,
                fileid: 4,
                stateid: [5; 16],
                clientid: 6,
                status: 0,
                access: 3,
                generation: 1,
                verifier: 9,
                epoch: 2,
            },
            Msg::Invalidate {
                iid: 1,
                origin: 1,
                clientid: 6,
                fsid: 3,
                fileid: 4,
                other: Some([1; 12]),
            },
            Msg::Invalidate {
                iid: 2,
                origin: 1,
                clientid: 6,
                fsid: 0,
                fileid: 0,
                other: None,
            },
            Msg::InvalidateAck {
                iid: 1,
                origin: 1,
                node: 3,
            },
            Msg::MdsEpoch { node: 1, epoch: 4 },
            Msg::Mount {
                req: 1,
                node: 2,
                table: "c:fs".into(),
                spectator: false,
            },
            Msg::Unmount {
                req: 2,
                node: 2,
                table: "c:fs".into(),
            },
            Msg::Withdraw {
                node: 2,
                table: "c:fs".into(),
                jid: 1,
            },
            Msg::RecoveryDone {
                node: 2,
                table: "c:fs".into(),
                jid: 1,
                status: 1,
            },
            Msg::Journals {
                node: 1,
                journals: [("c:fs".to_string(), [(1, 0), (2, 1)].into())].into(),
                grace: GraceSnap {
                    current: 3,
                    recovery: 2,
                    nodes: [(1, GRACE_NEED | GRACE_ENFORCING), (2, GRACE_ENFORCING)].into(),
                    epochs: [
                        (2, [("6c696e7578".to_string(), "ab".to_string())].into()),
                        (3, BTreeMap::new()),
                    ]
                    .into(),
                    owners: [("6c696e7578".to_string(), 1)].into(),
                },
            },
            Msg::Grace {
                node: 2,
                req: 5,
                op: grace_op::START,
            },
            Msg::Client {
                node: 2,
                req: 6,
                create: true,
                name: "6c696e7578".into(),
                princhash: String::new(),
            },
            Msg::Drain {
                node: 1,
                req: 7,
                device: 2,
                on: true,
            },
            Msg::FsRecovery {
                node: 3,
                table: "c:fs".into(),
                jid: 1,
                result: "Done".into(),
            },
        ]
    }

    #[test]
    fn every_kind_round_trips() {
        let mut buf = Vec::new();
        for m in all() {
            m.encode(&mut buf);
            assert_eq!(Msg::decode(&buf).unwrap(), m);
        }
    }

    /// Writes every kind as the `cpgmsg` fuzz seed corpus when `PNFS_WRITE_CORPUS` names
    /// the `fuzz/` folder (`PNFS_WRITE_CORPUS=$PWD/fuzz cargo test --lib wire`).
    #[test]
    fn write_fuzz_corpus() {
        let Some(dir) = std::env::var_os("PNFS_WRITE_CORPUS") else {
            return;
        };
        let dir = std::path::PathBuf::from(dir).join("corpus/cpgmsg");
        std::fs::create_dir_all(&dir).unwrap();
        let mut buf = Vec::new();
        for (i, m) in all().iter().enumerate() {
            m.encode(&mut buf);
            std::fs::write(dir.join(format!("kind-{i:02}")), &buf).unwrap();
        }
    }

    #[test]
    fn defects_are_errors() {
        let mut buf = Vec::new();
        all()[0].encode(&mut buf);
        for n in 0..buf.len() {
            assert!(Msg::decode(&buf[..n]).is_err(), "prefix {n} accepted");
        }
        let mut v = buf.clone();
        v[2] = 9;
        assert_eq!(Msg::decode(&v), Err(WireError::Version(9)));
        let mut v = buf.clone();
        v[0] = 0;
        assert!(matches!(Msg::decode(&v), Err(WireError::BadMagic(_))));
        let mut v = buf.clone();
        v[3] = 200;
        assert_eq!(Msg::decode(&v), Err(WireError::UnknownKind(200)));
        let mut v = buf.clone();
        v.push(0);
        assert_eq!(Msg::decode(&v), Err(WireError::Trailing(1)));
    }
}
