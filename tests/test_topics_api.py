"""MSK's topic APIs on the shared cluster's real Kafka topics: the aws CLI on one side, Kafka's own
AdminClient (TLS, the cluster's bootstrap string) on the other. Every topic made here is deleted."""
from __future__ import annotations

import base64
import json
import re
import uuid

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from harness import Service, free_port, wait_for
from kafka_clients import consume_all, produce, tls_config


def b64(configs: dict) -> str:
    return base64.b64encode(json.dumps(configs).encode()).decode()


@pytest.fixture(scope="module")
def kafka_config(service, shared_cluster):
    brokers = service.client("kafka").get_bootstrap_brokers(ClusterArn=shared_cluster["ClusterArn"])
    return tls_config(brokers["BootstrapBrokerStringTls"], service.ca_path)


def kafka_topics(config: dict) -> dict:
    """name -> {partition: (replicas, isr)} as Kafka itself reports them."""
    metadata = AdminClient(config).list_topics(timeout=30)
    return {name: {p.id: (sorted(p.replicas), sorted(p.isrs)) for p in t.partitions.values()}
            for name, t in metadata.topics.items() if t.error is None}


def kafka_topic_config(config: dict, topic: str) -> dict:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    client = AdminClient(config)
    return {k: e.value for k, e in client.describe_configs([resource])[resource].result(30).items()}


def test_topic_lifecycle_with_the_cli(service, shared_cluster, kafka_config):
    arn, name = shared_cluster["ClusterArn"], f"api-{uuid.uuid4().hex[:8]}"
    created = service.aws("kafka", "create-topic", "--cluster-arn", arn, "--topic-name", name, "--partition-count", "3",
                          "--replication-factor", "3", "--configs", b64({"retention.ms": "3600000",
                                                                          "cleanup.policy": "delete"}))
    assert created.returncode == 0, created.stderr
    account, cluster_path = arn.split(":")[4], arn.split(":cluster/")[1]
    assert created.json == {"TopicArn": f"arn:aws:kafka:us-east-1:{account}:topic/{cluster_path}/{name}",
                            "TopicName": name, "Status": "CREATING"}
    assert re.fullmatch(r"arn:aws:kafka:us-east-1:\d{12}:topic/shared/[0-9a-f-]+-\d+/" + name, created.json["TopicArn"])
    try:
        # Kafka has it, as asked: 3 partitions, 3 replicas each, the config set.
        partitions = wait_for(lambda: kafka_topics(kafka_config).get(name), what="topic in Kafka", timeout=60, poll=0.5)
        assert len(partitions) == 3 and all(len(replicas) == 3 for replicas, _ in partitions.values())
        assert kafka_topic_config(kafka_config, name)["retention.ms"] == "3600000"

        described = wait_for(lambda: (d := service.aws("kafka", "describe-topic", "--cluster-arn", arn, "--topic-name",
                                                      name).json)["Status"] == "ACTIVE" and d, what="ACTIVE", timeout=60, poll=0.5)
        assert (described["PartitionCount"], described["ReplicationFactor"]) == (3, 3)
        assert described["TopicArn"] == created.json["TopicArn"]
        configs = json.loads(base64.b64decode(described["Configs"]))
        assert configs["retention.ms"] == "3600000" and configs["cleanup.policy"] == "delete"

        result = service.aws("kafka", "describe-topic-partitions", "--cluster-arn", arn, "--topic-name", name)
        assert result.returncode == 0, result.stderr
        parts = result.json["Partitions"]
        assert [p["Partition"] for p in parts] == [0, 1, 2]
        for p in parts:
            assert p["Leader"] in p["Replicas"] and sorted(p["Replicas"]) == partitions[p["Partition"]][0]
            assert sorted(p["Isr"]) == sorted(p["Replicas"])

        # Acknowledged messages survive the partition increase.
        messages = [f"m-{i}".encode() for i in range(200)]
        produce(kafka_config, name, messages)
        updated = service.aws("kafka", "update-topic", "--cluster-arn", arn, "--topic-name", name,
                              "--partition-count", "5", "--configs", b64({"retention.ms": "7200000"}))
        assert updated.returncode == 0, updated.stderr
        assert updated.json["Status"] == "UPDATING"
        wait_for(lambda: len(kafka_topics(kafka_config).get(name, {})) == 5, what="5 partitions in Kafka", timeout=60, poll=0.5)
        assert kafka_topic_config(kafka_config, name)["retention.ms"] == "7200000"
        assert sorted(consume_all(kafka_config, name, len(messages))) == sorted(messages)
        listed = service.aws("kafka", "list-topics", "--cluster-arn", arn, "--topic-name-filter", name).json["Topics"]
        assert listed == [{"TopicArn": created.json["TopicArn"], "TopicName": name, "ReplicationFactor": 3,
                           "PartitionCount": 5, "OutOfSyncReplicaCount": 0}]
    finally:
        deleted = service.aws("kafka", "delete-topic", "--cluster-arn", arn, "--topic-name", name)
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.json["Status"] == "DELETING"
    wait_for(lambda: name not in kafka_topics(kafka_config), what="topic gone from Kafka", timeout=60, poll=0.5)
    gone = service.aws("kafka", "describe-topic", "--cluster-arn", arn, "--topic-name", name)
    assert gone.returncode != 0 and "NotFoundException" in gone.stderr


