//! The link to the kernel half: the upcall thread (`fastpath`), what it hands over,
//! the kernel watch (`kernel::spawn_watch`) and a new registration when the kernel half
//! restarted, pushing back what it lost (role, devices, members, grace).

use super::*;

/// The kernel half as the daemon last saw it (`kernel::spawn_watch`), and a registration
/// after it restarted.
#[derive(Default)]
pub(super) struct KernelLink {
    /// Why it did not answer (None: it did, with this daemon registered).
    pub(super) lost: Option<String>,
    /// Its upcall timeout: a query the MDS has not answered is answered DELAY before it.
    pub(super) timeout: Option<Duration>,
    /// A new registration is under way.
    pub(super) registering: bool,
    /// Registrations made after the first (the kernel half restarted).
    pub(super) reregistered: u64,
    /// Foreign datagrams on the upcall socket as last logged (`fastpath::FastStats`).
    pub(super) foreign_logged: u64,
    pub(super) foreign_log: Option<crate::ratelog::RateLog>,
    pub(super) register_log: Option<crate::ratelog::RateLog>,
    /// Upcalls that came while registering, answered when the loop starts.
    pub(super) early: Vec<Vec<u8>>,
    /// The upcall thread, for joining when it makes way for a new socket's.
    pub(super) thread: Option<std::thread::JoinHandle<()>>,
    /// Where the upcall threads hand over (set by `run`).
    pub(super) fwd: Option<mpsc::Sender<Fwd>>,
    pub(super) watched: Option<mpsc::Receiver<kernel::Watched>>,
    pub(super) registered_tx: Option<mpsc::Sender<Result<(Target, kernel::Registered), String>>>,
    pub(super) registered_rx: Option<mpsc::Receiver<Result<(Target, kernel::Registered), String>>>,
}

impl Daemon {
    /// `first` and what else the fast path thread queued by now, bounded (the reply
    /// datagram too). Takes no more than RX_BATCH, and nothing that is not handled: the
    /// next one is taken only while there is a pass left for it (taking it on the last
    /// pass dropped an upcall, unanswered and unlogged). Some: why the thread stopped.
    pub(super) fn on_fwd_batch(
        &mut self,
        first: Option<Fwd>,
        fwd: &mut mpsc::Receiver<Fwd>,
    ) -> Option<String> {
        let mut next = first;
        let mut taken = 1;
        loop {
            match next {
                Some(f) => {
                    if let Err(e) = self.on_fwd(f) {
                        return Some(e);
                    }
                }
                None => return Some("the upcall fast path thread stopped".to_string()),
            }
            if taken == RX_BATCH {
                return None;
            }
            match fwd.try_recv() {
                Ok(f) => {
                    next = Some(f);
                    taken += 1;
                }
                Err(_) => return None,
            }
        }
    }

    /// Start the thread that takes the upcall socket's datagrams (again, after a new
    /// registration: the one before returns within its receive timeout).
    pub(super) fn start_upcall_thread(&mut self) -> std::io::Result<()> {
        let Some(fwd) = self.link.fwd.clone() else {
            return Ok(());
        };
        self.sock.deregister();
        let gen = self.fast.next_thread();
        let h = fastpath::spawn(
            gen,
            self.sock.as_raw_fd(),
            self.upcall_peer,
            self.target.pnfsd.id,
            self.sock.port(),
            self.fast.clone(),
            fwd,
            Duration::from_micros(self.cfg.busy_poll_us),
        )?;
        self.link.thread = Some(h);
        Ok(())
    }

    /// What the kernel watch saw: a kernel half that no longer has this daemon
    /// registered (it restarted) gets a new registration and the state pushed back.
    pub(super) fn on_watched(&mut self, w: kernel::Watched) {
        match w {
            kernel::Watched::Unreachable(e) => {
                if self.link.lost.is_none() {
                    self.ring.push(format!("kernel half not answering: {e}"));
                    tracing::warn!("kernel half not answering: {e}");
                }
                self.link.lost = Some(e);
            }
            kernel::Watched::Status(st) => {
                self.link.timeout = st.timeout_ms.map(|t| Duration::from_millis(t as u64));
                if st.port == self.sock.port() {
                    if self.link.lost.take().is_some() {
                        self.ring.push("kernel half answers again".into());
                        tracing::info!("kernel half answers again");
                    }
                    return;
                }
                let why = if st.port == 0 {
                    "no daemon registered".to_string()
                } else {
                    format!("port {:#x} registered", st.port)
                };
                if self.link.lost.is_none() {
                    let l = format!(
                        "kernel half lost this daemon's registration ({why}: it restarted?); registering again"
                    );
                    self.ring.push(l.clone());
                    tracing::warn!("{l}");
                }
                self.link.lost = Some(why);
                self.register_again();
            }
        }
    }

