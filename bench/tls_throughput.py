"""Produce throughput through openmsk vs the same node commands started by hand, and TLS vs plaintext.

  .venv/bin/python bench/tls_throughput.py [--reps 7] [--runs 2] [--records 150000] [--record-size 1024] [--json FILE]
  .venv/bin/python bench/tls_throughput.py --report FILE [FILE...]  # re-print saved runs (several: pooled)

(about 30 minutes on 2 cores with the defaults; 20 with --runs 1)

One TLS_PLAINTEXT cluster (3 brokers in 3 zones, InCluster TLS, MSK's defaults) is created in a service of
its own. Every figure is `kafka-producer-perf-test.sh` (Kafka 3.9.1, acks=all, a fresh 3-partition RF-3
topic per run, deleted after it, unlimited rate), in MB/s. The two sides:

  openmsk  `openmsk serve` running the cluster (control plane, supervisor, telemetry collector, log
           shipper all active), nodes started by it
  by-hand  `openmsk serve` stopped and the nodes stopped; then the very commands openmsk recorded in each
           node's node.json (`nsenter --net=<its namespace> -- java ... kafka.Kafka <server.properties>`,
           QuorumPeerMain <zoo.cfg>) started directly with subprocess, with the launch environment it
           records (MALLOC_ARENA_MAX, the CDS archive's JDK_JAVA_OPTIONS): same directories,
           certificates, addresses, namespaces, JVM flags and environment

Repetitions are interleaved: each repetition runs one phase of each side, in ABBA order (openmsk first
in even repetitions, by-hand first in odd ones) so that drift in the machine's load falls on both
sides alike. Every phase starts the same way: all six JVMs stopped, the brokers' log directories
emptied of earlier runs' topics (a fresh log directory per phase: no phase writes onto a disk and page
cache full of the one before), the side's JVMs started, one discarded warm-up run per protocol, then
`--runs` measured PLAINTEXT (9092) and TLS (9094) runs each, in alternating order. A phase's figure per
protocol is the mean of its runs: more runs per phase average out a single run's noise without paying
for another JVM start and warm-up.

Ratios printed: openmsk / by-hand per protocol (target >= 0.97) as the ratio of the medians, as the
median of the per-repetition ratios (with their range), and as the geometric mean of the per-repetition
ratios with its 95 % t-interval, which says whether the run resolves the target; and
TLS / plaintext (target >= 0.75). The by-hand side reuses the same data directories rather than a second
slot: certificates carry the nodes' IP addresses, so a copy at other addresses would need other
certificates, i.e. not identical settings.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from harness import Service, alive, free_port  # noqa: E402

BIN = Path(sys.executable).parent
PERF = str(BIN / "kafka-producer-perf-test.sh")
RESULT = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency")
SIDES = ("openmsk", "by-hand")
PROTOCOLS = ("plaintext", "tls")
TOPIC_PREFIX = "perf-"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def uptime() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def create_cluster(svc: Service) -> tuple[str, dict]:
    kafka = svc.client("kafka")
    arn = kafka.create_cluster(
        ClusterName="tls-bench", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
        BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large", "ClientSubnets": svc.default_subnets(3)},
        EncryptionInfo={"EncryptionInTransit": {"ClientBroker": "TLS_PLAINTEXT", "InCluster": True}},
    )["ClusterArn"]
    svc.wait_state(arn, timeout=900)
    return arn, kafka.get_bootstrap_brokers(ClusterArn=arn)


def admin(bootstrap: str):
    from confluent_kafka.admin import AdminClient
    # log_level 0: brokers still starting is expected
    return AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})


def wait_brokers(bootstrap: str, count: int = 3, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client = admin(bootstrap)        # keep a reference: a destroyed handle fails its futures
            if len(client.describe_cluster(request_timeout=10).result(15).nodes) >= count:
                return
        except Exception:   # noqa: BLE001 - brokers still starting
            pass
        time.sleep(1)
    raise RuntimeError(f"brokers at {bootstrap} not all up after {timeout}s")


def new_topic(bootstrap: str) -> str:
    from confluent_kafka.admin import NewTopic
    topic = f"{TOPIC_PREFIX}{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + 300
    while True:
        try:
            client = admin(bootstrap)
            client.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])[topic].result(60)
            time.sleep(2)      # leaders elected and known everywhere
            return topic
        except Exception:      # noqa: BLE001 - e.g. a broker not yet registered after a restart
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def delete_perf_topics(bootstrap: str, timeout: float = 300) -> None:
    """Delete every perf topic and wait until the controller no longer lists any."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client = admin(bootstrap)
            topics = [t for t in client.list_topics(timeout=15).topics if t.startswith(TOPIC_PREFIX)]
            if not topics:
                return
            for future in client.delete_topics(topics, operation_timeout=60).values():
                future.result(90)
        except Exception:      # noqa: BLE001 - deletion in progress; list again
            pass
        time.sleep(1)
    raise RuntimeError(f"perf topics still listed after {timeout}s")


