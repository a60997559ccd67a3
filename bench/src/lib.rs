//! The upcall round-trip benchmark (issue #8, paths 1 and 2), shared by
//! `cargo bench --bench upcall` (`benches/upcall.rs`) and `pnfsctl bench`.
//!
//! Product path: a twin (`pnfsctl twin`, the kernel half over NETLINK_USERSOCK) and
//! `pnfs_controld` on the local engine registered to it, two processes. The twin's TRIGGER
//! load generator issues `count` upcalls `depth` at a time and answers with the run's
//! p50/p99/p99.9 (the shared [`Histogram`]) and its elapsed time.
//!
//! Floor: a bare echo between two processes over NETLINK_USERSOCK: this process sends
//! datagrams of the real upcall's bytes `depth` at a time from one blocking socket and
//! times each round trip into the same [`Histogram`]; the echo process (this program
//! re-executed, [`echo_main`]) answers every datagram with one of the real reply's size.
//!
//! Beside them, nfsdcld's model: nfsd's `cld` upcalls go over an rpc_pipefs pipe, one
//! message per write and read. The pipe row sends the same upcall bytes `depth` at a time
//! down one pipe to an echo process (the same program, [`echo_main`] with port 0) that
//! reads each whole message and writes the reply's bytes up another pipe.
//!
//! All run in rounds that alternate product and floors case by case, under two CPU
//! placements (every process pinned to cpu0; free), in a private network namespace
//! when root. Medians over the rounds are reported.
//!
//! The sockets are the netlink crate's ([`NlSocket`]), driven from one thread with
//! blocking receives (`Blocking`); `unsafe` is left only where the standard library has
//! nothing safe (prctl, unshare, CPU affinity, the effective uid, the thread's CPU clock).

use anyhow::{bail, Context};
use pnfs_controld::config::SocketKind;
use pnfs_controld::control::{self, Request};
use pnfs_controld::kernel::{self, device_id, Target};
use pnfs_netlink::codec::{
    GenlHeader, MsgBuilder, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSG_NOOP, NLM_F_ACK,
    NLM_F_REQUEST,
};
use pnfs_netlink::histogram::Histogram;
use pnfs_netlink::pnfsd::{self, ops, UpcallKind};
use pnfs_netlink::socket::{
    recvmmsg_into, set_blocking_receive, NlSocket, RecvBatch, SocketOptions, NETLINK_USERSOCK,
};
use pnfs_netlink::{Client, NlError};
use pnfs_twin::trigger::{build_upcall, Fill};
use pnfs_twin::Fam;
use serde_json::{json, Value};
use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to start the processes of the benchmark.
#[derive(Debug, Clone)]
pub struct Programs {
    /// `pnfsctl` (runs the twin).
    pub pnfsctl: PathBuf,
    /// `pnfs_controld`.
    pub daemon: PathBuf,
    /// The floor's echo: program and leading arguments; the USERSOCK port to bind is
    /// appended, and the program must then call [`echo_main`] with it.
    pub echo: Vec<OsString>,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// A few seconds: one round, short runs (checks that everything works; the numbers
    /// mean little).
    pub quick: bool,
    pub programs: Programs,
    /// Heap allocations so far in this process (a counting global allocator), to count
    /// the floor's allocations per round trip; None when not available.
    pub allocs: Option<fn() -> u64>,
    /// Progress lines on stderr.
    pub progress: bool,
}

/// One side of one case: medians over the rounds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stat {
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    /// Upcalls (or echoes) completed per second.
    pub per_sec: f64,
    /// Errors, timeouts and failures over all rounds (product side; must be 0).
    pub bad: u64,
    /// CPU time of the side's processes per round trip, ns: the product's twin and
    /// daemon; the floors' sending thread and echo process (all their threads, from
    /// /proc/PID/task/*/schedstat and CLOCK_THREAD_CPUTIME_ID).
    pub cpu_ns: f64,
}

/// The `q` percentile of one run, interpolated within its log bucket — for the product's
/// histogram (from the twin) and the floors' alike.
fn pct(h: &Histogram, q: f64) -> u64 {
    h.quantile_interpolated(q).round() as u64
}

/// One case under one placement.
#[derive(Debug, Clone)]
pub struct Row {
    pub kind: UpcallKind,
    pub depth: u32,
    /// Upcalls per round.
    pub count: u32,
    pub upcall_bytes: usize,
    pub reply_bytes: usize,
    pub product: Stat,
    pub floor: Stat,
    /// The same round trips over a pair of pipes (the rpc_pipefs model).
    pub pipe: Stat,
    /// The kernel half's load generator (a second twin) answered by a bare echo instead
    /// of the daemon: what the twin itself costs; product − this = the daemon's share.
    pub half: Stat,
    /// Every recorded round trip (all rounds) of product, floor, pipe and twin+echo.
    pub hists: [Histogram; 4],
}

impl Row {
    pub fn p50_ratio(&self) -> f64 {
        ratio(self.product.p50_ns as f64, self.floor.p50_ns as f64)
    }
    pub fn p99_ratio(&self) -> f64 {
        ratio(self.product.p99_ns as f64, self.floor.p99_ns as f64)
    }
    /// Product throughput over the floor's (higher is better).
    pub fn tput_ratio(&self) -> f64 {
        ratio(self.product.per_sec, self.floor.per_sec)
    }
    pub fn meets_p50(&self) -> bool {
        self.product.bad == 0 && self.p50_ratio() <= P50_TARGET
    }
    pub fn meets_p99(&self) -> bool {
        self.product.bad == 0 && self.p99_ratio() <= P99_TARGET
    }
    pub fn meets_tput(&self) -> bool {
        self.product.bad == 0 && self.tput_ratio() >= TPUT_TARGET
    }
}

fn ratio(x: f64, floor: f64) -> f64 {
    if floor > 0.0 {
        x / floor
    } else {
        f64::NAN
    }
}

/// The issue's targets: p50 ≤ 1.25× floor, p99 ≤ 2×, throughput ≥ 0.8× at every depth.
pub const P50_TARGET: f64 = 1.25;
pub const P99_TARGET: f64 = 2.0;
pub const TPUT_TARGET: f64 = 0.8;

/// All cases under one CPU placement.
#[derive(Debug, Clone)]
pub struct Placement {
    pub name: &'static str,
    pub rows: Vec<Row>,
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub date: String,
    pub nproc: usize,
    pub model: String,
    pub kernel: String,
    pub load_before: String,
    pub load_after: String,
    pub quick: bool,
    pub rounds: usize,
    pub warmup: u32,
    /// Where the processes ran: a private network namespace, or why not.
    pub netns: String,
    pub placements: Vec<Placement>,
    /// GET_STATE upcalls answered by the daemon from its cache during the measured runs,
    /// and the misses (must be 0: the measured path is the hit path).
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub get_state_upcalls: u64,
    /// Heap allocations per floor round trip in the sender's timed loop, when counted.
    pub floor_allocs_per_rt: Option<f64>,
    /// The daemon's own service time (arrival to REPLY built) per kind over the whole
    /// run: (kind, p50 ns, p99 ns).
    pub daemon_service: Vec<(String, u64, u64)>,
    /// The daemon's busy polling over the run (its `stats`).
    pub busy_poll: BusyPollUse,
}

/// What the daemon's upcall thread polled during the run.
#[derive(Debug, Clone, Copy, Default)]
pub struct BusyPollUse {
    pub max_us: u64,
    /// Receives that found upcalls by polling, receives that waited.
    pub polled: u64,
    pub waited: u64,
    /// Time spent polling, µs.
    pub spin_us: u64,
}

impl Report {
    /// True when every row of every placement meets the three targets.
    pub fn targets_met(&self) -> bool {
        self.placements
            .iter()
            .flat_map(|p| &p.rows)
            .all(|r| r.meets_p50() && r.meets_p99() && r.meets_tput())
    }
}

/// The cases: every kind at depth 1, then GET_STATE deeper.
const CASES: [(UpcallKind, u32); 6] = [
    (UpcallKind::GetState, 1),
    (UpcallKind::GetDeviceInfo, 1),
    (UpcallKind::LayoutGet, 1),
    (UpcallKind::GetState, 8),
    (UpcallKind::GetState, 64),
    (UpcallKind::GetState, 512),
];

/// The state the GET_STATE upcalls ask about (installed in the twin, then cached by the
/// daemon: the measured GET_STATE path is the cache hit).
const FSID: u64 = 0xf5;
const FILEID: u64 = 0x42;
const CLIENTID: u64 = 0xc1;
const ACCESS: u32 = 3;
/// The daemon's node id and its data-server address (GET_DEVICE_INFO, LAYOUT_GET).
const NODE: u32 = 1;
const DS_NETID: &str = "tcp";
const DS_UADDR: &str = "10.0.0.1.8.1";
/// Receive buffers: what the twin and the daemon ask for (capped by rmem_max alike).
const RCVBUF: usize = 8 << 20;

fn stateid() -> [u8; 16] {
    let mut s = [0u8; 16];
    s[..4].copy_from_slice(&1u32.to_be_bytes());
    s[4..12].copy_from_slice(&FILEID.to_le_bytes());
    s
}

/// The upcall's fields as TRIGGER fills them (absent attributes: the twin's defaults).
fn fill(kind: UpcallKind) -> Fill {
    Fill {
        kind: kind as u32,
        count: 1,
        depth: 1,
        fsid: FSID,
        fileid: FILEID,
        stateid: stateid(),
        clientid: CLIENTID,
        device_id: device_id(NODE),
        iomode: 1,
        length: u64::MAX,
        state_change: 1,
        ..Default::default()
    }
}

