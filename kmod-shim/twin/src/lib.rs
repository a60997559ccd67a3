//! The user-space twin of the kernel half: the state machine of `kmod-shim/module/`, over
//! NETLINK_USERSOCK, so the daemon, the CLI and the tests run without a VM.
//!
//! It behaves as `kmod-shim/PROTOCOL.md` says, function for function with the module:
//! `register`/`unregister`/`daemon_gone`, `upcall`/`reply`, the pnfsd and gfs2ctl
//! downcalls and dumps, events on USERSOCK multicast groups, and the `trigger` load
//! generator. It answers nlctrl for its families, so clients resolve them with the same
//! code as against the kernel. Admin commands are checked against the sender's
//! SCM_CREDENTIALS, as GENL_ADMIN_PERM would check CAP_NET_ADMIN.
//!
//! Upcalls go out from a second socket, the upcall socket, which REGISTER's reply names
//! (`upcall-port`): the daemon's REPLYs and re-REGISTERs come back there. It takes admin
//! requests (REPLY included) only from the registered daemon: a datagram from its port
//! whose SCM_CREDENTIALS (pid and uid) are those it registered with. Both sockets have
//! SO_PASSCRED, so every datagram's credentials are checked: a port alone proves nothing
//! once its socket is closed — a process that binds the dead daemon's port before the
//! pidfd watcher has forgotten the daemon must not inherit its rights. (Taking
//! credentials with every datagram costs each receive a control message: 0.3 µs of a
//! 7.5 µs thread-to-thread USERSOCK round trip on a 2-core test machine, 4 %; the
//! module does not pay it, its skb carries them.)
//!
//! The receive threads never wait for a peer: an answer goes out with MSG_DONTWAIT, and
//! one whose requester's queue is full is dropped and counted, as the kernel's
//! genlmsg_reply() drops it; only the rest of a dump (which the kernel paces by the
//! reader's recvmsg) and a TRIGGER's answer wait, in tasks, for at most SEND_PATIENCE.

pub mod gfs2;
pub mod logging;
pub mod nlctrl;
pub mod pnfsd;
pub mod record;
pub mod refusals;
pub mod trigger;
pub mod upcall;

use pnfs_netlink::client::*;
use pnfs_netlink::codec::*;
use pnfs_netlink::policy::{AttrKind, Family, Policy};
use pnfs_netlink::socket::{
    recvmmsg_into, set_blocking_receive, Creds, NlSocket, RecvBatch, SocketOptions,
    NETLINK_USERSOCK,
};
use pnfs_netlink::{gfs2ctl, pnfsd as pnfsd_nl, DecodeError, NlError};
use refusals::{Reason, Refusals};
use std::borrow::Cow;
use std::collections::HashSet;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::watch;
use upcall::Upcalls;

/// Family id the twin gives pnfsd.
pub const PNFSD_ID: u16 = 0x7001;
/// Family id the twin gives gfs2ctl.
pub const GFS2CTL_ID: u16 = 0x7002;
/// USERSOCK multicast group of pnfsd events.
pub const PNFSD_EVENTS_GROUP: u32 = 1;
/// USERSOCK multicast group of gfs2ctl events.
pub const GFS2CTL_EVENTS_GROUP: u32 = 2;
/// Largest datagram the twin sends (dumps are split below it).
const MAX_DATAGRAM: usize = 16 * 1024;
/// How often the receive thread looks at the stop flag while nothing arrives.
const STOP_POLL: Duration = Duration::from_millis(100);
/// How long an answer sent from a task (the rest of a dump, a TRIGGER's answer) waits
/// for room in its requester's receive queue without any making progress. The receive
/// threads never wait.
pub(crate) const SEND_PATIENCE: Duration = Duration::from_secs(2);
/// How often such a task tries again while the requester's queue is full.
const SEND_RETRY: Duration = Duration::from_millis(1);
/// Most dumps paced at once (one per requester): a dump beyond it whose requester's queue
/// is full loses its rest.
const MAX_PACED: usize = 64;

/// One of the two families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fam {
    Pnfsd,
    Gfs2,
}

impl Fam {
    pub fn id(self) -> u16 {
        match self {
            Fam::Pnfsd => PNFSD_ID,
            Fam::Gfs2 => GFS2CTL_ID,
        }
    }
    pub fn spec(self) -> &'static Family {
        match self {
            Fam::Pnfsd => &pnfsd_nl::FAMILY,
            Fam::Gfs2 => &gfs2ctl::FAMILY,
        }
    }
    pub fn group(self) -> u32 {
        match self {
            Fam::Pnfsd => PNFSD_EVENTS_GROUP,
            Fam::Gfs2 => GFS2CTL_EVENTS_GROUP,
        }
    }
    fn index(self) -> usize {
        self as usize
    }
    /// nlctrl's description of the family as the twin serves it.
    pub fn info(self) -> FamilyInfo {
        nlctrl::family(self).info()
    }

    /// The policy a request of command `cmd` is validated by, as the module's ops table
    /// gives it (`.policy`): the op's own request policy (reject-all for an op without
    /// request attributes); the family's whole set for a command it does not define.
    pub fn request_policy(self, cmd: u8) -> &'static Policy {
        match self {
            Fam::Pnfsd => pnfsd_nl::op_policy(cmd),
            Fam::Gfs2 => gfs2ctl::op_policy(cmd),
        }
        .unwrap_or(self.spec().policy)
    }
}

/// `-EINVAL` "reserved bit set" at a flags attribute with a bit outside its mask, as
/// the kernel's NLA_POLICY_MASK validation refuses it (after the op's policy passed).
pub fn reserved_bit(a: &Attr<'_>) -> OpError {
    OpError::new(libc::EINVAL, "reserved bit set").at(a)
}

