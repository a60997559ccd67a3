//! Netlink sockets for tokio: NETLINK_GENERIC (the kernel module) and NETLINK_USERSOCK
//! (the twin), one type for both.
//!
//! Created and configured through `netlink-sys`; sends and receives go straight to
//! `sendto`/`recvmsg` on its fd so that the sender's credentials (SCM_CREDENTIALS) and
//! truncation are visible, and so that a receive is tried before waiting for readiness:
//! the kernel answers most requests inside `sendto`, so the common round trip costs the
//! same two syscalls as a blocking loop. The fd joins tokio's epoll set only the first
//! time a receive would block: a socket the kernel always answers at once (a CLI's, a
//! resolver's) never pays the kernel's epoll wake-up on every datagram.

use crate::error::NlError;
use netlink_sys::{Socket, SocketAddr};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, RawFd};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

pub const NETLINK_USERSOCK: isize = 2;
pub const NETLINK_GENERIC: isize = 16;
pub const NETLINK_KOBJECT_UEVENT: isize = 15;

/// Which socket protocol carries our families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// The kernel module.
    Generic,
    /// The user-space twin.
    Usersock,
}

impl Proto {
    pub fn number(self) -> isize {
        match self {
            Proto::Generic => NETLINK_GENERIC,
            Proto::Usersock => NETLINK_USERSOCK,
        }
    }
}

/// Credentials of a message's sender (SCM_CREDENTIALS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Creds {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

/// Where a received datagram came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct From {
    /// Sender's port (0 = the kernel).
    pub port: u32,
    /// Multicast group mask the datagram was sent to (0 = unicast).
    pub groups: u32,
    /// Sender's credentials, when SO_PASSCRED is on.
    pub creds: Option<Creds>,
    /// The datagram was longer than the buffer (MSG_TRUNC).
    pub truncated: bool,
}

/// The socket's fd as registered with tokio (not owning it: `NlSocket::sock` does).
struct Registered(RawFd);

impl AsRawFd for Registered {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// SCM_CREDENTIALS of a received message, if its control data holds them.
///
/// # Safety
/// `msg` is a msghdr just filled by recvmsg/recvmmsg: its control pointer and length
/// describe live memory.
unsafe fn creds_of(msg: &libc::msghdr) -> Option<Creds> {
    let mut creds = None;
    let mut c = libc::CMSG_FIRSTHDR(msg);
    while !c.is_null() {
        if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_CREDENTIALS {
            let u = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::ucred);
            creds = Some(Creds {
                pid: u.pid,
                uid: u.uid,
                gid: u.gid,
            });
        }
        c = libc::CMSG_NXTHDR(msg, c);
    }
    creds
}

/// Most datagrams one `recv_batch` takes (one recvmmsg(2)).
pub const MAX_BATCH: usize = 32;
/// Longest wait (in receives) of an adaptive batch before it asks for more again.
const MAX_BACKOFF: u32 = 64;

/// Buffers for `NlSocket::recv_batch`: `slots` datagrams of at most `slot_len` bytes
/// each, allocated once and reused; `len()` datagrams are valid after a receive.
#[derive(Default)]
pub struct RecvBatch {
    buf: Vec<u8>,
    slot_len: usize,
    got: Vec<(usize, From)>,
    /// Ask for `ask` datagrams, adapted after each receive (see `adaptive`).
    adaptive: bool,
    ask: usize,
    /// Adaptive: receives left before asking for more again, and that wait's length
    /// after the last ask for more came back short (doubling up to MAX_BACKOFF).
    wait: u32,
    backoff: u32,
    /// What the last receive asked for: it found the queue empty if it got fewer.
    asked: usize,
}

impl RecvBatch {
    /// `slots` (1..=MAX_BATCH) buffers of `slot_len` bytes.
    pub fn new(slots: usize, slot_len: usize) -> Self {
        let slots = slots.clamp(1, MAX_BATCH);
        RecvBatch {
            buf: vec![0; slots * slot_len],
            slot_len,
            got: Vec::with_capacity(slots),
            adaptive: false,
            ask: slots,
            wait: 0,
            backoff: 0,
            asked: 0,
        }
    }

