//! Zero-copy views over netlink bytes and builders that write into a reused buffer.
//!
//! Parsing is two-phase, as in rust-netlink's `*Buffer` types: lengths are checked first
//! (`Messages`, `AttrIter`, `AttrTable::parse`), then typed getters read at known offsets
//! with no further checks to fail. Nothing here allocates.

use crate::error::DecodeError;
use crate::policy::{AttrKind, AttrPolicy, Policy};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// `struct nlmsghdr`, native endian, read in place.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct NlMsgHdr {
    pub len: u32,
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
}

/// `struct genlmsghdr`.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct GenlMsgHdr {
    pub cmd: u8,
    pub version: u8,
    pub reserved: [u8; 2],
}

/// `struct nlattr`.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct NlAttrHdr {
    pub len: u16,
    pub kind: u16,
}

pub const NLMSG_HDRLEN: usize = 16;
pub const GENL_HDRLEN: usize = 4;
pub const NLA_HDRLEN: usize = 4;
pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP_INTR: u16 = 0x10;
pub const NLM_F_ROOT: u16 = 0x100;
pub const NLM_F_MATCH: u16 = 0x200;
pub const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
/// In an NLMSG_ERROR: the original request was not echoed back (NETLINK_CAP_ACK).
pub const NLM_F_CAPPED: u16 = 0x100;
/// In an NLMSG_ERROR: extack TLVs follow.
pub const NLM_F_ACK_TLVS: u16 = 0x200;
pub const NLA_F_NESTED: u16 = 0x8000;
pub const NLA_F_NET_BYTEORDER: u16 = 0x4000;
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);
pub const NLMSGERR_ATTR_MSG: u16 = 1;
pub const NLMSGERR_ATTR_OFFS: u16 = 2;
pub const NLMSGERR_ATTR_MISS_TYPE: u16 = 5;
/// Deepest nesting accepted (the kernel's MAX_POLICY_RECURSION_DEPTH is 10).
pub const MAX_NEST_DEPTH: usize = 10;

/// Round up to the 4-byte netlink alignment.
#[inline]
pub const fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// One netlink message inside a datagram.
#[derive(Debug, Clone, Copy)]
pub struct NlMsg<'a> {
    pub header: &'a NlMsgHdr,
    /// Bytes after the nlmsghdr, up to `nlmsg_len`.
    pub payload: &'a [u8],
}

/// Iterator over the messages of one datagram. Stops after the first malformed header.
pub struct Messages<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Messages<'a> {
    pub fn new(datagram: &'a [u8]) -> Self {
        Messages {
            rest: datagram,
            failed: false,
        }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<NlMsg<'a>, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        let have = self.rest.len();
        let Ok((header, _)) = NlMsgHdr::ref_from_prefix(self.rest) else {
            self.failed = true;
            return Some(Err(DecodeError::Truncated {
                what: "nlmsghdr",
                need: NLMSG_HDRLEN,
                have,
            }));
        };
        let len = header.len as usize;
        if len < NLMSG_HDRLEN || len > have {
            self.failed = true;
            return Some(Err(DecodeError::BadMessageLength {
                len: header.len,
                have,
            }));
        }
        let payload = &self.rest[NLMSG_HDRLEN..len];
        self.rest = &self.rest[align(len).min(have)..];
        Some(Ok(NlMsg { header, payload }))
    }
}

/// A generic netlink message: the genl header and its attribute bytes.
#[derive(Debug, Clone, Copy)]
pub struct GenlMsg<'a> {
    pub header: &'a NlMsgHdr,
    pub genl: &'a GenlMsgHdr,
    pub attrs: &'a [u8],
}

impl<'a> GenlMsg<'a> {
    /// View a netlink message as generic netlink.
    #[inline]
    pub fn parse(msg: NlMsg<'a>) -> Result<Self, DecodeError> {
        let Ok((genl, attrs)) = GenlMsgHdr::ref_from_prefix(msg.payload) else {
            return Err(DecodeError::Truncated {
                what: "genlmsghdr",
                need: GENL_HDRLEN,
                have: msg.payload.len(),
            });
        };
        Ok(GenlMsg {
            header: msg.header,
            genl,
            attrs,
        })
    }

    pub fn cmd(&self) -> u8 {
        self.genl.cmd
    }
}

/// An NLMSG_ERROR payload: errno (0 = ACK) and the extack TLVs.
#[derive(Debug, Clone, Copy)]
pub struct ErrorMsg<'a> {
    /// Negative errno as sent, 0 for an ACK.
    pub error: i32,
    /// The header of the request this answers.
    pub request: &'a NlMsgHdr,
    pub message: Option<&'a str>,
    pub offset: Option<u32>,
    pub missing_attr: Option<u32>,
}

