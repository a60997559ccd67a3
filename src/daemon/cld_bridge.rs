//! The cld bridge: nfsd's client-tracking pipe (as nfsdcld serves it), with the
//! client records replicated over the cluster. A record change goes to the cluster
//! first; nfsd's answer waits until it comes back in the agreed order and the records
//! are on disk (`cld_reply_after_save`).

use super::*;

/// nfsd's cld pipe: messages read (by the pipe task), answers to write, and answers
/// that wait.
pub(super) struct CldBridge {
    pub(super) rx: Option<mpsc::Receiver<Vec<u8>>>,
    pub(super) tx: Option<mpsc::Sender<crate::cld::CldOut>>,
    /// Answers that wait until the client records they follow are on disk (version,
    /// answer if written, answer if the write failed).
    pub(super) after_save: Vec<(u64, crate::cld::CldOut, crate::cld::CldOut)>,
    /// cld messages whose answer waits for our own cluster message (by its req) to come
    /// back in the agreed order: the request as nfsd sent it.
    pub(super) wait: HashMap<u64, Vec<u8>>,
}

/// First start serving nfsd's pipe (no state on disk yet): take nfsdcld's records over,
/// if its database is there. Returns what to log in the ring.
pub(super) fn import_nfsdcld_once(cfg: &Config, store: &mut Store) -> Option<String> {
    if cfg.cld_pipe.is_empty() || !store.fresh || cfg.nfsdcld_db.is_empty() {
        return None;
    }
    let path = std::path::Path::new(&cfg.nfsdcld_db);
    if !path.exists() {
        return None;
    }
    let line = match crate::cld::import_nfsdcld(path) {
        Ok(c) => {
            let n: usize = c.epochs.values().map(|m| m.len()).sum();
            let line = format!(
                "cld: imported nfsdcld's database {}: epochs {}/{}, {n} client record(s)",
                path.display(),
                c.current,
                c.recovery
            );
            store.state.clients = c;
            if let Err(e) = store.save() {
                tracing::error!("imported records not saved: {e}");
            }
            line
        }
        Err(e) => format!("cld: nfsdcld's database not imported: {e}"),
    };
    tracing::info!("{line}");
    Some(line)
}

impl Daemon {
    /// Answer nfsd on the cld pipe (the pipe task writes it, then drops the message
    /// from its in-flight journal).
    pub(super) fn cld_send(&mut self, out: crate::cld::CldOut) {
        if let Some(tx) = &self.cld.tx {
            if let Err(e) = tx.try_send(out) {
                // The message stays journaled and is answered when the pipe reopens.
                self.ring.push(format!("cld: answer not queued: {e}"));
            }
        }
    }

