//! The conformance suite of the kernel half: one set of cases, run against the C module
//! (NETLINK_GENERIC, port 0) or its user-space twin (NETLINK_USERSOCK, the twin's port).
//! `kmod-shim/PROTOCOL.md` is what they check.
//!
//! Family ids and the `events` multicast group ids always come from nlctrl resolution,
//! on both targets. Each case gets a freshly reset [`Env`]: daemons the previous case
//! registered are unregistered, child processes killed, timeouts back to the default,
//! layouts, devices and stateids cleared.

/// Fail the case with a message unless `$c`.
macro_rules! check {
    ($c:expr, $($fmt:tt)+) => {
        if !$c {
            return Err(format!($($fmt)+));
        }
    };
}

/// Fail the case unless `$got == $want`, saying both.
macro_rules! check_eq {
    ($got:expr, $want:expr, $($fmt:tt)+) => {{
        let (g, w) = (&$got, &$want);
        if g != w {
            return Err(format!("{}: got {:?}, want {:?}", format!($($fmt)+), g, w));
        }
    }};
}

pub mod cases;
pub mod conn;
pub mod extack;
pub mod nlctrl;
pub mod sub;

use conn::{attrs_of, Conn, Fail, Msg};
use pnfs_netlink::codec::MsgBuilder;
use pnfs_netlink::{gfs2ctl, pnfsd, Client, FamilyInfo, Proto};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

/// Where the kernel half is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub proto: Proto,
    /// 0 for the module (the kernel); the twin's USERSOCK port.
    pub peer: u32,
}

impl Target {
    /// The kernel module.
    pub fn module() -> Target {
        Target {
            proto: Proto::Generic,
            peer: 0,
        }
    }

    /// A twin bound to `port`.
    pub fn twin(port: u32) -> Target {
        Target {
            proto: Proto::Usersock,
            peer: port,
        }
    }

    /// `generic` or `usersock`, as the command line spells it.
    pub fn proto_name(&self) -> &'static str {
        match self.proto {
            Proto::Generic => "generic",
            Proto::Usersock => "usersock",
        }
    }
}

/// One of the two families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fam {
    Pnfsd,
    Gfs2,
}

impl Fam {
    pub const BOTH: [Fam; 2] = [Fam::Pnfsd, Fam::Gfs2];

    pub fn name(self) -> &'static str {
        match self {
            Fam::Pnfsd => pnfsd::FAMILY_NAME,
            Fam::Gfs2 => gfs2ctl::FAMILY_NAME,
        }
    }

    pub fn from_name(s: &str) -> Option<Fam> {
        match s {
            "pnfsd" => Some(Fam::Pnfsd),
            "gfs2ctl" | "gfs2" => Some(Fam::Gfs2),
            _ => None,
        }
    }

    /// Command numbers of the upcalls (kernel -> daemon).
    pub fn is_upcall(self, cmd: u8) -> bool {
        let spec = match self {
            Fam::Pnfsd => &pnfsd::FAMILY,
            Fam::Gfs2 => &gfs2ctl::FAMILY,
        };
        spec.op(cmd).is_some_and(|o| o.upcall)
    }

    /// The command the kernel half sends for upcall kind `kind`.
    pub fn upcall_cmd(self, kind: u32) -> u8 {
        // Upcall kinds are numbered in the order of the upcall ops, which follow REPLY.
        pnfsd::cmd::REPLY + kind as u8
    }

    /// Attribute id of `port`.
    pub fn port_attr(self) -> u16 {
        match self {
            Fam::Pnfsd => pnfsd::attr::PORT,
            Fam::Gfs2 => gfs2ctl::attr::PORT,
        }
    }

    /// Attribute id of the kind-stats nest.
    pub fn kind_stats_attr(self) -> u16 {
        match self {
            Fam::Pnfsd => pnfsd::attr::KIND_STATS,
            Fam::Gfs2 => gfs2ctl::attr::KIND_STATS,
        }
    }
}