impl<'a> ErrorMsg<'a> {
    pub fn parse(msg: NlMsg<'a>) -> Result<Self, DecodeError> {
        let p = msg.payload;
        if p.len() < 4 + NLMSG_HDRLEN {
            return Err(DecodeError::Truncated {
                what: "nlmsgerr",
                need: 20,
                have: p.len(),
            });
        }
        let error = i32::from_ne_bytes(p[0..4].try_into().unwrap());
        let (request, _) = NlMsgHdr::ref_from_prefix(&p[4..]).unwrap();
        let mut out = ErrorMsg {
            error,
            request,
            message: None,
            offset: None,
            missing_attr: None,
        };
        if msg.header.flags & NLM_F_ACK_TLVS == 0 {
            return Ok(out);
        }
        // Without NETLINK_CAP_ACK an error echoes the whole request before the TLVs.
        let echoed = if msg.header.flags & NLM_F_CAPPED != 0 || error == 0 {
            NLMSG_HDRLEN
        } else {
            align(request.len as usize)
        };
        let tlvs = p.get(4 + echoed..).unwrap_or(&[]);
        for a in AttrIter::new(tlvs) {
            let a = a?;
            match a.kind {
                NLMSGERR_ATTR_MSG => {
                    let s = a.payload.split(|b| *b == 0).next().unwrap_or(&[]);
                    out.message = std::str::from_utf8(s).ok();
                }
                NLMSGERR_ATTR_OFFS if a.payload.len() == 4 => out.offset = Some(a.u32()),
                NLMSGERR_ATTR_MISS_TYPE if a.payload.len() == 4 => out.missing_attr = Some(a.u32()),
                _ => {}
            }
        }
        Ok(out)
    }
}

/// One attribute, unvalidated beyond its header.
#[derive(Debug, Clone, Copy)]
pub struct Attr<'a> {
    /// Attribute id without the NESTED / NET_BYTEORDER flags.
    pub kind: u16,
    pub nested_flag: bool,
    pub payload: &'a [u8],
    /// Offset of the attribute header within the buffer it was iterated from.
    pub offset: usize,
}

impl<'a> Attr<'a> {
    // Getters read fixed sizes after `AttrTable::parse` (or the caller) checked them; a
    // short payload reads as zero-extended rather than panicking.
    #[inline]
    fn fixed<const N: usize>(&self) -> [u8; N] {
        // The validated case: exactly N bytes, one load.
        if let Ok(b) = <[u8; N]>::try_from(self.payload) {
            return b;
        }
        let mut b = [0u8; N];
        let n = self.payload.len().min(N);
        b[..n].copy_from_slice(&self.payload[..n]);
        b
    }
    #[inline]
    pub fn u8(&self) -> u8 {
        self.fixed::<1>()[0]
    }
    #[inline]
    pub fn u16(&self) -> u16 {
        u16::from_ne_bytes(self.fixed())
    }
    #[inline]
    pub fn u32(&self) -> u32 {
        u32::from_ne_bytes(self.fixed())
    }
    #[inline]
    pub fn u64(&self) -> u64 {
        u64::from_ne_bytes(self.fixed())
    }
    #[inline]
    pub fn i32(&self) -> i32 {
        i32::from_ne_bytes(self.fixed())
    }
    /// The string up to its NUL (lossy-free: invalid UTF-8 gives "").
    #[inline(always)]
    pub fn str(&self) -> &'a str {
        match plain_ascii(self.payload) {
            Some(text) => text,
            None => exact_str(self.payload),
        }
    }
    /// Attributes inside this nest.
    pub fn nested(&self) -> AttrIter<'a> {
        AttrIter::new(self.payload)
    }
}

/// Iterator over attributes of a buffer. Stops after the first overrun.
#[derive(Clone)]
pub struct AttrIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> AttrIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        AttrIter { buf, pos: 0 }
    }

    /// The next attribute, or `None` at the end or at an overrun; `overrun()` tells them
    /// apart. The hot loops use this: an `Attr` is returned in registers, where the
    /// iterator's `Option<Result<Attr, DecodeError>>` goes through memory.
    #[inline(always)]
    pub fn next_attr(&mut self) -> Option<Attr<'a>> {
        let offset = self.pos;
        let h: [u8; NLA_HDRLEN] = self
            .buf
            .get(offset..offset + NLA_HDRLEN)?
            .try_into()
            .unwrap();
        let len = u16::from_ne_bytes([h[0], h[1]]) as usize;
        let kind = u16::from_ne_bytes([h[2], h[3]]);
        let payload = self.buf.get(offset + NLA_HDRLEN..offset + len)?;
        self.pos = offset + align(len);
        Some(Attr {
            kind: kind & NLA_TYPE_MASK,
            nested_flag: kind & NLA_F_NESTED != 0,
            payload,
            offset,
        })
    }

    /// After `next_attr` returned `None`: the offset of a malformed attribute header, or
    /// `None` if the buffer ended cleanly.
    #[inline]
    pub fn overrun(&self) -> Option<usize> {
        (self.pos < self.buf.len()).then_some(self.pos)
    }
}

