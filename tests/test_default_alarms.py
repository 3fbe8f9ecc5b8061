"""MSK's recommended alarms on a real 3-broker cluster: created with the cluster (predictable names,
pointed at the installation's `openmsk-alarms` topic), removed by the opt-out tag and back without it,
and deleted with the cluster. Real produce load (lz4 batches the broker recompresses to gzip) drives a
broker's CpuUser + CpuSystem over the CPU alarm's threshold; the alarm goes to ALARM and a local
webhook receives the signed notification; once the load stops, the OK notification follows.

The CPU threshold: MSK's 60 % is of a broker's own instance. Here a broker's CPU is its share of the
whole host, and this test machine has 2 cores shared by other work, where one busy broker core shows
as 50 % and a loaded machine gives a broker a fraction of a core; (idle brokers measure about 1.5 %, this load about 6 % at a load average of 70); so the test lowers the threshold to 4 % with OPENMSK_DEFAULT_ALARM_CPU_THRESHOLD (documented in
docs/alarms.md) and asserts that the measured CPU crossed it. Periods are 10 s
(OPENMSK_DEFAULT_ALARM_PERIOD), collection every 5 s. The disk alarm (85 %) is driven on a real
1 GiB broker volume by tests/test_storage_autoscaling.py (ALARM and OK notifications at a webhook)."""
from __future__ import annotations

import json
import os
import threading
import time

import pytest
from confluent_kafka import Producer

from harness import Service, free_port, wait_for
from kafka_clients import create_topic
from sns_helpers import Webhook, verify_documented, verify_stock

CPU_THRESHOLD = 4.0
ENV = {"OPENMSK_METRICS_INTERVAL": "5", "OPENMSK_DEFAULT_ALARM_PERIOD": "10", "OPENMSK_SNS_RETRY_SCALE": "0.01",
       "OPENMSK_DEFAULT_ALARM_CPU_THRESHOLD": str(CPU_THRESHOLD)}
NAME = "alarmed"
EXPECTED = sorted([f"openmsk-{NAME}-broker-{b}-{k}" for b in (1, 2, 3) for k in ("cpu", "disk", "under-replicated")]
                  + [f"openmsk-{NAME}-active-controller", f"openmsk-{NAME}-offline-partitions"])


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    service = Service(tmp_path_factory.mktemp("defaults") / "data", free_port()).start(env=ENV)
    yield service
    service.stop_everything()


def _names(cw) -> list[str]:
    pages = cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix=f"openmsk-{NAME}-")
    return sorted(a["AlarmName"] for p in pages for a in p["MetricAlarms"])