def test_topic_refusals(service, shared_cluster, kafka_config):
    kafka = service.client("kafka")
    arn, name = shared_cluster["ClusterArn"], f"refuse-{uuid.uuid4().hex[:8]}"
    kafka.create_topic(ClusterArn=arn, TopicName=name, PartitionCount=2, ReplicationFactor=2)
    try:
        with pytest.raises(kafka.exceptions.TopicExistsException) as err:
            kafka.create_topic(ClusterArn=arn, TopicName=name, PartitionCount=2, ReplicationFactor=2)
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
        assert name in err.value.response["Error"]["Message"]

        cases = [  # (call, expected fragment of Kafka's or MSK's message)
            (lambda: kafka.create_topic(ClusterArn=arn, TopicName=name + "-rf", PartitionCount=1,
                                        ReplicationFactor=4), "larger than available brokers: 3"),
            (lambda: kafka.create_topic(ClusterArn=arn, TopicName=name + "-cfg", PartitionCount=1, ReplicationFactor=1,
                                        Configs=b64({"no.such.config": "1"})), "no.such.config"),
            (lambda: kafka.create_topic(ClusterArn=arn, TopicName=name + "-val", PartitionCount=1, ReplicationFactor=1,
                                        Configs=b64({"cleanup.policy": "sometimes"})), "sometimes"),
            (lambda: kafka.create_topic(ClusterArn=arn, TopicName="bad name!", PartitionCount=1, ReplicationFactor=1),
             "Invalid topic name"),
            (lambda: kafka.create_topic(ClusterArn=arn, TopicName=name + "-b64", PartitionCount=1, ReplicationFactor=1,
                                        Configs="not base64!"), "Base64"),
            (lambda: kafka.update_topic(ClusterArn=arn, TopicName=name, PartitionCount=1), "partitions"),
            (lambda: kafka.update_topic(ClusterArn=arn, TopicName=name), "Specify PartitionCount"),
            (lambda: kafka.update_topic(ClusterArn=arn, TopicName=name, Configs=b64({"retention.ms": "soon"})), "soon"),
            (lambda: kafka.delete_topic(ClusterArn=arn, TopicName="__consumer_offsets"), "internal"),
            # MSK's per-broker limit (1000 partition replicas on kafka.m5.large), before Kafka sees it
            (lambda: kafka.create_topic(ClusterArn=arn, TopicName=name + "-huge", PartitionCount=2**31 - 1,
                                        ReplicationFactor=3), "hold at most 3000"),
            (lambda: kafka.update_topic(ClusterArn=arn, TopicName=name, PartitionCount=3001), "hold at most 3000"),
        ]
        for call, fragment in cases:
            with pytest.raises(kafka.exceptions.BadRequestException) as err:
                call()
            assert fragment in err.value.response["Error"]["Message"], err.value.response["Error"]
        topics = kafka_topics(kafka_config)
        assert len(topics[name]) == 2 and not any(t.startswith(name + "-") for t in topics)
        assert kafka_topic_config(kafka_config, name)["retention.ms"] == "604800000"   # nothing half-applied

        missing = f"missing-{uuid.uuid4().hex[:8]}"
        for call in (lambda: kafka.describe_topic(ClusterArn=arn, TopicName=missing),
                     lambda: kafka.describe_topic_partitions(ClusterArn=arn, TopicName=missing),
                     lambda: kafka.update_topic(ClusterArn=arn, TopicName=missing, PartitionCount=4),
                     lambda: kafka.delete_topic(ClusterArn=arn, TopicName=missing),
                     lambda: kafka.list_topics(ClusterArn=arn.replace("/shared/", "/nosuch/"))):
            with pytest.raises(kafka.exceptions.NotFoundException):
                call()
        assert missing not in kafka_topics(kafka_config)        # looking did not auto-create it
    finally:
        kafka.delete_topic(ClusterArn=arn, TopicName=name)
    wait_for(lambda: name not in kafka_topics(kafka_config), what="topic gone from Kafka", timeout=60, poll=0.5)


