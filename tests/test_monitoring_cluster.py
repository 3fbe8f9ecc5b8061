"""AWS/Kafka metrics measured from real brokers, read back through CloudWatch, and Open Monitoring
scraped by Debian's real Prometheus. One service of this module's own (metrics every 5 s instead of
60 s) with one 3-broker cluster; the tests run in file order and the last ones disturb the cluster."""
from __future__ import annotations

import datetime as dt
import functools
import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid

import pytest
from confluent_kafka import Consumer, Producer

from harness import Service, free_port, wait_for as _wait_for
from kafka_clients import create_topic, produce

# this module's waits: up to 3 minutes for datapoints and targets, looking every 2 s
wait_for = functools.partial(_wait_for, timeout=180, poll=2)

INTERVAL = 5
CLUSTER = "metrics"


@pytest.fixture(scope="module")
def msvc(tmp_path_factory):
    os.environ["OPENMSK_METRICS_INTERVAL"] = str(INTERVAL)
    try:
        svc = Service(tmp_path_factory.mktemp("metrics") / "data", free_port()).start()
    finally:
        os.environ.pop("OPENMSK_METRICS_INTERVAL", None)
    yield svc
    svc.stop_everything()


@pytest.fixture(scope="module")
def cluster(msvc):
    kafka = msvc.client("kafka")
    arn = kafka.create_cluster(
        ClusterName=CLUSTER, KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
        BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large", "ClientSubnets": msvc.default_subnets(3),
                             "StorageInfo": {"EbsStorageInfo": {"VolumeSize": 1}}},
        EncryptionInfo={"EncryptionInTransit": {"ClientBroker": "TLS_PLAINTEXT"}},
        EnhancedMonitoring="PER_TOPIC_PER_PARTITION",
        OpenMonitoring={"Prometheus": {"JmxExporter": {"EnabledInBroker": True},
                                       "NodeExporter": {"EnabledInBroker": True}}})["ClusterArn"]
    info = msvc.wait_state(arn, timeout=420)
    boot = kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerString"]
    nodes = kafka.list_nodes(ClusterArn=arn)["NodeInfoList"]
    return {"arn": arn, "info": info, "config": {"bootstrap.servers": boot},
            "ips": {int(n["BrokerNodeInfo"]["BrokerId"]): n["BrokerNodeInfo"]["ClientVpcIpAddress"] for n in nodes}}


def window(minutes: int = 30):
    end = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)
    return end - dt.timedelta(minutes=minutes), end


def stats(svc, metric: str, dims: dict, statistic: str = "Average", period: int = 60, minutes: int = 30) -> list[dict]:
    start, end = window(minutes)
    got = svc.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Kafka", MetricName=metric, Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=start, EndTime=end, Period=period, Statistics=[statistic])
    return sorted(got["Datapoints"], key=lambda p: p["Timestamp"])


def broker_sum(svc, metric: str, topic: str | None, statistic: str = "Sum") -> float:
    """Sum over brokers (and minutes) of a per-broker series."""
    total = 0.0
    for broker in ("1", "2", "3"):
        dims = {"Cluster Name": CLUSTER, "Broker ID": broker, **({"Topic": topic} if topic else {})}
        total += sum(p[statistic] for p in stats(svc, metric, dims, statistic))
    return total


