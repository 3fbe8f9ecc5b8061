"""create -> ACTIVE of two openmsk checkouts side by side: CPU seconds the JVMs used to get there, when the
steps completed, wall time. One default 3+3 cluster at a time, the two checkouts alternating (ABBA...), each
in its own `openmsk serve`; the other checkout runs from this one's venv with PYTHONPATH pointing at it (its
jars, plugin and class-data-sharing archives must be installed: scripts/install there, or the same sources).

  .venv/bin/python bench/create_ab.py --base /path/to/other/checkout [--runs 6] [--produce SECONDS] [--kafka-version V]

CPU is utime + stime of every node JVM when ACTIVE is first seen (it resolves on a loaded machine; wall
times there do not); the step times are when the API first showed each create step COMPLETED. With
--produce, each cluster then takes 1 KiB acks=all messages over TLS from one producer for that many seconds
right after ACTIVE and as long again (bench/jvm_profile.py's producer): what a JIT change does to a young
broker's data path.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness import Service, free_port  # noqa: E402
from jvm_profile import throughput  # noqa: E402
from kafka_clients import create_topic, tls_config  # noqa: E402
from startup_levers import cpu_seconds  # noqa: E402

from openmsk.control.model import quorum_step  # noqa: E402

STEPS = ("START_ZOOKEEPER", "ZOOKEEPER_QUORUM", "START_BROKERS")


def create_once(svc: Service, name: str, produce: float = 0, version: str = "3.9.x") -> dict:
    kafka = svc.client("kafka")
    t0 = time.monotonic()
    arn = kafka.create_cluster(ClusterName=name, KafkaVersion=version, NumberOfBrokerNodes=3,
                               BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                    "ClientSubnets": svc.default_subnets(3)})["ClusterArn"]
    steps: dict[str, float] = {}
    while True:
        info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
        if info["State"] == "ACTIVE":
            break
        if info.get("ActiveOperationArn"):
            op = kafka.describe_cluster_operation(ClusterOperationArn=info["ActiveOperationArn"])
            for step in op["ClusterOperationInfo"].get("OperationSteps", []):
                if step["StepInfo"]["StepStatus"] == "COMPLETED":
                    steps.setdefault(step["StepName"], time.monotonic() - t0)
        time.sleep(0.1)
    out = {"wall": time.monotonic() - t0, "brokers": 0.0, "zookeeper": 0.0,
           **{s: steps.get(quorum_step(s, version.endswith(".kraft")), float("nan")) for s in STEPS}}
    for record in svc.data_dir.glob(f"clusters/{arn.rsplit('/', 1)[1]}/*/node.json"):
        kind = "brokers" if record.parent.name.startswith("broker") else "zookeeper"     # or KRaft controllers
        out[kind] += cpu_seconds(json.loads(record.read_text())["pid"])
    if produce:
        config = tls_config(kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"], svc.ca_path)
        topic = f"ab-{uuid.uuid4().hex[:6]}"
        create_topic(config, topic, partitions=3, replication=3)
        out["first MiB/s"] = throughput(config, topic, produce)
        out["next MiB/s"] = throughput(config, topic, produce)
    kafka.delete_cluster(ClusterArn=arn)
    svc.wait_state(arn, states=("GONE",))
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="the other checkout (its openmsk/ is imported)")
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--produce", type=float, default=0, help="seconds of produce after ACTIVE, twice (0: none)")
    parser.add_argument("--kafka-version", default="3.9.x", help="MSK version of the clusters (3.9.x.kraft: the ZooKeeper "
                        "columns are the KRaft controllers, the steps START_CONTROLLERS, CONTROLLER_QUORUM, ...)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="openmsk-create-ab-"))
    services = {"base": Service(tmp / "base", free_port()).start(env={"PYTHONPATH": str(Path(args.base).resolve())}),
                "this": Service(tmp / "this", free_port()).start()}
    results: dict[str, list[dict]] = {k: [] for k in services}
    try:
        time.sleep(3)
        for run in range(args.runs):
            for which in (("base", "this") if run % 2 == 0 else ("this", "base")):
                load = Path("/proc/loadavg").read_text().split()[0]
                r = create_once(services[which], f"ab-{which}-{run}", args.produce, args.kafka_version)
                results[which].append(r)
                print(f"run {run} {which:4}: wall {r['wall']:5.1f} s; JVM CPU brokers {r['brokers']:5.2f} s, ZooKeeper "
                      f"{r['zookeeper']:4.2f} s; steps completed at " + ", ".join(f"{s} {r[s]:.2f}" for s in STEPS)
                      + " s" + "".join(f"; produce {k} {r[k]:.1f}" for k in ("first MiB/s", "next MiB/s") if k in r)
                      + f"; load {load}", flush=True)
    finally:
        for svc in services.values():
            svc.stop_everything()
        shutil.rmtree(tmp, ignore_errors=True)
    for which, rows in results.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(f"{which} (medians): wall {med['wall']:.1f} s; JVM CPU brokers {med['brokers']:.2f} s, ZooKeeper "
              f"{med['zookeeper']:.2f} s; " + ", ".join(f"{s} {med[s]:.2f} s" for s in STEPS)
              + "".join(f"; produce {k} {med[k]:.1f}" for k in ("first MiB/s", "next MiB/s") if k in med))
    pairs = [t["brokers"] - b["brokers"] for b, t in zip(results["base"], results["this"])]
    print(f"brokers' CPU, this - base per run: {', '.join(f'{p:+.2f}' for p in pairs)} s (median {statistics.median(pairs):+.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
