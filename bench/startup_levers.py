"""Start-up levers, one at a time (issue 15): the same six JVMs (3 ZooKeeper + 3 brokers, plaintext,
no agents) started directly through the runtime with different start-up options, interleaved so every
variant sees the same machine load. For each start: wall time to "every broker registered" and the
CPU seconds the six JVMs used to get there (utime + stime from /proc when the last broker is
ready). CPU seconds hardly depend on the machine's load, so they resolve a lever even on a shared
machine where wall times do not.

  .venv/bin/python bench/startup_levers.py [--reps 3] [--variants stock,cds,cds+parallel,...]

Variants (joined with +): stock (Kafka's own flags, no archive, ZooKeeper first), cds (the
class-data-sharing archives of `openmsk cds build`), parallel (brokers start with ZooKeeper, not
after its quorum), zkc1 (ZooKeeper JIT at C1 only), bc1 (brokers at C1 only), bserial (brokers on
SerialGC), flags (runtime/jvm_flags.py's start-up flags as openmsk uses them).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from openmsk.runtime import addressing, cds  # noqa: E402
from openmsk.runtime.distribution import KafkaDistribution  # noqa: E402
from openmsk.runtime.kafka_config import BrokerConfig, Listener  # noqa: E402
from openmsk.runtime.local import LocalProcessPlacement  # noqa: E402
from openmsk.runtime.nodes import BrokerProcess, ZooKeeperNode  # noqa: E402
from openmsk.runtime.zookeeper_config import ZooKeeperConfig  # noqa: E402

SLOT = 241
EXTRA = {
    "zkc1": ("zookeeper", ["-XX:TieredStopAtLevel=1"]),
    "bc1": ("broker", ["-XX:TieredStopAtLevel=1"]),
    "bserial": ("broker", ["-XX:+UseSerialGC"]),
}


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0]


async def start(workdir: Path, variant: str) -> tuple[float, float]:
    levers = set(variant.split("+"))
    os.environ["OPENMSK_CDS"] = "1" if "cds" in levers else "0"
    os.environ["OPENMSK_STARTUP_FLAGS"] = "1" if "flags" in levers else "0"
    dist = KafkaDistribution.locate()
    placement = LocalProcessPlacement(workdir)
    cdir = workdir / "c"
    ensemble = {m: addressing.node_address(addressing.zone_cidr(m), SLOT, 100 + m) for m in (1, 2, 3)}
    zks = [ZooKeeperNode(cdir, ZooKeeperConfig(m, ensemble[m], "", ensemble)) for m in (1, 2, 3)]
    connect = zks[0].config.connect_string()
    brokers = [BrokerProcess(cdir, BrokerConfig(b, f"az{b}", addressing.node_address(addressing.zone_cidr(b), SLOT, b),
                                                [Listener("PLAINTEXT", "PLAINTEXT", 9092)], "PLAINTEXT", "", connect, 3, 3))
               for b in (1, 2, 3)]

    def extra(kind):
        return [opt for lever in levers if lever in EXTRA and EXTRA[lever][0] == kind for opt in EXTRA[lever][1]]

    pids = []
    t0 = time.monotonic()
    for z in zks:
        pids.append((await placement.apply(z.spec(dist, extra_jvm_opts=extra("zookeeper")))).pid)
    if "parallel" not in levers:
        while not all([await z.ready() for z in zks]):
            await asyncio.sleep(0.1)
    for b in brokers:
        pids.append((await placement.apply(b.spec(dist, extra_jvm_opts=extra("broker")))).pid)
    while not all([await b.ready() for b in brokers]):
        if time.monotonic() - t0 > 300:
            raise RuntimeError(f"{variant}: brokers not ready after 300 s")
        await asyncio.sleep(0.1)
    elapsed = time.monotonic() - t0
    cpu = sum(cpu_seconds(p) for p in pids)
    for node in [*brokers, *zks]:
        await placement.delete(node.name, grace=30, purge=True)
    return elapsed, cpu


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--variants", default="stock,cds,cds+parallel,cds+parallel+zkc1")
    args = parser.parse_args()
    variants = args.variants.split(",")
    missing = [k for k, p in cds.status(KafkaDistribution.locate()).items() if p is None and k in ("broker", "zookeeper")]
    if any("cds" in v for v in variants) and missing:
        print(f"no CDS archive for {missing}: run `openmsk cds build` first", file=sys.stderr)
        return 2
    results = {v: {"wall": [], "cpu": [], "load": []} for v in variants}
    with tempfile.TemporaryDirectory(prefix="openmsk-levers-") as tmp:
        for rep in range(args.reps):
            order = variants[rep % len(variants):] + variants[:rep % len(variants)]   # rotate the order
            for v in order:
                before = load()
                wall, cpu = asyncio.run(start(Path(tmp) / f"{rep}-{v.replace('+', '-')}", v))
                results[v]["wall"].append(wall)
                results[v]["cpu"].append(cpu)
                results[v]["load"].append(float(before))
                print(f"rep {rep} {v:<28} wall {wall:6.1f} s  cpu {cpu:6.1f} s  (load {before})", flush=True)
    base = variants[0]
    bw, bc = statistics.median(results[base]["wall"]), statistics.median(results[base]["cpu"])
    print(f"\nmedians over {args.reps} interleaved reps; ratios against '{base}' measured in the same run")
    for v in variants:
        w, c = statistics.median(results[v]["wall"]), statistics.median(results[v]["cpu"])
        print(f"{v:<28} wall {w:6.1f} s ({w / bw:4.2f}x)   cpu {c:6.1f} s ({c / bc:4.2f}x)   "
              f"load {min(results[v]['load']):.1f}-{max(results[v]['load']):.1f}")
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "startup_levers.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
