#!/usr/bin/env python3
"""Plots of the benchmark reports (benches/*-report.json) as PNG, beside them.

    python3 benches/plot.py        (needs matplotlib: pip install matplotlib)

Run by benches/run.sh after the benchmarks; the plots show the same numbers as the
reports' tables, nothing else:
  upcall-latency.png     p50 / p99 / p99.9 of every upcall path next to its floor
                         (the bare USERSOCK echo), per placement; log scale
  upcall-throughput.png  GET_STATE upcalls/s against depth, product and floor
  codec.png              ns per message, ours against netlink-packet-generic
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
    up = load("upcall-report.json")
    upcall_latency(up)
    upcall_throughput(up)
    codec(load("codec-report.json"))
    print("plot.py: wrote upcall-latency.png, upcall-throughput.png, codec.png in", HERE)


if __name__ == "__main__":
    main()