def test_seed_runbook_commands_return_datapoints(msvc, cluster):
    """The seed's two commands, with its `ClusterName` dimension and with MSK's real `Cluster Name`."""
    wait_for(lambda: stats(msvc, "CpuUser", {"Cluster Name": CLUSTER, "Broker ID": "1"}), what="CpuUser datapoints")
    today = dt.datetime.now(dt.timezone.utc).date()
    start, end = window(15)
    for dim in ("ClusterName", "Cluster Name"):
        cpu = msvc.aws("cloudwatch", "get-metric-statistics", "--namespace", "AWS/Kafka", "--metric-name", "CpuUser",
                       "--dimensions", f"Name={dim},Value={CLUSTER}", "--start-time", start.strftime("%Y-%m-%dT%H:%M:%S"),
                       "--end-time", end.strftime("%Y-%m-%dT%H:%M:%S"), "--period", "60", "--statistics", "Average")
        assert cpu.returncode == 0, cpu.stderr
        points = cpu.json["Datapoints"]
        assert cpu.json["Label"] == "CpuUser" and points
        assert all(p["Unit"] == "Percent" and 0 <= p["Average"] <= 100 for p in points)
        assert isinstance(points[0]["Timestamp"], int)           # JSON protocol: epoch seconds, as AWS
        disk = msvc.aws("cloudwatch", "get-metric-statistics", "--namespace", "AWS/Kafka",
                        "--metric-name", "KafkaDataLogsDiskUsed", "--dimensions", f"Name={dim},Value={CLUSTER}",
                        "--start-time", f"{today}T00:00:00", "--end-time", f"{today}T23:59:00",
                        "--period", "86400", "--statistics", "Sum")
        assert disk.returncode == 0, disk.stderr
        (day,) = disk.json["Datapoints"]
        assert day["Sum"] > 0 and day["Unit"] == "Percent"
    # The cluster-level KafkaDataLogsDiskUsed is a series of its own (MSK publishes it); CpuUser is not.
    listed = msvc.client("cloudwatch").list_metrics(Namespace="AWS/Kafka", MetricName="KafkaDataLogsDiskUsed",
                                                    Dimensions=[{"Name": "Cluster Name", "Value": CLUSTER}])["Metrics"]
    assert {"Namespace": "AWS/Kafka", "MetricName": "KafkaDataLogsDiskUsed",
            "Dimensions": [{"Name": "Cluster Name", "Value": CLUSTER}]} in listed
    names = {m["MetricName"] for m in msvc.client("cloudwatch").list_metrics(Namespace="AWS/Kafka")["Metrics"]}
    assert {"ActiveControllerCount", "GlobalPartitionCount", "OfflinePartitionsCount", "LeaderCount", "PartitionCount",
            "UnderReplicatedPartitions", "MemoryUsed", "HeapMemoryAfterGC", "ZooKeeperRequestLatencyMsMean",
            "ZooKeeperSessionState", "CpuSystem", "CpuIdle"} <= names
    active = wait_for(lambda: stats(msvc, "ActiveControllerCount", {"Cluster Name": CLUSTER}, "Maximum"))
    assert active[-1]["Maximum"] == 1.0


def test_produced_volume_shows_in_bytes_and_messages_in(msvc, cluster):
    topic = f"volume-{uuid.uuid4().hex[:6]}"
    create_topic(cluster["config"], topic, partitions=3, replication=3)
    count, size = 3000, 1000
    produce(cluster["config"], topic, [os.urandom(size) for _ in range(count)], **{"linger.ms": 20})
    # A rate sampled every INTERVAL s over Count deltas: the sum of the samples x INTERVAL is the volume.
    messages = wait_for(lambda: (v := broker_sum(msvc, "MessagesInPerSec", topic) * INTERVAL) >= 0.7 * count and v,
                        what="MessagesInPerSec for the topic")
    assert 0.7 * count <= messages <= 1.5 * count
    volume = wait_for(lambda: (v := broker_sum(msvc, "BytesInPerSec", topic) * INTERVAL) >= 0.7 * count * size and v,
                      what="BytesInPerSec for the topic")
    assert 0.7 * count * size <= volume <= 1.5 * count * size
    # Broker-wide MessagesInPerSec (DEFAULT level) saw the same messages.
    assert broker_sum(msvc, "MessagesInPerSec", None) * INTERVAL >= 0.7 * count


def test_filling_a_topic_raises_disk_used(msvc, cluster):
    before = stats(msvc, "KafkaDataLogsDiskUsed", {"ClusterName": CLUSTER}, "Maximum", minutes=2)[-1]["Maximum"]
    topic = f"fill-{uuid.uuid4().hex[:6]}"
    create_topic(cluster["config"], topic, partitions=1, replication=3)
    blob = os.urandom(100_000)
    produce(cluster["config"], topic, [blob] * 300, **{"linger.ms": 50})       # 30 MB on every broker
    # 30 MB of a 1 GiB volume is 2.8 %.
    after = wait_for(lambda: (m := stats(msvc, "KafkaDataLogsDiskUsed", {"ClusterName": CLUSTER}, "Maximum",
                                         minutes=2)[-1]["Maximum"]) > before + 2.0 and m,
                     what="KafkaDataLogsDiskUsed rise")
    assert after < before + 10
    per_broker = stats(msvc, "KafkaDataLogsDiskUsed", {"Cluster Name": CLUSTER, "Broker ID": "2"}, "Maximum", minutes=2)
    assert per_broker[-1]["Maximum"] > before + 2.0