/// Per-kind counters as the kernel half reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindStats {
    pub kind: u32,
    pub sent: u64,
    pub answered: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub failed: u64,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
}

impl KindStats {
    /// Parse every kind-stats nest `nest` of a message.
    pub fn all(m: &Msg, nest: u16) -> Vec<KindStats> {
        // Through pnfsd's generated nest view: the families' kind-stats sets are alike
        // (ids and types; the twin's tests check it). An absent counter reads u64::MAX.
        use pnfsd::nest::KindStats as View;
        m.a()
            .all(nest)
            .into_iter()
            .map(|p| {
                let a = View::parse(p).ok();
                KindStats {
                    kind: a.and_then(|a| a.kind()).unwrap_or(0),
                    sent: a.and_then(|a| a.sent()).unwrap_or(u64::MAX),
                    answered: a.and_then(|a| a.answered()).unwrap_or(u64::MAX),
                    errors: a.and_then(|a| a.errors()).unwrap_or(u64::MAX),
                    timeouts: a.and_then(|a| a.timeouts()).unwrap_or(u64::MAX),
                    failed: a.and_then(|a| a.failed()).unwrap_or(u64::MAX),
                    p50: a.and_then(|a| a.p50_ns()).unwrap_or(u64::MAX),
                    p99: a.and_then(|a| a.p99_ns()).unwrap_or(u64::MAX),
                    p999: a.and_then(|a| a.p999_ns()).unwrap_or(u64::MAX),
                }
            })
            .collect()
    }

    /// Counters of `later` minus `self` (percentiles of `later`).
    pub fn delta(&self, later: &KindStats) -> KindStats {
        KindStats {
            kind: later.kind,
            sent: later.sent.wrapping_sub(self.sent),
            answered: later.answered.wrapping_sub(self.answered),
            errors: later.errors.wrapping_sub(self.errors),
            timeouts: later.timeouts.wrapping_sub(self.timeouts),
            failed: later.failed.wrapping_sub(self.failed),
            ..*later
        }
    }

    /// (sent, answered, errors, timeouts, failed), for comparisons in messages.
    pub fn counts(&self) -> (u64, u64, u64, u64, u64) {
        (
            self.sent,
            self.answered,
            self.errors,
            self.timeouts,
            self.failed,
        )
    }
}

/// An upcall as a fake daemon received it.
#[derive(Debug, Clone)]
pub struct Upcall {
    pub cmd: u8,
    pub xid: u32,
    pub msg: Msg,
}

/// After REGISTER's reply `m`: take upcalls from the port it names (`upcall-port`, the
/// twin's upcall socket), if any.
pub fn take_upcall_port(f: Fam, conn: &Conn, m: &Msg) {
    let a = match f {
        Fam::Pnfsd => pnfsd::attr::UPCALL_PORT,
        Fam::Gfs2 => gfs2ctl::attr::UPCALL_PORT,
    };
    if let Some(p) = m.a().u32(a) {
        conn.set_upcall_peer(p);
    }
}

/// A fake daemon: a socket that registered for a family.
pub struct Daemon {
    pub conn: Rc<Conn>,
    pub fam: Fam,
    pub id: u16,
}

impl Daemon {
    pub fn port(&self) -> u32 {
        self.conn.port()
    }

    /// The next upcall, waiting at most `timeout`; anything else is an error.
    pub async fn upcall(&self, timeout: Duration) -> Result<Upcall, String> {
        let m = self
            .conn
            .unsolicited(timeout)
            .await
            .map_err(|e| format!("{} daemon waiting for an upcall: {e}", self.fam.name()))?;
        self.as_upcall(m)
    }

