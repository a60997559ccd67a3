//! Property round trips driven by the generated op tables: for every op of both families
//! and each of its attribute lists (request and reply), values that fit each attribute's
//! policy are built with `MsgBuilder` and must parse back unchanged through `Messages`,
//! `GenlMsg` and `AttrTable`. And no byte string makes a parser panic.

use pnfs_netlink::codec::{ErrorMsg, GenlMsg, Messages, MsgBuilder, NLMSG_ERROR};
use pnfs_netlink::policy::{AttrKind, AttrPolicy, Family, Policy};
use pnfs_netlink::{gfs2ctl, pnfsd, AttrTable, FamilyInfo};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// A value that fits an attribute's policy.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    /// Integer and its width in bytes.
    Int(u64, usize),
    S32(i32),
    Str(String),
    Bytes(Vec<u8>),
    Flag,
    /// The present attributes of a nest, each (id, value).
    Nest(Vec<(u16, Value)>),
}

/// One attribute of a message: a single value, or a multi-attr list.
#[derive(Debug, Clone)]
struct Field {
    id: u16,
    values: Vec<Value>,
    multi: bool,
}

fn int_range(p: &AttrPolicy, width: usize) -> (u64, u64) {
    let top = if width == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * width)) - 1
    };
    (p.min.unwrap_or(0), p.max.unwrap_or(top).min(top))
}

/// Values fitting policy `p`.
fn value(p: &'static AttrPolicy) -> BoxedStrategy<Value> {
    match p.kind {
        AttrKind::U8 | AttrKind::U16 | AttrKind::U32 | AttrKind::U64 => {
            let width = p.fixed_len().unwrap();
            let (lo, hi) = int_range(p, width);
            // Bias to the bounds, where off-by-one bugs live.
            prop_oneof![Just(lo), Just(hi), lo..=hi]
                .prop_map(move |v| Value::Int(v, width))
                .boxed()
        }
        AttrKind::S32 => any::<i32>().prop_map(Value::S32).boxed(),
        AttrKind::S64 => any::<u64>().prop_map(|v| Value::Int(v, 8)).boxed(),
        AttrKind::String => {
            let max = if p.max_len > 0 {
                p.max_len as usize
            } else {
                128
            };
            proptest::string::string_regex(&format!("[^\\x00]{{0,{max}}}"))
                .unwrap()
                .prop_map(move |mut s| {
                    // max-len counts bytes: cut at a char boundary.
                    while s.len() > max {
                        s.pop();
                    }
                    Value::Str(s)
                })
                .boxed()
        }
        AttrKind::Binary => {
            let max = if p.max_len > 0 { p.max_len } else { 256 };
            proptest::collection::vec(any::<u8>(), p.min_len as usize..=max as usize)
                .prop_map(Value::Bytes)
                .boxed()
        }
        AttrKind::Flag => Just(Value::Flag).boxed(),
        AttrKind::Nest => {
            let inner = p.nested.expect("a nest has a nested policy");
            let fields: Vec<BoxedStrategy<Option<(u16, Value)>>> = (1..=inner.max())
                .filter_map(|id| inner.get(id).map(|ip| (id, ip)))
                .filter(|(_, ip)| ip.kind != AttrKind::Pad)
                .map(|(id, ip)| proptest::option::of(value(ip).prop_map(move |v| (id, v))).boxed())
                .collect();
            fields
                .prop_map(|v| Value::Nest(v.into_iter().flatten().collect()))
                .boxed()
        }
        AttrKind::Pad | AttrKind::Unused => unreachable!("never in an op's list"),
    }
}

/// Every attribute of `ids`, in a random order; multi-attrs get 0..4 values.
fn message(policy: &'static Policy, ids: &'static [u16]) -> BoxedStrategy<Vec<Field>> {
    let fields: Vec<BoxedStrategy<Field>> = ids
        .iter()
        .map(|&id| {
            let p = policy.get(id).expect("op attribute defined in the set");
            if p.multi {
                proptest::collection::vec(value(p), 0..4)
                    .prop_map(move |values| Field {
                        id,
                        values,
                        multi: true,
                    })
                    .boxed()
            } else {
                value(p)
                    .prop_map(move |v| Field {
                        id,
                        values: vec![v],
                        multi: false,
                    })
                    .boxed()
            }
        })
        .collect();
    fields.prop_shuffle().boxed()
}

