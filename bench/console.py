"""Console page load times with 50 topics and 20 consumer groups (issue 16: < 300 ms per page).

Starts its own `openmsk serve` and a 3-broker cluster (broker logs to CloudWatch Logs), creates 50 topics and 20 groups (each commits
offsets on 3 topics), signs in to the console and loads each page `--reps` times (after one warm-up),
server-side HTML complete (what a browser waits for before it paints; static files are cached). The
baseline, measured in the same run, is the API call a page cannot do without, made with boto3
(ListTopics for the topics page, ListClustersV2 for the clusters page ...): the ratio says what the
console adds on top of the API. Then the groups and metrics pages loaded alternately afresh (a hard
reload, `Cache-Control: no-cache`) and as plain reloads (their kept results), with what each waited for
from the Server-Timing header; and the groups list's Kafka part, 2 rounds of requests against the former
3, called directly and interleaved. Last, the API's ListClustersV2 is timed again while a thread keeps
loading the metrics, groups, messages and (filtered) broker logs pages afresh: console requests must not hold the event loop.

    .venv/bin/python bench/console.py [--reps 10]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Service, free_port  # noqa: E402

TARGET_MS = 300.0


def timed(fn, reps: int) -> dict:
    fn()                                            # warm-up (worker processes, caches)
    samples = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 1), "p90_ms": round(samples[int(len(samples) * 0.9) - 1], 1),
            "max_ms": round(samples[-1], 1)}


def server_timing(header: str) -> dict:
    """Server-Timing `name;dur=ms;desc="n calls", ...` -> {name: ms}."""
    out = {}
    for part in header.split(","):
        fields = dict(f.strip().partition("=")[::2] for f in part.split(";")[1:])
        out[part.split(";")[0].strip()] = float(fields.get("dur", 0))
    return out


def cold_vs_kept(s, pages: dict, reps: int) -> dict:
    """The groups and metrics pages loaded alternately afresh (`Cache-Control: no-cache`, a hard reload:
    every Kafka/metric read made, as every load was before the console kept results) and as a plain
    reload (the kept results, when still valid), interleaved so both see the same load; with what each
    waited for, from the page's Server-Timing header."""
    out = {}
    for name in ("groups", "metrics"):
        samples = {"cold": [], "kept": []}
        parts = {"cold": {}, "kept": {}}
        s.get(pages[name])
        for _ in range(reps):
            for arm, headers in (("cold", {"Cache-Control": "no-cache"}), ("kept", {})):
                t = time.perf_counter()
                r = s.get(pages[name], headers=headers)
                samples[arm].append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, (name, r.status_code)
                for k, v in server_timing(r.headers.get("Server-Timing", "")).items():
                    parts[arm].setdefault(k, []).append(v)
        # per part: the median over the loads that made it (a summed dur: the 7 chart reads run side by
        # side, so GetMetricData can exceed the page's total) and how many of the loads made it
        row = {arm: {"median_ms": round(statistics.median(v), 1),
                     "waited_for_median_ms": {k: round(statistics.median(x), 1) for k, x in parts[arm].items()},
                     "loads_making_it": {k: len(x) for k, x in parts[arm].items()}}
               for arm, v in samples.items()}
        row["ratio_cold_to_kept"] = round(row["cold"]["median_ms"] / max(row["kept"]["median_ms"], 0.1), 2)
        out[name] = row
        print("cold vs kept", name, json.dumps(row), flush=True)
    return out