/// The REPLY the daemon sends for `kind` on the measured path, byte for byte in size
/// (mirrors `Daemon::get_state` cache hit, `get_device_info`, `layout_get`).
fn reply_template(kind: UpcallKind, daemon_port: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(256);
    // The daemon's REPLY header (`fastpath::reply_header`), seq 1: the echo copies the
    // upcall's seq and xid into it.
    let h = ops::reply::header(pnfs_twin::PNFSD_ID)
        .flags(NLM_F_REQUEST)
        .seq(1)
        .pid(daemon_port);
    let (xid, status) = (1, pnfsd::Nfsstat::Ok as u32);
    match kind {
        UpcallKind::GetState => ops::get_state::ReplyAttrs {
            xid,
            status,
            access: Some(ACCESS),
            generation: Some(1),
            clientid: Some(CLIENTID),
            verifier: Some(0),
        }
        .write(&mut v, &h),
        UpcallKind::GetDeviceInfo => ops::get_device_info::ReplyAttrs {
            xid,
            status,
            ds_addr: &[pnfsd::nest::DsAddrAttrs {
                netid: Some(DS_NETID),
                uaddr: Some(DS_UADDR),
            }],
        }
        .write(&mut v, &h),
        UpcallKind::LayoutGet => ops::layout_get::ReplyAttrs {
            xid,
            status,
            device_id: Some(device_id(NODE)),
            stateid: Some(stateid()),
            iomode: Some(pnfsd::Iomode::Read as u32),
            offset: Some(0),
            length: Some(u64::MAX),
        }
        .write(&mut v, &h),
        _ => unreachable!("not a benchmarked kind"),
    };
    v
}

// ---------------------------------------------------------------- blocking sockets

/// A netlink socket of the netlink crate driven from one thread with blocking receives
/// and no runtime (the floor's shape: no epoll): its receives wait in the kernel (with
/// SO_RCVTIMEO when one is given); its sends are `NlSocket`'s (MSG_DONTWAIT), retried
/// while the receiver is full, as a blocking send would wait.
struct Blocking {
    sock: NlSocket,
    /// One datagram of up to 64 KiB.
    rx: RecvBatch,
}

impl Blocking {
    /// A NETLINK_USERSOCK socket bound to `port` (0: the kernel chooses).
    fn usersock(port: u32, rcvtimeo: Option<Duration>) -> std::io::Result<Blocking> {
        let sock = NlSocket::open(
            NETLINK_USERSOCK,
            &SocketOptions {
                port,
                rcvbuf: RCVBUF,
                passcred: false,
                ext_ack: false,
            },
        )
        .map_err(io_error)?;
        Blocking::take(sock, rcvtimeo)
    }

    /// Take over `sock`'s receive side (it leaves tokio's epoll set if it had joined it).
    fn take(mut sock: NlSocket, rcvtimeo: Option<Duration>) -> std::io::Result<Blocking> {
        sock.deregister();
        // A zero SO_RCVTIMEO waits for ever.
        set_blocking_receive(sock.as_raw_fd(), rcvtimeo.unwrap_or(Duration::ZERO))?;
        Ok(Blocking {
            sock,
            rx: RecvBatch::new(1, 64 * 1024),
        })
    }
}

fn io_error(e: NlError) -> std::io::Error {
    match e {
        NlError::Io(e) => e,
        e => std::io::Error::other(e),
    }
}

/// Send one datagram to `port`.
#[inline]
fn send_to(sock: &NlSocket, buf: &[u8], port: u32) -> std::io::Result<()> {
    loop {
        match sock.try_send_to(buf, port, 0).map_err(io_error) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Wait for one datagram: its bytes and the sender's port.
#[inline]
fn recv_from<'a>(sock: &NlSocket, rx: &'a mut RecvBatch) -> std::io::Result<(&'a [u8], u32)> {
    recvmmsg_into(sock.as_raw_fd(), rx, false, 0)?;
    let (msg, from) = rx.get(0);
    Ok((msg, from.port))
}

fn msg_type(buf: &[u8]) -> u16 {
    u16::from_ne_bytes([buf[4], buf[5]])
}

/// Offset of the nlmsghdr seq and of the XID payload (the first attribute) in an upcall
/// or a REPLY: the echo copies both, as the daemon answers the upcall's xid.
const SEQ: std::ops::Range<usize> = 8..12;
const XID: std::ops::Range<usize> = 24..28;

/// The echo's control message that makes it send a datagram as itself: payload = the
/// destination port (u32) and the datagram; the first answer from there is relayed.
const ECHO_FORWARD: u16 = 0x0e;

/// The floor's echo process: bind `port`, then answer every datagram with the reply
/// template (seq and xid copied from the request), as one datagram. An NLMSG_NOOP
/// message sets the template (its payload) and is acknowledged; NLMSG_DONE exits;
/// ECHO_FORWARD registers it with a kernel half (the twin then sends it upcalls).
///
/// Port 0 is the pipe model instead: messages on stdin, replies on stdout.
pub fn echo_main(port: u32) -> i32 {
    // SAFETY: plain prctl: die with the benchmark that started us.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    if port == 0 {
        return match pipe_echo() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("upcall pipe echo: {e}");
                2
            }
        };
    }
    let Blocking { sock, mut rx } = match Blocking::usersock(port, None) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("upcall echo: binding USERSOCK port {port:#x}: {e}");
            return 2;
        }
    };
    let mut reply = Vec::with_capacity(64 * 1024);
    loop {
        let (msg, from) = match recv_from(&sock, &mut rx) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("upcall echo: {e}");
                return 2;
            }
        };
        let n = msg.len();
        if n < NLMSG_HDRLEN {
            continue;
        }
        match msg_type(msg) {
            NLMSG_NOOP => {
                reply.clear();
                reply.extend_from_slice(&msg[NLMSG_HDRLEN..]);
                let _ = send_to(&sock, &msg[..NLMSG_HDRLEN], from);
            }
            NLMSG_DONE => return 0,
            ECHO_FORWARD if n >= NLMSG_HDRLEN + 4 => {
                // Send the payload's datagram to the port it names, as this process (its
                // REGISTER with a kernel half), and relay the first answer from there.
                let to =
                    u32::from_ne_bytes(msg[NLMSG_HDRLEN..NLMSG_HDRLEN + 4].try_into().unwrap());
                reply.clear();
                reply.extend_from_slice(&msg[NLMSG_HDRLEN + 4..]);
                let relayed = send_to(&sock, &reply, to).and_then(|()| loop {
                    let (answer, p) = recv_from(&sock, &mut rx)?;
                    if p == to {
                        break send_to(&sock, answer, from);
                    }
                });
                if let Err(e) = relayed {
                    eprintln!("upcall echo: forwarding to port {to:#x}: {e}");
                    return 2;
                }
                reply.clear();
            }
            _ => {
                if reply.len() >= XID.end && n >= XID.end {
                    reply[SEQ].copy_from_slice(&msg[SEQ]);
                    reply[XID].copy_from_slice(&msg[XID]);
                }
                if let Err(e) = send_to(&sock, &reply, from) {
                    eprintln!("upcall echo: send: {e}");
                }
            }
        }
    }
}

/// A pipe record that sets the reply (instead of an upcall: no netlink message starts
/// with this length): `SET`, the upcall's length, the reply's length, the reply, padded
/// to at least the length the echo reads records with until then (12 bytes at first,
/// then the upcall's length).
const PIPE_SET: u32 = u32::MAX;
const PIPE_SET_HDR: usize = 12;

/// The pipe model's echo: read each upcall with one read of its length from stdin (a
/// pipe), answer it with the reply (seq and xid copied) in one write on stdout, as
/// nfsdcld does on its rpc_pipefs pipe. EOF ends it.
fn pipe_echo() -> std::io::Result<()> {
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    // Unbuffered both ways: one read(2) per message, one write(2) per reply.
    let mut input = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
    let mut output = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
    let mut msg = vec![0u8; 64 * 1024];
    let mut reply: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut len = PIPE_SET_HDR;
    loop {
        match input.read_exact(&mut msg[..len]) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let word = |i: usize| u32::from_ne_bytes(msg[i..i + 4].try_into().unwrap()) as usize;
        if word(0) == PIPE_SET as usize {
            let (up_len, reply_len) = (word(4), word(8));
            let total = (PIPE_SET_HDR + reply_len).max(len);
            if up_len < XID.end || up_len > msg.len() || total > msg.len() {
                return Err(std::io::Error::other("bad pipe SET record"));
            }
            input.read_exact(&mut msg[len..total])?;
            reply.clear();
            reply.extend_from_slice(&msg[PIPE_SET_HDR..PIPE_SET_HDR + reply_len]);
            len = up_len;
            output.write_all(&msg[..4])?;
            continue;
        }
        if reply.len() >= XID.end {
            reply[SEQ].copy_from_slice(&msg[SEQ]);
            reply[XID].copy_from_slice(&msg[XID]);
        }
        output.write_all(&reply)?;
    }
}

/// The sender side of the pipe model.
struct PipeFloor {
    tx: std::fs::File,
    rx: std::fs::File,
    buf: Vec<u8>,
    reply_len: usize,
    /// The record length the echo reads with now.
    echo_len: usize,
    stamps: Vec<Instant>,
}

