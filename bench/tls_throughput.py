"""Produce throughput over TLS vs plaintext, and through openmsk vs the same brokers started by hand.

  .venv/bin/python bench/tls_throughput.py [--reps 3] [--records 150000] [--record-size 1024] [--json FILE]

(about 12 minutes on 2 cores)

One TLS_PLAINTEXT cluster (3 brokers in 3 zones, InCluster TLS, MSK's defaults) is created in a service of
its own. Every figure is `kafka-producer-perf-test.sh` (Kafka 3.9.1, acks=all, a fresh 3-partition RF-3
topic per run, unlimited rate), reported as the median MB/s of --reps runs after one discarded warm-up
run per phase. Phases, in this order (A-B-A, so drift in machine load shows up instead of hiding):

  openmsk-1  the cluster as openmsk runs it: PLAINTEXT (9092) and TLS (9094) runs interleaved
  by-hand    `openmsk serve` stopped, `openmsk down`, then the very commands openmsk recorded in each
             node's node.json (java ... kafka.Kafka <rendered server.properties>, QuorumPeerMain <zoo.cfg>)
             started directly with subprocess, same directories, certificates, addresses and JVM flags;
             the same interleaved runs
  openmsk-2  by-hand processes stopped, `openmsk serve` restarted on the same data dir (it starts the
             nodes again), the same runs

Ratios printed: TLS / plaintext inside openmsk (target >= 0.75) and openmsk / by-hand for each protocol
(target >= 0.97; openmsk = median over both openmsk phases). The by-hand phase reuses the same data
directories rather than a second slot: certificates carry the nodes' IP addresses, so a copy at other
addresses would need other certificates, i.e. not identical settings.
"""
from __future__ import annotations

import argparse
import json
import os
import re
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

from harness import OPENMSK, Service, free_port  # noqa: E402

BIN = Path(sys.executable).parent
PERF = str(BIN / "kafka-producer-perf-test.sh")
RESULT = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency")


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


def wait_brokers(bootstrap: str, count: int = 3, timeout: float = 600) -> None:
    from confluent_kafka.admin import AdminClient
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            # keep a reference: a destroyed handle fails its futures; log_level 0: brokers still starting is expected
            client = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
            nodes = client.describe_cluster(request_timeout=10).result(15).nodes
            if len(nodes) >= count:
                return
        except Exception:   # noqa: BLE001 - brokers still starting
            pass
        time.sleep(1)
    raise RuntimeError(f"brokers at {bootstrap} not all up after {timeout}s")


def new_topic(bootstrap: str) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic
    topic = f"perf-{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + 300
    while True:
        try:
            client = AdminClient({"bootstrap.servers": bootstrap})
            client.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])[topic].result(60)
            time.sleep(2)      # leaders elected and known everywhere
            return topic
        except Exception:      # noqa: BLE001 - e.g. a broker not yet registered after a restart
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


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
    last = lines[-1]
    return {"records_per_s": float(last.group(2)), "mb_per_s": float(last.group(3)), "avg_ms": float(last.group(4))}