    /// Register with the kernel half anew, from a new upcall socket, off the loop.
    pub(super) fn register_again(&mut self) {
        let Some(done) = self.link.registered_tx.clone() else {
            return;
        };
        if self.link.registering {
            return;
        }
        self.link.registering = true;
        let (role, mds_id) = match self.view.mds {
            Some(m) if m == self.view.node => (pnfsd::Role::Mds, m),
            Some(m) => (pnfsd::Role::Ds, m),
            None => (pnfsd::Role::Ds, 0),
        };
        let reg = Registration {
            node_id: self.view.node,
            role,
            mds_id,
            epoch: self.store.state.epoch.max(self.view.mds_epoch),
        };
        let (kind, twin_port) = (self.cfg.socket, self.cfg.twin_port);
        tokio::spawn(async move {
            let r = async {
                let (_c, target) = kernel::find(kind, twin_port).await?;
                let reg = kernel::register(&target, reg).await?;
                Ok::<_, pnfs_netlink::NlError>((target, reg))
            }
            .await
            .map_err(|e| e.to_string());
            let _ = done.send(r).await;
        });
        self.registered_role = Some((reg.role, reg.mds_id, reg.epoch));
    }

    /// A new registration is done: its socket becomes the upcall socket, and the kernel
    /// half gets back what it lost (role, devices, members, grace).
    pub(super) fn on_registered(&mut self, r: Result<(Target, kernel::Registered), String>) {
        self.link.registering = false;
        let (target, reg) = match r {
            Ok(x) => x,
            Err(e) => {
                // Tried again at the next status (another daemon may hold the kernel
                // half): said at most once a second.
                let log = self
                    .link
                    .register_log
                    .get_or_insert_with(|| crate::ratelog::RateLog::new(Duration::from_secs(1)));
                if let Some(left_out) = log.allow() {
                    self.ring.push(format!(
                        "registering again failed: {e} ({left_out} failures not logged)"
                    ));
                    tracing::warn!(left_out, "registering again failed: {e}");
                }
                return;
            }
        };
        let old = std::mem::replace(&mut self.sock, reg.sock);
        self.upcall_peer = reg.peer;
        self.target = target.clone();
        if let Some(t) = &self.targets {
            let _ = t.send(target);
        }
        let old_thread = self.link.thread.take();
        if let Err(e) = self.start_upcall_thread() {
            self.ring.push(format!("upcall thread not started: {e}"));
            tracing::error!("upcall thread not started: {e}");
        }
        // The old thread returns within its receive timeout; its socket closes after.
        tokio::task::spawn_blocking(move || {
            if let Some(h) = old_thread {
                let _ = h.join();
            }
            drop(old);
        });
        for d in reg.early {
            self.on_datagram(&d);
        }
        self.link.lost = None;
        self.link.reregistered += 1;
        let l = format!(
            "registered again with the {} on port {:#x} (pnfsd v{}, gfs2ctl v{}); pushing devices, members and grace back",
            self.target.describe(),
            self.sock.port(),
            reg.pnfsd_version,
            reg.gfs2_version
        );
        self.ring.push(l.clone());
        tracing::info!("{l}");
        // Whatever changed while registering goes now (REGISTER from the new socket).
        self.register_role();
        if self.is_mds() {
            self.push_devices();
        }
        self.downcall(Tag::Fire, Down::Members(self.view.members.clone()));
        if self.view.grace_until.is_some() {
            self.downcall(
                Tag::Fire,
                Down::Grace {
                    start: true,
                    epoch: self.view.mds_epoch,
                },
            );
        }
    }

    /// Datagrams on the upcall socket from anyone but the kernel half (forged upcalls:
    /// on USERSOCK any local user may send to the daemon's port) are dropped by the
    /// upcall thread; say so, at most once a second.
    pub(super) fn log_foreign(&mut self) {
        let n = self.fast.stats().foreign;
        if n == self.link.foreign_logged {
            return;
        }
        let log = self
            .link
            .foreign_log
            .get_or_insert_with(|| crate::ratelog::RateLog::new(Duration::from_secs(1)));
        if log.allow().is_some() {
            let l = format!(
                "{} datagram(s) dropped on the upcall socket: not from the kernel half ({n} in all)",
                n - self.link.foreign_logged
            );
            tracing::warn!("{l}");
            self.ring.push(l);
            self.link.foreign_logged = n;
        }
    }

    /// How long a state query may wait for the MDS: the configured limit, and well
    /// within the kernel half's upcall timeout (an answer after it is lost).
    pub(super) fn query_limit(&self) -> Duration {
        let mine = Duration::from_millis(self.cfg.query_timeout_ms);
        match self.link.timeout {
            Some(k) if !k.is_zero() => mine.min(k * 3 / 4),
            _ => mine,
        }
    }

    /// What the fast path thread handed over. Err: the thread stopped on a socket error.
    pub(super) fn on_fwd(&mut self, f: Fwd) -> Result<(), String> {
        match f {
            Fwd::Datagram(b) => {
                self.on_datagram(&b);
                self.fast.recycle(b);
            }
            Fwd::Truncated => {
                self.stats.malformed += 1;
                self.ring.push(format!(
                    "upcall datagram longer than {} bytes dropped",
                    fastpath::SLOT
                ));
            }
            Fwd::Overrun => self.overrun(),
            Fwd::SendFailed(e) => self
                .ring
                .push(format!("replies not delivered to the kernel half: {e}")),
            Fwd::Failed(e) => return Err(e),
        }
        Ok(())
    }

    /// The upcall socket's receive queue overflowed (ENOBUFS): the kernel half failed the
    /// upcalls it could not queue at once (-EAGAIN; nothing of them is pending).
    pub(super) fn overrun(&mut self) {
        self.ring.push(
            "upcall socket overrun: the kernel half failed the upcalls it could not queue".into(),
        );
        self.stats.overruns += 1;
    }
}