impl<'a> Iterator for AttrIter<'a> {
    type Item = Result<Attr<'a>, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(a) = self.next_attr() {
            return Some(Ok(a));
        }
        let offset = self.overrun()?;
        self.pos = self.buf.len();
        Some(Err(DecodeError::AttrOverrun { offset }))
    }
}

const LO: u64 = u64::from_ne_bytes([0x01; 8]);
const HI: u64 = u64::from_ne_bytes([0x80; 8]);

/// The bytes of `s` before its first NUL (all of `s` without one), and whether they are
/// all ASCII. Protocol strings (netids, addresses, lock table names) are short ASCII, so
/// both questions are answered in one pass, a word at a time.
#[inline]
fn until_nul(s: &[u8]) -> (&[u8], bool) {
    let mut high = 0u64;
    let mut i = 0;
    while let Some(c) = s.get(i..i + 8) {
        let w = u64::from_le_bytes(c.try_into().unwrap());
        if let Some(n) = first_zero(w) {
            return (&s[..i + n], (high | (w & below(n))) & HI == 0);
        }
        high |= w;
        i += 8;
    }
    let w = tail_word(&s[i..]);
    match first_zero(w) {
        Some(n) => (&s[..i + n], (high | (w & below(n))) & HI == 0),
        None => (s, (high | w) & HI == 0),
    }
}

/// `payload` as text when it is the common protocol string: bytes 1..=0x7f, then one NUL
/// as the last byte. A few word operations; anything else (an earlier NUL, non-ASCII text,
/// no NUL) is `None` and goes the exact way (`until_nul`).
#[inline(always)]
fn plain_ascii(payload: &[u8]) -> Option<&str> {
    let (&0, text) = payload.split_last()? else {
        return None;
    };
    // Per byte b of a word, (b - 1) | b has its high bit set iff b is 0 or above 0x7f (a
    // borrow only leaves a byte that is 0, which is flagged already).
    let flag = |w: u64| w.wrapping_sub(LO) | w;
    let n = text.len();
    let bad = if n >= 8 {
        let word = |i: usize| u64::from_le_bytes(text[i..i + 8].try_into().unwrap());
        let mut acc = 0u64;
        let mut i = 0;
        while i + 8 < n {
            acc |= flag(word(i));
            i += 8;
        }
        // The last (possibly overlapping) word.
        acc | flag(word(n - 8))
    } else if n >= 4 {
        // Two (possibly overlapping) 4-byte loads in one word.
        let half = |i: usize| u32::from_le_bytes(text[i..i + 4].try_into().unwrap()) as u64;
        flag(half(0) | half(n - 4) << 32)
    } else {
        flag(tail_word(text))
    };
    // SAFETY: every byte is ASCII, which is valid UTF-8.
    (bad & HI == 0).then(|| unsafe { std::str::from_utf8_unchecked(text) })
}

/// The string of `payload` up to its first NUL, or "" if that is not UTF-8: the way of
/// strings `plain_ascii` does not take.
#[cold]
#[inline(never)]
fn exact_str(payload: &[u8]) -> &str {
    let (text, ascii) = until_nul(payload);
    if ascii {
        // SAFETY: ASCII is valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(text) }
    } else {
        std::str::from_utf8(text).unwrap_or("")
    }
}

/// Up to 7 bytes as a little-endian word, padded with 0x01 (not NUL, and ASCII), in at
/// most three loads and without a call to memcpy.
#[inline(always)]
fn tail_word(t: &[u8]) -> u64 {
    let mut w = LO;
    let mut i = 0;
    if let Some(c) = t.get(..4) {
        w = (w & !0xffff_ffff) | u32::from_le_bytes(c.try_into().unwrap()) as u64;
        i = 4;
    }
    if let Some(c) = t.get(i..i + 2) {
        w = (w & !(0xffff << (i * 8)))
            | (u16::from_le_bytes(c.try_into().unwrap()) as u64) << (i * 8);
        i += 2;
    }
    if let Some(&c) = t.get(i) {
        w = (w & !(0xff << (i * 8))) | (c as u64) << (i * 8);
    }
    w
}

