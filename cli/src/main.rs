//! `pnfsctl`: the `ip`-style tool. `pnfsctl [OPTIONS] OBJECT {COMMAND | help}`, unique
//! prefixes accepted at every level (`pnfsctl dev sh`).

mod bench;
mod demo;
mod records;
mod render;

use clap::{Args, CommandFactory, Parser, Subcommand};
use pnfs_controld::config::SocketKind;
use pnfs_controld::control::{self, Request};
use pnfs_controld::gfs2;
use pnfs_controld::kernel::{self, device_id, Target};
use pnfs_netlink::client::{Client, FamilyInfo};
use pnfs_netlink::codec::Messages;
use pnfs_netlink::policy::Family;
use pnfs_netlink::socket::{NlSocket, SocketOptions};
use pnfs_netlink::{gfs2ctl, pnfsd, DecodeError, GenlHeader, GenlMsg, MsgBuilder, NlError, Proto};
use records::{
    Device, Event, Gfs2Status, Gfs2Trigger, KernelState, Layout, Mount, PnfsdStatus, PnfsdTrigger,
    Recalled, Stats, Upcall,
};
use render::attrs_to_json;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The twin's default port as help shows it (ports are written in hex everywhere else).
const TWIN_DEFAULT_PORT_HEX: &str = "0x504e4653";

#[derive(Parser, Debug)]
#[command(
    name = "pnfsctl",
    version,
    about = "Inspect and drive the pNFS/GFS2 control channel (kernel half and pnfs_controld)",
    infer_subcommands = true,
    propagate_version = true
)]
struct Cli {
    /// JSON output.
    #[arg(short = 'j', long, global = true)]
    json: bool,
    /// Pretty JSON output (implies -j).
    #[arg(short = 'p', long, global = true)]
    pretty: bool,
    /// More detail and statistics where it applies.
    #[arg(short = 's', long = "stats", global = true)]
    stats: bool,
    /// Kernel half to use: auto (module, else twin), generic (module), usersock (twin).
    #[arg(long, global = true, default_value = "auto", value_parser = ["auto", "generic", "usersock"])]
    socket: String,
    /// USERSOCK port of the twin.
    #[arg(long, global = true, default_value = TWIN_DEFAULT_PORT_HEX, value_parser = pnfs_controld::parse_u32)]
    twin_port: u32,
    /// The daemon's control socket ('@name' = abstract).
    #[arg(long, global = true, default_value = "@pnfs-controld")]
    control: String,
    #[command(subcommand)]
    object: Object,
}

#[derive(Subcommand, Debug)]
enum Object {
    /// Generic netlink families (like `genl ctrl`), ours included.
    Family {
        #[command(subcommand)]
        cmd: FamilyCmd,
    },
    /// Cluster members, the MDS and epochs (from the daemon).
    Member {
        #[command(subcommand)]
        cmd: ShowOnly,
    },
    /// Devices (data servers) known to the kernel half.
    Device {
        #[command(subcommand)]
        cmd: DeviceCmd,
    },
    /// Outstanding layouts.
    Layout {
        #[command(subcommand)]
        cmd: LayoutCmd,
    },
    /// Stateids: the daemon's DS cache, the kernel's table, queries and revokes.
    State {
        #[command(subcommand)]
        cmd: StateCmd,
    },
    /// GFS2 filesystems: mounts, journals, block and recovery state.
    Fs {
        #[command(subcommand)]
        cmd: ShowOnly,
    },
    /// nfsd's client records (the cld pipe): epochs, grace, clients per epoch.
    Client {
        #[command(subcommand)]
        cmd: ShowOnly,
    },
    /// nfsd's cluster-wide grace: epochs, each node's NEED/ENFORCING, held answers.
    Grace {
        #[command(subcommand)]
        cmd: ShowOnly,
    },
    /// The kernel half's own status (role, MDS, boot epoch, grace, registered daemon).
    Kernel {
        #[command(subcommand)]
        cmd: ShowOnly,
    },
    /// Upcalls waiting for the daemon.
    Upcall {
        #[command(subcommand)]
        cmd: ShowOnly,
    },
    /// Counters and latency percentiles per upcall kind.
    Stats {
        #[command(subcommand)]
        cmd: ShowOnly,
    },
    /// Live events from the multicast groups.
    Monitor(MonitorArgs),
    /// Round trips to the kernel half and to the daemon.
    Ping(PingArgs),
    /// The daemon's debug ring.
    Debug {
        #[command(subcommand)]
        cmd: DebugCmd,
    },
    /// Make the kernel half issue upcalls (test trigger and load generator; admin).
    Trigger(TriggerArgs),
    /// Run the embedded default: a twin, a daemon on the local engine and a workload.
    Demo(demo::DemoArgs),
    /// Benchmark upcall round trips against a bare USERSOCK echo (own twin and daemon)
    Bench(bench::BenchArgs),
    /// Run the user-space twin of the kernel half in the foreground (one per netns).
    Twin {
        /// Also allow this uid to send admin commands (root always may).
        #[arg(long = "admin-uid")]
        admin_uids: Vec<u32>,
        /// Upcall timeout in ms.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
    },
    /// Print shell completions (bash, zsh, fish).
    Completions {
        #[arg(value_parser = ["bash", "zsh", "fish"])]
        shell: String,
    },
    /// Write man pages into a directory.
    Man { dir: std::path::PathBuf },
}

#[derive(Subcommand, Debug)]
enum ShowOnly {
    /// Show it.
    Show,
}

#[derive(Subcommand, Debug)]
enum FamilyCmd {
    /// List every family (the kernel's, and the twin's when reachable).
    List,
    /// Show one family with its ops and groups.
    Show { name: String },
}

#[derive(Subcommand, Debug)]
enum DeviceCmd {
    /// List devices.
    Show,
    /// Create or replace a device: ID (32 hex digits or node:N), node and addresses.
    Set {
        id: String,
        #[arg(long)]
        node: Option<u32>,
        /// NETID,UADDR (repeatable).
        #[arg(long = "addr")]
        addrs: Vec<String>,
    },
    /// Remove a device.
    Del { id: String },
    /// Drain a data server (the daemons, cluster-wide): no new layouts on it while another can take them; the MDS recalls its layouts
    Drain { id: String },
    /// Restore a drained data server
    Restore { id: String },
}

#[derive(Subcommand, Debug)]
enum LayoutCmd {
    /// List layouts.
    Show,
    /// Recall layouts: `file FSID FILEID`, `fsid FSID`, `device ID` or `all`. `device`
    /// without --client drains the data server (as `device drain`): the next layouts go
    /// to another one, until `device restore`.
    Recall {
        #[arg(value_parser = ["file", "fsid", "device", "all"])]
        by: String,
        args: Vec<String>,
        #[arg(long)]
        client: Option<u64>,
    },
}

