"""Where an idle JVM's CPU and memory go, from /proc (idle_cost.py --breakdown): per-thread CPU grouped
by thread name (as bench/README.md's "Where an idle 3+3 cluster's memory and CPU go" tables) and
per-mapping PSS grouped into heap, CDS archive, code cache and other.

Thread names are the kernel's (`/proc/<pid>/task/<tid>/comm`, 15 characters). Mappings: the Java heap
is the anonymous memory below 32 GiB (HotSpot places a heap of a few hundred MiB there for
zero-based compressed oops; nothing else of a JVM lives that low), the CDS archive is the mapped `.jsa`
file, the code cache is the anonymous executable memory (rwx); the rest (metaspace and class space,
thread stacks, malloc arenas, GC structures, libraries) is "other".
"""
from __future__ import annotations

import os
import re
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
THREAD_GROUPS = [          # first match wins
    ("C2/C1 compiler", re.compile(r"^C[12] CompilerThre")),
    ("data-plane-kafka-* (network + request handlers)", re.compile(r"^data-plane-kafk")),
    ("ExpirationReaper-*", re.compile(r"^ExpirationReape")),
    ("metrics-meter-tick-thread", re.compile(r"^metrics-meter-t")),
    ("JMX agent (prometheus-http, HTTP-Dispatcher)", re.compile(r"^(prometheus-http|HTTP-Dispatcher)")),
    ("GC + VM (GC Thread, G1 *, VM Thread, VM Periodic)", re.compile(r"^(GC Thread|G1 |VM Thread|VM Periodic)")),
    ("ZooKeeper (SyncThread, QuorumPeer, Learner, NIO*, *Cnxn*)", re.compile(r"(SyncThread|QuorumPeer|Learner|NIO|Cnxn|SendWorker|RecvWorker|ZooKeeper|ListenerHandler)")),
]
LOW_HEAP = 32 << 30


def is_jvm(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"java")
    except OSError:
        return False


def kind(pid: int) -> str:
    cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    return "zookeeper" if b"QuorumPeerMain" in cmd else "broker" if b"kafka.Kafka" in cmd else "jvm"


def thread_ticks(pid: int) -> dict[int, tuple[str, int]]:
    out = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            name = (task / "comm").read_text().rstrip("\n")
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            out[int(task.name)] = (name, int(fields[11]) + int(fields[12]))
        except (OSError, IndexError):
            pass
    return out


def thread_group(name: str) -> str:
    return next((label for label, pattern in THREAD_GROUPS if pattern.search(name)), "other")


def cpu_by_group(before: dict, after: dict, seconds: float) -> dict[str, float]:
    """% of one core per thread group between two thread_ticks snapshots (new threads count from 0)."""
    out: dict[str, float] = {}
    for tid, (name, ticks) in after.items():
        spent = ticks - before.get(tid, (name, 0))[1]
        out[thread_group(name)] = out.get(thread_group(name), 0.0) + 100 * spent / TICK / seconds
    return out


def pss_by_group(pid: int) -> dict[str, float]:
    """MiB of PSS per mapping group."""
    out = {"heap": 0.0, "CDS archive": 0.0, "code cache": 0.0, "other": 0.0}
    group = "other"
    try:
        lines = Path(f"/proc/{pid}/smaps").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        head = line.split(None, 5)
        if re.match(r"^[0-9a-f]+-[0-9a-f]+$", head[0]):
            start = int(head[0].split("-")[0], 16)
            path = head[5] if len(head) > 5 else ""
            if path.endswith(".jsa"):
                group = "CDS archive"
            elif not path and start < LOW_HEAP:
                group = "heap"
            elif not path and head[1].startswith("rwx"):
                group = "code cache"
            else:
                group = "other"
        elif line.startswith("Pss:"):
            out[group] += int(head[1]) / 1024
    return out


def report(side: str, before: dict[int, dict], after: dict[int, dict], seconds: float) -> list[str]:
    """Lines: per JVM of a side, thread-group CPU over the window and mapping-group PSS now."""
    lines = []
    for pid in sorted(after):
        groups = cpu_by_group(before.get(pid, {}), after[pid], seconds)
        total = sum(groups.values())
        lines.append(f"{side} {kind(pid)} pid {pid}: {total:.2f} % of a core")
        for label, pct in sorted(groups.items(), key=lambda g: -g[1]):
            lines.append(f"    {pct:5.2f} %  {label}")
        pss = pss_by_group(pid)
        lines.append("    PSS MiB: " + ", ".join(f"{k} {v:.0f}" for k, v in pss.items())
                     + f" (total {sum(pss.values()):.0f})")
    return lines
