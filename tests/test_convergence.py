"""Convergence: a roll that fails (a broker that does not come back) fails its operation with the
broker's own reason, and the cluster converges onto the new spec once the fault is gone — under an
acks=all producer that loses nothing."""
from __future__ import annotations

import asyncio
import json
import re
import urllib.request
import uuid

from confluent_kafka.admin import AdminClient, NewTopic

from kafka_clients import create_topic, tls_config
from harness import wait_for
from openmsk.control.roller import can_restart
from openmsk.control.topic_configs import min_insync_replicas
from openmsk.runtime.probes import PartitionMetadata
from verifying_load import VerifyingLoad


def records(svc, arn: str) -> dict[str, dict]:
    uuid_ = arn.rsplit("/", 1)[1]
    return {p.parent.name: json.loads(p.read_text()) for p in (svc.data_dir / "clusters" / uuid_).glob("*/node.json")}


def jmx_exporter_up(ip: str) -> bool:
    """The exporter's health endpoint, not /metrics: a scrape of every broker MBean takes 6-12 s at load
    50 and one whose client gave up keeps running in the broker, so polling /metrics with a short timeout
    fails on a converged cluster and only adds load."""
    try:
        with urllib.request.urlopen(f"http://{ip}:11001/-/healthy", timeout=10) as resp:
            return resp.status == 200
    except OSError:
        return False


def jmx_metrics(ip: str) -> str:
    with urllib.request.urlopen(f"http://{ip}:11001/metrics", timeout=120) as resp:   # load-bound (above)
        assert resp.status == 200
        return resp.read().decode()