def perf(bootstrap: str, plaintext_bootstrap: str, config: Path | None, records: int, size: int) -> dict:
    topic = new_topic(plaintext_bootstrap)
    cmd = [PERF, "--topic", topic, "--num-records", str(records), "--record-size", str(size), "--throughput", "-1",
           "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all"]
    if config:
        cmd += ["--producer.config", str(config)]
    env = {**os.environ, "KAFKA_HEAP_OPTS": "-Xmx512m"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    lines = [m for m in RESULT.finditer(proc.stdout)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"perf test failed ({proc.returncode}): {proc.stdout[-1500:]} {proc.stderr[-1500:]}")
    delete_perf_topics(plaintext_bootstrap)
    last = lines[-1]
    return {"records_per_s": float(last.group(2)), "mb_per_s": float(last.group(3)), "avg_ms": float(last.group(4)),
            "load": uptime()}


class Nodes:
    """The cluster's six JVMs, run either by `openmsk serve` or by hand from their node.json records."""

    def __init__(self, svc: Service, arn: str, boot: dict) -> None:
        self.svc, self.arn, self.boot = svc, arn, boot
        self.cluster_dir = svc.data_dir / "clusters" / arn.rsplit("/", 1)[1]
        self.by_hand: list[subprocess.Popen] = []

    def records(self) -> list[dict]:
        out = []
        for f in sorted(self.cluster_dir.glob("*/node.json")):
            rec = json.loads(f.read_text())
            if rec.get("kind") in ("zookeeper", "broker"):
                out.append({**rec, "workdir": f.parent})
        return out

    def log_dirs(self) -> list[Path]:
        dirs = []
        for props in self.cluster_dir.glob("broker-*/server.properties"):
            for line in props.read_text().splitlines():
                if line.startswith("log.dirs="):
                    dirs += [Path(d) for d in line.split("=", 1)[1].split(",")]
        return dirs

    def stop(self) -> None:
        """Stop whichever side runs: the service (which leaves its nodes running), then the brokers, then
        ZooKeeper (a broker's controlled shutdown needs the quorum, or its registration outlives it)."""
        self.svc.kill(signal.SIGTERM)
        for kind in ("broker", "zookeeper"):
            pids = [p.pid for p in self.by_hand if p.kind == kind and p.poll() is None]
            pids += [r["pid"] for r in self.records() if r["kind"] == kind and alive(r["pid"])]
            for pid in pids:
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 180
            while any(alive(pid) for pid in pids):
                if time.monotonic() > deadline:
                    for pid in pids:
                        if alive(pid):
                            os.kill(pid, signal.SIGKILL)
                time.sleep(0.2)
        for p in self.by_hand:
            p.wait(30)
        self.by_hand = []

    def fresh_log_dirs(self) -> None:
        """With every broker stopped: no earlier run's topic (deleted, or its `-delete` leftover) remains."""
        for d in self.log_dirs():
            for entry in d.glob(f"{TOPIC_PREFIX}*"):
                shutil.rmtree(entry)

    def start(self, side: str) -> None:
        if side == "openmsk":
            self.svc.start()
            self.svc.wait_state(self.arn, timeout=900)
        else:
            # ZooKeeper first, each in its node directory and its own session (as openmsk does)
            for rec in sorted(self.records(), key=lambda r: r["kind"] != "zookeeper"):
                with open(rec["workdir"] / "logs" / "by-hand-stdout.log", "ab") as out:
                    proc = subprocess.Popen(
                        rec["command"], cwd=rec["workdir"], stdin=subprocess.DEVNULL, stdout=out,
                        stderr=subprocess.STDOUT, start_new_session=True,
                        env={**os.environ, **rec.get("launch_env", {})})
                proc.kind = rec["kind"]
                self.by_hand.append(proc)
        wait_brokers(self.boot["BootstrapBrokerString"])


def run_phase(nodes: Nodes, side: str, rep: int, tls_config: Path, records: int, size: int,
              runs: int = 1) -> list[dict]:
    plain, tls = nodes.boot["BootstrapBrokerString"], nodes.boot["BootstrapBrokerStringTls"]
    targets = {"plaintext": (plain, None), "tls": (tls, tls_config)}
    nodes.stop()
    nodes.fresh_log_dirs()
    nodes.start(side)
    log(f"rep {rep + 1} {side}: started, warm-up (discarded), load {uptime()}")
    for proto in PROTOCOLS:
        perf(targets[proto][0], plain, targets[proto][1], records, size)
    out = []
    for run in range(runs):
        for proto in (PROTOCOLS if (rep + run) % 2 == 0 else PROTOCOLS[::-1]):
            r = {"protocol": proto, "run": run, **perf(targets[proto][0], plain, targets[proto][1], records, size)}
            out.append(r)
            log(f"rep {rep + 1} {side:7} {proto:9} run {run + 1}: {r['mb_per_s']:7.2f} MB/s  "
                f"{r['records_per_s']:9.0f} rec/s  avg latency {r['avg_ms']:.0f} ms  load {r['load']}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--runs", type=int, default=2, help="measured runs per protocol in each phase (mean)")
    parser.add_argument("--records", type=int, default=150000)
    parser.add_argument("--record-size", type=int, default=1024)
    parser.add_argument("--json", help="also write the raw figures to this file")
    parser.add_argument("--report", metavar="JSON", nargs="+",
                        help="only print the summary of files written by --json (several: their repetitions pooled)")
    args = parser.parse_args()
    if args.report:
        report(pooled([json.loads(Path(f).read_text()) for f in args.report]))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="openmsk-tlsbench-"))
    svc = Service(tmp / "data", free_port()).start()
    nodes = None
    results: dict = {"load_start": uptime(), "reps": args.reps, "records": args.records,
                     "record_size": args.record_size, "runs_per_phase": args.runs, "runs": []}
    try:
        log(f"creating a TLS_PLAINTEXT 3-broker cluster, load {uptime()}")
        arn, boot = create_cluster(svc)
        tls_config = tmp / "tls.properties"
        tls_config.write_text(f"security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={svc.ca_path}\n")
        nodes = Nodes(svc, arn, boot)
        for rep in range(args.reps):
            for side in (SIDES if rep % 2 == 0 else SIDES[::-1]):
                for r in run_phase(nodes, side, rep, tls_config, args.records, args.record_size, args.runs):
                    results["runs"].append({"rep": rep, "side": side, **r})
    finally:
        if nodes:
            nodes.stop()
        svc.stop_everything()       # `openmsk down`: namespaces and volumes
        results["load_end"] = uptime()
        subprocess.run(["rm", "-rf", str(tmp)])

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    report(results)
    return 0