fn put(b: &mut MsgBuilder<'_>, id: u16, v: &Value) {
    match v {
        Value::Int(x, 1) => b.put_u8(id, *x as u8),
        Value::Int(x, 2) => b.put_u16(id, *x as u16),
        Value::Int(x, 4) => b.put_u32(id, *x as u32),
        Value::Int(x, _) => b.put_u64(id, *x),
        Value::S32(x) => b.put_i32(id, *x),
        Value::Str(s) => b.put_str(id, s),
        Value::Bytes(x) => b.put_bytes(id, x),
        Value::Flag => b.put_flag(id),
        Value::Nest(inner) => {
            let n = b.nest_begin(id);
            for (iid, iv) in inner {
                put(b, *iid, iv);
            }
            b.nest_end(n)
        }
    };
}

/// Read attribute `a` back as the policy says, into a `Value` to compare.
fn read(a: &pnfs_netlink::codec::Attr<'_>, p: &'static AttrPolicy) -> Result<Value, TestCaseError> {
    Ok(match p.kind {
        AttrKind::U8 => Value::Int(a.u8().into(), 1),
        AttrKind::U16 => Value::Int(a.u16().into(), 2),
        AttrKind::U32 => Value::Int(a.u32().into(), 4),
        AttrKind::U64 | AttrKind::S64 => Value::Int(a.u64(), 8),
        AttrKind::S32 => Value::S32(a.i32()),
        AttrKind::String => Value::Str(a.str().to_string()),
        AttrKind::Binary => Value::Bytes(a.payload.to_vec()),
        AttrKind::Flag => {
            prop_assert!(a.payload.is_empty());
            Value::Flag
        }
        AttrKind::Nest => {
            let inner = p.nested.unwrap();
            let t: AttrTable<'_, 16> = AttrTable::parse(a.payload, inner)
                .map_err(|e| TestCaseError::fail(format!("nest {}: {e}", p.name)))?;
            prop_assert_eq!(t.unknown, 0);
            let mut got = Vec::new();
            for id in 1..=inner.max() {
                if let (Some(ia), Some(ip)) = (t.get(id), inner.get(id)) {
                    got.push((id, read(&ia, ip)?));
                }
            }
            Value::Nest(got)
        }
        AttrKind::Pad | AttrKind::Unused => unreachable!(),
    })
}

/// Nest contents compare in id order (the reader walks ids; the builder wrote spec order).
fn normalise(v: &Value) -> Value {
    match v {
        Value::Nest(inner) => {
            let mut i: Vec<_> = inner.iter().map(|(id, v)| (*id, normalise(v))).collect();
            i.sort_by_key(|(id, _)| *id);
            Value::Nest(i)
        }
        v => v.clone(),
    }
}

fn roundtrip<const N: usize>(
    family: &'static Family,
    family_id: u16,
    cmd: u8,
    fields: &[Field],
) -> Result<(), TestCaseError> {
    let mut buf = Vec::with_capacity(1024);
    let mut b = MsgBuilder::genl(&mut buf, family_id, 0, 42, 7, cmd, family.version);
    for f in fields {
        for v in &f.values {
            put(&mut b, f.id, v);
        }
    }
    let len = b.finish();
    prop_assert_eq!(len, buf.len());

    let mut msgs = Messages::new(&buf);
    let m = msgs
        .next()
        .unwrap()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(msgs.next().is_none());
    prop_assert_eq!(
        (m.header.kind, m.header.seq, m.header.pid),
        (family_id, 42, 7)
    );
    let g = GenlMsg::parse(m).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!((g.cmd(), g.genl.version), (cmd, family.version));
    let t: AttrTable<'_, N> = AttrTable::parse(g.attrs, family.policy)
        .map_err(|e| TestCaseError::fail(format!("{e} in {fields:?}")))?;
    prop_assert_eq!(t.unknown, 0);
    for f in fields {
        let p = family.policy.get(f.id).unwrap();
        let want: Vec<Value> = f.values.iter().map(normalise).collect();
        if f.multi {
            let got = t
                .all(f.id)
                .map(|a| read(&a, p))
                .collect::<Result<Vec<_>, _>>()?;
            prop_assert_eq!(&got, &want, "{}", p.name);
            prop_assert_eq!(t.has(f.id), !want.is_empty());
        } else {
            let a = t.get(f.id);
            prop_assert!(a.is_some(), "{} missing", p.name);
            prop_assert_eq!(&read(&a.unwrap(), p)?, &want[0], "{}", p.name);
        }
    }
    Ok(())
}

