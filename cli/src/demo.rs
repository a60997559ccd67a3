//! `pnfsctl demo`: the embedded default in one process, over real netlink sockets: a twin
//! (the kernel half over NETLINK_USERSOCK), `pnfs_controld` on the local engine, and a
//! synthetic nfsd/gfs2 workload driven through the twin's TRIGGER load generator, with a
//! live view of rate and latency per upcall kind.

use super::records::{Gfs2Trigger, PnfsdTrigger, Stats};
use super::render::{self, Column, Fmt, Sink};
use super::{act, get, kernel_stats, pnfsd_status, CliError};
use anyhow::Context;
use clap::Args;
use pnfs_controld::config::{Config, SocketKind};
use pnfs_controld::kernel::{self, device_id};
use pnfs_netlink::{gfs2ctl, pnfsd};
use pnfs_twin::{Twin, TwinConfig};
use serde::Serialize;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    duration: Option<f64>,
    /// Upcalls per second, spread over the kinds.
    #[arg(long, default_value_t = 2000)]
    rate: u32,
    /// Upcalls kept in flight per kind.
    #[arg(long, default_value_t = 4)]
    depth: u32,
    /// Print one line per second instead of a live table.
    #[arg(long)]
    plain: bool,
}

#[derive(Clone, Copy)]
enum Kind {
    P(pnfsd::UpcallKind),
    G(gfs2ctl::UpcallKind),
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::P(k) => k.name(),
            Kind::G(k) => k.name(),
        }
    }
}

const KINDS: [Kind; 11] = [
    Kind::P(pnfsd::UpcallKind::GetState),
    Kind::P(pnfsd::UpcallKind::GetDeviceInfo),
    Kind::P(pnfsd::UpcallKind::LayoutGet),
    Kind::P(pnfsd::UpcallKind::LayoutReturn),
    Kind::P(pnfsd::UpcallKind::LayoutCommit),
    Kind::P(pnfsd::UpcallKind::StateChanged),
    Kind::G(gfs2ctl::UpcallKind::Mount),
    Kind::G(gfs2ctl::UpcallKind::MountDone),
    Kind::G(gfs2ctl::UpcallKind::Withdraw),
    Kind::G(gfs2ctl::UpcallKind::RecoveryDone),
    Kind::G(gfs2ctl::UpcallKind::Unmount),
];

/// One upcall kind's line of the live view (with `-j`, one element of `rows`).
#[derive(Default, Clone, Copy, Serialize)]
struct Row {
    upcall: &'static str,
    /// Answers per second over the last second.
    rate_per_s: f64,
    sent: u64,
    answered: u64,
    errors: u64,
    timeouts: u64,
    failed: u64,
    /// The kernel half's round trip, as its callers see it.
    p50_ns: u64,
    p99_ns: u64,
    #[serde(skip)]
    last_answered: u64,
}

/// The live view's table: the rows' keys and how text shows them.
const COLUMNS: [Column; 8] = [
    Column {
        key: "upcall",
        head: "upcall",
        width: 16,
        fmt: Fmt::Left,
    },
    Column {
        key: "rate_per_s",
        head: "rate/s",
        width: 9,
        fmt: Fmt::Num(0),
    },
    Column {
        key: "answered",
        head: "answered",
        width: 10,
        fmt: Fmt::Num(0),
    },
    Column {
        key: "errors",
        head: "errors",
        width: 7,
        fmt: Fmt::Num(0),
    },
    Column {
        key: "timeouts",
        head: "timeouts",
        width: 8,
        fmt: Fmt::Num(0),
    },
    Column {
        key: "failed",
        head: "failed",
        width: 6,
        fmt: Fmt::Num(0),
    },
    Column {
        key: "p50_ns",
        head: "p50 us",
        width: 10,
        fmt: Fmt::NsAsUs,
    },
    Column {
        key: "p99_ns",
        head: "p99 us",
        width: 10,
        fmt: Fmt::NsAsUs,
    },
];

/// The demo's records, in the order it prints them; with `-j` one JSON object per line,
/// told apart by `event`.
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Record<'a> {
    Started {
        twin_port: u32,
        daemon_port: u32,
        control_socket: &'a str,
    },
    Progress {
        elapsed_s: f64,
        rows: &'a [Row],
    },
    Stopped {
        answered: u64,
        lost: u64,
    },
}

const FILES: u64 = 64;
const CLIENT: u64 = 0xc1;

fn stateid(fileid: u64) -> [u8; 16] {
    let mut s = [0u8; 16];
    s[..4].copy_from_slice(&1u32.to_be_bytes());
    s[4..12].copy_from_slice(&fileid.to_le_bytes());
    s
}