/// Index of the first zero byte of little-endian word `w`. The lowest flagged byte is
/// exactly the first zero (flags above it may be false positives from the borrow).
#[inline(always)]
fn first_zero(w: u64) -> Option<usize> {
    let zero = w.wrapping_sub(LO) & !w & HI;
    (zero != 0).then(|| (zero.trailing_zeros() / 8) as usize)
}

/// Mask of the `n` lowest bytes of a word (`n` < 8).
#[inline(always)]
fn below(n: usize) -> u64 {
    (1u64 << (n * 8)).wrapping_sub(1)
}

/// Check one attribute against its policy (and, for a nest, everything inside).
#[inline(always)]
fn validate(
    a: &Attr<'_>,
    p: &AttrPolicy,
    base: usize,
    depth: usize,
    strict: bool,
) -> Result<(), DecodeError> {
    let offset = base + a.offset;
    if strict {
        let attr = p.name;
        match (p.kind, a.nested_flag) {
            (AttrKind::Pad, _) => return Err(DecodeError::Rejected { attr, offset }),
            (AttrKind::Nest, false) => return Err(DecodeError::NestedFlagMissing { attr, offset }),
            (AttrKind::Nest, true) => {}
            (_, true) => return Err(DecodeError::NestedFlagUnexpected { attr, offset }),
            _ => {}
        }
    }
    let len = a.payload.len();
    if let Some(expected) = p.fixed_len() {
        if len != expected {
            return Err(DecodeError::AttrLength {
                attr: p.name,
                offset,
                len,
                expected,
            });
        }
        if p.min.is_some() || p.max.is_some() {
            let value = match p.kind {
                AttrKind::U8 => a.u8() as u64,
                AttrKind::U16 => a.u16() as u64,
                AttrKind::U32 => a.u32() as u64,
                _ => a.u64(),
            };
            let (min, max) = (p.min.unwrap_or(0), p.max.unwrap_or(u64::MAX));
            if value < min || value > max {
                return Err(DecodeError::OutOfRange {
                    attr: p.name,
                    offset,
                    value,
                    min,
                    max,
                });
            }
        }
        return Ok(());
    }
    match p.kind {
        AttrKind::String => {
            if let Some(text) = plain_ascii(a.payload) {
                if p.max_len == 0 || text.len() as u64 <= p.max_len {
                    return Ok(());
                }
            }
            validate_string(a, p, offset)?;
        }
        AttrKind::Binary => {
            let max = if p.max_len > 0 {
                p.max_len
            } else {
                u16::MAX as u64
            };
            if (len as u64) < p.min_len || len as u64 > max {
                return Err(DecodeError::AttrLengthRange {
                    attr: p.name,
                    offset,
                    len,
                    min: p.min_len,
                    max,
                });
            }
        }
        AttrKind::Nest => validate_nest(a, p, offset, depth, strict)?,
        _ => {}
    }
    Ok(())
}

/// The exact check of a string attribute (kernel NLA_NUL_STRING semantics, UTF-8), for the
/// strings `plain_ascii` does not accept.
#[cold]
#[inline(never)]
fn validate_string(a: &Attr<'_>, p: &AttrPolicy, offset: usize) -> Result<(), DecodeError> {
    let len = a.payload.len();
    // As the kernel's NLA_NUL_STRING with `.len`: the payload, less one trailing
    // NUL, may not exceed max_len, even when an earlier NUL ends the string.
    let text_len = len - usize::from(a.payload.last() == Some(&0));
    if p.max_len > 0 && text_len as u64 > p.max_len {
        return Err(DecodeError::AttrLengthRange {
            attr: p.name,
            offset,
            len,
            min: 0,
            max: p.max_len,
        });
    }
    let limit = if p.max_len > 0 {
        (p.max_len as usize + 1).min(len)
    } else {
        len
    };
    let (text, ascii) = until_nul(&a.payload[..limit]);
    if text.len() == limit {
        return Err(DecodeError::NotNulTerminated {
            attr: p.name,
            offset,
        });
    }
    if !ascii && std::str::from_utf8(text).is_err() {
        return Err(DecodeError::BadUtf8 {
            attr: p.name,
            offset,
        });
    }
    Ok(())
}