#[derive(Subcommand, Debug)]
enum StateCmd {
    /// The daemon's DS state cache (with -s: also the kernel's stateid table).
    Show,
    /// Ask the cluster about a stateid, as a DS would.
    Query {
        fsid: u64,
        fileid: u64,
        /// 32 hex digits.
        stateid: String,
        clientid: u64,
    },
    /// Revoke a client's state (on the MDS), then wait until every DS dropped it.
    Revoke {
        clientid: u64,
        fsid: Option<u64>,
        fileid: Option<u64>,
        stateid: Option<String>,
    },
    /// Install a stateid in the kernel half's table (what nfsd's OPEN would do).
    Set {
        fsid: u64,
        fileid: u64,
        stateid: String,
        clientid: u64,
        #[arg(long)]
        access: Option<u32>,
    },
}

#[derive(Subcommand, Debug)]
enum DebugCmd {
    /// Print the daemon's event ring.
    Dump,
}

#[derive(Args, Debug)]
struct MonitorArgs {
    /// What to watch.
    #[arg(default_value = "all", value_parser = ["all", "pnfsd", "gfs2", "daemon", "device", "layout", "state", "grace", "fs"])]
    what: String,
    /// Exit after this many events.
    #[arg(long)]
    count: Option<u64>,
    /// Exit after this many seconds.
    #[arg(long)]
    timeout: Option<f64>,
    /// Receive buffer of the event socket, in bytes (default: the system's). When it
    /// overflows, events are lost: the monitor then re-reads the state by dump and prints
    /// it as one `resync` record.
    #[arg(long, value_name = "BYTES")]
    rcvbuf: Option<usize>,
}

#[derive(Args, Debug)]
struct PingArgs {
    /// Round trips.
    #[arg(short, long, default_value_t = 5)]
    count: u32,
}

#[derive(Args, Debug)]
struct TriggerArgs {
    /// pnfsd or gfs2.
    #[arg(value_parser = ["pnfsd", "gfs2"])]
    family: String,
    /// Upcall kind (get-state, get-device-info, layout-get, ..., mount, unmount, ...).
    kind: String,
    #[arg(long, default_value_t = 1)]
    count: u32,
    #[arg(long, default_value_t = 1)]
    depth: u32,
    #[arg(long)]
    fsid: Option<u64>,
    #[arg(long)]
    fileid: Option<u64>,
    #[arg(long)]
    stateid: Option<String>,
    #[arg(long)]
    clientid: Option<u64>,
    #[arg(long)]
    device: Option<String>,
    #[arg(long)]
    table: Option<String>,
    #[arg(long)]
    jid: Option<u32>,
    /// pnfsd, the kernel module only: answer every upcall inside the kernel half, no
    /// daemon (the kernel-only floor of the VM benchmark).
    #[arg(long)]
    loopback: bool,
    /// How long to wait for the run to finish, ms (it answers when every upcall has,
    /// which takes up to count/depth upcall timeouts).
    #[arg(long, default_value_t = 120_000)]
    wait_ms: u64,
}

/// An error with its exit code: 1 usage, 2 kernel or daemon.
#[derive(Debug)]
struct CliError {
    pub code: u8,
    pub msg: String,
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError {
        code: 1,
        msg: msg.into(),
    }
}

fn failed(ctx: &str, e: impl std::fmt::Display) -> CliError {
    CliError {
        code: 2,
        msg: format!("{ctx}: {e}"),
    }
}

type R<T> = Result<T, CliError>;

struct Ctx {
    cli: Cli,
    /// Where every answer goes, in the mode `-j`/`-p` chose.
    sink: render::Sink,
}

impl Ctx {
    /// Print an answer through the sink.
    fn print(&self, v: &Value, text: impl FnOnce(&Value) -> String) {
        self.sink.print(v, text)
    }

    fn socket_kind(&self) -> SocketKind {
        match self.cli.socket.as_str() {
            "generic" => SocketKind::Generic,
            "usersock" => SocketKind::Usersock,
            _ => SocketKind::Auto,
        }
    }

    async fn kernel(&self) -> R<(Client, Target)> {
        kernel::find(self.socket_kind(), self.cli.twin_port)
            .await
            .map_err(|e| failed("kernel half", e))
    }

    async fn daemon(&self, req: Request) -> R<Value> {
        let v = control::call(&self.cli.control, &req, Duration::from_secs(35))
            .await
            .map_err(|e| failed(&format!("daemon (control socket {})", self.cli.control), e))?;
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            return Err(failed("daemon", e));
        }
        Ok(v)
    }
}

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(cli_main())
}

/// The whole program: its exit code.
fn cli_main() -> u8 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    // Help on stdout: a closed pipe ends quietly, as `out` does.
                    if let Err(w) = e.print() {
                        if w.kind() == std::io::ErrorKind::BrokenPipe {
                            return render::EXIT_BROKEN_PIPE;
                        }
                    }
                    return if e.kind()
                        == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                    {
                        1
                    } else {
                        0
                    };
                }
                _ => 1,
            };
            let _ = e.print();
            return code;
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sink = render::Sink::new(cli.json, cli.pretty);
    match rt.block_on(run(Ctx { cli, sink })) {
        Ok(()) => 0,
        Err(e) => {
            render::say(&format!("pnfsctl: {}", e.msg));
            e.code
        }
    }
}