/// A failed request: errno and extack, as the kernel's `netlink_ack()` reports them.
#[derive(Debug)]
pub struct OpError {
    pub errno: i32,
    /// The extack message ("" for none: the kernel sets none for some errors).
    pub msg: Cow<'static, str>,
    /// Offset of the offending attribute from the start of the netlink message.
    pub offset: Option<u32>,
    /// The policy of the refused attribute (NLMSGERR_ATTR_POLICY), where the kernel's
    /// validation names it (`NL_SET_ERR_MSG_ATTR_POL`).
    pub policy: Option<nlctrl::ErrPolicy>,
    /// A required attribute that is missing (NLMSGERR_ATTR_MISS_TYPE), and the offset of
    /// the nest it is missing from (NLMSGERR_ATTR_MISS_NEST), as `NL_REQ_ATTR_CHECK`
    /// sets them.
    pub miss_type: Option<u32>,
    pub miss_nest: Option<u32>,
    /// The validation error behind it, until `for_request` renders it as the kernel's
    /// (boxed: errors are rare, and `OpResult` is returned everywhere).
    pub decode: Option<Box<DecodeError>>,
}

impl OpError {
    pub fn new(errno: i32, msg: impl Into<Cow<'static, str>>) -> Self {
        OpError {
            errno,
            msg: msg.into(),
            offset: None,
            policy: None,
            miss_type: None,
            miss_nest: None,
            decode: None,
        }
    }

    /// An error without an extack message.
    pub fn bare(errno: i32) -> Self {
        OpError::new(errno, "")
    }

    /// `-EINVAL` "missing attribute: NAME" with the missing-type TLV, as the module's
    /// PNFS_SHIM_REQ_ATTR (GENL_REQ_ATTR_CHECK) says it.
    pub fn missing(name: &str, id: u16) -> Self {
        OpError {
            miss_type: Some(id as u32),
            ..OpError::new(libc::EINVAL, format!("missing attribute: {name}"))
        }
    }

    /// Point at attribute `a` of the request (a top-level attribute of a genl message,
    /// or one iterated from its attributes).
    pub fn at(mut self, a: &Attr<'_>) -> Self {
        self.offset = Some(msg_offset(a));
        self
    }

    pub fn with_policy(mut self, p: nlctrl::ErrPolicy) -> Self {
        self.policy = Some(p);
        self
    }

    /// The kernel's rendering of a validation error of a request of `fam` with command
    /// `cmd` whose attributes are `attrs` (lib/nlattr.c `validate_nla` against the op's
    /// policy, and GENL_REQ_ATTR_CHECK): errno, message, offset and the attribute's
    /// policy as the kernel reports them. Other errors are returned as they are.
    pub fn for_request(self, fam: Fam, cmd: u8, attrs: &[u8]) -> OpError {
        let Some(d) = self.decode.as_deref().copied() else {
            return self;
        };
        if let DecodeError::MissingAttr { attr } = d {
            return match fam.spec().policy.attrs.iter().position(|p| p.name == attr) {
                Some(id) => OpError::missing(attr, id as u16),
                None => self,
            };
        }
        const LEFTOVER: &str = "bytes leftover after parsing attributes";
        if let DecodeError::AttrOverrun { .. } = d {
            return OpError::new(libc::EINVAL, LEFTOVER);
        }
        let offset = d.offset().map(|o| (NLMSG_HDRLEN + GENL_HDRLEN + o) as u32);
        let policy = fam.request_policy(cmd);
        let Some((table, kind, payload)) =
            d.offset().and_then(|o| nlctrl::attr_at(policy, attrs, o))
        else {
            return self;
        };
        // An id within the policy's range that it leaves NLA_UNSPEC (an attribute of the
        // family the op does not take); beyond it, "Unknown attribute type" (as is).
        if let DecodeError::UnknownAttr { .. } = d {
            return match kind != 0 && kind <= table.max() {
                true => OpError {
                    offset,
                    ..OpError::new(libc::EINVAL, "Unsupported attribute")
                },
                false => self,
            };
        }
        let Some(p) = table.get(kind) else {
            return self;
        };
        let nla = nlctrl::nla_of(p);
        let refused = |errno, msg: &'static str| OpError {
            offset,
            policy: Some(nlctrl::ErrPolicy::Spec(table, kind)),
            ..OpError::new(errno, msg)
        };
        const FAILED: &str = "Attribute failed policy validation";
        match d {
            // A flag has no fixed length in the kernel's table: any payload fails it.
            DecodeError::AttrLength { .. } if p.kind == AttrKind::Flag => {
                refused(libc::ERANGE, FAILED)
            }
            DecodeError::AttrLength { .. } => refused(libc::EINVAL, "invalid attribute length"),
            DecodeError::OutOfRange { .. } => refused(libc::ERANGE, "integer out of range"),
            DecodeError::AttrLengthRange { .. } if p.kind == AttrKind::Binary => {
                refused(libc::ERANGE, "binary attribute size out of range")
            }
            // NLA_NUL_STRING with .len: no NUL within len + 1 bytes is -EINVAL, a NUL
            // there but more text after it -ERANGE.
            DecodeError::AttrLengthRange { .. } => {
                let limit = payload.len().min(nla.len as usize + 1);
                match payload[..limit].contains(&0) {
                    true => refused(libc::ERANGE, FAILED),
                    false => refused(libc::EINVAL, FAILED),
                }
            }
            DecodeError::NotNulTerminated { .. } => refused(libc::EINVAL, FAILED),
            // A nest of 1 to 3 bytes fails its own policy; longer, what is left after its
            // last whole attribute fails the parse of its contents.
            DecodeError::BadNest { .. } if payload.len() < NLA_HDRLEN => {
                refused(libc::ERANGE, FAILED)
            }
            DecodeError::BadNest { .. } => OpError::new(libc::EINVAL, LEFTOVER),
            DecodeError::NestedFlagMissing { .. } => {
                refused(libc::EINVAL, "NLA_F_NESTED is missing")
            }
            DecodeError::NestedFlagUnexpected { .. } => {
                refused(libc::EINVAL, "NLA_F_NESTED not expected")
            }
            _ => self,
        }
    }
}

/// Offset of `a`, a top-level attribute of a genl request (as iterated from its
/// attributes), from the start of the netlink message: what extack offsets count.
pub fn msg_offset(a: &Attr<'_>) -> u32 {
    (NLMSG_HDRLEN + GENL_HDRLEN + a.offset) as u32
}