def test_list_topics_paginates(service, shared_cluster, kafka_config):
    kafka = service.client("kafka")
    arn, prefix = shared_cluster["ClusterArn"], f"page-{uuid.uuid4().hex[:6]}-"
    names = [f"{prefix}{i}" for i in range(5)]
    for name in names:
        kafka.create_topic(ClusterArn=arn, TopicName=name, PartitionCount=1, ReplicationFactor=3)
    try:
        first = kafka.list_topics(ClusterArn=arn, TopicNameFilter=prefix, MaxResults=2)
        assert [t["TopicName"] for t in first["Topics"]] == names[:2] and first["NextToken"]
        rest = kafka.list_topics(ClusterArn=arn, TopicNameFilter=prefix, MaxResults=10, NextToken=first["NextToken"])
        assert [t["TopicName"] for t in rest["Topics"]] == names[2:] and "NextToken" not in rest
        # The CLI follows NextToken itself (2 per page -> 3 requests).
        result = service.aws("kafka", "list-topics", "--cluster-arn", arn, "--topic-name-filter", prefix,
                             "--page-size", "2")
        assert result.returncode == 0, result.stderr
        assert [t["TopicName"] for t in result.json["Topics"]] == names
        assert sorted(t for t in kafka_topics(kafka_config) if t.startswith(prefix)) == names
        everything = [t["TopicName"] for t in kafka.get_paginator("list_topics").paginate(
            ClusterArn=arn, PaginationConfig={"PageSize": 3}).build_full_result()["Topics"]]
        assert set(names) <= set(everything) and everything == sorted(everything)
        with pytest.raises(kafka.exceptions.BadRequestException):
            kafka.list_topics(ClusterArn=arn, NextToken="garbage")
        partitions = kafka.describe_topic_partitions(ClusterArn=arn, TopicName=names[0], MaxResults=1)
        assert [p["Partition"] for p in partitions["Partitions"]] == [0] and "NextToken" not in partitions
    finally:
        for name in names:
            kafka.delete_topic(ClusterArn=arn, TopicName=name)
    wait_for(lambda: not any(t.startswith(prefix) for t in kafka_topics(kafka_config)), what="topics gone", timeout=60, poll=0.5)