    fn as_upcall(&self, m: Msg) -> Result<Upcall, String> {
        if m.kind != self.id || !self.fam.is_upcall(m.cmd) || m.groups != 0 {
            return Err(format!(
                "daemon expected an upcall, got type {:#x} cmd {} groups {}",
                m.kind, m.cmd, m.groups
            ));
        }
        let xid = m
            .a()
            .u32(1)
            .ok_or_else(|| format!("upcall cmd {} without xid", m.cmd))?;
        let first = pnfs_netlink::AttrIter::new(&m.attrs)
            .next()
            .and_then(Result::ok)
            .map(|a| a.kind);
        if first != Some(1) {
            return Err(format!(
                "upcall cmd {}: xid is not the first attribute",
                m.cmd
            ));
        }
        Ok(Upcall {
            cmd: m.cmd,
            xid,
            msg: m,
        })
    }

    /// An upcall if one has arrived already.
    pub fn try_upcall(&self) -> Result<Option<Upcall>, String> {
        match self.conn.try_unsolicited()? {
            None => Ok(None),
            Some(m) => self.as_upcall(m).map(Some),
        }
    }

    /// REPLY to `xid` with `status` and more attributes (already encoded).
    pub async fn reply(&self, xid: u32, status: u32, extra: &[u8]) -> Result<(), Fail> {
        self.conn
            .request(self.id, pnfsd::cmd::REPLY, |b| {
                match self.fam {
                    Fam::Pnfsd => pnfsd::ops::reply::RequestAttrs {
                        xid,
                        status,
                        ..Default::default()
                    }
                    .put(b),
                    Fam::Gfs2 => gfs2ctl::ops::reply::RequestAttrs {
                        xid,
                        status: status as i32,
                        ..Default::default()
                    }
                    .put(b),
                }
                b.put_raw_attrs(extra);
            })
            .await
            .map(|_| ())
    }

    pub async fn unregister(&self) -> Result<(), Fail> {
        self.conn
            .request(self.id, pnfsd::cmd::UNREGISTER, |_| {})
            .await
            .map(|_| ())
    }
}

/// What a case runs in.
pub struct Env {
    pub target: Target,
    pub pnfsd: FamilyInfo,
    pub gfs2: FamilyInfo,
    /// A privileged socket for downcalls, dumps and triggers.
    pub admin: Conn,
    /// The suite's own binary, for the subprocess cases.
    pub exe: Option<PathBuf>,
    registered: Vec<(Fam, Rc<Conn>)>,
    children: Vec<tokio::process::Child>,
}

/// Resolve both families through nlctrl.
pub async fn resolve(target: &Target) -> Result<(FamilyInfo, FamilyInfo), String> {
    let mut c = Client::open(target.proto, target.peer).map_err(|e| format!("nlctrl: {e}"))?;
    c.set_timeout(Duration::from_secs(5));
    let p = c
        .resolve(pnfsd::FAMILY_NAME)
        .await
        .map_err(|e| format!("resolve pnfsd: {e}"))?;
    let g = c
        .resolve(gfs2ctl::FAMILY_NAME)
        .await
        .map_err(|e| format!("resolve gfs2ctl: {e}"))?;
    Ok((p, g))
}

/// Default upcall timeout (PROTOCOL.md), restored before each case.
pub const DEFAULT_TIMEOUT_MS: u32 = 5000;
/// Bound on waiting for one upcall or event.
pub const WAIT: Duration = Duration::from_secs(10);

impl Env {
    pub async fn new(target: Target, exe: Option<PathBuf>) -> Result<Env, String> {
        let (pnfsd, gfs2) = resolve(&target).await?;
        Ok(Env {
            target,
            pnfsd,
            gfs2,
            admin: Conn::open(&target)?,
            exe,
            registered: Vec::new(),
            children: Vec::new(),
        })
    }

    pub fn info(&self, f: Fam) -> &FamilyInfo {
        match f {
            Fam::Pnfsd => &self.pnfsd,
            Fam::Gfs2 => &self.gfs2,
        }
    }

