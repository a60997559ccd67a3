//! Control requests from `pnfsctl` (`crate::control::Request`, typed, authorized
//! where they arrive): reads answered from the state at once; a query goes to the MDS
//! like an upcall's, a revoke to the kernel half, then to every member's cache.

use super::*;
use crate::hex;

impl Daemon {
    /// `pnfsctl stats`: the loop's counters with what the fast path answered.
    pub(super) fn stats_json(&self) -> Value {
        let f = self.fast.stats();
        let mut s = self.stats.clone();
        s.cache_hits += f.cache_hits;
        for (mine, fast) in s.pnfsd.iter_mut().zip(&f.kinds) {
            mine.merge(fast);
        }
        let mut v = s.to_json();
        v["busy_poll"] = json!({
            "max_us": self.cfg.busy_poll_us,
            "receives_polled": f.poll.polled,
            "receives_waited": f.poll.waited,
            "spin_us": f.poll.spin_us,
        });
        v["control_refused"] = crate::control::REFUSALS.to_json();
        // Datagrams on the upcall socket from anyone but the kernel half (forged upcalls).
        v["foreign_datagrams"] = json!(f.foreign);
        v
    }

    pub(super) fn on_control(&mut self, r: ControlReq) {
        let v = match r.req {
            Request::Ping => json!({ "pong": self.view.node, "incarnation": self.incarnation }),
            Request::Status => self.status_json(),
            Request::Stats => self.stats_json(),
            Request::Cache => {
                let hot = self.fast.read();
                let mut keys: Vec<_> = hot.cache.iter().collect();
                keys.sort_by_key(|(k, _)| *k);
                let v: Vec<Value> = keys
                    .into_iter()
                    .map(|((c, f, i, o), e)| {
                        json!({ "clientid": c, "fsid": f, "fileid": i, "other": hex(o), "generation": e.generation, "access": e.access, "epoch": e.epoch })
                    })
                    .collect();
                json!({ "entries": v })
            }
            Request::Ring => json!({ "entries": self.ring.entries().collect::<Vec<_>>() }),
            Request::Journals => json!({
                "journals": self.store.state.journals,
                "local": self.journals.local_mounts.iter().map(|(t, (j, f))| json!({"table": t, "jid": j, "first": f})).collect::<Vec<_>>(),
                "recovery": self.journals.recovery.iter().map(|((t, j), r)| json!({"table": t, "jid": j, "dead": r.dead, "recoverer": r.recoverer})).collect::<Vec<_>>(),
            }),
            Request::Gfs2 => self.gfs2.to_json(),
            Request::Clients => {
                let mut v = self.store.state.clients.to_json();
                v["pipe"] = json!(self.cfg.cld_pipe);
                v["serving"] = json!(self.cld.rx.is_some());
                v
            }
            Request::Grace { since } => {
                let mut v = self.grace_json();
                if let Some(since) = since {
                    let ev: Vec<&Value> = self
                        .grace
                        .events
                        .iter()
                        .filter(|e| e["seq"].as_u64().is_some_and(|s| s > since))
                        .collect();
                    // Older than what is kept: the watcher missed some (it resyncs).
                    let first = self.grace.seq + 1 - self.grace.events.len() as u64;
                    v["events_lost"] = json!(since + 1 < first);
                    v["events"] = json!(ev);
                }
                v["last_seq"] = json!(self.grace.seq);
                v
            }
            Request::Query {
                fsid,
                fileid,
                clientid,
                stateid,
            } => return self.control_query(r.reply, fsid, fileid, clientid, &stateid),
            Request::Revoke {
                clientid,
                fsid,
                fileid,
                stateid,
            } => return self.control_revoke(r.reply, clientid, fsid, fileid, stateid.as_deref()),
            Request::Drain { device, on } => return self.control_drain(r.reply, &device, on),
        };
        let _ = r.reply.send(v);
    }

