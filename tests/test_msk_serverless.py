"""MSK Serverless (CreateClusterV2 `Serverless`) and cross-account access through a cluster policy, on one real
serverless cluster (module-scoped: a small KRaft cluster, 2 brokers + 3 controllers) with real clients: boto3
and the aws CLI for the API, confluent-kafka with aws-msk-iam-sasl-signer-python tokens on 9098. The last test
deletes the cluster."""
from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from harness import OPENMSK, REPO, Service, free_port
from kafka_clients import broker_config, cluster_nodes, consume_all, produce
from test_msk_iam import arns, iam_config, iam_tool_config, produce_errors

OTHER_ACCOUNT = "210987654321"
CLUSTER_INGRESS, CLUSTER_EGRESS = 4 * 2 ** 20, 8 * 2 ** 20      # bytes/s, this module's serverless cluster
# consumer groups per cluster (MSK Serverless: 500); the other tests of this module leave at most 2 groups behind
CONSUMER_GROUPS = 6


def describe_v2(svc: Service, arn: str) -> dict:
    return svc.client("kafka").describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]


def wait_v2(svc: Service, arn: str, state: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            info = describe_v2(svc, arn)
        except ClientError as exc:
            if state == "GONE" and exc.response["Error"]["Code"] == "NotFoundException":
                return {}
            raise
        if info["State"] == state:
            return info
        assert info["State"] not in ("FAILED",), info
        assert time.monotonic() < deadline, f"cluster still {info['State']} after {timeout}s"
        time.sleep(1)


@pytest.fixture(scope="module")
def serverless(tmp_path_factory):
    """A service of its own with one serverless cluster: (service, arn, describe-cluster-v2 info, security group)."""
    # Kafka's default JIT (not the suite's C1-only `light` profile, tests/conftest.py): the quota test floods a
    # partition over TLS faster than 5 MiB/s, and C1 cuts TLS throughput ~25x (bench/README.md "JVM profile").
    # MSK Serverless's cluster-wide throughput (200 MiB/s in, 400 out) scaled to what a small host can exceed
    svc = Service(tmp_path_factory.mktemp("serverless") / "data", free_port()).start(
        env={"OPENMSK_JVM_PROFILE": "standard",
             "OPENMSK_SERVERLESS_CLUSTER_THROUGHPUT": f"{CLUSTER_INGRESS},{CLUSTER_EGRESS}",
             "OPENMSK_SERVERLESS_CONSUMER_GROUPS": str(CONSUMER_GROUPS)})
    try:
        ec2 = svc.client("ec2")
        subnets = svc.default_subnets(2)
        vpc = ec2.describe_subnets(SubnetIds=subnets)["Subnets"][0]["VpcId"]
        group = ec2.create_security_group(GroupName="kafka-clients", Description="clients", VpcId=vpc)["GroupId"]
        # The host is a client instance in the VPC's default group (docs/networking.md); a new group admits
        # nothing until told to, as on AWS.
        default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                        {"Name": "group-name", "Values": ["default"]}])
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 9098, "ToPort": 9098,
            "UserIdGroupPairs": [{"GroupId": default["SecurityGroups"][0]["GroupId"]}]}])
        created = svc.client("kafka").create_cluster_v2(ClusterName="serverless", Tags={"team": "data"}, Serverless={
            "VpcConfigs": [{"SubnetIds": subnets, "SecurityGroupIds": [group]}],
            "ClientAuthentication": {"Sasl": {"Iam": {"Enabled": True}}}})
        assert created["ClusterType"] == "SERVERLESS" and created["State"] == "CREATING"
        info = wait_v2(svc, created["ClusterArn"], "ACTIVE", timeout=900)   # 5 JVMs on a loaded 2-core host
        yield svc, created["ClusterArn"], info, (subnets, group)
    finally:
        svc.stop_everything()