def spread(config: dict, topic: str, messages: list[bytes]) -> None:
    """Produce round-robin over partitions 0 and 1 (the sticky partitioner would fill one)."""
    producer = Producer({**config, "acks": "all"})
    for i, m in enumerate(messages):
        producer.produce(topic, m, partition=i % 2)
    assert producer.flush(60) == 0


def test_consumer_lag(msvc, cluster):
    topic, group = f"lag-{uuid.uuid4().hex[:6]}", f"lagger-{uuid.uuid4().hex[:6]}"
    create_topic(cluster["config"], topic, partitions=2, replication=3)
    spread(cluster["config"], topic, [b"x%d" % i for i in range(100)])
    consumer = Consumer({**cluster["config"], "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    got = 0
    deadline = time.monotonic() + 60
    while got < 100 and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and not msg.error():
            got += 1
    consumer.commit(asynchronous=False)    # both partitions committed at their log end
    consumer.close()                       # the group is EMPTY now
    assert got == 100
    spread(cluster["config"], topic, [b"y%d" % i for i in range(60)])      # 60 behind, 30 per partition
    dims = {"Cluster Name": CLUSTER, "Consumer Group": group, "Topic": topic}
    total = wait_for(lambda: (s := stats(msvc, "SumOffsetLag", dims, "Maximum", minutes=5)) and s[-1]["Maximum"] == 60
                     and s, what="SumOffsetLag == 60")
    worst = stats(msvc, "MaxOffsetLag", dims, "Maximum", minutes=5)[-1]["Maximum"]
    assert worst == 30 and total[-1]["Maximum"] == 60
    assert stats(msvc, "EstimatedMaxTimeLag", dims, "Maximum", minutes=5)[-1]["Maximum"] >= 0
    partitions = [stats(msvc, "OffsetLag", {**dims, "Partition": str(p)}, "Maximum", minutes=5)[-1]["Maximum"]
                  for p in (0, 1)]
    assert partitions == [30, 30]


def test_prometheus_scrapes_open_monitoring_ports(msvc, cluster, tmp_path):
    ips = sorted(cluster["ips"].values())
    port = free_port()
    # A full JMX scrape of a broker with PER_TOPIC_PER_PARTITION takes seconds on a loaded 2-core host:
    # Prometheus's timeout defaults to the interval, so a 2 s interval marked healthy targets down.
    config = {"global": {"scrape_interval": "5s", "scrape_timeout": "5s"},
              "scrape_configs": [{"job_name": "jmx", "static_configs": [{"targets": [f"{ip}:11001" for ip in ips]}]},
                                 {"job_name": "node", "static_configs": [{"targets": [f"{ip}:11002" for ip in ips]}]}]}
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))
    proc = subprocess.Popen(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "wb"))
    api = f"http://127.0.0.1:{port}/api/v1"

    def get(path):
        try:
            with urllib.request.urlopen(api + path, timeout=5) as resp:
                return json.loads(resp.read())["data"]
        except OSError:
            return None
    try:
        seen = []

        def healthy():
            d = get("/targets")
            seen[:] = [(t["scrapeUrl"], t["health"], t.get("lastError")) for t in (d or {}).get("activeTargets", [])]
            return d and len(d["activeTargets"]) == 6 and all(t["health"] == "up" for t in d["activeTargets"]) \
                and d["activeTargets"]
        try:
            targets = wait_for(healthy, timeout=240, what="6 healthy Prometheus targets")
        except AssertionError as e:
            raise AssertionError(f"{e}: {seen}") from None
        assert sorted(t["scrapeUrl"] for t in targets) == sorted(
            [f"http://{ip}:11001/metrics" for ip in ips] + [f"http://{ip}:11002/metrics" for ip in ips])
        q = urllib.request.quote('sum(kafka_controller_KafkaController_Value{name="ActiveControllerCount"})')
        result = wait_for(lambda: (d := get(f"/query?query={q}")) and d["result"] and d["result"], what="query result")
        assert float(result[0]["value"][1]) == 1.0
        cpu = wait_for(lambda: (d := get("/query?query=count(node_cpu_seconds_total)")) and d["result"] and d["result"],
                       what="node exporter series")
        assert float(cpu[0]["value"][1]) > 0
    finally:
        proc.terminate()
        proc.wait(30)


