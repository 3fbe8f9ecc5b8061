"""Idle cost of an ACTIVE 3+3 cluster with default monitoring (issue 15): CPU as a share of one core
and resident memory, control plane and telemetry included, next to a baseline in the same window.

  .venv/bin/python bench/idle_cost.py [--seconds 300] [--settle 60] [--breakdown]

openmsk: `openmsk serve` with one default cluster (3 brokers, 3 ZooKeeper nodes, TLS, default
monitoring, so the metrics collector runs at its 60 s interval). Baseline: the same six JVMs started
by hand with Kafka's stock flags (plaintext, no agent, no archive), running at the same time, so both
are measured over the same window under the same machine load.
CPU: utime + stime of every process of the tree (the service, its children, the nodes; children that
exit count through the parent's cutime/cstime), difference over the window. Memory: RSS and PSS
(PSS splits pages shared between JVMs, e.g. a class-data-sharing archive, among them).
Targets: <= 2 % of one core, <= 1 GiB resident.
--breakdown: also per JVM of both sides, CPU per thread group over the same window and PSS per mapping
group (heap, CDS archive, code cache, other) at its end (bench/jvm_breakdown.py).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from harness import Service, free_port  # noqa: E402
from jvm_breakdown import is_jvm, report, thread_ticks  # noqa: E402

from openmsk.runtime import addressing  # noqa: E402
from openmsk.runtime.distribution import KafkaDistribution  # noqa: E402
from openmsk.runtime.kafka_config import BrokerConfig, Listener  # noqa: E402
from openmsk.runtime.local import LocalProcessPlacement  # noqa: E402
from openmsk.runtime.nodes import BrokerProcess, ZooKeeperNode  # noqa: E402
from openmsk.runtime.zookeeper_config import ZooKeeperConfig  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
BARE_SLOT = 242


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += children(p)
    return pids


def cpu_seconds(root: int, extra: list[int] = ()) -> float:
    """CPU of root's tree (+ its reaped children) and of `extra` processes (+ their trees)."""
    total = 0.0
    seen = set()
    for top in [root, *extra]:
        for i, pid in enumerate(tree(top)):
            if pid in seen:
                continue
            seen.add(pid)
            fields = _stat(pid)
            if fields:
                total += int(fields[11]) + int(fields[12])
                if pid == top:
                    total += int(fields[13]) + int(fields[14])
    return total / TICK


def memory_mib(pids: list[int]) -> tuple[float, float]:
    rss = pss = 0
    for pid in set(pids):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    return rss / 1024, pss / 1024


def node_pids(data_dir: Path) -> list[int]:
    return [json.loads(p.read_text())["pid"] for p in data_dir.glob("clusters/*/*/node.json")]


async def start_bare(workdir: Path) -> tuple[LocalProcessPlacement, list, list[int]]:
    os.environ["OPENMSK_CDS"] = "0"
    os.environ["OPENMSK_STARTUP_FLAGS"] = "0"
    dist = KafkaDistribution.locate()
    placement = LocalProcessPlacement(workdir)
    cdir = workdir / "bare"
    ensemble = {m: addressing.node_address(addressing.zone_cidr(m), BARE_SLOT, 100 + m) for m in (1, 2, 3)}
    zks = [ZooKeeperNode(cdir, ZooKeeperConfig(m, ensemble[m], "", ensemble)) for m in (1, 2, 3)]
    connect = zks[0].config.connect_string()
    brokers = [BrokerProcess(cdir, BrokerConfig(b, f"az{b}", addressing.node_address(addressing.zone_cidr(b), BARE_SLOT, b),
                                                [Listener("PLAINTEXT", "PLAINTEXT", 9092)], "PLAINTEXT", "", connect, 3, 3))
               for b in (1, 2, 3)]
    pids = []
    for node in zks:
        pids.append((await placement.apply(node.spec(dist))).pid)
    while not all([await z.ready() for z in zks]):
        await asyncio.sleep(0.2)
    for node in brokers:
        pids.append((await placement.apply(node.spec(dist))).pid)
    deadline = time.monotonic() + 600
    while not all([await b.ready() for b in brokers]):
        if time.monotonic() > deadline:
            raise RuntimeError("bare brokers not ready")
        await asyncio.sleep(0.2)
    for key in ("OPENMSK_CDS", "OPENMSK_STARTUP_FLAGS"):
        os.environ.pop(key, None)
    return placement, [*brokers, *zks], pids