def test_serverless_requests_msk_refuses(serverless):
    svc, _arn, _info, (subnets, group) = serverless
    kafka = svc.client("kafka")
    for bad, why in (
            ({"VpcConfigs": [{"SubnetIds": subnets}], "ClientAuthentication": {"Sasl": {"Iam": {"Enabled": False}}}},
             "only IAM"),
            ({"VpcConfigs": [{"SubnetIds": subnets[:1]}], "ClientAuthentication": {"Sasl": {"Iam": {"Enabled": True}}}},
             "at least two different Availability Zones"),
            ({"VpcConfigs": [{"SubnetIds": ["subnet-0000000000000000f", subnets[1]]}],
              "ClientAuthentication": {"Sasl": {"Iam": {"Enabled": True}}}}, "does not exist")):
        with pytest.raises(ClientError) as err:
            kafka.create_cluster_v2(ClusterName="refused", Serverless=bad)
        assert err.value.response["Error"]["Code"] == "BadRequestException" and why in str(err.value)
    # the aws CLI, the same rule (IAM is MSK Serverless's only client authentication)
    out = svc.aws("kafka", "create-cluster-v2", "--cluster-name", "refused", "--serverless",
                  json.dumps({"VpcConfigs": [{"SubnetIds": subnets}]}))
    assert out.returncode == 255 and "BadRequestException" in out.stderr and "only IAM" in out.stderr
    names = [c["ClusterName"] for c in kafka.list_clusters_v2()["ClusterInfoList"]]
    assert names == ["serverless"]


def test_serverless_cluster_shows_what_msk_shows(serverless):
    svc, arn, info, (subnets, group) = serverless
    kafka = svc.client("kafka")
    assert arn.split("/")[-1].rsplit("-", 1)[1].startswith("s")            # MSK's serverless cluster ids: -s<n>
    assert info["ClusterType"] == "SERVERLESS" and "Provisioned" not in info and info["Tags"] == {"team": "data"}
    assert info["Serverless"] == {"VpcConfigs": [{"SubnetIds": subnets, "SecurityGroupIds": [group]}],
                                  "ClientAuthentication": {"Sasl": {"Iam": {"Enabled": True}}}}
    listed = kafka.list_clusters_v2(ClusterTypeFilter="SERVERLESS")["ClusterInfoList"]
    assert [c["ClusterArn"] for c in listed] == [arn] and listed[0]["ClusterType"] == "SERVERLESS"
    assert kafka.list_clusters_v2(ClusterTypeFilter="PROVISIONED")["ClusterInfoList"] == []
    assert kafka.list_clusters()["ClusterInfoList"] == []                   # V1 lists provisioned clusters only
    # one endpoint: SASL/IAM on 9098, nothing else
    brokers = kafka.get_bootstrap_brokers(ClusterArn=arn)
    assert set(brokers) - {"ResponseMetadata"} == {"BootstrapBrokerStringSaslIam"}
    assert all(h.endswith(":9098") for h in brokers["BootstrapBrokerStringSaslIam"].split(","))
    # what MSK serves for provisioned clusters only
    version = info["CurrentVersion"]
    for call in (lambda: kafka.describe_cluster(ClusterArn=arn),
                 lambda: kafka.update_broker_count(ClusterArn=arn, CurrentVersion=version, TargetNumberOfBrokerNodes=4),
                 lambda: kafka.update_broker_storage(ClusterArn=arn, CurrentVersion=version, TargetBrokerEBSVolumeInfo=[
                     {"KafkaBrokerNodeId": "All", "VolumeSizeGB": 2000}]),
                 lambda: kafka.list_nodes(ClusterArn=arn)):
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "BadRequestException"
        assert "isn't supported for serverless clusters" in err.value.response["Error"]["Message"]
    out = svc.aws("kafka", "describe-cluster-v2", "--cluster-arn", arn)
    assert out.returncode == 0 and json.loads(out.stdout)["ClusterInfo"]["ClusterType"] == "SERVERLESS"
    # the cluster's operations (its creation) are a serverless cluster's: ClusterType SERVERLESS, no Provisioned
    ops = kafka.list_cluster_operations_v2(ClusterArn=arn)["ClusterOperationInfoList"]
    assert ops and {o["ClusterType"] for o in ops} == {"SERVERLESS"}, ops
    one = kafka.describe_cluster_operation_v2(ClusterOperationArn=ops[-1]["OperationArn"])["ClusterOperationInfo"]
    assert one["ClusterType"] == "SERVERLESS" and "Provisioned" not in one and one["OperationType"] == "CREATE"


