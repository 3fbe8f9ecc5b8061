"""Foundation benchmark: create->ACTIVE for a 3+3 cluster, memory, idle control plane, DescribeCluster
latency under signed load. Each figure is printed next to a baseline measured in the same run.

  .venv/bin/python bench/create_cluster.py [--runs 5] [--rate 200] [--seconds 10]
  .venv/bin/python bench/create_cluster.py --kafka-version 3.9.x.kraft --baseline no-cds [--runs 5]

Targets (issue 2): create->ACTIVE <= 20 s median on 2 cores; 3+3 cluster <= 3 GiB resident;
idle control plane <= 150 MiB; DescribeCluster p99 <= 10 ms at 200 signed requests/s.
Issue 15: create->ACTIVE <= 1.0x the bare start, interleaved run by run (create, then bare), each
line printing the machine's load; the bare start is what starting the JVMs by hand gives: Kafka's
stock flags, no class-data-sharing archive, ZooKeeper then brokers. Each line also gives the CPU seconds
(utime + stime) the six JVMs used to get there: on the shared, loaded machine wall times are noise,
CPU to ready resolves (bench/README.md "Start-up levers").
`--baseline no-cds` compares with the same create in a second `openmsk serve` started with OPENMSK_CDS=0
(nodes without class-data-sharing archives), the two alternating (ABBA); any `--kafka-version`, KRaft
included (the bare start is ZooKeeper mode only). Each line then splits the CPU into brokers and quorum
(ZooKeeper or KRaft controllers).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from harness import Service, free_port  # noqa: E402
from startup_levers import cpu_seconds  # noqa: E402

from openmsk.runtime import addressing  # noqa: E402
from openmsk.runtime.distribution import KafkaDistribution  # noqa: E402
from openmsk.runtime.kafka_config import BrokerConfig, Listener  # noqa: E402
from openmsk.runtime.local import LocalProcessPlacement  # noqa: E402
from openmsk.runtime.nodes import BrokerProcess, ZooKeeperNode  # noqa: E402
from openmsk.runtime.zookeeper_config import ZooKeeperConfig  # noqa: E402


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_rss_mib(data_dir: Path) -> float:
    return sum(rss_mib(json.loads(p.read_text())["pid"]) for p in data_dir.glob("clusters/*/*/node.json"))


def jvm_cpu_seconds(cluster_dirs, prefix: str = "") -> float:
    """utime + stime of the nodes recorded under `cluster_dirs` (node.json; `prefix`: of those node
    directories only, e.g. "broker-"), now."""
    return sum(cpu_seconds(json.loads(p.read_text())["pid"]) for d in cluster_dirs for p in d.glob(f"{prefix}*/node.json"))


def create_and_wait(svc: Service, name: str, version: str = "3.9.x", split: dict | None = None) -> tuple[str, float, float]:
    """Create a default cluster, wait for ACTIVE: (arn, seconds, JVM CPU seconds); `split` gets the
    brokers' CPU under "brokers" and the quorum's (ZooKeeper or controllers) under "quorum"."""
    kafka = svc.client("kafka")
    t0 = time.monotonic()
    arn = kafka.create_cluster(ClusterName=name, KafkaVersion=version, NumberOfBrokerNodes=3,
                               BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                    "ClientSubnets": svc.default_subnets(3)})["ClusterArn"]
    while kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["State"] != "ACTIVE":
        time.sleep(0.1)
    elapsed = time.monotonic() - t0
    dirs = list(svc.data_dir.glob(f"clusters/{arn.rsplit('/', 1)[1]}*"))
    total = jvm_cpu_seconds(dirs)
    if split is not None:
        split["brokers"] = jvm_cpu_seconds(dirs, "broker-")
        split["quorum"] = total - split["brokers"]
    return arn, elapsed, total


async def bare_start(workdir: Path, slot: int) -> tuple[float, float]:
    """The same six JVMs started by hand: plaintext, the same heaps, Kafka's stock JVM flags, no
    class-data-sharing archive and none of openmsk's start-up flags, ZooKeeper first, then the
    brokers, ready by the same probes."""
    os.environ["OPENMSK_CDS"], os.environ["OPENMSK_STARTUP_FLAGS"] = "0", "0"
    try:
        return await _bare_start(workdir, slot)
    finally:
        os.environ.pop("OPENMSK_CDS"), os.environ.pop("OPENMSK_STARTUP_FLAGS")


async def _bare_start(workdir: Path, slot: int) -> tuple[float, float]:
    dist = KafkaDistribution.locate()
    placement = LocalProcessPlacement(workdir)
    cdir = workdir / "bare"
    ensemble = {m: addressing.node_address(addressing.zone_cidr(m), slot, 100 + m) for m in (1, 2, 3)}
    zks = [ZooKeeperNode(cdir, ZooKeeperConfig(m, ensemble[m], "", ensemble)) for m in (1, 2, 3)]
    t0 = time.monotonic()
    for z in zks:
        await placement.apply(z.spec(dist))
    while not all([await z.ready() for z in zks]):
        await asyncio.sleep(0.1)
    connect = zks[0].config.connect_string()
    brokers = [BrokerProcess(cdir, BrokerConfig(b, f"az{b}", addressing.node_address(addressing.zone_cidr(b), slot, b),
                                                [Listener("PLAINTEXT", "PLAINTEXT", 9092)], "PLAINTEXT", "", connect, 3, 3))
               for b in (1, 2, 3)]
    for b in brokers:
        await placement.apply(b.spec(dist))
    while not all([await b.ready() for b in brokers]):
        await asyncio.sleep(0.1)
    elapsed, cpu = time.monotonic() - t0, jvm_cpu_seconds([cdir])
    for node in [*brokers, *zks]:
        await placement.delete(node.name, grace=10, purge=True)
    return elapsed, cpu


async def describe_load(svc: Service, arn: str, rate: int, seconds: float, path_fn) -> list[float]:
    import aiohttp
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    creds = svc.credentials
    signer = botocore.auth.SigV4Auth(botocore.credentials.Credentials(creds["access_key_id"], creds["secret_access_key"]),
                                     "kafka", svc.region)
    latencies: list[float] = []

    async def one(session, url, headers):
        t0 = time.perf_counter()
        import yarl
        async with session.get(yarl.URL(url, encoded=True), headers=headers) as resp:   # keep %2F as signed
            await resp.read()
            assert resp.status == 200, resp.status
        latencies.append((time.perf_counter() - t0) * 1000)

    async with aiohttp.ClientSession() as session:
        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            url = svc.endpoint + path_fn(arn)
            req = botocore.awsrequest.AWSRequest(method="GET", url=url)
            signer.add_auth(req)
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session, url, dict(req.headers.items()))))
        await asyncio.gather(*tasks)
    return latencies


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def baseline_create(svc: Service, version: str, run: int, split: dict) -> tuple[float, float]:
    """The `--baseline no-cds` side: the same create in the OPENMSK_CDS=0 service, deleted again."""
    arn, seconds, cpu = create_and_wait(svc, f"base-{run}", version, split)
    svc.client("kafka").delete_cluster(ClusterArn=arn)
    svc.wait_state(arn, states=("GONE",))
    return seconds, cpu


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--kafka-version", default="3.9.x", help="MSK version of the clusters (e.g. 3.9.x.kraft)")
    parser.add_argument("--baseline", choices=("bare", "no-cds"), default="bare",
                        help="bare: the six JVMs by hand (ZooKeeper mode); no-cds: the same create with OPENMSK_CDS=0")
    args = parser.parse_args()
    if args.baseline == "bare" and args.kafka_version.endswith(".kraft"):
        parser.error("the bare start is ZooKeeper mode only: use --baseline no-cds for a KRaft version")
    tmp = Path(tempfile.mkdtemp(prefix="openmsk-bench-"))
    svc = Service(tmp / "data", free_port()).start()
    base_svc = Service(tmp / "base", free_port()).start(env={"OPENMSK_CDS": "0"}) if args.baseline == "no-cds" else None
    base_name = "bare" if base_svc is None else "no-cds"
    results = {}
    try:
        time.sleep(3)
        results["idle_control_plane_mib"] = rss_mib(svc.proc.pid)
        creates, bares, rss, loads, create_cpu, bare_cpu = [], [], [], [], [], []
        for run in range(args.runs):
            loads.append(Path("/proc/loadavg").read_text().split(" ")[0])
            ours, theirs = {}, {}
            # ABBA: the baseline first every other run, and in the last one (whose cluster stays for the
            # memory and DescribeCluster figures: no baseline should start next to it)
            base_first = run % 2 == 1 or run == args.runs - 1
            if base_svc is not None and base_first:
                seconds, cpu = baseline_create(base_svc, args.kafka_version, run, theirs)
                bares.append(seconds)
                bare_cpu.append(cpu)
            arn, seconds, cpu = create_and_wait(svc, f"bench-{run}", args.kafka_version, ours)
            creates.append(seconds)
            create_cpu.append(cpu)
            time.sleep(5)
            rss.append(tree_rss_mib(svc.data_dir))
            if run < args.runs - 1:
                kafka = svc.client("kafka")
                kafka.delete_cluster(ClusterArn=arn)
                svc.wait_state(arn, states=("GONE",))
            if base_svc is None:
                seconds, cpu = asyncio.run(bare_start(tmp / "bare", 240))
            elif not base_first:
                seconds, cpu = baseline_create(base_svc, args.kafka_version, run, theirs)
            if base_svc is None or not base_first:
                bares.append(seconds)
                bare_cpu.append(cpu)
            split = (f" (brokers {ours['brokers']:.1f} vs {theirs['brokers']:.1f} s, quorum {ours['quorum']:.1f} vs "
                     f"{theirs['quorum']:.1f} s)") if theirs else ""
            print(f"run {run}: create->ACTIVE {creates[-1]:.1f} s, {base_name} {bares[-1]:.1f} s "
                  f"(ratio {creates[-1] / bares[-1]:.2f}; load {loads[-1]}); JVM CPU to ready "
                  f"{create_cpu[-1]:.1f} s vs {base_name} {bare_cpu[-1]:.1f} s (ratio {create_cpu[-1] / bare_cpu[-1]:.2f})"
                  + split, flush=True)
        results["create_to_active_s"] = statistics.median(creates)
        results["bare_java_start_s"] = statistics.median(bares)
        results["cluster_rss_mib"] = max(rss)
        results["control_plane_with_cluster_mib"] = rss_mib(svc.proc.pid)
        from urllib.parse import quote
        lat = asyncio.run(describe_load(svc, arn, args.rate, args.seconds,
                                        lambda a: "/v1/clusters/" + quote(a, safe="")))
        base = asyncio.run(describe_load(svc, arn, args.rate, args.seconds, lambda a: "/_openmsk/health"))
        results["describe_p50_ms"], results["describe_p99_ms"] = pct(lat, 50), pct(lat, 99)
        results["health_p99_ms"] = pct(base, 99)
        results["creates"], results["bares"], results["load_per_run"] = creates, bares, loads
        results["ratio_per_run"] = [c / b for c, b in zip(creates, bares)]
        results["create_cpu_s"], results["bare_cpu_s"] = create_cpu, bare_cpu
        results["cpu_ratio_per_run"] = [c / b for c, b in zip(create_cpu, bare_cpu)]
    finally:
        svc.stop_everything()
        if base_svc is not None:
            base_svc.stop_everything()
        shutil.rmtree(tmp, ignore_errors=True)

    def line(name, value, unit, target, baseline=None, base_name=""):
        verdict = "ok" if value <= target else f"MISSED by {value - target:.1f} {unit} ({value / target:.2f}x target)"
        extra = f"   baseline {base_name} {baseline:.1f} {unit} -> ratio {value / baseline:.2f}" if baseline else ""
        print(f"{name:<34} {value:8.1f} {unit:<4} target <= {target:<6} {verdict}{extra}")

    print(f"load average (1 min) at each run: {', '.join(results['load_per_run'])}; "
          f"median of per-run ratios {statistics.median(results['ratio_per_run']):.2f}")
    print(f"version {args.kafka_version}, baseline {base_name}")
    print(f"JVM CPU seconds to ready (median): create {statistics.median(results['create_cpu_s']):.1f} s, {base_name} "
          f"{statistics.median(results['bare_cpu_s']):.1f} s; median of per-run ratios "
          f"{statistics.median(results['cpu_ratio_per_run']):.2f}")
    print(f"runs: {args.runs}; create->ACTIVE per run: {', '.join(f'{c:.1f}' for c in results['creates'])} s; "
          f"{base_name} per run: {', '.join(f'{b:.1f}' for b in results['bares'])} s")
    line("create->ACTIVE (median)", results["create_to_active_s"], "s", 20, results["bare_java_start_s"],
         "bare java starts" if base_svc is None else "creates without CDS")
    line("3+3 cluster resident memory", results["cluster_rss_mib"], "MiB", 3072)
    line("idle control plane RSS", results["idle_control_plane_mib"], "MiB", 150)
    line("control plane RSS with 1 cluster", results["control_plane_with_cluster_mib"], "MiB", 150)
    line(f"DescribeCluster p99 @ {args.rate}/s", results["describe_p99_ms"], "ms", 10, results["health_p99_ms"],
         "unsigned health check p99")
    print(f"{'DescribeCluster p50':<34} {results['describe_p50_ms']:8.1f} ms")
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "create_cluster.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