def phase(name: str, boot: dict, tls_config: Path, reps: int, records: int, size: int) -> dict[str, list[float]]:
    plain, tls = boot["BootstrapBrokerString"], boot["BootstrapBrokerStringTls"]
    log(f"{name}: warm-up (discarded), load {uptime()}")
    perf(plain, plain, None, records // 2, size)
    perf(tls, plain, tls_config, records // 2, size)
    out: dict[str, list[float]] = {"plaintext": [], "tls": []}
    for rep in range(reps):
        for proto, bs, cfg in (("plaintext", plain, None), ("tls", tls, tls_config)):
            r = perf(bs, plain, cfg, records, size)
            out[proto].append(r["mb_per_s"])
            log(f"{name} rep {rep + 1} {proto:9}: {r['mb_per_s']:7.2f} MB/s  {r['records_per_s']:9.0f} rec/s  "
                f"avg latency {r['avg_ms']:.0f} ms  load {uptime()}")
    log(f"{name}: done, load {uptime()}")
    return out


def start_by_hand(records: list[dict]) -> list[subprocess.Popen]:
    """The recorded commands, ZooKeeper first, each in its node directory and its own session (as openmsk does)."""
    procs = []
    for rec in sorted(records, key=lambda r: r["kind"] != "zookeeper"):
        workdir = Path(rec["workdir"])
        out = open(workdir / "logs" / "by-hand-stdout.log", "ab")
        procs.append(subprocess.Popen(rec["command"], cwd=workdir, stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True))
        out.close()
    return procs


def stop_by_hand(procs: list[subprocess.Popen]) -> None:
    for p in reversed(procs):       # brokers first
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--records", type=int, default=150000)
    parser.add_argument("--record-size", type=int, default=1024)
    parser.add_argument("--json", help="also write the raw figures to this file")
    parser.add_argument("--report", metavar="JSON", help="only print the summary of a file written by --json")
    args = parser.parse_args()
    if args.report:
        report(json.loads(Path(args.report).read_text()))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="openmsk-tlsbench-"))
    svc = Service(tmp / "data", free_port()).start()
    procs: list[subprocess.Popen] = []
    results: dict = {"load_start": uptime(), "reps": args.reps, "records": args.records,
                     "record_size": args.record_size}
    try:
        log(f"creating a TLS_PLAINTEXT 3-broker cluster, load {uptime()}")
        arn, boot = create_cluster(svc)
        tls_config = tmp / "tls.properties"
        tls_config.write_text(f"security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={svc.ca_path}\n")
        wait_brokers(boot["BootstrapBrokerString"])
        results["openmsk-1"] = phase("openmsk-1", boot, tls_config, args.reps, args.records, args.record_size)

        # By hand: the recorded commands, with openmsk entirely out of the picture.
        node_files = list(svc.data_dir.glob("clusters/*/*/node.json"))
        records = []
        for f in node_files:
            rec = json.loads(f.read_text())
            records.append({"kind": rec["kind"], "command": rec["command"], "workdir": str(f.parent)})
        svc.kill(signal.SIGTERM)
        down = subprocess.run([OPENMSK, "down", "--data-dir", str(svc.data_dir)],
                              capture_output=True, text=True, timeout=300)
        if down.returncode != 0:
            raise RuntimeError(f"openmsk down failed: {down.stderr}")
        log(f"openmsk stopped; starting {len(records)} JVMs by hand from node.json")
        procs = start_by_hand(records)
        wait_brokers(boot["BootstrapBrokerString"])
        results["by-hand"] = phase("by-hand", boot, tls_config, args.reps, args.records, args.record_size)
        stop_by_hand(procs)
        procs = []

        log("restarting openmsk serve on the same data dir")
        svc.start()
        svc.wait_state(arn, timeout=900)
        wait_brokers(boot["BootstrapBrokerString"])
        results["openmsk-2"] = phase("openmsk-2", boot, tls_config, args.reps, args.records, args.record_size)
    finally:
        stop_by_hand(procs)
        svc.stop_everything()
        results["load_end"] = uptime()
        subprocess.run(["rm", "-rf", str(tmp)])

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    report(results)
    return 0


def report(results: dict) -> None:
    med = statistics.median
    om = {p: results["openmsk-1"][p] + results["openmsk-2"][p] for p in ("plaintext", "tls")}
    hand = results["by-hand"]

    def line(name: str, value: float, target: float, detail: str) -> None:
        verdict = "ok" if value >= target else f"MISSED by {target - value:.2f} ({(1 - value / target) * 100:.0f}% short)"
        print(f"{name:<44} {value:5.2f}  target >= {target:<5} {verdict}   [{detail}]")

    print()
    print(f"load average at start {results['load_start']}, at end {results['load_end']} (2 cores)")
    for name in ("openmsk-1", "by-hand", "openmsk-2"):
        for p in ("plaintext", "tls"):
            vals = results[name][p]
            print(f"{name:<10} {p:<9} MB/s per run: {', '.join(f'{v:.1f}' for v in vals)}  median {med(vals):.1f}")
    line("TLS / plaintext (openmsk, both phases)", med(om["tls"]) / med(om["plaintext"]), 0.75,
         f"{med(om['tls']):.1f} vs {med(om['plaintext']):.1f} MB/s")
    # Each TLS run follows its plaintext run within ~20 s: the ratio per pair is less exposed to load drift.
    pairs = [t / p for name in ("openmsk-1", "openmsk-2")
             for p, t in zip(results[name]["plaintext"], results[name]["tls"])]
    line("TLS / plaintext, median of adjacent pairs", med(pairs), 0.75, ", ".join(f"{x:.2f}" for x in pairs))
    line("TLS / plaintext (by hand)", med(hand["tls"]) / med(hand["plaintext"]), 0.75,
         f"{med(hand['tls']):.1f} vs {med(hand['plaintext']):.1f} MB/s")
    line("openmsk / by hand, plaintext", med(om["plaintext"]) / med(hand["plaintext"]), 0.97,
         f"{med(om['plaintext']):.1f} vs {med(hand['plaintext']):.1f} MB/s")
    line("openmsk / by hand, TLS", med(om["tls"]) / med(hand["tls"]), 0.97,
         f"{med(om['tls']):.1f} vs {med(hand['tls']):.1f} MB/s")
    # Best of N: on a shared machine the least-contended run is the closest to what the setup can do.
    line("best-of: TLS / plaintext (openmsk)", max(om["tls"]) / max(om["plaintext"]), 0.75,
         f"{max(om['tls']):.1f} vs {max(om['plaintext']):.1f} MB/s")
    line("best-of: openmsk / by hand, plaintext", max(om["plaintext"]) / max(hand["plaintext"]), 0.97,
         f"{max(om['plaintext']):.1f} vs {max(hand['plaintext']):.1f} MB/s")
    line("best-of: openmsk / by hand, TLS", max(om["tls"]) / max(hand["tls"]), 0.97,
         f"{max(om['tls']):.1f} vs {max(hand['tls']):.1f} MB/s")


if __name__ == "__main__":
    sys.exit(main())
