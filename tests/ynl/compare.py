#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Compare what the kernel's ynl-gen-c makes of our specs with what our ynl-gen makes.

For each family:
  - the uapi header: every #define and enum entry, by value (kernel --mode uapi
    vs kmod-shim/module/uapi/<family>.h);
  - the kernel policies: every nla_policy array (per attribute: type, validation type,
    min/max, len, mask, nested policy, validate function), the range structs they point
    at, and the op table (per op: doit/dumpit, policy, maxattr, flags), kernel --mode
    kernel --source/--header vs kmod-shim/module/<family>-nl.[ch]; and the multicast
    groups.

Values are compared, not text: symbolic names (PNFSD_A_BOOT_EPOCH + 1) are evaluated
with each side's own header. Two forms are the same by construction and so normalized:
an op without a policy on the kernel side gets the core's genl_policy_reject_all
(attribute 1 NLA_REJECT, maxattr 1), which ours spells out because Linux 6.1 would hand
such an op the family's policy; GENL_CMD_CAP_DO/DUMP exist only in 6.2+'s split ops.

Every other difference must be listed in the allow-list (one `key | reason` per line);
a listed difference that no longer occurs is an error too. Exit 0 when nothing else
differs ("0 differences"), 1 otherwise.
"""

import argparse
import os
import re
import sys


# ---------------------------------------------------------------------------------------
# A small C reader, enough for generated headers and policy tables


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def split_top(text, sep=","):
    """Split at `sep` outside (), {}, [] and strings; drop empty pieces."""
    out, depth, cur, quote = [], 0, [], False
    for ch in text:
        if ch == '"':
            quote = not quote
        elif not quote and ch in "({[":
            depth += 1
        elif not quote and ch in ")}]":
            depth -= 1
        if ch == sep and depth == 0 and not quote:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return [x for x in out if x]


def evaluate(expr, consts):
    """An integer expression of literals and known names (enum entries, #defines)."""
    e = expr.strip()
    e = re.sub(r"\b(0x[0-9a-fA-F]+|\d+)(?:ULL|LL|UL|U|L)\b", r"\1", e)

    def name(m):
        n = m.group(0)
        if n.startswith("0x"):
            return n
        if n not in consts:
            raise KeyError(f"unknown name {n!r} in {expr!r}")
        return str(consts[n])

    e = re.sub(r"\b[A-Za-z_][A-Za-z0-9_]*\b", name, e)
    if not re.fullmatch(r"[0-9xa-fA-F+\-*() \t]*", e):
        raise ValueError(f"cannot evaluate {expr!r}")
    return eval(e, {"__builtins__": {}}, {})  # noqa: S307 - checked above


def read_constants(text):
    """#define NAME VALUE and enum entries -> {name: int or str}; enum tags -> set."""
    text = strip_comments(text)
    consts, tags = {}, set()
    for m in re.finditer(r"^[ \t]*#define[ \t]+(\w+)[ \t]+(.+?)[ \t]*$", text, re.M):
        name, val = m.group(1), m.group(2)
        if val.startswith('"'):
            consts[name] = val
        else:
            try:
                consts[name] = evaluate(val, consts)
            except (KeyError, ValueError):
                pass  # include guards and the like
    for m in re.finditer(r"\benum\s*(\w*)\s*\{(.*?)\}\s*;", text, re.S):
        if m.group(1):
            tags.add("enum " + m.group(1))
        nxt = 0
        for item in split_top(m.group(2)):
            if "=" in item:
                name, val = (x.strip() for x in item.split("=", 1))
                v = evaluate(val, consts)
            else:
                name, v = item.strip(), nxt
            consts[name] = v
            nxt = v + 1
    return consts, tags


def parse_fields(body):
    """`.a = x, .b = y` -> {a: x, b: y}."""
    out = {}
    for item in split_top(body):
        m = re.fullmatch(r"\.(\w+)\s*=\s*(.+)", item, re.S)
        if not m:
            raise ValueError(f"not a designated initializer: {item!r}")
        out[m.group(1)] = m.group(2).strip()
    return out


class Source:
    """The policies, ranges, ops and multicast groups of one side's -nl.[ch]."""

    def __init__(self, side, c_text, consts):
        self.side = side
        self.consts = consts
        text = strip_comments(c_text)
        self.ranges = {}
        for m in re.finditer(
            r"struct\s+netlink_range_validation(_signed)?\s+(\w+)\s*=\s*\{(.*?)\}\s*;",
            text,
            re.S,
        ):
            f = parse_fields(m.group(3))
            self.ranges[m.group(2)] = {k: evaluate(v, consts) for k, v in f.items()}
        self.arrays = {}  # name -> (size, [(label, index, value text)])
        for m in re.finditer(
            r"struct\s+nla_policy\s+(\w+)\s*\[([^\]]*)\]\s*=\s*\{(.*?)\n\}\s*;", text, re.S
        ):
            size = evaluate(m.group(2), consts)
            entries, pos = [], 0
            for item in split_top(m.group(3)):
                im = re.fullmatch(r"\[([^\]]+)\]\s*=\s*(.+)", item, re.S)
                if im:
                    label, val = im.group(1).strip(), im.group(2).strip()
                    idx = evaluate(label, consts)
                else:
                    label, val, idx = str(pos), item, pos
                entries.append((label, idx, val))
                pos = idx + 1
            self.arrays[m.group(1)] = (size, entries)
        self.ops = {}  # cmd value -> fields
        self.op_labels = {}
        for m in re.finditer(
            r"struct\s+genl(?:_split)?_ops\s+(\w+)\s*\[[^\]]*\]\s*=\s*\{(.*?)\n\}\s*;",
            text,
            re.S,
        ):
            for item in split_top(m.group(2)):
                f = parse_fields(item.strip()[1:-1])
                cmd = evaluate(f["cmd"], consts)
                if cmd in self.ops:
                    # a split-ops table has a do and a dump entry per command
                    self.ops[cmd].update(f)
                else:
                    self.ops[cmd] = dict(f)
                self.op_labels[cmd] = f["cmd"]
        self.mcgrps = {}
        for m in re.finditer(
            r"struct\s+genl_multicast_group\s+(\w+)\s*\[[^\]]*\]\s*=\s*\{(.*?)\n\}\s*;",
            text,
            re.S,
        ):
            for item in split_top(m.group(2)):
                im = re.fullmatch(r"\[([^\]]+)\]\s*=\s*\{\s*(\"[^\"]*\")\s*,?\s*\}", item)
                if not im:
                    raise ValueError(f"multicast group {item!r}")
                self.mcgrps[evaluate(im.group(1), consts)] = im.group(2)

    def referenced(self):
        """Arrays an op points at."""
        return {
            f["policy"].strip().lstrip("&") for f in self.ops.values() if "policy" in f
        }

    def nested_refs(self):
        refs = set()
        for _, entries in self.arrays.values():
            for _, _, val in entries:
                m = re.match(r"NLA_POLICY_NESTED(?:_ARRAY)?\((\w+)\)", val)
                if m:
                    refs.add(m.group(1))
        return refs

    def policy(self, name, seen=()):
        """An array as {index: normalized entry}, index 0 left out (never validated)."""
        if name not in self.arrays:
            raise KeyError(f"{self.side}: no policy array {name}")
        size, entries = self.arrays[name]
        out = {}
        for label, idx, val in entries:
            if idx == 0:
                continue
            out[idx] = (label, self.entry(val, seen + (name,)))
        return size - 1, out

    def entry(self, val, seen):
        ev = lambda x: evaluate(x, self.consts)  # noqa: E731
        m = re.fullmatch(r"(\w+)\((.*)\)", val, re.S)
        if m:
            macro, args = m.group(1), split_top(m.group(2))
            if macro == "NLA_POLICY_EXACT_LEN":
                n = ev(args[0])
                return {"type": "NLA_BINARY", "validation": "RANGE", "min": n, "max": n}
            if macro == "NLA_POLICY_RANGE":
                return {"type": args[0], "validation": "RANGE", "min": ev(args[1]),
                        "max": ev(args[2])}
            if macro == "NLA_POLICY_MIN":
                return {"type": args[0], "validation": "MIN", "min": ev(args[1])}
            if macro == "NLA_POLICY_MAX":
                return {"type": args[0], "validation": "MAX", "max": ev(args[1])}
            if macro == "NLA_POLICY_MASK":
                return {"type": args[0], "validation": "MASK", "mask": ev(args[1])}
            if macro in ("NLA_POLICY_FULL_RANGE", "NLA_POLICY_FULL_RANGE_SIGNED"):
                r = self.ranges[args[1].lstrip("&").strip()]
                return {"type": args[0], "validation": "RANGE_PTR",
                        "min": r.get("min", 0), "max": r.get("max", 0)}
            if macro == "NLA_POLICY_VALIDATE_FN":
                return {"type": args[0], "validation": "FUNCTION",
                        "fn": args[1].lstrip("&").strip()}
            if macro == "NLA_POLICY_NESTED":
                inner = args[0]
                if inner in seen:
                    return {"type": "NLA_NESTED", "nested": inner}
                maxattr, pol = self.policy(inner, seen)
                return {"type": "NLA_NESTED", "len": maxattr,
                        "nested": {i: e for i, (_, e) in pol.items()}}
            raise ValueError(f"{self.side}: policy macro {macro} not understood")
        if val.startswith("{"):
            f = parse_fields(val.strip()[1:-1])
            out = {"type": f.pop("type", "NLA_UNSPEC")}
            if "len" in f:
                out["len"] = ev(f.pop("len"))
            if f:
                raise ValueError(f"{self.side}: policy fields {sorted(f)} not understood")
            return out
        raise ValueError(f"{self.side}: policy entry {val!r} not understood")


REJECT_ALL = {1: ("1", {"type": "NLA_REJECT"})}
CAP_FLAGS = {"GENL_CMD_CAP_DO", "GENL_CMD_CAP_DUMP", "GENL_CMD_CAP_HASPOL"}


def op_view(src, f):
    """An op as compared: its handlers, flags, and effective policy (what validates)."""
    flags = {x.strip() for x in f.get("flags", "0").split("|")} - CAP_FLAGS - {"0"}
    if "policy" in f:
        maxattr, pol = src.policy(f["policy"].strip().lstrip("&"))
        if "maxattr" in f:
            maxattr = evaluate(f["maxattr"], src.consts)
        name = f["policy"].strip()
    else:
        # genl_op_fill_in_reject_policy(): a new command without a policy
        maxattr, pol, name = 1, REJECT_ALL, "(core reject-all)"
    if set(pol) == {1} and pol[1][1] == {"type": "NLA_REJECT"} and maxattr == 1:
        name = "(reject-all)"
    return {
        "doit": "doit" in f,
        "dumpit": "dumpit" in f,
        "flags": sorted(flags),
        "maxattr": maxattr,
        "policy": pol,
        "policy_name": name,
    }


def show(e):
    return "{" + ", ".join(f"{k}: {v}" for k, v in e.items() if k != "nested") + \
        ("" if "nested" not in e else ", nested: ...") + "}"


def compare_policy(diffs, key, kpol, opol):
    for idx in sorted(set(kpol) | set(opol)):
        kl, ke = kpol.get(idx, (None, None))
        ol, oe = opol.get(idx, (None, None))
        label = kl or ol
        if ke is None:
            diffs.append((f"{key} {label} ours-only", f"ours {show(oe)}, the kernel none"))
        elif oe is None:
            diffs.append((f"{key} {label} kernel-only", f"the kernel {show(ke)}, ours none"))
        elif ke != oe:
            if "nested" in ke and "nested" in oe and isinstance(ke["nested"], dict):
                kn = {i: (str(i), e) for i, e in ke["nested"].items()}
                on = {i: (str(i), e) for i, e in oe["nested"].items()}
                compare_policy(diffs, f"{key} {label} nested", kn, on)
                ke = {k: v for k, v in ke.items() if k != "nested"}
                oe = {k: v for k, v in oe.items() if k != "nested"}
                if ke == oe:
                    continue
            diffs.append((f"{key} {label} differs", f"the kernel {show(ke)}, ours {show(oe)}"))


def op_name(fam, label):
    pfx = fam.upper() + "_CMD_"
    return label[len(pfx):].lower().replace("_", "-") if label.startswith(pfx) else label


def compare_family(fam, kernel_dir, root, ours_override=None):
    """Differences between the kernel generator's output and ours: [(key, detail)]."""
    rd = lambda p: open(p).read()  # noqa: E731
    ours = ours_override or {}
    o_uapi = ours.get("uapi") or rd(os.path.join(root, f"kmod-shim/module/uapi/{fam}.h"))
    o_h = ours.get("h") or rd(os.path.join(root, f"kmod-shim/module/{fam}-nl.h"))
    o_c = ours.get("c") or rd(os.path.join(root, f"kmod-shim/module/{fam}-nl.c"))
    k_uapi = rd(os.path.join(kernel_dir, f"{fam}-uapi.h"))
    k_h = rd(os.path.join(kernel_dir, f"{fam}-nl.h"))
    k_c = rd(os.path.join(kernel_dir, f"{fam}-nl.c"))
    diffs = []

    kc, ktags = read_constants(k_uapi)
    oc, otags = read_constants(o_uapi)
    for n in sorted(set(kc) | set(oc)):
        if n.startswith("_UAPI_"):
            continue
        if n not in oc:
            diffs.append((f"{fam} uapi {n} kernel-only", f"{kc[n]}"))
        elif n not in kc:
            diffs.append((f"{fam} uapi {n} ours-only", f"{oc[n]}"))
        elif kc[n] != oc[n]:
            diffs.append((f"{fam} uapi {n} differs", f"the kernel {kc[n]}, ours {oc[n]}"))
    for t in sorted(ktags ^ otags):
        side = "kernel-only" if t in ktags else "ours-only"
        diffs.append((f"{fam} uapi {t} {side}", "enum type name"))

    kh, _ = read_constants(k_h)
    oh, _ = read_constants(o_h)
    kconsts = {**kc, **kh}
    oconsts = {**oc, **oh}
    ks = Source("kernel", k_c, kconsts)
    os_ = Source("ours", o_c, oconsts)

    for n in sorted(set(ks.ranges) | set(os_.ranges)):
        if n not in os_.ranges:
            diffs.append((f"{fam} range {n} kernel-only", str(ks.ranges[n])))
        elif n not in ks.ranges:
            diffs.append((f"{fam} range {n} ours-only", str(os_.ranges[n])))
        elif ks.ranges[n] != os_.ranges[n]:
            diffs.append((f"{fam} range {n} differs",
                          f"the kernel {ks.ranges[n]}, ours {os_.ranges[n]}"))

    # Arrays no op points at: the nested ("common") policies and any family-wide one.
    kfree = set(ks.arrays) - ks.referenced()
    ofree = set(os_.arrays) - os_.referenced()
    for n in sorted(kfree | ofree):
        if n not in ofree:
            diffs.append((f"{fam} policy {n} kernel-only", "an array no op of ours has"))
            continue
        if n not in kfree:
            use = "nested in a policy" if n in os_.nested_refs() else "no op points at it"
            diffs.append((f"{fam} policy {n} ours-only", use))
            continue
        kmax, kpol = ks.policy(n)
        omax, opol = os_.policy(n)
        if kmax != omax:
            diffs.append((f"{fam} policy {n} size differs", f"the kernel {kmax}, ours {omax}"))
        compare_policy(diffs, f"{fam} policy {n}", kpol, opol)

    for cmd in sorted(set(ks.ops) | set(os_.ops)):
        label = ks.op_labels.get(cmd) or os_.op_labels.get(cmd)
        key = f"{fam} op {op_name(fam, label)}"
        if cmd not in os_.ops:
            kv = op_view(ks, ks.ops[cmd])
            diffs.append((f"{key} kernel-only",
                          f"the kernel serves it (policy {kv['policy_name']}, "
                          f"maxattr {kv['maxattr']}); ours does not"))
            continue
        if cmd not in ks.ops:
            diffs.append((f"{key} ours-only", "ours serves it; the kernel does not"))
            continue
        kv, ov = op_view(ks, ks.ops[cmd]), op_view(os_, os_.ops[cmd])
        for field in ("doit", "dumpit", "flags", "maxattr"):
            if kv[field] != ov[field]:
                diffs.append((f"{key} {field} differs",
                              f"the kernel {kv[field]}, ours {ov[field]}"))
        compare_policy(diffs, f"{key} policy", kv["policy"], ov["policy"])

    if ks.mcgrps != os_.mcgrps:
        diffs.append((f"{fam} mcgrps differ", f"the kernel {ks.mcgrps}, ours {os_.mcgrps}"))
    both = set(ks.ops) & set(os_.ops)
    attrs = sum(len(op_view(os_, os_.ops[c])["policy"]) for c in both)
    udiffs, ustats = compare_user(fam, kernel_dir, root, ours.get("rs"))
    diffs += udiffs
    stats = (f"{fam}: {len(set(kc) & set(oc))} uapi values, {len(ks.ranges)} range structs, "
             f"{len(kfree & ofree)} shared policy arrays, {len(both)} ops with "
             f"{attrs} policy entries, {ustats} compared")
    return diffs, stats


# ---------------------------------------------------------------------------------------
# The user-side typed messages

def c_user_structs(text, fam):
    """{struct name: {member: kind}} of the kernel's user header."""
    out = {}
    for m in re.finditer(r"^struct (%s_\w+) \{\n(.*?)^\};" % fam, text, re.S | re.M):
        name, body = m.group(1), m.group(2)
        if "ynl_ntf_base_type" in body or name.endswith("_list"):
            continue
        members = {}
        pres = re.search(r"struct \{\n(.*?)\} _present;", body, re.S)
        flags = set()
        if pres:
            for line in pres.group(1).splitlines():
                f = re.match(r"\s*__u32 (\w+):1;", line)
                if f:
                    flags.add(f.group(1))
            body = body[pres.end():]
        for line in body.splitlines():
            d = re.match(r"\s*(.+?)\s*(\*?)(\w+);", line)
            if not d:
                continue
            ty, ptr, n = d.group(1), d.group(2), d.group(3)
            if ty == "unsigned int" and n.startswith("n_"):
                continue
            if ty.startswith("struct "):
                kind = "nest*" if ptr else "nest"
            elif ty == "void" and ptr:
                kind = "binary"
            elif ty == "char" and ptr:
                kind = "string"
            elif ptr:
                kind = ty.replace("__", "") + "*"
            elif ty.startswith("enum "):
                kind = "u32"
            else:
                kind = ty.replace("__", "")
            members[n] = kind
            flags.discard(n)
        for f in flags:
            members[f] = "flag"
        out[name] = members
    return out


def rust_kind(ty):
    ty = ty.strip()
    m = re.fullmatch(r"Option<(.*)>", ty)
    if m:
        ty = m.group(1)
    if re.fullmatch(r"\[u8; \d+\]", ty) or ty == "&'x [u8]":
        return "binary"
    m = re.fullmatch(r"&'x \[(.*)\]", ty)
    if m:
        inner = rust_kind(m.group(1))
        return "nest*" if inner == "nest" else inner + "*"
    if ty == "&'x str":
        return "string"
    if ty == "bool":
        return "flag"
    if ty.startswith("nest::"):
        return "nest"
    return {"i32": "s32", "i64": "s64"}.get(ty, ty)


def rust_user_structs(text, fam):
    """{kernel struct name: {member: kind}} of our generated builders."""
    out = {}
    def fields(body):
        return {n: rust_kind(t) for n, t in re.findall(r"^\s*pub (\w+): (.+),$", body, re.M)}
    nest = re.search(r"^pub mod nest \{\n(.*?)^\}", text, re.S | re.M).group(1)
    for m in re.finditer(r"pub struct (\w+)Attrs(?:<'x>)? \{\n(.*?)^\s*\}", nest, re.S | re.M):
        snake = re.sub(r"(?<!^)([A-Z])", r"_\1", m.group(1)).lower()
        out[f"{fam}_{snake}"] = fields(m.group(2))
    ops = text[text.index("\npub mod ops {"):]
    for m in re.finditer(r"^    pub mod (\w+) \{\n(.*?)^    \}", ops, re.S | re.M):
        op, body = m.group(1), m.group(2)
        for b in re.finditer(r"pub struct (Request|Reply|Event)Attrs(?:<'x>)? \{\n(.*?)^\s*\}",
                             body, re.S | re.M):
            suffix = {"Request": "req", "Reply": "rsp", "Event": "rsp"}[b.group(1)]
            out[f"{fam}_{op}_{suffix}"] = fields(b.group(2))
    return out


def compare_user(fam, kernel_dir, root, rs=None):
    """Differences between the kernel's user-side structs and our builders."""
    diffs = []
    k = c_user_structs(open(os.path.join(kernel_dir, f"{fam}-user.h")).read(), fam)
    rs = rs or open(os.path.join(root, f"netlink/src/gen/{fam}.rs")).read()
    o = rust_user_structs(rs, fam)
    # A dump's reply struct is <op>_rsp_dump on the kernel side; a dump request without
    # attributes has a struct there and nothing here.
    for n in list(k):
        if n.endswith("_rsp_dump"):
            k[n[: -len("_dump")]] = k.pop(n)
    k = {n: v for n, v in k.items() if v or n in o}
    for n in sorted(set(k) | set(o)):
        if n not in o:
            diffs.append((f"{fam} user {n} kernel-only", f"members {sorted(k[n])}"))
            continue
        if n not in k:
            diffs.append((f"{fam} user {n} ours-only", f"fields {sorted(o[n])}"))
            continue
        for f in sorted(set(k[n]) | set(o[n])):
            if f not in o[n]:
                diffs.append((f"{fam} user {n}.{f} kernel-only", k[n][f]))
            elif f not in k[n]:
                diffs.append((f"{fam} user {n}.{f} ours-only", o[n][f]))
            elif k[n][f] != o[n][f]:
                diffs.append((f"{fam} user {n}.{f} differs",
                              f"the kernel {k[n][f]}, ours {o[n][f]}"))
    members = sum(len(v) for n, v in o.items() if n in k)
    return diffs, f"{len(set(k) & set(o))} typed messages with {members} members"


def read_allow(path):
    allow = {}
    for n, line in enumerate(open(path), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "|" not in line:
            raise SystemExit(f"{path}:{n}: want `key | reason`")
        key, reason = (x.strip() for x in line.split("|", 1))
        if not reason:
            raise SystemExit(f"{path}:{n}: {key}: no reason given")
        if key in allow:
            raise SystemExit(f"{path}:{n}: {key} listed twice")
        allow[key] = reason
    return allow


def self_test(fam, kernel_dir, root, baseline):
    """The comparison sees a change to our policy, op table and header: mutate a copy."""
    rd = lambda p: open(p).read()  # noqa: E731
    c = rd(os.path.join(root, f"kmod-shim/module/{fam}-nl.c"))
    uapi = rd(os.path.join(root, f"kmod-shim/module/uapi/{fam}.h"))
    base = {k for k, _ in baseline}
    # Mutate the per-op policies and the op table (from the first op's policy on):
    # the family-wide policy before them is ours alone and not compared by content.
    cut = c.find(f"/* {fam.upper()}_CMD_")
    head, ops = c[:cut], c[cut:]
    checks = []
    m = re.search(r"NLA_POLICY_RANGE\((\w+), (\d+), (\d+)\)", ops)
    if m:
        bad = ops.replace(m.group(0), f"NLA_POLICY_RANGE({m.group(1)}, {m.group(2)}, "
                          f"{int(m.group(3)) + 1})", 1)
        checks.append(("a range bound", {"c": head + bad}))
    m = re.search(r"\t\t\.maxattr\t= (\w+),", ops)
    if m and m.group(1) != "1":
        bad = ops.replace(m.group(0), f"\t\t.maxattr\t= {m.group(1)} + 1,", 1)
        checks.append(("an op's maxattr", {"c": head + bad}))
    m = re.search(r"\t\t\.flags\t\t= GENL_ADMIN_PERM,\n", ops)
    if m:
        checks.append(("an op's admin-perm", {"c": head + ops.replace(m.group(0), "", 1)}))
    m = re.search(r"(\t\[\w+\] = )\{ \.type = NLA_U(32|64), \},", ops)
    if m:
        other = "64" if m.group(2) == "32" else "32"
        bad = ops.replace(m.group(0), m.group(1) + "{ .type = NLA_U%s, }," % other, 1)
        checks.append(("an attribute's type", {"c": head + bad}))
    m = re.search(r"^#define (\w+)\t+(\d+)$", uapi, re.M)
    if m:
        bad = uapi.replace(m.group(0), m.group(0)[:-len(m.group(2))] + "99", 1)
        checks.append(("a uapi constant", {"uapi": bad}))
    rs = rd(os.path.join(root, f"netlink/src/gen/{fam}.rs"))
    m = re.search(r"(pub struct RequestAttrs(?:<'x>)? \{\n(?:\s*///.*\n)*\s*pub )(\w+):", rs)
    if m:
        checks.append(("a builder's field", {"rs": rs.replace(m.group(0),
                                                               m.group(1) + m.group(2) + "_x:", 1)}))
    if len(checks) < 6:
        return [f"{fam}: self-test found too little to mutate ({len(checks)} of 6)"]
    failures = []
    for what, over in checks:
        got = {k for k, _ in compare_family(fam, kernel_dir, root, over)[0]}
        if not got - base:
            failures.append(f"{fam}: a change to {what} went unnoticed")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kernel-out", required=True,
                    help="dir with <family>-uapi.h, <family>-nl.h, <family>-nl.c")
    ap.add_argument("--root", required=True, help="the repository")
    ap.add_argument("--allow", required=True, help="the intended-differences file")
    ap.add_argument("families", nargs="+")
    a = ap.parse_args()

    allow = read_allow(a.allow)
    seen, unexpected, failures = set(), [], []
    for fam in a.families:
        diffs, stats = compare_family(fam, a.kernel_out, a.root)
        print(stats)
        failures += self_test(fam, a.kernel_out, a.root, diffs)
        for key, detail in diffs:
            if key in allow:
                seen.add(key)
                print(f"intended: {key}: {detail}\n    because: {allow[key]}")
            else:
                unexpected.append(f"{key}: {detail}")
    stale = sorted(set(allow) - seen)
    for s in stale:
        unexpected.append(f"{s}: listed in {os.path.basename(a.allow)} but no longer differs")
    for f in failures:
        print(f"self-test: {f}")
    print()
    print(f"{len(seen)} intended differences ({os.path.relpath(a.allow, a.root)})")
    if unexpected:
        print(f"{len(unexpected)} differences:")
        for u in unexpected:
            print(f"  {u}")
    else:
        print("0 differences")
    return 1 if unexpected or failures else 0


if __name__ == "__main__":
    sys.exit(main())
