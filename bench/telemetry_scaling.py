"""Telemetry cost as work grows (issue 15): metrics collection + consumer lag at 100, 1,000 and 10,000
partitions, measured over real 60 s collection intervals (not extrapolated from back-to-back passes).

  .venv/bin/python bench/telemetry_scaling.py [--partitions 100,1000,10000] [--intervals 3] [--quick]

One 3-broker cluster (kafka.m5.xlarge: 1 GiB heap per broker, what ~6,700 replicas a broker need;
replication factor 2 at every size, so the curve compares like with like and the largest point stays
within the 2-core machine), EnhancedMonitoring PER_TOPIC_PER_PARTITION, Open Monitoring off (MSK's
default). The cluster grows in place: topics of 10 partitions are added up to each size, every
partition gets 2 records, and two consumer groups commit offsets on every partition (one at 0, one at
1), so lag is computed for 2 x partitions (group, partition) pairs and published per partition.

The service's own collector is parked (OPENMSK_METRICS_INTERVAL very large); this process runs the same
Collector code at the real 60 s interval, so its CPU is attributable without subtraction:
  * control plane = this process's CPU (the pass: /proc reads, JMX scrape + parse, lag, SQLite writes)
    + the lag worker process's CPU (the AdminClient), over whole intervals;
  * brokers = the CPU of the JMX exporter's HTTP threads in each broker JVM (thread CPU from
    /proc/<pid>/task/*/stat: the agent walks the MBeans on the thread serving the scrape), per broker;
  * context: each broker JVM's whole CPU over the same intervals (what the broker costs at that size).
Each as % of one core = CPU seconds / wall seconds x 100. Target: < 1 % of a core per broker at 1,000
partitions, control plane share included (divided by the brokers), and linear or better.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from harness import Service, free_port  # noqa: E402

from openmsk.control.plane import ControlPlane  # noqa: E402
from openmsk.telemetry.collector import Collector  # noqa: E402
from openmsk.telemetry.store import MetricStore  # noqa: E402

TARGET_PERCENT = 1.0
TARGET_AT = 1000
INTERVAL = 60.0
PER_TOPIC = 10
REPLICATION = 2
GROUPS = ("lag-a", "lag-b")        # committed at offset 0 and 1 of each partition's 2 records
TICK = os.sysconf("SC_CLK_TCK")
# jmx_prometheus_javaagent 1.0: the JDK HttpServer's dispatcher (accept, parse) and its handler pool
# (prometheus-http-1-N, comm truncated to 15 characters), which walks the MBeans.
EXPORTER_THREADS = ("prometheus-http", "HTTP-Dispatcher")


def cpu_seconds(pid: int) -> float:
    return _stat_cpu(Path(f"/proc/{pid}/stat"))


def _stat_cpu(path: Path) -> float:
    try:
        fields = path.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def exporter_cpu(pid: int) -> float:
    """CPU seconds of the broker's JMX exporter threads (the scrape work is done on them)."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            if (task / "comm").read_text().startswith(EXPORTER_THREADS):
                total += _stat_cpu(task / "stat")
        except OSError:
            continue
    return total


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# -- growing the cluster --------------------------------------------------------------------------
def grow(config: dict, have: int, want: int) -> None:
    """Add topics of PER_TOPIC partitions until `want` partitions; 2 records in each new partition and
    both groups' offsets committed on them."""
    # A fresh broker creating a thousand topics at load ~20 took > 60 s (librdkafka's default socket timeout)
    # to answer one CreateTopics of 100 topics: wait longer, ask for fewer at a time.
    admin = AdminClient({**config, "socket.timeout.ms": 300000})
    names = [f"scale-{i:05d}" for i in range(have // PER_TOPIC, want // PER_TOPIC)]
    for start in range(0, len(names), 50):                   # 50 topics a CreateTopics request
        batch = names[start:start + 50]
        futures = admin.create_topics([NewTopic(t, num_partitions=PER_TOPIC, replication_factor=REPLICATION)
                                       for t in batch], operation_timeout=240, request_timeout=300)
        for future in futures.values():
            future.result(300)
    wait_leaders(admin, names)
    # acks=all with 15 minutes to deliver: creating thousands of partitions keeps a loaded broker's
    # request handlers busy for minutes (the default 5 min timed messages out at load ~40).
    producer = Producer({**config, "acks": "all", "linger.ms": 50, "batch.num.messages": 10000,
                         "message.timeout.ms": 900000, "request.timeout.ms": 120000})
    errors = []
    for topic in names:
        for p in range(PER_TOPIC):
            for _ in range(2):
                producer.produce(topic, b"x" * 100, partition=p, on_delivery=lambda e, m: e and errors.append(e))
        producer.poll(0)
    if producer.flush(960) or errors:
        raise RuntimeError(f"produce failed: {errors[:3]}")
    for offset, group in enumerate(GROUPS):
        consumer = Consumer({**config, "group.id": group, "enable.auto.commit": False})
        tps = [TopicPartition(t, p, offset) for t in names for p in range(PER_TOPIC)]
        for start in range(0, len(tps), 2000):
            consumer.commit(offsets=tps[start:start + 2000], asynchronous=False)
        consumer.close()


def wait_leaders(admin: AdminClient, names: list[str], timeout: float = 600) -> None:
    wanted, deadline = set(names), time.monotonic() + timeout
    while time.monotonic() < deadline:
        topics = admin.list_topics(timeout=60).topics
        ready = [t for t in wanted if t in topics and len(topics[t].partitions) == PER_TOPIC
                 and all(p.leader >= 0 and len(p.isrs) == REPLICATION for p in topics[t].partitions.values())]
        wanted -= set(ready)
        if not wanted:
            return
        time.sleep(2)
    raise RuntimeError(f"{len(wanted)} topics without leaders/ISR after {timeout}s")


# -- measuring ------------------------------------------------------------------------------------
async def measure(collector: Collector, brokers: list[int], intervals: int, partitions: int) -> dict:
    await collector.collect_once()               # warm up: new series, previous counts for the rates
    await collector.collect_once()
    worker = collector._admin_worker.proc.pid
    durations = []
    self0, worker0 = time.process_time(), cpu_seconds(worker)
    agent0 = [exporter_cpu(p) for p in brokers]
    jvm0 = [cpu_seconds(p) for p in brokers]
    load0, wall0 = loadavg(), time.monotonic()
    for i in range(intervals):                   # the real cadence: one pass at the start of each 60 s
        start = wall0 + i * INTERVAL
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        t0 = time.monotonic()
        await collector.collect_once()
        durations.append(time.monotonic() - t0)
    await asyncio.sleep(max(0.0, wall0 + intervals * INTERVAL - time.monotonic()))
    wall = time.monotonic() - wall0
    collector_cpu, worker_cpu = time.process_time() - self0, cpu_seconds(worker) - worker0
    control = collector_cpu + worker_cpu
    agent = [exporter_cpu(p) - a for p, a in zip(brokers, agent0)]
    jvm = [cpu_seconds(p) - j for p, j in zip(brokers, jvm0)]
    n = len(brokers)
    pct = lambda seconds: round(seconds / wall * 100, 4)      # noqa: E731
    per_broker = pct(control / n + sum(agent) / n)
    return {
        "partitions": partitions, "topics": partitions // PER_TOPIC, "intervals": intervals,
        "wall_s": round(wall, 1), "load_start": load0, "load_end": loadavg(),
        "series_in_store": collector.store.size()["series"],
        "pass_wall_s": [round(d, 2) for d in durations],
        "cpu_s_per_interval": {"control_plane": round(control / intervals, 3),
                               "of_which_collector": round(collector_cpu / intervals, 3),
                               "of_which_lag_worker": round(worker_cpu / intervals, 3),
                               "exporter_per_broker": round(sum(agent) / n / intervals, 3)},
        "control_plane_percent": pct(control),
        "exporter_percent_per_broker": [pct(a) for a in agent],
        "percent_of_core_per_broker": per_broker,
        "cpu_ms_per_partition_per_interval": round((control + sum(agent)) / intervals / partitions * 1000, 4),
        "broker_jvm_percent_context": [pct(j) for j in jvm],
    }


async def run_sizes(data_dir: Path, work: Path, config: dict, sizes: list[int], intervals: int,
                    settle: float) -> list[dict]:
    plane = ControlPlane(data_dir)               # read-only use: the service owns the cluster
    collector = Collector(MetricStore(work / "bench-metrics.db"), INTERVAL)
    collector.plane = plane
    brokers = [json.loads(p.read_text())["pid"] for p in sorted(data_dir.glob("clusters/*/broker-*/node.json"))]
    results, have = [], 0
    try:
        for size in sizes:
            t0 = time.monotonic()
            await asyncio.to_thread(grow, config, have, size)
            have = size
            print(f"{size} partitions ready in {time.monotonic() - t0:.0f} s (load {loadavg()}); "
                  f"settling {settle:.0f} s", flush=True)
            await asyncio.sleep(settle)
            result = await measure(collector, brokers, intervals, size)
            print(json.dumps(result), flush=True)
            results.append(result)
    finally:
        await collector._admin_worker.stop()
    return results


def summary(results: list[dict]) -> dict:
    base = results[0]
    curve = [{"partitions": r["partitions"], "percent_of_core_per_broker": r["percent_of_core_per_broker"],
              "control_plane_percent": r["control_plane_percent"],
              "exporter_percent_per_broker": max(r["exporter_percent_per_broker"]),
              "cpu_ms_per_partition_per_interval": r["cpu_ms_per_partition_per_interval"],
              # > 1: grows faster than the partitions; <= 1: linear or better
              "per_partition_cost_vs_smallest": round(r["cpu_ms_per_partition_per_interval"]
                                                      / base["cpu_ms_per_partition_per_interval"], 3)}
             for r in results]
    out = {"curve": curve, "target_percent_per_broker": TARGET_PERCENT, "target_at_partitions": TARGET_AT}
    at = [r for r in results if r["partitions"] == TARGET_AT]
    if at:
        out["ratio_to_target"] = round(at[0]["percent_of_core_per_broker"] / TARGET_PERCENT, 3)
    out["linear_or_better"] = all(c["per_partition_cost_vs_smallest"] <= 1.1 for c in curve)
    return out


def main() -> int:
    args = argparse.ArgumentParser()
    args.add_argument("--partitions", default="100,1000,10000", help="sizes, ascending (multiples of 10)")
    args.add_argument("--intervals", type=int, default=3, help="60 s intervals measured per size")
    args.add_argument("--settle", type=float, default=30.0, help="seconds after growing before measuring")
    args.add_argument("--quick", action="store_true", help="100 and 1,000 partitions, 2 intervals each")
    opts = args.parse_args()
    sizes = [100, 1000] if opts.quick else sorted(int(s) for s in opts.partitions.split(","))
    intervals = 2 if opts.quick else opts.intervals

    work = Path(tempfile.mkdtemp(prefix="openmsk-bench-telemetry-"))
    svc = Service(work / "data", free_port()).start(env={"OPENMSK_METRICS_INTERVAL": "100000000"})
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        kafka = svc.client("kafka")
        arn = kafka.create_cluster(
            ClusterName="scale", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
            BrokerNodeGroupInfo={"InstanceType": "kafka.m5.xlarge", "ClientSubnets": svc.default_subnets(3)},
            EncryptionInfo={"EncryptionInTransit": {"ClientBroker": "TLS_PLAINTEXT"}},
            EnhancedMonitoring="PER_TOPIC_PER_PARTITION")["ClusterArn"]
        svc.wait_state(arn, timeout=600)
        config = {"bootstrap.servers": kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerString"]}
        results = asyncio.run(run_sizes(svc.data_dir, work, config, sizes, intervals, opts.settle))
    finally:
        svc.stop_everything()
    out = {"started": started, "instance_type": "kafka.m5.xlarge", "brokers": 3, "replication": REPLICATION,
           "partitions_per_topic": PER_TOPIC, "consumer_groups": len(GROUPS), "interval_s": INTERVAL,
           "sizes": results, **summary(results)}
    path = REPO / "bench" / "results" / "telemetry_scaling.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "sizes"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
