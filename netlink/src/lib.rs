//! The wire protocol of pnfs-controld: generic netlink families specified in YAML
//! (`netlink/specs/`), zero-copy message views, builders into reused buffers, async
//! sockets for NETLINK_GENERIC and NETLINK_USERSOCK, and nlctrl.
//!
//! The family tables in [`gen`] are generated from the specs by `ynl-gen`, which also
//! writes the kernel module's uapi header and policies, so both halves share one source.

#[cfg(feature = "io")]
pub mod client;
pub mod codec;
pub mod error;
pub mod histogram;
pub mod nlctrl;
pub mod policy;
#[cfg(feature = "io")]
pub mod socket;

/// Tables generated from `netlink/specs/*.yaml`.
#[rustfmt::skip]
pub mod gen {
    pub mod gfs2ctl;
    pub mod pnfsd;
}

#[cfg(feature = "io")]
pub use client::Client;
pub use codec::{AttrIter, AttrTable, ErrorMsg, GenlHeader, GenlMsg, Messages, MsgBuilder, NlMsg};
pub use error::{DecodeError, NlError, PeerError};
pub use gen::{gfs2ctl, pnfsd};
pub use nlctrl::FamilyInfo;
#[cfg(feature = "io")]
pub use socket::{NlSocket, Proto, RecvBatch};

/// Attribute table sized for the pnfsd main set.
pub type PnfsdAttrs<'a> = AttrTable<'a, { pnfsd::attr::MAX as usize + 1 }>;
/// Attribute table sized for the gfs2ctl main set.
pub type Gfs2Attrs<'a> = AttrTable<'a, { gfs2ctl::attr::MAX as usize + 1 }>;
