#!/usr/bin/env python3
"""benches/flexfiles.md and benches/flexfiles-report.json from a benches/flexfiles.sh log.

    python3 benches/flexfiles_report.py target/ffbench.log

The guest (tests/vm/ffbench-guest.sh) prints per segment (variant stock or daemon, segment
number; segment 0 is the warm-up and not printed):
    FFB-SAMPLES <variant> <seg> <LAYOUTGET|GETDEVICEINFO> <n> <rtt_us>:<execute_us> ...
    FFB-SEGMENT <variant> <seg> key=value ...
Percentiles are of the raw samples (linear interpolation between order statistics); the
ratio is daemon / stock of the pooled samples of every segment; its 95 % interval is a
bootstrap (2000 resamples of each side, seeded); per-round ratios pair segment s of each.
"""
import datetime
import json
import os
import random
import re
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OPS = ["LAYOUTGET", "GETDEVICEINFO"]
ALL_VARIANTS = ["stock", "echo", "daemon"]
TARGET = 1.25


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return 0.0
    k = (len(xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summary(xs):
    return {"n": len(xs), "p50_us": pct(xs, 0.5), "p90_us": pct(xs, 0.9),
            "p99_us": pct(xs, 0.99), "mean_us": statistics.fmean(xs) if xs else 0.0}


def bootstrap_ratio(a, b, q=0.5, n=2000, seed=23):
    """95 % interval of pct(b, q) / pct(a, q), resampling each side."""
    rnd = random.Random(seed)
    rs = []
    for _ in range(n):
        ra = [a[rnd.randrange(len(a))] for _ in a]
        rb = [b[rnd.randrange(len(b))] for _ in b]
        pa = pct(ra, q)
        if pa > 0:
            rs.append(pct(rb, q) / pa)
    rs.sort()
    return [pct(rs, 0.025), pct(rs, 0.975)]


def main(log_path):
    text = open(log_path, errors="replace").read()
    head = re.search(r"ffbench: accelerator (\S+); host (\d+) CPUs, kernel (\S+); "
                     r"daemon binaries (\S+); qemu exit (\d+); total (\d+) s", text)
    params = dict(re.findall(r"(\w+)=(\S+)", re.search(r"FFB-PARAMS (.*)", text).group(1)))
    elapsed = re.search(r"FFB-TIME (\d+) s", text)
    global VARIANTS
    VARIANTS = [v for v in ALL_VARIANTS
                if v in params.get("variants", "stock,daemon").split(",")]
    samples = {op: {v: {} for v in VARIANTS} for op in OPS}
    for m in re.finditer(r"^FFB-SAMPLES (\w+) (\d+) (\w+) (\d+) ?(.*)$", text, re.M):
        v, seg, op, n, rest = m.group(1), int(m.group(2)), m.group(3), int(m.group(4)), m.group(5)
        pairs = [tuple(int(x) for x in p.split(":")) for p in rest.split()]
        assert len(pairs) == n, (v, seg, op, n, len(pairs))
        samples[op][v][seg] = pairs
    segments = []
    for m in re.finditer(r"^FFB-SEGMENT (\w+) (\d+) (.*)$", text, re.M):
        d = {"variant": m.group(1), "segment": int(m.group(2))}
        for k, val in re.findall(r"(\w+)=(\S+)", m.group(3)):
            d[k] = int(val) if re.fullmatch(r"\d+", val) else val
        segments.append(d)
    kstats = {}
    km = re.search(r"^FFB-KSTATS (.*)$", text, re.M)
    if km:
        try:
            kj = json.loads(km.group(1))
            for side in ("kernel", "daemon"):
                pn = kj.get(side, {}).get("pnfsd") or {}
                # the kernel half's: {"kind_stats": [...]}; the daemon's: [...]
                for ks in (pn.get("kind_stats", []) if isinstance(pn, dict) else pn):
                    if ks.get("kind") in ("layout-get", "get-device-info"):
                        kstats.setdefault(side, {})[ks["kind"]] = ks
        except (ValueError, AttributeError):
            pass
    table = re.search(r"layouts in the kernel half's table: (\d+)", text)
    hooks = {}
    for m in re.finditer(r"^FFB-HOOK (\w+) (\w+) (\w+) (\d+) ?(.*)$", text, re.M):
        xs = [float(x) for x in m.group(5).split()]
        if xs:
            hooks.setdefault(m.group(2), {}).setdefault(m.group(1), {})[m.group(3)] = summary(xs)
    tables = dict(re.findall(r"layouts in the kernel half's table before the (\w+ \w+) decomposition: (\d+)", text))

    ops = {}
    for op in OPS:
        pooled = {v: [r for seg in sorted(samples[op][v]) for r, _ in samples[op][v][seg]]
                  for v in VARIANTS}
        pooled_ex = {v: [e for seg in sorted(samples[op][v]) for _, e in samples[op][v][seg]]
                     for v in VARIANTS}
        o = {v: dict(summary(pooled[v]), execute=summary(pooled_ex[v]),
                     rtt_us=pooled[v]) for v in VARIANTS}
        if "echo" in VARIANTS:
            o["echo_vs_stock_p50"] = o["echo"]["p50_us"] / o["stock"]["p50_us"]
            o["daemon_vs_echo_p50"] = o["daemon"]["p50_us"] / o["echo"]["p50_us"]
            o["daemon_vs_echo_p50_ci95"] = bootstrap_ratio(pooled["echo"], pooled["daemon"])
        for q in ("p50", "p90", "p99"):
            o[f"ratio_{q}"] = (o["daemon"][f"{q}_us"] / o["stock"][f"{q}_us"]
                               if o["stock"][f"{q}_us"] else None)
        o["ratio_execute_p50"] = (o["daemon"]["execute"]["p50_us"] / o["stock"]["execute"]["p50_us"]
                                  if o["stock"]["execute"]["p50_us"] else None)
        o["ratio_p50_ci95"] = bootstrap_ratio(pooled["stock"], pooled["daemon"]) \
            if pooled["stock"] and pooled["daemon"] else None
        rounds = []
        for seg in sorted(set(samples[op]["stock"]) & set(samples[op]["daemon"])):
            s = [r for r, _ in samples[op]["stock"][seg]]
            d = [r for r, _ in samples[op]["daemon"][seg]]
            if s and d:
                row = {"round": seg, "stock_p50_us": pct(s, 0.5), "daemon_p50_us": pct(d, 0.5),
                       "ratio": pct(d, 0.5) / pct(s, 0.5)}
                if samples[op].get("echo", {}).get(seg):
                    row["echo_p50_us"] = pct([r for r, _ in samples[op]["echo"][seg]], 0.5)
                rounds.append(row)
        o["rounds"] = rounds
        o["met"] = o["ratio_p50"] is not None and o["ratio_p50"] <= TARGET
        ops[op] = o

    # the run's date: when its log was written (a log re-read later keeps its date)
    date = datetime.datetime.fromtimestamp(os.path.getmtime(log_path), datetime.timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%SZ")
    accel = head.group(1) if head else "?"
    rep = {
        "date": date,
        "accelerator": accel,
        "host_cpus": int(head.group(2)) if head else None,
        "host_kernel": head.group(3) if head else None,
        "daemon_binaries": head.group(4) if head else None,
        "run_seconds": int(head.group(6)) if head else None,
        "rounds_seconds": int(elapsed.group(1)) if elapsed else None,
        "guest_kernel": params.get("kernel"),
        "params": params,
        "target_p50_ratio": TARGET,
        "ops": ops,
        "segments": segments,
        "kernel_half_stats": kstats,
        "kernel_half_layout_table": int(table.group(1)) if table else None,
        "variants": VARIANTS,
        "hook_time_us": hooks,
        "hook_table_sizes": {k.replace(" ", "_"): int(v) for k, v in tables.items()},
    }
    with open(os.path.join(HERE, "flexfiles-report.json"), "w") as f:
        json.dump(rep, f, indent=1)
        f.write("\n")
    rep["_seg_p50"] = {op: {v: {seg: pct([r for r, _ in xs], 0.5)
                                for seg, xs in samples[op][v].items() if xs}
                            for v in VARIANTS} for op in OPS}
    write_md(rep)
    for op in OPS:
        o = ops[op]
        print(f"ffbench: {op}: stock p50 {o['stock']['p50_us']:.0f} µs (n {o['stock']['n']}), daemon p50 "
              f"{o['daemon']['p50_us']:.0f} µs (n {o['daemon']['n']}): {o['ratio_p50']:.2f}× "
              f"(95 % {o['ratio_p50_ci95'][0]:.2f}–{o['ratio_p50_ci95'][1]:.2f}) "
              f"{'met' if o['met'] else 'NOT met'} (target ≤ {TARGET}×)")


def f0(x):
    return f"{x:.0f}"


def write_md(rep):
    ops = rep["ops"]
    p = rep["params"]
    V = rep["variants"]
    echo = "echo" in V
    nseg = len([s for s in rep["segments"] if s["variant"] == "daemon"])
    tcg = rep["accelerator"] == "tcg"
    L = []
    L.append("# LAYOUTGET and GETDEVICEINFO on the real kernel: nfsd asking pnfs_controld vs stock flexfiles")
    L.append("")
    L.append(f"Written by `bash benches/flexfiles.sh` (replaced on every run; the JSON twin is "
             f"`flexfiles-report.json`, the plot `flexfiles-cdf.png`). {rep['date']}. The whole run "
             f"took {rep['run_seconds']} s (build and images cached), of which {rep['rounds_seconds']} s "
             f"the measured rounds.")
    L.append("")
    L.append(f"Guest: Debian's kernel {rep['guest_kernel']} under qemu, accelerator **{rep['accelerator'].upper()}**, "
             f"{p.get('cpus')} vCPU(s), 1 GiB; host: {rep['host_cpus']} CPUs, kernel {rep['host_kernel']}, shared "
             "with other work. "
             + ("**TCG emulates the CPU in software: the absolute numbers are an emulated machine's, "
                "many times slower than real hardware, and an upcall to a process that sleeps "
                "between operations is disproportionately dear (see below); the ratios between the variants, measured "
                "alternately in the same guest, are the result — for TCG.**"
                if tcg else ""))
    L.append("")
    L.append("## Method")
    L.append("")
    L.append("One boot (`tests/vm/ffbench-guest.sh`): nfsd.ko built with the flexfile hooks "
             "(`kmod-shim/nfsd/build.sh`), `pnfs_shim.ko`, a lock_nolock GFS2 exported with `pnfs`, "
             "an NFSv4.1 client over loopback. The same nfsd in "
             f"{len(V)} variants, alternating segment by segment — {', '.join(V)}, {', '.join(V)}, … "
             "(one warm-up segment of each first, not counted):")
    L.append("")
    L.append("- **stock**: `pnfs_shim_ff` not loaded, so no hooks are registered: nfsd's own "
             "flexfile code answers (whole-file layout, the MDS's own address 127.0.0.1 as the data "
             "server); no upcall.")
    if echo:
        L.append("- **echo**: `pnfs_shim_ff` loaded, and registered with `pnfs_shim` instead of the "
                 "daemon a bare user-space echo (`pnfsctl bench --echo-module`: a blocking "
                 "recvfrom/sendto loop answering every upcall with fixed reply bytes, the daemon's "
                 "shape) — the least any user-space answer costs on this path: the floor of the "
                 "channel itself.")
    L.append(f"- **daemon**: `pnfs_shim_ff` loaded and `pnfs_controld` ({rep['daemon_binaries']}, local "
             "engine) registered: every LAYOUTGET is a LAYOUT_GET upcall and every GETDEVICEINFO a "
             "GET_DEVICE_INFO upcall that the daemon decides (data server 10.0.0.1, an address of "
             "the guest's loopback: nfsd again, over NFSv3).")
    L.append("")
    L.append(f"A segment is one untimed mount reading 3 files (the same warm-up for every variant: a "
             f"restarted daemon or echo has its pages in), then {p.get('mounts')} × {{ mount; read 4 KiB "
             f"with O_DIRECT from each of {p.get('files')} files (the open → one LAYOUTGET; nfsd sets "
             "return-on-close, so each file gets a fresh layout; the first I/O on the device → one "
             "GETDEVICEINFO, which the client caches per mount, hence the mount cycles); umount }. The "
             "samples are the client's `sunrpc:rpc_stats_latency` tracepoint (present in the guest's "
             "6.1 kernel): one event per completed RPC with its procedure, **rtt** (request sent → "
             "reply received: the server's whole answer over loopback — the figure below) and "
             "**execute** (RPC task start → end, client queueing included). Every segment checks "
             "that the traced count equals the client's mountstats count and nfsd's own, and who "
             "answered: stock — no upcall (the daemon's and the adapter's counters did not move) "
             "and no data on 10.0.0.1; echo and daemon — the adapter granted every LAYOUTGET and "
             "answered every GETDEVICEINFO from an upcall (daemon: its own counters equal the "
             "client's) and the data went to 10.0.0.1 over NFSv3. Percentiles are of the raw "
             "samples; ratios are of all segments pooled, with a bootstrap 95 % interval; per round, "
             "the daemon segment's p50 / the stock segment's.")
    L.append("")
    L.append("## Result")
    L.append("")
    L.append("| operation | variant | samples | p50 µs | p90 µs | p99 µs | execute p50 µs |")
    L.append("|---|---|---:|---:|---:|---:|---:|")
    for op in OPS:
        for v in V:
            s = ops[op][v]
            L.append(f"| {op} | {v} | {s['n']} | {f0(s['p50_us'])} | {f0(s['p90_us'])} | "
                     f"{f0(s['p99_us'])} | {f0(s['execute']['p50_us'])} |")
    L.append("")
    hdr = "| operation | **daemon / stock p50** (95 % interval) | p90 | p99 | execute p50 | per-round p50 ratios: median (min–max) |"
    sep = "|---|---|---:|---:|---:|---|"
    if echo:
        hdr += " echo / stock p50 | daemon / echo p50 (95 %) |"
        sep += "---:|---|"
    L.append(hdr + " target p50 ≤ 1.25× |")
    L.append(sep + "---|")
    for op in OPS:
        o = ops[op]
        rr = [r["ratio"] for r in o["rounds"]]
        rtxt = f"{statistics.median(rr):.2f}× ({min(rr):.2f}–{max(rr):.2f}), {len(rr)} rounds" if rr else "—"
        ci = o["ratio_p50_ci95"]
        row = (f"| {op} | **{o['ratio_p50']:.2f}×** ({ci[0]:.2f}–{ci[1]:.2f}) | {o['ratio_p90']:.2f}× | "
               f"{o['ratio_p99']:.2f}× | {o['ratio_execute_p50']:.2f}× | {rtxt} |")
        if echo:
            ce = o["daemon_vs_echo_p50_ci95"]
            row += (f" {o['echo_vs_stock_p50']:.2f}× | {o['daemon_vs_echo_p50']:.2f}× "
                    f"({ce[0]:.2f}–{ce[1]:.2f}) |")
        L.append(row + f" {'**met**' if o['met'] else '**not met**'} |")
    L.append("")
    L.append("## Where the time goes")
    L.append("")
    hk = rep.get("hook_time_us") or {}
    if hk:
        L.append("After the rounds, one more segment of the echo and of the daemon with the "
                 "function_graph tracer on six functions only: how long an nfsd thread spends in "
                 "`pnfs_shim_ff`'s hook, in the `pnfs_shim` API call within it (`pnfs_shim_layout_get`: "
                 "the upcall, then the kernel half's layout table; `pnfs_shim_get_device_info`), and "
                 "in `pnfs_shim_upcall` within that (build and unicast the upcall, sleep until the "
                 "REPLY, run again) — first with the kernel half's layout table as the rounds left "
                 "it (**full**), then emptied (`pnfsctl layout recall all` with no client mounted: "
                 "**empty**). Against the client-seen p50 differences of the rounds:")
        L.append("")
        L.append("| operation | side | table (layouts) | calls | hook p50 µs | API call p50 µs | pnfs_shim_upcall p50 µs | API call − upcall µs | client-seen p50 over stock µs |")
        L.append("|---|---|---|---:|---:|---:|---:|---:|---:|")
        sizes = rep.get("hook_table_sizes", {})
        for pre, op in (("lg", "LAYOUTGET"), ("gdi", "GETDEVICEINFO")):
            for tbl in ("full", "empty"):
                for side in ("echo", "daemon"):
                    h = hk.get(tbl, {}).get(side, {})
                    if f"{pre}_hook" not in h or side not in ops[op]:
                        continue
                    diff = ops[op][side]["p50_us"] - ops[op]["stock"]["p50_us"]
                    cell = lambda k: f0(h[k]["p50_us"]) if k in h else "—"
                    gap = (f0(h[f"{pre}_api"]["p50_us"] - h[f"{pre}_upcall"]["p50_us"])
                           if f"{pre}_api" in h and f"{pre}_upcall" in h else "—")
                    L.append(f"| {op} | {side} | {tbl} ({sizes.get(side + '_' + tbl, '?')}) | "
                             f"{h[f'{pre}_hook']['n']} | {cell(pre + '_hook')} | {cell(pre + '_api')} | "
                             f"{cell(pre + '_upcall')} | {gap} | {diff:+.0f} |")
        L.append("")
    ks = rep.get("kernel_half_stats", {}).get("kernel", {})
    ds = rep.get("kernel_half_stats", {}).get("daemon", {})
    if ks:
        parts = []
        for kind in ("layout-get", "get-device-info"):
            k = ks.get(kind)
            if k:
                parts.append(f"{kind} {k['answered']} upcalls, p50 {k['p50_ns'] / 1000:.0f} µs, "
                             f"p99 {k['p99_ns'] / 1000:.0f} µs")
        L.append("The kernel half's own timing of the upcall (unicast → REPLY, its log-bucket "
                 "histogram; every upcall of the boot, echo's and warm-ups included): "
                 + "; ".join(parts) + ".")
        if ds:
            L.append("The daemon's own service time (arrival → REPLY built, from its counters since "
                     "its last start, the final decomposition segment; its fast path times one "
                     "batch in 8): "
                     + ", ".join(f"{k} p50 {v.get('p50_ns', 0) / 1000:.0f} µs, p99 "
                                 f"{v.get('p99_ns', 0) / 1000:.0f} µs ({v.get('received')} received)"
                                 for k, v in ds.items() if v.get("p50_ns")) + ".")
        L.append("")
    if rep.get("kernel_half_layout_table") is not None:
        sizes = rep.get("hook_table_sizes", {})
        top = max(sizes.values()) if sizes else rep["kernel_half_layout_table"]
        L.append(f"The kernel half's layout table held {top} layouts after the rounds "
                 f"({rep['kernel_half_layout_table']} at the very end, after the emptying above): "
                 "on 6.1 nfsd reports no LAYOUTRETURN to the daemon (PROTOCOL.md), so the table "
                 "forgets a layout only on a recall, and every granted LAYOUTGET of the run added one "
                 "(a fresh client each mount, a fresh stateid each file); it is scanned linearly on "
                 "every grant.")
        L.append("")
    L.append("## Verdict")
    L.append("")
    for op in OPS:
        o = ops[op]
        firm = o["ratio_p50_ci95"][1] <= TARGET if o["met"] else o["ratio_p50_ci95"][0] > TARGET
        L.append(f"- {op}: daemon / stock p50 **{o['ratio_p50']:.2f}×** — target ≤ 1.25× "
                 f"**{'met' if o['met'] else 'not met'}**"
                 + ("" if firm else " (the 95 % interval straddles 1.25×)")
                 + (f"; the bare echo alone is {o['echo_vs_stock_p50']:.2f}× stock, the daemon "
                    f"{o['daemon_vs_echo_p50']:.2f}× the echo" if echo else "") + ".")
    if echo and not all(ops[op]["met"] for op in OPS):
        L.append("")
        L.append("Why, from the numbers above: a bare echo answering the same upcalls already "
                 "misses by about as much (" + ", ".join(
                     f"{op} {ops[op]['echo_vs_stock_p50']:.2f}×" for op in OPS)
                 + " stock), while the daemon costs " + ", ".join(
                     f"{ops[op]['daemon_vs_echo_p50']:.2f}×" for op in OPS)
                 + " the echo: on this emulated CPU one upcall, as the waiting nfsd thread sees it, "
                 "takes about as long as stock nfsd's whole answer. See `REPORT.md`.")
    L.append("")
    L.append("## Per round (p50 µs of each segment's samples)")
    L.append("")
    cols = " | ".join(f"{op} {v}" for op in OPS for v in V)
    L.append(f"| round | {cols} | LAYOUTGET daemon / stock | GETDEVICEINFO daemon / stock |")
    L.append("|---:|" + "---:|" * (len(V) * 2 + 2))
    per = {}
    for op in OPS:
        for v in V:
            for seg, xs in rep["_seg_p50"][op][v].items():
                per.setdefault(seg, {})[(op, v)] = xs
    for seg in sorted(per):
        cells = " | ".join(f0(per[seg][(op, v)]) if (op, v) in per[seg] else "—" for op in OPS for v in V)
        rat = []
        for op in OPS:
            a, b = per[seg].get((op, "daemon")), per[seg].get((op, "stock"))
            rat.append(f"{a / b:.2f}×" if a and b else "—")
        L.append(f"| {seg} | {cells} | {rat[0]} | {rat[1]} |")
    L.append("")
    L.append(f"Segments: {nseg} of each variant; every segment's checks passed (the run is rejected "
             "otherwise). Per segment (from the log):")
    L.append("")
    L.append("| variant | round | ms | mount+umount ms | client LAYOUTGET | client GETDEVICEINFO | nfsd LAYOUTGET | adapter granted | daemon layout-get | daemon get-device-info | NFSv3 READ | connections to :2049 |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for s in rep["segments"]:
        L.append(f"| {s['variant']} | {s['segment']} | {s.get('ms')} | {s.get('mount_umount_ms', '—')} | "
                 f"{s.get('client_layoutget')} | {s.get('client_getdeviceinfo')} | {s.get('server_layoutget')} | "
                 f"{s.get('adapter_granted')} | {s.get('daemon_layoutget')} | {s.get('daemon_getdeviceinfo')} | "
                 f"{s.get('v3_read')} | {s.get('ds')} |")
    L.append("")
    L.append("nfsd counts one LAYOUTGET more per mount than the client times: the client's first OPEN "
             "carries a LAYOUTGET (PNFS_LAYOUTGET_ON_OPEN) that nfsd refuses before its layout code; "
             "no upcall, no separate RPC.")
    L.append("")
    L.append("![CDF](flexfiles-cdf.png)")
    L.append("")
    with open(os.path.join(HERE, "flexfiles.md"), "w") as f:
        f.write("\n".join(L))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/ffbench.log")
