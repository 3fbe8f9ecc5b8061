"""OPENMSK_JVM_PROFILE=light vs standard (runtime/jvm_flags.py): what the brokers' JIT tier costs and
gives, measured interleaved so both profiles see the same machine load.

  .venv/bin/python bench/jvm_profile.py [--reps 2] [--seconds 45]

Per repetition and profile: one `openmsk serve` with that profile creates a default 3+3 cluster (TLS,
default monitoring); then, from the brokers' and ZooKeeper nodes' utime+stime in /proc:
  * CPU seconds the three brokers used from their start to ACTIVE,
  * broker CPU while idle (first minute after ACTIVE, then again after the load phases),
  * broker CPU under the suite's verifying load (an idempotent acks=all producer, 50 messages/s in
    bursts of 5, tests/verifying_load.py),
  * produce throughput: 1 KiB messages, acks=all, as fast as one confluent-kafka producer goes, for
    --seconds (what C1 costs on the data path).
CPU seconds hardly depend on the machine's load (wall times do): they resolve the difference on a busy
machine. Ratios are light / standard of the medians.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from confluent_kafka import Producer  # noqa: E402
from harness import Service, free_port  # noqa: E402
from kafka_clients import create_topic, tls_config  # noqa: E402
from verifying_load import VerifyingLoad  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def node_cpu(data_dir: Path, kind: str) -> float:
    """utime+stime (s) of the running brokers ("kafka.Kafka") or ZooKeeper nodes of `data_dir`."""
    marker = b"kafka.Kafka" if kind == "broker" else b"QuorumPeerMain"
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            if str(data_dir).encode() not in cmd or marker not in cmd:
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def per_broker_share(data_dir: Path, seconds: float) -> float:
    """Share of one core per broker over `seconds`."""
    before, start = node_cpu(data_dir, "broker"), time.monotonic()
    time.sleep(seconds)
    return (node_cpu(data_dir, "broker") - before) / (time.monotonic() - start) / 3


def throughput(config: dict, topic: str, seconds: float) -> float:
    producer = Producer({**config, "acks": "all", "linger.ms": 5, "queue.buffering.max.messages": 200000})
    payload, sent, acked = os.urandom(1024), 0, [0]

    def done(err, _msg):
        if err is None:
            acked[0] += 1
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            producer.produce(topic, payload, on_delivery=done)
            sent += 1
        except BufferError:
            producer.poll(0.01)
        producer.poll(0)
    producer.flush(120)
    return acked[0] * 1024 / (time.monotonic() - start) / 2 ** 20


def one_run(profile: str, seconds: float) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"openmsk-bench-jvm-{profile}-"))
    svc = Service(root / "data", free_port()).start(env={"OPENMSK_JVM_PROFILE": profile})
    try:
        kafka = svc.client("kafka")
        arn = kafka.create_cluster(ClusterName=f"jvm-{profile}", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
                                   BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                        "ClientSubnets": svc.default_subnets(3)})["ClusterArn"]
        svc.wait_state(arn, timeout=900)
        out = {"to_active": node_cpu(svc.data_dir, "broker")}
        out["idle_first"] = per_broker_share(svc.data_dir, seconds)
        config = tls_config(kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"], svc.ca_path)
        topic = f"jvm-{uuid.uuid4().hex[:6]}"
        create_topic(config, topic, partitions=3, replication=3)
        with VerifyingLoad(config, topic):
            time.sleep(5)
            out["verifying_load"] = per_broker_share(svc.data_dir, seconds)
        out["mib_s"] = throughput(config, topic, seconds)
        out["idle_later"] = per_broker_share(svc.data_dir, seconds)
        out["load"] = os.getloadavg()[0]
        return out
    finally:
        svc.stop_everything()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=45)
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"standard": [], "light": []}
    for rep in range(args.reps):
        for profile in (("standard", "light") if rep % 2 == 0 else ("light", "standard")):
            result = one_run(profile, args.seconds)
            runs[profile].append(result)
            print(f"rep {rep} {profile:8s} broker CPU to ACTIVE {result['to_active']:5.1f} s | per broker: idle "
                  f"{100 * result['idle_first']:4.1f}% then {100 * result['idle_later']:4.1f}%, verifying load "
                  f"{100 * result['verifying_load']:4.1f}% of a core | produce {result['mib_s']:5.1f} MiB/s "
                  f"| load {result['load']:.0f}", flush=True)
    print("\nmedians (light / standard):")
    for key, label in (("to_active", "broker CPU to ACTIVE (s)"), ("idle_first", "idle, first minute"),
                       ("idle_later", "idle, later"), ("verifying_load", "under the verifying load"),
                       ("mib_s", "produce MiB/s")):
        std = statistics.median(r[key] for r in runs["standard"])
        light = statistics.median(r[key] for r in runs["light"])
        print(f"  {label:28s} standard {std:7.3f}  light {light:7.3f}  ratio {light / std:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