    /// Like `new`, for a thread blocked in `recvmmsg_into` with MSG_WAITFORONE, which
    /// asks for one datagram while they come one at a time: after the first datagram the
    /// kernel tries the next one without waiting, and when none is queued that try
    /// fails — about 0.25 µs of a 4 µs round trip in the profile, paid on every receive
    /// by a peer with one message in flight. A receive that finds two or more asks for
    /// all the slots next time (a queue: the failed try is a fraction of each); one that
    /// finds a single datagram where it asked for more asks for one, and for all again
    /// only after 1, 2, 4 ... MAX_BACKOFF receives of one.
    pub fn adaptive(slots: usize, slot_len: usize) -> Self {
        RecvBatch {
            adaptive: true,
            ask: 1,
            ..RecvBatch::new(slots, slot_len)
        }
    }

    /// How many datagrams the last receive asked for (fewer taken: the queue was empty).
    pub fn asked(&self) -> usize {
        self.asked
    }

    /// How many datagrams the last receive took.
    pub fn len(&self) -> usize {
        self.got.len()
    }

    pub fn is_empty(&self) -> bool {
        self.got.is_empty()
    }

    /// The adaptive batch's next ask, after a receive that asked for `asked` and got `n`.
    fn adapt(&mut self, n: usize, asked: usize) {
        if n >= 2 {
            // A queue: ask for all the slots (a failed try now costs a fraction of each).
            self.ask = self.slots();
            self.wait = 0;
            self.backoff = 0;
        } else if asked > 1 {
            // One where more were asked for: the failed try was paid; ask for one, and
            // for more again only after a while.
            self.ask = 1;
            self.backoff = (self.backoff * 2).clamp(1, MAX_BACKOFF);
            self.wait = self.backoff;
        } else if self.wait == 0 {
            self.ask = self.slots();
        } else {
            self.wait -= 1;
        }
    }

    /// Note a received datagram of `len` bytes (its real length: MSG_TRUNC) in the next
    /// slot; `trunc`: the kernel flagged it cut.
    fn push(&mut self, len: usize, sa: &libc::sockaddr_nl, creds: Option<Creds>, trunc: bool) {
        self.got.push((
            len.min(self.slot_len),
            From {
                port: sa.nl_pid,
                groups: sa.nl_groups,
                creds,
                truncated: len > self.slot_len || trunc,
            },
        ));
    }

    fn slots(&self) -> usize {
        self.buf.len().checked_div(self.slot_len).unwrap_or(0)
    }

    /// Datagram `i` of the last receive (cut to the slot if it was longer: see
    /// `From::truncated`) and where it came from.
    pub fn get(&self, i: usize) -> (&[u8], From) {
        let (n, from) = self.got[i];
        let start = i * self.slot_len;
        (&self.buf[start..start + n], from)
    }
}

/// An async netlink socket.
pub struct NlSocket {
    /// Registered with tokio's reactor on the first receive that would block. Declared
    /// before `sock`: it deregisters (drops) before the fd is closed.
    reactor: tokio::sync::OnceCell<AsyncFd<Registered>>,
    sock: Socket,
    port: u32,
    proto: isize,
    /// SO_PASSCRED is on: receive with a control buffer for SCM_CREDENTIALS.
    passcred: bool,
}

/// Options applied when opening a socket.
#[derive(Debug, Clone)]
pub struct SocketOptions {
    /// Port to bind; 0 lets the kernel choose.
    pub port: u32,
    /// Receive buffer size in bytes (0 = default).
    pub rcvbuf: usize,
    /// Ask for sender credentials on every datagram.
    pub passcred: bool,
    /// NETLINK_EXT_ACK + NETLINK_CAP_ACK (only meaningful with the kernel).
    pub ext_ack: bool,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            port: 0,
            rcvbuf: 0,
            passcred: false,
            ext_ack: true,
        }
    }
}

