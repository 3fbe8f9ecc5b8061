"""Console page load times with 50 topics and 20 consumer groups (issue 16: < 300 ms per page).

Starts its own `openmsk serve` and a 3-broker cluster, creates 50 topics and 20 groups (each commits
offsets on 3 topics), signs in to the console and loads each page `--reps` times (after one warm-up),
server-side HTML complete (what a browser waits for before it paints; static files are cached). The
baseline, measured in the same run, is the API call a page cannot do without, made with boto3
(ListTopics for the topics page, ListClustersV2 for the clusters page ...): the ratio says what the
console adds on top of the API. Last, the API's ListClustersV2 is timed again while a thread keeps
loading the metrics, groups and messages pages: console requests must not hold the API's event loop.

    .venv/bin/python bench/console.py [--reps 10]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--topics", type=int, default=50)
    parser.add_argument("--groups", type=int, default=20)
    args = parser.parse_args()
    svc = Service(Path(tempfile.mkdtemp(prefix="openmsk-bench-console-")) / "data", free_port()).start()
    try:
        kafka = svc.client("kafka")
        arn = kafka.create_cluster_v2(ClusterName="bench", Provisioned={
            "KafkaVersion": "3.9.x", "NumberOfBrokerNodes": 3,
            "BrokerNodeGroupInfo": {"InstanceType": "kafka.m5.large", "ClientSubnets": svc.default_subnets(3)},
            "EncryptionInfo": {"EncryptionInTransit": {"ClientBroker": "TLS_PLAINTEXT"}}})["ClusterArn"]
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
            results[name] = row
            print(name, json.dumps(row), flush=True)
        # Console requests must not hold the API: ListClustersV2 timed while a thread keeps loading the
        # three heaviest pages, against the same call's idle median above.
        import threading
        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                for name in ("metrics", "groups", "messages"):
                    s.get(pages[name])
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
                   "pages": results, "api_while_console_busy": api_while_console}
        out = Path(__file__).resolve().parent / "results"
        out.mkdir(exist_ok=True)
        (out / "console.json").write_text(json.dumps(summary, indent=2))
        print(json.dumps(summary, indent=2))
    finally:
        svc.stop_everything()


if __name__ == "__main__":
    main()
