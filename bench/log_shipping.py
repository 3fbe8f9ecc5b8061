"""Broker log shipping benchmark (issue 11), in-process on real files and the real stores.

1. Cost: a writer appends Kafka-like lines to a broker's server.log at --rate lines/s for --seconds; the
   LogShipper (tail -> spool -> CloudWatch Logs store + S3 objects every 60 s as MSK) runs its 1 s passes in
   this process. CPU seconds of the shipper's thread / wall seconds = share of one core (target < 2 %).
2. Latency: time from a line written to the line readable from the logs store (what GetLogEvents reads),
   p50/p99 over the run (target p99 < 5 s).
3. FilterLogEvents over --filter-mb of log in the store (paging through every match, as the CLI does) vs
   `grep -c` over the same lines in a file: the ratio.

    .venv/bin/python bench/log_shipping.py [--rate 1000] [--seconds 30] [--filter-mb 200]
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openmsk.services.logs.backend import LogStore  # noqa: E402
from openmsk.services.logs.destinations import EmbeddedDestinations  # noqa: E402
from openmsk.services.logs.patterns import compile_pattern  # noqa: E402
from openmsk.services.s3.backend import ObjectStore  # noqa: E402
from openmsk.telemetry.log_shipping import LogShipper, Settings  # noqa: E402

TEMPLATES = [
    "INFO [ReplicaFetcher replicaId=1, leaderId=2, fetcherId=0] Truncating partition orders-{p} with TruncationState"
    "(offset={o}, completed=true) due to leader epoch and offset EpochEndOffset(errorCode=0, partition={p}) "
    "(kafka.server.ReplicaFetcherThread)",
    "INFO [Log partition=payments-{p}, dir=/data/kafka] Rolled new log segment at offset {o} in 3 ms. "
    "(kafka.log.UnifiedLog)",
    "INFO [GroupCoordinator 1]: Member consumer-{p}-{o} in group billing has failed, removing it from the group "
    "(kafka.coordinator.group.GroupCoordinator)",
    "WARN [SocketServer listenerType=ZK_BROKER, nodeId=1] Unexpected error from /127.0.0.{p}; closing connection "
    "(org.apache.kafka.common.network.Selector)",
]


def line(i: int) -> str:
    t = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) + ",%03d" % int(t % 1 * 1000)
    return f"[{stamp}] " + random.choice(TEMPLATES).format(p=i % 50, o=i) + f" seq={i} wall={t:.6f}"


class Plane:
    def __init__(self, root: Path):
        self.root = root

    def cluster_dir(self, cluster):
        return self.root / cluster["Uuid"]


CLUSTER = {"ClusterArn": "arn:aws:kafka:us-east-1:123456789012:cluster/bench/u-1", "ClusterName": "bench",
           "Uuid": "u-1", "Region": "us-east-1", "AccountId": "123456789012", "State": "ACTIVE",
           "Brokers": [{"BrokerId": 1}],
           "Spec": {"LoggingInfo": {"BrokerLogs": {"CloudWatchLogs": {"Enabled": True, "LogGroup": "/bench"},
                                                   "S3": {"Enabled": True, "Bucket": "bench-logs"}}}}}


def cost_and_latency(work: Path, rate: int, seconds: float) -> None:
    logs_dir = work / "clusters" / "u-1" / "broker-1" / "logs"
    logs_dir.mkdir(parents=True)
    store, objects = LogStore(work / "logs.db"), ObjectStore(work / "s3")
    store.create_group("us-east-1", "/bench", kms=None, cls="STANDARD", tags={})
    objects.create_bucket("bench-logs", "us-east-1")
    shipper = LogShipper(work / "ship.db", EmbeddedDestinations(store, objects), Settings(1.0, 60.0))
    shipper.open(Plane(work / "clusters"))
    stop = threading.Event()
    written = [0]

    def writer():
        with open(logs_dir / "server.log", "a", buffering=1) as f:
            start = time.monotonic()
            i = 0
            while not stop.is_set():
                due = int((time.monotonic() - start) * rate)
                while i < due:
                    f.write(line(i) + "\n")
                    i += 1
                written[0] = i
                time.sleep(0.005)

    cpu = [0.0]
    latencies: list[float] = []
    seen = [0]

    def ship():
        group = store.group("us-east-1", "/bench")
        while not stop.is_set():
            before = resource.getrusage(resource.RUSAGE_THREAD)
            shipper.ship_once([CLUSTER])
            after = resource.getrusage(resource.RUSAGE_THREAD)
            cpu[0] += (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            stream = store.stream(group["id"], "Broker-1")
            if stream is not None:                       # what GetLogEvents would return now
                rows = store._db().execute("SELECT message FROM events WHERE stream_id=? AND id>? ORDER BY id",
                                           (stream["id"], seen[0])).fetchall()
                now = time.time()
                for r in rows:
                    latencies.append(now - float(r["message"].rsplit("wall=", 1)[1]))
                last = store._db().execute("SELECT MAX(id) FROM events").fetchone()[0]
                seen[0] = last or 0
            time.sleep(1.0)

    threads = [threading.Thread(target=writer), threading.Thread(target=ship)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    share = cpu[0] / wall * 100
    print(f"cost: {written[0]} lines in {wall:.1f} s ({written[0] / wall:.0f} lines/s); shipper CPU {cpu[0]:.2f} s "
          f"= {share:.2f} % of one core (target < 2 %)")
    if latencies:
        q = statistics.quantiles(latencies, n=100)
        print(f"latency line -> readable in the logs store: p50 {q[49]:.2f} s, p99 {q[98]:.2f} s, max "
              f"{max(latencies):.2f} s over {len(latencies)} lines (target p99 < 5 s)")


def filter_vs_grep(work: Path, megabytes: int) -> None:
    store = LogStore(work / "filter.db")
    store.create_group("us-east-1", "/big", kms=None, cls="STANDARD", tags={})
    group = store.group("us-east-1", "/big")
    store.create_stream(group["id"], "Broker-1")
    stream = store.stream(group["id"], "Broker-1")
    path = work / "big.log"
    size, i, ts = 0, 0, int(time.time() * 1000) - 3600_000
    with open(path, "w") as f:
        while size < megabytes * 1024 * 1024:
            batch = [line(i + k) for k in range(5000)]
            store.ingest(group["id"], stream["id"], [(ts + k, m) for k, m in enumerate(batch)])
            text = "\n".join(batch) + "\n"
            f.write(text)
            size += len(text)
            i += 5000
            ts += 5000
    term = "GroupCoordinator"
    where, args = compile_pattern(term)
    t0 = time.monotonic()
    count, after = 0, None
    while True:
        rows = store.filter_events(group["id"], None, 0, 2 ** 62, after, where, args, 10_000)
        count += len(rows)
        if len(rows) < 10_000:
            break
        after = (rows[-1]["ts"], rows[-1]["id"])
    filter_s = time.monotonic() - t0
    t0 = time.monotonic()
    grep = int(subprocess.run(["grep", "-c", term, str(path)], capture_output=True, text=True).stdout)
    grep_s = time.monotonic() - t0
    assert grep == count, (grep, count)
    print(f"filter: {i} lines / {size / 1e6:.0f} MB, {count} matches; FilterLogEvents (store, paged by 10,000) "
          f"{filter_s:.2f} s vs grep -c {grep_s:.2f} s: ratio {filter_s / grep_s:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--filter-mb", type=int, default=200)
    a = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="openmsk-bench-logs-") as tmp:
        cost_and_latency(Path(tmp), a.rate, a.seconds)
        filter_vs_grep(Path(tmp), a.filter_mb)


if __name__ == "__main__":
    main()
