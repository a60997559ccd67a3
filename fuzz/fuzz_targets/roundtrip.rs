//! The input is a recipe: it picks a family, an op and a direction, then supplies the
//! value of every attribute of that list (fitted to the attribute's policy). The message
//! is built with `MsgBuilder`; it must parse back through `AttrTable` with every value
//! unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pnfs_netlink::codec::{Attr, MsgBuilder};
use pnfs_netlink::policy::{AttrKind, AttrPolicy, Family};
use pnfs_netlink::{gfs2ctl, pnfsd, AttrTable, GenlMsg, Messages};

struct Recipe<'a>(&'a [u8]);

impl Recipe<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self
            .0
            .split_first()
            .map(|(b, r)| (*b, r))
            .unwrap_or((0, &[]));
        self.0 = rest;
        b
    }
    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |acc, _| acc << 8 | self.byte() as u64)
    }
    fn take(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}

#[derive(Debug, PartialEq)]
enum Value {
    Int(u64),
    Str(String),
    Bytes(Vec<u8>),
    Flag,
    Nest(Vec<(u16, Value)>),
}

fn value(r: &mut Recipe<'_>, p: &'static AttrPolicy) -> Value {
    match p.kind {
        AttrKind::U8
        | AttrKind::U16
        | AttrKind::U32
        | AttrKind::U64
        | AttrKind::S32
        | AttrKind::S64 => {
            let width = p.fixed_len().unwrap();
            let top = if width == 8 {
                u64::MAX
            } else {
                (1 << (8 * width)) - 1
            };
            let (lo, hi) = (p.min.unwrap_or(0), p.max.unwrap_or(top).min(top));
            let span = hi - lo;
            let v = r.u64();
            Value::Int(if span == u64::MAX {
                v
            } else {
                lo + v % (span + 1)
            })
        }
        AttrKind::String => {
            let max = if p.max_len > 0 {
                p.max_len as usize
            } else {
                200
            };
            let n = r.byte() as usize % (max + 1);
            let mut s: String = r
                .take(n)
                .into_iter()
                .map(|b| if b == 0 { 'ä' } else { b as char })
                .collect();
            while s.len() > max {
                s.pop();
            }
            Value::Str(s)
        }
        AttrKind::Binary => {
            let max = if p.max_len > 0 {
                p.max_len as usize
            } else {
                300
            };
            let min = p.min_len as usize;
            let n = min + r.byte() as usize % (max - min + 1);
            Value::Bytes(r.take(n))
        }
        AttrKind::Flag => Value::Flag,
        AttrKind::Nest => {
            let inner = p.nested.unwrap();
            let mut v = Vec::new();
            for id in 1..=inner.max() {
                // A nest's pad attribute (e.g. pnfsd's refusals) carries no value.
                let ip = inner
                    .get(id)
                    .filter(|ip| !matches!(ip.kind, AttrKind::Pad | AttrKind::Unused));
                if let Some(ip) = ip {
                    if r.byte() & 1 == 1 {
                        v.push((id, value(r, ip)));
                    }
                }
            }
            Value::Nest(v)
        }
        AttrKind::Pad | AttrKind::Unused => unreachable!(),
    }
}

fn put(b: &mut MsgBuilder<'_>, id: u16, p: &AttrPolicy, v: &Value) {
    match v {
        Value::Int(x) => match p.fixed_len() {
            Some(1) => b.put_u8(id, *x as u8),
            Some(2) => b.put_u16(id, *x as u16),
            Some(4) => b.put_u32(id, *x as u32),
            _ => b.put_u64(id, *x),
        },
        Value::Str(s) => b.put_str(id, s),
        Value::Bytes(x) => b.put_bytes(id, x),
        Value::Flag => b.put_flag(id),
        Value::Nest(inner) => {
            let n = b.nest_begin(id);
            for (iid, iv) in inner {
                put(b, *iid, p.nested.unwrap().get(*iid).unwrap(), iv);
            }
            b.nest_end(n)
        }
    };
}

fn read(a: &Attr<'_>, p: &'static AttrPolicy) -> Value {
    match p.kind {
        AttrKind::U8 => Value::Int(a.u8() as u64),
        AttrKind::U16 => Value::Int(a.u16() as u64),
        AttrKind::U32 | AttrKind::S32 => Value::Int(a.u32() as u64),
        AttrKind::U64 | AttrKind::S64 => Value::Int(a.u64()),
        AttrKind::String => Value::Str(a.str().to_string()),
        AttrKind::Binary => Value::Bytes(a.payload.to_vec()),
        AttrKind::Flag => Value::Flag,
        AttrKind::Nest => {
            let inner = p.nested.unwrap();
            let t: AttrTable<'_, 16> = AttrTable::parse(a.payload, inner).expect("nest parses");
            (1..=inner.max())
                .filter_map(|id| Some((id, read(&t.get(id)?, inner.get(id)?))))
                .collect::<Vec<_>>()
                .pipe(Value::Nest)
        }
        AttrKind::Pad | AttrKind::Unused => unreachable!(),
    }
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl<T> Pipe for T {}

fn run<const N: usize>(family: &'static Family, r: &mut Recipe<'_>) {
    let op = &family.ops[r.byte() as usize % family.ops.len()];
    let ids = if r.byte() & 1 == 0 {
        op.request
    } else {
        op.reply
    };
    let mut fields = Vec::new();
    for &id in ids {
        let p = family.policy.get(id).unwrap();
        let n = if p.multi { r.byte() as usize % 4 } else { 1 };
        fields.push((id, p, (0..n).map(|_| value(r, p)).collect::<Vec<_>>()));
    }
    let mut buf = Vec::new();
    let mut b = MsgBuilder::genl(&mut buf, 0x20, 0, 1, 2, op.cmd, family.version);
    for (id, p, vs) in &fields {
        for v in vs {
            put(&mut b, *id, p, v);
        }
    }
    b.finish();
    let m = Messages::new(&buf).next().unwrap().unwrap();
    let g = GenlMsg::parse(m).unwrap();
    assert_eq!(g.cmd(), op.cmd);
    let t: AttrTable<'_, N> = AttrTable::parse(g.attrs, family.policy).unwrap();
    assert_eq!(t.unknown, 0);
    for (id, p, vs) in &fields {
        let got: Vec<Value> = t.all(*id).map(|a| read(&a, p)).collect();
        assert_eq!(&got, vs, "{}", p.name);
        if let Some(first) = vs.first() {
            assert_eq!(
                &read(&t.get(*id).unwrap(), p),
                if p.multi { first } else { vs.last().unwrap() }
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut r = Recipe(data);
    if r.byte() & 1 == 0 {
        run::<{ pnfsd::attr::MAX as usize + 1 }>(&pnfsd::FAMILY, &mut r);
    } else {
        run::<{ gfs2ctl::attr::MAX as usize + 1 }>(&gfs2ctl::FAMILY, &mut r);
    }
});