def _policy_violation(future) -> str:
    with pytest.raises(KafkaException) as err:
        future.result(60)
    assert err.value.args[0].code() == KafkaError.POLICY_VIOLATION, err.value
    return err.value.args[0].str()


def test_serverless_produce_consume_and_msk_serverless_topic_rules(serverless):
    svc, arn, _info, _ = serverless
    boot = svc.client("kafka").get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringSaslIam"]
    admin_config = iam_config(boot, svc.ca_path, svc.credentials["access_key_id"], svc.credentials["secret_access_key"])
    admin = AdminClient(admin_config)
    topic = f"events-{uuid.uuid4().hex[:6]}"
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=2,
                                  config={"retention.ms": "-1", "max.message.bytes": "8388608"})])[topic].result(60)
    messages = [f"e{i}".encode() for i in range(10)]
    produce(admin_config, topic, messages)
    assert sorted(consume_all(admin_config, topic, len(messages), timeout=600)) == sorted(messages)
    # MSK Serverless's topic rules, with the error Kafka clients get (POLICY_VIOLATION)
    assert "8 MiB" in _policy_violation(admin.create_topics([NewTopic(
        "too-big", num_partitions=1, replication_factor=2, config={"max.message.bytes": "8388609"})])["too-big"])
    assert "segment.bytes" in _policy_violation(admin.create_topics([NewTopic(
        "segments", num_partitions=1, replication_factor=2, config={"segment.bytes": "1048576"})])["segments"])
    assert "2400" in _policy_violation(admin.create_topics([NewTopic(
        "wide", num_partitions=2401, replication_factor=2)])["wide"])
    resource = ConfigResource("topic", topic, set_config={"segment.ms": "60000"})
    _policy_violation(admin.alter_configs([resource])[resource])
    # cleanup.policy: editable only when the topic is created (the compacted topics below set it at creation)
    resource = ConfigResource("topic", topic, set_config={"cleanup.policy": "compact"})
    assert "can only be set when a topic is created" in _policy_violation(admin.alter_configs([resource])[resource])
    # MSK Serverless's default retention.bytes, 250 GiB (Kafka's own default keeps everything)
    described = admin.describe_configs([ConfigResource("topic", topic)])
    settings = next(iter(described.values())).result(60)
    assert settings["retention.bytes"].value == str(250 * 2 ** 30), settings["retention.bytes"]
    assert settings["cleanup.policy"].value == "delete" and settings["retention.ms"].value == "-1"
    # the cluster's partition quota counts the cluster's topics: 120 partitions in compacted topics, so with 61
    # of them a compacted topic of 60 more is refused (each alone is within the per-topic limit)
    compacted = {"cleanup.policy": "compact"}
    first = f"compacted-{uuid.uuid4().hex[:6]}"
    admin.create_topics([NewTopic(first, num_partitions=61, replication_factor=2, config=compacted)])[first].result(120)
    # the policy counts what the brokers know: wait until every broker's metadata has the new topic
    for host in boot.split(","):
        one = AdminClient({**admin_config, "bootstrap.servers": host})
        deadline = time.monotonic() + 120
        while len(getattr(one.list_topics(first, timeout=30).topics.get(first), "partitions", None) or {}) != 61:
            assert time.monotonic() < deadline, f"{first} not in {host}'s metadata"
            time.sleep(0.5)
    reason = _policy_violation(admin.create_topics([NewTopic(
        "compacted-more", num_partitions=60, replication_factor=2, config=compacted)])["compacted-more"])
    assert "the cluster has 61 partitions in compacted topics" in reason and "at most 120" in reason, reason
    admin.create_topics([NewTopic("compacted-fits", num_partitions=59, replication_factor=2,
                                  config=compacted)])["compacted-fits"].result(120)          # 61 + 59 = 120
    names = set(admin.list_topics(timeout=30).topics)
    assert topic in names and not names & {"too-big", "segments", "wide", "compacted-more"}
    for name, future in admin.delete_topics([first, "compacted-fits"]).items():
        future.result(120)


