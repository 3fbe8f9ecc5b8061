"""KRaft clusters (MSK's `.kraft` versions) for real: three controllers hidden from clients, broker-only
brokers, TLS, SASL/SCRAM, IAM and mTLS clients, ACLs through StandardAuthorizer (IAM's ACL delegate
here), IAM decisions on the requests brokers forward to the controllers, the controllers' metrics, Open
Monitoring, broker logs in CloudWatch Logs, a killed broker healed under load, the upgrade to 4.1.x.kraft
(its finalize step first failing on a frozen quorum) and IAM on Kafka 4.1. One module-scoped cluster,
left as found by every test here (topics and SCRAM users removed again) but the upgrade, which moves it
on (the IAM test after it runs on 4.1)."""
from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from harness import Service, free_port, kcat, wait_for
from kafka_clients import broker_config, consume_all, create_topic, delete_topic, produce, tls_config
from openmsk.runtime import cds
from openmsk.runtime.distribution import KafkaDistribution
from test_security import _active_pca, _client_cert, can_list, foreign_certificate_refused, make_secret, scram_args
from verifying_load import VerifyingLoad

VERSION = "3.9.x.kraft"
LOG_GROUP = "/aws/msk/kraft-broker-logs"


@pytest.fixture(scope="module")
def kraft(tmp_path_factory):
    """A service of its own with a 3-zone KRaft cluster: TLS clients, SASL/SCRAM and IAM on, mTLS with an
    ACM PCA CA, unauthenticated TLS allowed, Open Monitoring's two exporters on, broker logs to CloudWatch
    Logs (one cluster for every KRaft feature test: a cluster is minutes of a loaded host). The service runs
    with the finalize fault hook on (OPENMSK_FAULT_INJECTION, docs/versions.md): only the upgrade test
    reaches that step."""
    svc = Service(tmp_path_factory.mktemp("kraft") / "data", free_port()).start(
        env={"OPENMSK_FAULT_INJECTION": "finalize-quorum-paused"})
    try:
        kafka = svc.client("kafka")
        ca_arn, _ = _active_pca(svc)
        svc.client("logs").create_log_group(logGroupName=LOG_GROUP)      # MSK does not create it
        arn = kafka.create_cluster(
            ClusterName="kraft", KafkaVersion=VERSION, NumberOfBrokerNodes=3,
            BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large", "ClientSubnets": svc.default_subnets(3)},
            ClientAuthentication={"Sasl": {"Scram": {"Enabled": True}, "Iam": {"Enabled": True}},
                                  "Unauthenticated": {"Enabled": True},
                                  "Tls": {"CertificateAuthorityArnList": [ca_arn], "Enabled": True}},
            OpenMonitoring={"Prometheus": {"JmxExporter": {"EnabledInBroker": True},
                                           "NodeExporter": {"EnabledInBroker": True}}},
            LoggingInfo={"BrokerLogs": {"CloudWatchLogs": {"Enabled": True, "LogGroup": LOG_GROUP}}},
        )["ClusterArn"]
        info = svc.wait_state(arn, timeout=600)     # a loaded 2-core host: three more JVMs than ZooKeeper
        _first_consumer_group(svc, arn)
        yield svc, arn, info
    finally:                                        # also when the creation failed: no orphaned JVMs
        svc.stop_everything()


def _first_consumer_group(svc, arn: str) -> None:
    """A new cluster's first consumer group makes the brokers create `__consumer_offsets` (50 partitions x
    3 replicas, MSK's default) and load its coordinators: 1-2 minutes on a 2-core host at load ~100 (two
    runs at load 50-100: the group became stable ~55 s after its first FindCoordinator), which is longer
    than the 60 s the tests' consumers allow for their messages. Done once here, with a wait of its own,
    so every test's consumer measures its own group, not the cluster's first one. The topic is deleted
    again (`__consumer_offsets` stays, as it would after any client's first group)."""
    tls = tls_config(svc.client("kafka").get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"],
                     svc.ca_path)
    topic = f"kraft-first-group-{uuid.uuid4().hex[:6]}"
    create_topic(tls, topic, partitions=1, replication=3)
    produce(tls, topic, [b"first"])
    try:
        assert consume_all(tls, topic, 1, timeout=600) == [b"first"]
    finally:
        delete_topic(tls, topic)


