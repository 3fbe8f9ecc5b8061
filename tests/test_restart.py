"""The control plane can die (SIGKILL) or stop (SIGTERM) without losing clusters or data, and it
heals a cluster whose broker crashed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid

from harness import OPENMSK, alive

from kafka_clients import consume_all, create_topic, produce, tls_config


def pids_by_node(service) -> dict[str, int]:
    return {p.parent.name: json.loads(p.read_text())["pid"] for p in service.data_dir.glob("clusters/*/*/node.json")}


def test_restart_mid_create_then_adopt_then_heal(private_service):
    svc = private_service
    kafka = svc.client("kafka")
    arn = kafka.create_cluster(ClusterName="survivor", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
                               BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                    "ClientSubnets": svc.default_subnets(3)})["ClusterArn"]
    # Kill the control plane while the cluster is being created (ZooKeeper nodes are starting).
    deadline = time.monotonic() + 60
    while not list(svc.data_dir.glob("clusters/*/zookeeper-*/node.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["State"] == "CREATING"
    svc.kill(signal.SIGKILL)
    svc.start()
    info = svc.wait_state(arn)
    assert info["State"] == "ACTIVE"
    op = kafka.list_cluster_operations(ClusterArn=arn)["ClusterOperationInfoList"][0]
    assert op["OperationType"] == "CREATE" and op["OperationState"] == "UPDATE_COMPLETE"

    config = tls_config(kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"], svc.ca_path)
    topic = f"durable-{uuid.uuid4().hex[:6]}"
    create_topic(config, topic, partitions=3, replication=3)
    messages = [f"m{i}".encode() for i in range(200)]
    produce(config, topic, messages)

    # A graceful stop of the control plane leaves the data plane alone; the next start adopts it.
    before = pids_by_node(svc)
    svc.kill(signal.SIGTERM)
    assert all(alive(pid) for pid in before.values())
    svc.start()
    assert svc.wait_state(arn)["State"] == "ACTIVE"
    assert pids_by_node(svc) == before
    assert sorted(consume_all(config, topic, len(messages))) == sorted(messages)

    # A crashed broker is noticed, the cluster goes HEALING, the broker is replaced, data is intact.
    os.killpg(before["broker-2"], signal.SIGKILL)
    seen: list[str] = []
    svc.wait_state(arn, states=("HEALING",), timeout=30, seen=seen)
    svc.wait_state(arn, states=("ACTIVE",), timeout=180, seen=seen)
    assert "HEALING" in seen and seen[-1] == "ACTIVE"
    after = pids_by_node(svc)
    assert after["broker-2"] != before["broker-2"] and after["broker-1"] == before["broker-1"]
    assert sorted(consume_all(config, topic, len(messages))) == sorted(messages)
    log = svc.log_path.read_text()
    assert "broker-2 exited unexpectedly" in log
    # Its registration was removed rather than waited out (the supervisor reacts within a second or two;
    # the dead session lives 18 s).
    assert "removed the dead broker 2's ZooKeeper registration (/brokers/ids/2" in log

    # With the control plane away, every node stops (`openmsk down`); the next start restarts them,
    # reporting HEALING until they run, and the data is all there.
    svc.kill(signal.SIGTERM)
    down = subprocess.run([OPENMSK, "down", "--data-dir", str(svc.data_dir)], capture_output=True, text=True,
                          timeout=180)
    assert down.returncode == 0, down.stderr
    assert not any(alive(pid) for pid in after.values())
    svc.start()
    assert kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["State"] == "HEALING"
    svc.wait_state(arn, timeout=240)
    assert sorted(consume_all(config, topic, len(messages))) == sorted(messages)
