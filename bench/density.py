"""Density (issue 15): how many 3+3 clusters run ACTIVE at once, each under a light produce/consume
load, without losing ISR. Clusters are added one at a time through one `openmsk serve`; after each,
every cluster's load topic (3 partitions, RF 3) is checked for a full ISR for --settle seconds.
Stops at the first cluster that does not become ACTIVE in --create-timeout, the first ISR shrink,
available memory below --min-free-mib, or --max clusters; prints the count that held and what
limited it (memory, CPU, or creation time).

  .venv/bin/python bench/density.py [--max 12] [--settle 60] [--rate 10]

Baseline, in the same run: the machine's MemAvailable and load average before the first cluster.
The light load per cluster: one acks=all producer at --rate messages/s (1 KiB) over TLS, and one
consumer group reading them. Run it alone on the machine if you can; on a shared machine the
figure says so (the load average is printed with every step).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from confluent_kafka import Consumer, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from harness import Service, free_port  # noqa: E402


def meminfo() -> dict[str, int]:
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = int(value.split()[0]) // 1024
    return out


def load1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


class LightLoad:
    """One producer (acks=all, --rate/s) and one consumer on a cluster's `density` topic."""

    def __init__(self, config: dict, rate: float) -> None:
        self.config, self.period = config, 1.0 / rate
        self.topic = "density"
        self.acked = self.consumed = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._produce, daemon=True),
                         threading.Thread(target=self._consume, daemon=True)]

    def start(self) -> "LightLoad":
        client = AdminClient(self.config)
        client.create_topics([NewTopic(self.topic, num_partitions=3, replication_factor=3)])[self.topic].result(120)
        for t in self._threads:
            t.start()
        return self

    def _produce(self) -> None:
        producer = Producer({**self.config, "acks": "all", "linger.ms": 5})
        payload = os.urandom(1024)

        def done(err, _msg):
            if err:
                self.errors.append(str(err))
            else:
                self.acked += 1
        while not self._stop.is_set():
            producer.produce(self.topic, payload, on_delivery=done)
            producer.poll(0)
            time.sleep(self.period)
        producer.flush(30)

    def _consume(self) -> None:
        consumer = Consumer({**self.config, "group.id": "density", "auto.offset.reset": "earliest"})
        consumer.subscribe([self.topic])
        while not self._stop.is_set():
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                self.consumed += 1
        consumer.close()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def isr_full(self) -> tuple[bool, str]:
        meta = AdminClient(self.config).list_topics(self.topic, timeout=20)
        parts = meta.topics[self.topic].partitions
        short = {p: len(pm.isrs) for p, pm in parts.items() if len(pm.isrs) < len(pm.replicas)}
        return not short, ", ".join(f"p{p} isr {n}" for p, n in short.items())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max", type=int, default=12)
    parser.add_argument("--settle", type=float, default=60)
    parser.add_argument("--rate", type=float, default=10)
    parser.add_argument("--create-timeout", type=float, default=600)
    parser.add_argument("--min-free-mib", type=int, default=1024)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="openmsk-density-"))
    svc = Service(tmp / "data", free_port()).start()
    before = meminfo()
    steps, loads, limit = [], [], "none (reached --max)"
    print(f"start: MemAvailable {before['MemAvailable']} MiB, load {load1():.1f} "
          f"({os.popen('uptime').read().strip()})", flush=True)
    try:
        kafka = svc.client("kafka")
        subnets = svc.default_subnets(3)
        for n in range(1, args.max + 1):
            t0 = time.monotonic()
            arn = kafka.create_cluster(ClusterName=f"d{n}", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
                                       BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                            "ClientSubnets": subnets})["ClusterArn"]
            try:
                svc.wait_state(arn, timeout=args.create_timeout)
            except AssertionError:
                limit = f"cluster {n} not ACTIVE within {args.create_timeout:.0f}s (CPU: load {load1():.1f})"
                break
            created = time.monotonic() - t0
            bootstrap = kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"]
            config = {"bootstrap.servers": bootstrap, "security.protocol": "SSL", "ssl.ca.location": svc.ca_path}
            loads.append(LightLoad(config, args.rate).start())
            deadline, shrunk = time.monotonic() + args.settle, []
            while time.monotonic() < deadline and not shrunk:
                for i, load in enumerate(loads):
                    ok, detail = load.isr_full()
                    if not ok:
                        shrunk.append(f"d{i + 1}: {detail}")
                time.sleep(5)
            mem = meminfo()
            step = {"clusters": n, "create_s": round(created, 1), "mem_available_mib": mem["MemAvailable"],
                    "load1": load1(), "acked": [l.acked for l in loads], "consumed": [l.consumed for l in loads],
                    "produce_errors": sum(len(l.errors) for l in loads)}
            steps.append(step)
            print(json.dumps(step), flush=True)
            if shrunk:
                limit = f"ISR shrank with {n} clusters ({'; '.join(shrunk)}; CPU: load {load1():.1f})"
                steps[-1]["isr_lost"] = shrunk
                break
            if mem["MemAvailable"] < args.min_free_mib:
                limit = f"memory: {mem['MemAvailable']} MiB available after {n} clusters"
                break
    finally:
        for load in loads:
            load.stop()
        svc.stop_everything()
        shutil.rmtree(tmp, ignore_errors=True)
    held = max([s["clusters"] for s in steps if not s.get("isr_lost")], default=0)
    per_cluster = (before["MemAvailable"] - steps[-1]["mem_available_mib"]) / max(1, steps[-1]["clusters"]) \
        if steps else 0
    print(f"\n{held} clusters ACTIVE at once with full ISR under light load (target >= 10); limit: {limit}")
    print(f"memory per cluster (MemAvailable drop / clusters): {per_cluster:.0f} MiB; "
          f"machine at start: {before['MemAvailable']} MiB available -> {before['MemAvailable'] / max(per_cluster, 1):.0f} "
          f"clusters by memory alone; end: {os.popen('uptime').read().strip()}")
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "density.json").write_text(json.dumps({"held": held, "limit": limit, "steps": steps}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
