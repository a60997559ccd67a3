//! netlink codec