async fn run(ctx: Ctx) -> R<()> {
    match &ctx.cli.object {
        Object::Family { cmd } => family(&ctx, cmd).await,
        Object::Member { .. } => member(&ctx).await,
        Object::Device { cmd } => device(&ctx, cmd).await,
        Object::Layout { cmd } => layout(&ctx, cmd).await,
        Object::State { cmd } => state(&ctx, cmd).await,
        Object::Fs { .. } => fs(&ctx).await,
        Object::Client { .. } => {
            let v = ctx.daemon(Request::Clients).await?;
            ctx.print(&v, render::text);
            Ok(())
        }
        Object::Grace { .. } => {
            let v = ctx.daemon(Request::Grace { since: None }).await?;
            ctx.print(&v, render::text);
            Ok(())
        }
        Object::Kernel { .. } => kernel_status(&ctx).await,
        Object::Upcall { .. } => upcall(&ctx).await,
        Object::Stats { .. } => stats(&ctx).await,
        Object::Monitor(a) => monitor(&ctx, a).await,
        Object::Ping(a) => ping(&ctx, a).await,
        Object::Debug { .. } => {
            let v = ctx.daemon(Request::Ring).await?;
            ctx.print(&v, |v| {
                let mut s = String::new();
                for e in v["entries"].as_array().into_iter().flatten() {
                    let us = e["time_us"].as_u64().unwrap_or(0);
                    s.push_str(&format!(
                        "{}.{:06} {}\n",
                        us / 1_000_000,
                        us % 1_000_000,
                        e["text"].as_str().unwrap_or("")
                    ));
                }
                s
            });
            Ok(())
        }
        Object::Trigger(a) => trigger(&ctx, a).await,
        Object::Demo(a) => demo::run(a.clone(), ctx.sink)
            .await
            .map_err(|e| failed("demo", format!("{e:#}"))),
        Object::Bench(a) => bench::cli(a, ctx.sink)
            .await
            .map_err(|e| failed("bench", format!("{e:#}"))),
        Object::Completions { shell } => {
            let mut cmd = Cli::command();
            let sh = match shell.as_str() {
                "bash" => clap_complete::Shell::Bash,
                "zsh" => clap_complete::Shell::Zsh,
                _ => clap_complete::Shell::Fish,
            };
            // clap_complete panics on a failed write: generate into memory, print via `out`.
            let mut buf = Vec::new();
            clap_complete::generate(sh, &mut cmd, "pnfsctl", &mut buf);
            render::out(&buf);
            Ok(())
        }
        Object::Man { dir } => man(dir),
        Object::Twin {
            admin_uids,
            timeout_ms,
        } => {
            let cfg = pnfs_twin::TwinConfig {
                port: ctx.cli.twin_port,
                admin_uids: admin_uids.clone(),
                timeout: Duration::from_millis(*timeout_ms),
            };
            let twin = pnfs_twin::Twin::bind(&cfg)
                .map_err(|e| failed(&format!("twin: USERSOCK port {:#x}", cfg.port), e))?;
            let rx = pnfs_controld::shutdown_on_signal();
            render::say(&format!(
                "pnfsctl twin: serving pnfsd and gfs2ctl on NETLINK_USERSOCK port {:#x}",
                twin.port()
            ));
            twin.run(rx).await.map_err(|e| failed("twin", e))
        }
    }
}

/// Write pnfsctl.1 and one page per object.
fn man(dir: &std::path::Path) -> R<()> {
    std::fs::create_dir_all(dir).map_err(|e| failed("man", e))?;
    let cmd = Cli::command();
    let write = |name: String, c: clap::Command| -> R<()> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c)
            .render(&mut buf)
            .map_err(|e| failed("man", e))?;
        std::fs::write(dir.join(format!("{name}.1")), buf).map_err(|e| failed("man", e))
    };
    write("pnfsctl".into(), cmd.clone())?;
    for sub in cmd.get_subcommands() {
        let name = format!("pnfsctl-{}", sub.get_name());
        let leaked: &'static str = Box::leak(name.clone().into_boxed_str());
        write(name, sub.clone().name(leaked))?;
    }
    Ok(())
}

fn family_json(f: &FamilyInfo, source: &str, spec: Option<&Family>) -> Value {
    json!({
        "name": f.name,
        "id": f.id,
        "version": f.version,
        "hdrsize": f.hdrsize,
        "maxattr": f.maxattr,
        "source": source,
        "ops": f.ops.iter().map(|(id, flags)| {
            let name = spec.and_then(|s| s.op(*id as u8)).map(|o| o.name);
            json!({"id": id, "flags": flags, "name": name})
        }).collect::<Vec<_>>(),
        "groups": f.groups.iter().map(|(n, id)| json!({"name": n, "id": id})).collect::<Vec<_>>(),
    })
}

fn spec_of(name: &str) -> Option<&'static Family> {
    match name {
        n if n == pnfsd::FAMILY_NAME => Some(&pnfsd::FAMILY),
        n if n == gfs2ctl::FAMILY_NAME => Some(&gfs2ctl::FAMILY),
        _ => None,
    }
}

fn family_text(v: &Value) -> String {
    let mut s = String::new();
    for f in v.as_array().into_iter().flatten() {
        s.push_str(&format!(
            "{} id {:#x} version {} maxattr {} ({})\n",
            f["name"].as_str().unwrap_or(""),
            f["id"].as_u64().unwrap_or(0),
            f["version"],
            f["maxattr"],
            f["source"].as_str().unwrap_or("")
        ));
        let ops: Vec<String> = f["ops"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| match o["name"].as_str() {
                Some(n) => format!("{n}({})", o["id"]),
                None => o["id"].to_string(),
            })
            .collect();
        if !ops.is_empty() {
            s.push_str(&format!("    ops {}\n", ops.join(" ")));
        }
        for g in f["groups"].as_array().into_iter().flatten() {
            s.push_str(&format!(
                "    group {} id {:#x}\n",
                g["name"].as_str().unwrap_or(""),
                g["id"].as_u64().unwrap_or(0)
            ));
        }
    }
    s
}

async fn twin_families(port: u32) -> Vec<FamilyInfo> {
    let Ok(mut c) = Client::open(Proto::Usersock, port) else {
        return vec![];
    };
    c.set_timeout(Duration::from_millis(500));
    c.families()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f.name != "nlctrl")
        .collect()
}

async fn family(ctx: &Ctx, cmd: &FamilyCmd) -> R<()> {
    let mut all = Vec::new();
    if ctx.socket_kind() != SocketKind::Usersock {
        let mut k = Client::open(Proto::Generic, 0).map_err(|e| failed("nlctrl", e))?;
        for f in k.families().await.map_err(|e| failed("nlctrl", e))? {
            all.push(family_json(&f, "kernel", spec_of(&f.name)));
        }
    }
    if ctx.socket_kind() != SocketKind::Generic {
        for f in twin_families(ctx.cli.twin_port).await {
            all.push(family_json(&f, "twin", spec_of(&f.name)));
        }
    }
    match cmd {
        FamilyCmd::List => ctx.print(&Value::Array(all), family_text),
        FamilyCmd::Show { name } => {
            let found: Vec<Value> = all
                .into_iter()
                .filter(|f| f["name"] == name.as_str())
                .collect();
            if found.is_empty() {
                return Err(failed("family", format!("{name:?} not found")));
            }
            ctx.print(&Value::Array(found), family_text);
        }
    }
    Ok(())
}