def test_kraft_cluster_shows_what_msk_shows(kraft):
    svc, arn, info = kraft
    assert info["CurrentBrokerSoftwareInfo"]["KafkaVersion"] == VERSION
    assert "ZookeeperConnectString" not in info and "ZookeeperConnectStringTls" not in info
    nodes = svc.client("kafka").list_nodes(ClusterArn=arn)["NodeInfoList"]
    brokers = [n for n in nodes if "BrokerNodeInfo" in n]
    controllers = [n for n in nodes if "ControllerNodeInfo" in n]
    assert len(brokers) == 3 and len(controllers) == 3
    # Controllers are hidden from clients: the brokers' metadata lists brokers only.
    bootstrap = svc.client("kafka").get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"]
    listed = kcat("-L", "-b", bootstrap, "-X", "security.protocol=SSL", "-X", f"ssl.ca.location={svc.ca_path}",
                  "-J", "-m", "30")
    assert listed.returncode == 0, listed.stderr
    ids = sorted(b["id"] for b in json.loads(listed.stdout)["brokers"])
    assert ids == [1, 2, 3]
    # Broker-only brokers in KRaft mode, rack = zone ID, no ZooKeeper anywhere.
    config = broker_config(tls_config(bootstrap, svc.ca_path), 1)
    assert config["process.roles"] == "broker"
    broker1 = next(b for b in brokers if b["BrokerNodeInfo"]["BrokerId"] == 1)
    subnet = svc.client("ec2").describe_subnets(SubnetIds=[broker1["BrokerNodeInfo"]["ClientSubnet"]])["Subnets"][0]
    assert config["broker.rack"] == subnet["AvailabilityZoneId"]
    assert not config.get("zookeeper.connect")
    assert "9097" in config["controller.quorum.voters"]


def test_kraft_nodes_map_their_class_data_sharing_archives(kraft):
    """KRaft controllers and brokers start with the archives `openmsk cds build` trained on a KRaft cluster
    (runtime/cds.py): each JVM has its kind's .jsa mapped, and the JVM accepts it for its classpath (an
    archive it refused would not be mapped, but ask it directly, as test_classpath_agent.py does)."""
    svc, arn, _ = kraft
    cluster_dir = svc.data_dir / "clusters" / arn.rsplit("/", 1)[1]
    dist = KafkaDistribution.locate()
    for kind, prefix in (("controller", "controller-"), ("kraft-broker", "broker-")):
        expected = cds.archive_path(dist, kind)
        assert expected.exists(), f"no {kind} archive: scripts/install builds it (openmsk cds build)"
        pids = [json.loads(r.read_text())["pid"] for r in sorted(cluster_dir.glob(f"{prefix}*/node.json"))]
        assert len(pids) == 3
        for pid in pids:
            mapped = {line.split()[-1] for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
                      if line.rstrip().endswith(".jsa")}
            assert str(expected) in mapped, (kind, pid, mapped)
        argv = Path(f"/proc/{pids[0]}/cmdline").read_bytes().decode().split("\0")
        check = subprocess.run([argv[0], f"-XX:SharedArchiveFile={expected}", "-XX:+PrintSharedArchiveAndExit", "-cp",
                                argv[argv.index("-cp") + 1]], capture_output=True, text=True, timeout=120)
        assert "archive is valid" in check.stdout, check.stdout[-2000:] + check.stderr[-2000:]


def test_tls_and_scram_clients(kraft):
    svc, arn, _ = kraft
    kafka = svc.client("kafka")
    brokers = kafka.get_bootstrap_brokers(ClusterArn=arn)
    tls = tls_config(brokers["BootstrapBrokerStringTls"], svc.ca_path)
    topic = f"kraft-{uuid.uuid4().hex[:6]}"
    create_topic(tls, topic, partitions=3, replication=3)
    try:
        _tls_and_scram(svc, arn, tls, topic)
    finally:
        delete_topic(tls, topic)


