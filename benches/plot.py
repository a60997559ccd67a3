#!/usr/bin/env python3
"""Plots of the benchmark reports (benches/*-report.json) as PNG, beside them.

    python3 benches/plot.py        (needs matplotlib: pip install matplotlib)

Run by benches/run.sh after the benchmarks; the plots show the same numbers as the
reports' tables, nothing else:
  upcall-latency.png     p50 / p99 / p99.9 of every upcall path next to its floor
                         (the bare USERSOCK echo), per placement; log scale
  upcall-cdf.png         latency CDF of every upcall path (every recorded round trip of
                         every round) against the floor, the pipe model and the twin
                         answered by a bare echo, per placement
  upcall-throughput.png  GET_STATE upcalls/s against depth: product, floor, twin+echo
  codec.png              ns per message, ours against netlink-packet-generic
  vm-cdf.png             CDF per path in the VM: the module's load generator answered by
                         the daemon, a bare echo, and the module itself (when
                         benches/vm-report.json exists)
  cpg-cdf.png            CDF of the DS→MDS GET_STATE miss over CPG and of the bare CPG
                         ping-pong (when benches/cpg-report.json exists)
  flexfiles-cdf.png      real nfsd in the VM: the client's LAYOUTGET and GETDEVICEINFO rtt,
                         nfsd asking pnfs_controld vs stock flexfiles, CDF and p50 per round
                         (when benches/flexfiles-report.json exists)

    python3 benches/plot.py flexfiles    draws only flexfiles-cdf.png (benches/flexfiles.sh)
"""
import json
import os
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot.py: matplotlib is not installed (pip install matplotlib)")

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name):
    with open(os.path.join(HERE, name)) as f:
        return json.load(f)


def label(row):
    return f"{row['kind']}\ndepth {row['depth']}"