impl From<DecodeError> for OpError {
    fn from(e: DecodeError) -> Self {
        OpError {
            offset: e.offset().map(|o| (NLMSG_HDRLEN + GENL_HDRLEN + o) as u32),
            decode: Some(Box::new(e)),
            ..OpError::new(e.errno(), e.to_string())
        }
    }
}

pub type OpResult = Result<(), OpError>;

/// Configuration of a twin.
#[derive(Debug, Clone)]
pub struct TwinConfig {
    /// USERSOCK port to bind (unique in the network namespace).
    pub port: u32,
    /// Uids besides 0 allowed to send admin commands.
    pub admin_uids: Vec<u32>,
    /// Default upcall timeout.
    pub timeout: Duration,
}

impl Default for TwinConfig {
    fn default() -> Self {
        TwinConfig {
            port: TWIN_DEFAULT_PORT,
            admin_uids: vec![],
            timeout: Duration::from_secs(5),
        }
    }
}

/// The twin's whole state (module: the per-netns `struct pnfs_shim_net`).
pub struct Shim {
    pub upcalls: [Upcalls; 2],
    pub pnfsd: pnfsd::PnfsdState,
    pub gfs2: gfs2::Gfs2State,
}

impl Shim {
    fn new(cfg: &TwinConfig) -> Self {
        Shim {
            upcalls: [
                Upcalls::new(pnfsd_nl::UpcallKind::ALL.len(), cfg.timeout),
                Upcalls::new(gfs2ctl::UpcallKind::ALL.len(), cfg.timeout),
            ],
            pnfsd: Default::default(),
            gfs2: Default::default(),
        }
    }

    pub fn up(&mut self, fam: Fam) -> &mut Upcalls {
        &mut self.upcalls[fam.index()]
    }
}

/// What a handler needs besides the state.
pub struct Ctx<'a> {
    pub fam: Fam,
    pub msg: &'a GenlMsg<'a>,
    pub from_port: u32,
    /// The sender's SCM_CREDENTIALS.
    pub creds: Option<Creds>,
    /// Why the sender may not send admin requests, whatever its uid.
    pub distrust: Option<Distrust>,
    /// When the twin took the request up (a REPLY's round trip ends here).
    pub received: Instant,
    /// Reply messages are appended here.
    pub out: &'a mut Vec<u8>,
    /// Events to multicast after the request is answered.
    pub events: &'a mut Vec<u8>,
    pub twin_port: u32,
    /// The answer is sent later by a task (TRIGGER): no ACK now.
    pub deferred: bool,
}

impl Ctx<'_> {
    /// Start a reply message to the request (same cmd, same seq; nlmsg_pid the
    /// requester's port, as the kernel's genlmsg_put_reply() puts it).
    pub fn reply(&mut self, flags: u16) -> MsgBuilder<'_> {
        GenlHeader::new(self.fam.id(), self.msg.cmd())
            .version(self.fam.spec().version)
            .flags(flags)
            .seq(self.msg.header.seq)
            .pid(self.from_port)
            .start(self.out)
    }

    /// Start an event message for the family's group.
    pub fn event(&mut self, cmd: u8) -> MsgBuilder<'_> {
        GenlHeader::new(self.fam.id(), cmd)
            .version(self.fam.spec().version)
            .start(self.events)
    }
}

/// The registered daemons (per family: port, and the credentials of its REGISTER), for
/// the receive threads, which copy them again only when `gen` moved: one atomic load per
/// datagram.
#[derive(Default)]
struct Peers {
    gen: std::sync::atomic::AtomicU64,
    list: Mutex<[Option<(u32, Creds)>; 2]>,
}

impl Peers {
    fn set(&self, fam: Fam, peer: Option<(u32, Creds)>) {
        self.list.lock().unwrap()[fam.index()] = peer;
        self.gen.fetch_add(1, Ordering::Release);
    }
}

/// Shared handle to a running twin.
#[derive(Clone)]
pub struct Twin {
    pub shim: Arc<Mutex<Shim>>,
    pub sock: Arc<NlSocket>,
    /// The upcall socket (see the module doc): upcalls go out from it.
    pub up: Arc<NlSocket>,
    peers: Arc<Peers>,
    /// The per-upcall record, when asked for (`--record`; a test aid, see `record`).
    pub record: Option<Arc<record::Recorder>>,
    /// Uids besides 0 allowed to send admin commands (fixed at bind: read without the
    /// state's lock on every admin request, REPLY included).
    admin_uids: Arc<[u32]>,
    /// What was refused or dropped, by reason.
    pub refusals: Arc<Refusals>,
    /// Requesters whose dump is being paced by a task (see `send_answer`).
    paced: Arc<Mutex<HashSet<u32>>>,
}

impl Twin {
    /// Bind the twin's socket. Fails with EADDRINUSE when another twin runs in this
    /// network namespace on the same port.
    pub fn bind(cfg: &TwinConfig) -> Result<Twin, NlError> {
        let opts = SocketOptions {
            port: cfg.port,
            rcvbuf: 8 << 20,
            passcred: true,
            ext_ack: false,
        };
        let sock = NlSocket::open(NETLINK_USERSOCK, &opts)?;
        // SO_PASSCRED on the upcall socket too: see the module doc.
        let up = NlSocket::open(NETLINK_USERSOCK, &SocketOptions { port: 0, ..opts })?;
        Ok(Twin {
            shim: Arc::new(Mutex::new(Shim::new(cfg))),
            sock: Arc::new(sock),
            up: Arc::new(up),
            peers: Arc::default(),
            record: None,
            admin_uids: cfg.admin_uids.clone().into(),
            refusals: Arc::default(),
            paced: Arc::default(),
        })
    }

    fn is_admin(&self, creds: Option<Creds>) -> bool {
        matches!(creds, Some(c) if c.uid == 0 || self.admin_uids.contains(&c.uid))
    }