    /// Resolved family id.
    pub fn id(&self, f: Fam) -> u16 {
        self.info(f).id
    }

    /// Resolved id of the family's `events` group.
    pub fn group(&self, f: Fam) -> Result<u32, String> {
        self.info(f)
            .group("events")
            .ok_or_else(|| format!("{} has no events group", f.name()))
    }

    /// A new, unregistered socket.
    pub fn conn(&self) -> Result<Conn, String> {
        Conn::open(&self.target)
    }

    /// A socket joined to the family's `events` group.
    pub fn listen(&self, f: Fam) -> Result<Conn, String> {
        let c = self.conn()?;
        c.socket()
            .join_group(self.group(f)?)
            .map_err(|e| format!("join {} events: {e}", f.name()))?;
        Ok(c)
    }

    /// Keep `conn` in the list of daemons to unregister at the next reset.
    pub fn track(&mut self, f: Fam, conn: &Rc<Conn>) {
        self.registered.push((f, conn.clone()));
    }

    /// Keep a child process to kill at the next reset.
    pub fn track_child(&mut self, c: tokio::process::Child) -> &mut tokio::process::Child {
        self.children.push(c);
        self.children.last_mut().unwrap()
    }

    /// Register a daemon with `build`'s attributes (tracked even if it fails).
    pub async fn register_with(
        &mut self,
        f: Fam,
        build: impl FnOnce(&mut MsgBuilder<'_>),
    ) -> Result<(Daemon, Msg), Fail> {
        let conn = Rc::new(self.conn().map_err(Fail::Local)?);
        self.track(f, &conn);
        let id = self.id(f);
        let r = conn.request(id, pnfsd::cmd::REGISTER, build).await?;
        let m = r
            .into_iter()
            .next()
            .ok_or_else(|| Fail::Local("REGISTER: no reply message".into()))?;
        take_upcall_port(f, &conn, &m);
        Ok((Daemon { conn, fam: f, id }, m))
    }

    /// Register a daemon speaking version 1 (pnfsd: node 1, MDS, mds-id 1, epoch 77).
    pub async fn daemon(&mut self, f: Fam) -> Result<Daemon, String> {
        let (d, _) = self
            .register_with(f, |b| {
                b.put_u32(pnfsd::attr::VERSION, 1).put_u32(4, 1);
                if f == Fam::Pnfsd {
                    b.put_u32(pnfsd::attr::ROLE, pnfsd::Role::Mds as u32)
                        .put_u32(pnfsd::attr::MDS_ID, 1)
                        .put_u64(pnfsd::attr::BOOT_EPOCH, 77);
                }
            })
            .await
            .map_err(|e| format!("register {} daemon: {e}", f.name()))?;
        Ok(d)
    }

    /// A `do` request on the admin socket.
    pub async fn req(
        &self,
        f: Fam,
        cmd: u8,
        build: impl FnOnce(&mut MsgBuilder<'_>),
    ) -> Result<Vec<Msg>, Fail> {
        self.admin.request(self.id(f), cmd, build).await
    }

    /// A `do` request whose single reply message is returned.
    pub async fn req1(
        &self,
        f: Fam,
        cmd: u8,
        build: impl FnOnce(&mut MsgBuilder<'_>),
    ) -> Result<Msg, String> {
        let r = self.req(f, cmd, build).await?;
        let n = r.len();
        r.into_iter()
            .next()
            .filter(|_| n == 1)
            .ok_or_else(|| format!("{} cmd {cmd}: expected 1 reply message, got {n}", f.name()))
    }

    /// A dump on the admin socket.
    pub async fn dump(&self, f: Fam, cmd: u8) -> Result<Vec<Msg>, String> {
        Ok(self.admin.dump(self.id(f), cmd, |_| {}).await?)
    }

    pub async fn status(&self, f: Fam) -> Result<Msg, String> {
        let cmd = match f {
            Fam::Pnfsd => pnfsd::cmd::STATUS_GET,
            Fam::Gfs2 => gfs2ctl::cmd::STATUS_GET,
        };
        self.req1(f, cmd, |_| {}).await
    }

    /// stats-get: the per-kind counters and late-replies.
    pub async fn stats(&self, f: Fam) -> Result<(Vec<KindStats>, u64), String> {
        let (cmd, late) = match f {
            Fam::Pnfsd => (pnfsd::cmd::STATS_GET, pnfsd::attr::LATE_REPLIES),
            Fam::Gfs2 => (gfs2ctl::cmd::STATS_GET, gfs2ctl::attr::LATE_REPLIES),
        };
        let m = self.req1(f, cmd, |_| {}).await?;
        let late = m.a().need_u64(late, "stats-get late-replies")?;
        Ok((KindStats::all(&m, f.kind_stats_attr()), late))
    }

    /// The cumulative counters of one kind.
    pub async fn kind_stats(&self, f: Fam, kind: u32) -> Result<KindStats, String> {
        let (all, _) = self.stats(f).await?;
        all.into_iter()
            .find(|k| k.kind == kind)
            .ok_or_else(|| format!("stats-get has no kind-stats for kind {kind}"))
    }

    pub async fn set_timeout(&self, f: Fam, ms: u32) -> Result<(), String> {
        let (cmd, a) = match f {
            Fam::Pnfsd => (pnfsd::cmd::CONFIG_SET, pnfsd::attr::TIMEOUT_MS),
            Fam::Gfs2 => (gfs2ctl::cmd::CONFIG_SET, gfs2ctl::attr::TIMEOUT_MS),
        };
        self.req(f, cmd, |b| {
            b.put_u32(a, ms);
        })
        .await
        .map_err(|e| format!("config-set {ms} ms: {e}"))?;
        Ok(())
    }

    /// TRIGGER from a fresh socket; the single reply message (waits up to 120 s).
    pub async fn trigger(
        &self,
        f: Fam,
        build: impl FnOnce(&mut MsgBuilder<'_>),
    ) -> Result<Msg, Fail> {
        let cmd = match f {
            Fam::Pnfsd => pnfsd::cmd::TRIGGER,
            Fam::Gfs2 => gfs2ctl::cmd::TRIGGER,
        };
        // A socket of its own: cases issue other requests while a trigger runs.
        let conn = Conn::open(&self.target).map_err(Fail::Local)?;
        let (buf, seq) = conn.encode(self.id(f), cmd, 0, build);
        conn.send_raw_detached(buf).await?;
        let r = conn
            .answer(seq, Some(cmd), Duration::from_secs(120))
            .await?;
        let n = r.len();
        r.into_iter()
            .next()
            .filter(|_| n == 1)
            .ok_or_else(|| Fail::Local(format!("trigger: expected 1 reply message, got {n}")))
    }

    /// TRIGGER one upcall and serve it with `d`: `respond` checks the upcall and returns
    /// the reply's status and further attributes. Returns the trigger's reply and the
    /// upcall. A failed check is still answered (status inval) so the trigger ends.
    pub async fn trigger_one(
        &self,
        d: &Daemon,
        build: impl FnOnce(&mut MsgBuilder<'_>),
        respond: impl FnOnce(&Upcall) -> Result<(u32, Vec<u8>), String>,
    ) -> Result<(Msg, Upcall), String> {
        let trig = self.trigger(d.fam, build);
        let serve = async {
            let up = d.upcall(WAIT).await?;
            match respond(&up) {
                Ok((status, extra)) => {
                    d.reply(up.xid, status, &extra)
                        .await
                        .map_err(|e| format!("REPLY: {e}"))?;
                    Ok(up)
                }
                Err(e) => {
                    let _ = d.reply(up.xid, 22, &[]).await;
                    Err(e)
                }
            }
        };
        let (t, s) = tokio::join!(trig, serve);
        let up = s?;
        let t = t.map_err(|e| format!("trigger: {e}"))?;
        Ok((t, up))
    }

    /// Back to a known state before a case.
    pub async fn reset(&mut self) -> Result<(), String> {
        for c in &mut self.children {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
        self.children.clear();
        for (f, conn) in std::mem::take(&mut self.registered) {
            let _ = conn
                .request(self.id(f), pnfsd::cmd::UNREGISTER, |_| {})
                .await;
        }
        for f in Fam::BOTH {
            self.set_timeout(f, DEFAULT_TIMEOUT_MS).await?;
            let port = self
                .status(f)
                .await?
                .a()
                .need_u32(f.port_attr(), "status-get port")?;
            if port != 0 {
                return Err(format!(
                    "reset: a {} daemon the suite does not own is registered on port {port}",
                    f.name()
                ));
            }
        }
        use pnfsd::{attr as a, cmd as c};
        self.req(Fam::Pnfsd, c::LAYOUT_RECALL, |b| {
            b.put_u32(a::RECALL_TYPE, pnfsd::RecallType::All as u32);
        })
        .await
        .map_err(|e| format!("reset: recall all layouts: {e}"))?;
        for d in self.dump(Fam::Pnfsd, c::DEVICE_GET).await? {
            let id = d.a().get(a::DEVICE_ID).unwrap_or_default().to_vec();
            self.req(Fam::Pnfsd, c::DEVICE_DEL, |b| {
                b.put_bytes(a::DEVICE_ID, &id);
            })
            .await
            .map_err(|e| format!("reset: device-del: {e}"))?;
        }
        let mut clients: Vec<u64> = self
            .dump(Fam::Pnfsd, c::STATE_GET)
            .await?
            .iter()
            .filter_map(|m| m.a().u64(a::CLIENTID))
            .collect();
        clients.sort();
        clients.dedup();
        for cl in clients {
            self.req(Fam::Pnfsd, c::STATE_REVOKE, |b| {
                b.put_u64(a::CLIENTID, cl);
            })
            .await
            .map_err(|e| format!("reset: state-revoke: {e}"))?;
        }
        Ok(())
    }
}

/// The future of one case.
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + 'a>>;

/// A named case.
pub struct Case {
    pub name: &'static str,
    pub run: for<'a> fn(&'a mut Env) -> CaseFuture<'a>,
}

/// A case's result string starting with this is a skip, not a failure.
pub const SKIPPED: &str = "SKIPPED";

/// How a case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
}

/// Run every case whose name contains `filter`, calling `report` after each.
pub async fn run(
    env: &mut Env,
    filter: Option<&str>,
    mut report: impl FnMut(&str, &Verdict),
) -> Vec<(&'static str, Verdict)> {
    let mut out = Vec::new();
    for case in cases::all() {
        if filter.is_some_and(|f| !case.name.contains(f)) {
            continue;
        }
        let verdict = match env.reset().await {
            Err(e) => Verdict::Fail(format!("reset before the case: {e}")),
            Ok(()) => match tokio::time::timeout(Duration::from_secs(180), (case.run)(env)).await {
                Ok(Ok(())) => Verdict::Pass,
                Ok(Err(e)) if e.starts_with(SKIPPED) => Verdict::Skip(e),
                Ok(Err(e)) => Verdict::Fail(e),
                Err(_) => Verdict::Fail("case did not finish within 180 s".into()),
            },
        };
        report(case.name, &verdict);
        out.push((case.name, verdict));
    }
    if let Err(e) = env.reset().await {
        report("final-reset", &Verdict::Fail(e.clone()));
        out.push(("final-reset", Verdict::Fail(e)));
    }
    out
}

/// Encode attributes (re-exported for cases).
pub fn attrs(build: impl FnOnce(&mut MsgBuilder<'_>)) -> Vec<u8> {
    attrs_of(build)
}