/// One request to `fam` with header `h` (an operation's generated `header`): its
/// attributes put by `build` (the operation's generated builder), each answer read by
/// `read` (the operation's generated view, into a typed record).
pub(crate) async fn call<T>(
    c: &mut Client,
    fam: &FamilyInfo,
    h: GenlHeader,
    dump: bool,
    build: impl FnOnce(&mut MsgBuilder<'_>),
    mut read: impl FnMut(&[u8]) -> Result<T, DecodeError>,
) -> R<Vec<T>> {
    let mut out = Vec::new();
    let r = c
        .request(fam.id, h.cmd, h.version, dump, build, |m| {
            out.push(read(m.attrs)?);
            Ok(())
        })
        .await;
    if let Err(e) = r {
        let what = if dump {
            "dump"
        } else {
            spec_of(&fam.name)
                .and_then(|s| s.op(h.cmd))
                .map(|o| o.name)
                .unwrap_or("request")
        };
        return Err(failed(&format!("{} {what}", fam.name), e));
    }
    Ok(out)
}

/// A dump of `h`'s operation, each message read by `read`.
async fn dump<T>(
    c: &mut Client,
    fam: &FamilyInfo,
    h: GenlHeader,
    read: impl FnMut(&[u8]) -> Result<T, DecodeError>,
) -> R<Vec<T>> {
    call(c, fam, h, true, |_| {}, read).await
}

/// A `do` request of `h`'s operation and its answer, read by `read`.
pub(crate) async fn get<T>(
    c: &mut Client,
    fam: &FamilyInfo,
    h: GenlHeader,
    build: impl FnOnce(&mut MsgBuilder<'_>),
    read: impl FnMut(&[u8]) -> Result<T, DecodeError>,
) -> R<T> {
    call(c, fam, h, false, build, read)
        .await?
        .pop()
        .ok_or_else(|| failed(&fam.name, "no answer"))
}

/// A `do` request of `h`'s operation that is answered by an ACK only.
pub(crate) async fn act(
    c: &mut Client,
    fam: &FamilyInfo,
    h: GenlHeader,
    build: impl FnOnce(&mut MsgBuilder<'_>),
) -> R<()> {
    call(c, fam, h, false, build, |_| Ok(())).await.map(drop)
}

/// A record as the JSON the sink prints.
fn val<T: serde::Serialize>(x: T) -> Value {
    serde_json::to_value(x).expect("a pnfsctl record serializes")
}

async fn member(ctx: &Ctx) -> R<()> {
    let v = ctx.daemon(Request::Status).await?;
    ctx.print(&v, |v| {
        let mut s = format!(
            "node {} engine {} kernel {}\nmds {} epoch {} grace {} quorate {} granting {}\n",
            v["node"],
            v["engine"].as_str().unwrap_or(""),
            v["kernel"].as_str().unwrap_or(""),
            v["mds"],
            v["mds_epoch"],
            v["in_grace"],
            v["quorate"],
            v["granting"]
        );
        if let Some(why) = v["not_granting"].as_str() {
            s.push_str(&format!("not granting: {why}\n"));
        }
        for m in v["members"].as_array().into_iter().flatten() {
            s.push_str(&format!(
                "member {}{}{} priority {} epoch {} version {} addrs {}\n",
                m["node"],
                if m["mds"] == true { " MDS" } else { "" },
                if m["self"] == true { " (self)" } else { "" },
                m["priority"],
                m["epoch"],
                m["version"],
                render::text(&m["addrs"]).trim()
            ));
        }
        for d in v["drained"].as_array().into_iter().flatten() {
            s.push_str(&format!("drained {}\n", d.as_str().unwrap_or("?")));
        }
        s
    });
    Ok(())
}

fn parse_device(s: &str) -> R<[u8; 16]> {
    if let Some(n) = s.strip_prefix("node:") {
        return n
            .parse()
            .map(device_id)
            .map_err(|_| usage(format!("bad device {s:?}: node:N")));
    }
    unhex16(s).ok_or_else(|| usage(format!("bad device id {s:?}: 32 hex digits or node:N")))
}

/// 16 bytes from 32 hex digits (an optional `0x` before them).
fn unhex16(s: &str) -> Option<[u8; 16]> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if s.len() != 32 {
        return None;
    }
    pnfs_controld::unhex(s)?.try_into().ok()
}

fn parse_stateid(s: &str) -> R<[u8; 16]> {
    unhex16(s).ok_or_else(|| usage(format!("bad stateid {s:?}: 32 hex digits")))
}

/// The kernel half's devices (`device-get`'s dump).
async fn devices(c: &mut Client, t: &Target) -> R<Vec<Device>> {
    use pnfsd::ops::device_get::{header, Reply};
    dump(c, &t.pnfsd, header(t.pnfsd.id), |a| {
        Reply::parse(a).map(Device::from)
    })
    .await
}

/// The kernel half's layouts (`layout-dump`).
async fn layouts(c: &mut Client, t: &Target) -> R<Vec<Layout>> {
    use pnfsd::ops::layout_dump::{header, Reply};
    dump(c, &t.pnfsd, header(t.pnfsd.id), |a| {
        Reply::parse(a).map(Layout::from)
    })
    .await
}

/// The kernel half's stateid table (`state-get`'s dump).
async fn kernel_states(c: &mut Client, t: &Target) -> R<Vec<KernelState>> {
    use pnfsd::ops::state_get::{header, Reply};
    dump(c, &t.pnfsd, header(t.pnfsd.id), |a| {
        Reply::parse(a).map(KernelState::from)
    })
    .await
}

/// The kernel half's GFS2 mounts (`mount-get`'s dump).
async fn mounts(c: &mut Client, t: &Target) -> R<Vec<Mount>> {
    use gfs2ctl::ops::mount_get::{header, Reply};
    dump(c, &t.gfs2, header(t.gfs2.id), |a| {
        Reply::parse(a).map(Mount::from)
    })
    .await
}

/// pnfsd's status (`status-get`).
pub(crate) async fn pnfsd_status(c: &mut Client, t: &Target) -> R<PnfsdStatus> {
    use pnfsd::ops::status_get::{header, Reply};
    get(
        c,
        &t.pnfsd,
        header(t.pnfsd.id),
        |_| {},
        |a| Reply::parse(a).map(PnfsdStatus::from),
    )
    .await
}

/// gfs2ctl's status (`status-get`).
async fn gfs2_status(c: &mut Client, t: &Target) -> R<Gfs2Status> {
    use gfs2ctl::ops::status_get::{header, Reply};
    get(
        c,
        &t.gfs2,
        header(t.gfs2.id),
        |_| {},
        |a| Reply::parse(a).map(Gfs2Status::from),
    )
    .await
}

/// Both families' counters (`stats-get`): pnfsd's and gfs2ctl's.
pub(crate) async fn kernel_stats(c: &mut Client, t: &Target) -> R<(Stats, Stats)> {
    use gfs2ctl::ops::stats_get as g;
    use pnfsd::ops::stats_get as p;
    let ps = get(
        c,
        &t.pnfsd,
        p::header(t.pnfsd.id),
        |_| {},
        |a| p::Reply::parse(a).map(Stats::from),
    )
    .await?;
    let gs = get(
        c,
        &t.gfs2,
        g::header(t.gfs2.id),
        |_| {},
        |a| g::Reply::parse(a).map(Stats::from),
    )
    .await?;
    Ok((ps, gs))
}

async fn device(ctx: &Ctx, cmd: &DeviceCmd) -> R<()> {
    // Usage errors first: they must not depend on a kernel half being there.
    match cmd {
        DeviceCmd::Set { id, .. } | DeviceCmd::Del { id } => {
            parse_device(id)?;
        }
        DeviceCmd::Drain { id } | DeviceCmd::Restore { id } => {
            return drain(ctx, id, matches!(cmd, DeviceCmd::Drain { .. })).await;
        }
        DeviceCmd::Show => {}
    }
    let (mut c, t) = ctx.kernel().await?;
    use pnfsd::nest::DsAddrAttrs;
    use pnfsd::ops::{device_del, device_set};
    match cmd {
        DeviceCmd::Show => {
            let v = val(devices(&mut c, &t).await?);
            ctx.print(&v, render::text);
        }
        DeviceCmd::Set { id, node, addrs } => {
            let id = parse_device(id)?;
            let mut parsed = Vec::new();
            for s in addrs {
                let (n, u) = s
                    .split_once(',')
                    .ok_or_else(|| usage(format!("--addr {s:?}: expected NETID,UADDR")))?;
                parsed.push(DsAddrAttrs {
                    netid: Some(n),
                    uaddr: Some(u),
                });
            }
            let req = device_set::RequestAttrs {
                device_id: id,
                node_id: *node,
                ds_addr: &parsed,
            };
            let h = device_set::header(t.pnfsd.id);
            act(&mut c, &t.pnfsd, h, |b| req.put(b)).await?;
        }
        DeviceCmd::Del { id } => {
            let req = device_del::RequestAttrs {
                device_id: parse_device(id)?,
            };
            let h = device_del::header(t.pnfsd.id);
            act(&mut c, &t.pnfsd, h, |b| req.put(b)).await?;
        }
        DeviceCmd::Drain { .. } | DeviceCmd::Restore { .. } => unreachable!("answered above"),
    }
    Ok(())
}

/// Drain (`on`) or restore a data server through the daemons: answered once the cluster
/// has it; on a drain the MDS recalls the device's layouts.
async fn drain(ctx: &Ctx, id: &str, on: bool) -> R<()> {
    let device = pnfs_controld::hex(&parse_device(id)?);
    let v = ctx.daemon(Request::Drain { device, on }).await?;
    ctx.sink.print(&v, |v| {
        let dev = v["device"].as_str().unwrap_or("?");
        let mds = v["mds"].as_u64().map_or("none".to_string(), |m| m.to_string());
        if on {
            format!("device {dev} drained: no new layouts on it while another data server can take them; the MDS (node {mds}) recalls its layouts\n")
        } else {
            format!("device {dev} restored\n")
        }
    });
    Ok(())
}

async fn layout(ctx: &Ctx, cmd: &LayoutCmd) -> R<()> {
    use pnfsd::ops::layout_recall;
    match cmd {
        LayoutCmd::Show => {
            let (mut c, t) = ctx.kernel().await?;
            let v = val(layouts(&mut c, &t).await?);
            ctx.print(&v, render::text);
        }
        LayoutCmd::Recall { by, args, client } => {
            let num = |i: usize, what: &str| -> R<u64> {
                args.get(i)
                    .ok_or_else(|| usage(format!("layout recall {by}: missing {what}")))?
                    .parse()
                    .map_err(|_| usage(format!("{what}: not a number")))
            };
            let (rtype, fsid, fileid, dev) = match by.as_str() {
                "file" => (
                    pnfsd::RecallType::File,
                    Some(num(0, "FSID")?),
                    Some(num(1, "FILEID")?),
                    None,
                ),
                "fsid" => (pnfsd::RecallType::Fsid, Some(num(0, "FSID")?), None, None),
                "device" if client.is_none() => {
                    let id = args
                        .first()
                        .ok_or_else(|| usage("layout recall device: missing ID"))?;
                    return drain(ctx, id, true).await;
                }
                "device" => (
                    pnfsd::RecallType::Device,
                    None,
                    None,
                    Some(parse_device(
                        args.first()
                            .ok_or_else(|| usage("layout recall device: missing ID"))?,
                    )?),
                ),
                _ => (pnfsd::RecallType::All, None, None, None),
            };
            let (mut c, t) = ctx.kernel().await?;
            let req = layout_recall::RequestAttrs {
                recall_type: rtype as u32,
                fsid,
                fileid,
                device_id: dev,
                clientid: *client,
            };
            let h = layout_recall::header(t.pnfsd.id);
            let r = get(
                &mut c,
                &t.pnfsd,
                h,
                |b| req.put(b),
                |a| layout_recall::Reply::parse(a).map(Recalled::from),
            )
            .await?;
            ctx.sink
                .print(&r, |r| format!("recalled {} layout(s)\n", r.layouts));
        }
    }
    Ok(())
}

async fn state(ctx: &Ctx, cmd: &StateCmd) -> R<()> {
    match cmd {
        StateCmd::Show => {
            let mut v = ctx.daemon(Request::Cache).await?;
            if ctx.cli.stats {
                let (mut c, t) = ctx.kernel().await?;
                v["kernel"] = val(kernel_states(&mut c, &t).await?);
            }
            ctx.print(&v, render::text);
        }
        StateCmd::Query {
            fsid,
            fileid,
            stateid,
            clientid,
        } => {
            let _ = parse_stateid(stateid)?;
            let v = ctx
                .daemon(Request::Query {
                    fsid: *fsid,
                    fileid: *fileid,
                    clientid: *clientid,
                    stateid: stateid.clone(),
                })
                .await?;
            ctx.print(&v, render::text);
        }
        StateCmd::Revoke {
            clientid,
            fsid,
            fileid,
            stateid,
        } => {
            match (fsid, fileid, stateid) {
                (Some(_), Some(_), Some(s)) => {
                    parse_stateid(s)?;
                }
                (None, None, None) => {}
                _ => {
                    return Err(usage(
                        "state revoke: give FSID FILEID STATEID together, or none",
                    ))
                }
            }
            let v = ctx
                .daemon(Request::Revoke {
                    clientid: *clientid,
                    fsid: *fsid,
                    fileid: *fileid,
                    stateid: stateid.clone(),
                })
                .await?;
            ctx.print(&v, render::text);
        }
        StateCmd::Set {
            fsid,
            fileid,
            stateid,
            clientid,
            access,
        } => {
            use pnfsd::ops::state_set;
            let req = state_set::RequestAttrs {
                fsid: *fsid,
                fileid: *fileid,
                stateid: parse_stateid(stateid)?,
                clientid: *clientid,
                access: *access,
                generation: None,
            };
            let (mut c, t) = ctx.kernel().await?;
            let h = state_set::header(t.pnfsd.id);
            act(&mut c, &t.pnfsd, h, |b| req.put(b)).await?;
        }
    }
    Ok(())
}

async fn fs(ctx: &Ctx) -> R<()> {
    let (mut c, t) = ctx.kernel().await?;
    let mounts = mounts(&mut c, &t).await?;
    let journals = ctx.daemon(Request::Journals).await.ok();
    // What the real GFS2 said by uevents (empty where no GFS2 is mounted).
    let gfs2 = ctx.daemon(Request::Gfs2).await.ok();
    let v = json!({ "mounts": mounts, "cluster": journals, "gfs2": gfs2 });
    ctx.print(&v, render::text);
    Ok(())
}

async fn kernel_status(ctx: &Ctx) -> R<()> {
    let (mut c, t) = ctx.kernel().await?;
    let p = pnfsd_status(&mut c, &t).await?;
    let g = gfs2_status(&mut c, &t).await?;
    let v = json!({ "kernel": t.describe(), "pnfsd": p, "gfs2ctl": g });
    ctx.print(&v, render::text);
    Ok(())
}

async fn upcall(ctx: &Ctx) -> R<()> {
    let (mut c, t) = ctx.kernel().await?;
    use gfs2ctl::ops::upcall_dump as gu;
    use pnfsd::ops::upcall_dump as pu;
    let p = dump(&mut c, &t.pnfsd, pu::header(t.pnfsd.id), |a| {
        pu::Reply::parse(a).map(Upcall::from)
    })
    .await?;
    let g = dump(&mut c, &t.gfs2, gu::header(t.gfs2.id), |a| {
        gu::Reply::parse(a).map(Upcall::from)
    })
    .await?;
    let v = json!({ "pnfsd": p, "gfs2ctl": g });
    ctx.print(&v, render::text);
    Ok(())
}

async fn stats(ctx: &Ctx) -> R<()> {
    let (mut c, t) = ctx.kernel().await?;
    let (kp, kg) = kernel_stats(&mut c, &t).await?;
    let (kp, kg) = (val(kp), val(kg));
    let d = ctx.daemon(Request::Stats).await.ok();
    // One spelling: the kernel half's attribute names as the daemon's keys (snake_case).
    let v = json!({
        "kernel": { "pnfsd": render::snake_keys(kp), "gfs2ctl": render::snake_keys(kg) },
        "daemon": d,
    });
    ctx.print(&v, |v| {
        let mut s = String::from("kernel half (round trip as the caller sees it):\n");
        for fam in ["pnfsd", "gfs2ctl"] {
            for k in v["kernel"][fam]["kind_stats"].as_array().into_iter().flatten() {
                if k["sent"].as_u64().unwrap_or(0) == 0 && !ctx.cli.stats {
                    continue;
                }
                s.push_str(&format!(
                    "  {fam:8} {:16} sent {} answered {} errors {} timeouts {} failed {} p50 {}us p99 {}us p99.9 {}us\n",
                    k["kind"].as_str().map(str::to_string).unwrap_or_else(|| k["kind"].to_string()),
                    k["sent"], k["answered"], k["errors"], k["timeouts"], k["failed"],
                    k["p50_ns"].as_u64().unwrap_or(0) / 1000, k["p99_ns"].as_u64().unwrap_or(0) / 1000, k["p999_ns"].as_u64().unwrap_or(0) / 1000
                ));
            }
            s.push_str(&format!("  {fam:8} late replies {}\n", v["kernel"][fam]["late_replies"]));
        }
        if v["daemon"].is_object() {
            s.push_str("daemon (service time):\n");
            for fam in ["pnfsd", "gfs2ctl"] {
                for k in v["daemon"][fam].as_array().into_iter().flatten() {
                    if k["received"].as_u64().unwrap_or(0) == 0 && !ctx.cli.stats {
                        continue;
                    }
                    s.push_str(&format!(
                        "  {fam:8} {:16} received {} answered {} errors {} p50 {}us p99 {}us\n",
                        k["kind"].as_str().unwrap_or(""), k["received"], k["answered"], k["errors"],
                        k["p50_ns"].as_u64().unwrap_or(0) / 1000, k["p99_ns"].as_u64().unwrap_or(0) / 1000
                    ));
                }
            }
            let d = &v["daemon"];
            s.push_str(&format!(
                "  cache hits {} misses {} query timeouts {} malformed {} rejected cluster messages {}\n",
                d["cache_hits"], d["cache_misses"], d["query_timeouts"], d["malformed"], d["rejected_cluster_messages"]
            ));
            let m = &d["mds_state_checks"];
            if m["answered"].as_u64().unwrap_or(0) > 0 || ctx.cli.stats {
                let us = |x: &Value| x.as_u64().unwrap_or(0) / 1000;
                s.push_str(&format!(
                    "  MDS state checks answered {}: kernel half p50 {}us p99 {}us, answer sent p50 {}us p99 {}us\n",
                    m["answered"],
                    us(&m["kernel_half"]["p50_ns"]), us(&m["kernel_half"]["p99_ns"]),
                    us(&m["answer_sent"]["p50_ns"]), us(&m["answer_sent"]["p99_ns"])
                ));
            }
            let p = &d["busy_poll"];
            if ctx.cli.stats {
                s.push_str(&format!(
                    "  busy poll up to {}us: receives polled {} waited {}, spun {}us\n",
                    p["max_us"], p["receives_polled"], p["receives_waited"], p["spin_us"]
                ));
            }
        } else {
            s.push_str("daemon: not reachable\n");
        }
        s
    });
    Ok(())
}

fn event_matches(what: &str, fam: &str, name: &str) -> bool {
    match what {
        "all" => true,
        "pnfsd" => fam == "pnfsd",
        "gfs2" => fam == "gfs2ctl",
        "daemon" => name.starts_with("daemon-"),
        "device" => name == "device-changed",
        "layout" => name == "layout-recalled",
        "state" => name == "state-revoked",
        "grace" => name == "grace-changed",
        "fs" => name == "mount-changed" || name == "recovery",
        _ => false,
    }
}

async fn monitor(ctx: &Ctx, a: &MonitorArgs) -> R<()> {
    let (mut c, t) = ctx.kernel().await?;
    let opts = SocketOptions {
        rcvbuf: a.rcvbuf.unwrap_or(0),
        ..SocketOptions::default()
    };
    let sock = NlSocket::open(t.proto.number(), &opts).map_err(|e| failed("monitor", e))?;
    for f in [&t.pnfsd, &t.gfs2] {
        let g = f
            .group("events")
            .ok_or_else(|| failed("monitor", format!("{} has no events group", f.name)))?;
        sock.join_group(g)
            .map_err(|e| failed("monitor: join group", e))?;
    }
    // The real GFS2's own events (kobject uevents from the kernel), beside the kernel
    // half's: what `pnfs_controld` acts on.
    let uev = if matches!(a.what.as_str(), "all" | "gfs2" | "fs") {
        match NlSocket::open(gfs2::NETLINK_KOBJECT_UEVENT, &SocketOptions::default())
            .and_then(|s| s.join_group(gfs2::KERNEL_GROUP).map(|()| s))
        {
            Ok(s) => Some(s),
            Err(e) => {
                render::say(&format!("pnfsctl: monitor: GFS2 uevents not watched: {e}"));
                None
            }
        }
    } else {
        None
    };
    let mut ubuf = vec![0u8; gfs2::MAX_UEVENT];
    // The cluster-wide grace is the daemons' (nfsd's cld pipe), not the kernel half's:
    // its changes are read from the daemon and shown as `cluster` records.
    let want_grace = matches!(a.what.as_str(), "all" | "grace");
    let mut grace_poll = tokio::time::interval(Duration::from_millis(200));
    // The last grace decision shown (None: the state not shown yet), and decisions read
    // but not yet shown.
    let mut grace_seen: Option<u64> = None;
    let mut grace_queue: std::collections::VecDeque<Value> = Default::default();
    let deadline = a
        .timeout
        .map(|s| Instant::now() + Duration::from_secs_f64(s));
    let mut seen = 0u64;
    let mut forged = Forged::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let wait = deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(86400 * 365));
        let next = async {
            tokio::select! {
                r = sock.recv_from(&mut buf) => Ok(r),
                u = next_uevent(uev.as_ref(), &mut ubuf) => Err(u),
                _ = grace_poll.tick(), if want_grace => {
                    Err(grace_events(ctx, &mut grace_seen, &mut grace_queue).await)
                }
            }
        };
        let r = match tokio::time::timeout(wait, next).await {
            Err(_) => return Ok(()),
            Ok(Err(u)) => {
                if let Some(v) = u {
                    emit_event(ctx, &v);
                    seen += 1;
                    if a.count.is_some_and(|c| seen >= c) {
                        return Ok(());
                    }
                }
                continue;
            }
            Ok(Ok(r)) => r,
        };
        let (n, from) = match r {
            Err(NlError::Overrun) => {
                // Events were lost: what they would have said is re-read by dump, so the
                // watcher's picture is whole again; the watch goes on from there.
                render::say(
                    "pnfsctl: monitor: events lost (receive queue overflowed); state re-read by dump",
                );
                emit_event(ctx, &resync(&mut c, &t, &a.what).await?);
                continue;
            }
            Err(e) => return Err(failed("monitor", e)),
            Ok(r) => r,
        };
        if from.groups == 0 {
            continue;
        }
        // Events only from the kernel half: on GENERIC the kernel (port 0), on USERSOCK
        // the twin's port (which no other socket can bind while the twin runs). Anyone
        // may multicast to USERSOCK's groups (NL_CFG_F_NONROOT_SEND), and a CAP_NET_ADMIN
        // process to genl's: what they send is dropped, and counted on stderr.
        if from.port != t.peer {
            forged.drop_one(from.port);
            continue;
        }
        for m in Messages::new(&buf[..n]).flatten() {
            let Ok(g) = GenlMsg::parse(m) else { continue };
            let (fam, spec) = if m.header.kind == t.pnfsd.id {
                ("pnfsd", &pnfsd::FAMILY)
            } else if m.header.kind == t.gfs2.id {
                ("gfs2ctl", &gfs2ctl::FAMILY)
            } else {
                continue;
            };
            let name = spec.op(g.cmd()).map(|o| o.name).unwrap_or("unknown");
            if !event_matches(&a.what, fam, name) {
                continue;
            }
            let mut v = json!({ "family": fam, "event": name });
            // The spec's events through their views; another command (a newer kernel
            // half's) by the family's policy.
            let typed = if fam == "pnfsd" {
                Event::pnfsd(g.cmd(), g.attrs)
            } else {
                Event::gfs2ctl(g.cmd(), g.attrs)
            };
            let attrs = match typed {
                Some(Ok(e)) => val(e),
                Some(Err(e)) => {
                    render::say(&format!("pnfsctl: monitor: {fam} {name}: {e}"));
                    continue;
                }
                None => attrs_to_json(g.attrs, spec.policy),
            };
            if let Value::Object(attrs) = attrs {
                v.as_object_mut().unwrap().extend(attrs);
            }
            emit_event(ctx, &v);
            seen += 1;
            if a.count.is_some_and(|c| seen >= c) {
                return Ok(());
            }
        }
    }
}

