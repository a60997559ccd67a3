//! The control socket `pnfsctl` talks to: one JSON request per line, one JSON answer per
//! line, over a unix socket (abstract by default, so each network namespace has its own).
//!
//! Who may do what is decided here, once, from the peer's credentials (SO_PEERCRED) as
//! the kernel half decides its `admin-perm` operations: a command that changes state or
//! asks the kernel half an admin-perm question (`needs_admin`) needs uid 0 or
//! CAP_NET_ADMIN in the peer; every read is open to any local user. No user can keep
//! another out: privileged peers have slots of their own, an unprivileged uid holds at
//! most `PER_UID` connections, and a connection that sends nothing for `IDLE`, or does
//! not take its answer within `WRITE_PATIENCE`, is closed.

#![warn(clippy::undocumented_unsafe_blocks)]

use crate::ratelog::RateLog;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::os::linux::net::SocketAddrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

/// Connections open to unprivileged peers, all uids together.
const MAX_CONNS: usize = 64;
/// Connections open to privileged peers (uid 0 or CAP_NET_ADMIN): apart, so that no
/// number of unprivileged connections locks root out.
const MAX_ADMIN_CONNS: usize = 16;
/// Connections one unprivileged uid may hold at once.
const PER_UID: usize = 8;
/// A connection that sends no whole request line for this long is closed (idle, or
/// dripping a line byte by byte).
pub const IDLE: Duration = Duration::from_secs(10);
/// How long an answer waits for the peer to read it.
const WRITE_PATIENCE: Duration = Duration::from_secs(5);
/// How long a request waits for the daemon's answer.
const ANSWER_PATIENCE: Duration = Duration::from_secs(30);
/// Longest request line.
const MAX_LINE: usize = 64 * 1024;
/// `errno` of a refusal, in the answer (the CLI exits 2 on any error).
const EPERM: i32 = 1;

/// What the control socket turned away, for `pnfsctl stats` (one daemon per process).
#[derive(Debug, Default)]
pub struct Refusals {
    /// Requests refused for want of privilege.
    pub not_admin: AtomicU64,
    /// Connections refused: their uid, or every slot, was at its limit.
    pub over_limit: AtomicU64,
    /// Connections closed for sending nothing for `IDLE` or not reading their answer.
    pub idle: AtomicU64,
}

/// This process's control socket refusals.
pub static REFUSALS: Refusals = Refusals {
    not_admin: AtomicU64::new(0),
    over_limit: AtomicU64::new(0),
    idle: AtomicU64::new(0),
};

static REFUSAL_LOG: LazyLock<RateLog> = LazyLock::new(|| RateLog::new(Duration::from_secs(1)));

impl Refusals {
    pub fn to_json(&self) -> Value {
        json!({
            "not_admin": self.not_admin.load(Ordering::Relaxed),
            "over_limit": self.over_limit.load(Ordering::Relaxed),
            "idle": self.idle.load(Ordering::Relaxed),
        })
    }
}

/// Log a refusal, at most one line a second.
fn log_refusal(why: &str, peer: &Peer) {
    if let Some(left_out) = REFUSAL_LOG.allow() {
        tracing::warn!(uid = peer.uid, pid = ?peer.pid, left_out, "control socket: {why}");
    }
}

/// A request on the control socket: one JSON object per line, `{"cmd": NAME, ...}`.
/// `pnfsctl` builds these, the daemon's loop takes them; both share this one type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase", deny_unknown_fields)]
pub enum Request {
    /// The daemon's node and incarnation.
    Ping,
    /// Members, MDS, epochs, quorum, granting (`pnfsctl member show`).
    Status,
    /// Counters and latencies (`pnfsctl stats show`).
    Stats,
    /// The DS state cache (`pnfsctl state show`).
    Cache,
    /// The debug ring (`pnfsctl debug dump`).
    Ring,
    /// Journal assignments and recoveries (`pnfsctl fs show`).
    Journals,
    /// What the real GFS2 said by uevents (`pnfsctl fs show`).
    Gfs2,
    /// nfsd's client records (`pnfsctl client show`).
    Clients,
    /// Cluster-wide grace; with `since`, the decisions after that sequence number.
    Grace {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
    },
    /// Ask the MDS about a stateid (32 hex digits).
    Query {
        fsid: u64,
        fileid: u64,
        clientid: u64,
        stateid: String,
    },
    /// Revoke a client's stateids on the MDS: all of them, or the one given by fsid,
    /// fileid and stateid together.
    Revoke {
        clientid: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fsid: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fileid: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stateid: Option<String>,
    },
    /// Drain (`on`) or restore a data server, by its device id (32 hex digits): no new
    /// layouts on it while another data server can take them; the MDS recalls its
    /// layouts. Answered once the cluster has it in its agreed order.
    Drain { device: String, on: bool },
}

