"""Clusters a test creates for itself: boto3 CreateClusterV2 on two zones with a configuration,
deletion, and a creation that fails because Kafka refuses the configuration."""
from __future__ import annotations

import json
import os
import time
import uuid

from harness import alive, kcat
from kafka_clients import broker_config, consume_all


def node_pids(service, cluster_uuid: str) -> list[int]:
    return [json.loads(p.read_text())["pid"] for p in service.data_dir.glob(f"clusters/{cluster_uuid}/*/node.json")]


def test_two_zone_cluster_with_configuration_via_boto3_then_delete(service):
    kafka = service.client("kafka")
    conf = kafka.create_configuration(Name="two-zone", KafkaVersions=["3.9.x"],
                                      ServerProperties=b"auto.create.topics.enable=true\nlog.retention.hours=24\n")
    subnets = service.default_subnets(2)
    created = kafka.create_cluster_v2(ClusterName="two-zone", Tags={"purpose": "test"}, Provisioned={
        "KafkaVersion": "3.9.x", "NumberOfBrokerNodes": 2,
        "BrokerNodeGroupInfo": {"InstanceType": "kafka.t3.small", "ClientSubnets": subnets,
                                "StorageInfo": {"EbsStorageInfo": {"VolumeSize": 10}}},
        "ConfigurationInfo": {"Arn": conf["Arn"], "Revision": 1},
        "EncryptionInfo": {"EncryptionInTransit": {"ClientBroker": "TLS_PLAINTEXT", "InCluster": True}}})
    assert created["ClusterType"] == "PROVISIONED" and created["State"] == "CREATING"
    arn = created["ClusterArn"]
    seen: list[str] = []
    info = service.wait_state(arn, seen=seen)
    assert seen[0] == "CREATING" and seen[-1] == "ACTIVE"
    assert info["CurrentBrokerSoftwareInfo"] == {"KafkaVersion": "3.9.x", "ConfigurationArn": conf["Arn"],
                                                 "ConfigurationRevision": 1}
    brokers = kafka.get_bootstrap_brokers(ClusterArn=arn)
    plaintext = brokers["BootstrapBrokerString"]
    assert len(plaintext.split(",")) == 2 and len(brokers["BootstrapBrokerStringTls"].split(",")) == 2

    # Two zones: MSK's RF 2 / min ISR 1, plus the configuration's overrides.
    config = broker_config({"bootstrap.servers": plaintext}, 2)
    assert (config["default.replication.factor"], config["min.insync.replicas"]) == ("2", "1")
    assert config["log.retention.hours"] == "24" and config["auto.create.topics.enable"] == "true"

    # The configuration enabled topic auto-creation: kcat can produce to a new topic over plaintext.
    topic = f"auto-{uuid.uuid4().hex[:6]}"
    result = kcat("-P", "-b", plaintext, "-t", topic, input=b"one\ntwo\nthree\n")
    assert result.returncode == 0, result.stderr
    assert sorted(consume_all({"bootstrap.servers": plaintext}, topic, 3)) == [b"one", b"three", b"two"]

    # A configuration in use cannot be deleted.
    try:
        kafka.delete_configuration(Arn=conf["Arn"])
        raise AssertionError("configuration in use was deleted")
    except kafka.exceptions.BadRequestException:
        pass

    cluster_uuid = arn.rsplit("/", 1)[1]
    pids = node_pids(service, cluster_uuid)
    assert len(pids) == 5 and all(alive(p) for p in pids)
    assert kafka.delete_cluster(ClusterArn=arn)["State"] == "DELETING"
    service.wait_state(arn, states=("GONE",), timeout=120)
    deadline = time.monotonic() + 30
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in pids)
    assert not (service.data_dir / "clusters" / cluster_uuid).exists()
    kafka.delete_configuration(Arn=conf["Arn"])


def test_cluster_whose_brokers_cannot_start_is_failed(service):
    kafka = service.client("kafka")
    # Kafka itself refuses this static value at startup (num.partitions must be at least 1). A dynamic key
    # (e.g. num.io.threads) would not do: it goes through the admin API after the brokers are up.
    conf = kafka.create_configuration(Name="broken", ServerProperties=b"num.partitions=0\n")
    created = kafka.create_cluster(ClusterName="doomed", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
                                   ConfigurationInfo={"Arn": conf["Arn"], "Revision": 1},
                                   BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                        "ClientSubnets": service.default_subnets(3)})
    arn = created["ClusterArn"]
    info = service.wait_state(arn, states=("FAILED",))
    assert info["StateInfo"]["Code"] == "BROKER_START_FAILURE"
    assert "num.partitions" in info["StateInfo"]["Message"]
    op = kafka.list_cluster_operations(ClusterArn=arn)["ClusterOperationInfoList"][0]
    assert op["OperationState"] == "UPDATE_FAILED" and "num.partitions" in op["ErrorInfo"]["ErrorString"]
    # The operation names the API request that started it (the CreateCluster call's x-amzn-RequestId).
    assert op["ClientRequestId"] == created["ResponseMetadata"]["RequestId"]
    # Nothing of a FAILED cluster keeps running; it can only be deleted.
    deadline = time.monotonic() + 30
    pids = node_pids(service, arn.rsplit("/", 1)[1])
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in pids)
    kafka.delete_cluster(ClusterArn=arn)
    service.wait_state(arn, states=("GONE",), timeout=60)
    kafka.delete_configuration(Arn=conf["Arn"])
