//! pnfs-controld: the userland half of the pNFS/GFS2 control channel.
//!
//! - [`daemon`]: the main loop (upcalls, cluster, downcalls, control);
//! - [`kernel`]: finding and registering with the kernel half (module or twin);
//! - [`cluster`]: the engines (local, corosync) behind one trait;
//! - [`wire`]: messages between daemons; [`store`]: durable state;
//! - [`control`]: the socket `pnfsctl` uses; [`config`]: the TOML configuration.

pub mod cluster;
pub mod config;
pub mod control;
pub mod daemon;
pub mod kernel;
pub mod ring;
pub mod stats;
pub mod store;
pub mod wire;