def _groups_three_rounds(admin) -> list:
    """The groups list as the console built it before (main 2056953): ListGroups, then DescribeGroups |
    OffsetFetch per group, then ListOffsets of the committed partitions -- three rounds in a row."""
    from confluent_kafka import ConsumerGroupTopicPartitions
    from confluent_kafka.admin import OffsetSpec
    from openmsk.console.kafka_worker import TIMEOUT, _ends
    listed = admin.list_consumer_groups(request_timeout=TIMEOUT).result(TIMEOUT)
    ids = sorted(g.group_id for g in listed.valid)
    describing = admin.describe_consumer_groups(ids, request_timeout=TIMEOUT) if ids else {}
    pending = {g: admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)], request_timeout=TIMEOUT)[g]
               for g in ids}
    committed = {g: [tp for tp in f.result(TIMEOUT).topic_partitions or [] if not tp.error and tp.offset >= 0]
                 for g, f in pending.items()}
    ends = _ends(admin, {(tp.topic, tp.partition) for tps in committed.values() for tp in tps}, OffsetSpec.latest())
    described = {g: f.result(TIMEOUT) for g, f in describing.items()}
    return [{"group": g, "state": described[g].state.name, "members": len(described[g].members),
             "topics": sorted({tp.topic for tp in committed[g]}),
             "lag": sum(max(0, ends.get((tp.topic, tp.partition), tp.offset) - tp.offset) for tp in committed[g])}
            for g in ids]


