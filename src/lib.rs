//! pnfs-controld: the userland half of the pNFS/GFS2 control channel.

pub mod cluster;