def _tls_and_scram(svc, arn: str, tls: dict, topic: str) -> None:
    kafka = svc.client("kafka")
    produce(tls, topic, [b"a", b"b", b"c"])
    assert sorted(consume_all(tls, topic, 3)) == [b"a", b"b", b"c"]

    key = svc.aws("kms", "create-key", "--description", "kraft SCRAM").json["KeyMetadata"]["KeyId"]
    secret = make_secret(svc, f"AmazonMSK_kraft_{uuid.uuid4().hex[:6]}", "carol", "carol-secret", key)
    kafka.batch_associate_scram_secret(ClusterArn=arn, SecretArnList=[secret])
    scram = kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringSaslScram"]
    wait_for(lambda: can_list(scram_args(scram, svc.ca_path, "carol", "carol-secret")), 120, "carol to list topics")
    assert kcat("-P", *scram_args(scram, svc.ca_path, "carol", "carol-secret"), "-t", topic,
                input=b"d\n").returncode == 0
    out = kcat("-C", *scram_args(scram, svc.ca_path, "carol", "carol-secret"), "-t", topic, "-o", "beginning",
               "-e", "-q")
    assert sorted(out.stdout.split()) == [b"a", b"b", b"c", b"d"]
    assert not can_list(scram_args(scram, svc.ca_path, "carol", "wrong"))
    kafka.batch_disassociate_scram_secret(ClusterArn=arn, SecretArnList=[secret])
    wait_for(lambda: not can_list(scram_args(scram, svc.ca_path, "carol", "carol-secret")), 120, "carol refused")


def _scram_client(bootstrap: str, ca: str, user: str, password: str) -> dict:
    return {"bootstrap.servers": bootstrap, "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": user, "sasl.password": password, "ssl.ca.location": ca}