def create_idle_cluster(svc: Service) -> str:
    """The default 3+3 cluster both idle benchmarks hold (also bench/relay_passes.py), ACTIVE; its ARN."""
    kafka = svc.client("kafka")
    arn = kafka.create_cluster(ClusterName="idle", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
                               BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                    "ClientSubnets": svc.default_subnets(3)})["ClusterArn"]
    svc.wait_state(arn, timeout=600)
    return arn


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--settle", type=float, default=60)
    parser.add_argument("--breakdown", action="store_true", help="per-thread CPU and per-mapping PSS of each JVM")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="openmsk-idle-"))
    svc = Service(tmp / "data", free_port()).start()
    result = {"uptime_start": os.popen("uptime").read().strip()}
    placement = bare_nodes = None
    breakdown: list[str] = []
    try:
        create_idle_cluster(svc)
        placement, bare_nodes, bare_pids = asyncio.run(start_bare(tmp / "bare"))
        print(f"cluster ACTIVE and bare JVMs ready; settling {args.settle:.0f}s", flush=True)
        time.sleep(args.settle)
        nodes = node_pids(svc.data_dir)
        cp0, bare0, t0 = cpu_seconds(svc.proc.pid), cpu_seconds(bare_pids[0], bare_pids[1:]), time.monotonic()
        nodes_cpu0 = cpu_seconds(nodes[0], nodes[1:])
        jvms = {"openmsk": [p for p in nodes if is_jvm(p)], "bare": [p for p in bare_pids if is_jvm(p)]}
        threads0 = {side: {p: thread_ticks(p) for p in pids} for side, pids in jvms.items()} if args.breakdown else {}
        time.sleep(args.seconds)
        elapsed = time.monotonic() - t0
        breakdown = []
        for side, before in threads0.items():
            breakdown += report(side, before, {p: thread_ticks(p) for p in jvms[side]}, elapsed)
        total = cpu_seconds(svc.proc.pid) - cp0      # the service's tree includes its node JVMs
        nodes_cpu = cpu_seconds(nodes[0], nodes[1:]) - nodes_cpu0
        bare = cpu_seconds(bare_pids[0], bare_pids[1:]) - bare0
        rss, pss = memory_mib(tree(svc.proc.pid))
        cp_rss, _ = memory_mib([svc.proc.pid])
        bare_rss, bare_pss = memory_mib([p for b in bare_pids for p in tree(b)])
        result.update({
            "window_s": round(elapsed, 1),
            "openmsk_cpu_pct_of_core": round(100 * total / elapsed, 2),
            "control_plane_cpu_pct": round(100 * (total - nodes_cpu) / elapsed, 2),
            "jvms_cpu_pct": round(100 * nodes_cpu / elapsed, 2),
            "bare_cpu_pct_of_core": round(100 * bare / elapsed, 2),
            "openmsk_rss_mib": round(rss), "openmsk_pss_mib": round(pss), "control_plane_rss_mib": round(cp_rss),
            "bare_rss_mib": round(bare_rss), "bare_pss_mib": round(bare_pss),
            "uptime_end": os.popen("uptime").read().strip(),
        })
    finally:
        svc.stop_everything()
        if placement is not None:
            async def stop():
                for node in bare_nodes:
                    await placement.delete(node.name, grace=30, purge=True)
            asyncio.run(stop())
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result, indent=2))
    if breakdown:
        print("\nper JVM: CPU per thread group over the window, PSS per mapping group at its end")
        print("\n".join(breakdown))
    r = result
    print(f"\nidle CPU, openmsk cluster: {r['openmsk_cpu_pct_of_core']:.2f} % of a core "
          f"(control plane + telemetry {r['control_plane_cpu_pct']:.2f} %, JVMs {r['jvms_cpu_pct']:.2f} %); "
          f"bare JVMs {r['bare_cpu_pct_of_core']:.2f} % -> ratio "
          f"{r['openmsk_cpu_pct_of_core'] / max(r['bare_cpu_pct_of_core'], 0.01):.2f}; target <= 2 %")
    print(f"resident: openmsk {r['openmsk_rss_mib']} MiB RSS / {r['openmsk_pss_mib']} MiB PSS; bare "
          f"{r['bare_rss_mib']} MiB RSS / {r['bare_pss_mib']} MiB PSS -> ratio "
          f"{r['openmsk_pss_mib'] / max(r['bare_pss_mib'], 1):.2f} (PSS); target <= 1024 MiB")
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "idle_cost.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