# Student's t, two-sided 95 %, by degrees of freedom (1-30); beyond, the normal 1.96 is close enough
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
       2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def ratio_interval(ratios: list[float]) -> tuple[float, float, float]:
    """Geometric mean of per-repetition ratios and its 95 % t-interval (on their logarithms): what the
    run can tell apart from noise. A target is resolved when the whole interval is on one side of it."""
    logs = [math.log(r) for r in ratios]
    mean = statistics.fmean(logs)
    df = len(logs) - 1
    half = (T95[df - 1] if df <= len(T95) else 1.96) * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def pooled(files: list[dict]) -> dict:
    """Several runs' figures as one: repetitions renumbered one after the other (each repetition keeps
    its own pair of phases, so per-repetition ratios stay paired)."""
    if len(files) == 1:
        return files[0]
    runs, offset = [], 0
    for f in files:
        runs += [{**r, "rep": r["rep"] + offset} for r in f["runs"]]
        offset += f["reps"]
    return {**files[0], "reps": offset, "runs": runs, "load_end": files[-1]["load_end"],
            "load_start": " / ".join(f["load_start"] for f in files)}


def report(results: dict) -> None:
    med = statistics.median
    runs = results["runs"]

    # a phase's figure per protocol: the mean of its measured runs (one run in files without "run")
    by: dict[tuple, list[float]] = {}
    for r in runs:
        by.setdefault((r["rep"], r["side"], r["protocol"]), []).append(r["mb_per_s"])
    phase = {k: statistics.fmean(v) for k, v in by.items()}
    reps = sorted({r["rep"] for r in runs})

    def mbs(side: str, proto: str) -> list[float]:
        return [phase[(k, side, proto)] for k in reps if (k, side, proto) in phase]

    def per_rep_ratios(proto: str) -> list[float]:
        return [phase[(k, "openmsk", proto)] / phase[(k, "by-hand", proto)] for k in reps
                if (k, "openmsk", proto) in phase and (k, "by-hand", proto) in phase]

    def line(name: str, value: float, target: float, detail: str) -> None:
        verdict = "ok" if value >= target else f"MISSED by {target - value:.2f} ({(1 - value / target) * 100:.0f}% short)"
        print(f"{name:<46} {value:5.3f}  target >= {target:<5} {verdict}   [{detail}]")

    print()
    print(f"load average at start {results['load_start']}, at end {results['load_end']} (2 cores); "
          f"{results['reps']} interleaved repetitions, {results.get('runs_per_phase', 1)} measured run(s) per protocol "
          f"per phase, of {results['records']} x {results['record_size']} B")
    for side in SIDES:
        for proto in PROTOCOLS:
            vals = mbs(side, proto)
            print(f"{side:<8} {proto:<9} MB/s per rep: {', '.join(f'{v:.1f}' for v in vals)}  median {med(vals):.2f}")
    for proto in PROTOCOLS:
        om, hand = mbs("openmsk", proto), mbs("by-hand", proto)
        line(f"openmsk / by hand, {proto}, ratio of medians", med(om) / med(hand), 0.97,
             f"{med(om):.2f} vs {med(hand):.2f} MB/s")
        ratios = per_rep_ratios(proto)
        line(f"openmsk / by hand, {proto}, median per rep", med(ratios), 0.97,
             f"per rep {', '.join(f'{x:.2f}' for x in ratios)}; range {min(ratios):.2f}-{max(ratios):.2f}")
        if len(ratios) >= 3:
            mean, low, high = ratio_interval(ratios)
            verdict = "resolved: above the target" if low >= 0.97 else \
                "resolved: below the target" if high < 0.97 else "NOT resolved at this number of repetitions"
            print(f"{'  geometric mean per rep, 95% interval':<46} {mean:5.3f}  [{low:.3f}-{high:.3f}] {verdict}")
    for side in SIDES:
        line(f"TLS / plaintext ({side})", med(mbs(side, "tls")) / med(mbs(side, "plaintext")), 0.75,
             f"{med(mbs(side, 'tls')):.2f} vs {med(mbs(side, 'plaintext')):.2f} MB/s")


if __name__ == "__main__":
    sys.exit(main())