def upcall_latency(rep):
    places = rep["placements"]
    fig, axes = plt.subplots(len(places), 1, figsize=(11, 4.2 * len(places)), squeeze=False)
    pcts = [("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9")]
    for ax, place in zip(axes[:, 0], places):
        rows = place["rows"]
        width = 0.13
        for i, (key, name) in enumerate(pcts):
            xs = [j + (2 * i - 2.5) * width for j in range(len(rows))]
            ax.bar(xs, [r["product"][key] for r in rows], width, label=f"product {name}",
                   color=("C0", "C1", "C2")[i])
            ax.bar([x + width for x in xs], [r["floor"][key] for r in rows], width,
                   label=f"floor {name}", color=("C0", "C1", "C2")[i], alpha=0.35,
                   hatch="//")
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([label(r) for r in rows], fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("µs (log)")
        ax.set_title(f"upcall round trip vs bare USERSOCK echo — {place['placement']}")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, ncol=3)
    fig.suptitle(f"twin → pnfs_controld → twin, {rep['date']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "upcall-latency.png"), dpi=110)
    plt.close(fig)


def upcall_throughput(rep):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for n, place in enumerate(rep["placements"]):
        rows = sorted((r for r in place["rows"] if r["kind"] == "get-state"),
                      key=lambda r: r["depth"])
        depths = [r["depth"] for r in rows]
        ax.plot(depths, [r["product"]["per_sec"] for r in rows], "o-", color=f"C{n}",
                label=f"product ({place['placement']})")
        ax.plot(depths, [r["floor"]["per_sec"] for r in rows], "s--", color=f"C{n}",
                alpha=0.6, label=f"floor ({place['placement']})")
        if rows and "twin_echo" in rows[0]:
            ax.plot(depths, [r["twin_echo"]["per_sec"] for r in rows], "^:", color=f"C{n}",
                    alpha=0.6, label=f"twin+echo ({place['placement']})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("upcalls in flight")
    ax.set_ylabel("upcalls/s (log)")
    ax.set_title(f"GET_STATE throughput vs depth, {rep['date']}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "upcall-throughput.png"), dpi=110)
    plt.close(fig)


def cdf(pairs):
    """[(lower_ns, count), ...] -> (µs, cumulative fraction) step points."""
    total = sum(c for _, c in pairs)
    xs, ys, seen = [], [], 0
    for ns, c in pairs:
        seen += c
        xs.append(ns / 1000)
        ys.append(seen / total)
    return xs, ys


def step_cdf(ax, pairs, color, style, label):
    """One CDF line from [(lower_ns, count), ...]; nothing if there are none."""
    if pairs:
        xs, ys = cdf(pairs)
        ax.step(xs, ys, where="post", color=color, linestyle=style, label=label)


def upcall_cdf(rep):
    places = rep["placements"]
    if not places or "hist_ns" not in places[0]["rows"][0]:
        return False
    nrows = len(places[0]["rows"])
    fig, axes = plt.subplots(nrows, len(places), figsize=(6 * len(places), 2.6 * nrows),
                             squeeze=False)
    sides = [("product", "twin → daemon → twin", "C0", "-"),
             ("twin_echo", "twin → bare echo → twin", "C2", "-."),
             ("floor", "bare USERSOCK echo (floor)", "C1", "--"),
             ("pipe", "pipe pair (rpc_pipefs model)", "C7", ":")]
    for col, place in enumerate(places):
        for row, r in enumerate(place["rows"]):
            ax = axes[row, col]
            for key, name, color, style in sides:
                step_cdf(ax, r["hist_ns"].get(key), color, style, name)
            ax.set_xscale("log")
            ax.set_ylim(0, 1.01)
            ax.grid(alpha=0.3)
            ax.set_title(f"{r['kind']} depth {r['depth']} — {place['placement']}", fontsize=9)
            if row == nrows - 1:
                ax.set_xlabel("round trip µs (log)")
            if col == 0:
                ax.set_ylabel("fraction ≤ x")
            if row == 0 and col == 0:
                ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"upcall latency CDF (every round trip of every round), {rep['date']}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "upcall-cdf.png"), dpi=100)
    plt.close(fig)
    return True


def cpg(rep):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, name, color, style in [
            ("product", "GET_STATE miss: DS → CPG → MDS → CPG → DS", "C0", "-"),
            ("floor", "bare CPG ping-pong (floor)", "C1", "--")]:
        step_cdf(ax, rep["hist_ns"].get(key), color, style,
                 f"{name}, p50 {rep[key]['p50_us']:.0f} µs")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("round trip µs (log)")
    ax.set_ylabel("fraction ≤ x")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"CPG paths, 3 netns nodes: p50 ratio {rep['p50_vs_floor']:.2f}×, {rep['date']}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "cpg-cdf.png"), dpi=110)
    plt.close(fig)


def vm(rep):
    rows = rep["rows"]
    fig, axes = plt.subplots(1, len(rows), figsize=(4.2 * len(rows), 3.8), squeeze=False)
    sides = [("daemon", "pnfs_controld", "C0", "-"),
             ("echo", "bare user-space echo", "C1", "--"),
             ("loopback", "module alone (loopback)", "C7", ":")]
    for ax, r in zip(axes[0], rows):
        for key, name, color, style in sides:
            step_cdf(ax, (r.get(key) or {}).get("hist_ns"), color, style, name)
        ax.set_xscale("log")
        ax.set_ylim(0, 1.01)
        ax.grid(alpha=0.3)
        ax.set_title(f"{r['kind']} depth {r['depth']}", fontsize=9)
        ax.set_xlabel("µs (log)")
    axes[0][0].set_ylabel("fraction ≤ x")
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"VM ({rep['accelerator']}, guest {rep['guest_kernel']}): module's load "
                 f"generator answered by..., {rep['date']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "vm-cdf.png"), dpi=100)
    plt.close(fig)


def flexfiles(rep):
    ops = ["LAYOUTGET", "GETDEVICEINFO"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), squeeze=False)
    sides = [("stock", "stock flexfiles (no hooks)", "C1", "--", "s"),
             ("echo", "nfsd → pnfs_shim_ff → bare echo", "C7", ":", "^"),
             ("daemon", "nfsd → pnfs_shim_ff → pnfs_controld", "C0", "-", "o")]
    sides = [s for s in sides if s[0] in rep.get("variants", ["stock", "daemon"])]
    for col, op in enumerate(ops):
        o = rep["ops"][op]
        ax = axes[0][col]
        for key, name, color, style, _ in sides:
            xs = sorted(o[key]["rtt_us"])
            if xs:
                ax.step(xs, [(i + 1) / len(xs) for i in range(len(xs))], where="post",
                        color=color, linestyle=style,
                        label=f"{name}: p50 {o[key]['p50_us']:.0f} µs (n {o[key]['n']})")
        ax.set_xscale("log")
        ax.set_ylim(0, 1.01)
        ax.grid(alpha=0.3)
        ax.set_xlabel("client rtt µs (log)")
        ax.set_ylabel("fraction ≤ x")
        ax.set_title(f"{op}: daemon / stock p50 {o['ratio_p50']:.2f}× (target ≤ "
                     f"{rep['target_p50_ratio']}×)", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
        ax = axes[1][col]
        rounds = o["rounds"]
        for key, name, color, style, marker in sides:
            rs = [r for r in rounds if f"{key}_p50_us" in r]
            ax.plot([r["round"] for r in rs], [r[f"{key}_p50_us"] for r in rs],
                    marker=marker, color=color, linestyle=style, label=name)
        ax.set_xlabel("round (one segment of each variant, in turn)")
        ax.set_ylabel("segment p50 µs")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.set_title(f"{op}: p50 per segment", fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(f"real nfsd flexfile layouts, NFSv4.1 loopback client ({rep['accelerator'].upper()}, "
                 f"guest {rep['guest_kernel']}), {rep['date']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "flexfiles-cdf.png"), dpi=100)
    plt.close(fig)


def codec(rep):
    rows = rep["codec"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ys = range(len(rows))
    ax.barh([y + 0.2 for y in ys], [r["ours_ns"] for r in rows], 0.4, label="ours")
    ax.barh([y - 0.2 for y in ys], [r["theirs_ns"] for r in rows], 0.4,
            label="netlink-packet-generic")
    ax.set_yticks(list(ys))
    ax.set_yticklabels([r["case"] for r in rows], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("ns per message (log)")
    ax.set_title(f"codec, {rep['date']}", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "codec.png"), dpi=110)
    plt.close(fig)


def main():
    if sys.argv[1:] == ["flexfiles"]:
        flexfiles(load("flexfiles-report.json"))
        print("plot.py: wrote flexfiles-cdf.png in", HERE)
        return
    up = load("upcall-report.json")
    upcall_latency(up)
    upcall_throughput(up)
    wrote = ["upcall-latency.png", "upcall-throughput.png"]
    if upcall_cdf(up):
        wrote.append("upcall-cdf.png")
    codec(load("codec-report.json"))
    wrote.append("codec.png")
    if os.path.exists(os.path.join(HERE, "vm-report.json")):
        vm(load("vm-report.json"))
        wrote.append("vm-cdf.png")
    if os.path.exists(os.path.join(HERE, "cpg-report.json")):
        cpg(load("cpg-report.json"))
        wrote.append("cpg-cdf.png")
    if os.path.exists(os.path.join(HERE, "flexfiles-report.json")):
        flexfiles(load("flexfiles-report.json"))
        wrote.append("flexfiles-cdf.png")
    print("plot.py: wrote", ", ".join(wrote), "in", HERE)


if __name__ == "__main__":
    main()