def _reads(config: dict, topic: str, partitions: int = 3) -> bool | None:
    """True once a message of `topic` is fetched, False on TOPIC_AUTHORIZATION_FAILED, None if neither
    happened within 30 s. No group offsets are committed (a fetch needs READ on the topic only).

    The metadata answer is asked first: a DENY Read also denies Describe (Describe is implied only by
    an allowed Read), and librdkafka does not always surface that metadata error to a consumer that
    only assign()ed partitions, so the fetch loop alone could wait out its 30 s without a verdict."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
    consumer = Consumer({**config, "group.id": f"acl-{uuid.uuid4().hex[:6]}", "enable.auto.commit": False})
    try:
        try:
            described = consumer.list_topics(topic, timeout=20).topics.get(topic)
        except KafkaException:
            return None                                 # not signed in (yet): no verdict
        if described is not None and described.error is not None and \
                described.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
            return False
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError.TOPIC_AUTHORIZATION_FAILED or \
                        "authorization failed" in msg.error().str().lower():
                    return False
                continue
            return True
        return None
    finally:
        consumer.close()


def _control_plane_admin(svc, bootstrap_tls: str):
    """An AdminClient with the control plane's own certificate (a super user on every node), on the
    replication listener; the certificate is made by the SCRAM sync."""
    from confluent_kafka.admin import AdminClient
    pki = svc.data_dir / "pki"
    assert wait_for(lambda: (pki / "control-plane-admin.crt").exists(), timeout=60)
    return AdminClient({"bootstrap.servers": bootstrap_tls.replace(":9094", ":9093"), "security.protocol": "SSL",
                        "ssl.ca.location": svc.ca_path, "ssl.certificate.location": str(pki / "control-plane-admin.crt"),
                        "ssl.key.location": str(pki / "control-plane-admin.key")})


def _deny_read(topic: str, principal: str):
    """A DENY Read ACL for `principal` on `topic`, and the filter matching every ACL of it there."""
    from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType,
                                       ResourcePatternType, ResourceType)
    deny = AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, principal, "*", AclOperation.READ,
                      AclPermissionType.DENY)
    everything = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, principal, "*",
                                  AclOperation.ANY, AclPermissionType.ANY)
    return deny, everything


def test_acls_through_the_controllers(kraft):
    """StandardAuthorizer: an ACL lives in the metadata log the controllers keep and every broker
    enforces it. A DENY Read for a SCRAM user stops her reads of one topic; deleting it restores them."""
    svc, arn, _ = kraft
    kafka = svc.client("kafka")
    brokers = kafka.get_bootstrap_brokers(ClusterArn=arn)
    tls = tls_config(brokers["BootstrapBrokerStringTls"], svc.ca_path)
    topic = f"kraft-acl-{uuid.uuid4().hex[:6]}"
    create_topic(tls, topic, partitions=3, replication=3)
    key = svc.aws("kms", "create-key", "--description", "kraft ACLs").json["KeyMetadata"]["KeyId"]
    secret = make_secret(svc, f"AmazonMSK_kraft_acl_{uuid.uuid4().hex[:6]}", "dave", "dave-secret", key)
    kafka.batch_associate_scram_secret(ClusterArn=arn, SecretArnList=[secret])
    admin = None
    deny, everything_of_dave = _deny_read(topic, "User:dave")
    try:
        produce(tls, topic, [b"one", b"two", b"three"])
        dave = _scram_client(kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringSaslScram"],
                             svc.ca_path, "dave", "dave-secret")
        assert wait_for(lambda: _reads(dave, topic) is True, timeout=180)
        admin = _control_plane_admin(svc, brokers["BootstrapBrokerStringTls"])
        admin.create_acls([deny])[deny].result(60)
        assert wait_for(lambda: _reads(dave, topic) is False, timeout=120)
        assert len(admin.delete_acls([everything_of_dave])[everything_of_dave].result(60)) == 1
        admin = None
        assert wait_for(lambda: _reads(dave, topic) is True, timeout=120)     # the deletion reached the brokers
    finally:
        if admin is not None:
            admin.delete_acls([everything_of_dave])[everything_of_dave].result(60)
        kafka.batch_disassociate_scram_secret(ClusterArn=arn, SecretArnList=[secret])
        delete_topic(tls, topic)


def test_kraft_controller_metrics(kraft):
    """The controller gauges MSK publishes per cluster come from the KRaft controllers (KRaft brokers
    have no ActiveControllerCount), and a KRaft cluster publishes no ZooKeeper metrics."""
    svc, arn, _ = kraft
    cloudwatch = svc.client("cloudwatch")
    name = svc.client("kafka").describe_cluster(ClusterArn=arn)["ClusterInfo"]["ClusterName"]

    def maximum(metric: str) -> float | None:
        end = datetime.datetime.now(datetime.timezone.utc)
        got = cloudwatch.get_metric_statistics(
            Namespace="AWS/Kafka", MetricName=metric, Dimensions=[{"Name": "Cluster Name", "Value": name}],
            StartTime=end - datetime.timedelta(minutes=30), EndTime=end, Period=60, Statistics=["Maximum"])
        points = sorted(got["Datapoints"], key=lambda p: p["Timestamp"])
        return points[-1]["Maximum"] if points else None

    assert wait_for(lambda: maximum("ActiveControllerCount") == 1.0, timeout=300, poll=5)
    assert (maximum("GlobalTopicCount") or 0) >= 1          # __consumer_offsets at least
    assert maximum("OfflinePartitionsCount") == 0.0
    ours = [m for page in cloudwatch.get_paginator("list_metrics").paginate(Namespace="AWS/Kafka")
            for m in page["Metrics"] if {"Name": "Cluster Name", "Value": name} in m["Dimensions"]]
    assert "ActiveControllerCount" in {m["MetricName"] for m in ours}
    assert not [m for m in ours if m["MetricName"].startswith("ZooKeeper")]


def test_mtls_clients_of_the_pca_and_no_others(kraft, tmp_path):
    """mTLS on KRaft brokers: a certificate the cluster's ACM PCA issued is accepted on 9094 (and the
    broker takes its subject as the principal: a DENY for that principal refuses it), a certificate of
    another CA is refused at the handshake."""
    svc, arn, info = kraft
    [ca_arn] = info["ClientAuthentication"]["Tls"]["CertificateAuthorityArnList"]
    bootstrap = svc.client("kafka").get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"]
    tls = tls_config(bootstrap, svc.ca_path)
    topic = f"kraft-mtls-{uuid.uuid4().hex[:6]}"
    create_topic(tls, topic, partitions=1, replication=3)
    key, cert = _client_cert(svc, ca_arn, tmp_path)
    mtls = {**tls, "ssl.key.location": key, "ssl.certificate.location": cert}
    admin = None
    deny, everything_of_the_client = _deny_read(topic, "User:CN=orders-service")
    try:
        produce(mtls, topic, [b"signed"])
        assert _reads(mtls, topic, partitions=1) is True
        assert foreign_certificate_refused(svc, bootstrap, tmp_path)
        # The principal is the certificate's subject: a DENY Read for it refuses this client only.
        admin = _control_plane_admin(svc, bootstrap)
        admin.create_acls([deny])[deny].result(60)
        assert wait_for(lambda: _reads(mtls, topic, partitions=1) is False, timeout=120)
    finally:
        if admin is not None:
            admin.delete_acls([everything_of_the_client])[everything_of_the_client].result(60)
        delete_topic(tls, topic)


def _iam_checks(svc, arn: str, tmp_path, label: str) -> None:
    """IAM on the cluster as it runs now, with AWS's own Java client (aws-msk-iam-auth in the Kafka tools,
    MSK's documented client.properties) and the signer library (confluent-kafka): a user allowed
    kafka-cluster:CreateTopic creates a topic (CreateTopics is forwarded to the controllers, which decide it
    by IAM policy), produces and consumes; a reader without CreateTopic is refused creating and deleting
    topics (forwarded requests) and writing (decided on the broker), and no topic appears for it."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    from test_msk_iam import (REPO, allow, arns, iam_config, iam_tool_config, produce_errors, refused_writes, setup,
                              user_with)
    boot, ca, admin = setup(svc, arn)
    a = arns(arn)
    suffix = uuid.uuid4().hex[:6]
    topic = f"kraft-iam-{label}-{suffix}"
    creator = user_with(svc, f"kraft-creator-{label}-{suffix}", [
        allow(["Connect", "WriteDataIdempotently"], [a["cluster"]]),
        allow(["CreateTopic", "DescribeTopic", "WriteData", "ReadData"], [a["topic"]]),
        allow(["AlterGroup", "DescribeGroup"], [a["group"]])])
    reader = user_with(svc, f"kraft-reader-{label}-{suffix}", [
        allow(["Connect"], [a["cluster"]]), allow(["DescribeTopic", "ReadData"], [a["topic"]]),
        allow(["AlterGroup", "DescribeGroup"], [a["group"]])])
    props, env = iam_tool_config(tmp_path, ca, *creator)
    bin_dir = REPO / "bin"
    try:
        created = subprocess.run([bin_dir / "kafka-topics.sh", "--bootstrap-server", boot, "--create", "--topic", topic,
                                  "--partitions", "3", "--replication-factor", "3", "--command-config", str(props)],
                                 text=True, capture_output=True, env=env, timeout=300)
        assert created.returncode == 0, created.stderr[-2000:]
        sent = "\n".join(f"{label}-{i}" for i in range(10)) + "\n"
        produced = subprocess.run([bin_dir / "kafka-console-producer.sh", "--bootstrap-server", boot, "--topic", topic,
                                   "--producer.config", str(props)], input=sent, text=True, capture_output=True,
                                  env=env, timeout=300)
        assert produced.returncode == 0, produced.stderr[-2000:]
        consumed = subprocess.run([bin_dir / "kafka-console-consumer.sh", "--bootstrap-server", boot, "--topic", topic,
                                   "--from-beginning", "--max-messages", "10", "--timeout-ms", "120000",
                                   "--consumer.config", str(props)], text=True, capture_output=True, env=env,
                                  timeout=300)
        assert sorted(consumed.stdout.split()) == sorted(f"{label}-{i}" for i in range(10)), consumed.stderr[-2000:]
        # the reader: forwarded CreateTopics / DeleteTopics refused by the controllers' IAM decision
        client = AdminClient(iam_config(boot, ca, *reader))    # keep a reference: a destroyed handle fails its futures
        denied = f"{topic}-denied"
        with pytest.raises(KafkaException) as refused:
            client.create_topics([NewTopic(denied, num_partitions=1, replication_factor=3)])[denied].result(120)
        assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused.value
        with pytest.raises(KafkaException) as refused:
            client.delete_topics([topic], operation_timeout=60)[topic].result(120)
        assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused.value
        errors = produce_errors(iam_config(boot, ca, *reader), topic, 3)
        assert refused_writes(errors, 3), errors
        listed = AdminClient(admin).list_topics(timeout=60).topics
        assert topic in listed and denied not in listed
        controller_logs = "".join(p.read_text(errors="replace")
                                  for p in svc.data_dir.glob("clusters/*/controller-*/logs/server.log*"))
        assert f"User:arn:aws:iam::123456789012:user/kraft-reader-{label}-{suffix} is Denied operation = CREATE" \
            in controller_logs
    finally:
        delete_topic(admin, topic)