/// The daemon's grace decisions since the last call, one monitor record per call (the
/// rest wait in `queue`): first the whole grace state, then each decision as
/// `grace-<what>` (`begin`, `join`, `done`, `end`, `left`, `rejoin`, `unenforced`); the
/// whole state again if the daemon dropped decisions this watcher had not read.
async fn grace_events(
    ctx: &Ctx,
    seen: &mut Option<u64>,
    queue: &mut std::collections::VecDeque<Value>,
) -> Option<Value> {
    if let Some(v) = queue.pop_front() {
        return Some(v);
    }
    let req = Request::Grace { since: *seen };
    let v = control::call(&ctx.cli.control, &req, Duration::from_secs(2))
        .await
        .ok()
        .filter(|v| v.get("error").is_none())?;
    let last = v["last_seq"].as_u64().unwrap_or(0);
    let record = |event: String, body: &Value| {
        let mut r = json!({ "family": "cluster", "event": event });
        if let (Some(r), Value::Object(m)) = (r.as_object_mut(), body) {
            r.extend(m.clone());
        }
        r
    };
    if seen.is_none() || v["events_lost"] == true {
        *seen = Some(last);
        let mut state = v;
        if let Some(m) = state.as_object_mut() {
            m.remove("events");
            m.remove("events_lost");
        }
        return Some(record("grace".into(), &state));
    }
    *seen = Some(last);
    for e in v["events"].as_array().into_iter().flatten() {
        let what = e["what"].as_str().unwrap_or("unknown");
        queue.push_back(record(format!("grace-{what}"), e));
    }
    queue.pop_front()
}

