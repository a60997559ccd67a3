#!/usr/bin/env python3
"""benches/vm.md and benches/vm-report.json from a benches/vm.sh log.

    python3 benches/vm_report.py target/vm-bench.log

The guest (tests/vm/bench.sh) prints one line per measurement:
    BENCH <side> <kind> <depth> <round> <pnfsctl -j trigger JSON>
sides: daemon (pnfs_controld), echo (bare user-space echo), loopback (the module alone).
Per case and side: medians over the rounds of p50/p99/p99.9 (from the module's log-bucket
histogram, interpolated linearly within the bucket as the other benches do) and upcalls/s
(answered / elapsed); the CDF sums the rounds.
"""
import json
import os
import re
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SIDES = ["daemon", "echo", "loopback"]


def bucket_hi(lo):
    """Upper bound of the histogram bucket whose lower bound is `lo` (16 sub-buckets per
    power of two, bucket 0 below 64 ns: netlink/src/histogram.rs)."""
    if lo < 64:
        return 64
    return lo + (1 << (lo.bit_length() - 1 - 4))


def pct(pairs, q):
    """The q quantile of [[lower bound ns, count], ...], interpolated within its bucket
    (Histogram::quantile_interpolated)."""
    pairs = sorted(pairs)
    total = sum(c for _, c in pairs)
    if total == 0:
        return 0.0
    rank = max(total * q, 0.5)
    before = 0
    for lo, c in pairs:
        if c > 0 and before + c >= rank:
            return lo + (bucket_hi(lo) - lo) * min(max((rank - before) / c, 0.0), 1.0)
        before += c
    return float(pairs[-1][0])