def test_update_monitoring_moves_the_exporter(msvc, cluster):
    kafka = msvc.client("kafka")
    arn = cluster["arn"]
    info = msvc.wait_state(arn)
    with pytest.raises(kafka.exceptions.BadRequestException):
        kafka.update_monitoring(ClusterArn=arn, CurrentVersion="K0000000000000", EnhancedMonitoring="DEFAULT")
    op = kafka.update_monitoring(ClusterArn=arn, CurrentVersion=info["CurrentVersion"], EnhancedMonitoring="DEFAULT",
                                 OpenMonitoring={"Prometheus": {"JmxExporter": {"EnabledInBroker": False},
                                                                "NodeExporter": {"EnabledInBroker": False}}})
    with pytest.raises(kafka.exceptions.BadRequestException):   # not ACTIVE any more
        kafka.update_monitoring(ClusterArn=arn, CurrentVersion=info["CurrentVersion"], EnhancedMonitoring="PER_BROKER")
    after = msvc.wait_state(arn, timeout=900)
    assert after["CurrentVersion"] != info["CurrentVersion"]
    assert after["EnhancedMonitoring"] == "DEFAULT"
    assert after["OpenMonitoring"]["Prometheus"]["JmxExporter"]["EnabledInBroker"] is False
    described = kafka.describe_cluster_operation(ClusterOperationArn=op["ClusterOperationArn"])["ClusterOperationInfo"]
    assert described["OperationType"] == "UPDATE_MONITORING" and described["OperationState"] == "UPDATE_COMPLETE"
    for ip in cluster["ips"].values():
        for port, open_ in ((11001, False), (11002, False), (11011, True)):
            try:
                with urllib.request.urlopen(f"http://{ip}:{port}/metrics", timeout=5):
                    reachable = True
            except OSError:
                reachable = False
            assert reachable is open_, (ip, port)
    # Collection goes on through the internal port.
    mark = time.time()
    wait_for(lambda: any(p["Timestamp"].timestamp() >= mark - 60 for p in
                         stats(msvc, "UnderReplicatedPartitions", {"Cluster Name": CLUSTER, "Broker ID": "1"},
                               "Maximum", minutes=3)), what="fresh JMX metrics after the update")


def test_metrics_survive_a_control_plane_restart(msvc, cluster):
    before = stats(msvc, "CpuUser", {"Cluster Name": CLUSTER, "Broker ID": "1"})
    assert before
    msvc.kill(signal.SIGTERM)
    os.environ["OPENMSK_METRICS_INTERVAL"] = str(INTERVAL)
    try:
        msvc.start()
    finally:
        os.environ.pop("OPENMSK_METRICS_INTERVAL", None)
    after = stats(msvc, "CpuUser", {"Cluster Name": CLUSTER, "Broker ID": "1"})
    assert [p["Timestamp"] for p in before] == [p["Timestamp"] for p in after][:len(before)]


def test_stopped_broker_shows_under_replicated_partitions(msvc, cluster):
    """Freeze broker 3 (SIGSTOP: its process still exists, so nothing heals it): the others drop it
    from the ISR of their partitions and report UnderReplicatedPartitions > 0."""
    msvc.wait_state(cluster["arn"])
    node = next(msvc.data_dir.glob("clusters/*/broker-3/node.json"))
    pid = json.loads(node.read_text())["pid"]
    os.killpg(pid, signal.SIGSTOP)
    try:
        def under_replicated():
            return max((p["Maximum"] for b in ("1", "2") for p in
                        stats(msvc, "UnderReplicatedPartitions", {"Cluster Name": CLUSTER, "Broker ID": b},
                              "Maximum", minutes=2)), default=0)
        assert wait_for(lambda: under_replicated() > 0, timeout=240, what="UnderReplicatedPartitions > 0") > 0
    finally:
        os.killpg(pid, signal.SIGCONT)