/// The next GFS2 uevent from the kernel as a monitor record (None: a datagram that is
/// not one; never ready without a socket).
async fn next_uevent(sock: Option<&NlSocket>, buf: &mut [u8]) -> Option<Value> {
    let Some(sock) = sock else {
        return std::future::pending().await;
    };
    let (n, from) = sock.recv_from(buf).await.ok()?;
    if from.port != 0 {
        return None; // not the kernel
    }
    let e = gfs2::Uevent::parse(&buf[..n]).ok()?;
    if e.subsystem() != "gfs2" {
        return None;
    }
    let mut v = json!({ "family": "uevent", "event": e.action, "devpath": e.devpath });
    for (k, val) in e.vars() {
        if !matches!(k, "ACTION" | "DEVPATH" | "SUBSYSTEM" | "SEQNUM") {
            v[k.to_ascii_lowercase()] = json!(val);
        }
    }
    Some(v)
}

/// Multicast datagrams the monitor dropped because they did not come from the kernel
/// half (forged events): said on stderr at the 1st, 10th, 100th... (bounded).
#[derive(Default)]
struct Forged {
    count: u64,
}

impl Forged {
    fn drop_one(&mut self, port: u32) {
        self.count += 1;
        if self.count == 10u64.pow(self.count.ilog10()) {
            render::say(&format!(
                "pnfsctl: monitor: {} event datagram(s) dropped, not from the kernel half (last from port {port:#x})",
                self.count
            ));
        }
    }
}