    /// May the sender of `ctx` send admin op `op`? Not when `vet` distrusts it (another
    /// process on a registered daemon's port; a foreign port on the upcall socket),
    /// whatever its uid; else when its uid is 0 or an `--admin-uid`. Refusals are counted.
    fn admin_check(&self, ctx: &Ctx<'_>, op: &str) -> OpResult {
        let port = ctx.from_port;
        let (reason, msg) = match ctx.distrust {
            Some(Distrust::Impostor { registered }) => {
                let (pid, uid) = ctx.creds.map_or((-1, -1), |c| (c.pid as i64, c.uid as i64));
                (
                    Reason::Impostor,
                    format!(
                        "operation {op} refused: port {port} is the registered daemon's \
                         (pid {}, uid {}), and this sender (pid {pid}, uid {uid}) is not it",
                        registered.pid, registered.uid
                    ),
                )
            }
            Some(Distrust::ForeignPort) => (
                Reason::ForeignPort,
                format!(
                    "operation {op} refused: the upcall socket takes admin requests from \
                     the registered daemon only, not from port {port}"
                ),
            ),
            None if self.is_admin(ctx.creds) => return Ok(()),
            None => (
                Reason::Unprivileged,
                format!(
                    "operation {op} requires admin privilege (uid {})",
                    ctx.creds.map(|c| c.uid as i64).unwrap_or(-1)
                ),
            ),
        };
        self.refusals.note(reason, || msg.clone());
        Err(OpError::new(libc::EPERM, msg))
    }

    /// Record every upcall and every unmatched reply in `path` (see `record`).
    pub fn with_record(mut self, path: &std::path::Path) -> std::io::Result<Twin> {
        self.record = Some(Arc::new(record::Recorder::create(path)?));
        Ok(self)
    }

    pub fn port(&self) -> u32 {
        self.sock.port()
    }