def test_iam_clients_on_kraft_brokers_and_controllers(kraft, tmp_path):
    """MSK IAM on a 3.9.x.kraft cluster (IamKRaftAuthorizer, StandardAuthorizer its ACL delegate, on brokers
    and controllers), beside the TLS/SCRAM/mTLS listeners the other tests use."""
    svc, arn, info = kraft
    assert info["ClientAuthentication"]["Sasl"]["Iam"]["Enabled"] is True
    _iam_checks(svc, arn, tmp_path, "39")


def test_kraft_broker_logs_arrive_in_cloudwatch_logs(kraft):
    """LoggingInfo.BrokerLogs on a KRaft cluster: each broker's log (a broker-only KafkaRaftServer's lines)
    arrives in the log group's `Broker-<id>` stream, every line of the file exactly once; no stream for
    the controllers (MSK hides them)."""
    from test_broker_logs import _shipped_exactly_once, _wait_shipped
    svc, arn, info = kraft
    assert info["LoggingInfo"]["BrokerLogs"]["CloudWatchLogs"] == {"Enabled": True, "LogGroup": LOG_GROUP}
    logs = svc.client("logs")
    cluster_uuid = arn.rsplit("/", 1)[1]
    brokers = [1, 2, 3]

    def started():
        found = svc.aws("logs", "filter-log-events", "--log-group-name", LOG_GROUP, "--filter-pattern",
                        '"Kafka Server started"')
        assert found.returncode == 0, found.stderr
        return found.json["events"]
    assert wait_for(lambda: {e["logStreamName"] for e in started()} >= {"Broker-1", "Broker-2", "Broker-3"},
                    timeout=180, poll=2)
    assert all("KafkaRaftServer" in e["message"] for e in started())         # broker-only KRaft nodes
    before, shipped, after = _wait_shipped(svc, logs, LOG_GROUP, cluster_uuid, brokers, timeout=300)
    for b in brokers:
        assert any("process.roles = [broker]" in line for line in shipped[b]), b    # KafkaConfig values
        assert _shipped_exactly_once(shipped[b], before[b], after[b]), b
    streams = {s["logStreamName"] for page in logs.get_paginator("describe_log_streams").paginate(
        logGroupName=LOG_GROUP) for s in page["logStreams"]}
    assert streams == {"Broker-1", "Broker-2", "Broker-3"}


