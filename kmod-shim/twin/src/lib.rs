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
//! (`upcall-port`): the daemon's REPLYs and re-REGISTERs come back there. It has no
//! SO_PASSCRED — taking credentials with every datagram was a tenth of a µs of each
//! round trip, which the module does not pay (its skb carries them) — and gives what
//! comes from a registered daemon's port the credentials that daemon registered with
//! (its port is its socket's until that is closed), and anything else none.

pub mod gfs2;
pub mod logging;
pub mod pnfsd;
pub mod record;
pub mod trigger;
pub mod upcall;

use pnfs_netlink::client::*;
use pnfs_netlink::codec::*;
use pnfs_netlink::policy::Family;
use pnfs_netlink::socket::{
    recvmmsg_into, set_blocking_receive, Creds, NlSocket, RecvBatch, SocketOptions,
    NETLINK_USERSOCK,
};
use pnfs_netlink::{gfs2ctl, pnfsd as pnfsd_nl, DecodeError, NlError};
use std::borrow::Cow;
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
/// How long an answer waits for room in its requester's receive queue.
pub(crate) const SEND_PATIENCE: Duration = Duration::from_secs(2);

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
        let spec = self.spec();
        FamilyInfo {
            id: self.id(),
            name: spec.name.to_string(),
            version: spec.version as u32,
            hdrsize: 0,
            maxattr: spec.policy.max() as u32,
            ops: spec
                .ops
                .iter()
                .filter(|o| !o.upcall && o.kind != pnfs_netlink::policy::OpKind::Event)
                .map(|o| {
                    let mut f = GENL_CMD_CAP_HASPOL;
                    if o.admin {
                        f |= GENL_ADMIN_PERM;
                    }
                    match o.kind {
                        pnfs_netlink::policy::OpKind::Do => f |= GENL_CMD_CAP_DO,
                        pnfs_netlink::policy::OpKind::Dump => f |= GENL_CMD_CAP_DUMP,
                        _ => f |= GENL_CMD_CAP_DO | GENL_CMD_CAP_DUMP,
                    }
                    (o.cmd as u32, f)
                })
                .collect(),
            groups: vec![("events".to_string(), self.group())],
        }
    }
}

/// A failed request: errno and extack.
#[derive(Debug)]
pub struct OpError {
    pub errno: i32,
    pub msg: Cow<'static, str>,
    /// Offset of the offending attribute from the start of the netlink message.
    pub offset: Option<u32>,
}

impl OpError {
    pub fn new(errno: i32, msg: impl Into<Cow<'static, str>>) -> Self {
        OpError {
            errno,
            msg: msg.into(),
            offset: None,
        }
    }
}

impl From<DecodeError> for OpError {
    fn from(e: DecodeError) -> Self {
        OpError {
            errno: e.errno(),
            msg: Cow::Owned(e.to_string()),
            offset: e.offset().map(|o| (NLMSG_HDRLEN + GENL_HDRLEN + o) as u32),
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
    pub creds: Option<Creds>,
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
    /// Start a reply message to the request (same cmd, same seq).
    pub fn reply(&mut self, flags: u16) -> MsgBuilder<'_> {
        MsgBuilder::genl(
            self.out,
            self.fam.id(),
            flags,
            self.msg.header.seq,
            self.msg.header.pid,
            self.msg.cmd(),
            self.fam.spec().version,
        )
    }

    /// Start an event message for the family's group.
    pub fn event(&mut self, cmd: u8) -> MsgBuilder<'_> {
        MsgBuilder::genl(
            self.events,
            self.fam.id(),
            0,
            0,
            0,
            cmd,
            self.fam.spec().version,
        )
    }
}