impl Request {
    /// The command's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Ping => "ping",
            Request::Status => "status",
            Request::Stats => "stats",
            Request::Cache => "cache",
            Request::Ring => "ring",
            Request::Journals => "journals",
            Request::Gfs2 => "gfs2",
            Request::Clients => "clients",
            Request::Grace { .. } => "grace",
            Request::Query { .. } => "query",
            Request::Revoke { .. } => "revoke",
            Request::Drain { .. } => "drain",
        }
    }

    /// The rule, in one place: what changes state or asks the kernel half an admin-perm
    /// question (`query` makes the MDS's kernel half run STATE_CHECK, admin-perm there
    /// too) needs uid 0 or CAP_NET_ADMIN; every read is open.
    pub fn needs_admin(&self) -> bool {
        matches!(
            self,
            Request::Revoke { .. } | Request::Query { .. } | Request::Drain { .. }
        )
    }
}

/// A request from the control socket and where its JSON answer goes.
pub struct ControlReq {
    pub req: Request,
    pub reply: oneshot::Sender<Value>,
}

/// Who is at the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub pid: Option<i32>,
    /// uid 0, or CAP_NET_ADMIN in its effective set.
    pub admin: bool,
}

impl Peer {
    fn of(stream: &UnixStream) -> std::io::Result<Peer> {
        let c = stream.peer_cred()?;
        let (uid, pid) = (c.uid(), c.pid());
        let admin = uid == 0 || pid.is_some_and(has_cap_net_admin);
        Ok(Peer { uid, pid, admin })
    }
}

/// CAP_NET_ADMIN in the effective set of process `pid` (from /proc; false if unreadable).
fn has_cap_net_admin(pid: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << crate::privs::CAP_NET_ADMIN) != 0)
}

/// The answer to a request `peer` may not make, or None.
pub fn refusal(req: &Request, peer: &Peer) -> Option<Value> {
    (req.needs_admin() && !peer.admin).then(|| {
        let cmd = req.name();
        json!({
            "error": format!(
                "{cmd:?} changes the cluster's state: it needs uid 0 or CAP_NET_ADMIN, \
                 which uid {} has not", peer.uid
            ),
            "errno": EPERM,
        })
    })
}

fn std_addr(name: &str) -> std::io::Result<std::os::unix::net::SocketAddr> {
    match name.strip_prefix('@') {
        Some(abs) => std::os::unix::net::SocketAddr::from_abstract_name(abs.as_bytes()),
        None => std::os::unix::net::SocketAddr::from_pathname(name),
    }
}

/// Bind the control socket. A path is taken over only from a dead daemon: something
/// that is not a socket is never removed, nor a socket that a live daemon answers on.
pub fn bind(name: &str) -> std::io::Result<UnixListener> {
    use std::io::{Error, ErrorKind};
    use std::os::unix::fs::FileTypeExt;
    if !name.starts_with('@') {
        match std::fs::symlink_metadata(name) {
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
            Ok(m) if !m.file_type().is_socket() => {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("{name} exists and is not a socket: not removing it"),
                ))
            }
            Ok(_) => match std::os::unix::net::UnixStream::connect(name) {
                Ok(_) => {
                    return Err(Error::new(
                        ErrorKind::AddrInUse,
                        format!("a daemon already answers on {name}"),
                    ))
                }
                // Nobody listens: a dead daemon's socket.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => std::fs::remove_file(name)?,
                Err(e) => return Err(e),
            },
        }
    }
    let l = std::os::unix::net::UnixListener::bind_addr(&std_addr(name)?)?;
    l.set_nonblocking(true)?;
    UnixListener::from_std(l)
}

/// Connection slots: one pool for privileged peers, one for the rest with a per-uid cap.
struct Slots {
    admin: Arc<Semaphore>,
    others: Arc<Semaphore>,
    per_uid: Mutex<std::collections::HashMap<u32, usize>>,
}

