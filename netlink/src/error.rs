//! Errors of the codec and the sockets.
//!
//! Codec errors never allocate: they name the attribute by the spec's `&'static str` and
//! carry the byte offset of the offending attribute in the message, which the kernel half
//! (or the twin) reports back as the extack offset.

use std::fmt;

/// A message or attribute that does not follow its policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than a header needs.
    Truncated {
        what: &'static str,
        need: usize,
        have: usize,
    },
    /// `nlmsg_len` smaller than the header or beyond the datagram.
    BadMessageLength { len: u32, have: usize },
    /// An attribute header whose length is < 4 or runs past its container.
    AttrOverrun { offset: usize },
    /// A fixed-size attribute with the wrong payload size.
    AttrLength {
        attr: &'static str,
        offset: usize,
        len: usize,
        expected: usize,
    },
    /// A binary or string attribute outside its length bounds.
    AttrLengthRange {
        attr: &'static str,
        offset: usize,
        len: usize,
        min: u64,
        max: u64,
    },
    /// An integer outside its range.
    OutOfRange {
        attr: &'static str,
        offset: usize,
        value: u64,
        min: u64,
        max: u64,
    },
    /// A string without its terminating NUL within bounds.
    NotNulTerminated { attr: &'static str, offset: usize },
    /// A string that is not UTF-8.
    BadUtf8 { attr: &'static str, offset: usize },
    /// A nest attribute whose contents are not attributes, or nested too deep.
    BadNest { attr: &'static str, offset: usize },
    /// Nesting deeper than the protocol allows.
    NestTooDeep { offset: usize },
    /// Strict validation: an attribute id the policy does not define (the kernel's
    /// `NL_VALIDATE_MAXTYPE`), or one it rejects (`NLA_REJECT`, e.g. a pad).
    UnknownAttr { kind: u16, offset: usize },
    /// Strict validation: a nest without `NLA_F_NESTED` (the kernel's `NL_VALIDATE_NESTED`).
    NestedFlagMissing { attr: &'static str, offset: usize },
    /// Strict validation: `NLA_F_NESTED` on an attribute that is not a nest.
    NestedFlagUnexpected { attr: &'static str, offset: usize },
    /// Strict validation: an attribute the policy rejects (`NLA_REJECT`: the pad).
    Rejected { attr: &'static str, offset: usize },
    /// A required attribute is absent.
    MissingAttr { attr: &'static str },
    /// A command the family does not define, or not valid in this direction.
    UnknownCommand { cmd: u8 },
    /// A message type this peer does not serve.
    UnknownFamily { id: u16 },
    /// A message longer than the parser can index (attribute offsets are u16).
    TooLarge { len: usize },
}

impl DecodeError {
    /// Byte offset of the offending attribute within the attribute payload, if known.
    pub fn offset(&self) -> Option<usize> {
        match *self {
            DecodeError::AttrOverrun { offset }
            | DecodeError::AttrLength { offset, .. }
            | DecodeError::AttrLengthRange { offset, .. }
            | DecodeError::OutOfRange { offset, .. }
            | DecodeError::NotNulTerminated { offset, .. }
            | DecodeError::BadUtf8 { offset, .. }
            | DecodeError::BadNest { offset, .. }
            | DecodeError::NestTooDeep { offset }
            | DecodeError::UnknownAttr { offset, .. }
            | DecodeError::NestedFlagMissing { offset, .. }
            | DecodeError::NestedFlagUnexpected { offset, .. }
            | DecodeError::Rejected { offset, .. } => Some(offset),
            _ => None,
        }
    }

    /// The errno the kernel would answer with.
    pub fn errno(&self) -> i32 {
        match self {
            DecodeError::UnknownCommand { .. } => libc::EOPNOTSUPP,
            DecodeError::UnknownFamily { .. } => libc::ENOENT,
            DecodeError::TooLarge { .. } => libc::EMSGSIZE,
            DecodeError::OutOfRange { .. } => libc::ERANGE,
            _ => libc::EINVAL,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::Truncated { what, need, have } => {
                write!(f, "truncated {what}: need {need} bytes, have {have}")
            }
            DecodeError::BadMessageLength { len, have } => {
                write!(f, "message length {len} invalid for a {have}-byte datagram")
            }
            DecodeError::AttrOverrun { offset } => {
                write!(f, "attribute at offset {offset} overruns its container")
            }
            DecodeError::AttrLength {
                attr,
                len,
                expected,
                ..
            } => {
                write!(f, "attribute {attr}: length {len}, expected {expected}")
            }
            DecodeError::AttrLengthRange {
                attr,
                len,
                min,
                max,
                ..
            } => {
                write!(f, "attribute {attr}: length {len} outside {min}..={max}")
            }
            DecodeError::OutOfRange {
                attr,
                value,
                min,
                max,
                ..
            } => {
                write!(f, "attribute {attr}: value {value} outside {min}..={max}")
            }
            DecodeError::NotNulTerminated { attr, .. } => {
                write!(
                    f,
                    "attribute {attr}: string not NUL-terminated within bounds"
                )
            }
            DecodeError::BadUtf8 { attr, .. } => write!(f, "attribute {attr}: not UTF-8"),
            DecodeError::BadNest { attr, .. } => {
                write!(f, "attribute {attr}: malformed nested attributes")
            }
            DecodeError::NestTooDeep { offset } => {
                write!(f, "attributes nested too deep at offset {offset}")
            }
            // The kernel's extack messages, word for word.
            DecodeError::UnknownAttr { .. } => f.write_str("Unknown attribute type"),
            DecodeError::NestedFlagMissing { .. } => f.write_str("NLA_F_NESTED is missing"),
            DecodeError::NestedFlagUnexpected { .. } => f.write_str("NLA_F_NESTED not expected"),
            DecodeError::Rejected { .. } => f.write_str("Attribute failed policy validation"),
            DecodeError::MissingAttr { attr } => write!(f, "missing attribute: {attr}"),
            DecodeError::UnknownCommand { cmd } => write!(f, "unknown command {cmd}"),
            DecodeError::UnknownFamily { id } => write!(f, "unknown family id {id}"),
            DecodeError::TooLarge { len } => write!(f, "message of {len} bytes is too large"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// An error reported by the peer (kernel or twin) in an NLMSG_ERROR, with its extack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerError {
    /// Positive errno.
    pub errno: i32,
    /// The extack message, if any.
    pub message: Option<String>,
    /// The extack offset into the request, if any.
    pub offset: Option<u32>,
    /// The attribute the peer said is missing (NLMSGERR_ATTR_MISS_TYPE), if any.
    pub missing_attr: Option<u32>,
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = std::io::Error::from_raw_os_error(self.errno);
        match &self.message {
            Some(m) => write!(f, "{m} ({e})")?,
            None => write!(f, "{e}")?,
        }
        if let Some(a) = self.missing_attr {
            write!(f, " [missing attribute id {a}]")?;
        }
        Ok(())
    }
}

/// Errors of sockets and request/response exchanges.
#[derive(Debug, thiserror::Error)]
pub enum NlError {
    #[error("netlink socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed message: {0}")]
    Decode(#[from] DecodeError),
    #[error("{0}")]
    Peer(PeerError),
    /// The socket's receive queue overflowed (ENOBUFS): messages were lost, the caller
    /// must resynchronise its state by a dump.
    #[error("receive queue overflowed: messages lost, resync by dump")]
    Overrun,
    /// A dump was interrupted by a concurrent change (NLM_F_DUMP_INTR): retry it.
    #[error("dump interrupted by a concurrent change; retry")]
    DumpInterrupted,
    #[error("generic netlink family {0:?} not found")]
    FamilyNotFound(String),
    #[error("no answer from port {port} within {ms} ms")]
    Timeout { port: u32, ms: u64 },
    #[error("unexpected message: {0}")]
    Unexpected(&'static str),
}

impl NlError {
    /// The errno of a peer error, if it is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NlError::Peer(p) => Some(p.errno),
            _ => None,
        }
    }
}
