//! Daemon configuration: a TOML file, overridden by command-line flags.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Which cluster engine to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// Single node (the embedded default).
    #[default]
    Local,
    /// Corosync CPG.
    Corosync,
}

/// Which kernel half to talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SocketKind {
    /// The module when its families are registered, else the twin.
    #[default]
    Auto,
    /// The kernel module (NETLINK_GENERIC).
    Generic,
    /// The twin (NETLINK_USERSOCK).
    Usersock,
}

/// A data-server address this node offers (netaddr4).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Addr {
    pub netid: String,
    pub uaddr: String,
}

/// Upper bound of `busy_poll_us`.
pub const MAX_BUSY_POLL_US: u64 = 1000;

/// The daemon's configuration (`/etc/pnfs-controld.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// This node's id (Corosync nodeid; with the local engine any non-zero id).
    pub node_id: u32,
    /// CPG group name: one per cluster.
    pub cluster_name: String,
    pub engine: EngineKind,
    pub socket: SocketKind,
    /// USERSOCK port of the twin.
    pub twin_port: u32,
    /// MDS preference: the live member with the highest priority is MDS, ties broken
    /// by the lowest node id.
    pub mds_priority: u32,
    /// Addresses clients use to reach this node as a data server.
    pub addrs: Vec<Addr>,
    /// Directory of durable state (epochs, journal assignments).
    pub state_dir: PathBuf,
    /// Control socket: an abstract unix socket name (per network namespace) if it
    /// starts with '@', else a path.
    pub control_socket: String,
    /// How long a DS waits for the MDS's answer before answering NFS4ERR_DELAY.
    pub query_timeout_ms: u64,
    /// Grace period a new MDS announces.
    pub grace_ms: u64,
    /// Bound on upcalls parked while waiting for the cluster (beyond: NFS4ERR_DELAY).
    pub max_parked: usize,
    /// Bound on DS state-cache entries.
    pub max_cache: usize,
    /// Entries of the in-memory debug ring.
    pub ring_size: usize,
    /// Watch GFS2's uevents (mounts, recoveries, withdraws) and acknowledge withdraws.
    pub gfs2_uevents: bool,
    /// nfsd's client-tracking pipe to serve in place of nfsdcld (Debian:
    /// "/run/rpc_pipefs/nfsd/cld"; mask nfsdcld.service then). Empty: not served.
    pub cld_pipe: String,
    /// nfsdcld's database, imported when this daemon first serves the pipe (its own
    /// state directory new). Empty or missing: nothing to import.
    pub nfsdcld_db: String,
    /// Longest the upcall thread busy-polls its socket between batches, µs, while
    /// upcalls come at most this far apart (adaptive, as the kernel's haltpoll: an idle
    /// daemon does not poll); 0: never (block at once, as a CPU that halts when idle).
    pub busy_poll_us: u64,
    /// SCHED_RR priority of the daemon's main thread (cluster events, downcalls,
    /// control), 1..=99, as corosync and dlm_controld run theirs; 0: the normal
    /// scheduler. The upcall thread always stays on the normal scheduler (it may
    /// busy-poll).
    pub rt_priority: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_id: 1,
            cluster_name: "pnfs".into(),
            engine: EngineKind::Local,
            socket: SocketKind::Auto,
            twin_port: pnfs_netlink::nlctrl::TWIN_DEFAULT_PORT,
            mds_priority: 0,
            addrs: vec![Addr {
                netid: "tcp".into(),
                uaddr: "127.0.0.1.8.1".into(),
            }],
            state_dir: PathBuf::from("/var/lib/pnfs-controld"),
            control_socket: "@pnfs-controld".into(),
            query_timeout_ms: 2000,
            grace_ms: 10_000,
            max_parked: 65_536,
            max_cache: 1 << 20,
            ring_size: 1024,
            gfs2_uevents: true,
            cld_pipe: String::new(),
            nfsdcld_db: "/var/lib/nfs/nfsdcld/main.sqlite".into(),
            busy_poll_us: 50,
            rt_priority: 0,
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Load `path`; a missing file is an error (the caller decides about defaults).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let c: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "<config>".into(),
            message: e.to_string(),
        })?;
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.node_id == 0 {
            return Err(ConfigError::Invalid("node_id must be non-zero".into()));
        }
        if self.cluster_name.is_empty() || self.cluster_name.len() > 127 {
            return Err(ConfigError::Invalid(
                "cluster_name must be 1..=127 bytes".into(),
            ));
        }
        if self.twin_port == 0 {
            return Err(ConfigError::Invalid("twin_port must be non-zero".into()));
        }
        if self.addrs.len() > pnfs_netlink::pnfsd::MAX_DS_ADDRS as usize {
            return Err(ConfigError::Invalid(format!(
                "at most {} addrs",
                pnfs_netlink::pnfsd::MAX_DS_ADDRS
            )));
        }
        for a in &self.addrs {
            if a.netid.is_empty() || a.netid.len() > 8 || a.uaddr.is_empty() || a.uaddr.len() > 64 {
                return Err(ConfigError::Invalid(format!(
                    "addr {a:?}: netid 1..=8 bytes, uaddr 1..=64 bytes"
                )));
            }
        }
        if self.query_timeout_ms == 0 || self.max_parked == 0 || self.ring_size == 0 {
            return Err(ConfigError::Invalid(
                "query_timeout_ms, max_parked and ring_size must be non-zero".into(),
            ));
        }
        if self.busy_poll_us > MAX_BUSY_POLL_US {
            return Err(ConfigError::Invalid(format!(
                "busy_poll_us must be at most {MAX_BUSY_POLL_US} (a poll that long is a busy CPU)"
            )));
        }
        if self.rt_priority > 99 {
            return Err(ConfigError::Invalid(
                "rt_priority must be 0 (off) or a SCHED_RR priority 1..=99".into(),
            ));
        }
        if self.control_socket.is_empty() {
            return Err(ConfigError::Invalid(
                "control_socket must not be empty".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_file() {
        let c = Config::parse(
            r#"
            node_id = 3
            cluster_name = "lab"
            engine = "corosync"
            socket = "usersock"
            mds_priority = 5
            addrs = [{ netid = "tcp", uaddr = "10.77.0.3.8.1" }]
            state_dir = "/tmp/x"
            "#,
        )
        .unwrap();
        assert_eq!(c.node_id, 3);
        assert_eq!(c.engine, EngineKind::Corosync);
        assert_eq!(c.socket, SocketKind::Usersock);
        assert_eq!(c.addrs[0].uaddr, "10.77.0.3.8.1");
    }

    #[test]
    fn bad_values_are_clear_errors() {
        for (text, want) in [
            ("node_id = 0", "node_id"),
            ("engine = \"raft\"", "engine"),
            ("bogus = 1", "bogus"),
            ("node_id = \"x\"", "node_id"),
            ("addrs = [{ netid = \"\", uaddr = \"a\" }]", "netid"),
            ("busy_poll_us = 1001", "busy_poll_us must be at most 1000"),
            ("rt_priority = 100", "rt_priority must be 0"),
        ] {
            let e = Config::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