/// A connection's hold on its slot; given back on drop.
struct Slot {
    _permit: OwnedSemaphorePermit,
    uid: Option<(u32, Arc<Slots>)>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((uid, slots)) = &self.uid {
            let mut m = slots.per_uid.lock().unwrap();
            if let Some(n) = m.get_mut(uid) {
                *n -= 1;
                if *n == 0 {
                    m.remove(uid);
                }
            }
        }
    }
}

impl Slots {
    fn new() -> Arc<Slots> {
        Arc::new(Slots {
            admin: Arc::new(Semaphore::new(MAX_ADMIN_CONNS)),
            others: Arc::new(Semaphore::new(MAX_CONNS)),
            per_uid: Mutex::new(Default::default()),
        })
    }

    fn take(self: &Arc<Self>, peer: &Peer) -> Result<Slot, String> {
        if peer.admin {
            return match self.admin.clone().try_acquire_owned() {
                Ok(p) => Ok(Slot {
                    _permit: p,
                    uid: None,
                }),
                Err(_) => Err(format!(
                    "too many privileged control connections (at most {MAX_ADMIN_CONNS})"
                )),
            };
        }
        let mut m = self.per_uid.lock().unwrap();
        let n = m.entry(peer.uid).or_insert(0);
        if *n >= PER_UID {
            return Err(format!(
                "too many control connections from uid {} (at most {PER_UID})",
                peer.uid
            ));
        }
        let p = self.others.clone().try_acquire_owned().map_err(|_| {
            format!("too many unprivileged control connections (at most {MAX_CONNS})")
        })?;
        *n += 1;
        Ok(Slot {
            _permit: p,
            uid: Some((peer.uid, self.clone())),
        })
    }
}

/// Accept connections and forward their requests to the daemon's loop. Accepting never
/// waits for a slot: a connection without one is told why and closed.
pub async fn serve(listener: UnixListener, to_daemon: mpsc::Sender<ControlReq>) {
    let slots = Slots::new();
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // EMFILE and the like: do not spin.
                tracing::warn!("control socket accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let slots = slots.clone();
        let to_daemon = to_daemon.clone();
        tokio::spawn(async move {
            let peer = match Peer::of(&stream) {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!("control connection without credentials: {e}");
                    return;
                }
            };
            let slot = match slots.take(&peer) {
                Ok(s) => s,
                Err(why) => {
                    REFUSALS.over_limit.fetch_add(1, Ordering::Relaxed);
                    log_refusal(&why, &peer);
                    let mut stream = stream;
                    let line = format!("{}\n", json!({ "error": why }));
                    let _ = tokio::time::timeout(WRITE_PATIENCE, stream.write_all(line.as_bytes()))
                        .await;
                    return;
                }
            };
            if let Err(e) = connection(stream, peer, to_daemon).await {
                tracing::debug!("control connection: {e}");
            }
            drop(slot);
        });
    }
}

async fn connection(
    stream: UnixStream,
    peer: Peer,
    to_daemon: mpsc::Sender<ControlReq>,
) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r.take(MAX_LINE as u64 * 64)).lines();
    loop {
        let line = match tokio::time::timeout(IDLE, lines.next_line()).await {
            Ok(Ok(Some(l))) => l,
            Ok(Ok(None)) => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                REFUSALS.idle.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        };
        let answer = answer(&line, &peer, &to_daemon).await;
        let mut s = answer.to_string();
        s.push('\n');
        match tokio::time::timeout(WRITE_PATIENCE, w.write_all(s.as_bytes())).await {
            Ok(r) => r?,
            Err(_) => {
                REFUSALS.idle.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        }
    }
}

async fn answer(line: &str, peer: &Peer, to_daemon: &mpsc::Sender<ControlReq>) -> Value {
    if line.len() > MAX_LINE {
        return json!({ "error": "request too long" });
    }
    let req = match serde_json::from_str::<Request>(line) {
        Err(e) => return json!({ "error": format!("bad request: {e}") }),
        Ok(r) => r,
    };
    if let Some(no) = refusal(&req, peer) {
        REFUSALS.not_admin.fetch_add(1, Ordering::Relaxed);
        log_refusal(&format!("{:?} refused: not privileged", req.name()), peer);
        return no;
    }
    let (tx, rx) = oneshot::channel();
    match to_daemon.try_send(ControlReq { req, reply: tx }) {
        Err(_) => json!({ "error": "daemon busy" }),
        Ok(()) => match tokio::time::timeout(ANSWER_PATIENCE, rx).await {
            Ok(Ok(v)) => v,
            Ok(Err(_)) => json!({ "error": "daemon stopped" }),
            Err(_) => json!({ "error": "daemon did not answer within 30 s" }),
        },
    }
}

