//! One netlink socket of the suite: requests with their answers, the messages the
//! kernel half sends unasked (upcalls, events), and raw bytes for malformed input.
//!
//! `pnfs_netlink::Client` is used for nlctrl resolution; this type exists because a fake
//! daemon's socket carries both its own requests (REGISTER, REPLY) and the upcalls the
//! kernel half sends it, and because malformed-input cases send bytes no builder makes.

use pnfs_netlink::codec::*;
use pnfs_netlink::socket::{NlSocket, SocketOptions};
use pnfs_netlink::{DecodeError, PeerError};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::os::fd::AsRawFd;
use std::time::Duration;
use tokio::time::Instant;

use crate::Target;

/// Receive buffer forced on every socket of the suite (root may exceed rmem_max), so a
/// fake daemon holding 1000 upcalls does not make the kernel half's unicasts fail.
const RCVBUF: i32 = 32 << 20;

/// A message as received, owned.
#[derive(Debug, Clone)]
pub struct Msg {
    /// nlmsg_type (family id, or NLMSG_*).
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    /// nlmsg_pid.
    pub pid: u32,
    /// Generic netlink command (0 for NLMSG_* messages).
    pub cmd: u8,
    /// Attribute bytes after the genl header.
    pub attrs: Vec<u8>,
    /// Multicast group mask it was sent to (0 = unicast).
    pub groups: u32,
}

impl Msg {
    pub fn a(&self) -> Attrs<'_> {
        Attrs(&self.attrs)
    }

    /// The message through its op's generated view (`pnfsd::ops::<op>::Reply::parse`,
    /// ...): its attributes validated by the family's policy and its required ones
    /// present, or an error naming the message and what is wrong.
    pub fn view<'a, V>(
        &'a self,
        parse: impl FnOnce(&'a [u8]) -> Result<V, DecodeError>,
    ) -> Result<V, String> {
        parse(&self.attrs).map_err(|e| {
            format!(
                "message type {:#x} cmd {} (seq {}): {e}",
                self.kind, self.cmd, self.seq
            )
        })
    }
}

/// Read-only access to a buffer of attributes (first occurrence wins for single values).
#[derive(Clone, Copy)]
pub struct Attrs<'a>(pub &'a [u8]);

impl<'a> Attrs<'a> {
    pub fn get(&self, id: u16) -> Option<&'a [u8]> {
        AttrIter::new(self.0)
            .map_while(Result::ok)
            .find(|a| a.kind == id)
            .map(|a| a.payload)
    }
    pub fn all(&self, id: u16) -> Vec<&'a [u8]> {
        AttrIter::new(self.0)
            .map_while(Result::ok)
            .filter(|a| a.kind == id)
            .map(|a| a.payload)
            .collect()
    }
    pub fn has(&self, id: u16) -> bool {
        self.get(id).is_some()
    }
    pub fn u8(&self, id: u16) -> Option<u8> {
        self.get(id).filter(|p| p.len() == 1).map(|p| p[0])
    }
    pub fn u32(&self, id: u16) -> Option<u32> {
        self.get(id)
            .and_then(|p| p.try_into().ok())
            .map(u32::from_ne_bytes)
    }
    pub fn i32(&self, id: u16) -> Option<i32> {
        self.get(id)
            .and_then(|p| p.try_into().ok())
            .map(i32::from_ne_bytes)
    }
    pub fn u64(&self, id: u16) -> Option<u64> {
        self.get(id)
            .and_then(|p| p.try_into().ok())
            .map(u64::from_ne_bytes)
    }
    /// A string attribute up to its NUL.
    pub fn str(&self, id: u16) -> Option<&'a str> {
        self.get(id).and_then(|p| {
            let s = p.split(|b| *b == 0).next().unwrap_or(&[]);
            std::str::from_utf8(s).ok()
        })
    }
    /// The value of `id`, or an error naming it (for `?` in cases).
    pub fn need_u32(&self, id: u16, what: &str) -> Result<u32, String> {
        self.u32(id)
            .ok_or_else(|| format!("{what}: u32 attribute {id} absent"))
    }
    pub fn need_u64(&self, id: u16, what: &str) -> Result<u64, String> {
        self.u64(id)
            .ok_or_else(|| format!("{what}: u64 attribute {id} absent"))
    }
}