/// One monitor record: a JSON object per line with `-j`, else `[family] event attrs...`
/// (flushed by `render::out`).
fn emit_event(ctx: &Ctx, v: &Value) {
    ctx.sink.event(v, |v| {
        let mut rest = v.clone();
        if let Some(o) = rest.as_object_mut() {
            o.remove("family");
            o.remove("event");
        }
        format!(
            "[{}] {} {}\n",
            v["family"].as_str().unwrap_or(""),
            v["event"].as_str().unwrap_or(""),
            render::text(&rest).trim_end().replace('\n', " ")
        )
    });
}

/// After lost events: the kernel half's current state of what `what` watches, by dump,
/// as one record `{"family": "all", "event": "resync", ...}`.
async fn resync(c: &mut Client, t: &Target, what: &str) -> R<Value> {
    let want = |objs: &[&str]| what == "all" || objs.contains(&what);
    let mut v = json!({ "family": "all", "event": "resync" });
    if want(&["pnfsd", "device"]) {
        v["devices"] = val(devices(c, t).await?);
    }
    if want(&["pnfsd", "layout"]) {
        v["layouts"] = val(layouts(c, t).await?);
    }
    if want(&["pnfsd", "state"]) {
        v["states"] = val(kernel_states(c, t).await?);
    }
    if want(&["pnfsd", "grace", "daemon"]) {
        v["pnfsd"] = val(pnfsd_status(c, t).await?);
    }
    if want(&["gfs2", "fs"]) {
        v["mounts"] = val(mounts(c, t).await?);
    }
    if want(&["gfs2", "daemon"]) {
        v["gfs2ctl"] = val(gfs2_status(c, t).await?);
    }
    Ok(v)
}

