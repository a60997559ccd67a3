//! A CPG probe: joins a group through `CorosyncEngine` and speaks JSON lines.
//!
//! ```text
//! cpg_probe watch GROUP
//!     Prints every event as one JSON line on stdout:
//!       {"ev":"ready","node":1,"group":"g"}
//!       {"ev":"membership","members":[1,2],"joined":[2],"left":[[3,"node-down"]],"quorate":true}
//!       {"ev":"message","from":2,"payload":"text"}
//!       {"ev":"lost","reason":"..."}            (then exits 0)
//!     Reads commands on stdin: `send TEXT` multicasts TEXT; `sendhex HEX` multicasts the
//!     bytes HEX spells (e.g. a daemon message with a wrong protocol version); `exit` (or
//!     EOF) exits. Each send is acknowledged by `{"ev":"sent","bytes":N}`.
//!
//! cpg_probe pingpong GROUP PEER COUNT [WARMUP]
//!     Run on two nodes with each other's node id as PEER. The lower node id sends a ping,
//!     the peer answers with a pong (both agreed order); COUNT timed round trips after
//!     WARMUP (default 100) untimed ones. The initiator prints
//!       {"ev":"pingpong","node":1,"peer":2,"count":1000,"p50_us":..,"p99_us":..,...}
//! ```
//! Run it inside a node's network namespace, e.g.
//! `tests/cluster/netns.sh exec DIR 1 target/debug/examples/cpg_probe watch g`.

use pnfs_controld::cluster::corosync::CorosyncEngine;
use pnfs_controld::cluster::{Cluster, ClusterEvent, NodeId};
use serde_json::json;
use std::io::BufRead;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Bound on any single wait of the probe.
const WAIT: Duration = Duration::from_secs(20);

fn out(v: serde_json::Value) {
    // Rust's stdout is line-buffered: one JSON line per write, flushed at the newline.
    println!("{v}");
}

fn event_json(ev: &ClusterEvent) -> serde_json::Value {
    match ev {
        ClusterEvent::Membership(m) => json!({
            "ev": "membership",
            "members": m.members,
            "joined": m.joined,
            "left": m.left,
            "quorate": m.quorate,
        }),
        ClusterEvent::Message { from, payload } => json!({
            "ev": "message",
            "from": from,
            "payload": String::from_utf8_lossy(payload),
        }),
        ClusterEvent::Lost(reason) => json!({"ev": "lost", "reason": reason}),
    }
}

async fn watch(group: &str) -> Result<(), String> {
    let mut engine = CorosyncEngine::new(group)
        .await
        .map_err(|e| e.to_string())?;
    out(json!({"ev": "ready", "node": engine.node_id(), "group": group}));
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if cmd_tx.send(line).is_err() {
                break;
            }
        }
        // EOF: dropping the sender ends the loop below.
    });
    loop {
        tokio::select! {
            ev = engine.events().recv() => match ev {
                Some(ev) => {
                    out(event_json(&ev));
                    if matches!(ev, ClusterEvent::Lost(_)) {
                        return Ok(());
                    }
                }
                None => return Err("event channel closed".into()),
            },
            cmd = cmd_rx.recv() => match cmd.as_deref() {
                Some(line) if line.starts_with("send ") || line.starts_with("sendhex ") => {
                    let bytes = match line.strip_prefix("sendhex ") {
                        Some(hex) => match unhex(hex) {
                            Some(b) => b,
                            None => {
                                out(json!({"ev": "error", "what": "sendhex", "error": "bad hex"}));
                                continue;
                            }
                        },
                        None => line.as_bytes()["send ".len()..].to_vec(),
                    };
                    match engine.send(&bytes) {
                        Ok(()) => out(json!({"ev": "sent", "bytes": bytes.len()})),
                        Err(e) => out(json!({"ev": "error", "what": "send", "error": e.to_string()})),
                    }
                }
                Some("exit") | None => return Ok(()),
                Some(other) => out(json!({"ev": "error", "what": "command", "error": other})),
            },
        }
    }
}

use pnfs_controld::unhex;

const PING: u8 = b'P';
const PONG: u8 = b'O';
const DONE: u8 = b'D';

fn frame(kind: u8, seq: u32) -> [u8; 5] {
    let s = seq.to_le_bytes();
    [kind, s[0], s[1], s[2], s[3]]
}

fn unframe(p: &[u8]) -> Option<(u8, u32)> {
    let b: [u8; 5] = p.try_into().ok()?;
    Some((b[0], u32::from_le_bytes([b[1], b[2], b[3], b[4]])))
}

/// Next message from `peer` (own messages and memberships skipped), bounded by [`WAIT`].
async fn next_from(engine: &mut CorosyncEngine, peer: NodeId) -> Result<(u8, u32), String> {
    loop {
        let ev = tokio::time::timeout(WAIT, engine.events().recv())
            .await
            .map_err(|_| format!("no message from node {peer} within {WAIT:?}"))?;
        match ev {
            Some(ClusterEvent::Message { from, payload }) if from == peer => {
                return unframe(&payload).ok_or_else(|| "malformed ping-pong frame".to_string())
            }
            Some(ClusterEvent::Lost(r)) => return Err(format!("lost: {r}")),
            Some(_) => {}
            None => return Err("event channel closed".into()),
        }
    }
}