fn setsockopt_int(fd: RawFd, level: i32, opt: i32, v: i32) -> io::Result<()> {
    // SAFETY: valid fd, pointer to a live i32 of the given size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            &v as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl NlSocket {
    /// Open, configure and bind a socket of `proto` (a NETLINK_* number).
    pub fn open(proto: isize, opts: &SocketOptions) -> Result<Self, NlError> {
        let mut s = Socket::new(proto)?;
        s.set_non_blocking(true)?;
        if opts.ext_ack {
            // USERSOCK ignores these (they concern kernel-generated errors); harmless.
            let _ = s.set_ext_ack(true);
            let _ = s.set_cap_ack(true);
        }
        if opts.rcvbuf > 0 {
            s.set_rx_buf_sz(opts.rcvbuf)?;
        }
        if opts.passcred {
            setsockopt_int(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_PASSCRED, 1)?;
        }
        let addr = if opts.port == 0 {
            s.bind_auto()?
        } else {
            s.bind(&SocketAddr::new(opts.port, 0))?;
            SocketAddr::new(opts.port, 0)
        };
        let port = addr.port_number();
        Ok(NlSocket {
            reactor: tokio::sync::OnceCell::new(),
            sock: s,
            port,
            proto,
            passcred: opts.passcred,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u32 {
        self.port
    }

    /// The NETLINK_* protocol.
    pub fn protocol(&self) -> isize {
        self.proto
    }

    /// Join a multicast group (group number as resolved, 1-based).
    pub fn join_group(&self, group: u32) -> Result<(), NlError> {
        self.sock.add_membership(group)?;
        Ok(())
    }

    /// Leave a multicast group.
    pub fn leave_group(&self, group: u32) -> Result<(), NlError> {
        self.sock.drop_membership(group)?;
        Ok(())
    }

    /// Do not report ENOBUFS (for sockets that never need a resync).
    pub fn set_no_enobufs(&self) -> Result<(), NlError> {
        self.sock.set_no_enobufs(true)?;
        Ok(())
    }

    fn raw_send(&self, buf: &[u8], port: u32, groups: u32) -> io::Result<usize> {
        send_to_fd(self.sock.as_raw_fd(), buf, port, groups, libc::MSG_DONTWAIT)
    }

    fn raw_recv(&self, buf: &mut [u8]) -> io::Result<(usize, From)> {
        if !self.passcred {
            return self.raw_recvfrom(buf);
        }
        // SAFETY: all structures are plain data, valid for the duration of the call.
        unsafe {
            let mut sa: libc::sockaddr_nl = std::mem::zeroed();
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr() as *mut libc::c_void,
                iov_len: buf.len(),
            };
            let mut cmsg = [0u64; 8];
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_name = &mut sa as *mut libc::sockaddr_nl as *mut libc::c_void;
            msg.msg_namelen = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            if self.passcred {
                // Without SO_PASSCRED there is nothing to receive: no control buffer, so
                // the kernel skips the control path entirely.
                msg.msg_control = cmsg.as_mut_ptr() as *mut libc::c_void;
                msg.msg_controllen = std::mem::size_of_val(&cmsg) as _;
            }
            let r = libc::recvmsg(self.sock.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT);
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
            let creds = creds_of(&msg);
            let truncated = msg.msg_flags & libc::MSG_TRUNC != 0;
            let n = (r as usize).min(buf.len());
            Ok((
                n,
                From {
                    port: sa.nl_pid,
                    groups: sa.nl_groups,
                    creds,
                    truncated,
                },
            ))
        }
    }

    /// recvfrom(2) for sockets without SO_PASSCRED: no msghdr to copy in and out, which
    /// is most of what recvmsg(2) costs over it on a short datagram. MSG_TRUNC makes the
    /// kernel return the datagram's full length, so truncation is still seen.
    fn raw_recvfrom(&self, buf: &mut [u8]) -> io::Result<(usize, From)> {
        // SAFETY: sa and buf are valid for the duration of the call; sockaddr_nl is plain data.
        unsafe {
            let mut sa: libc::sockaddr_nl = std::mem::zeroed();
            let mut salen = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            let r = libc::recvfrom(
                self.sock.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                &mut sa as *mut libc::sockaddr_nl as *mut libc::sockaddr,
                &mut salen,
            );
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
            let r = r as usize;
            Ok((
                r.min(buf.len()),
                From {
                    port: sa.nl_pid,
                    groups: sa.nl_groups,
                    creds: None,
                    truncated: r > buf.len(),
                },
            ))
        }
    }

    /// Send one datagram (one or more messages) to `port` (0 = kernel) and/or `groups`.
    /// A full receiver gives `WouldBlock`-free backpressure: we wait for writability.
    pub async fn send_to(&self, buf: &[u8], port: u32, groups: u32) -> Result<usize, NlError> {
        loop {
            match self.raw_send(buf, port, groups) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Netlink unicast to a full socket returns EAGAIN only with
                    // MSG_DONTWAIT; yield and retry rather than spin.
                    tokio::task::yield_now().await;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Send without waiting: `WouldBlock` surfaces as an error (for callers that
    /// must never stall, like the twin's event multicast).
    pub fn try_send_to(&self, buf: &[u8], port: u32, groups: u32) -> Result<usize, NlError> {
        Ok(self.raw_send(buf, port, groups)?)
    }

    /// Receive one datagram into `buf`. ENOBUFS (lost messages) is `NlError::Overrun`.
    pub async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, From), NlError> {
        loop {
            match self.raw_recv(buf) {
                Ok(r) => return Ok(r),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Err(NlError::Overrun),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
            let mut guard = self.reactor().await?.readable().await?;
            guard.clear_ready();
        }
    }

    /// Leave tokio's epoll set (if a receive had joined it): for a socket whose receive
    /// side another thread takes over with blocking receives, so that its datagrams do
    /// not also wake the runtime. A later async receive joins again.
    pub fn deregister(&mut self) {
        self.reactor.take();
    }

    /// The tokio registration, made on first use.
    async fn reactor(&self) -> Result<&AsyncFd<Registered>, NlError> {
        self.reactor
            .get_or_try_init(|| async {
                // SAFETY: the fd belongs to `self.sock`, which outlives the AsyncFd
                // (declared after `reactor`, so dropped after it): it stays open and
                // the same for the registration's whole life.
                unsafe {
                    AsyncFd::register_with_interest(
                        Registered(self.sock.as_raw_fd()),
                        Interest::READABLE,
                    )
                }
                .map_err(|e| NlError::Io(e.into()))
            })
            .await
    }

    /// Receive what is queued, up to the batch's size, in one recvmmsg(2); wait (in
    /// tokio's epoll set) while nothing is. For servers whose socket is busy (the
    /// daemon's upcall socket, the twin): a burst costs one syscall instead of one per
    /// datagram, and a short batch proves the queue empty, so the next call goes
    /// straight to epoll instead of first trying a receive that fails with EAGAIN.
    ///
    /// Clearing the readiness after a short batch loses nothing: a datagram (or an
    /// overrun, which also wakes the socket) arriving after recvmmsg returned is a new
    /// edge in epoll's ready list, delivered by the next epoll_wait. An error recvmmsg
    /// met after taking some datagrams stays pending on the socket (sk_err) and is
    /// returned by a later call. ENOBUFS (lost datagrams) is `NlError::Overrun`.
    pub async fn recv_batch(&self, batch: &mut RecvBatch) -> Result<usize, NlError> {
        batch.got.clear();
        let reactor = self.reactor().await?;
        loop {
            let mut guard = reactor.readable().await?;
            match self.raw_recvmmsg(batch) {
                Ok(n) => {
                    if n < batch.asked {
                        guard.clear_ready();
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Err(NlError::Overrun),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn raw_recvmmsg(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        recvmmsg_into(
            self.sock.as_raw_fd(),
            batch,
            self.passcred,
            libc::MSG_DONTWAIT | libc::MSG_TRUNC,
        )
    }

    /// Receive if a datagram is queued, without waiting.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> Result<Option<(usize, From)>, NlError> {
        match self.raw_recv(buf) {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Err(NlError::Overrun),
            Err(e) => Err(e.into()),
        }
    }
}

/// One datagram on netlink socket `fd` to `port` (0: the kernel) and `groups`, with
/// sendto(2)'s `flags` (MSG_DONTWAIT, or 0 to wait for room): the one raw send, for
/// `NlSocket` and for threads that own a socket's fd (the daemon's upcall thread).
pub fn send_to_fd(fd: RawFd, buf: &[u8], port: u32, groups: u32, flags: i32) -> io::Result<usize> {
    // SAFETY: sockaddr_nl is plain data; zeroed is a valid value.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    sa.nl_pid = port;
    sa.nl_groups = groups;
    // SAFETY: `buf` and `sa` are live for the call and the lengths passed are theirs; a
    // bad `fd` is an error from the kernel (EBADF, ENOTSOCK), not undefined behaviour.
    let r = unsafe {
        libc::sendto(
            fd,
            buf.as_ptr() as *const libc::c_void,
            buf.len(),
            flags,
            &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Make `fd` blocking, with receives that give up (EAGAIN) after `timeout`: for a
/// thread that takes over a socket's receive side and blocks in `recvmmsg_into`, looking
/// at a stop flag between receives. Sends are unchanged (`NlSocket`'s carry
/// MSG_DONTWAIT).
pub fn set_blocking_receive(fd: RawFd, timeout: std::time::Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as _,
        tv_usec: timeout.subsec_micros() as _,
    };
    // SAFETY: fcntl and setsockopt on a caller's fd with a live timeval; an invalid fd
    // is an error return, nothing else.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl < 0 || libc::fcntl(fd, libc::F_SETFL, fl & !libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        ) < 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// recvmmsg(2) of up to the batch's slots into it, with `flags` (add MSG_TRUNC to see
/// truncation; MSG_DONTWAIT, or MSG_WAITFORONE on a blocking fd); `passcred`: the socket
/// has SO_PASSCRED (credentials are read per datagram). For `NlSocket::recv_batch` and
/// for a thread that owns a blocking receive on a socket (the daemon's upcall fast path).
pub fn recvmmsg_into(
    fd: RawFd,
    batch: &mut RecvBatch,
    passcred: bool,
    flags: i32,
) -> io::Result<usize> {
    batch.got.clear();
    let slots = if batch.adaptive {
        batch.ask.clamp(1, batch.slots())
    } else {
        batch.slots()
    };
    if slots == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty receive batch",
        ));
    }
    let n = if slots == 1 {
        // One datagram: recvfrom(2) (recvmsg(2) for credentials), not recvmmsg's
        // per-call header copies — 0.1 µs of each receive at one in flight.
        recv_one(fd, batch, passcred, flags & !libc::MSG_WAITFORONE)?
    } else {
        recv_many(fd, batch, slots, passcred, flags)?
    };
    batch.asked = slots;
    if batch.adaptive {
        batch.adapt(n, slots);
    }
    Ok(n)
}

/// One datagram into slot 0 (see `recvmmsg_into`).
fn recv_one(fd: RawFd, batch: &mut RecvBatch, passcred: bool, flags: i32) -> io::Result<usize> {
    // SAFETY: the pointers handed to the kernel are to slot 0 of `batch.buf` (slot_len
    // bytes) and to locals that live for the call; all are plain data.
    unsafe {
        let mut sa: libc::sockaddr_nl = std::mem::zeroed();
        let buf = batch.buf.as_mut_ptr() as *mut libc::c_void;
        let (r, creds, ctrunc) = if passcred {
            let mut cmsg = [0u64; 8];
            let mut iov = libc::iovec {
                iov_base: buf,
                iov_len: batch.slot_len,
            };
            let mut m: libc::msghdr = std::mem::zeroed();
            m.msg_name = &mut sa as *mut libc::sockaddr_nl as *mut libc::c_void;
            m.msg_namelen = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            m.msg_iov = &mut iov;
            m.msg_iovlen = 1;
            m.msg_control = cmsg.as_mut_ptr() as *mut libc::c_void;
            m.msg_controllen = std::mem::size_of::<[u64; 8]>() as _;
            let r = libc::recvmsg(fd, &mut m, flags);
            let creds = if r >= 0 { creds_of(&m) } else { None };
            (r, creds, m.msg_flags & libc::MSG_TRUNC != 0)
        } else {
            let mut len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            let r = libc::recvfrom(
                fd,
                buf,
                batch.slot_len,
                flags,
                &mut sa as *mut libc::sockaddr_nl as *mut libc::sockaddr,
                &mut len,
            );
            (r, None, false)
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        batch.push(r as usize, &sa, creds, ctrunc);
        Ok(1)
    }
}

/// Up to `slots` datagrams in one recvmmsg(2) (see `recvmmsg_into`).
fn recv_many(
    fd: RawFd,
    batch: &mut RecvBatch,
    slots: usize,
    passcred: bool,
    flags: i32,
) -> io::Result<usize> {
    // Only the slots in use are initialised (zeroing all MAX_BATCH of them, 5 KiB,
    // showed in the profile).
    let mut sa = [const { MaybeUninit::<libc::sockaddr_nl>::uninit() }; MAX_BATCH];
    let mut iov = [const { MaybeUninit::<libc::iovec>::uninit() }; MAX_BATCH];
    let mut cmsg = [const { MaybeUninit::<[u64; 8]>::uninit() }; MAX_BATCH];
    let mut hdr = [const { MaybeUninit::<libc::mmsghdr>::uninit() }; MAX_BATCH];
    // SAFETY: slots 0..slots of every array are written before the call and only
    // they are handed to the kernel or read afterwards; all are plain data, for which
    // zeroed is a valid value. Every pointer handed to the kernel points into
    // `batch.buf` (slot i: [i*slot_len, (i+1)*slot_len)) or into these stack arrays,
    // all live for the call.
    unsafe {
        let base = batch.buf.as_mut_ptr();
        for i in 0..slots {
            sa[i] = MaybeUninit::zeroed();
            let iov_i = iov[i].write(libc::iovec {
                iov_base: base.add(i * batch.slot_len) as *mut libc::c_void,
                iov_len: batch.slot_len,
            });
            let mut m: libc::msghdr = std::mem::zeroed();
            m.msg_name = sa[i].as_mut_ptr() as *mut libc::c_void;
            m.msg_namelen = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            m.msg_iov = iov_i;
            m.msg_iovlen = 1;
            if passcred {
                m.msg_control = cmsg[i].as_mut_ptr() as *mut libc::c_void;
                m.msg_controllen = std::mem::size_of::<[u64; 8]>() as _;
            }
            hdr[i].write(libc::mmsghdr {
                msg_hdr: m,
                msg_len: 0,
            });
        }
        let r = libc::recvmmsg(
            fd,
            hdr.as_mut_ptr() as *mut libc::mmsghdr,
            slots as libc::c_uint,
            flags,
            std::ptr::null_mut(),
        );
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = r as usize;
        for i in 0..n {
            let h = hdr[i].assume_init_ref();
            let sa = sa[i].assume_init_ref();
            let creds = if passcred { creds_of(&h.msg_hdr) } else { None };
            let trunc = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            batch.push(h.msg_len as usize, sa, creds, trunc);
        }
        Ok(n)
    }
}

impl AsRawFd for NlSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}