/// The attributes inside nest `a` (at `offset`), against the nest's policy. Out of line,
/// so that `validate` (of the common scalar and string cases) inlines into the loops.
fn validate_nest(
    a: &Attr<'_>,
    p: &AttrPolicy,
    offset: usize,
    depth: usize,
    strict: bool,
) -> Result<(), DecodeError> {
    if depth >= MAX_NEST_DEPTH {
        return Err(DecodeError::NestTooDeep { offset });
    }
    let inner_base = offset + NLA_HDRLEN;
    let mut it = a.nested();
    loop {
        let Some(inner) = it.next_attr() else {
            return match it.overrun() {
                None => Ok(()),
                Some(_) => Err(DecodeError::BadNest {
                    attr: p.name,
                    offset,
                }),
            };
        };
        match p.nested.and_then(|np| np.get(inner.kind)) {
            Some(ip) => validate(&inner, ip, inner_base, depth + 1, strict)?,
            None if strict => {
                return Err(DecodeError::UnknownAttr {
                    kind: inner.kind,
                    offset: inner_base + inner.offset,
                })
            }
            // Unknown attributes inside a nest are skipped, but a nest of unknown shape
            // still may not hide a depth bomb.
            None if inner.nested_flag => check_depth(
                inner.payload,
                inner_base + inner.offset + NLA_HDRLEN,
                depth + 1,
            )?,
            None => {}
        }
    }
}

/// Walk nests of unknown attributes only to bound their depth.
fn check_depth(buf: &[u8], base: usize, depth: usize) -> Result<(), DecodeError> {
    if depth >= MAX_NEST_DEPTH {
        return Err(DecodeError::NestTooDeep { offset: base });
    }
    for a in AttrIter::new(buf) {
        let Ok(a) = a else { return Ok(()) };
        if a.nested_flag {
            check_depth(a.payload, base + a.offset + NLA_HDRLEN, depth + 1)?;
        }
    }
    Ok(())
}

/// Attributes of one message, validated against a policy and indexed by id, like the
/// kernel's `nla_parse` into `info->attrs`. `N` must exceed the policy's highest id
/// (`attr::MAX as usize + 1`). Slots hold offsets, so the table is small and `Copy`.
#[derive(Clone, Copy)]
pub struct AttrTable<'a, const N: usize> {
    buf: &'a [u8],
    /// Offset of the attribute header + 1; 0 = absent. The payload length is read back
    /// from the header, which keeps the table (zeroed and returned per message) small.
    slots: [u16; N],
    policy: &'static Policy,
    /// Attributes with ids the policy does not know (kept, skipped).
    pub unknown: u16,
}

impl<'a, const N: usize> AttrTable<'a, N> {
    /// Validate every attribute of `buf` and index them. The last of a repeated
    /// single-valued attribute wins (as in the kernel); a multi-attr slot holds the first,
    /// and `all()` walks every occurrence.
    #[inline]
    pub fn parse(buf: &'a [u8], policy: &'static Policy) -> Result<Self, DecodeError> {
        Self::parse_with(buf, policy, false)
    }

    /// As [`AttrTable::parse`], with the kernel's strict validation of new genetlink
    /// commands (`NL_VALIDATE_STRICT`): an attribute id the policy does not define, a pad
    /// attribute, or a nest without `NLA_F_NESTED` is an error instead of being skipped.
    /// The kernel half (module and twin) parses requests this way.
    #[inline]
    pub fn parse_strict(buf: &'a [u8], policy: &'static Policy) -> Result<Self, DecodeError> {
        Self::parse_with(buf, policy, true)
    }

    #[inline]
    fn parse_with(
        buf: &'a [u8],
        policy: &'static Policy,
        strict: bool,
    ) -> Result<Self, DecodeError> {
        if buf.len() > u16::MAX as usize {
            return Err(DecodeError::TooLarge { len: buf.len() });
        }
        debug_assert!(N > policy.max() as usize);
        let mut t = AttrTable {
            buf,
            slots: [0; N],
            policy,
            unknown: 0,
        };
        let mut it = AttrIter::new(buf);
        loop {
            let Some(a) = it.next_attr() else {
                return match it.overrun() {
                    None => Ok(t),
                    Some(offset) => Err(DecodeError::AttrOverrun { offset }),
                };
            };
            let id = a.kind as usize;
            match policy.get(a.kind) {
                Some(p) if p.kind == AttrKind::Pad && !strict => {}
                Some(p) if id < N => {
                    validate(&a, p, 0, 0, strict)?;
                    if !(p.multi && t.slots[id] != 0) {
                        t.slots[id] = a.offset as u16 + 1;
                    }
                }
                _ if strict => {
                    return Err(DecodeError::UnknownAttr {
                        kind: a.kind,
                        offset: a.offset,
                    })
                }
                _ => {
                    if a.nested_flag {
                        check_depth(a.payload, a.offset + NLA_HDRLEN, 1)?;
                    }
                    t.unknown += 1
                }
            }
        }
    }

