#!/usr/bin/env python3
"""Writes the seed corpus of the stateful `daemon` fuzz target (fuzz/corpus/daemon/):
step sequences (see fuzz_targets/daemon.rs) built from the other targets' seeds, which
are real messages: the kernel half's upcalls from netlink/tests/fixtures.rs (family ids
0x20 pnfsd, 0x21 gfs2ctl, as the harness registers them) and every daemon-to-daemon
message kind from src/wire.rs. Run from anywhere: python3 fuzz/daemon_seeds.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def seed(target, name):
    with open(os.path.join(HERE, "corpus", target, name), "rb") as f:
        return f.read()


def chunk(b):
    return struct.pack("<H", len(b)) + b


def datagram(b):
    return b"\x00" + chunk(b)


def cluster(node, b):  # from node `node` (1..=4)
    return b"\x03" + bytes([node - 1]) + chunk(b)


def membership(members, joined=0, left=0, quorate=True):
    return bytes([0x04 if quorate else 0x84, members, joined, left])


LOOPBACK = b"\x05"
TICK = b"\x07"
SAVED = b"\x87"
SAVE_FAILED = b"\xc7"


def downcalls(ok=True, value=0):
    return bytes([0x06 if ok else 0x86]) + struct.pack("<I", value)


UPCALLS = ["get_state_upcall", "layout_get_upcall", "gfs2_mount_upcall"]
seeds = {
    # Alone: elect ourselves, serve every upcall kind, complete what they started.
    "alone-upcalls": membership(0b1, 0b1) + LOOPBACK + downcalls() + b"".join(
        datagram(seed("nlmsg", u)) + downcalls(value=1) + LOOPBACK for u in UPCALLS
    ) + SAVED + TICK,
    # Two nodes: node 2's every message kind, in order, then node 2 dies.
    "two-nodes-all-kinds": membership(0b11, 0b11) + LOOPBACK + b"".join(
        cluster(2, seed("cpgmsg", "kind-%02d" % i)) + LOOPBACK + downcalls(value=i)
        for i in range(12)
    ) + membership(0b1, 0, 0b10) + LOOPBACK + downcalls() + TICK,
    # Three nodes, upcalls, then a partition: quorum lost, regained.
    "three-nodes-partition": membership(0b111, 0b111) + LOOPBACK
    + cluster(2, seed("cpgmsg", "kind-00")) + LOOPBACK
    + datagram(seed("nlmsg", "get_state_upcall")) + downcalls(False) + LOOPBACK
    + membership(0b1, 0, 0b110, quorate=False) + TICK
    + datagram(seed("nlmsg", "gfs2_mount_upcall")) + SAVE_FAILED
    + membership(0b111, 0b110) + LOOPBACK + downcalls(value=7) + SAVED + TICK,
}
out = os.path.join(HERE, "corpus", "daemon")
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    print("%s: %d bytes" % (name, len(data)))