def _join(config: dict, topic: str, group: str, timeout: float = 300):
    """A consumer of `group` on `topic`: its first message's value, or the error its JoinGroup failed with."""
    consumer = Consumer({**config, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": True})
    consumer.subscribe([topic])
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error() is None:
                return msg.value()
            if msg.error().code() == KafkaError.GROUP_AUTHORIZATION_FAILED:
                return msg.error()
        raise AssertionError(f"group {group}: neither a message nor a refusal in {timeout} s")
    finally:
        consumer.close()


def test_serverless_cluster_has_at_most_its_consumer_groups(serverless):
    """MSK Serverless: at most 500 consumer groups per cluster ("JoinGroup request fails"); here CONSUMER_GROUPS. The
    brokers' IAM authorizer refuses READ on a group the cluster does not have while it has the maximum, so a new
    group's JoinGroup (and OffsetCommit) fails with GROUP_AUTHORIZATION_FAILED; a deleted group makes room again.
    The test deletes the groups it made."""
    svc, arn, _info, _ = serverless
    boot = svc.client("kafka").get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringSaslIam"]
    config = iam_config(boot, svc.ca_path, svc.credentials["access_key_id"], svc.credentials["secret_access_key"])
    admin = AdminClient(config)
    tag = uuid.uuid4().hex[:6]
    topic = f"groups-{tag}"
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=2)])[topic].result(60)
    produce(config, topic, [b"hello"])
    existing = {g.group_id for g in admin.list_consumer_groups().result(60).valid}
    assert len(existing) < CONSUMER_GROUPS, existing
    mine = [f"g{tag}-{i}" for i in range(CONSUMER_GROUPS - len(existing))]
    over = f"g{tag}-over"
    try:
        for group in mine:                      # each joins and commits its offset: a group the cluster keeps
            assert _join(config, topic, group) == b"hello", group
        listed = {g.group_id for g in admin.list_consumer_groups().result(60).valid}
        assert len(listed) == CONSUMER_GROUPS and set(mine) <= listed, listed
        refused = _join(config, topic, over)
        assert isinstance(refused, KafkaError) and refused.code() == KafkaError.GROUP_AUTHORIZATION_FAILED, refused
        # committing offsets for a new group (OffsetCommit) is refused the same way
        commit = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(over, [TopicPartition(topic, 0, 0)])])
        try:      # Kafka answers OffsetCommit with an error per partition; librdkafka may raise it or return it
            codes = [tp.error.code() if tp.error else None for tp in commit[over].result(60).topic_partitions]
        except KafkaException as exc:
            codes = [exc.args[0].code()]
        assert codes == [KafkaError.GROUP_AUTHORIZATION_FAILED], codes
        produce(config, topic, [b"again"])                          # the existing groups go on working
        assert _join(config, topic, mine[-1]) == b"again"
        # one group deleted: the new one is admitted once the brokers have listed the cluster's groups again
        admin.delete_consumer_groups([mine[0]])[mine[0]].result(60)
        deadline = time.monotonic() + 120
        while not isinstance(joined := _join(config, topic, over), bytes):
            assert time.monotonic() < deadline, f"{over} still refused after {mine[0]} was deleted: {joined}"
            time.sleep(1)
        assert joined == b"hello"
    finally:
        listed = {g.group_id for g in admin.list_consumer_groups().result(60).valid}
        doomed = [g for g in [*mine, over] if g in listed]
        if doomed:
            for future in admin.delete_consumer_groups(doomed).values():
                future.result(60)
        admin.delete_topics([topic])[topic].result(120)
    assert {g.group_id for g in admin.list_consumer_groups().result(60).valid} == existing