/// Why a request did not succeed.
#[derive(Debug, Clone)]
pub enum Fail {
    /// The kernel half answered with an NLMSG_ERROR.
    Peer(PeerError),
    /// No answer, or a local socket error.
    Local(String),
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::Peer(p) => write!(f, "peer error {}: {p}", p.errno),
            Fail::Local(s) => f.write_str(s),
        }
    }
}

impl From<Fail> for String {
    fn from(f: Fail) -> String {
        f.to_string()
    }
}

impl Fail {
    pub fn errno(&self) -> Option<i32> {
        match self {
            Fail::Peer(p) => Some(p.errno),
            Fail::Local(_) => None,
        }
    }
}

/// Encode attributes with `build` and return their bytes (for reply payloads and raw
/// messages).
pub fn attrs_of(build: impl FnOnce(&mut MsgBuilder<'_>)) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    let mut b = MsgBuilder::genl(&mut buf, 0, 0, 0, 0, 0, 0);
    build(&mut b);
    b.finish();
    buf.split_off(NLMSG_HDRLEN + GENL_HDRLEN)
}

/// A socket towards the kernel half.
pub struct Conn {
    sock: NlSocket,
    peer: u32,
    /// Where upcalls come from besides `peer`: the twin's upcall socket, as REGISTER's
    /// reply named it (`upcall-port`).
    upcall_peer: Cell<Option<u32>>,
    seq: Cell<u32>,
    /// Messages received while waiting for something else (upcalls, stray events).
    queue: RefCell<VecDeque<Msg>>,
    /// Bound on each wait for an answer.
    pub timeout: Cell<Duration>,
}

impl Conn {
    /// Open a socket for `target` (auto-bound port).
    pub fn open(target: &Target) -> Result<Conn, String> {
        Conn::open_with(target, &SocketOptions::default())
    }

    /// Open a socket for `target` bound to `port` (0: auto), with NETLINK_EXT_ACK but
    /// not NETLINK_CAP_ACK: the kernel then echoes a refused request whole.
    pub fn open_uncapped(target: &Target, port: u32) -> Result<Conn, String> {
        let c = Conn::open_with(
            target,
            &SocketOptions {
                port,
                ext_ack: false,
                ..SocketOptions::default()
            },
        )?;
        setsockopt(&c.sock, libc::SOL_NETLINK, libc::NETLINK_EXT_ACK, 1)
            .map_err(|e| format!("NETLINK_EXT_ACK: {e}"))?;
        Ok(c)
    }

    /// Open a socket for `target` with `opts` (its receive buffer then forced large).
    pub fn open_with(target: &Target, opts: &SocketOptions) -> Result<Conn, String> {
        let sock = NlSocket::open(target.proto.number(), opts)
            .map_err(|e| format!("open netlink socket: {e}"))?;
        // SAFETY: valid fd and a pointer to a live i32.
        unsafe {
            let v = RCVBUF;
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &v as *const i32 as *const libc::c_void,
                std::mem::size_of::<i32>() as libc::socklen_t,
            );
        }
        Ok(Conn {
            sock,
            peer: target.peer,
            upcall_peer: Cell::new(None),
            // Far from the twin's xids (which it uses as upcall seq numbers).
            seq: Cell::new(0x4000_0000),
            queue: RefCell::new(VecDeque::new()),
            timeout: Cell::new(Duration::from_secs(10)),
        })
    }

    pub fn port(&self) -> u32 {
        self.sock.port()
    }

    /// Shrink the receive buffer to `bytes` (the kernel doubles it and keeps a minimum
    /// of about 2 KiB): for a reader that falls behind.
    pub fn set_rcvbuf(&self, bytes: i32) -> Result<(), String> {
        setsockopt(&self.sock, libc::SOL_SOCKET, libc::SO_RCVBUF, bytes)
            .map_err(|e| format!("SO_RCVBUF {bytes}: {e}"))
    }

    /// Take upcalls from `port` too (REGISTER's `upcall-port`).
    pub fn set_upcall_peer(&self, port: u32) {
        self.upcall_peer.set(Some(port));
    }

    /// The kernel half: its port, or its upcall socket's.
    fn is_peer(&self, port: u32) -> bool {
        port == self.peer || self.upcall_peer.get() == Some(port)
    }

    pub fn socket(&self) -> &NlSocket {
        &self.sock
    }

    pub fn next_seq(&self) -> u32 {
        let s = self.seq.get().wrapping_add(1).max(1);
        self.seq.set(s);
        s
    }

    /// Send bytes as one datagram to the kernel half.
    pub async fn send_raw(&self, bytes: &[u8]) -> Result<(), Fail> {
        self.sock
            .send_to(bytes, self.peer, 0)
            .await
            .map(|_| ())
            .map_err(|e| Fail::Local(format!("send: {e}")))
    }

    /// Send bytes as one datagram from a thread of the blocking pool. The kernel runs a
    /// netlink request inside the sender's `sendmsg()`, so a request the module answers only
    /// after its upcalls were served (TRIGGER) must not block the thread that serves them.
    /// The twin answers asynchronously, where this changes nothing.
    pub async fn send_raw_detached(&self, bytes: Vec<u8>) -> Result<(), Fail> {
        let fd = self.sock.as_raw_fd();
        let peer = self.peer;
        let sent = tokio::task::spawn_blocking(move || {
            // SAFETY: sockaddr_nl is plain data; zeroed is a valid value.
            let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
            sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
            sa.nl_pid = peer;
            // SAFETY: bytes and sa outlive the call; the socket stays open because the
            // caller awaits this task while holding `self`.
            let r = unsafe {
                libc::sendto(
                    fd,
                    bytes.as_ptr().cast(),
                    bytes.len(),
                    0,
                    (&sa as *const libc::sockaddr_nl).cast(),
                    std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if r < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        });
        match sent.await {
            Ok(r) => r.map_err(|e| Fail::Local(format!("send: {e}"))),
            Err(e) => Err(Fail::Local(format!("send thread: {e}"))),
        }
    }

    /// Encode a generic netlink request (with NLM_F_REQUEST|NLM_F_ACK and `extra_flags`).
    pub fn encode(
        &self,
        family: u16,
        cmd: u8,
        extra_flags: u16,
        build: impl FnOnce(&mut MsgBuilder<'_>),
    ) -> (Vec<u8>, u32) {
        let seq = self.next_seq();
        let mut buf = Vec::with_capacity(256);
        let mut b = MsgBuilder::genl(
            &mut buf,
            family,
            NLM_F_REQUEST | NLM_F_ACK | extra_flags,
            seq,
            self.port(),
            cmd,
            1,
        );
        build(&mut b);
        b.finish();
        (buf, seq)
    }

    /// A `do` request: the reply messages (if any) once the ACK arrives.
    pub async fn request(
        &self,
        family: u16,
        cmd: u8,
        build: impl FnOnce(&mut MsgBuilder<'_>),
    ) -> Result<Vec<Msg>, Fail> {
        let (buf, seq) = self.encode(family, cmd, 0, build);
        self.send_raw(&buf).await?;
        self.answer(seq, Some(cmd), self.timeout.get()).await
    }

    /// A `do` request sent to `port` (the twin's upcall socket) instead of the kernel
    /// half's port; its answer is taken from there (see `set_upcall_peer`).
    pub async fn request_at(
        &self,
        port: u32,
        family: u16,
        cmd: u8,
        build: impl FnOnce(&mut MsgBuilder<'_>),
    ) -> Result<Vec<Msg>, Fail> {
        let (buf, seq) = self.encode(family, cmd, 0, build);
        self.sock
            .send_to(&buf, port, 0)
            .await
            .map_err(|e| Fail::Local(format!("send: {e}")))?;
        self.answer(seq, Some(cmd), self.timeout.get()).await
    }

    /// A dump: every message until NLMSG_DONE.
    pub async fn dump(
        &self,
        family: u16,
        cmd: u8,
        build: impl FnOnce(&mut MsgBuilder<'_>),
    ) -> Result<Vec<Msg>, Fail> {
        let (buf, seq) = self.encode(family, cmd, NLM_F_DUMP, build);
        self.send_raw(&buf).await?;
        self.answer(seq, Some(cmd), self.timeout.get()).await
    }

    /// Receive one datagram (bounded by `deadline`) as owned messages, with the sender's
    /// port. Malformed datagrams are an error: the kernel half never sends them.
    async fn recv(&self, deadline: Instant) -> Result<(u32, Vec<Msg>), Fail> {
        let mut buf = vec![0u8; 128 * 1024];
        let (n, from) = match tokio::time::timeout_at(deadline, self.sock.recv_from(&mut buf)).await
        {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(Fail::Local(format!("recv: {e}"))),
            Err(_) => return Err(Fail::Local("no answer before the deadline".into())),
        };
        if from.truncated {
            return Err(Fail::Local("truncated datagram".into()));
        }
        let mut out = Vec::new();
        for m in Messages::new(&buf[..n]) {
            let m = m.map_err(|e| Fail::Local(format!("malformed datagram: {e}")))?;
            let (cmd, attrs) = match m.header.kind {
                NLMSG_ERROR | NLMSG_DONE | NLMSG_NOOP | NLMSG_OVERRUN => (0, m.payload.to_vec()),
                _ => match GenlMsg::parse(m) {
                    Ok(g) => (g.cmd(), g.attrs.to_vec()),
                    Err(e) => return Err(Fail::Local(format!("malformed genl message: {e}"))),
                },
            };
            out.push(Msg {
                kind: m.header.kind,
                flags: m.header.flags,
                seq: m.header.seq,
                pid: m.header.pid,
                cmd,
                attrs,
                groups: from.groups,
            });
        }
        Ok((from.port, out))
    }

    /// Every message answering request `seq` as received, up to and including the
    /// NLMSG_ERROR (ACK or error) or NLMSG_DONE that ends it. Other messages are queued.
    pub async fn raw_answer(&self, seq: u32, timeout: Duration) -> Result<Vec<Msg>, Fail> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            let (port, msgs) = self.recv(deadline).await.map_err(|e| match e {
                Fail::Local(s) => Fail::Local(format!("waiting for answer to seq {seq}: {s}")),
                p => p,
            })?;
            for m in msgs {
                if !self.is_peer(port) || m.groups != 0 || m.seq != seq {
                    if self.is_peer(port) {
                        self.queue.borrow_mut().push_back(m);
                    }
                    continue;
                }
                let end = m.kind == NLMSG_ERROR || m.kind == NLMSG_DONE;
                got.push(m);
                if end {
                    return Ok(got);
                }
            }
        }
    }

    /// Wait for the answer to request `seq`: replies (same seq and, when given, same
    /// cmd) until the ACK, an error, or NLMSG_DONE. Other messages are queued.
    pub async fn answer(
        &self,
        seq: u32,
        cmd: Option<u8>,
        timeout: Duration,
    ) -> Result<Vec<Msg>, Fail> {
        let deadline = Instant::now() + timeout;
        let mut replies = Vec::new();
        loop {
            let (port, msgs) = self.recv(deadline).await.map_err(|e| match e {
                Fail::Local(s) => Fail::Local(format!("waiting for answer to seq {seq}: {s}")),
                p => p,
            })?;
            for m in msgs {
                let ours = self.is_peer(port)
                    && m.groups == 0
                    && m.seq == seq
                    && (m.kind == NLMSG_ERROR
                        || m.kind == NLMSG_DONE
                        || cmd.is_none_or(|c| c == m.cmd));
                if !ours {
                    if self.is_peer(port) {
                        self.queue.borrow_mut().push_back(m);
                    }
                    continue;
                }
                match m.kind {
                    NLMSG_ERROR => {
                        let e = parse_error(&m)?;
                        return match e {
                            None => Ok(replies),
                            Some(p) => Err(Fail::Peer(p)),
                        };
                    }
                    NLMSG_DONE => return Ok(replies),
                    _ => replies.push(m),
                }
            }
        }
    }

    /// The next message the kernel half sent unasked (an upcall, or an event on a
    /// listener), waiting at most `timeout`.
    pub async fn unsolicited(&self, timeout: Duration) -> Result<Msg, String> {
        if let Some(m) = self.queue.borrow_mut().pop_front() {
            return Ok(m);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let (port, msgs) = self.recv(deadline).await.map_err(String::from)?;
            if !self.is_peer(port) {
                continue;
            }
            self.queue.borrow_mut().extend(msgs);
            if let Some(m) = self.queue.borrow_mut().pop_front() {
                return Ok(m);
            }
        }
    }

    /// An unsolicited message if one is queued now (no waiting on the socket beyond
    /// what is already there).
    pub fn try_unsolicited(&self) -> Result<Option<Msg>, String> {
        if let Some(m) = self.queue.borrow_mut().pop_front() {
            return Ok(Some(m));
        }
        let mut buf = vec![0u8; 128 * 1024];
        match self.sock.try_recv_from(&mut buf) {
            Ok(None) => Ok(None),
            Ok(Some((n, from))) => {
                if !self.is_peer(from.port) {
                    return Ok(None);
                }
                for m in Messages::new(&buf[..n]) {
                    let m = m.map_err(|e| format!("malformed datagram: {e}"))?;
                    let g = GenlMsg::parse(m).map_err(|e| format!("malformed genl: {e}"))?;
                    self.queue.borrow_mut().push_back(Msg {
                        kind: m.header.kind,
                        flags: m.header.flags,
                        seq: m.header.seq,
                        pid: m.header.pid,
                        cmd: g.cmd(),
                        attrs: g.attrs.to_vec(),
                        groups: from.groups,
                    });
                }
                Ok(self.queue.borrow_mut().pop_front())
            }
            Err(e) => Err(format!("recv: {e}")),
        }
    }
}

fn setsockopt(sock: &NlSocket, level: i32, opt: i32, v: i32) -> std::io::Result<()> {
    // SAFETY: valid fd and a pointer to a live i32 of the given size.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            opt,
            &v as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// An NLMSG_ERROR: None for an ACK, else the peer's error with its extack.
pub fn parse_error(m: &Msg) -> Result<Option<PeerError>, Fail> {
    let mut buf = Vec::with_capacity(NLMSG_HDRLEN + m.attrs.len());
    let h = MsgBuilder::new(&mut buf, m.kind, m.flags, m.seq, 0);
    h.finish();
    buf.extend_from_slice(&m.attrs);
    let len = buf.len() as u32;
    buf[0..4].copy_from_slice(&len.to_ne_bytes());
    let nm = Messages::new(&buf)
        .next()
        .ok_or_else(|| Fail::Local("empty error".into()))?
        .map_err(|e| Fail::Local(format!("bad error message: {e}")))?;
    let e = ErrorMsg::parse(nm).map_err(|e| Fail::Local(format!("bad error message: {e}")))?;
    if e.error == 0 {
        return Ok(None);
    }
    Ok(Some(PeerError {
        errno: -e.error,
        message: e.message.map(str::to_string),
        offset: e.offset,
        missing_attr: e.missing_attr,
    }))
}