async fn ping(ctx: &Ctx, a: &PingArgs) -> R<()> {
    let (mut c, t) = ctx.kernel().await?;
    let mut k = Vec::new();
    for _ in 0..a.count.max(1) {
        let t0 = Instant::now();
        pnfsd_status(&mut c, &t).await?;
        k.push(t0.elapsed().as_nanos() as u64);
    }
    let mut d = Vec::new();
    let mut derr = None;
    for _ in 0..a.count.max(1) {
        let t0 = Instant::now();
        match ctx.daemon(Request::Ping).await {
            Ok(_) => d.push(t0.elapsed().as_nanos() as u64),
            Err(e) => {
                derr = Some(e.msg);
                break;
            }
        }
    }
    let summary = |v: &[u64]| {
        if v.is_empty() {
            return Value::Null;
        }
        let min = *v.iter().min().unwrap();
        let max = *v.iter().max().unwrap();
        let avg = v.iter().sum::<u64>() / v.len() as u64;
        json!({"count": v.len(), "min_ns": min, "avg_ns": avg, "max_ns": max})
    };
    let v = json!({
        "kernel": { "target": t.describe(), "rtt": summary(&k) },
        "daemon": { "control": ctx.cli.control, "rtt": summary(&d), "error": derr },
    });
    ctx.print(&v, |v| {
        let line = |name: &str, x: &Value| match x["rtt"].as_object() {
            Some(r) => format!(
                "{name}: {} round trips, min/avg/max = {:.1}/{:.1}/{:.1} us\n",
                r["count"],
                r["min_ns"].as_f64().unwrap_or(0.0) / 1e3,
                r["avg_ns"].as_f64().unwrap_or(0.0) / 1e3,
                r["max_ns"].as_f64().unwrap_or(0.0) / 1e3
            ),
            None => format!(
                "{name}: unreachable: {}\n",
                x["error"].as_str().unwrap_or("")
            ),
        };
        format!(
            "{}{}",
            line(
                &format!(
                    "kernel half, {}",
                    v["kernel"]["target"].as_str().unwrap_or("")
                ),
                &v["kernel"]
            ),
            line("daemon", &v["daemon"])
        )
    });
    if derr.is_some() {
        return Err(failed("ping", "daemon unreachable"));
    }
    Ok(())
}

async fn trigger(ctx: &Ctx, a: &TriggerArgs) -> R<()> {
    let (mut c, t) = ctx.kernel().await?;
    c.set_timeout(Duration::from_millis(a.wait_ms));
    let v = if a.family == "pnfsd" {
        use pnfsd::ops::trigger;
        let kind = pnfsd::UpcallKind::from_name(&a.kind)
            .ok_or_else(|| usage(format!("unknown pnfsd upcall kind {:?}", a.kind)))?;
        let req = trigger::RequestAttrs {
            upcall_kind: kind as u32,
            count: Some(a.count),
            depth: Some(a.depth),
            fsid: a.fsid,
            fileid: a.fileid,
            stateid: a.stateid.as_deref().map(parse_stateid).transpose()?,
            clientid: a.clientid,
            device_id: a.device.as_deref().map(parse_device).transpose()?,
            loopback: a.loopback,
            ..Default::default()
        };
        let h = trigger::header(t.pnfsd.id);
        val(get(
            &mut c,
            &t.pnfsd,
            h,
            |b| req.put(b),
            |x| trigger::Reply::parse(x).map(PnfsdTrigger::from),
        )
        .await?)
    } else {
        if a.loopback {
            return Err(usage("--loopback is a pnfsd TRIGGER flag"));
        }
        use gfs2ctl::ops::trigger;
        let kind = gfs2ctl::UpcallKind::from_name(&a.kind)
            .ok_or_else(|| usage(format!("unknown gfs2 upcall kind {:?}", a.kind)))?;
        let req = trigger::RequestAttrs {
            upcall_kind: kind as u32,
            count: Some(a.count),
            depth: Some(a.depth),
            table: a.table.as_deref(),
            jid: a.jid,
            ..Default::default()
        };
        let h = trigger::header(t.gfs2.id);
        val(get(
            &mut c,
            &t.gfs2,
            h,
            |b| req.put(b),
            |x| trigger::Reply::parse(x).map(Gfs2Trigger::from),
        )
        .await?)
    };
    ctx.print(&v, render::text);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn help_shows_the_twin_default_port() {
        assert_eq!(
            pnfs_controld::parse_u32(super::TWIN_DEFAULT_PORT_HEX),
            Ok(pnfs_netlink::client::TWIN_DEFAULT_PORT)
        );
    }
}