impl PipeFloor {
    /// Tell the echo the upcall's length and the reply; wait for its acknowledgement.
    fn set(&mut self, up_len: usize, reply: &[u8]) -> anyhow::Result<()> {
        use std::io::{Read, Write};
        self.buf.clear();
        self.buf.extend_from_slice(&PIPE_SET.to_ne_bytes());
        self.buf.extend_from_slice(&(up_len as u32).to_ne_bytes());
        self.buf
            .extend_from_slice(&(reply.len() as u32).to_ne_bytes());
        self.buf.extend_from_slice(reply);
        if self.buf.len() < self.echo_len {
            self.buf.resize(self.echo_len, 0);
        }
        self.tx.write_all(&self.buf).context("pipe floor: SET")?;
        self.echo_len = up_len;
        let mut ack = [0u8; 4];
        self.rx
            .read_exact(&mut ack)
            .context("pipe floor: SET ack")?;
        self.reply_len = reply.len();
        self.buf.resize(reply.len().max(64 * 1024), 0);
        Ok(())
    }

    /// `count` round trips `depth` at a time, timed as [`Floor::run`] times them.
    fn run(
        &mut self,
        upcall: &mut [u8],
        depth: u32,
        count: u32,
        hist: &mut Histogram,
    ) -> anyhow::Result<Stat> {
        use std::io::{Read, Write};
        let d = depth.max(1).min(count.max(1)) as usize;
        let now = Instant::now();
        self.stamps.clear();
        self.stamps.resize(d, now);
        let mut h = Histogram::default();
        let t0 = Instant::now();
        let mut sent = 0u32;
        let tx = &mut self.tx;
        let mut send = |i: u32, stamps: &mut [Instant]| -> std::io::Result<()> {
            let xid = (i + 1).to_ne_bytes();
            upcall[SEQ].copy_from_slice(&xid);
            upcall[XID].copy_from_slice(&xid);
            stamps[i as usize % d] = Instant::now();
            tx.write_all(upcall)
        };
        while (sent as usize) < d {
            send(sent, &mut self.stamps)?;
            sent += 1;
        }
        let mut got = 0u32;
        while got < count {
            let reply = &mut self.buf[..self.reply_len];
            self.rx
                .read_exact(reply)
                .context("pipe floor: waiting for an echo")?;
            let t = Instant::now();
            if reply[SEQ] != (got + 1).to_ne_bytes() {
                bail!("pipe floor: echo {} out of order", got + 1);
            }
            h.record((t - self.stamps[got as usize % d]).as_nanos() as u64);
            got += 1;
            if sent < count {
                send(sent, &mut self.stamps)?;
                sent += 1;
            }
        }
        hist.merge(&h);
        Ok(Stat {
            p50_ns: pct(&h, 0.5),
            p99_ns: pct(&h, 0.99),
            p999_ns: pct(&h, 0.999),
            per_sec: count as f64 / t0.elapsed().as_secs_f64(),
            bad: 0,
            cpu_ns: 0.0,
        })
    }
}

/// The sender side of the floor.
struct Floor {
    sock: NlSocket,
    echo_port: u32,
    rx: RecvBatch,
    ctl: Vec<u8>,
    stamps: Vec<Instant>,
}

impl Floor {
    fn open(echo_port: u32) -> anyhow::Result<Floor> {
        let Blocking { sock, rx } =
            Blocking::usersock(0, Some(Duration::from_secs(10))).context("floor socket")?;
        Ok(Floor {
            sock,
            echo_port,
            rx,
            ctl: Vec::with_capacity(1024),
            stamps: Vec::with_capacity(1024),
        })
    }

    /// Give the echo the reply to answer with (waits for it to be bound).
    fn set_reply(&mut self, reply: &[u8]) -> anyhow::Result<()> {
        self.ctl.clear();
        let len = (NLMSG_HDRLEN + reply.len()) as u32;
        self.ctl.extend_from_slice(&len.to_ne_bytes());
        self.ctl.extend_from_slice(&NLMSG_NOOP.to_ne_bytes());
        self.ctl.extend_from_slice(&[0u8; 10]);
        self.ctl.extend_from_slice(reply);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match send_to(&self.sock, &self.ctl, self.echo_port) {
                Ok(()) => break,
                Err(e)
                    if e.raw_os_error() == Some(libc::ECONNREFUSED)
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10)); // not bound yet
                }
                Err(e) => return Err(e).context("floor: reaching the echo process"),
            }
        }
        loop {
            let (msg, from) = recv_from(&self.sock, &mut self.rx).context("floor: echo ack")?;
            if from == self.echo_port && msg.len() == NLMSG_HDRLEN && msg_type(msg) == NLMSG_NOOP {
                return Ok(());
            }
        }
    }

    /// Make the echo send `datagram` to `to` as itself; the answer it relays.
    fn forward(&mut self, datagram: &[u8], to: u32) -> anyhow::Result<&[u8]> {
        self.ctl.clear();
        let len = (NLMSG_HDRLEN + 4 + datagram.len()) as u32;
        self.ctl.extend_from_slice(&len.to_ne_bytes());
        self.ctl.extend_from_slice(&ECHO_FORWARD.to_ne_bytes());
        self.ctl.extend_from_slice(&[0u8; 10]);
        self.ctl.extend_from_slice(&to.to_ne_bytes());
        self.ctl.extend_from_slice(datagram);
        send_to(&self.sock, &self.ctl, self.echo_port).context("floor: reaching the echo")?;
        loop {
            let (_, from) = recv_from(&self.sock, &mut self.rx).context("floor: forward answer")?;
            if from == self.echo_port {
                return Ok(self.rx.get(0).0);
            }
        }
    }

    /// `count` round trips `depth` at a time, each timed from just before its send to
    /// the receipt of its echo. No allocation inside: buffers are made before.
    fn run(
        &mut self,
        upcall: &mut [u8],
        depth: u32,
        count: u32,
        allocs: Option<fn() -> u64>,
        hist: &mut Histogram,
    ) -> anyhow::Result<(Stat, u64)> {
        let d = depth.max(1).min(count.max(1)) as usize;
        let now = Instant::now();
        self.stamps.clear();
        self.stamps.resize(d, now);
        let mut h = Histogram::default();
        let (sock, port) = (&self.sock, self.echo_port);
        let a0 = allocs.map(|f| f());
        let t0 = Instant::now();
        let mut sent = 0u32;
        let mut send = |i: u32, stamps: &mut [Instant]| -> std::io::Result<()> {
            let xid = (i + 1).to_ne_bytes();
            upcall[SEQ].copy_from_slice(&xid);
            upcall[XID].copy_from_slice(&xid);
            stamps[i as usize % d] = Instant::now();
            send_to(sock, upcall, port)
        };
        while (sent as usize) < d {
            send(sent, &mut self.stamps)?;
            sent += 1;
        }
        let mut got = 0u32;
        while got < count {
            let (echo, _) = recv_from(sock, &mut self.rx).context("floor: waiting for an echo")?;
            let t = Instant::now();
            if echo.len() < XID.end || echo[SEQ] != (got + 1).to_ne_bytes() {
                bail!(
                    "floor: echo {} out of order or short ({} bytes)",
                    got + 1,
                    echo.len()
                );
            }
            h.record((t - self.stamps[got as usize % d]).as_nanos() as u64);
            got += 1;
            if sent < count {
                send(sent, &mut self.stamps)?;
                sent += 1;
            }
        }
        let elapsed = t0.elapsed();
        let allocated = match (allocs, a0) {
            (Some(f), Some(a0)) => f() - a0,
            _ => 0,
        };
        hist.merge(&h);
        Ok((
            Stat {
                p50_ns: pct(&h, 0.5),
                p99_ns: pct(&h, 0.99),
                p999_ns: pct(&h, 0.999),
                per_sec: count as f64 / elapsed.as_secs_f64(),
                bad: 0,
                cpu_ns: 0.0,
            },
            allocated,
        ))
    }

    fn stop(&mut self) {
        let mut done = [0u8; NLMSG_HDRLEN];
        done[..4].copy_from_slice(&(NLMSG_HDRLEN as u32).to_ne_bytes());
        done[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
        let _ = send_to(&self.sock, &done, self.echo_port);
    }
}

// ---------------------------------------------------------------- the product's processes

/// The twin, the daemon and the echo, killed (and their directory removed) on drop.
struct Procs {
    dir: PathBuf,
    children: Vec<(&'static str, Child)>,
}

impl Procs {
    fn spawn(&mut self, name: &'static str, mut cmd: Command) -> anyhow::Result<u32> {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log")))?;
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
        let pid = child.id();
        self.children.push((name, child));
        Ok(pid)
    }

    /// An error if a child already exited, with the tail of its log.
    fn check_alive(&mut self) -> anyhow::Result<()> {
        let dead = self
            .children
            .iter_mut()
            .find_map(|(name, c)| c.try_wait().ok().flatten().map(|st| (*name, st)));
        match dead {
            Some((name, st)) => bail!("{name} exited ({st}):\n{}", self.tail(name)),
            None => Ok(()),
        }
    }