def test_failed_roll_is_reported_then_the_cluster_converges(service):
    svc = service
    kafka = svc.client("kafka")
    arn = kafka.create_cluster(ClusterName=f"converge-{uuid.uuid4().hex[:4]}", KafkaVersion="3.9.x",
                               NumberOfBrokerNodes=3,
                               BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                    "ClientSubnets": svc.default_subnets(3)})["ClusterArn"]
    try:
        info = svc.wait_state(arn, timeout=300)
        config = tls_config(kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"], svc.ca_path)
        topic = f"converge-{uuid.uuid4().hex[:6]}"
        create_topic(config, topic, partitions=3, replication=3)
        # The roller's availability rule reads each topic's own min.insync.replicas (DescribeConfigs,
        # in a child process): an override shows, the others carry the broker default (MSK's 2).
        relaxed = f"relaxed-{uuid.uuid4().hex[:6]}"
        admin = AdminClient(config)        # keep a reference: a destroyed handle fails its futures
        admin.create_topics([NewTopic(relaxed, 1, 3, config={"min.insync.replicas": "1"})])[relaxed].result(60)
        per_topic = asyncio.run(min_insync_replicas(config))
        assert per_topic[relaxed] == 1 and per_topic[topic] == 2, per_topic
        ips = {int(n["BrokerNodeInfo"]["BrokerId"]): n["BrokerNodeInfo"]["ClientVpcIpAddress"]
               for n in kafka.list_nodes(ClusterArn=arn)["NodeInfoList"]}
        before = records(svc, arn)
        data_dir = svc.data_dir / "clusters" / arn.rsplit("/", 1)[1]

        # The fault: every broker's stored id disagrees with its configuration, so whichever broker
        # the roll restarts first cannot start (Kafka refuses: the stored node id does not match).
        metas = {p: p.read_text() for p in data_dir.glob("broker-*/data/meta.properties")}
        assert len(metas) == 3
        for path, text in metas.items():
            path.write_text(re.sub(r"broker\.id=\d+", "broker.id=99", text))

        with VerifyingLoad(config, topic) as load:
            op_arn = kafka.update_monitoring(
                ClusterArn=arn, CurrentVersion=info["CurrentVersion"], EnhancedMonitoring="DEFAULT",
                OpenMonitoring={"Prometheus": {"JmxExporter": {"EnabledInBroker": True},
                                               "NodeExporter": {"EnabledInBroker": False}}})["ClusterOperationArn"]

            def failed_op():
                op = kafka.describe_cluster_operation(ClusterOperationArn=op_arn)["ClusterOperationInfo"]
                return op if op["OperationState"] == "UPDATE_FAILED" else None
            op = wait_for(failed_op, 600, "the update to fail")
            assert op["ErrorInfo"]["ErrorCode"] == "ROLLING_UPDATE_FAILED", op
            assert "did not come back" in op["ErrorInfo"]["ErrorString"], op
            assert "99" in op["ErrorInfo"]["ErrorString"], op          # Kafka's own reason
            roll = next(s for s in op["OperationSteps"] if s["StepName"] == "ROLL_BROKERS")
            assert roll["StepInfo"]["StepStatus"] == "FAILED"
            # The desired spec is saved, so the cluster is not left alone on mixed configurations:
            # the failed broker is being healed (onto the new spec) while the fault lasts.
            described = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
            assert described["OpenMonitoring"]["Prometheus"]["JmxExporter"]["EnabledInBroker"] is True
            wait_for(lambda: kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["State"] == "HEALING", 60,
                     "HEALING while a broker cannot start")

            for path, text in metas.items():               # the fault is gone
                path.write_text(text)

            def converged():
                now = records(svc, arn)
                state = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["State"]
                return (state == "ACTIVE" and all(now[f"broker-{b}"]["pid"] != before[f"broker-{b}"]["pid"]
                                                  and now[f"broker-{b}"].get("exited_at") is None for b in ips)
                        and all(jmx_exporter_up(ip) for ip in ips.values()))
            wait_for(converged, 900, "every broker restarted onto the new spec, cluster ACTIVE")
            for ip in ips.values():                         # MSK's open-monitoring names, on every broker
                assert "kafka_server_BrokerTopicMetrics_Count{" in jmx_metrics(ip), ip
        assert load.errors == [] and len(load.acked) > 50
        assert load.lost() == set()
        hashes = {name: r["spec_hash"] for name, r in records(svc, arn).items() if name.startswith("broker-")}
        assert all(hashes[name] != before[name]["spec_hash"] for name in hashes)
    finally:
        kafka.delete_cluster(ClusterArn=arn)
        svc.wait_state(arn, states=("GONE",), timeout=300)


def test_availability_rule_counts_per_topic_min_isr():
    """Restarting broker 1 is refused exactly when a partition it is in sync for would drop below its
    own topic's min.insync.replicas (an override beats the broker default)."""
    strict = PartitionMetadata("strict", 0, leader=1, replicas=[1, 2, 3], isr=[1, 2, 3])
    normal = PartitionMetadata("normal", 0, leader=2, replicas=[1, 2, 3], isr=[1, 2, 3])
    lagging = PartitionMetadata("normal", 1, leader=2, replicas=[1, 2, 3], isr=[1, 2])
    out_of_sync = PartitionMetadata("normal", 2, leader=2, replicas=[1, 2, 3], isr=[2, 3])
    single = PartitionMetadata("single", 0, leader=1, replicas=[1], isr=[1])
    assert can_restart(1, [normal, out_of_sync, single], {}, default_min_isr=2)
    assert not can_restart(1, [strict], {"strict": 3}, default_min_isr=2)
    assert can_restart(1, [strict], {"strict": 2}, default_min_isr=2)
    assert not can_restart(1, [lagging], {}, default_min_isr=2)
    assert can_restart(1, [lagging], {"normal": 1}, default_min_isr=2)
    assert can_restart(4, [strict, lagging], {"strict": 3}, default_min_isr=2)     # not a replica


def test_crashing_nodes_and_failing_reconciles_back_off(tmp_path):
    """A node that keeps crashing is restarted at once the first time, then after 15 s, 30 s, ...
    capped at 5 minutes; consecutive failed reconciles of a cluster back off the same way and a
    success resets them."""
    from openmsk.control.plane import ControlPlane
    plane = ControlPlane(tmp_path / "data")
    try:
        delays = [plane._crash_delay("c/broker-1") for _ in range(8)]
        assert delays == [0, 15, 30, 60, 120, 240, 300, 300]
        assert plane._crash_delay("c/broker-2") == 0          # per node
        cluster = {"ClusterArn": "arn:c"}
        retries = [plane._retry_delay(cluster["ClusterArn"]) for _ in range(6)]
        assert retries == [15, 30, 60, 120, 240, 300]
        plane.converged(cluster)
        assert plane._retry_delay(cluster["ClusterArn"]) == 15
    finally:
        plane.store.close()


def test_start_failures_of_a_loaded_host_do_not_use_up_attempts():
    """A broker that missed its ZooKeeper connection timeout (a loaded host) is started again without
    using up the attempts for failures of its own; the reason reported is the node's own, each failed
    start's reason read from the errors it logged (not an earlier start's)."""
    from openmsk.control.healing import StartAttempts

    class Node:
        log: list[str] = ["[t0] ERROR old run -- java.lang.IllegalStateException: an earlier run's"]

        def failure_reason(self):
            return self.log[-5:]

    node = Node()
    attempts = StartAttempts(node, limit=3, transient_limit=3)
    zk = "[t{}] ERROR Exiting Kafka (kafka.Kafka$) -- kafka.zookeeper.ZooKeeperClientTimeoutException: Timed out"
    own = "[t{}] ERROR Fatal error (kafka.server.KafkaServer) -- java.lang.RuntimeException: Stored node id 99 doesn't match"
    node.log = node.log + [zk.format(1)]
    assert attempts.failed(1) and "ZooKeeperClientTimeoutException" in attempts.last
    node.log = node.log + [zk.format(2)]
    assert attempts.failed(1)
    node.log = node.log + [own.format(3)]
    assert attempts.failed(1) and "99" in attempts.last                 # 1 of 3 own failures
    assert attempts.failed(137) and attempts.last == "process exited with code 137"   # nothing logged
    node.log = node.log + [own.format(5)]
    assert not attempts.failed(1)                                       # the 3rd own failure: no more
    summary = attempts.summary()
    assert summary.startswith("(5 attempts, 2 of them failed only because the host was slow")
    assert summary.endswith("java.lang.RuntimeException: Stored node id 99 doesn't match"), summary

    only_slow = StartAttempts(node, limit=2, transient_limit=2)
    for i in (6, 7):
        node.log = node.log + [zk.format(i)]
        allowed = only_slow.failed(1)
    assert not allowed and "ZooKeeperClientTimeoutException" in only_slow.summary()

    found_exited = StartAttempts(node, limit=2, exited=True)          # its last errors are its reason
    assert found_exited.failed(1) and "ZooKeeperClientTimeoutException" in found_exited.last