    /// The attribute `id`, if present.
    #[inline(always)]
    pub fn get(&self, id: u16) -> Option<Attr<'a>> {
        let off = *self.slots.get(id as usize)?;
        if off == 0 {
            return None;
        }
        let start = off as usize - 1;
        // The header was checked by `parse` (or `nest`); its length is re-read here.
        let at = &self.buf[start..];
        let len = u16::from_ne_bytes([at[0], at[1]]) as usize;
        Some(Attr {
            kind: id,
            nested_flag: false,
            payload: &at[NLA_HDRLEN..len],
            offset: start,
        })
    }

    #[inline]
    pub fn has(&self, id: u16) -> bool {
        self.slots.get(id as usize).is_some_and(|s| *s != 0)
    }

    /// The attribute `id`, or a MissingAttr error naming it.
    #[inline(always)]
    pub fn require(&self, id: u16) -> Result<Attr<'a>, DecodeError> {
        // Lazily: naming the attribute costs a policy lookup the hit path must not pay.
        self.get(id).ok_or_else(|| DecodeError::MissingAttr {
            attr: self.policy.name(id),
        })
    }

    #[inline]
    pub fn u8(&self, id: u16) -> Option<u8> {
        self.get(id).map(|a| a.u8())
    }
    #[inline(always)]
    pub fn u32(&self, id: u16) -> Option<u32> {
        self.get(id).map(|a| a.u32())
    }
    #[inline]
    pub fn i32(&self, id: u16) -> Option<i32> {
        self.get(id).map(|a| a.i32())
    }
    #[inline(always)]
    pub fn u64(&self, id: u16) -> Option<u64> {
        self.get(id).map(|a| a.u64())
    }
    #[inline(always)]
    pub fn str(&self, id: u16) -> Option<&'a str> {
        self.get(id).map(|a| a.str())
    }
    #[inline]
    pub fn bytes(&self, id: u16) -> Option<&'a [u8]> {
        self.get(id).map(|a| a.payload)
    }
    /// A fixed-size binary attribute as an array reference (length checked by policy).
    #[inline]
    pub fn array<const M: usize>(&self, id: u16) -> Option<&'a [u8; M]> {
        self.get(id).and_then(|a| a.payload.try_into().ok())
    }
    #[inline(always)]
    pub fn req_u32(&self, id: u16) -> Result<u32, DecodeError> {
        self.require(id).map(|a| a.u32())
    }
    #[inline(always)]
    pub fn req_u64(&self, id: u16) -> Result<u64, DecodeError> {
        self.require(id).map(|a| a.u64())
    }
    #[inline(always)]
    pub fn req_str(&self, id: u16) -> Result<&'a str, DecodeError> {
        self.require(id).map(|a| a.str())
    }
    #[inline(always)]
    pub fn req_array<const M: usize>(&self, id: u16) -> Result<&'a [u8; M], DecodeError> {
        self.array(id).ok_or_else(|| DecodeError::MissingAttr {
            attr: self.policy.name(id),
        })
    }

    /// The attributes inside nest `a` (an attribute of this table), indexed by the nest's
    /// policy without validating them again: `parse` validated every nest it indexed,
    /// recursively. `None` if `a`'s id is not a nest in this table's policy.
    pub fn nest<const M: usize>(&self, a: &Attr<'a>) -> Option<AttrTable<'a, M>> {
        let policy = self.policy.get(a.kind)?.nested?;
        debug_assert!(M > policy.max() as usize);
        let mut t = AttrTable {
            buf: a.payload,
            slots: [0; M],
            policy,
            unknown: 0,
        };
        let mut it = AttrIter::new(a.payload);
        while let Some(inner) = it.next_attr() {
            let id = inner.kind as usize;
            match policy.get(inner.kind) {
                Some(p) if id < M && p.kind != AttrKind::Pad => {
                    if !(p.multi && t.slots[id] != 0) {
                        t.slots[id] = inner.offset as u16 + 1;
                    }
                }
                _ => t.unknown += 1,
            }
        }
        Some(t)
    }

    /// Every occurrence of `id` (multi-attr lists), validated already.
    pub fn all(&self, id: u16) -> impl Iterator<Item = Attr<'a>> + 'a {
        let mut it = AttrIter::new(self.buf);
        std::iter::from_fn(move || loop {
            let a = it.next_attr()?;
            if a.kind == id {
                return Some(a);
            }
        })
    }

    /// The raw attribute bytes.
    pub fn raw(&self) -> &'a [u8] {
        self.buf
    }
}