/// Runs the round trip for every op and both directions of `family`.
fn every_op<const N: usize>(family: &'static Family, family_id: u16) {
    let mut covered = 0;
    for op in family.ops {
        for (dir, ids) in [("request", op.request), ("reply", op.reply)] {
            if ids.is_empty() {
                continue;
            }
            // Replies to upcalls travel as REPLY; the rest keep the op's command.
            let cmd = op.cmd;
            let mut runner = TestRunner::new(Config {
                cases: 48,
                failure_persistence: None,
                ..Config::default()
            });
            let r = runner.run(&message(family.policy, ids), |fields| {
                roundtrip::<N>(family, family_id, cmd, &fields)
            });
            if let Err(e) = r {
                panic!("{} {} {dir}: {e}", family.name, op.name);
            }
            covered += ids.len();
        }
    }
    assert!(covered > 0);
}

#[test]
fn pnfsd_every_op_roundtrips() {
    every_op::<{ pnfsd::attr::MAX as usize + 1 }>(&pnfsd::FAMILY, 0x20);
}

#[test]
fn gfs2ctl_every_op_roundtrips() {
    every_op::<{ gfs2ctl::attr::MAX as usize + 1 }>(&gfs2ctl::FAMILY, 0x21);
}

/// Every attribute id that an op lists is defined in the set (the generator's tables
/// agree with themselves), and every defined non-pad attribute is used by some op.
#[test]
fn op_tables_cover_the_sets() {
    for family in [&pnfsd::FAMILY, &gfs2ctl::FAMILY] {
        for id in 1..=family.policy.max() {
            let Some(p) = family.policy.get(id) else {
                continue;
            };
            if p.kind == AttrKind::Pad {
                continue;
            }
            assert!(
                family
                    .ops
                    .iter()
                    .any(|o| o.request.contains(&id) || o.reply.contains(&id)),
                "{}: {} used by no op",
                family.name,
                p.name
            );
        }
    }
}

/// Feed `bytes` to every parser; the result does not matter, only that none panics.
fn parse_everything(bytes: &[u8]) {
    for m in Messages::new(bytes) {
        let Ok(m) = m else { break };
        // Also for other kinds: ErrorMsg::parse must cope with any payload.
        let _ = ErrorMsg::parse(m);
        if let Ok(g) = GenlMsg::parse(m) {
            if let Ok(t) =
                AttrTable::<{ pnfsd::attr::MAX as usize + 1 }>::parse(g.attrs, &pnfsd::PNFSD_POLICY)
            {
                for id in 0..=pnfsd::attr::MAX + 1 {
                    let _ = t.get(id).map(|a| (a.u64(), a.str()));
                    let _ = t.all(id).count();
                }
            }
            let _ = AttrTable::<{ gfs2ctl::attr::MAX as usize + 1 }>::parse(
                g.attrs,
                &gfs2ctl::GFS2CTL_POLICY,
            );
            let _ = FamilyInfo::parse(g.attrs);
        }
    }
    let _ = AttrTable::<{ pnfsd::attr::MAX as usize + 1 }>::parse(bytes, &pnfsd::PNFSD_POLICY);
    let _ = FamilyInfo::parse(bytes);
}

proptest! {
    #![proptest_config(Config { cases: 2000, failure_persistence: None, ..Config::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        parse_everything(&bytes);
    }

    /// Random bytes behind a header whose length fits, so the parsers get past it.
    #[test]
    fn random_payloads_never_panic(
        kind in prop_oneof![Just(NLMSG_ERROR), Just(0x10u16), Just(0x20u16), any::<u16>()],
        flags in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut buf = Vec::new();
        let b = MsgBuilder::new(&mut buf, kind, flags, 1, 0);
        b.finish();
        buf.extend_from_slice(&payload);
        let len = buf.len() as u32;
        buf[..4].copy_from_slice(&len.to_ne_bytes());
        parse_everything(&buf);
    }
}