def test_serverless_quotas_are_kafka_quotas_and_a_flooding_producer_is_throttled(serverless, tmp_path):
    """MSK Serverless's quotas with Kafka's mechanisms: default client quotas (5 MiB/s in, 10 MiB/s out: the
    per-partition figures) and the brokers' connection limits (3000 connections, 100 attempts/s per cluster)."""
    svc, arn, _info, _ = serverless
    boot = svc.client("kafka").get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringSaslIam"]
    key, secret = svc.credentials["access_key_id"], svc.credentials["secret_access_key"]
    config = iam_config(boot, svc.ca_path, key, secret)
    # the connection limits, shared by the brokers (DescribeConfigs, as any admin client reads them)
    nodes = cluster_nodes(config)
    for node in nodes:
        settings = broker_config(config, node.id)
        assert settings["max.connections"] == str(3000 // len(nodes)), settings["max.connections"]
        assert settings["max.connection.creation.rate"] == str(100 // len(nodes))
        # MSK Serverless's maximum request size (100 MB) and fetch bytes per request (55 MB): Kafka's own limits
        assert settings["socket.request.max.bytes"] == str(100 * 2 ** 20)
        assert settings["fetch.max.bytes"] == str(55 * 2 ** 20)
    # the default client quotas (DescribeClientQuotas, with Kafka's own kafka-configs.sh and aws-msk-iam-auth)
    props, env = iam_tool_config(tmp_path, svc.ca_path, key, secret)
    described = subprocess.run([REPO / "bin" / "kafka-configs.sh", "--bootstrap-server", boot, "--command-config",
                                str(props), "--describe", "--entity-type", "users", "--entity-default",
                                "--entity-type", "clients", "--entity-default"],
                               text=True, capture_output=True, env=env, timeout=300)
    assert described.returncode == 0, described.stderr[-2000:]
    assert "producer_byte_rate=5242880.0" in described.stdout and "consumer_byte_rate=1.048576E7" in described.stdout, \
        described.stdout
    assert "controller_mutation_rate=0.8333" in described.stdout, described.stdout   # 250 per 300 s

    # a producer writing one partition faster than its quota is throttled: the brokers report throttle time. Its
    # quota is its own 5 MiB/s under the cluster's total (this module's service: 4 MiB/s, 2 MiB/s per broker), so
    # here the broker's share of the cluster's total holds it back
    share = CLUSTER_INGRESS / len(nodes)
    topic = f"flood-{uuid.uuid4().hex[:6]}"
    client = AdminClient(config)
    client.create_topics([NewTopic(topic, num_partitions=1, replication_factor=2)])[topic].result(60)
    throttled: list[float] = []

    def stats(text: str) -> None:
        for broker in json.loads(text).get("brokers", {}).values():
            if (broker.get("throttle") or {}).get("max", 0) > 0:
                throttled.append(broker["throttle"]["max"])

    acked: list[tuple[float, int]] = []

    def delivered(err, msg) -> None:
        if err is None:
            acked.append((time.monotonic(), len(msg.value())))

    producer = Producer({**config, "client.id": f"flood-{topic}", "statistics.interval.ms": 500, "stats_cb": stats,
                         "linger.ms": 20, "compression.type": "none", "acks": "1",
                         "queue.buffering.max.kbytes": 65536})
    payload = os.urandom(256 * 1024)
    sent, deadline, first = 0, time.monotonic() + 600, None
    # Kafka measures a quota over its sample windows (11 x 1 s): flooding faster than the quota for ~10 s gets
    # throttled; a loaded host may need longer to send that much, so the bound is bytes and a generous deadline.
    # Once throttled, the flood goes on for 45 s: what the brokers acknowledge from 15 s to 45 s after the first
    # throttle is bounded by the quota (an upper bound only: a loaded host may send less)
    while sent < 2 * 1024 ** 3 and time.monotonic() < deadline:
        if throttled and first is None:
            first = time.monotonic()
        if first is not None and time.monotonic() > first + 45:
            break
        try:
            producer.produce(topic, payload, on_delivery=delivered)
            sent += len(payload)
        except BufferError:
            producer.poll(0.2)
        producer.poll(0)
    producer.flush(300)
    assert throttled, f"no throttle time reported after {sent / 2 ** 20:.0f} MiB"
    window = sum(n for t, n in acked if first + 15 <= t < first + 45)
    # the broker's share of the cluster's total (2 MiB/s) with 50 % to spare; the client's own quota alone would
    # let 5 MiB/s through (150 MiB in 30 s)
    assert window <= 1.5 * share * 30, f"{window / 2 ** 20:.1f} MiB acknowledged in 30 s (share {share / 2 ** 20} MiB/s)"
    client.delete_topics([topic])[topic].result(120)


def _topics_tool(svc: Service, props: Path, env: dict, boot: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([REPO / "bin" / "kafka-topics.sh", "--bootstrap-server", boot, "--command-config", str(props),
                           *args], text=True, capture_output=True, env=env, timeout=300)


def test_partition_creations_and_deletions_are_limited_as_msk_serverless_limits_them(serverless, tmp_path):
    """MSK Serverless: 250 partition creations/deletions per 5 minutes. Kafka's controller mutation quota (KIP-599)
    as the default quota of every (user, client id): a token bucket of 250 partitions on the active KRaft
    controller, refilled at 250 per 300 s. Java clients (CreateTopics v6+, DeleteTopics v5+) get Kafka's strict
    quota: a request is admitted while the bucket is not empty (it may take it below zero) and refused with
    THROTTLING_QUOTA_EXCEEDED while it is below zero. (librdkafka speaks older versions, for which Kafka admits
    the request and throttles the client afterwards.) Driven with Kafka's kafka-topics.sh and aws-msk-iam-auth."""
    svc, arn, _info, _ = serverless
    boot = svc.client("kafka").get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringSaslIam"]
    key, secret = svc.credentials["access_key_id"], svc.credentials["secret_access_key"]
    props, env = iam_tool_config(tmp_path, svc.ca_path, key, secret)
    tag = uuid.uuid4().hex[:6]
    # a client id of its own (the bucket is per user and client id); the Java admin client waits for a throttled
    # request and retries it within its timeout (default 60 s, here 30 s), then fails with the quota's exception
    props.write_text(props.read_text() + f"client.id=mutations-{tag}\ndefault.api.timeout.ms=30000\n")
    names = {"a": f"m{tag}-a", "b": f"m{tag}-b", "c": f"m{tag}-c", "d": f"m{tag}-d"}
    try:
        for step, partitions in (("a", 200), ("b", 1), ("c", 250)):
            # 200 then 1 fit in the bucket of 250 (Kafka's default window, 11 x 1 s, holds 9: b would be refused);
            # c is admitted while the bucket is not empty and takes it ~200 below zero (~4 minutes to refill)
            out = _topics_tool(svc, props, env, boot, "--create", "--topic", names[step], "--partitions",
                               str(partitions), "--replication-factor", "2")
            assert out.returncode == 0, (step, out.stdout[-2000:], out.stderr[-2000:])
        out = _topics_tool(svc, props, env, boot, "--create", "--topic", names["d"], "--partitions", "1",
                           "--replication-factor", "2")
        assert out.returncode != 0 and "throttling quota has been exceeded" in (out.stdout + out.stderr).lower(), \
            (out.stdout[-2000:], out.stderr[-2000:])
        # deletions take from the same bucket
        out = _topics_tool(svc, props, env, boot, "--delete", "--topic", names["b"])
        assert out.returncode != 0 and "throttling quota has been exceeded" in (out.stdout + out.stderr).lower(), \
            (out.stdout[-2000:], out.stderr[-2000:])
    finally:
        # another client id has a bucket of its own (per client, as Kafka's quotas are; MSK counts per cluster)
        cleanup = AdminClient({**iam_config(boot, svc.ca_path, key, secret), "client.id": f"cleanup-{tag}"})
        existing = set(cleanup.list_topics(timeout=60).topics)
        doomed = [n for n in names.values() if n in existing]
        if doomed:
            for name, future in cleanup.delete_topics(doomed, request_timeout=300).items():
                future.result(300)
    assert names["d"] not in existing, "the throttled topic was created"


def _openmsk(svc: Service, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([OPENMSK, *args, "--data-dir", str(svc.data_dir)], capture_output=True, text=True,
                          timeout=120)


def test_a_cluster_policy_grants_another_accounts_user(serverless):
    """Cross-account access as AWS evaluates it: the other account's identity policy AND the cluster policy."""
    svc, arn, _info, _ = serverless
    kafka = svc.client("kafka")
    boot = kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringSaslIam"]
    a = arns(arn)
    created = _openmsk(svc, "account", "create", OTHER_ACCOUNT)
    assert created.returncode == 0, created.stderr
    root = json.loads(created.stdout)["Account"]
    assert root["AccountId"] == OTHER_ACCOUNT
    # the other account's administrator makes its users with the ordinary IAM API
    other_iam = svc.client("iam", region="us-east-1", key=root["AccessKeyId"], secret=root["SecretAccessKey"])
    kafka_actions = {"Effect": "Allow", "Action": ["kafka-cluster:Connect", "kafka-cluster:DescribeTopic",
                                                   "kafka-cluster:WriteData", "kafka-cluster:ReadData",
                                                   "kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"],
                     "Resource": [a["cluster"], a["topic"], a["group"]]}
    keys = {}
    for name, statements in (("bob", [kafka_actions]), ("carol", [])):
        user = other_iam.create_user(UserName=name)["User"]
        assert user["Arn"] == f"arn:aws:iam::{OTHER_ACCOUNT}:user/{name}"
        if statements:
            other_iam.put_user_policy(UserName=name, PolicyName="kafka", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": statements}))
        key = other_iam.create_access_key(UserName=name)["AccessKey"]
        keys[name] = (key["AccessKeyId"], key["SecretAccessKey"])
    who = svc.client("sts", key=keys["bob"][0], secret=keys["bob"][1]).get_caller_identity()
    assert who["Account"] == OTHER_ACCOUNT and who["Arn"] == f"arn:aws:iam::{OTHER_ACCOUNT}:user/bob"
    assert [u["UserName"] for u in svc.client("iam", region="us-east-1").list_users()["Users"]] == []  # not ours
    topic = f"shared-{uuid.uuid4().hex[:6]}"
    admin = iam_config(boot, svc.ca_path, svc.credentials["access_key_id"], svc.credentials["secret_access_key"])
    client = AdminClient(admin)       # keep a reference: a destroyed handle fails its futures
    client.create_topics([NewTopic(topic, num_partitions=1, replication_factor=2)])[topic].result(60)
    bob = iam_config(boot, svc.ca_path, *keys["bob"])
    carol = iam_config(boot, svc.ca_path, *keys["carol"])
    refused = (KafkaError._MSG_TIMED_OUT, KafkaError._AUTHENTICATION, KafkaError.TOPIC_AUTHORIZATION_FAILED)

    # 1. no cluster policy: bob's own account allows him, the cluster's account does not
    errors = produce_errors(bob, topic, 1)
    assert errors and errors[0] is not None and errors[0].code() in refused
    with pytest.raises(ClientError) as err:                     # nor may he call the cluster's account's API
        svc.client("kafka", key=keys["bob"][0], secret=keys["bob"][1]).list_clusters_v2()
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"

    # 2. the cluster policy grants bob (and carol, who has no identity policy) the data-plane actions
    grant = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": [f"arn:aws:iam::{OTHER_ACCOUNT}:user/bob",
                                                 f"arn:aws:iam::{OTHER_ACCOUNT}:user/carol"]},
        "Action": ["kafka-cluster:*"], "Resource": [a["cluster"], a["topic"], a["group"]]}]}
    kafka.put_cluster_policy(ClusterArn=arn, Policy=json.dumps(grant))
    produce(bob, topic, [b"from-another-account"])
    assert consume_all(bob, topic, 1, timeout=300) == [b"from-another-account"]
    errors = produce_errors(carol, topic, 1)                    # her own account never allowed her anything
    assert errors and errors[0] is not None and errors[0].code() in refused

    # 3. the policy deleted: bob's new connections are refused again
    kafka.delete_cluster_policy(ClusterArn=arn)
    time.sleep(3)                                               # the brokers' 2 s decision cache
    errors = produce_errors(bob, topic, 1)
    assert errors and errors[0] is not None and errors[0].code() in refused
    log = svc.log_path.read_text(errors="replace")
    assert "MSK IAM authentication refused" in log            # the reason is in openmsk's log, the secrets are not
    assert root["SecretAccessKey"] not in log and keys["bob"][1] not in log

    # 4. the accounts: listed, the other one deleted; its keys (root and users') stop working at once
    listed = _openmsk(svc, "account", "list")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["Accounts"] == [{"AccountId": "123456789012", "Default": True},
                                                     {"AccountId": OTHER_ACCOUNT, "Default": False}]
    kept = _openmsk(svc, "account", "delete", "123456789012")
    assert kept.returncode != 0 and "cannot be deleted" in kept.stderr, (kept.stdout, kept.stderr)
    deleted = _openmsk(svc, "account", "delete", OTHER_ACCOUNT)
    assert deleted.returncode == 0 and json.loads(deleted.stdout)["Account"]["AccountId"] == OTHER_ACCOUNT, \
        deleted.stderr
    for key_id, secret in (keys["bob"], (root["AccessKeyId"], root["SecretAccessKey"])):
        with pytest.raises(ClientError) as err:
            svc.client("sts", key=key_id, secret=secret).get_caller_identity()
        assert err.value.response["Error"]["Code"] == "InvalidClientTokenId", err.value.response
    errors = produce_errors(bob, topic, 1)                      # nor on the brokers
    assert errors and errors[0] is not None and errors[0].code() in refused
    listed = json.loads(_openmsk(svc, "account", "list").stdout)["Accounts"]
    assert [a["AccountId"] for a in listed] == ["123456789012"]
    again = _openmsk(svc, "account", "delete", OTHER_ACCOUNT)
    assert again.returncode != 0 and "does not exist" in again.stderr