/// The headers of a generic netlink message to build: `nlmsghdr` (less its length) and
/// `genlmsghdr`. Named fields where `MsgBuilder::genl` takes seven positional ones:
///
/// ```
/// # use pnfs_netlink::codec::{GenlHeader, NLM_F_REQUEST, NLM_F_ACK};
/// let mut buf = Vec::new();
/// let mut b = GenlHeader::new(0x20, 3).flags(NLM_F_REQUEST | NLM_F_ACK).seq(7).start(&mut buf);
/// b.put_u32(1, 42);
/// assert_eq!(b.finish(), buf.len());
/// ```
///
/// Each operation's generated module has `header(family)` (its command and the family's
/// version) to start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenlHeader {
    /// The family id (`nlmsg_type`).
    pub family: u16,
    pub cmd: u8,
    /// The genl header's version (1 in both families).
    pub version: u8,
    pub flags: u16,
    pub seq: u32,
    /// `nlmsg_pid`: 0 to the kernel, the sender's own port or a reply's requester.
    pub pid: u32,
}

impl GenlHeader {
    /// Command `cmd` of `family`, version 1, no flags, seq 0, pid 0.
    #[inline]
    pub const fn new(family: u16, cmd: u8) -> Self {
        GenlHeader {
            family,
            cmd,
            version: 1,
            flags: 0,
            seq: 0,
            pid: 0,
        }
    }
    #[inline]
    pub const fn version(self, version: u8) -> Self {
        GenlHeader { version, ..self }
    }
    #[inline]
    pub const fn flags(self, flags: u16) -> Self {
        GenlHeader { flags, ..self }
    }
    #[inline]
    pub const fn seq(self, seq: u32) -> Self {
        GenlHeader { seq, ..self }
    }
    #[inline]
    pub const fn pid(self, pid: u32) -> Self {
        GenlHeader { pid, ..self }
    }
    /// Start the message at the end of `buf`.
    #[inline]
    pub fn start<'b>(&self, buf: &'b mut Vec<u8>) -> MsgBuilder<'b> {
        MsgBuilder::start_genl(buf, self)
    }
}

/// Writes netlink messages into a caller-owned buffer (reused: no allocation once its
/// capacity suffices). Several messages may be appended to one buffer and sent as one
/// datagram.
pub struct MsgBuilder<'b> {
    buf: &'b mut Vec<u8>,
    start: usize,
}

/// A nest under construction: pass it back to `nest_end`.
#[must_use]
pub struct Nest(usize);

impl<'b> MsgBuilder<'b> {
    /// Start a message at the end of `buf`.
    #[inline]
    pub fn new(buf: &'b mut Vec<u8>, kind: u16, flags: u16, seq: u32, pid: u32) -> Self {
        let start = buf.len();
        let h = NlMsgHdr {
            len: 0,
            kind,
            flags,
            seq,
            pid,
        };
        buf.extend_from_slice(h.as_bytes());
        MsgBuilder { buf, start }
    }

    /// Start a generic netlink message with the headers `h`.
    #[inline]
    pub fn start_genl(buf: &'b mut Vec<u8>, h: &GenlHeader) -> Self {
        let b = Self::new(buf, h.family, h.flags, h.seq, h.pid);
        b.buf.extend_from_slice(&[h.cmd, h.version, 0, 0]);
        b
    }

    /// Start a generic netlink message (positional form of [`MsgBuilder::start_genl`],
    /// kept for its callers).
    #[inline]
    pub fn genl(
        buf: &'b mut Vec<u8>,
        family: u16,
        flags: u16,
        seq: u32,
        pid: u32,
        cmd: u8,
        version: u8,
    ) -> Self {
        let b = Self::new(buf, family, flags, seq, pid);
        b.buf.extend_from_slice(&[cmd, version, 0, 0]);
        b
    }

    #[inline]
    fn put_raw(&mut self, kind: u16, parts: &[&[u8]]) -> &mut Self {
        let len = NLA_HDRLEN + parts.iter().map(|p| p.len()).sum::<usize>();
        self.buf.extend_from_slice(
            NlAttrHdr {
                len: len as u16,
                kind,
            }
            .as_bytes(),
        );
        for p in parts {
            self.buf.extend_from_slice(p);
        }
        let pad = align(len) - len;
        self.buf.extend_from_slice(&[0u8; 3][..pad]);
        self
    }

    #[inline]
    pub fn put_u8(&mut self, kind: u16, v: u8) -> &mut Self {
        self.put_raw(kind, &[&[v]])
    }
    #[inline]
    pub fn put_u16(&mut self, kind: u16, v: u16) -> &mut Self {
        self.put_raw(kind, &[&v.to_ne_bytes()])
    }
    #[inline]
    pub fn put_u32(&mut self, kind: u16, v: u32) -> &mut Self {
        self.put_raw(kind, &[&v.to_ne_bytes()])
    }
    #[inline]
    pub fn put_i32(&mut self, kind: u16, v: i32) -> &mut Self {
        self.put_raw(kind, &[&v.to_ne_bytes()])
    }
    #[inline]
    pub fn put_u64(&mut self, kind: u16, v: u64) -> &mut Self {
        self.put_raw(kind, &[&v.to_ne_bytes()])
    }
    #[inline]
    pub fn put_bytes(&mut self, kind: u16, v: &[u8]) -> &mut Self {
        self.put_raw(kind, &[v])
    }
    /// A NUL-terminated string.
    #[inline]
    pub fn put_str(&mut self, kind: u16, v: &str) -> &mut Self {
        self.put_raw(kind, &[v.as_bytes(), &[0]])
    }
    #[inline]
    pub fn put_flag(&mut self, kind: u16) -> &mut Self {
        self.put_raw(kind, &[])
    }

