"""The `logs` API over a week of a busy broker's log (issue 11: "keeps a week of a busy broker's log without
slowing the API").

A fresh data directory's logs.db is filled in-process (LogStore.ingest, as the shipper does) with --events
Kafka-like lines over 7 days in three `Broker-<id>` streams, then a real `openmsk serve` answers boto3:
GetLogEvents (newest page, oldest page, a forward token), DescribeLogStreams, FilterLogEvents over the last
5 minutes with a pattern, one FilterLogEvents call with a term that never matches (bounded slice), and
PutLogEvents (a broker's shipping batch). The same calls are timed again while put-retention-policy expires
two of the seven days in the background (the retention sweep's work). Each figure is p50/p99/max over
--repeat calls, in ms.

    .venv/bin/python bench/logs_at_scale.py [--events 10000000] [--repeat 50]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from harness import Service, free_port  # noqa: E402
from openmsk.services.logs.backend import LogStore  # noqa: E402

GROUP = "/aws/msk/busy"
DAY_MS = 86_400_000
TEMPLATES = [
    "INFO [ReplicaFetcher replicaId={b}, leaderId=2, fetcherId=0] Truncating partition orders-{p} with "
    "TruncationState(offset={o}, completed=true) due to leader epoch (kafka.server.ReplicaFetcherThread)",
    "INFO [Log partition=payments-{p}, dir=/data/kafka] Rolled new log segment at offset {o} in 3 ms. "
    "(kafka.log.UnifiedLog)",
    "INFO [GroupCoordinator {b}]: Member consumer-{p}-{o} in group billing has failed, removing it from the group "
    "(kafka.coordinator.group.GroupCoordinator)",
    "WARN [SocketServer listenerType=ZK_BROKER, nodeId={b}] Unexpected error from /127.0.0.{p}; closing "
    "connection (org.apache.kafka.common.network.Selector)",
]


def populate(data_dir: Path, events: int) -> float:
    t0 = time.monotonic()
    store = LogStore(data_dir / "logs.db")
    store.create_group("us-east-1", GROUP, kms=None, cls="STANDARD", tags={})
    group = store.group("us-east-1", GROUP)
    streams = []
    for b in (1, 2, 3):
        store.create_stream(group["id"], f"Broker-{b}")
        streams.append(store.stream(group["id"], f"Broker-{b}")["id"])
    now = int(time.time() * 1000)
    start = now - 7 * DAY_MS
    step = 7 * DAY_MS / events
    batch = 10_000
    for first in range(0, events, batch * 3):
        for b, stream_id in enumerate(streams, 1):
            rows = []
            for i in range(first + b - 1, min(first + batch * 3, events), 3):
                ts = int(start + i * step)
                rows.append((ts, f"[{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(ts / 1000))},"
                                 f"{ts % 1000:03d}] " + random.choice(TEMPLATES).format(b=b, p=i % 50, o=i)))
            store.ingest(group["id"], stream_id, rows)
    store.close()
    return time.monotonic() - t0


def timed(fn, repeat: int) -> dict:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    q = statistics.quantiles(samples, n=100, method="inclusive") if len(samples) > 1 else samples * 99
    return {"p50": round(q[49], 1), "p99": round(q[98], 1), "max": round(max(samples), 1)}


def calls(logs, repeat: int) -> dict:
    now = int(time.time() * 1000)
    head = logs.get_log_events(logGroupName=GROUP, logStreamName="Broker-1", startFromHead=True, limit=100)
    seq = [0]

    def put():
        seq[0] += 1
        t = int(time.time() * 1000)
        logs.put_log_events(logGroupName=GROUP, logStreamName="Broker-1",
                            logEvents=[{"timestamp": t, "message": f"INFO bench line {seq[0]}-{i}"} for i in range(100)])

    return {
        "GetLogEvents newest 100": timed(lambda: logs.get_log_events(
            logGroupName=GROUP, logStreamName="Broker-2", limit=100), repeat),
        "GetLogEvents oldest 100": timed(lambda: logs.get_log_events(
            logGroupName=GROUP, logStreamName="Broker-2", startFromHead=True, limit=100), repeat),
        "GetLogEvents forward token": timed(lambda: logs.get_log_events(
            logGroupName=GROUP, logStreamName="Broker-1", nextToken=head["nextForwardToken"], limit=100), repeat),
        "DescribeLogStreams": timed(lambda: logs.describe_log_streams(logGroupName=GROUP), repeat),
        "FilterLogEvents last 5 min, pattern": timed(lambda: logs.filter_log_events(
            logGroupName=GROUP, startTime=now - 300_000, filterPattern="GroupCoordinator", limit=100), repeat),
        "FilterLogEvents never-matching term, one call": timed(lambda: logs.filter_log_events(
            logGroupName=GROUP, filterPattern="NoSuchTermAnywhere"), max(3, repeat // 10)),
        "FilterLogEvents Broker-1, never-matching, one call": timed(lambda: logs.filter_log_events(
            logGroupName=GROUP, logStreamNames=["Broker-1"], filterPattern="NoSuchTermAnywhere"), max(3, repeat // 10)),
        "PutLogEvents 100 events": timed(put, repeat),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=50)
    a = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")
    work = Path(tempfile.mkdtemp(prefix="openmsk-bench-logs-scale-"))
    try:
        data = work / "data"
        data.mkdir()
        took = populate(data, a.events)
        size = (data / "logs.db").stat().st_size
        print(f"logs.db: {a.events} events over 7 days in 3 streams, {size / 1e9:.2f} GB, filled in {took:.0f} s")
        svc = Service(data, free_port()).start()
        try:
            logs = svc.client("logs")
            for name, figures in calls(logs, a.repeat).items():
                print(f"  {name:48s} {figures}")
            print("while put-retention-policy 5 days expires 2 of the 7 days in the background:")
            logs.put_retention_policy(logGroupName=GROUP, retentionInDays=5)
            t0 = time.monotonic()
            done = threading.Event()

            def watch():                    # when the stored bytes stop falling, the removal is done
                last = None
                while not done.is_set():
                    stored = logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"][0]["storedBytes"]
                    if stored == last:
                        done.set()
                        print(f"  (expiry finished after about {time.monotonic() - t0:.0f} s)")
                    last = stored
                    time.sleep(2)
            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            for name, figures in calls(logs, a.repeat).items():
                print(f"  {name:48s} {figures}")
            watcher.join(timeout=600)
        finally:
            svc.stop_everything()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