async fn pingpong(group: &str, peer: NodeId, count: u32, warmup: u32) -> Result<(), String> {
    let mut engine = CorosyncEngine::new(group)
        .await
        .map_err(|e| e.to_string())?;
    let me = engine.node_id();
    if me == peer {
        return Err(format!("peer {peer} is this node"));
    }
    // Wait until the peer is in the group.
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, engine.events().recv()).await {
            Ok(Some(ClusterEvent::Membership(m))) if m.members.contains(&peer) => break,
            Ok(Some(ClusterEvent::Lost(r))) => return Err(format!("lost: {r}")),
            Ok(Some(_)) => {}
            Ok(None) => return Err("event channel closed".into()),
            Err(_) => return Err(format!("node {peer} did not join within {WAIT:?}")),
        }
    }
    let send = |e: &CorosyncEngine, kind, seq| e.send(&frame(kind, seq)).map_err(|e| e.to_string());
    if me > peer {
        // Responder. Its turnaround — from taking up a ping to its pong handed to
        // corosync — is what the MDS's answer to a query is compared with.
        let mut turn = pnfs_netlink::histogram::Histogram::default();
        loop {
            match next_from(&mut engine, peer).await? {
                (PING, seq) => {
                    let t = Instant::now();
                    send(&engine, PONG, seq)?;
                    if seq >= warmup {
                        turn.record(t.elapsed().as_nanos() as u64);
                    }
                }
                (DONE, _) => {
                    out(json!({
                        "ev": "pingpong-done", "node": me, "peer": peer,
                        "turnaround_p50_ns": turn.quantile(0.5),
                        "turnaround_p99_ns": turn.quantile(0.99),
                    }));
                    return Ok(());
                }
                (k, _) => return Err(format!("unexpected frame kind {k}")),
            }
        }
    }
    let mut rtts = Vec::with_capacity(count as usize);
    // Messages do not cross a configuration change: if the ring re-forms (it does on an
    // overloaded machine), the ping or pong may be gone. Count such changes and resend
    // the ping once the peer is a member again (late duplicate pongs are ignored).
    let mut changes = 0u32;
    for seq in 0..warmup + count {
        let t = Instant::now();
        send(&engine, PING, seq)?;
        loop {
            let ev = tokio::time::timeout(WAIT, engine.events().recv())
                .await
                .map_err(|_| format!("no pong {seq} from node {peer} within {WAIT:?}"))?;
            match ev {
                Some(ClusterEvent::Message { from, payload }) if from == peer => {
                    match unframe(&payload) {
                        Some((PONG, s)) if s == seq => break,
                        Some((PONG, _)) => {}
                        other => return Err(format!("unexpected frame {other:?}")),
                    }
                }
                Some(ClusterEvent::Membership(m)) => {
                    changes += 1;
                    if m.members.contains(&peer) {
                        send(&engine, PING, seq)?;
                    }
                }
                Some(ClusterEvent::Lost(r)) => return Err(format!("lost: {r}")),
                Some(ClusterEvent::Message { .. }) => {}
                None => return Err("event channel closed".into()),
            }
        }
        if seq >= warmup {
            rtts.push(t.elapsed());
        }
    }
    send(&engine, DONE, 0)?;
    rtts.sort_unstable();
    let pct = |p: usize| rtts[(rtts.len() * p / 100).min(rtts.len() - 1)].as_micros() as u64;
    let p999 = rtts[(rtts.len() * 999 / 1000).min(rtts.len() - 1)].as_micros() as u64;
    // The same log-bucket histogram the upcall benchmark uses, for a CDF.
    let mut hist = pnfs_netlink::histogram::Histogram::default();
    for d in &rtts {
        hist.record(d.as_nanos() as u64);
    }
    let hist: Vec<[u64; 2]> = hist.buckets().map(|(ns, c)| [ns, c]).collect();
    let mean = rtts.iter().sum::<Duration>().as_micros() as u64 / rtts.len().max(1) as u64;
    out(json!({
        "ev": "pingpong",
        "node": me,
        "peer": peer,
        "count": rtts.len(),
        "warmup": warmup,
        "guarantee": "agreed",
        "min_us": rtts.first().map(|d| d.as_micros() as u64),
        "p50_us": pct(50),
        "p90_us": pct(90),
        "p99_us": pct(99),
        "p999_us": p999,
        "hist_ns": hist,
        "max_us": rtts.last().map(|d| d.as_micros() as u64),
        "mean_us": mean,
        "membership_changes": changes,
        "over_100ms": rtts.iter().filter(|d| d.as_millis() > 100).count(),
    }));
    // Let the DONE frame leave before the handle is finalized: wait for its own delivery.
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, engine.events().recv()).await {
            Ok(Some(ClusterEvent::Message { from, payload }))
                if from == me && unframe(&payload).map(|f| f.0) == Some(DONE) =>
            {
                break
            }
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    Ok(())
}

fn usage() -> ExitCode {
    eprintln!("usage: cpg_probe watch GROUP | cpg_probe pingpong GROUP PEER COUNT [WARMUP]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cpg_probe: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let r = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["watch", group] => rt.block_on(watch(group)),
        ["pingpong", group, peer, count, rest @ ..] if rest.len() <= 1 => {
            let (Ok(peer), Ok(count)) = (peer.parse(), count.parse::<u32>()) else {
                return usage();
            };
            let warmup = match rest.first().map(|w| w.parse()) {
                None => 100,
                Some(Ok(w)) => w,
                Some(Err(_)) => return usage(),
            };
            if count == 0 {
                return usage();
            }
            rt.block_on(pingpong(group, peer, count, warmup))
        }
        _ => return usage(),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out(json!({"ev": "error", "what": "probe", "error": e}));
            eprintln!("cpg_probe: {e}");
            ExitCode::FAILURE
        }
    }
}