def _scrape(ip: str, port: int) -> str:
    with urllib.request.urlopen(f"http://{ip}:{port}/metrics", timeout=120) as resp:     # a loaded host
        assert resp.status == 200
        return resp.read().decode()


def test_open_monitoring_on_kraft_brokers(kraft):
    """Open Monitoring on a KRaft cluster: each broker's JMX exporter (11001) serves that broker's Kafka
    metrics, its node exporter (11002) the host's, as on a ZooKeeper cluster."""
    svc, arn, info = kraft
    prometheus = info["OpenMonitoring"]["Prometheus"]
    assert prometheus["JmxExporter"]["EnabledInBroker"] is True and prometheus["NodeExporter"]["EnabledInBroker"] is True
    nodes = svc.client("kafka").list_nodes(ClusterArn=arn)["NodeInfoList"]
    ips = [n["BrokerNodeInfo"]["ClientVpcIpAddress"] for n in nodes if "BrokerNodeInfo" in n]
    assert len(ips) == 3
    for ip in ips:
        jmx = _scrape(ip, 11001)
        assert "kafka_server_ReplicaManager_Value{" in jmx, ip
        assert "kafka_server_ZooKeeperClientMetrics" not in jmx, ip         # a KRaft broker has no ZooKeeper client
        assert "node_cpu_seconds_total{" in _scrape(ip, 11002), ip


def _full_isr(config: dict, topic: str) -> bool:
    from confluent_kafka.admin import AdminClient
    try:
        partitions = AdminClient(config).list_topics(topic, timeout=20).topics[topic].partitions.values()
    except Exception:                   # a broker restarting under the client: ask again
        return False
    return bool(partitions) and all(p.leader >= 0 and len(p.isrs) == 3 for p in partitions)