    /// Serve until `shutdown` turns true. Requests are taken by two threads blocked in
    /// recvmmsg(2), one on the twin's socket and one on its upcall socket, which answer
    /// them and issue the load generator's next upcall from each REPLY, as the module
    /// does in its receive path: no event loop between the sockets and the handlers.
    /// The runtime keeps what waits (a TRIGGER's timeouts and answer, the daemon's
    /// pidfd). nlctrl's `notify` group hears the families appear once the threads serve,
    /// and go once they stopped.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), NlError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut main = self.spawn_receiver("twin-serve", false, &stop)?;
        let mut upcalls = self.spawn_receiver("twin-upcalls", true, &stop)?;
        self.notify(true);
        let first = tokio::select! {
            r = &mut main => Some(r),
            r = &mut upcalls => Some(r),
            _ = shutdown.changed() => None,
        };
        // The threads see the flag within STOP_POLL; wait for both, so that the sockets
        // are closed (their ports free) once `run` returns and the last clone is dropped.
        stop.store(true, Ordering::Relaxed);
        let (a, b) = (main.await, upcalls.await);
        self.notify(false);
        let ended = |r: Result<Result<(), NlError>, _>| r.unwrap_or_else(|_| Err(thread_died()));
        match first {
            // One thread ended by itself (an error): the other was stopped.
            Some(r) => ended(r),
            None => ended(a).and(ended(b)),
        }
    }

    /// Tell nlctrl's `notify` group (USERSOCK group `nlctrl::NOTIFY_GROUP`) that the
    /// families appeared (`up`: the twin serves them now) or went (it no longer does), as
    /// the kernel does when the module registers and unregisters them.
    fn notify(&self, up: bool) {
        // One datagram per message, as the kernel multicasts each event in its own skb;
        // best effort, as genlmsg_multicast: a full listener loses it.
        for m in nlctrl::announce(up) {
            if let Err(e) = self
                .sock
                .try_send_to(&m, 0, 1 << (nlctrl::NOTIFY_GROUP - 1))
            {
                tracing::debug!("nlctrl notification: {e}");
            }
        }
    }

    /// The twin's socket, or (`upcalls`) its upcall socket.
    fn socket(&self, upcalls: bool) -> &NlSocket {
        if upcalls {
            &self.up
        } else {
            &self.sock
        }
    }

    /// Start a receive thread on the twin's socket, or (`upcalls`) on its upcall socket;
    /// its result arrives on the returned channel.
    fn spawn_receiver(
        &self,
        name: &str,
        upcalls: bool,
        stop: &Arc<AtomicBool>,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<(), NlError>>, NlError> {
        set_blocking_receive(self.socket(upcalls).as_raw_fd(), STOP_POLL)?;
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let (rt, stop, twin) = (
            tokio::runtime::Handle::current(),
            stop.clone(),
            self.clone(),
        );
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                // Handlers spawn tasks (TRIGGER, the pidfd watch) onto the runtime.
                let _rt = rt.enter();
                let _ = done_tx.send(twin.serve(upcalls, &stop));
            })
            .map_err(NlError::Io)?;
        Ok(done_rx)
    }

    /// A receive thread: every datagram, until `stop`. Every datagram carries its
    /// sender's credentials (SO_PASSCRED on both sockets); `vet` says when they, and
    /// the socket it came to, forbid admin requests whatever the sender's uid.
    fn serve(&self, upcalls: bool, stop: &AtomicBool) -> Result<(), NlError> {
        let sock = self.socket(upcalls);
        let fd = sock.as_raw_fd();
        // 64 KiB slots: a request from a client may be as long as a kernel would take.
        let mut rx = RecvBatch::adaptive(16, 64 * 1024);
        let mut out = Vec::with_capacity(MAX_DATAGRAM);
        let mut events = Vec::with_capacity(4096);
        let mut peers = (u64::MAX, [None; 2]);
        while !stop.load(Ordering::Relaxed) {
            let n = match recvmmsg_into(fd, &mut rx, true, libc::MSG_WAITFORONE | libc::MSG_TRUNC) {
                Ok(n) => n,
                Err(e) => match e.raw_os_error() {
                    Some(libc::EAGAIN) | Some(libc::EINTR) => continue,
                    Some(libc::ENOBUFS) => {
                        tracing::warn!("twin receive queue overflowed; requests were lost");
                        continue;
                    }
                    _ => return Err(NlError::Io(e)),
                },
            };
            for i in 0..n {
                let (buf, from) = rx.get(i);
                if from.truncated {
                    tracing::warn!(port = from.port, "dropped a truncated datagram");
                    continue;
                }
                let gen = self.peers.gen.load(Ordering::Acquire);
                if gen != peers.0 {
                    peers = (gen, *self.peers.list.lock().unwrap());
                }
                let distrust = vet(&peers.1, upcalls, &from);
                self.serve_datagram(upcalls, buf, from, distrust, &mut out, &mut events);
            }
        }
        Ok(())
    }

    /// Dispatch every message of one datagram; answer and multicast what they produce.
    fn serve_datagram(
        &self,
        upcalls: bool,
        buf: &[u8],
        from: pnfs_netlink::socket::From,
        distrust: Option<Distrust>,
        out: &mut Vec<u8>,
        events: &mut Vec<u8>,
    ) {
        for m in Messages::new(buf) {
            // A REPLY's round trip ends when the twin takes it up, after the messages
            // before it (in this datagram and the batch) were handled, as the module's
            // handler runs message by message and the floor's sender stops its clock
            // right after receiving each answer.
            let received = Instant::now();
            let Ok(m) = m else {
                // A malformed header: nothing to answer to (the kernel drops it too).
                tracing::debug!(port = from.port, "malformed netlink header dropped");
                break;
            };
            out.clear();
            events.clear();
            let sender = Sender {
                port: from.port,
                creds: from.creds,
                distrust,
            };
            self.dispatch(m, sender, received, out, events);
            if !out.is_empty() {
                self.send_answer(upcalls, out, from.port, m);
            }
            if !events.is_empty() {
                self.multicast(events, m.header.kind);
            }
        }
    }

    fn multicast(&self, events: &[u8], family: u16) {
        let group = if family == GFS2CTL_ID {
            GFS2CTL_EVENTS_GROUP
        } else {
            PNFSD_EVENTS_GROUP
        };
        // Events are best effort, as genlmsg_multicast is: a full listener loses them
        // (and sees ENOBUFS), the twin never blocks on it.
        if let Err(e) = self.sock.try_send_to(events, 0, 1 << (group - 1)) {
            tracing::debug!("event multicast: {e}");
        }
    }

    /// Send the answer to `request` (whole messages), split into datagrams of at most
    /// MAX_DATAGRAM, without waiting: the receive thread never waits for one peer. A
    /// requester whose receive queue is full loses the answer (counted), as the kernel's
    /// genlmsg_reply() to a full socket drops it — except the rest of an answer that
    /// spans several datagrams (a dump), which a task paces into the requester's queue as
    /// it reads (`pace`), as the kernel's netlink_dump() goes on from the reader's
    /// recvmsg(). Another dump to a requester whose dump is being paced is refused with
    /// `-EBUSY`, as __netlink_dump_start() refuses it.
    fn send_answer(&self, upcalls: bool, buf: &[u8], port: u32, request: NlMsg<'_>) {
        let sock = self.socket(upcalls);
        if request.header.flags & NLM_F_DUMP == NLM_F_DUMP
            && self.paced.lock().unwrap().contains(&port)
        {
            let mut err = Vec::with_capacity(64 + request.payload.len());
            let busy = OpError::new(libc::EBUSY, "a dump to this socket is still in progress");
            put_ack(&mut err, request.header, request.payload, port, Some(&busy));
            if let Err(e) = sock.try_send_to(&err, port, 0) {
                tracing::debug!(port, "EBUSY not delivered: {e}");
            }
            return;
        }
        let mut start = 0;
        while start < buf.len() {
            let end = datagram_end(buf, start);
            match sock.try_send_to(&buf[start..end], port, 0) {
                Ok(_) => start = end,
                Err(NlError::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(NlError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let several = start > 0 || end < buf.len();
                    if several && self.pace(upcalls, &buf[start..], port) {
                        return;
                    }
                    let lost = buf.len() - start;
                    self.refusals.note(Reason::AnswerDropped, || {
                        format!("port {port}'s receive queue is full: {lost} bytes of an answer dropped")
                    });
                    return;
                }
                Err(e) => {
                    tracing::debug!(port, "answer not delivered: {e}");
                    return;
                }
            }
        }
    }

    /// Send `rest` (whole messages) to `port` from a task, datagram by datagram, each
    /// waiting for room at most SEND_PATIENCE; false (nothing done) when `port` already
    /// has one or MAX_PACED are under way.
    fn pace(&self, upcalls: bool, rest: &[u8], port: u32) -> bool {
        {
            let mut paced = self.paced.lock().unwrap();
            if paced.len() >= MAX_PACED || !paced.insert(port) {
                return false;
            }
        }
        let (twin, rest) = (self.clone(), rest.to_vec());
        tokio::spawn(async move {
            let mut start = 0;
            while start < rest.len() {
                let end = datagram_end(&rest, start);
                let sock = twin.socket(upcalls);
                if let Err(e) = twin.send_patiently(sock, &rest[start..end], port).await {
                    if would_block(&e) {
                        let lost = rest.len() - start;
                        twin.refusals.note(Reason::AnswerDropped, || {
                            format!("port {port} read nothing for {SEND_PATIENCE:?}: {lost} bytes of a dump dropped")
                        });
                    } else {
                        tracing::debug!(port, "dump not delivered: {e}");
                    }
                    break;
                }
                start = end;
            }
            twin.paced.lock().unwrap().remove(&port);
        });
        true
    }

    /// Send one datagram to `port`, waiting in this task while its receive queue is full,
    /// at most SEND_PATIENCE (then the EAGAIN error).
    pub(crate) async fn send_patiently(
        &self,
        sock: &NlSocket,
        buf: &[u8],
        port: u32,
    ) -> Result<(), NlError> {
        let deadline = Instant::now() + SEND_PATIENCE;
        loop {
            match sock.try_send_to(buf, port, 0) {
                Ok(_) => return Ok(()),
                Err(NlError::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if would_block(&e) && Instant::now() < deadline => {
                    tokio::time::sleep(SEND_RETRY).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn dispatch(
        &self,
        m: NlMsg<'_>,
        sender: Sender,
        received: Instant,
        out: &mut Vec<u8>,
        events: &mut Vec<u8>,
    ) {
        let h = *m.header;
        if h.flags & NLM_F_REQUEST == 0 {
            return; // answers to nothing we asked: ignore, as the kernel does
        }
        let twin_port = self.port();
        let result = match h.kind {
            GENL_ID_CTRL => GenlMsg::parse(m)
                .map_err(OpError::from)
                .and_then(|g| nlctrl::serve(&g, sender.port, out))
                .map(|()| false),
            PNFSD_ID | GFS2CTL_ID => {
                let fam = if h.kind == PNFSD_ID {
                    Fam::Pnfsd
                } else {
                    Fam::Gfs2
                };
                match GenlMsg::parse(m) {
                    Err(e) => Err(e.into()),
                    Ok(g) => {
                        let mut ctx = Ctx {
                            fam,
                            msg: &g,
                            from_port: sender.port,
                            creds: sender.creds,
                            distrust: sender.distrust,
                            received,
                            out,
                            events,
                            twin_port,
                            deferred: false,
                        };
                        self.family_request(&mut ctx)
                            .map(|()| ctx.deferred)
                            .map_err(|e| e.for_request(fam, g.cmd(), g.attrs))
                    }
                }
            }
            NLMSG_NOOP | NLMSG_DONE | NLMSG_ERROR => return,
            other => Err(OpError::new(
                libc::ENOENT,
                format!("unknown family id {other:#x}"),
            )),
        };
        // Acks and errors go to the requester's port, with it in nlmsg_pid.
        match result {
            Ok(false) if h.flags & NLM_F_ACK != 0 && h.flags & NLM_F_DUMP != NLM_F_DUMP => {
                put_ack(out, &h, m.payload, sender.port, None);
            }
            Ok(_) => {}
            Err(e) => {
                out.clear();
                events.clear();
                put_ack(out, &h, m.payload, sender.port, Some(&e));
            }
        }
    }

    fn family_request(&self, ctx: &mut Ctx<'_>) -> OpResult {
        let cmd = ctx.msg.cmd();
        let Some(op) = ctx.fam.spec().op(cmd) else {
            return Err(OpError::new(
                libc::EOPNOTSUPP,
                format!("unknown command {cmd}"),
            ));
        };
        if op.upcall || op.kind == pnfs_netlink::policy::OpKind::Event {
            return Err(OpError::new(
                libc::EOPNOTSUPP,
                format!("{} is sent by the kernel, not to it", op.name),
            ));
        }
        let dump = ctx.msg.header.flags & NLM_F_DUMP == NLM_F_DUMP;
        if op.admin {
            self.admin_check(ctx, op.name)?;
        }
        match ctx.fam {
            Fam::Pnfsd => pnfsd::handle(self, ctx, op, dump),
            Fam::Gfs2 => gfs2::handle(self, ctx, op, dump),
        }
    }

    /// REGISTER (shared by both families). `role` is pnfsd's, carried by `daemon-up`.
    pub fn register(
        &self,
        ctx: &mut Ctx<'_>,
        version: u32,
        node_id: u32,
        role: Option<u32>,
    ) -> OpResult {
        let fam = ctx.fam;
        let mut shim = self.shim.lock().unwrap();
        let up = shim.up(fam);
        if let Some(d) = up.daemon {
            if d.port != ctx.from_port {
                return Err(OpError::new(
                    libc::EBUSY,
                    format!("a daemon is already registered on port {}", d.port),
                ));
            }
            if !d.is(ctx.from_port, ctx.creds) {
                // (`admin_check` refused it already, unless its view of the daemons was
                // a moment old.)
                drop(shim);
                self.refusals.note(Reason::Impostor, || {
                    format!(
                        "REGISTER on the registered daemon's port {} from another process",
                        d.port
                    )
                });
                return Err(OpError::new(
                    libc::EPERM,
                    format!(
                        "port {} is the registered daemon's, and this sender is not it",
                        d.port
                    ),
                ));
            }
        }
        let version = version.min(fam.spec().version as u32);
        let pid = ctx.creds.map(|c| c.pid).unwrap_or(0);
        let uid = ctx.creds.map(|c| c.uid).unwrap_or(u32::MAX);
        let fresh = up.daemon.is_none_or(|d| d.pid != pid);
        up.daemon = Some(upcall::Daemon {
            port: ctx.from_port,
            pid,
            uid,
            node_id,
            version,
        });
        // (Under the state's lock: a concurrent forget_daemon cannot come in between.)
        if let Some(c) = ctx.creds {
            self.peers.set(fam, Some((ctx.from_port, c)));
        }
        drop(shim);
        if fresh && pid > 0 {
            self.watch_daemon(fam, ctx.from_port, pid);
        }
        let port = ctx.from_port;
        let upcall_port = Some(self.up.port());
        let mut b = ctx.reply(0);
        match fam {
            Fam::Pnfsd => pnfsd_nl::ops::register::ReplyAttrs {
                version,
                port,
                upcall_port,
            }
            .put(&mut b),
            Fam::Gfs2 => gfs2ctl::ops::register::ReplyAttrs {
                version,
                port,
                upcall_port,
            }
            .put(&mut b),
        }
        b.finish();
        let (port, node_id, version) = (Some(port), Some(node_id), Some(version));
        match fam {
            Fam::Pnfsd => {
                let mut e = ctx.event(pnfsd_nl::ops::daemon_up::CMD);
                pnfsd_nl::ops::daemon_up::EventAttrs {
                    port,
                    node_id,
                    role,
                    version,
                }
                .put(&mut e);
                e.finish();
            }
            Fam::Gfs2 => {
                let mut e = ctx.event(gfs2ctl::ops::daemon_up::CMD);
                gfs2ctl::ops::daemon_up::EventAttrs {
                    port,
                    node_id,
                    version,
                }
                .put(&mut e);
                e.finish();
            }
        }
        tracing::info!(
            family = fam.spec().name,
            port,
            node_id,
            version,
            "daemon registered"
        );
        Ok(())
    }

    /// UNREGISTER (shared by both families).
    pub fn unregister(&self, ctx: &mut Ctx<'_>) -> OpResult {
        let registered = self.shim.lock().unwrap().up(ctx.fam).daemon;
        let Some(d) = registered.filter(|d| d.is(ctx.from_port, ctx.creds)) else {
            if registered.is_some_and(|d| d.port == ctx.from_port) {
                self.refusals.note(Reason::Impostor, || {
                    format!(
                        "UNREGISTER on the registered daemon's port {} from another process",
                        ctx.from_port
                    )
                });
            }
            return Err(OpError::new(libc::ENOENT, "not the registered daemon"));
        };
        let (n, node) = self.forget_daemon(ctx.fam, d.port, d.pid);
        let fam = ctx.fam;
        let port = ctx.from_port;
        daemon_down(fam, ctx.events, port, node, n);
        Ok(())
    }

    /// Forget the daemon that process `pid` registered on `port` (not another that
    /// registered since) and fail its pending upcalls. Returns (failed, node).
    fn forget_daemon(&self, fam: Fam, port: u32, pid: i32) -> (u32, u32) {
        let mut shim = self.shim.lock().unwrap();
        let up = shim.up(fam);
        let (failed, node) = match up.daemon {
            Some(d) if d.port == port && d.pid == pid => {
                up.daemon = None;
                self.peers.set(fam, None);
                (up.fail_all(), d.node_id)
            }
            _ => return (0, 0),
        };
        drop(shim);
        let n = failed.len() as u32;
        tracing::info!(family = fam.spec().name, port, failed = n, "daemon gone");
        for (xid, p) in failed {
            p.run
                .ended(self, xid, p.t0_us, 0, trigger::End::Errno(libc::ENOTCONN));
        }
        (n, node)
    }

    /// The daemon process `pid` registered on `port` died (pidfd readable), or its
    /// socket is gone (ECONNREFUSED on a unicast).
    pub fn daemon_gone(&self, fam: Fam, port: u32, pid: i32) {
        let (n, node) = self.forget_daemon(fam, port, pid);
        if n == 0 && node == 0 {
            return;
        }
        let mut ev = Vec::with_capacity(64);
        daemon_down(fam, &mut ev, port, node, n);
        self.multicast(&ev, fam.id());
    }

    /// Watch the registered process: when it exits, `daemon_gone`.
    fn watch_daemon(&self, fam: Fam, port: u32, pid: i32) {
        // SAFETY: plain syscall; a valid pid or an error.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            tracing::warn!(
                pid,
                "pidfd_open failed: {}",
                std::io::Error::last_os_error()
            );
            return;
        }
        // SAFETY: the syscall returned a new fd that we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let twin = self.clone();
        tokio::spawn(async move {
            // SAFETY: `fd` is owned by the AsyncFd for its whole life.
            let afd =
                match unsafe { AsyncFd::register_with_interest(PidFd(fd), Interest::READABLE) } {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("pidfd watch: {}", std::io::Error::from(e));
                        return;
                    }
                };
            let _ = afd.readable().await;
            twin.daemon_gone(fam, port, pid);
        });
    }
}

/// Who sent a message, as a receive thread saw it.
#[derive(Debug, Clone, Copy)]
struct Sender {
    port: u32,
    creds: Option<Creds>,
    distrust: Option<Distrust>,
}

/// Why a sender may not send admin requests, whatever its uid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distrust {
    /// It sent from a registered daemon's port, with other credentials than those the
    /// daemon registered with (`registered`): that socket is gone, its port taken.
    Impostor { registered: Creds },
    /// It sent to the upcall socket from a port that is no registered daemon's.
    ForeignPort,
}

/// What a datagram's credentials allow (see `Distrust`), given the registered daemons
/// (port, credentials of their REGISTER) and the socket it came to (`upcalls`).
fn vet(
    peers: &[Option<(u32, Creds)>; 2],
    upcalls: bool,
    from: &pnfs_netlink::socket::From,
) -> Option<Distrust> {
    match peers.iter().flatten().find(|(port, _)| *port == from.port) {
        Some((_, c)) if from.creds.is_some_and(|s| s.pid == c.pid && s.uid == c.uid) => None,
        Some((_, c)) => Some(Distrust::Impostor { registered: *c }),
        None if upcalls => Some(Distrust::ForeignPort),
        None => None,
    }
}

/// The end of the datagram that starts at `start` in a buffer of whole messages: as
/// many messages as fit in MAX_DATAGRAM, at least one.
fn datagram_end(buf: &[u8], start: usize) -> usize {
    let mut end = start;
    for m in Messages::new(&buf[start..]) {
        let Ok(m) = m else { break };
        let len = align(m.header.len as usize);
        if end > start && end + len - start > MAX_DATAGRAM {
            break;
        }
        end += len;
    }
    end.min(buf.len()).max(start + 1)
}

/// A send failed because the receiver's queue was full.
fn would_block(e: &NlError) -> bool {
    matches!(e, NlError::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock)
}

/// Append the NLMSG_ERROR answering a request — its ACK (`err` None) or its error —
/// as the kernel's netlink_ack() builds it for a socket without NETLINK_CAP_ACK, the
/// kernel's default, and USERSOCK does not let the twin read its requester's socket
/// options: an error echoes the whole request (`header` and `payload`, as received), an
/// ACK only its header and is flagged NLM_F_CAPPED. The extack TLVs follow, flagged
/// NLM_F_ACK_TLVS, in the kernel's order: message, offset, policy of the refused
/// attribute, missing attribute type, offset of the nest it is missing from.
/// nlmsg_pid is `port`, the requester's, as the kernel puts it in everything it sends
/// to a requester.
pub fn put_ack(
    out: &mut Vec<u8>,
    header: &NlMsgHdr,
    payload: &[u8],
    port: u32,
    err: Option<&OpError>,
) -> usize {
    let errno = err.map_or(0, |e| e.errno);
    let message = err.map(|e| e.msg.as_ref()).filter(|m| !m.is_empty());
    let mut flags = if errno == 0 { NLM_F_CAPPED } else { 0 };
    if message.is_some()
        || err.is_some_and(|e| e.offset.is_some() || e.policy.is_some() || e.miss_type.is_some())
    {
        flags |= NLM_F_ACK_TLVS;
    }
    let mut b = MsgBuilder::new(out, NLMSG_ERROR, flags, header.seq, port);
    b.put_raw_attrs(&(-errno).to_ne_bytes());
    // struct nlmsghdr as received (native endian, no padding).
    b.put_raw_attrs(&header.len.to_ne_bytes())
        .put_raw_attrs(&header.kind.to_ne_bytes())
        .put_raw_attrs(&header.flags.to_ne_bytes())
        .put_raw_attrs(&header.seq.to_ne_bytes())
        .put_raw_attrs(&header.pid.to_ne_bytes());
    if errno != 0 {
        b.put_raw_attrs(payload);
        b.put_raw_attrs(&[0u8; 3][..align(payload.len()) - payload.len()]);
    }
    if let Some(m) = message {
        b.put_str(NLMSGERR_ATTR_MSG, m);
    }
    if let Some(e) = err {
        if let Some(o) = e.offset {
            b.put_u32(NLMSGERR_ATTR_OFFS, o);
        }
        if let Some(p) = &e.policy {
            nlctrl::put_policy_attr(&mut b, nlctrl::NLMSGERR_ATTR_POLICY, &p.nla(), None);
        }
        if let Some(t) = e.miss_type {
            b.put_u32(NLMSGERR_ATTR_MISS_TYPE, t);
            if let Some(n) = e.miss_nest {
                b.put_u32(nlctrl::NLMSGERR_ATTR_MISS_NEST, n);
            }
        }
    }
    b.finish()
}

/// The receive thread ended without a result: it panicked (its message is on stderr).
fn thread_died() -> NlError {
    NlError::Io(std::io::Error::other("the twin's receive thread panicked"))
}

struct PidFd(OwnedFd);

impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

/// Append `daemon-down` of `fam` (the daemon on `port`, its node, the upcalls failed).
fn daemon_down(fam: Fam, out: &mut Vec<u8>, port: u32, node: u32, failed: u32) {
    let (port, node_id, count) = (Some(port), Some(node), Some(failed));
    match fam {
        Fam::Pnfsd => {
            use pnfsd_nl::ops::daemon_down as d;
            d::EventAttrs {
                port,
                node_id,
                count,
            }
            .write(out, &d::header(fam.id()))
        }
        Fam::Gfs2 => {
            use gfs2ctl::ops::daemon_down as d;
            d::EventAttrs {
                port,
                node_id,
                count,
            }
            .write(out, &d::header(fam.id()))
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(pid: i32, uid: u32) -> Creds {
        Creds { pid, uid, gid: uid }
    }

    fn from(port: u32, c: Creds) -> pnfs_netlink::socket::From {
        pnfs_netlink::socket::From {
            port,
            groups: 0,
            creds: Some(c),
            truncated: false,
        }
    }

    /// Rights follow the credentials, not the port: from a registered daemon's port only
    /// the process (pid and uid) that registered is the daemon, on either socket; the
    /// upcall socket distrusts every other port. (At f506fb8 the upcall socket gave a
    /// registered port's datagrams the daemon's credentials, whoever sent them.)
    #[test]
    fn vet_follows_the_credentials_not_the_port() {
        let daemon = creds(100, 0);
        let peers = [Some((7, daemon)), None];
        assert_eq!(vet(&peers, true, &from(7, daemon)), None);
        assert_eq!(vet(&peers, false, &from(7, daemon)), None);
        for other in [creds(101, 0), creds(100, 65534), creds(555, 65534)] {
            for upcalls in [true, false] {
                assert_eq!(
                    vet(&peers, upcalls, &from(7, other)),
                    Some(Distrust::Impostor { registered: daemon }),
                    "{other:?} upcalls={upcalls}"
                );
            }
        }
        assert_eq!(
            vet(&peers, true, &from(8, daemon)),
            Some(Distrust::ForeignPort)
        );
        assert_eq!(vet(&peers, false, &from(8, creds(555, 65534))), None);
        let d = upcall::Daemon {
            port: 7,
            pid: 100,
            uid: 0,
            node_id: 1,
            version: 1,
        };
        assert!(d.is(7, Some(daemon)));
        assert!(!d.is(7, Some(creds(101, 0))));
        assert!(!d.is(7, None));
        assert!(!d.is(8, Some(daemon)));
    }

    /// An error echoes the whole request, not capped, with the extack TLVs after it, and
    /// the project's parser finds them there; an ACK echoes the header, capped. Both are
    /// addressed to the requester's port. (At f506fb8 every error was capped and every
    /// ACK and error carried the twin's own port.)
    #[test]
    fn errors_echo_the_request_and_acks_are_capped() {
        let mut req = Vec::new();
        let mut b = GenlHeader::new(PNFSD_ID, 3)
            .flags(NLM_F_REQUEST | NLM_F_ACK)
            .seq(9)
            .start(&mut req);
        b.put_u8(pnfsd_nl::attr::TIMEOUT_MS, 1);
        b.finish();
        let m = Messages::new(&req).next().unwrap().unwrap();
        let mut out = Vec::new();
        let bad = OpError {
            offset: Some(20),
            ..OpError::new(libc::EINVAL, "bad")
        };
        put_ack(&mut out, m.header, m.payload, 42, Some(&bad));
        let e = Messages::new(&out).next().unwrap().unwrap();
        assert_eq!(e.header.pid, 42);
        assert_eq!(e.header.flags, NLM_F_ACK_TLVS);
        assert_eq!(&e.payload[4..4 + req.len()], &req[..]);
        let p = ErrorMsg::parse(e).unwrap();
        assert_eq!(p.error, -libc::EINVAL);
        assert_eq!(p.message, Some("bad"));
        assert_eq!(p.offset, Some(20));

        out.clear();
        put_ack(&mut out, m.header, m.payload, 42, None);
        let a = Messages::new(&out).next().unwrap().unwrap();
        assert_eq!(a.header.pid, 42);
        assert_eq!(a.header.flags, NLM_F_CAPPED);
        assert_eq!(a.payload.len(), 4 + NLMSG_HDRLEN);
        assert_eq!(&a.payload[4..], &req[..NLMSG_HDRLEN]);
        assert_eq!(ErrorMsg::parse(a).unwrap().error, 0);
    }
}