/// The registered daemons (per family: port, and the credentials of its REGISTER), for
/// the upcall socket's thread, which copies them again only when `gen` moved: one atomic
/// load per datagram.
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
        let up = NlSocket::open(
            NETLINK_USERSOCK,
            &SocketOptions {
                port: 0,
                passcred: false,
                ..opts
            },
        )?;
        Ok(Twin {
            shim: Arc::new(Mutex::new(Shim::new(cfg))),
            sock: Arc::new(sock),
            up: Arc::new(up),
            peers: Arc::default(),
            record: None,
            admin_uids: cfg.admin_uids.clone().into(),
        })
    }

    fn is_admin(&self, creds: Option<Creds>) -> bool {
        matches!(creds, Some(c) if c.uid == 0 || self.admin_uids.contains(&c.uid))
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
    /// pidfd).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), NlError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut main = self.spawn_receiver("twin-serve", false, &stop)?;
        let mut upcalls = self.spawn_receiver("twin-upcalls", true, &stop)?;
        let first = tokio::select! {
            r = &mut main => Some(r),
            r = &mut upcalls => Some(r),
            _ = shutdown.changed() => None,
        };
        // The threads see the flag within STOP_POLL; wait for both, so that the sockets
        // are closed (their ports free) once `run` returns and the last clone is dropped.
        stop.store(true, Ordering::Relaxed);
        let (a, b) = (main.await, upcalls.await);
        let ended = |r: Result<Result<(), NlError>, _>| r.unwrap_or_else(|_| Err(thread_died()));
        match first {
            // One thread ended by itself (an error): the other was stopped.
            Some(r) => ended(r),
            None => ended(a).and(ended(b)),
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

    /// A receive thread: every datagram, until `stop`. On the twin's socket a
    /// datagram's credentials are its own; on the upcall socket (`upcalls`) they are
    /// those of the daemon registered on its port, or none.
    fn serve(&self, upcalls: bool, stop: &AtomicBool) -> Result<(), NlError> {
        let sock = self.socket(upcalls);
        let fd = sock.as_raw_fd();
        // 64 KiB slots: a request from a client may be as long as a kernel would take.
        let mut rx = RecvBatch::adaptive(16, 64 * 1024);
        let mut out = Vec::with_capacity(MAX_DATAGRAM);
        let mut events = Vec::with_capacity(4096);
        let mut peers = (u64::MAX, [None; 2]);
        while !stop.load(Ordering::Relaxed) {
            let n = match recvmmsg_into(
                fd,
                &mut rx,
                !upcalls,
                libc::MSG_WAITFORONE | libc::MSG_TRUNC,
            ) {
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
                let (buf, mut from) = rx.get(i);
                if from.truncated {
                    tracing::warn!(port = from.port, "dropped a truncated datagram");
                    continue;
                }
                if upcalls {
                    let gen = self.peers.gen.load(Ordering::Acquire);
                    if gen != peers.0 {
                        peers = (gen, *self.peers.list.lock().unwrap());
                    }
                    from.creds = peers
                        .1
                        .iter()
                        .flatten()
                        .find(|(port, _)| *port == from.port)
                        .map(|(_, c)| *c);
                }
                self.serve_datagram(sock, buf, from, &mut out, &mut events);
            }
        }
        Ok(())
    }

    /// Dispatch every message of one datagram; answer and multicast what they produce.
    fn serve_datagram(
        &self,
        sock: &NlSocket,
        buf: &[u8],
        from: pnfs_netlink::socket::From,
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
            self.dispatch(m, from.port, from.creds, received, out, events);
            if !out.is_empty() {
                self.send_chunked(sock, out, from.port);
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

    /// Send a buffer of whole messages, split into datagrams of at most MAX_DATAGRAM.
    /// A requester whose receive queue stays full for SEND_PATIENCE loses the rest of
    /// the answer (the kernel's genlmsg_reply() would drop it at once).
    fn send_chunked(&self, sock: &NlSocket, buf: &[u8], port: u32) {
        let mut start = 0;
        while start < buf.len() {
            let mut end = start;
            for m in Messages::new(&buf[start..]) {
                let Ok(m) = m else { break };
                let len = align(m.header.len as usize);
                if end > start && end + len - start > MAX_DATAGRAM {
                    break;
                }
                end += len;
            }
            let end = end.min(buf.len()).max(start + 1);
            let deadline = Instant::now() + SEND_PATIENCE;
            loop {
                match sock.try_send_to(&buf[start..end], port, 0) {
                    Ok(_) => break,
                    Err(NlError::Io(e))
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            && Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    Err(NlError::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        tracing::debug!(port, "reply not delivered: {e}");
                        return;
                    }
                }
            }
            start = end;
        }
    }

    fn dispatch(
        &self,
        m: NlMsg<'_>,
        from_port: u32,
        creds: Option<Creds>,
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
                .and_then(|g| ctrl(&g, twin_port, out))
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
                            from_port,
                            creds,
                            received,
                            out,
                            events,
                            twin_port,
                            deferred: false,
                        };
                        self.family_request(&mut ctx).map(|()| ctx.deferred)
                    }
                }
            }
            NLMSG_NOOP | NLMSG_DONE | NLMSG_ERROR => return,
            other => Err(OpError::new(
                libc::ENOENT,
                format!("unknown family id {other:#x}"),
            )),
        };
        match result {
            Ok(false) if h.flags & NLM_F_ACK != 0 && h.flags & NLM_F_DUMP != NLM_F_DUMP => {
                put_error(out, &h, 0, None, None, twin_port);
            }
            Ok(_) => {}
            Err(e) => {
                out.clear();
                events.clear();
                put_error(out, &h, e.errno, Some(&e.msg), e.offset, twin_port);
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
        if op.admin && !self.is_admin(ctx.creds) {
            return Err(OpError::new(
                libc::EPERM,
                format!(
                    "operation {} requires admin privilege (uid {})",
                    op.name,
                    ctx.creds.map(|c| c.uid as i64).unwrap_or(-1)
                ),
            ));
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
        }
        let version = version.min(fam.spec().version as u32);
        let pid = ctx.creds.map(|c| c.pid).unwrap_or(0);
        let fresh = up.daemon.is_none_or(|d| d.pid != pid);
        up.daemon = Some(upcall::Daemon {
            port: ctx.from_port,
            pid,
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
        let (a_version, a_port, a_upcall_port) = match fam {
            Fam::Pnfsd => (
                pnfsd_nl::attr::VERSION,
                pnfsd_nl::attr::PORT,
                pnfsd_nl::attr::UPCALL_PORT,
            ),
            Fam::Gfs2 => (
                gfs2ctl::attr::VERSION,
                gfs2ctl::attr::PORT,
                gfs2ctl::attr::UPCALL_PORT,
            ),
        };
        let port = ctx.from_port;
        let upcall_port = self.up.port();
        let mut b = ctx.reply(0);
        b.put_u32(a_version, version)
            .put_u32(a_port, port)
            .put_u32(a_upcall_port, upcall_port);
        b.finish();
        let (up_cmd, a_node) = match fam {
            Fam::Pnfsd => (pnfsd_nl::cmd::DAEMON_UP, pnfsd_nl::attr::NODE_ID),
            Fam::Gfs2 => (gfs2ctl::cmd::DAEMON_UP, gfs2ctl::attr::NODE_ID),
        };
        let mut e = ctx.event(up_cmd);
        e.put_u32(a_port, port).put_u32(a_node, node_id);
        if let Some(role) = role {
            e.put_u32(pnfsd_nl::attr::ROLE, role);
        }
        e.put_u32(a_version, version);
        e.finish();
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
        let registered = self.shim.lock().unwrap().up(ctx.fam).daemon.map(|d| d.port);
        if registered != Some(ctx.from_port) {
            return Err(OpError::new(libc::ENOENT, "not the registered daemon"));
        }
        let (n, node) = self.forget_daemon(ctx.fam, ctx.from_port);
        let (cmd, a_port, a_node, a_count) = down_attrs(ctx.fam);
        let port = ctx.from_port;
        let mut e = ctx.event(cmd);
        e.put_u32(a_port, port)
            .put_u32(a_node, node)
            .put_u32(a_count, n);
        e.finish();
        Ok(())
    }

    /// Forget the daemon on `port` and fail its pending upcalls. Returns (failed, node).
    fn forget_daemon(&self, fam: Fam, port: u32) -> (u32, u32) {
        let mut shim = self.shim.lock().unwrap();
        let up = shim.up(fam);
        let (failed, node) = match up.daemon {
            Some(d) if d.port == port => {
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

    /// The daemon died (pidfd readable, or ECONNREFUSED on a unicast).
    pub fn daemon_gone(&self, fam: Fam, port: u32) {
        let (n, node) = self.forget_daemon(fam, port);
        if n == 0 && node == 0 {
            return;
        }
        let (cmd, a_port, a_node, a_count) = down_attrs(fam);
        let mut ev = Vec::with_capacity(64);
        let mut e = MsgBuilder::genl(&mut ev, fam.id(), 0, 0, 0, cmd, fam.spec().version);
        e.put_u32(a_port, port)
            .put_u32(a_node, node)
            .put_u32(a_count, n);
        e.finish();
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
            twin.daemon_gone(fam, port);
        });
    }
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

fn down_attrs(fam: Fam) -> (u8, u16, u16, u16) {
    match fam {
        Fam::Pnfsd => (
            pnfsd_nl::cmd::DAEMON_DOWN,
            pnfsd_nl::attr::PORT,
            pnfsd_nl::attr::NODE_ID,
            pnfsd_nl::attr::COUNT,
        ),
        Fam::Gfs2 => (
            gfs2ctl::cmd::DAEMON_DOWN,
            gfs2ctl::attr::PORT,
            gfs2ctl::attr::NODE_ID,
            gfs2ctl::attr::COUNT,
        ),
    }
}

/// nlctrl, for nlctrl itself and the twin's two families.
fn ctrl(g: &GenlMsg<'_>, twin_port: u32, out: &mut Vec<u8>) -> OpResult {
    if g.cmd() != CTRL_CMD_GETFAMILY {
        return Err(OpError::new(
            libc::EOPNOTSUPP,
            "only CTRL_CMD_GETFAMILY is served",
        ));
    }
    let nlctrl = FamilyInfo {
        id: GENL_ID_CTRL,
        name: "nlctrl".into(),
        version: 2,
        hdrsize: 0,
        maxattr: CTRL_ATTR_MCAST_GROUPS as u32,
        ops: vec![(
            CTRL_CMD_GETFAMILY as u32,
            GENL_CMD_CAP_DO | GENL_CMD_CAP_DUMP | GENL_CMD_CAP_HASPOL,
        )],
        groups: vec![],
    };
    let all = [nlctrl, Fam::Pnfsd.info(), Fam::Gfs2.info()];
    let h = g.header;
    if h.flags & NLM_F_DUMP == NLM_F_DUMP {
        for f in &all {
            let mut b = MsgBuilder::genl(
                out,
                GENL_ID_CTRL,
                NLM_F_MULTI,
                h.seq,
                h.pid,
                CTRL_CMD_NEWFAMILY,
                2,
            );
            f.encode(&mut b);
            b.finish();
        }
        put_done(out, h.seq, twin_port);
        return Ok(());
    }
    let mut name = None;
    let mut id = None;
    for a in AttrIter::new(g.attrs) {
        let a = a.map_err(OpError::from)?;
        match a.kind {
            CTRL_ATTR_FAMILY_NAME => name = Some(a.str()),
            CTRL_ATTR_FAMILY_ID if a.payload.len() == 2 => id = Some(a.u16()),
            _ => {}
        }
    }
    let found = all
        .iter()
        .find(|f| name.is_some_and(|n| n == f.name) || id.is_some_and(|i| i == f.id));
    match found {
        Some(f) => {
            let mut b = MsgBuilder::genl(out, GENL_ID_CTRL, 0, h.seq, h.pid, CTRL_CMD_NEWFAMILY, 2);
            f.encode(&mut b);
            b.finish();
            Ok(())
        }
        None if name.is_none() && id.is_none() => {
            Err(OpError::new(libc::EINVAL, "missing family name or id"))
        }
        None => Err(OpError::new(libc::ENOENT, "unknown family")),
    }
}