    fn tail(&self, name: &str) -> String {
        let t = std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default();
        let lines: Vec<&str> = t.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn pids(&self) -> Vec<u32> {
        self.children.iter().map(|(_, c)| c.id()).collect()
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Move this thread and every thread of `pids` onto `cpus`.
fn place(pids: &[u32], cpus: &[usize]) -> anyhow::Result<()> {
    // SAFETY: cpu_set_t is plain data, filled by CPU_SET and read by the call.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        set
    };
    let apply = |tid: i32| {
        // SAFETY: `set` is a live cpu_set_t of the size given; the call only reads it.
        let r =
            unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    apply(0).context("sched_setaffinity (self)")?;
    for pid in pids {
        for t in std::fs::read_dir(format!("/proc/{pid}/task"))? {
            if let Some(tid) = t?.file_name().to_str().and_then(|s| s.parse().ok()) {
                // A thread that just exited is fine to miss.
                let _ = apply(tid);
            }
        }
    }
    Ok(())
}

/// A private network namespace for this thread and what it starts (it disappears with
/// the last of them), or why not.
fn private_netns() -> String {
    if euid() != 0 {
        return "host network namespace (not root: no private namespace)".into();
    }
    // SAFETY: plain syscall; affects this thread and the children it starts.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return format!(
            "host network namespace (unshare(CLONE_NEWNET): {})",
            std::io::Error::last_os_error()
        );
    }
    "private network namespace (unshare CLONE_NEWNET; gone when the benchmark exits)".into()
}

/// This process's effective uid.
fn euid() -> u32 {
    // SAFETY: geteuid takes nothing, always succeeds and touches no memory of ours (std
    // has no safe wrapper).
    unsafe { libc::geteuid() }
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The product side of one case: one TRIGGER run.
async fn trigger(
    c: &mut Client,
    t: &Target,
    kind: UpcallKind,
    depth: u32,
    count: u32,
    hist: &mut Histogram,
) -> anyhow::Result<Stat> {
    let f = fill(kind);
    let mut st = Stat::default();
    let mut elapsed = 0u64;
    let mut answered = 0u64;
    let mut bad_hist = false;
    let mut run = Histogram::default();
    let req = ops::trigger::RequestAttrs {
        upcall_kind: kind as u32,
        count: Some(count),
        depth: Some(depth),
        fsid: Some(f.fsid),
        fileid: Some(f.fileid),
        stateid: Some(f.stateid),
        clientid: Some(f.clientid),
        device_id: Some(f.device_id),
        ..Default::default()
    };
    kernel_request(
        c,
        t,
        ops::trigger::header(t.pnfsd.id),
        |b| req.put(b),
        |m| {
            let r = ops::trigger::Reply::parse(m)?;
            elapsed = r.elapsed_ns();
            // The run's kind: the answer's first kind-stats.
            if let Some(k) = r.kind_stats().next() {
                answered = k.answered().unwrap_or(0);
                st.bad += [k.errors(), k.timeouts(), k.failed()]
                    .into_iter()
                    .map(|x| x.unwrap_or(0))
                    .sum::<u64>();
                // The twin's p50-ns etc. are bucket lower bounds: the percentiles are
                // taken from its histogram, as the floor's.
                if let Some(h) = k.hist() {
                    bad_hist |= run.decode_into(h).is_none();
                }
            }
            Ok(())
        },
    )
    .await
    .with_context(|| format!("TRIGGER {} depth {depth}", kind.name()))?;
    if bad_hist {
        bail!(
            "TRIGGER {}: its kind-stats hist is not whole (ns, count) pairs",
            kind.name()
        );
    }
    hist.merge(&run);
    (st.p50_ns, st.p99_ns, st.p999_ns) = (pct(&run, 0.5), pct(&run, 0.99), pct(&run, 0.999));
    if answered == 0 || elapsed == 0 {
        bail!(
            "TRIGGER {} depth {depth}: nothing answered ({} bad)",
            kind.name(),
            st.bad
        );
    }
    // Errors are answers with a non-OK status; an upcall neither answered nor counted as
    // a timeout or failure is bad too.
    st.bad += (count as u64)
        .saturating_sub(answered)
        .saturating_sub(st.bad);
    st.per_sec = answered as f64 / (elapsed as f64 / 1e9);
    Ok(st)
}

/// Start a twin on `port` and wait until it answers.
async fn start_twin(
    procs: &mut Procs,
    name: &'static str,
    opts: &Options,
    port: u32,
    uid: u32,
) -> anyhow::Result<(Client, Target)> {
    let mut twin = Command::new(&opts.programs.pnfsctl);
    twin.arg("--twin-port").arg(port.to_string()).args([
        "twin",
        "--admin-uid",
        &uid.to_string(),
        "--timeout-ms",
        "5000",
    ]);
    procs.spawn(name, twin)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut c, target) = loop {
        match kernel::find(SocketKind::Usersock, port).await {
            Ok(x) => break x,
            Err(e) if Instant::now() > deadline => {
                bail!("the {name} did not answer: {e}\n{}", procs.tail(name))
            }
            Err(_) => {
                procs.check_alive()?;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    c.set_timeout(Duration::from_secs(120));
    Ok((c, target))
}

/// A pnfsd request with header `h` (its operation's generated `header`), its attributes
/// put by `build` (the operation's generated builder), each answer given to `read`.
async fn kernel_request(
    c: &mut Client,
    t: &Target,
    h: GenlHeader,
    build: impl FnOnce(&mut MsgBuilder<'_>),
    mut read: impl FnMut(&[u8]) -> Result<(), pnfs_netlink::DecodeError>,
) -> anyhow::Result<()> {
    c.request(t.pnfsd.id, h.cmd, h.version, false, build, |m| {
        read(m.attrs).map_err(Into::into)
    })
    .await
    .map_err(Into::into)
}

async fn daemon_call(control: &str, req: Request) -> anyhow::Result<Value> {
    let v = control::call(control, &req, Duration::from_secs(10)).await?;
    if let Some(e) = v.get("error") {
        bail!("daemon: {e}");
    }
    Ok(v)
}

fn median_stat(v: &[Stat]) -> Stat {
    let med_u = |f: fn(&Stat) -> u64| {
        let mut x: Vec<u64> = v.iter().map(f).collect();
        x.sort_unstable();
        x[x.len() / 2]
    };
    let med_f = |f: fn(&Stat) -> f64| {
        let mut x: Vec<f64> = v.iter().map(f).collect();
        x.sort_by(|a, b| a.total_cmp(b));
        x[x.len() / 2]
    };
    Stat {
        p50_ns: med_u(|s| s.p50_ns),
        p99_ns: med_u(|s| s.p99_ns),
        p999_ns: med_u(|s| s.p999_ns),
        per_sec: med_f(|s| s.per_sec),
        bad: v.iter().map(|s| s.bad).sum(),
        cpu_ns: med_f(|s| s.cpu_ns),
    }
}

/// CPU time used so far by every thread of `pids`, and by this thread if `me`, ns.
fn cpu_ns(pids: &[u32], me: bool) -> u64 {
    let mut t = 0;
    for pid in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            t += stat
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    if me {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes the timespec it is given.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0 {
            t += ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        }
    }
    t
}

/// Upcalls per round of a case.
fn count_of(quick: bool, depth: u32) -> u32 {
    match (quick, depth) {
        (true, 1) => 300,
        (true, _) => 2_000,
        (false, 1) => 5_000,
        (false, _) => 20_000,
    }
}

/// Run the whole benchmark.
pub async fn run(opts: Options) -> anyhow::Result<Report> {
    let progress = |s: String| {
        if opts.progress {
            eprintln!("{s}");
        }
    };
    let pid = std::process::id();
    let netns = private_netns();
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let load_before = sh("cut -d' ' -f1-3 /proc/loadavg");
    let rounds = if opts.quick { 1 } else { 5 };
    let warmup: u32 = if opts.quick { 50 } else { 1_000 };

    // Ports unique on this machine even without a private namespace.
    let twin_port = 0x5042_0000 | (pid & 0xffff);
    let echo_port = 0x5045_0000 | (pid & 0xffff);
    let control = format!("@pnfs-bench-{pid}");
    let dir = std::env::temp_dir().join(format!("pnfs-bench-{pid}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut procs = Procs {
        dir: dir.clone(),
        children: vec![],
    };
    let uid = euid();

    // ---- the kernel half (twin)
    let (mut c, target) = start_twin(&mut procs, "twin", &opts, twin_port, uid).await?;

    // ---- the daemon on the local engine, MDS of its one-node cluster
    // An empty configuration (every setting from the flags below): not the system's file.
    let config = dir.join("daemon.toml");
    std::fs::write(&config, "").context("writing the daemon's empty configuration")?;
    let mut d = Command::new(&opts.programs.daemon);
    d.arg("--config")
        .arg(&config)
        .args(["--node-id", &NODE.to_string(), "--engine", "local"])
        .args([
            "--socket",
            "usersock",
            "--twin-port",
            &twin_port.to_string(),
        ])
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(["--control-socket", &control, "--grace-ms", "300"])
        .args(["--addr", &format!("{DS_NETID},{DS_UADDR}")]);
    procs.spawn("daemon", d)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let daemon_port = loop {
        if let Ok(v) = daemon_call(&control, Request::Status).await {
            if v["granting"] == true && v["in_grace"] == false {
                break v["port"].as_u64().unwrap_or(0) as u32;
            }
        }
        if Instant::now() > deadline {
            bail!(
                "the daemon did not become a granting MDS:\n{}",
                procs.tail("daemon")
            );
        }
        procs.check_alive()?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // ---- make GET_STATE a cache hit: the state exists in the kernel half (nfsd's OPEN),
    // one upcall misses and fills the daemon's cache from the MDS (itself), the rest hit.
    let req = ops::state_set::RequestAttrs {
        fsid: FSID,
        fileid: FILEID,
        stateid: stateid(),
        clientid: CLIENTID,
        access: Some(ACCESS),
        generation: None,
    };
    let h = ops::state_set::header(target.pnfsd.id);
    kernel_request(&mut c, &target, h, |b| req.put(b), |_| Ok(()))
        .await
        .context("STATE_SET")?;
    let first = trigger(
        &mut c,
        &target,
        UpcallKind::GetState,
        1,
        1,
        &mut Histogram::default(),
    )
    .await?;
    if first.bad != 0 {
        bail!("the first GET_STATE was not answered OK (cache not filled)");
    }

    // ---- the floor's echo process
    let mut echo = Command::new(&opts.programs.echo[0]);
    echo.args(&opts.programs.echo[1..])
        .arg(echo_port.to_string());
    procs.spawn("echo", echo)?;
    let mut floor = Floor::open(echo_port)?;
    let mut pipe = {
        let log = std::fs::File::create(dir.join("pipe-echo.log"))?;
        let mut cmd = Command::new(&opts.programs.echo[0]);
        cmd.args(&opts.programs.echo[1..])
            .arg("0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = cmd.spawn().context("starting the pipe echo")?;
        let tx = std::fs::File::from(OwnedFd::from(child.stdin.take().unwrap()));
        let rx = std::fs::File::from(OwnedFd::from(child.stdout.take().unwrap()));
        procs.children.push(("pipe-echo", child));
        PipeFloor {
            tx,
            rx,
            buf: Vec::with_capacity(64 * 1024),
            reply_len: 0,
            echo_len: PIPE_SET_HDR,
            stamps: Vec::with_capacity(1024),
        }
    };
    // ---- a second kernel half whose registered "daemon" is a bare echo: the twin's own
    // share of a round trip, measured with the same load generator.
    let (twin2_port, echo2_port) = (0x5043_0000 | (pid & 0xffff), 0x5046_0000 | (pid & 0xffff));
    let (mut c2, target2) = start_twin(&mut procs, "twin-echo", &opts, twin2_port, uid).await?;
    let mut echo2 = Command::new(&opts.programs.echo[0]);
    echo2
        .args(&opts.programs.echo[1..])
        .arg(echo2_port.to_string());
    procs.spawn("echo-daemon", echo2)?;
    let mut half = Floor::open(echo2_port)?;
    half.set_reply(&[])?; // waits until the echo is bound
    {
        let mut reg = Vec::with_capacity(128);
        ops::register::RequestAttrs {
            version: pnfsd::VERSION,
            node_id: Some(NODE),
            role: Some(pnfsd::Role::Mds as u32),
            mds_id: Some(NODE),
            boot_epoch: Some(1),
        }
        .write(
            &mut reg,
            &ops::register::header(target2.pnfsd.id)
                .flags(NLM_F_REQUEST | NLM_F_ACK)
                .seq(1),
        );
        let answer = half.forward(&reg, twin2_port)?;
        if msg_type(answer) == NLMSG_ERROR
            && answer.len() >= NLMSG_HDRLEN + 4
            && answer[NLMSG_HDRLEN..NLMSG_HDRLEN + 4] != [0; 4]
        {
            bail!(
                "the second twin refused the echo's REGISTER\n{}",
                procs.tail("twin-echo")
            );
        }
    }
    let mut upcalls: Vec<(UpcallKind, Vec<u8>, Vec<u8>)> = Vec::new();
    for k in [
        UpcallKind::GetState,
        UpcallKind::GetDeviceInfo,
        UpcallKind::LayoutGet,
    ] {
        let mut up = Vec::with_capacity(256);
        build_upcall(Fam::Pnfsd, k as u32, 1, &fill(k), &mut up);
        upcalls.push((k, up, reply_template(k, daemon_port)));
    }
    let stats0 = daemon_call(&control, Request::Stats).await?;

    // Whose CPU time each side uses: (processes, and this thread — the floors' sender).
    let pid_of = |name: &str| -> Vec<u32> {
        procs
            .children
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, c)| c.id())
            .collect()
    };
    let sides: [(Vec<u32>, bool); 4] = [
        ([pid_of("twin"), pid_of("daemon")].concat(), false),
        (pid_of("echo"), true),
        (pid_of("pipe-echo"), true),
        ([pid_of("twin-echo"), pid_of("echo-daemon")].concat(), false),
    ];
    let all_cpus: Vec<usize> = (0..nproc).collect();
    let placements: [(&'static str, Vec<usize>); 2] =
        [("pinned cpu0", vec![0]), ("free", all_cpus.clone())];
    let mut out = Vec::new();
    let mut floor_allocs = 0u64;
    let mut floor_rts = 0u64;
    let mut get_state_upcalls = 0u64;
    for (pname, cpus) in &placements {
        place(&procs.pids(), cpus)?;
        let mut samples: Vec<[Vec<Stat>; 4]> = vec![Default::default(); CASES.len()];
        // Every recorded round trip of a case and side (product, floor, pipe, twin+echo),
        // summed over the rounds: the CDFs.
        let mut hists: Vec<[Histogram; 4]> = (0..CASES.len()).map(|_| Default::default()).collect();
        let mut scratch: [Histogram; 4] = Default::default();
        for round in 0..=rounds {
            // Round 0 is the warm-up of every case on both sides, not recorded.
            let warm = round == 0;
            progress(format!(
                "upcall bench: {pname}: {}",
                if warm {
                    "warm-up".to_string()
                } else {
                    format!("round {round}/{rounds}")
                }
            ));
            for (i, &(kind, depth)) in CASES.iter().enumerate() {
                let count = if warm {
                    warmup.max(depth * 4)
                } else {
                    count_of(opts.quick, depth)
                };
                let (_, up, reply) = upcalls.iter_mut().find(|u| u.0 == kind).unwrap();
                floor.set_reply(reply)?;
                half.set_reply(reply)?;
                pipe.set(up.len(), reply)?;
                // Rotate which side goes first, so that a slow phase hits all alike.
                let (mut p, mut f, mut q, mut h) = (None, None, None, None);
                let [hp, hf, hq, hh] = if warm { &mut scratch } else { &mut hists[i] };
                for side in 0..4 {
                    let which = (side + round + i) % 4;
                    let (pids, me) = &sides[which];
                    let cpu0 = cpu_ns(pids, *me);
                    let slot = match which {
                        0 => {
                            p = Some(trigger(&mut c, &target, kind, depth, count, hp).await?);
                            if kind == UpcallKind::GetState {
                                get_state_upcalls += count as u64;
                            }
                            &mut p
                        }
                        1 => {
                            let (s, allocs) = floor.run(up, depth, count, opts.allocs, hf)?;
                            if !warm {
                                floor_allocs += allocs;
                                floor_rts += count as u64;
                            }
                            f = Some(s);
                            &mut f
                        }
                        2 => {
                            q = Some(pipe.run(up, depth, count, hq)?);
                            &mut q
                        }
                        _ => {
                            h = Some(trigger(&mut c2, &target2, kind, depth, count, hh).await?);
                            &mut h
                        }
                    };
                    if let Some(st) = slot {
                        st.cpu_ns = cpu_ns(pids, *me).saturating_sub(cpu0) as f64 / count as f64;
                    }
                }
                if !warm {
                    let [sp, sf, sq, sh] = &mut samples[i];
                    sp.push(p.unwrap());
                    sf.push(f.unwrap());
                    sq.push(q.unwrap());
                    sh.push(h.unwrap());
                }
            }
            procs.check_alive()?;
        }
        let rows = CASES
            .iter()
            .zip(samples.into_iter().zip(hists))
            .map(|(&(kind, depth), ([p, f, q, h], hists))| {
                let (_, up, reply) = upcalls.iter().find(|u| u.0 == kind).unwrap();
                Row {
                    kind,
                    depth,
                    count: count_of(opts.quick, depth),
                    upcall_bytes: up.len(),
                    reply_bytes: reply.len(),
                    product: median_stat(&p),
                    floor: median_stat(&f),
                    pipe: median_stat(&q),
                    half: median_stat(&h),
                    hists,
                }
            })
            .collect();
        out.push(Placement { name: pname, rows });
    }
    place(&procs.pids(), &all_cpus)?;
    floor.stop();
    half.stop();

    // The daemon's upcall thread adds its polling counts when idle for its receive
    // timeout (100 ms).
    tokio::time::sleep(Duration::from_millis(250)).await;
    let stats1 = daemon_call(&control, Request::Stats).await?;
    let delta = |k: &str| stats1[k].as_u64().unwrap_or(0) - stats0[k].as_u64().unwrap_or(0);
    let daemon_service = stats1["pnfsd"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|k| k["answered"].as_u64().unwrap_or(0) > 0)
        .map(|k| {
            (
                k["kind"].as_str().unwrap_or("").to_string(),
                k["p50_ns"].as_u64().unwrap_or(0),
                k["p99_ns"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let poll = |k: &str| {
        stats1["busy_poll"][k].as_u64().unwrap_or(0) - stats0["busy_poll"][k].as_u64().unwrap_or(0)
    };
    let busy_poll = BusyPollUse {
        max_us: stats1["busy_poll"]["max_us"].as_u64().unwrap_or(0),
        polled: poll("receives_polled"),
        waited: poll("receives_waited"),
        spin_us: poll("spin_us"),
    };
    let report = Report {
        date: sh("date -u +%Y-%m-%dT%H:%M:%SZ"),
        nproc,
        model: sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"),
        kernel: sh("uname -r"),
        load_before,
        load_after: sh("cut -d' ' -f1-3 /proc/loadavg"),
        quick: opts.quick,
        rounds,
        warmup,
        netns,
        placements: out,
        cache_hits: delta("cache_hits"),
        cache_misses: delta("cache_misses"),
        get_state_upcalls,
        floor_allocs_per_rt: opts
            .allocs
            .map(|_| floor_allocs as f64 / floor_rts.max(1) as f64),
        daemon_service,
        busy_poll,
    };
    drop(procs);
    if report.cache_misses != 0 || report.cache_hits != report.get_state_upcalls {
        bail!(
            "GET_STATE did not stay on the cache-hit path: {} hits, {} misses for {} upcalls",
            report.cache_hits,
            report.cache_misses,
            report.get_state_upcalls
        );
    }
    Ok(report)
}

// ---------------------------------------------------------------- output

fn label(r: &Row) -> String {
    match r.kind {
        UpcallKind::GetState => "GET_STATE (cache hit)".into(),
        UpcallKind::GetDeviceInfo => "GET_DEVICE_INFO".into(),
        UpcallKind::LayoutGet => "LAYOUT_GET".into(),
        k => k.name().into(),
    }
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "MISS"
    }
}

/// The table `pnfsctl bench` and the cargo bench print.
pub fn text(r: &Report) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "upcall round trip: twin -> pnfs_controld -> twin (TRIGGER) vs bare USERSOCK echo (floor)\n\
         {} CPUs, {}, kernel {}, load {} -> {}; {}; {} round(s), medians\n",
        r.nproc, r.model, r.kernel, r.load_before, r.load_after, r.netns, r.rounds
    ));
    for p in &r.placements {
        s.push_str(&format!("\n[{}]\n", p.name));
        s.push_str(&format!(
            "{:<22} {:>5} {:>8} {:>8} {:>8} {:>9} {:>9} {:>11} {:>11} {:>10} {:>10} {:>11}\n",
            "path",
            "depth",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "floor p50",
            "floor p99",
            "p50/floor",
            "p99/floor",
            "upcalls/s",
            "floor/s",
            "tput/floor"
        ));
        for row in &p.rows {
            s.push_str(&format!(
                "{:<22} {:>5} {:>8.1} {:>8.1} {:>8.1} {:>9.1} {:>9.1} {:>6.2}x {:<4} {:>6.2}x {:<4} {:>10.0} {:>10.0} {:>6.2}x {:<4}{}\n",
                label(row),
                row.depth,
                us(row.product.p50_ns),
                us(row.product.p99_ns),
                us(row.product.p999_ns),
                us(row.floor.p50_ns),
                us(row.floor.p99_ns),
                row.p50_ratio(),
                mark(row.meets_p50()),
                row.p99_ratio(),
                mark(row.meets_p99()),
                row.product.per_sec,
                row.floor.per_sec,
                row.tput_ratio(),
                mark(row.meets_tput()),
                if row.product.bad > 0 {
                    format!("  ({} errors/timeouts)", row.product.bad)
                } else {
                    String::new()
                }
            ));
        }
        s.push_str(&format!(
            "rpc_pipefs model (same bytes over two pipes, one message per read/write):\n\
             {:<22} {:>5} {:>8} {:>8} {:>10} {:>14} {:>14}\n",
            "path", "depth", "pipe p50", "pipe p99", "pipe/s", "pipe p50/floor", "p50/pipe p50"
        ));
        for row in &p.rows {
            s.push_str(&format!(
                "{:<22} {:>5} {:>8.1} {:>8.1} {:>10.0} {:>13.2}x {:>13.2}x\n",
                label(row),
                row.depth,
                us(row.pipe.p50_ns),
                us(row.pipe.p99_ns),
                row.pipe.per_sec,
                ratio(row.pipe.p50_ns as f64, row.floor.p50_ns as f64),
                ratio(row.product.p50_ns as f64, row.pipe.p50_ns as f64),
            ));
        }
    }
    for p in &r.placements {
        s.push_str(&format!(
            "\n[{}] where the time goes: the same twin's load generator answered by a bare echo (no daemon)\n\
             {:<22} {:>5} {:>12} {:>10} {:>12} {:>12} {:>14} {:>14}\n",
            p.name, "path", "depth", "twin+echo p50", "floor p50", "twin share µs", "daemon share µs",
            "product/twin+echo", "tput/twin+echo"
        ));
        for row in &p.rows {
            s.push_str(&format!(
                "{:<22} {:>5} {:>12.1} {:>10.1} {:>12.1} {:>12.1} {:>13.2}x {:>13.2}x\n",
                label(row),
                row.depth,
                us(row.half.p50_ns),
                us(row.floor.p50_ns),
                us(row.half.p50_ns) - us(row.floor.p50_ns),
                us(row.product.p50_ns) - us(row.half.p50_ns),
                ratio(row.product.p50_ns as f64, row.half.p50_ns as f64),
                ratio(row.product.per_sec, row.half.per_sec),
            ));
        }
    }
    for p in &r.placements {
        s.push_str(&format!(
            "\n[{}] CPU per round trip, µs (each side's processes, all threads)\n\
             {:<22} {:>5} {:>8} {:>8} {:>10} {:>14}\n",
            p.name, "path", "depth", "product", "floor", "twin+echo", "product/floor"
        ));
        for row in &p.rows {
            let [pc, fc, hc, x] = cpu_us(row);
            s.push_str(&format!(
                "{:<22} {:>5} {pc:>8.2} {fc:>8.2} {hc:>10.2} {x:>13.2}x\n",
                label(row),
                row.depth,
            ));
        }
    }
    s.push_str(&format!("{}\n", busy_poll_line(r)));
    s.push_str(&format!(
        "\ntargets (p50 <= {P50_TARGET}x, p99 <= {P99_TARGET}x, throughput >= {TPUT_TARGET}x floor, every row): {}\n",
        if r.targets_met() { "met" } else { "NOT met" }
    ));
    s.push_str(&format!(
        "GET_STATE cache hits {} of {} upcalls ({} misses)",
        r.cache_hits, r.get_state_upcalls, r.cache_misses
    ));
    if let Some(x) = r.floor_allocs_per_rt {
        s.push_str(&format!("; floor sender allocations per round trip {x:.2}"));
    }
    s.push('\n');
    if r.quick {
        s.push_str("(quick run: short runs, one round; the numbers are a smoke check)\n");
    }
    s
}

fn stat_json(s: &Stat) -> Value {
    json!({
        "p50_us": us(s.p50_ns), "p99_us": us(s.p99_ns), "p999_us": us(s.p999_ns),
        "per_sec": s.per_sec.round(), "errors": s.bad,
        "cpu_us_per_rt": (s.cpu_ns / 10.0).round() / 100.0,
    })
}

/// A histogram as `[[lower_ns, count], ...]` (non-empty buckets).
fn hist_json(h: &Histogram) -> Value {
    h.buckets().map(|(ns, c)| json!([ns, c])).collect()
}

/// The JSON report (`-j`, and `benches/upcall-report.json`).
pub fn json(r: &Report) -> Value {
    json!({
        "date": r.date,
        "machine": { "nproc": r.nproc, "model": r.model, "kernel": r.kernel,
                     "loadavg_before": r.load_before, "loadavg_after": r.load_after },
        "quick": r.quick,
        "rounds": r.rounds,
        "netns": r.netns,
        "targets": { "p50_vs_floor_max": P50_TARGET, "p99_vs_floor_max": P99_TARGET,
                     "throughput_vs_floor_min": TPUT_TARGET, "met": r.targets_met() },
        "placements": r.placements.iter().map(|p| json!({
            "placement": p.name,
            "rows": p.rows.iter().map(|row| json!({
                "kind": row.kind.name(),
                "depth": row.depth,
                "upcalls_per_round": row.count,
                "upcall_bytes": row.upcall_bytes,
                "reply_bytes": row.reply_bytes,
                "product": stat_json(&row.product),
                "floor": stat_json(&row.floor),
                "pipe": stat_json(&row.pipe),
                "twin_echo": stat_json(&row.half),
                "hist_ns": {
                    "product": hist_json(&row.hists[0]),
                    "floor": hist_json(&row.hists[1]),
                    "pipe": hist_json(&row.hists[2]),
                    "twin_echo": hist_json(&row.hists[3]),
                },
                "p50_vs_twin_echo": ratio(row.product.p50_ns as f64, row.half.p50_ns as f64),
                "throughput_vs_twin_echo": ratio(row.product.per_sec, row.half.per_sec),
                "p50_vs_floor": row.p50_ratio(),
                "pipe_p50_vs_floor": ratio(row.pipe.p50_ns as f64, row.floor.p50_ns as f64),
                "p50_vs_pipe": ratio(row.product.p50_ns as f64, row.pipe.p50_ns as f64),
                "p99_vs_floor": row.p99_ratio(),
                "throughput_vs_floor": row.tput_ratio(),
                "meets": { "p50": row.meets_p50(), "p99": row.meets_p99(), "throughput": row.meets_tput() },
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "get_state_cache": { "hits": r.cache_hits, "misses": r.cache_misses, "upcalls": r.get_state_upcalls },
        "floor_allocs_per_rt": r.floor_allocs_per_rt,
        "daemon_service_time": r.daemon_service.iter().map(|(k, p50, p99)| json!({
            "kind": k, "p50_us": us(*p50), "p99_us": us(*p99),
        })).collect::<Vec<_>>(),
        "busy_poll": { "max_us": r.busy_poll.max_us, "receives_polled": r.busy_poll.polled,
                       "receives_waited": r.busy_poll.waited, "spin_us": r.busy_poll.spin_us },
    })
}

/// CPU per round trip, µs: product, floor, twin+echo, and product / floor.
fn cpu_us(row: &Row) -> [f64; 4] {
    [
        row.product.cpu_ns / 1e3,
        row.floor.cpu_ns / 1e3,
        row.half.cpu_ns / 1e3,
        ratio(row.product.cpu_ns, row.floor.cpu_ns),
    ]
}

/// What the daemon's busy polling did over the run, in a sentence.
fn busy_poll_line(r: &Report) -> String {
    let b = &r.busy_poll;
    if b.max_us == 0 {
        return "The daemon did not busy-poll (busy_poll_us = 0).".into();
    }
    let all = (b.polled + b.waited).max(1);
    format!(
        "The daemon's upcall thread busy-polled up to {} µs between batches while upcalls \
         queued: {} of its {} receives found upcalls by polling ({:.0} %), {} waited; \
         {:.1} ms of polling in all.",
        b.max_us,
        b.polled,
        b.polled + b.waited,
        100.0 * b.polled as f64 / all as f64,
        b.waited,
        b.spin_us as f64 / 1e3
    )
}

/// One markdown table per placement: its name, `header`, then `cells` of every row.
fn md_tables(s: &mut String, r: &Report, header: &str, cells: impl Fn(&Row) -> String) {
    for p in &r.placements {
        s.push_str(&format!("\n{}\n\n{header}", p.name));
        for row in &p.rows {
            s.push_str(&cells(row));
        }
    }
}

/// The markdown report (`benches/upcall.md`).
pub fn markdown(r: &Report, command: &str) -> String {
    let mut s = format!(
        "# Upcall round trip\n\nWritten by `{command}` (replaced on every run; the JSON twin is \
         `upcall-report.json`). `pnfsctl bench` runs the same code and prints the same table.\n"
    );
    s.push_str(&format!(
        "\n## twin → daemon → twin vs bare USERSOCK echo ({})\n\n",
        r.date
    ));
    s.push_str(&format!(
        "Machine: {} CPUs, {}, kernel {}. Load average (1/5/15 min) {} before, {} after: the \
         machine was shared with other work during the run, so absolute numbers are noisy; \
         both sides of every case were sampled alternately to share the noise. Stalls by other \
         work (CPU contention, wake-ups across vCPUs) show most in p99/p99.9 and throughput.\n\n",
        r.nproc, r.model, r.kernel, r.load_before, r.load_after
    ));
    let c1 = count_of(r.quick, 1);
    let cn = count_of(r.quick, 8);
    s.push_str(&format!(
        "Method: {}, release build with debug info. **Product**: `pnfsctl twin` (the kernel \
         half over NETLINK_USERSOCK) and `pnfs_controld` on the local engine (a one-node cluster \
         whose MDS it is, with its default configuration — its upcall thread busy-polls up \
         to `busy_poll_us` = 50 µs between batches while upcalls queue, whose CPU cost the \
         CPU table shows) registered to it, two processes. The twin's TRIGGER load generator \
         issues `count` upcalls `depth` at a time (each next one from the handler of the REPLY \
         that ended one, as the module's generator does), times each from just before its \
         send (encoded, its xid patched in) to the receive thread taking up its REPLY, and \
         answers with the run's p50/p99/p99.9 and elapsed time; throughput = answered / \
         elapsed. \
         GET_STATE is the cache hit: the stateid is installed in the twin (STATE_SET), one \
         untimed GET_STATE misses and fills the daemon's cache from its own kernel half, and \
         the daemon's counters show every measured GET_STATE hit ({} hits, {} misses for {} \
         upcalls). GET_DEVICE_INFO asks for the daemon's own device (one tcp address), \
         LAYOUT_GET for a file striped over it. **Floor**: two minimal processes over \
         NETLINK_USERSOCK — this process sends datagrams holding the real upcall's bytes \
         from one blocking socket, `depth` at a time, and the echo process (the benchmark \
         re-executed) answers each with one datagram of the real reply's size (seq and xid \
         copied); blocking recvfrom/sendto, no SO_PASSCRED, receive buffers as large as the \
         twin's and daemon's (the twin and the daemon take their datagrams in threads blocked \
         in receive, asking for one at a time while they come one at a time, as built). \
         Each round trip is timed from just before its send to the receipt of its answer, \
         into the same log-bucket histogram as the twin's (buckets ≤ 6.25 % wide; every \
         percentile, product's and floors', is interpolated linearly within its bucket); floor throughput = count / (first send → last answer). \
         {} upcalls per run at depth 1, {} deeper; per placement one warm-up round, then \
         {} round(s) visiting every case, product and floor alternately (the side that goes \
         first alternates); each figure is the median over the rounds. Placements: every \
         process (twin, daemon, echo, sender) pinned to cpu0, then free. Isolation: {}.\n\n",
        if r.quick {
            "quick run (BENCH_QUICK / --quick)"
        } else {
            "full run"
        },
        r.cache_hits,
        r.cache_misses,
        r.get_state_upcalls,
        c1,
        cn,
        r.rounds,
        r.netns,
    ));
    s.push_str(&format!(
        "Targets (issue #8): p50 ≤ {P50_TARGET}× floor, p99 ≤ {P99_TARGET}×, throughput ≥ \
         {TPUT_TARGET}× at every depth, checked on every row: **{}**.\n",
        if r.targets_met() { "met" } else { "not met" }
    ));
    for p in &r.placements {
        s.push_str(&format!(
            "\n### {}\n\n| path | depth | bytes up/reply | p50 µs | p99 µs | p99.9 µs | floor p50 µs | floor p99 µs | floor p99.9 µs | p50 / floor | p99 / floor | upcalls/s | floor/s | throughput / floor |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            p.name
        ));
        for row in &p.rows {
            let m = |ok: bool| if ok { "" } else { " ✗" };
            s.push_str(&format!(
                "| {} | {} | {}/{} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2}×{} | {:.2}×{} | {:.0} | {:.0} | {:.2}×{} |\n",
                label(row),
                row.depth,
                row.upcall_bytes,
                row.reply_bytes,
                us(row.product.p50_ns),
                us(row.product.p99_ns),
                us(row.product.p999_ns),
                us(row.floor.p50_ns),
                us(row.floor.p99_ns),
                us(row.floor.p999_ns),
                row.p50_ratio(),
                m(row.meets_p50()),
                row.p99_ratio(),
                m(row.meets_p99()),
                row.product.per_sec,
                row.floor.per_sec,
                row.tput_ratio(),
                m(row.meets_tput()),
            ));
        }
    }
    s.push_str(
        "\n### rpc_pipefs model\n\nnfsd's `cld` upcall goes to nfsdcld over an rpc_pipefs pipe, \
         one message per write and read. The same upcall bytes sent `depth` at a time down one \
         pipe to an echo process that reads each whole message and writes the reply's bytes \
         up another (both blocking), timed like the USERSOCK floor, in the same rounds:\n",
    );
    md_tables(
        &mut s,
        r,
        "| path | depth | pipe p50 µs | pipe p99 µs | pipe p99.9 µs | pipe/s | pipe p50 / USERSOCK floor p50 | product p50 / pipe p50 | product/s / pipe/s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        |row| {
            format!(
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.0} | {:.2}× | {:.2}× | {:.2}× |\n",
                label(row),
                row.depth,
                us(row.pipe.p50_ns),
                us(row.pipe.p99_ns),
                us(row.pipe.p999_ns),
                row.pipe.per_sec,
                ratio(row.pipe.p50_ns as f64, row.floor.p50_ns as f64),
                ratio(row.product.p50_ns as f64, row.pipe.p50_ns as f64),
                ratio(row.product.per_sec, row.pipe.per_sec),
            )
        },
    );
    s.push_str(
        "\n### Where the time goes\n\nThe same rounds also ran the twin's load generator \
         against a second twin whose registered daemon is a bare echo (the floor's echo \
         process, registered with REGISTER like the daemon, answering with the same reply \
         bytes): **twin+echo**. Its p50 minus the floor's is what the twin (the user-space \
         stand-in for the kernel module: its xid table, per-upcall accounting, the next \
         upcall's encoding, the credentials it takes with every datagram) adds; the product's p50 minus twin+echo's is what `pnfs_controld` adds \
         over a blocking echo on the same kernel half — the part that stays when the kernel \
         half is the module (see the VM report).\n",
    );
    md_tables(
        &mut s,
        r,
        "| path | depth | twin+echo p50 µs | twin+echo p99 µs | floor p50 µs | twin share µs | daemon share µs | product p50 / twin+echo p50 | product/s / twin+echo/s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        |row| {
            format!(
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2}× | {:.2}× |\n",
                label(row),
                row.depth,
                us(row.half.p50_ns),
                us(row.half.p99_ns),
                us(row.floor.p50_ns),
                us(row.half.p50_ns) - us(row.floor.p50_ns),
                us(row.product.p50_ns) - us(row.half.p50_ns),
                ratio(row.product.p50_ns as f64, row.half.p50_ns as f64),
                ratio(row.product.per_sec, row.half.per_sec),
            )
        },
    );
    s.push_str(
        "\n### CPU per round trip\n\nThe CPU time each side's processes used (every \
         thread: /proc/PID/task/*/schedstat; the floors' sender is this process's thread, \
         CLOCK_THREAD_CPUTIME_ID) per round trip, median over the rounds: the product is the \
         twin and the daemon, the floor its sender and echo, twin+echo the second twin and \
         its echo. Pinned, the sum is the round trip's time on its one CPU (minus idle); \
         free, busy polling shows here as CPU spent waiting.\n",
    );
    md_tables(
        &mut s,
        r,
        "| path | depth | product CPU µs | floor CPU µs | twin+echo CPU µs | product / floor |\n|---|---:|---:|---:|---:|---:|\n",
        |row| {
            let [pc, fc, hc, x] = cpu_us(row);
            format!(
                "| {} | {} | {pc:.2} | {fc:.2} | {hc:.2} | {x:.2}× |\n",
                label(row),
                row.depth,
            )
        },
    );
    s.push_str(&format!("\n{}\n", busy_poll_line(r)));
    s.push_str("\n✗ = target missed.");
    if r.placements
        .iter()
        .flat_map(|p| &p.rows)
        .any(|x| x.product.bad > 0)
    {
        s.push_str(" Some product runs had errors or timeouts (see the JSON).");
    }
    s.push('\n');
    if !r.daemon_service.is_empty() {
        s.push_str(
            "\nThe daemon's own service time (upcall arrival → REPLY built, from its `stats`, \
             over the whole run; the fast path times one batch in 8): ",
        );
        let parts: Vec<String> = r
            .daemon_service
            .iter()
            .map(|(k, p50, p99)| format!("{k} p50 {:.1} µs / p99 {:.1} µs", us(*p50), us(*p99)))
            .collect();
        s.push_str(&parts.join("; "));
        s.push_str(
            ". The rest of a round trip above the floor is the twin's upcall machinery \
             (xid table, accounting, the next upcall's encoding) and what each process does \
             per datagram beyond a bare echo.\n",
        );
    }
    if let Some(x) = r.floor_allocs_per_rt {
        s.push_str(&format!(
            "\nFloor sender heap allocations per round trip (counting allocator): {x:.2}.\n"
        ));
    }
    s
}

/// `pnfsctl bench --echo-module`: register with the module like the daemon, then answer
/// upcalls with fixed replies from a blocking loop.
pub async fn echo_module() -> anyhow::Result<()> {
    let (_c, target) = kernel::find(SocketKind::Generic, 0)
        .await
        .context("the pnfs_shim module's families")?;
    let reg = kernel::Registration {
        node_id: NODE,
        role: pnfsd::Role::Mds,
        mds_id: NODE,
        epoch: 1,
    };
    let sock = kernel::register(&target, reg)
        .await
        .context("REGISTER with the module")?
        .sock;
    let port = sock.port();
    // (upcall command, reply) per benchmarked kind; the reply carries the module's family id.
    let mut replies: Vec<(u8, Vec<u8>)> = Vec::new();
    for k in [
        UpcallKind::GetState,
        UpcallKind::GetDeviceInfo,
        UpcallKind::LayoutGet,
    ] {
        let mut up = Vec::with_capacity(256);
        build_upcall(Fam::Pnfsd, k as u32, 1, &fill(k), &mut up);
        let mut r = reply_template(k, port);
        r[4..6].copy_from_slice(&target.pnfsd.id.to_ne_bytes());
        replies.push((up[NLMSG_HDRLEN], r));
    }
    eprintln!("echo-module: registered on port {port}, answering upcalls");
    // Blocking from here on: the floor's shape (no epoll, no runtime).
    let Blocking { sock, mut rx } = Blocking::take(sock, None)?;
    tokio::task::spawn_blocking(move || {
        let mut refused = 0u64;
        loop {
            let (msg, _) = match recv_from(&sock, &mut rx) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(anyhow::anyhow!("echo-module: {e}")),
            };
            let n = msg.len();
            if n < XID.end || msg_type(msg) != target.pnfsd.id {
                if n >= NLMSG_HDRLEN && msg_type(msg) == NLMSG_ERROR {
                    refused += 1;
                    if refused == 1 {
                        eprintln!(
                            "echo-module: the module refused a REPLY: {:?}",
                            &msg[..n.min(64)]
                        );
                    }
                }
                continue;
            }
            let Some((_, reply)) = replies.iter_mut().find(|(c, _)| *c == msg[NLMSG_HDRLEN]) else {
                continue;
            };
            reply[SEQ].copy_from_slice(&msg[SEQ]);
            reply[XID].copy_from_slice(&msg[XID]);
            if let Err(e) = send_to(&sock, reply, 0) {
                eprintln!("echo-module: send: {e}");
            }
        }
    })
    .await?
}

/// Where the daemon binary is for `pnfsctl bench`: next to pnfsctl, else on PATH.
pub fn sibling_daemon(pnfsctl: &Path) -> PathBuf {
    let p = pnfsctl.with_file_name("pnfs_controld");
    if p.exists() {
        p
    } else {
        PathBuf::from("pnfs_controld")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(p50_us: u64, per_sec: f64) -> Stat {
        Stat {
            p50_ns: p50_us * 1000,
            p99_ns: p50_us * 2000,
            p999_ns: p50_us * 3000,
            per_sec,
            bad: 0,
            cpu_ns: p50_us as f64 * 900.0,
        }
    }

    fn report() -> Report {
        let mut hists: [Histogram; 4] = Default::default();
        hists[0].record(7_000);
        let row = Row {
            kind: UpcallKind::GetState,
            depth: 1,
            count: 10,
            upcall_bytes: 104,
            reply_bytes: 76,
            product: stat(7, 140_000.0),
            floor: stat(3, 330_000.0),
            pipe: stat(2, 400_000.0),
            half: stat(5, 200_000.0),
            hists,
        };
        Report {
            date: "d".into(),
            nproc: 2,
            model: "m".into(),
            kernel: "k".into(),
            load_before: "0".into(),
            load_after: "0".into(),
            quick: false,
            rounds: 1,
            warmup: 1,
            netns: "n".into(),
            placements: vec![
                Placement {
                    name: "pinned cpu0",
                    rows: vec![row.clone()],
                },
                Placement {
                    name: "free",
                    rows: vec![row],
                },
            ],
            cache_hits: 10,
            cache_misses: 0,
            get_state_upcalls: 10,
            floor_allocs_per_rt: Some(0.0),
            daemon_service: vec![],
            busy_poll: BusyPollUse {
                max_us: 50,
                polled: 3,
                waited: 1,
                spin_us: 2500,
            },
        }
    }

    /// Every table row has as many cells as its header, and every placement has its
    /// rows in the main, pipe and twin+echo tables.
    #[test]
    fn markdown_tables_are_whole() {
        let md = markdown(&report(), "cargo bench --bench upcall");
        let mut header_cells = None;
        let mut rows = 0;
        for line in md.lines() {
            if !line.starts_with('|') {
                header_cells = None;
                continue;
            }
            let cells = line.matches('|').count();
            match header_cells {
                None => header_cells = Some(cells),
                Some(h) => {
                    assert_eq!(cells, h, "row with a different cell count: {line}");
                    if !line.starts_with("|---") {
                        rows += 1;
                    }
                }
            }
        }
        // 2 placements × 4 tables × 1 row.
        assert_eq!(rows, 8, "{md}");
        // CPU: 7 × 0.9 µs product, 3 × 0.9 µs floor.
        assert!(
            md.contains("| GET_STATE (cache hit) | 1 | 6.30 | 2.70 | 4.50 | 2.33× |"),
            "{md}"
        );
        assert!(
            md.contains("3 of its 4 receives found upcalls by polling (75 %), 1 waited; 2.5 ms"),
            "{md}"
        );
        // twin share 5 − 3 = 2.0 µs, daemon share 7 − 5 = 2.0 µs, product / twin+echo 1.40×.
        assert!(
            md.contains(
                "| GET_STATE (cache hit) | 1 | 5.0 | 10.0 | 3.0 | 2.0 | 2.0 | 1.40× | 0.70× |"
            ),
            "{md}"
        );
        let j = json(&report());
        let row = &j["placements"][0]["rows"][0];
        assert_eq!(
            row["hist_ns"]["product"],
            json!([[bucket_floor_of(7_000), 1]])
        );
        assert_eq!(row["p50_vs_twin_echo"], 1.4);
        assert_eq!(row["product"]["cpu_us_per_rt"], 6.3);
        assert_eq!(j["busy_poll"]["receives_polled"], 3);
    }

    /// The measured path's replies are the daemon's: GET_STATE's and GET_DEVICE_INFO's
    /// byte for byte (`fastpath`'s writers), LAYOUT_GET's in size (its stateid names the
    /// MDS).
    #[test]
    fn reply_templates_are_the_daemons_replies() {
        use pnfs_controld::fastpath;
        let port = 0x1234;
        let fam = pnfs_twin::PNFSD_ID;
        let mut d = Vec::new();
        let e = pnfs_controld::decide::CacheEntry {
            generation: 1,
            access: ACCESS,
            verifier: 0,
            epoch: 1,
        };
        fastpath::put_state(&mut d, fam, port, 1, pnfsd::Nfsstat::Ok, &e, CLIENTID);
        assert_eq!(reply_template(UpcallKind::GetState, port), d);
        d.clear();
        let addr = pnfs_controld::wire::DsAddr {
            netid: DS_NETID.into(),
            uaddr: DS_UADDR.into(),
        };
        fastpath::put_device(&mut d, fam, port, 1, pnfsd::Nfsstat::Ok, &[addr]);
        assert_eq!(reply_template(UpcallKind::GetDeviceInfo, port), d);
        let mut up = Vec::new();
        let k = UpcallKind::LayoutGet;
        build_upcall(Fam::Pnfsd, k as u32, 1, &fill(k), &mut up);
        let r = ops::layout_get::Request::parse(&up[NLMSG_HDRLEN + 4..]).unwrap();
        d.clear();
        fastpath::put_layout(&mut d, fam, port, NODE, NODE, &r);
        assert_eq!(reply_template(k, port).len(), d.len());
    }

    fn bucket_floor_of(ns: u64) -> u64 {
        let mut h = Histogram::default();
        h.record(ns);
        h.quantile(0.5)
    }
}