/// Client side: send one request and read its answer.
pub async fn call(name: &str, req: &Request, timeout: Duration) -> std::io::Result<Value> {
    let addr = std_addr(name)?;
    let s = std::os::unix::net::UnixStream::connect_addr(&addr)?;
    s.set_nonblocking(true)?;
    let s = UnixStream::from_std(s)?;
    // Anyone may bind an abstract name first: talk only to a daemon run by root or by
    // this user, never take an impostor's answers for the daemon's.
    let server = s.peer_cred()?.uid();
    // SAFETY: geteuid(2) takes no arguments, touches no memory and cannot fail; it is
    // `unsafe` only as a foreign function (std has no safe wrapper).
    let me = unsafe { libc::geteuid() };
    if server != 0 && server != me {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{name} is served by uid {server}, neither root nor this user: not a daemon to trust"),
        ));
    }
    let (r, mut w) = s.into_split();
    let mut line = serde_json::to_string(req)?;
    line.push('\n');
    // A daemon that refuses the connection says why and closes it, maybe before the
    // request is written: read its answer even when the write failed.
    let wrote = w.write_all(line.as_bytes()).await;
    let mut lines = BufReader::new(r).lines();
    let fut = lines.next_line();
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(Some(l))) => serde_json::from_str(&l)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        Ok(Ok(None)) => Err(wrote.err().unwrap_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "daemon closed the connection",
            )
        })),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "daemon did not answer",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_changing_commands_need_admin_reads_do_not() {
        let nobody = Peer {
            uid: 65534,
            pid: None,
            admin: false,
        };
        let root = Peer {
            uid: 0,
            pid: None,
            admin: true,
        };
        let parse = |s: &str| serde_json::from_str::<Request>(s).unwrap();
        for line in [
            r#"{"cmd":"revoke","clientid":7}"#,
            r#"{"cmd":"query","fsid":1,"fileid":2,"clientid":3,"stateid":"00"}"#,
        ] {
            let req = parse(line);
            let r = refusal(&req, &nobody).expect("refused");
            assert_eq!(r["errno"], EPERM);
            assert!(
                r["error"].as_str().unwrap().contains("CAP_NET_ADMIN"),
                "{r}"
            );
            assert!(refusal(&req, &root).is_none());
        }
        for cmd in [
            "ping", "status", "stats", "cache", "ring", "journals", "gfs2", "clients", "grace",
        ] {
            let req = parse(&format!(r#"{{"cmd":"{cmd}"}}"#));
            assert_eq!(req.name(), cmd);
            assert!(refusal(&req, &nobody).is_none(), "{cmd} is a read");
        }
    }

    #[test]
    fn requests_keep_their_wire_form() {
        // pnfsctl and the daemon agree on this form (and hand-written clients use it).
        let r = Request::Revoke {
            clientid: 7,
            fsid: None,
            fileid: None,
            stateid: None,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"cmd":"revoke","clientid":7}"#
        );
        assert_eq!(
            serde_json::to_string(&Request::Grace { since: Some(4) }).unwrap(),
            r#"{"cmd":"grace","since":4}"#
        );
        assert_eq!(
            serde_json::to_string(&Request::Status).unwrap(),
            r#"{"cmd":"status"}"#
        );
        let e = serde_json::from_str::<Request>(r#"{"cmd":"reboot"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown variant `reboot`"), "{e}");
        let e = serde_json::from_str::<Request>(r#"{"cmd":"query","fsid":1}"#).unwrap_err();
        assert!(e.to_string().contains("missing field"), "{e}");
    }

    #[test]
    fn one_uid_cannot_take_every_slot() {
        let slots = Slots::new();
        let nobody = Peer {
            uid: 65534,
            pid: None,
            admin: false,
        };
        let held: Vec<Slot> = (0..PER_UID).map(|_| slots.take(&nobody).unwrap()).collect();
        assert!(slots.take(&nobody).err().unwrap().contains("uid 65534"));
        let root = Peer {
            uid: 0,
            pid: None,
            admin: true,
        };
        assert!(slots.take(&root).is_ok());
        drop(held);
        assert!(slots.take(&nobody).is_ok());
        assert!(slots.per_uid.lock().unwrap().is_empty());
    }
}