def main(log_path):
    text = open(log_path, errors="replace").read()
    accel = re.search(r"qemu accelerator: (\S+) \(([^)]*)\)", text)
    kernel = re.search(r"VMLANE-BEGIN kernel=(\S+)", text)
    runs = {}
    for line in text.splitlines():
        m = re.match(r"^BENCH (\w+) (\S+) (\d+) (\d+) (\{.*\})\s*$", line)
        if not m:
            continue
        side, kind, depth, rnd, js = m.groups()
        v = json.loads(js)
        ks = v["kind-stats"][0] if isinstance(v["kind-stats"], list) else v["kind-stats"]
        runs.setdefault((kind, int(depth)), {}).setdefault(side, []).append((int(rnd), v, ks))
    if not runs:
        sys.exit("vm_report.py: no BENCH lines in " + log_path)
    order = ["get-state:1", "get-device-info:1", "layout-get:1", "get-state:8", "get-state:64"]
    rows = []
    for key in sorted(runs, key=lambda k: order.index(f"{k[0]}:{k[1]}")
                      if f"{k[0]}:{k[1]}" in order else 99):
        kind, depth = key
        row = {"kind": kind, "depth": depth}
        for side in SIDES:
            got = runs[key].get(side, [])
            if not got:
                continue
            med = lambda f: statistics.median(f(ks, v) for _, v, ks in got)
            hist = {}
            for _, _, ks in got:
                for ns, c in ks.get("hist", []):
                    hist[ns] = hist.get(ns, 0) + c
            row[side] = {
                "p50_us": med(lambda ks, v: pct(ks["hist"], 0.5) / 1e3),
                "p99_us": med(lambda ks, v: pct(ks["hist"], 0.99) / 1e3),
                "p999_us": med(lambda ks, v: pct(ks["hist"], 0.999) / 1e3),
                "per_sec": round(med(lambda ks, v: ks["answered"] / (v["elapsed-ns"] / 1e9))),
                "upcalls": sum(ks["answered"] for _, _, ks in got),
                "errors": sum(ks["errors"] + ks["timeouts"] + ks["failed"] for _, _, ks in got),
                "rounds": len(got),
                "hist_ns": sorted([ns, c] for ns, c in hist.items()),
            }
        d, e, l = (row.get(s) for s in SIDES)
        if d and e:
            row["daemon_p50_vs_echo"] = d["p50_us"] / e["p50_us"]
            row["daemon_tput_vs_echo"] = d["per_sec"] / e["per_sec"]
        if e and l:
            row["echo_p50_vs_loopback"] = e["p50_us"] / l["p50_us"]
        if d and l:
            row["daemon_p50_vs_loopback"] = d["p50_us"] / l["p50_us"]
        rows.append(row)
    date = re.search(r"^(\d{4}-\d\d-\d\dT[\d:]+Z)", os.popen("date -u +%FT%TZ").read())
    rep = {
        "date": date.group(1) if date else "",
        "accelerator": accel.group(1) if accel else "unknown",
        "accelerator_reason": accel.group(2) if accel else "",
        "guest_kernel": kernel.group(1) if kernel else "",
        "host": {"nproc": os.cpu_count(), "kernel": os.uname().release},
        "rows": rows,
    }
    with open(os.path.join(HERE, "vm-report.json"), "w") as f:
        json.dump(rep, f, indent=1)
        f.write("\n")
    tcg = rep["accelerator"].upper() == "TCG"
    md = [
        "# Upcall round trip in the VM: the real module",
        "",
        f"Written by `bash benches/vm.sh` (replaced on every run; the JSON twin is "
        f"`vm-report.json`). {rep['date']}.",
        "",
        f"Guest: Debian's kernel {rep['guest_kernel']} under qemu, accelerator "
        f"**{rep['accelerator']}** ({rep['accelerator_reason']}), one vCPU; host: "
        f"{rep['host']['nproc']} CPUs, kernel {rep['host']['kernel']}."
        + (" **TCG emulates the CPU in software: the absolute numbers are those of an "
           "emulated machine, tens of times slower than the host, and indicative only; "
           "the ratios between the sides, measured in the same guest one after another, "
           "are the result.**" if tcg else ""),
        "",
        "Method (tests/vm/bench.sh in the guest): the pnfs_shim module's TRIGGER load "
        "generator — kthreads calling the same upcall function nfsd's hooks call: genl "
        "message built, unicast to the registered port, the kthread sleeping on a "
        "completion until the REPLY's doit wakes it — timed by the module from unicast to "
        "REPLY, into its log-bucket histogram (percentiles interpolated within their bucket, ≤ 6.25 % wide). Its "
        "upcalls are answered by **daemon**: `pnfs_controld` (release build, local engine, "
        "MDS of its one-node cluster; GET_STATE is a cache hit: the state was set in the "
        "module and one untimed GET_STATE filled the cache); **echo**: a bare user-space "
        "process registered the same way (`pnfsctl bench --echo-module`) answering each "
        "upcall with the same reply bytes from a blocking recvfrom/sendto loop — the "
        "user-space floor; **loopback**: nobody — the module builds the message and, "
        "instead of unicasting it, takes it back and completes the waiter as a REPLY with "
        "status OK would (TRIGGER `loopback`) — the kernel-only floor. Every round visits "
        "every case on every side, the order of the sides rotating; figures are medians "
        "over the rounds; upcalls/s = answered / the run's elapsed time.",
        "",
        "| path | depth | daemon p50 µs | daemon p99 µs | echo p50 µs | echo p99 µs | loopback p50 µs | daemon / echo p50 | echo / loopback p50 | daemon/s | echo/s | daemon/s / echo/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    fmt = lambda x, f="{:.1f}": f.format(x) if x is not None else "–"
    for r in rows:
        d, e, l = (r.get(s, {}) for s in SIDES)
        md.append(
            f"| {r['kind']} | {r['depth']} | {fmt(d.get('p50_us'))} | {fmt(d.get('p99_us'))} | "
            f"{fmt(e.get('p50_us'))} | {fmt(e.get('p99_us'))} | {fmt(l.get('p50_us'))} | "
            f"{fmt(r.get('daemon_p50_vs_echo'), '{:.2f}×')} | "
            f"{fmt(r.get('echo_p50_vs_loopback'), '{:.2f}×')} | {fmt(d.get('per_sec'), '{:.0f}')} | "
            f"{fmt(e.get('per_sec'), '{:.0f}')} | {fmt(r.get('daemon_tput_vs_echo'), '{:.2f}×')} |")
    errors = sum(r.get(s, {}).get("errors", 0) for r in rows for s in SIDES)
    md += [
        "",
        f"Upcalls measured: {sum(r.get(s, {}).get('upcalls', 0) for r in rows for s in SIDES)}; "
        f"errors, timeouts and failures: {errors}.",
        "",
        "daemon / echo is what `pnfs_controld`'s event loop costs over the least a "
        "user-space answerer can do on the real kernel path; echo / loopback is what "
        "crossing to user space and back costs over the module's own work.",
        "",
        "![CDF](vm-cdf.png)",
        "",
    ]
    with open(os.path.join(HERE, "vm.md"), "w") as f:
        f.write("\n".join(md))
    print("vm_report.py: wrote benches/vm.md and benches/vm-report.json")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