def groups_rounds(boot: str, reps: int) -> dict:
    """The worker's groups list (2 rounds of requests) against the former 3-round one, called directly
    with one AdminClient, interleaved; both must give the same groups and lags."""
    from confluent_kafka.admin import AdminClient
    from openmsk.console.kafka_worker import _groups
    admin = AdminClient({"bootstrap.servers": boot})
    assert _groups(admin) == _groups_three_rounds(admin)
    samples = {"three_rounds_before": [], "two_rounds_after": []}
    for _ in range(reps):
        for arm, fn in (("three_rounds_before", _groups_three_rounds), ("two_rounds_after", _groups)):
            t = time.perf_counter()
            fn(admin)
            samples[arm].append((time.perf_counter() - t) * 1000)
    row = {arm: round(statistics.median(v), 1) for arm, v in samples.items()}
    row["ratio_after_to_before"] = round(row["two_rounds_after"] / max(row["three_rounds_before"], 0.1), 2)
    print("groups list rounds", json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--topics", type=int, default=50)
    parser.add_argument("--groups", type=int, default=20)
    args = parser.parse_args()
    load_at_start = os.getloadavg()
    svc = Service(Path(tempfile.mkdtemp(prefix="openmsk-bench-console-")) / "data", free_port()).start()
    try:
        kafka = svc.client("kafka")
        # Broker logs to CloudWatch Logs, so that the broker logs page reads a real log group.
        svc.client("logs").create_log_group(logGroupName="/bench/brokers")
        arn = kafka.create_cluster_v2(ClusterName="bench", Provisioned={
            "KafkaVersion": "3.9.x", "NumberOfBrokerNodes": 3,
            "BrokerNodeGroupInfo": {"InstanceType": "kafka.m5.large", "ClientSubnets": svc.default_subnets(3)},
            "EncryptionInfo": {"EncryptionInTransit": {"ClientBroker": "TLS_PLAINTEXT"}},
            "LoggingInfo": {"BrokerLogs": {"CloudWatchLogs": {"Enabled": True, "LogGroup": "/bench/brokers"}}}})["ClusterArn"]
        t0 = time.monotonic()
        if svc.wait_state(arn, states=("ACTIVE", "FAILED"), timeout=900)["State"] == "FAILED":
            raise SystemExit(f"cluster creation failed (machine load {os.getloadavg()[0]:.0f}): "
                             f"{kafka.describe_cluster_v2(ClusterArn=arn)['ClusterInfo'].get('StateInfo')}")
        print(f"cluster ACTIVE in {time.monotonic() - t0:.0f} s", flush=True)
        boot = kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerString"]
        topics = [f"topic-{i:02d}" for i in range(args.topics)]
        for name in topics:
            kafka.create_topic(ClusterArn=arn, TopicName=name, PartitionCount=3, ReplicationFactor=3)
        from confluent_kafka import Consumer, Producer, TopicPartition
        producer = Producer({"bootstrap.servers": boot})
        for name in topics:
            for i in range(20):
                producer.produce(name, key=str(i), value=f"message {i}")
        producer.flush(60)
        for g in range(args.groups):
            consumer = Consumer({"bootstrap.servers": boot, "group.id": f"group-{g:02d}", "enable.auto.commit": False})
            consumer.commit(offsets=[TopicPartition(topics[(g + k) % len(topics)], p, 5) for k in range(3)
                                     for p in range(3)], asynchronous=False)
            consumer.close()
        print(f"{len(topics)} topics, {args.groups} groups ready", flush=True)

        creds = svc.credentials
        s = requests.Session()
        s.post(f"{svc.endpoint}/console/signin", data={"access_key_id": creds["access_key_id"],
                                                       "secret_access_key": creds["secret_access_key"]})
        c = s.get(f"{svc.endpoint}/console/").text.split('href="/console/clusters/')[1].split('"')[0]
        base = f"{svc.endpoint}/console/clusters/{c}"
        pages = {"clusters": f"{svc.endpoint}/console/", "cluster": base, "topics": f"{base}/topics",
                 "topic": f"{base}/topics/topic-07", "messages": f"{base}/topics/topic-07/messages",
                 "groups": f"{base}/groups", "group": f"{base}/groups/group-03", "metrics": f"{base}/metrics",
                 "logs": f"{base}/logs", "logs-filtered": f"{base}/logs?filter=INFO",
                 "create-form": f"{svc.endpoint}/console/create"}
        baselines = {"clusters": lambda: kafka.list_clusters_v2(), "cluster": lambda: kafka.describe_cluster_v2(ClusterArn=arn),
                     "topics": lambda: kafka.list_topics(ClusterArn=arn),
                     "topic": lambda: kafka.describe_topic(ClusterArn=arn, TopicName="topic-07")}
        results = {}
        for name, url in pages.items():
            def load(url=url):
                r = s.get(url)
                assert r.status_code == 200, (url, r.status_code, r.text[:300])
            row = timed(load, args.reps)
            if name in baselines:
                row["api_baseline"] = timed(baselines[name], args.reps)
                row["ratio_to_api"] = round(row["median_ms"] / max(row["api_baseline"]["median_ms"], 0.1), 2)
            row["target_met"] = row["median_ms"] < TARGET_MS
            if name.startswith("logs"):             # what the page read: its events (up to a page of 300)
                shown = re.search(r"(\d+) events, newest first", s.get(url).text)
                row["events_shown"] = int(shown.group(1)) if shown else 0
            results[name] = row
            print(name, json.dumps(row), flush=True)
        results["cold_vs_kept"] = cold_vs_kept(s, pages, args.reps)
        results["groups_rounds"] = groups_rounds(boot, args.reps)
        # Console requests must not hold the API: ListClustersV2 timed while a thread keeps loading the
        # heaviest pages, against the same call's idle median above.
        import threading
        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                for name in ("metrics", "groups", "messages", "logs-filtered"):
                    s.get(pages[name], headers={"Cache-Control": "no-cache"})     # every read made
        loader = threading.Thread(target=hammer, daemon=True)
        loader.start()
        try:
            busy = timed(baselines["clusters"], args.reps * 2)
        finally:
            stop.set()
            loader.join(120)
        idle = results["clusters"]["api_baseline"]["median_ms"]
        api_while_console = {"ListClustersV2_idle_median_ms": idle, "ListClustersV2_while_console_busy": busy,
                             "ratio": round(busy["median_ms"] / max(idle, 0.1), 2)}
        print("api while console busy", json.dumps(api_while_console), flush=True)
        summary = {"topics": len(topics), "groups": args.groups, "reps": args.reps, "load_average": os.getloadavg(),
                   "load_average_at_start": load_at_start,
                   "pages": results, "api_while_console_busy": api_while_console}
        out = Path(__file__).resolve().parent / "results"
        out.mkdir(exist_ok=True)
        (out / "console.json").write_text(json.dumps(summary, indent=2))
        print(json.dumps(summary, indent=2))
    finally:
        svc.stop_everything()


if __name__ == "__main__":
    main()