def test_delete_serverless_cluster(serverless):
    svc, arn, _info, _ = serverless
    kafka = svc.client("kafka")
    out = svc.aws("kafka", "delete-cluster", "--cluster-arn", arn)
    assert out.returncode == 0 and json.loads(out.stdout)["State"] == "DELETING", out.stderr
    ops = kafka.list_cluster_operations_v2(ClusterArn=arn)["ClusterOperationInfoList"]
    assert {o["OperationType"] for o in ops} == {"CREATE", "DELETE"} and {o["ClusterType"] for o in ops} == \
        {"SERVERLESS"}, ops
    for op in ops:                  # the type is the one stored with each operation (DELETING: the cluster's too)
        one = kafka.describe_cluster_operation_v2(ClusterOperationArn=op["OperationArn"])["ClusterOperationInfo"]
        assert one["ClusterType"] == "SERVERLESS" and "Provisioned" not in one, one
    wait_v2(svc, arn, "GONE", timeout=300)
    assert kafka.list_clusters_v2()["ClusterInfoList"] == []
    for op in ops:                  # removed with the cluster (openmsk keeps no operations of deleted clusters)
        with pytest.raises(ClientError) as err:
            kafka.describe_cluster_operation_v2(ClusterOperationArn=op["OperationArn"])
        assert err.value.response["Error"]["Code"] == "NotFoundException"