    /// nfsd's message `b`, or None when it cannot be served: a newer version of the
    /// right size is answered -EPROTONOSUPPORT (so no nfsd thread waits); anything else
    /// is not a message nfsd sends, dropped unanswered (its size is unknown).
    fn cld_parse<'a>(&mut self, b: &'a [u8]) -> Option<crate::cld::CldMsg<'a>> {
        use crate::cld::{self, CldMsg, CldOut};
        match CldMsg::parse(b) {
            Ok(m) => Some(m),
            Err(e @ cld::CldError::Version(_)) if b.len() >= cld::HDR_LEN => {
                self.ring.push(format!("cld: {e}"));
                let m = CldMsg::parse_any(b);
                let xid = m.xid();
                self.cld_send(CldOut {
                    xid,
                    replies: vec![cld::reply(&m, -(libc::EPROTONOSUPPORT as i16))],
                });
                None
            }
            Err(e) => {
                self.ring.push(format!("cld: dropped: {e}"));
                let xid = cld::xid_of(b).unwrap_or(0);
                self.cld_send(CldOut {
                    xid,
                    replies: vec![],
                });
                None
            }
        }
    }

    /// One message from nfsd's cld pipe. Answers that follow a change of the client
    /// records wait until the records are on disk (as nfsdcld answers after sqlite).
    pub(super) fn on_cld(&mut self, b: &[u8]) {
        use crate::cld::{self, cmd, CldMsg, CldOut};
        let Some(m) = self.cld_parse(b) else { return };
        let xid = m.xid();
        let name_of = |m: &CldMsg<'_>| {
            m.name()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_default()
        };
        self.ring.push(format!(
            "cld: {} v{} xid {xid} {}",
            cld::cmd_name(m.cmd()),
            m.vers(),
            if matches!(m.cmd(), cmd::CREATE | cmd::REMOVE | cmd::CHECK) {
                name_of(&m)
            } else {
                String::new()
            }
        ));
        #[cfg(feature = "fuzzing")]
        if std::env::var("PNFS_TEST_CLD_UNANSWERED").is_ok_and(|v| v == cld::cmd_name(m.cmd())) {
            // Test hook (feature `fuzzing`, not in production builds): leave it
            // unanswered, as a daemon that dies between reading and answering would; it
            // stays in the in-flight journal for the next daemon to answer.
            return self.ring.push(format!(
                "cld: test hook: {} xid {xid} left unanswered",
                cld::cmd_name(m.cmd())
            ));
        }
        let now = |replies| CldOut { xid, replies };
        let einval = -(libc::EINVAL as i16);
        // What goes to the cluster; the answer waits until it comes back in the agreed
        // order (and, for records, until they are on disk), so every node's store holds
        // a client before nfsd hears it is recorded.
        let req = self.next_id();
        let records = &self.store.state.clients;
        let msg = match m.cmd() {
            cmd::GET_VERSION => {
                return self.cld_send(now(vec![cld::reply_version(&m, cld::VERSION)]))
            }
            cmd::CHECK => {
                let st = match m.name() {
                    Ok(n) if records.may_reclaim(n) => 0,
                    Ok(_) => -(libc::EACCES as i16),
                    Err(_) => einval,
                };
                return self.cld_send(now(vec![cld::reply(&m, st)]));
            }
            cmd::CREATE | cmd::REMOVE => {
                let create = m.cmd() == cmd::CREATE;
                let hash = if create { m.princhash() } else { Ok(&[][..]) };
                match (m.name(), hash) {
                    (Ok(n), Ok(p)) => Msg::Client {
                        node: self.view.node,
                        req,
                        create,
                        name: crate::hex(n),
                        princhash: crate::hex(p),
                    },
                    (Err(e), _) | (_, Err(e)) => {
                        self.ring
                            .push(format!("cld: {} xid {xid}: {e}", cld::cmd_name(m.cmd())));
                        return self.cld_send(now(vec![cld::reply(&m, einval)]));
                    }
                }
            }
            cmd::GRACE_START => Msg::Grace {
                node: self.view.node,
                req,
                op: grace_op::START,
            },
            cmd::GRACE_DONE => Msg::Grace {
                node: self.view.node,
                req,
                op: grace_op::DONE,
            },
            other => {
                self.ring
                    .push(format!("cld: command {other} not supported"));
                return self.cld_send(now(vec![cld::reply(&m, -(libc::EOPNOTSUPP as i16))]));
            }
        };
        if self.send(msg) {
            self.cld.wait.insert(req, b.to_vec());
        } else {
            // Not sent: nfsd must not wait for an answer that will never come.
            self.cld_send(now(vec![cld::reply(&m, -(libc::EREMOTEIO as i16))]));
        }
    }

    /// Our cld request `req` came back in the cluster's order: answer nfsd once the
    /// state it changed is on disk.
    pub(super) fn cld_answer_after_save(
        &mut self,
        req: u64,
        replies: impl FnOnce(&crate::cld::CldMsg<'_>) -> Vec<Vec<u8>>,
    ) {
        if let Some(b) = self.cld.wait.remove(&req) {
            self.cld_reply_after_save(&b, replies);
        }
    }

    /// Answer nfsd's message `b` once the state is on disk (-EREMOTEIO if the write
    /// fails).
    pub(super) fn cld_reply_after_save(
        &mut self,
        b: &[u8],
        replies: impl FnOnce(&crate::cld::CldMsg<'_>) -> Vec<Vec<u8>>,
    ) {
        use crate::cld::{self, CldMsg, CldOut};
        let m = CldMsg::parse_any(b);
        let xid = m.xid();
        let ok = CldOut {
            xid,
            replies: replies(&m),
        };
        let err = CldOut {
            xid,
            replies: vec![cld::reply(&m, -(libc::EREMOTEIO as i16))],
        };
        self.mark_dirty();
        self.cld
            .after_save
            .push((self.durable.dirty_version, ok, err));
    }

    /// A client record from a node's nfsd (in the agreed order, on every node).
    pub(super) fn on_client(
        &mut self,
        node: NodeId,
        req: u64,
        create: bool,
        name: &str,
        princhash: &str,
    ) {
        let c = &mut self.store.state.clients;
        let owner = c.owners.get(name).copied();
        if !c.apply(Some(node), create, name, princhash) && !create {
            if let Some(o) = owner.filter(|o| *o != node) {
                self.ring.push(format!(
                    "cld: node {node}'s nfsd expired client {name}, recorded by node {o}'s: kept"
                ));
            }
        }
        self.mark_dirty();
        if node == self.view.node {
            self.cld_answer_after_save(req, |m| vec![crate::cld::reply(m, 0)]);
        }
    }
}