def test_topics_need_running_brokers(service):
    kafka = service.client("kafka")
    arn = kafka.create_cluster(ClusterName=f"topics-early-{uuid.uuid4().hex[:6]}", KafkaVersion="3.9.x",
                               NumberOfBrokerNodes=3,
                               BrokerNodeGroupInfo={"InstanceType": "kafka.t3.small",
                                                    "ClientSubnets": service.default_subnets(3)})["ClusterArn"]
    try:
        with pytest.raises(kafka.exceptions.BadRequestException) as err:
            kafka.list_topics(ClusterArn=arn)
        assert "CREATING" in err.value.response["Error"]["Message"]
    finally:
        kafka.delete_cluster(ClusterArn=arn)
    service.wait_state(arn, states=("GONE",))


@pytest.fixture(scope="module")
def impatient(tmp_path_factory):
    """A service whose CreateTopic lets Kafka wait only 1 ms for the new partitions' leaders, so that
    wait always runs out, as the default 40 s can on a heavily loaded host."""
    svc = Service(tmp_path_factory.mktemp("impatient") / "data", free_port()).start(
        env={"OPENMSK_TOPIC_CREATE_WAIT_SECONDS": "0.001"})
    yield svc
    svc.stop_everything()


def test_create_topic_answers_creating_when_the_wait_for_leaders_runs_out(impatient):
    """CreateTopic answers MSK's Status CREATING, not a KafkaTimeoutException, once Kafka recorded the
    topic, however long its partitions take to get leaders: DescribeTopic then shows CREATING or ACTIVE
    (NotFoundException until the brokers learn of it, as MSK's DescribeTopic lags), the topic takes
    acks=all messages, a second create is a TopicExistsException and invalid requests are still refused."""
    kafka = impatient.client("kafka")
    arn = kafka.create_cluster(ClusterName=f"impatient-{uuid.uuid4().hex[:6]}", KafkaVersion="3.9.x",
                               NumberOfBrokerNodes=2,
                               BrokerNodeGroupInfo={"InstanceType": "kafka.t3.small",
                                                    "ClientSubnets": impatient.default_subnets(2)})["ClusterArn"]
    try:
        impatient.wait_state(arn, timeout=600)
        name = f"late-{uuid.uuid4().hex[:8]}"
        created = kafka.create_topic(ClusterArn=arn, TopicName=name, PartitionCount=4, ReplicationFactor=2,
                                     Configs=b64({"retention.ms": "3600000"}))
        assert created["Status"] == "CREATING" and created["TopicName"] == name
        with pytest.raises(kafka.exceptions.TopicExistsException):
            kafka.create_topic(ClusterArn=arn, TopicName=name, PartitionCount=4, ReplicationFactor=2)
        with pytest.raises(kafka.exceptions.BadRequestException, match="larger than available brokers: 2"):
            kafka.create_topic(ClusterArn=arn, TopicName=name + "-rf", PartitionCount=1, ReplicationFactor=3)

        statuses = []

        def active():
            try:
                described = kafka.describe_topic(ClusterArn=arn, TopicName=name)
            except kafka.exceptions.NotFoundException:
                statuses.append("NOT_FOUND")
                return None
            statuses.append(described["Status"])
            return described if described["Status"] == "ACTIVE" else None
        described = wait_for(active, timeout=120, what="topic ACTIVE", poll=0.5)
        assert set(statuses) <= {"NOT_FOUND", "CREATING", "ACTIVE"}, statuses
        assert (described["PartitionCount"], described["ReplicationFactor"]) == (4, 2)
        assert json.loads(base64.b64decode(described["Configs"]))["retention.ms"] == "3600000"

        config = tls_config(kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"],
                            impatient.ca_path)
        messages = [f"late-{i}".encode() for i in range(50)]
        produce(config, name, messages)
        assert sorted(consume_all(config, name, len(messages))) == sorted(messages)
        assert not any(t.startswith(name + "-") for t in kafka_topics(config))
    finally:
        kafka.delete_cluster(ClusterArn=arn)
        impatient.wait_state(arn, states=("GONE",), timeout=300)