pub async fn run(a: DemoArgs, sink: Sink) -> anyhow::Result<()> {
    let pid = std::process::id();
    // SAFETY: plain getter.
    let uid = unsafe { libc::geteuid() };
    let twin = Twin::bind(&TwinConfig {
        port: 0,
        admin_uids: vec![uid],
        timeout: Duration::from_secs(2),
    })
    .context("binding the twin's NETLINK_USERSOCK socket")?;
    let port = twin.port();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let twin_task = tokio::spawn(twin.run(stop_rx.clone()));
    let state_dir = std::env::temp_dir().join(format!("pnfs-demo-{pid}"));
    let cfg = Config {
        node_id: 1,
        socket: SocketKind::Usersock,
        twin_port: port,
        state_dir: state_dir.clone(),
        control_socket: format!("@pnfs-demo-{pid}"),
        grace_ms: 1000,
        ..Default::default()
    };
    let control = cfg.control_socket.clone();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let daemon = tokio::spawn(pnfs_controld::run_daemon(
        cfg,
        stop_rx.clone(),
        Some(ready_tx),
    ));
    let daemon_port = match ready_rx.await {
        Ok(p) => p,
        Err(_) => {
            let r = daemon.await;
            anyhow::bail!(
                "the daemon did not start: {:?}",
                r.map(|r| r.map_err(|e| format!("{e:#}")))
            );
        }
    };
    sink.event(
        &Record::Started {
            twin_port: port,
            daemon_port,
            control_socket: &control,
        },
        |_| {
            format!(
                "pnfsctl demo: twin on NETLINK_USERSOCK port {port:#x}, pnfs_controld (local engine) on port {daemon_port:#x}, control socket {control}\n"
            )
        },
    );
    let (mut c, t) = kernel::find(SocketKind::Usersock, port).await?;
    // What nfsd's OPENs would have put in the MDS's table.
    for f in 0..FILES {
        use pnfsd::ops::state_set;
        let req = state_set::RequestAttrs {
            fsid: 1,
            fileid: f,
            stateid: stateid(f),
            clientid: CLIENT,
            ..Default::default()
        };
        act(&mut c, &t.pnfsd, state_set::header(t.pnfsd.id), |b| {
            req.put(b)
        })
        .await
        .map_err(err)?;
    }
    // A new MDS starts in grace (no new layouts): wait until it ends.
    let grace_start = Instant::now();
    loop {
        let st = pnfsd_status(&mut c, &t).await.map_err(err)?;
        let in_grace = st.in_grace == Some(1);
        let registered = st.role.and_then(|r| r.name()) == Some(pnfsd::Role::Mds.name());
        if registered && !in_grace && grace_start.elapsed() > Duration::from_millis(200) {
            break;
        }
        if grace_start.elapsed() > Duration::from_secs(15) {
            anyhow::bail!(
                "the daemon never became MDS or never left grace: {}",
                serde_json::to_string(&st).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let per_tick = (a.rate as u64 / 10 / KINDS.len() as u64).max(1) as u32;
    let mut rows = KINDS.map(|k| Row {
        upcall: k.name(),
        ..Row::default()
    });
    let tty = std::io::stdout().is_terminal() && !a.plain && !sink.is_json();
    let started = Instant::now();
    let deadline = a.duration.map(|s| started + Duration::from_secs_f64(s));
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut last_draw = Instant::now();
    let mut n: u64 = 0;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    'outer: loop {
        tokio::select! {
            _ = &mut ctrl_c => break 'outer,
            _ = tick.tick() => {}
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        for (i, k) in KINDS.iter().enumerate() {
            n += 1;
            let fileid = n % FILES;
            // The run's stats: the one kind-stats of the answer.
            let r = match *k {
                Kind::P(kind) => {
                    use pnfsd::ops::trigger;
                    let req = trigger::RequestAttrs {
                        upcall_kind: kind as u32,
                        count: Some(per_tick),
                        depth: Some(a.depth),
                        fsid: Some(1),
                        fileid: Some(if kind == pnfsd::UpcallKind::StateChanged {
                            1 << 40
                        } else {
                            fileid
                        }),
                        clientid: Some(CLIENT),
                        stateid: Some(stateid(fileid)),
                        device_id: Some(device_id(1)),
                        ..Default::default()
                    };
                    get(
                        &mut c,
                        &t.pnfsd,
                        trigger::header(t.pnfsd.id),
                        |b| req.put(b),
                        |x| trigger::Reply::parse(x).map(|r| PnfsdTrigger::from(r).kind_stats),
                    )
                    .await
                }
                Kind::G(kind) => {
                    use gfs2ctl::ops::trigger;
                    let req = trigger::RequestAttrs {
                        upcall_kind: kind as u32,
                        count: Some(per_tick),
                        depth: Some(a.depth),
                        table: Some("demo:fs0"),
                        recovery_status: Some(gfs2ctl::RecoveryStatus::Done as u32),
                        ..Default::default()
                    };
                    get(
                        &mut c,
                        &t.gfs2,
                        trigger::header(t.gfs2.id),
                        |b| req.put(b),
                        |x| trigger::Reply::parse(x).map(|r| Gfs2Trigger::from(r).kind_stats),
                    )
                    .await
                }
            }
            .map_err(err)?;
            let row = &mut rows[i];
            if let Some(s) = r.first() {
                let g = |x: Option<u64>| x.unwrap_or(0);
                row.sent += g(s.sent);
                row.answered += g(s.answered);
                row.errors += g(s.errors);
                row.timeouts += g(s.timeouts);
                row.failed += g(s.failed);
            }
        }
        if last_draw.elapsed() >= Duration::from_secs(1) {
            let dt = last_draw.elapsed().as_secs_f64();
            last_draw = Instant::now();
            refresh_latency(&mut c, &t, &mut rows).await?;
            for r in rows.iter_mut() {
                r.rate_per_s = (r.answered - r.last_answered) as f64 / dt;
                r.last_answered = r.answered;
            }
            draw(sink, &rows, started.elapsed(), tty);
        }
    }
    refresh_latency(&mut c, &t, &mut rows).await?;
    draw(sink, &rows, started.elapsed(), false);
    let _ = stop_tx.send(true);
    let d = daemon.await;
    let _ = twin_task.await;
    let _ = std::fs::remove_dir_all(&state_dir);
    if let Ok(Err(e)) = d {
        anyhow::bail!("daemon: {e:#}");
    }
    let lost: u64 = rows.iter().map(|r| r.timeouts + r.failed).sum();
    let total: u64 = rows.iter().map(|r| r.answered).sum();
    sink.event(
        &Record::Stopped {
            answered: total,
            lost,
        },
        |_| format!("demo stopped cleanly: {total} upcalls answered, {lost} timed out or failed\n"),
    );
    if lost > 0 {
        anyhow::bail!("{lost} upcalls were not answered");
    }
    Ok(())
}

/// A pnfsctl error as the demo's.
fn err(e: CliError) -> anyhow::Error {
    anyhow::anyhow!(e.msg)
}

async fn refresh_latency(
    c: &mut pnfs_netlink::Client,
    t: &kernel::Target,
    rows: &mut [Row],
) -> anyhow::Result<()> {
    let (p, g): (Stats, Stats) = kernel_stats(c, t).await.map_err(err)?;
    let all: Vec<_> = p.kind_stats.iter().chain(&g.kind_stats).collect();
    for (i, k) in KINDS.iter().enumerate() {
        if let Some(s) = all
            .iter()
            .find(|s| s.kind.and_then(|n| n.name()) == Some(k.name()))
        {
            rows[i].p50_ns = s.p50_ns.unwrap_or(0);
            rows[i].p99_ns = s.p99_ns.unwrap_or(0);
        }
    }
    Ok(())
}

fn draw(sink: Sink, rows: &[Row], elapsed: Duration, tty: bool) {
    let elapsed_s = elapsed.as_secs_f64();
    sink.event(&Record::Progress { elapsed_s, rows }, |_| {
        let mut out = String::new();
        if tty {
            out.push_str("\x1b[H\x1b[2J");
        }
        out.push_str(&format!(
            "pnfs-controld demo — {elapsed_s:.0} s — twin (kernel half) <-> pnfs_controld (local engine); Ctrl-C stops\n"
        ));
        out.push_str(&render::table(rows, &COLUMNS));
        out
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every column names a key of the rows, and the text keeps the live view's layout.
    #[test]
    fn the_table_shows_the_rows_keys() {
        let rows = [Row {
            upcall: "get-state",
            rate_per_s: 199.6,
            answered: 1000,
            p50_ns: 12_340,
            p99_ns: 56_780,
            ..Row::default()
        }];
        let t = render::table(&rows, &COLUMNS);
        assert_eq!(
            t,
            "upcall              rate/s   answered  errors timeouts failed     p50 us     p99 us\n\
             get-state              200       1000       0        0      0       12.3       56.8\n"
        );
        let j = serde_json::to_value(Record::Progress {
            elapsed_s: 1.0,
            rows: &rows,
        })
        .unwrap();
        assert_eq!(j["event"], "progress");
        assert_eq!(j["rows"][0]["p50_ns"], 12_340);
        assert!(j["rows"][0].get("last_answered").is_none());
    }
}