def _load(bootstrap: str, topic: str, stop: threading.Event, errors: list) -> None:
    """acks=all lz4 batches of compressible text; the topic stores gzip, so the broker recompresses."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "compression.type": "lz4",
                         "linger.ms": 20, "batch.size": 1_000_000, "queue.buffering.max.kbytes": 65536})
    words = [os.urandom(4).hex() for _ in range(512)]
    payloads = [" ".join(words[(i * 7 + j) % 512] for j in range(1200)).encode() for i in range(64)]
    sent, deadline = 0, time.monotonic() + 600            # bounded
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            producer.produce(topic, payloads[sent % 64], on_delivery=lambda err, _: err and errors.append(err))
            sent += 1
        except BufferError:
            producer.poll(0.05)
        producer.poll(0)
    producer.flush(60)


def test_default_alarms_follow_the_cluster_and_cpu_alarm_notifies(svc):
    kafka, cw, sns = svc.client("kafka"), svc.client("cloudwatch"), svc.client("sns")
    arn = kafka.create_cluster(
        ClusterName=NAME, KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
        BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large", "ClientSubnets": svc.default_subnets(3)},
        EncryptionInfo={"EncryptionInTransit": {"ClientBroker": "TLS_PLAINTEXT", "InCluster": True}})["ClusterArn"]
    # Created with the cluster (before it is even ACTIVE), one set per broker.
    assert wait_for(lambda: _names(cw) == EXPECTED, 60, "the default alarms") 
    topic = "arn:aws:sns:us-east-1:123456789012:openmsk-alarms"
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNamePrefix=f"openmsk-{NAME}-")["MetricAlarms"]}
    cpu = alarms[f"openmsk-{NAME}-broker-1-cpu"]
    assert cpu["AlarmActions"] == [topic] and cpu["OKActions"] == [topic] and cpu["Threshold"] == CPU_THRESHOLD
    assert [m.get("Expression") for m in cpu["Metrics"]] == [None, None, "user + system"]
    assert alarms[f"openmsk-{NAME}-broker-2-disk"]["Threshold"] == 85.0
    assert alarms[f"openmsk-{NAME}-broker-3-under-replicated"]["EvaluationPeriods"] == 15
    assert {"TopicArn": topic} in sns.list_topics()["Topics"]

    hook = Webhook()
    try:
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=hook.url)
        sns.confirm_subscription(TopicArn=topic, Token=hook.next("SubscriptionConfirmation")["Token"])
        svc.wait_state(arn)
        bootstrap = kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerString"]
        create_topic({"bootstrap.servers": bootstrap}, "cpu-load", partitions=6, replication=3,
                     topic_config={"compression.type": "gzip"})
        # Healthy cluster: the controller and offline-partition alarms settle to OK.
        wait_for(lambda: all(a["StateValue"] == "OK" for a in cw.describe_alarms(
            AlarmNames=[f"openmsk-{NAME}-active-controller", f"openmsk-{NAME}-offline-partitions"])["MetricAlarms"]),
            120, "controller alarms OK")

        stop, errors = threading.Event(), []
        loader = threading.Thread(target=_load, args=(bootstrap, "cpu-load", stop, errors), daemon=True)
        loader.start()
        try:
            fired = wait_for(lambda: [a for a in cw.describe_alarms(AlarmNamePrefix=f"openmsk-{NAME}-broker-",
                                                                 StateValue="ALARM")["MetricAlarms"]
                                   if a["AlarmName"].endswith("-cpu")], 420, "a CPU alarm in ALARM")
        finally:
            stop.set()
            loader.join(90)
        assert not errors, errors[:3]
        name = fired[0]["AlarmName"]
        data = json.loads(fired[0]["StateReasonData"])
        assert len(data["recentDatapoints"]) == 5 and min(data["recentDatapoints"]) > CPU_THRESHOLD
        note = hook.alarm(name, "ALARM", timeout=60)       # the webhook gets this alarm's ALARM notification
        verify_stock(note, svc.endpoint)
        verify_documented(note)
        assert note["_body"]["Trigger"]["Metrics"][2]["Expression"] == "user + system"
        print(f"{name}: CpuUser + CpuSystem {data['recentDatapoints']}")
        # The load has stopped: the broker's CPU falls back under the threshold, and the OK arrives.
        recovered = hook.alarm(name, "OK", timeout=240)
        verify_documented(recovered)
        assert recovered["_body"]["OldStateValue"] == "ALARM"
        assert "Threshold Crossed" in recovered["_body"]["NewStateReason"]
    finally:
        hook.close()

    # Opting out removes them; removing the tag brings them back.
    kafka.tag_resource(ResourceArn=arn, Tags={"openmsk:default-alarms": "false"})
    wait_for(lambda: _names(cw) == [], 60, "the opt-out to remove the alarms")
    kafka.untag_resource(ResourceArn=arn, TagKeys=["openmsk:default-alarms"])
    wait_for(lambda: _names(cw) == EXPECTED, 60, "the alarms to come back")

    kafka.delete_cluster(ClusterArn=arn)
    svc.wait_state(arn, states=("GONE",), timeout=240)
    wait_for(lambda: _names(cw) == [], 60, "the alarms to go with the cluster")


def test_reconcile_follows_brokers_and_clusters(tmp_path, monkeypatch):
    """The reconcile loop alone (no JVMs): a broker added gets its alarms, a cluster that opts out or
    goes away loses them, a default alarm edited by hand is put back, and a user's own alarm is never
    touched. Clusters are read through a plain callable, as app.py wires `plane.clusters`."""
    from openmsk.control.store import Store
    from openmsk.services.cloudwatch import AlarmBackend, AlarmEvaluator
    from openmsk.telemetry.store import MetricStore

    class Topics:
        def __init__(self):
            self.published = []

        def ensure_topic(self, region, account, name):
            return f"arn:aws:sns:{region}:{account}:{name}"

        def publish(self, topic_arn, message, subject=None):
            self.published.append((topic_arn, json.loads(message)["AlarmName"]))
            return "id"

    monkeypatch.setenv("OPENMSK_DEFAULT_ALARM_PERIOD", "60")
    monkeypatch.delenv("OPENMSK_DEFAULT_ALARM_CPU_THRESHOLD", raising=False)
    store = Store(tmp_path / "openmsk.db")
    alarms = AlarmBackend(store, notifier=Topics())
    arn = "arn:aws:kafka:us-east-1:123456789012:cluster/c1/abc"
    cluster = {"ClusterArn": arn, "ClusterName": "c1", "Region": "us-east-1", "State": "ACTIVE", "Tags": {},
               "Brokers": [{"BrokerId": 1}, {"BrokerId": 2}]}
    clusters = [cluster]
    evaluator = AlarmEvaluator(MetricStore(tmp_path / "metrics.db"), alarms, clusters=lambda: list(clusters))

    def names():
        return sorted(a["AlarmName"] for a in alarms.list())

    evaluator.reconcile_defaults()
    assert len(names()) == 2 * 3 + 2
    cpu = alarms.get("arn:aws:cloudwatch:us-east-1:123456789012:alarm:openmsk-c1-broker-1-cpu")
    assert cpu["Threshold"] == 60.0 and cpu["Metrics"][0]["MetricStat"]["Period"] == 60   # MSK's figures
    assert evaluator.reconcile_defaults() == 0                                           # stable

    cluster["Brokers"].append({"BrokerId": 3})
    evaluator.reconcile_defaults()
    assert "openmsk-c1-broker-3-cpu" in names() and len(names()) == 3 * 3 + 2

    cpu["Threshold"] = 99.0                       # edited by hand
    alarms.put(cpu)
    alarms._store.put("alarm", "arn:aws:cloudwatch:us-east-1:123456789012:alarm:mine",
                      {**cpu, "AlarmName": "mine", "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:mine",
                       "DefaultFor": None}, region="us-east-1")
    evaluator.reconcile_defaults()
    assert alarms.get(cpu["AlarmArn"])["Threshold"] == 60.0

    cluster["Tags"] = {"openmsk:default-alarms": "false"}
    evaluator.reconcile_defaults()
    assert names() == ["mine"]
    cluster["Tags"] = {}
    evaluator.reconcile_defaults()
    clusters.clear()
    evaluator.reconcile_defaults()
    assert names() == ["mine"]