    pub(super) fn control_query(
        &mut self,
        reply: oneshot::Sender<Value>,
        fsid: u64,
        fileid: u64,
        clientid: u64,
        stateid: &str,
    ) {
        let Some(stateid) = unhex16(stateid) else {
            let _ = reply.send(json!({ "error": "query needs a 32-hex-digit stateid" }));
            return;
        };
        if !self.granting() {
            let _ = reply.send(json!({ "status": "delay", "status_code": Nfsstat::Delay as u32, "reason": "not granting (no quorum or no MDS)" }));
            return;
        }
        let qid = self.next_id();
        self.ask_mds(qid, Waiter::Control(reply), fsid, fileid, stateid, clientid);
    }

    /// `pnfsctl layout recall device` / `device restore`: through the cluster, answered
    /// when it comes back (`on_drain`).
    pub(super) fn control_drain(&mut self, reply: oneshot::Sender<Value>, device: &str, on: bool) {
        let Some(node) = unhex16(device).and_then(|id| crate::kernel::device_node(&id)) else {
            let _ = reply.send(json!({ "error": format!("{device:?} is not a data server's device id of this cluster (PNFS, a node id, zeros: 32 hex digits)") }));
            return;
        };
        let req = self.next_id();
        if self.send(Msg::Drain {
            node: self.view.node,
            req,
            device: node,
            on,
        }) {
            self.queries.drains.insert(req, reply);
        } else {
            let _ = reply.send(json!({ "error": "not sent: no cluster connection" }));
        }
    }

    pub(super) fn control_revoke(
        &mut self,
        reply: oneshot::Sender<Value>,
        clientid: u64,
        fsid: Option<u64>,
        fileid: Option<u64>,
        stateid: Option<&str>,
    ) {
        if !self.is_mds() {
            let _ = reply.send(
                json!({ "error": format!("this node is not the MDS (MDS is {:?})", self.view.mds) }),
            );
            return;
        }
        let one = match (fsid, fileid, stateid.map(unhex16)) {
            (Some(f), Some(i), Some(Some(s))) => Some((f, i, s)),
            (None, None, None) => None,
            (_, _, Some(None)) => {
                let _ = reply.send(json!({ "error": "revoke needs a 32-hex-digit stateid" }));
                return;
            }
            _ => {
                let _ = reply.send(json!({ "error": "fsid, fileid and stateid go together" }));
                return;
            }
        };
        let tag = Tag::Revoke {
            clientid,
            one,
            waiter: Waiter::Control(reply),
        };
        self.downcall(tag, Down::StateRevoke { clientid, one });
    }

    pub(super) fn status_json(&self) -> Value {
        let members: Vec<Value> = self
            .view.members
            .iter()
            .map(|n| {
                let p = self.view.peers.get(n);
                json!({
                    "node": n,
                    "mds": self.view.mds == Some(*n),
                    "self": *n == self.view.node,
                    "priority": p.map(|p| p.priority),
                    "epoch": p.map(|p| p.epoch),
                    "version": p.map(|p| p.max_version),
                    "addrs": p.map(|p| p.addrs.iter().map(|a| format!("{} {}", a.netid, a.uaddr)).collect::<Vec<_>>()),
                })
            })
            .collect();
        let mut v = json!({
            "node": self.view.node,
            "engine": self.out.cluster.name(),
            "kernel": self.target.describe(),
            "port": self.sock.port(),
            "quorate": self.view.quorate,
            "granting": self.granting(),
            "not_granting": self.not_granting(),
            "durable_error": self.durable.error,
            "mds": self.view.mds,
            "mds_epoch": self.view.mds_epoch,
            "durable_epoch": self.durable.epoch,
            "in_grace": self.view.grace_until.is_some(),
            "members": members,
            "cache_entries": self.fast.read().cache.len(),
            "parked": self.queries.parked.len(),
            "protocol": PROTO_VERSION,
        });
        // Drained data servers' devices, when an operator drained any.
        if !self.view.drained.is_empty() {
            v["drained"] = self
                .view
                .drained
                .iter()
                .map(|n| crate::hex(&device_id(*n)))
                .collect();
        }
        v
    }
}

/// Parse 32 hex digits into a stateid.
pub fn unhex16(s: &str) -> Option<[u8; 16]> {
    let s = s.trim_start_matches("0x");
    if s.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