def _pid(record) -> int | None:
    try:
        return json.loads(record.read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def test_killed_broker_is_restarted_and_rejoins_the_isr(kraft):
    """Healing on KRaft: broker 2 SIGKILLed under an idempotent acks=all producer (RF 3, min ISR 2). The
    control plane starts it again, the controllers take it back, every partition returns to full ISR,
    the cluster is ACTIVE, and no acknowledged message is lost."""
    svc, arn, _ = kraft
    kafka = svc.client("kafka")
    tls = tls_config(kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"], svc.ca_path)
    topic = f"kraft-heal-{uuid.uuid4().hex[:6]}"
    create_topic(tls, topic, partitions=3, replication=3, topic_config={"min.insync.replicas": "2"})
    record = next(svc.data_dir.glob("clusters/*/broker-2/node.json"))
    killed = _pid(record)
    assert killed is not None
    try:
        with VerifyingLoad(tls, topic) as load:
            time.sleep(3)
            os.killpg(killed, signal.SIGKILL)
            assert wait_for(lambda: _pid(record) not in (None, killed), timeout=300, poll=1), "not restarted"
            assert wait_for(lambda: _full_isr(tls, topic), timeout=300, poll=2), "ISR not full again"
            time.sleep(2)
        assert load.errors == [] and len(load.acked) > 20
        assert load.lost() == set()
        assert svc.wait_state(arn, timeout=300)["State"] == "ACTIVE"
    finally:
        delete_topic(tls, topic)


def test_upgrade_to_4_1_under_load(kraft):
    """Moves the cluster on: 3.9.x.kraft -> 4.1.x.kraft with IAM on (Kafka 4.1's StandardAuthorizer gets its
    plugin metrics through MonitorableIamKRaftAuthorizer, or replication stops) with nothing lost, no
    duplicate but librdkafka's epoch-bump re-sends (test_upgrade.upgrade_under_load), group offsets kept,
    and metadata.version finalized at 4.1, although the first `kafka-features upgrade` of the finalize step
    runs while two of the three controllers are frozen (the fixture's OPENMSK_FAULT_INJECTION): that attempt
    fails for real, and the step then either finds it applied after the thaw (the broker had queued the
    forwarded UpdateFeatures: what two runs did) or runs it again."""
    from openmsk.runtime import versions
    from test_upgrade import report_duplicates, upgrade_under_load

    svc, arn, _ = kraft
    kafka = svc.client("kafka")
    assert kafka.get_compatible_kafka_versions(ClusterArn=arn)["CompatibleKafkaVersions"] == \
        [{"SourceVersion": VERSION, "TargetVersions": ["4.0.x.kraft", "4.1.x.kraft"]}]
    op, duplicates = upgrade_under_load(svc, arn, "4.1.x.kraft")
    assert op["OperationSteps"][0]["StepName"] == "PREPARE"
    dist = versions.install_line("4.1.x.kraft")
    tls = kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"]
    client_props = svc.data_dir.parent / "features-client.properties"
    client_props.write_text(f"security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={svc.ca_path}\n")
    out = subprocess.run([dist.java(), "-Xmx256m", "-cp", dist.classpath, "org.apache.kafka.tools.FeatureCommand",
                          "--bootstrap-server", tls, "--command-config", str(client_props), "describe"],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(l for l in out.stdout.splitlines() if "metadata.version" in l)
    assert "FinalizedVersionLevel: 4.1" in line, line
    log = svc.log_path.read_text(errors="replace")
    assert "controllers controller-1002, controller-1003 frozen for the first kafka-features upgrade" in log, log[-3000:]
    assert "kafka-features upgrade --metadata 4.1 failed (attempt 1 of 3)" in log, log[-3000:]
    assert "controllers controller-1002, controller-1003 thawed" in log
    assert "failed (attempt 3 of 3)" not in log
    report_duplicates(duplicates)


def test_iam_on_kafka_4_1(kraft, tmp_path):
    """After the upgrade (this runs after it): IAM on Kafka 4.1 brokers and controllers. The broker and
    controllers run the plugin's build against Kafka 4.1 (MonitorableIamKRaftAuthorizer), and no node logged
    the NullPointerException of a StandardAuthorizer without its metrics."""
    svc, arn, _ = kraft
    kafka = svc.client("kafka")
    assert kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["CurrentBrokerSoftwareInfo"]["KafkaVersion"] == \
        "4.1.x.kraft"
    tls = tls_config(kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"], svc.ca_path)
    assert broker_config(tls, 1)["authorizer.class.name"] == "dev.openmsk.iam.MonitorableIamKRaftAuthorizer"
    _iam_checks(svc, arn, tmp_path, "41")
    logs = "".join(p.read_text(errors="replace") for p in svc.data_dir.glob("clusters/*/*/logs/server.log"))
    assert "authorizerMetrics" not in logs