    /// Open a nest (sets NLA_F_NESTED).
    #[inline]
    pub fn nest_begin(&mut self, kind: u16) -> Nest {
        let at = self.buf.len();
        self.buf.extend_from_slice(
            NlAttrHdr {
                len: 0,
                kind: kind | NLA_F_NESTED,
            }
            .as_bytes(),
        );
        Nest(at)
    }

    /// Close a nest.
    #[inline]
    pub fn nest_end(&mut self, nest: Nest) -> &mut Self {
        let len = (self.buf.len() - nest.0) as u16;
        self.buf[nest.0..nest.0 + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    /// Append raw bytes (already-encoded attributes).
    pub fn put_raw_attrs(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    /// Patch the length; returns the message's length.
    #[inline]
    pub fn finish(self) -> usize {
        let len = self.buf.len() - self.start;
        self.buf[self.start..self.start + 4].copy_from_slice(&(len as u32).to_ne_bytes());
        len
    }
}

/// Append an NLMSG_ERROR answering `request` (errno 0 = ACK), with extack TLVs, the
/// request capped (as with NETLINK_CAP_ACK).
pub fn put_error(
    buf: &mut Vec<u8>,
    request: &NlMsgHdr,
    errno: i32,
    message: Option<&str>,
    offset: Option<u32>,
    pid: u32,
) -> usize {
    let mut flags = NLM_F_CAPPED;
    if message.is_some() || offset.is_some() {
        flags |= NLM_F_ACK_TLVS;
    }
    let mut b = MsgBuilder::new(buf, NLMSG_ERROR, flags, request.seq, pid);
    b.buf.extend_from_slice(&(-errno).to_ne_bytes());
    b.buf.extend_from_slice(request.as_bytes());
    if let Some(m) = message {
        b.put_str(NLMSGERR_ATTR_MSG, m);
    }
    if let Some(o) = offset {
        b.put_u32(NLMSGERR_ATTR_OFFS, o);
    }
    b.finish()
}

/// Append an NLMSG_DONE closing a dump.
pub fn put_done(buf: &mut Vec<u8>, seq: u32, pid: u32) -> usize {
    let b = MsgBuilder::new(buf, NLMSG_DONE, NLM_F_MULTI, seq, pid);
    b.buf.extend_from_slice(&0i32.to_ne_bytes());
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::{plain_ascii, until_nul};
    use proptest::prelude::*;

    fn naive(s: &[u8]) -> (&[u8], bool) {
        let text = match s.iter().position(|b| *b == 0) {
            Some(n) => &s[..n],
            None => s,
        };
        (text, text.is_ascii())
    }

    #[test]
    fn until_nul_edges() {
        for s in [
            &b""[..],
            b"\0",
            b"tcp\0",
            b"10.0.0.1.8.1\0",
            b"exactly8",
            b"exactly8\0",
            b"\x80\0",
            b"abc\0\x80",
            b"abcdefg\x80\0",
            b"abcdefgh\x80\0",
            b"\x01\0\x01\x01\x01\x01\x01\x01",
            b"\x01\x01\x01\x01\x01\x01\x01\x00\x80",
        ] {
            assert_eq!(until_nul(s), naive(s), "{s:?}");
            assert_eq!(plain_ascii(s), naive_plain(s), "{s:?}");
        }
    }

    /// ASCII 1..=0x7f text then exactly one NUL, at the end.
    fn naive_plain(s: &[u8]) -> Option<&str> {
        let (&0, text) = s.split_last()? else {
            return None;
        };
        text.iter()
            .all(|b| (1..=0x7f).contains(b))
            .then(|| std::str::from_utf8(text).unwrap())
    }

    proptest! {
        #[test]
        fn until_nul_matches_naive(s in proptest::collection::vec(
            prop_oneof![Just(0u8), Just(1u8), Just(0x80u8), any::<u8>(), 0x20u8..0x7f],
            0..40,
        )) {
            prop_assert_eq!(until_nul(&s), naive(&s));
            prop_assert_eq!(plain_ascii(&s), naive_plain(&s));
        }
    }
}
