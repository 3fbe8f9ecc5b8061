"""The shared 3-zone cluster (MSK defaults: TLS between clients and brokers and inside the cluster)."""
from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import uuid

import pytest

from harness import kcat
from kafka_clients import (broker_config, cluster_nodes, consume_all, create_topic, produce, tls_config)


@pytest.fixture(scope="module")
def bootstrap(service, shared_cluster):
    return service.client("kafka").get_bootstrap_brokers(ClusterArn=shared_cluster["ClusterArn"])


def test_describe_cluster_with_the_cli(service, shared_cluster):
    result = service.aws("kafka", "describe-cluster", "--cluster-arn", shared_cluster["ClusterArn"])
    assert result.returncode == 0, result.stderr
    info = result.json["ClusterInfo"]
    assert info["State"] == "ACTIVE"
    assert info["NumberOfBrokerNodes"] == 3
    assert info["EncryptionInfo"]["EncryptionInTransit"] == {"ClientBroker": "TLS", "InCluster": True}
    assert info["Tags"] == {"team": "platform"}
    assert info["CurrentBrokerSoftwareInfo"]["KafkaVersion"] == "3.9.x"
    # In-cluster TLS: ZooKeeper is reachable on 2182 only (see docs/encryption.md).
    assert "ZookeeperConnectString" not in info
    assert [h.split(":")[1] for h in info["ZookeeperConnectStringTls"].split(",")] == ["2182"] * 3
    assert info["BrokerNodeGroupInfo"]["ZoneIds"] == ["use1-az1", "use1-az2", "use1-az3"]
    # The CLI prints kafka timestamps as sent on the wire: ISO-8601 with milliseconds.
    assert info["CreationTime"].endswith("Z") and "T" in info["CreationTime"]


def in_default_vpc(address: str) -> bool:
    """Inside 127.0.0.0/8 (loopback layout) or the default VPC's 172.16.0.0/12 or 10.0.0.0/8 block."""
    import ipaddress
    return any(ipaddress.ip_address(address) in ipaddress.ip_network(n)
               for n in ("127.0.0.0/8", "172.16.0.0/12", "10.0.0.0/8"))


def test_bootstrap_brokers_are_tls_only(bootstrap):
    assert set(bootstrap) - {"ResponseMetadata"} == {"BootstrapBrokerStringTls"}
    hosts = bootstrap["BootstrapBrokerStringTls"].split(",")
    assert len(hosts) == 3 and all(h.endswith(":9094") and in_default_vpc(h.rsplit(":", 1)[0]) for h in hosts)
    for hostport in hosts:                 # MSK's TLS-only cluster has no plaintext listener
        host = hostport.split(":")[0]
        with pytest.raises(OSError):
            socket.create_connection((host, 9092), timeout=2).close()


def test_list_nodes_one_broker_per_zone_with_matching_rack(service, shared_cluster, bootstrap):
    nodes = service.client("kafka").list_nodes(ClusterArn=shared_cluster["ClusterArn"])["NodeInfoList"]
    assert len(nodes) == 3
    subnets = {s["SubnetId"]: s for s in service.client("ec2").describe_subnets()["Subnets"]}
    zone_by_broker = {}
    for node in nodes:
        broker = node["BrokerNodeInfo"]
        assert node["NodeType"] == "BROKER" and node["InstanceType"] == "kafka.m5.large"
        zone_by_broker[int(broker["BrokerId"])] = subnets[broker["ClientSubnet"]]["AvailabilityZoneId"]
        assert broker["Endpoints"] == [broker["ClientVpcIpAddress"]]
    assert sorted(zone_by_broker.values()) == ["use1-az1", "use1-az2", "use1-az3"]
    # What the brokers themselves report (Kafka metadata over TLS) matches: broker.rack = AZ ID.
    racks = {n.id: n.rack for n in cluster_nodes(tls_config(bootstrap["BootstrapBrokerStringTls"], service.ca_path))}
    assert racks == zone_by_broker


def test_produce_with_kcat_consume_with_confluent_kafka_over_tls(service, bootstrap):
    config = tls_config(bootstrap["BootstrapBrokerStringTls"], service.ca_path)
    topic = f"kcat-{uuid.uuid4().hex[:6]}"
    create_topic(config, topic, partitions=3)
    lines = [f"message-{i}" for i in range(50)]
    result = kcat("-P", "-b", bootstrap["BootstrapBrokerStringTls"], "-X", "security.protocol=ssl",
                  "-X", f"ssl.ca.location={service.ca_path}", "-t", topic, input="\n".join(lines).encode() + b"\n")
    assert result.returncode == 0, result.stderr
    got = consume_all(config, topic, expected=len(lines))
    assert sorted(m.decode() for m in got) == sorted(lines)
    # ... and kcat reads back what confluent-kafka wrote.
    produce(config, topic, [b"from-confluent"])
    out = kcat("-C", "-b", bootstrap["BootstrapBrokerStringTls"], "-X", "security.protocol=ssl",
               "-X", f"ssl.ca.location={service.ca_path}", "-t", topic, "-o", "beginning", "-e", "-q")
    assert out.returncode == 0 and b"from-confluent" in out.stdout and b"message-49" in out.stdout


def test_client_trusting_another_ca_is_refused(service, bootstrap, tmp_path):
    from openmsk.runtime.pki import CertificateAuthority
    other = CertificateAuthority(tmp_path / "other-ca")
    result = kcat("-L", "-b", bootstrap["BootstrapBrokerStringTls"], "-X", "security.protocol=ssl",
                  "-X", f"ssl.ca.location={other.cert_path}", "-m", "5")
    assert result.returncode != 0
    assert b"certificate verify failed" in result.stderr


def test_broker_configuration_follows_msk_defaults(service, bootstrap):
    config = broker_config(tls_config(bootstrap["BootstrapBrokerStringTls"], service.ca_path), 1)
    assert config["default.replication.factor"] == "3"
    assert config["min.insync.replicas"] == "2"
    assert config["auto.create.topics.enable"] == "false"
    assert config["unclean.leader.election.enable"] == "true"
    assert config["broker.rack"] == "use1-az1"
    # In-cluster encryption: the inter-broker listener is TLS, and there is no plaintext listener at all.
    protocols = dict(item.split(":") for item in config["listener.security.protocol.map"].split(","))
    assert protocols[config["inter.broker.listener.name"]] == "SSL"
    assert "PLAINTEXT" not in {protocols[l.split("://")[0]] for l in config["listeners"].split(",")}
    # Brokers reach ZooKeeper over TLS (port 2182), with their own certificates.
    assert config["zookeeper.ssl.client.enable"] == "true"
    assert all(h.endswith(":2182") for h in config["zookeeper.connect"].split(","))


def test_zookeeper_ruok_on_2182_with_nc_and_tls(service, shared_cluster, tmp_path):
    from openmsk.runtime.pki import CertificateAuthority, write_secret
    client = CertificateAuthority(service.data_dir / "pki").issue("zk-admin", server=False)
    write_secret(tmp_path / "client.pem", client.key_pem + client.cert_pem)
    for hostport in shared_cluster["ZookeeperConnectStringTls"].split(","):
        host, port = hostport.split(":")
        # The seed's check, verbatim: echo "ruok" | nc <zookeeper-node-endpoint> 2182
        out = subprocess.run(f'echo "ruok" | nc -w 3 {host} {port}', shell=True, capture_output=True, timeout=10)
        assert out.stdout == b"imok"
        # ... and a TLS client (verifying the node's IP against the CA) gets the same answer.
        tls = subprocess.run(["openssl", "s_client", "-quiet", "-connect", hostport, "-CAfile", service.ca_path,
                              "-verify_ip", host, "-verify_return_error", "-cert", str(tmp_path / "client.pem")],
                             input=b"ruok", capture_output=True, timeout=20)
        assert tls.stdout.endswith(b"imok"), tls.stderr
        # Plaintext 2181 does not exist on a TLS cluster.
        with pytest.raises(OSError):
            socket.create_connection((host, 2181), timeout=2).close()


def test_zookeeper_sessions_require_tls(service, shared_cluster, tmp_path):
    from harness import kafka_tool
    from openmsk.runtime.pki import CertificateAuthority, write_secret
    zk = shared_cluster["ZookeeperConnectStringTls"]
    plain = kafka_tool("org.apache.zookeeper.ZooKeeperMain", "-server", zk, "ls", "/brokers/ids")
    assert "client failed to authenticate" in plain.stdout + plain.stderr
    client = CertificateAuthority(service.data_dir / "pki").issue("zk-admin", server=False)
    write_secret(tmp_path / "client.pem", client.key_pem + client.cert_pem)
    from openmsk.runtime.distribution import KafkaDistribution
    dist = KafkaDistribution.locate()
    tls = subprocess.run([dist.java(), "-Xmx128m", "-Dlog4j.configuration=file:/dev/null",
                          "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty",
                          "-Dzookeeper.client.secure=true", f"-Dzookeeper.ssl.keyStore.location={tmp_path / 'client.pem'}",
                          "-Dzookeeper.ssl.keyStore.type=PEM", f"-Dzookeeper.ssl.trustStore.location={service.ca_path}",
                          "-Dzookeeper.ssl.trustStore.type=PEM", "-cp", dist.classpath,
                          "org.apache.zookeeper.ZooKeeperMain", "-server", zk, "ls", "/brokers/ids"],
                         capture_output=True, text=True, timeout=60)
    assert "[1, 2, 3]" in tls.stdout, tls.stdout + tls.stderr


def test_create_operation_is_recorded(service, shared_cluster):
    kafka = service.client("kafka")
    ops = kafka.list_cluster_operations(ClusterArn=shared_cluster["ClusterArn"])["ClusterOperationInfoList"]
    assert [o["OperationType"] for o in ops] == ["CREATE"]
    op = kafka.describe_cluster_operation(ClusterOperationArn=ops[0]["OperationArn"])["ClusterOperationInfo"]
    assert op["OperationState"] == "UPDATE_COMPLETE"
    assert op["EndTime"] >= op["CreationTime"]
    assert {s["StepInfo"]["StepStatus"] for s in op["OperationSteps"]} == {"COMPLETED"}


def test_list_and_describe_v2(service, shared_cluster):
    kafka = service.client("kafka")
    names = [c["ClusterName"] for c in kafka.list_clusters()["ClusterInfoList"]]
    assert "shared" in names
    v2 = kafka.list_clusters_v2(ClusterTypeFilter="PROVISIONED")["ClusterInfoList"]
    assert any(c["ClusterArn"] == shared_cluster["ClusterArn"] and c["ClusterType"] == "PROVISIONED" for c in v2)
    assert kafka.list_clusters_v2(ClusterTypeFilter="SERVERLESS")["ClusterInfoList"] == []
    desc = kafka.describe_cluster_v2(ClusterArn=shared_cluster["ClusterArn"])["ClusterInfo"]
    assert desc["Provisioned"]["NumberOfBrokerNodes"] == 3 and desc["State"] == "ACTIVE"


def test_tag_untag_with_the_cli(service, shared_cluster):
    arn = shared_cluster["ClusterArn"]
    assert service.aws("kafka", "tag-resource", "--resource-arn", arn, "--tags", "env=test,owner=ci").returncode == 0
    tags = service.aws("kafka", "list-tags-for-resource", "--resource-arn", arn).json["Tags"]
    assert tags == {"team": "platform", "env": "test", "owner": "ci"}
    assert service.aws("kafka", "untag-resource", "--resource-arn", arn, "--tag-keys", "env", "owner").returncode == 0
    assert service.aws("kafka", "list-tags-for-resource", "--resource-arn", arn).json["Tags"] == {"team": "platform"}


def test_every_listener_is_on_loopback(service, shared_cluster):
    """Loopback layout: every listener on 127.x; namespace layout: nothing of the nodes listens on the host."""
    pids = {json.loads(p.read_text())["pid"] for p in service.data_dir.glob("clusters/*/*/node.json")}
    if json.loads((service.data_dir / "network.json").read_text())["mode"] == "namespaces":
        out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True).stdout
        assert not [line for line in out.splitlines() if any(f"pid={pid}," in line for pid in pids)]
        return
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True).stdout
    mine = [line for line in out.splitlines() if any(f"pid={pid}," in line for pid in pids)]
    assert mine, out
    for line in mine:
        local = line.split()[3]
        address = local.rsplit(":", 1)[0].replace("[::ffff:", "").rstrip("]")
        assert address.startswith("127."), line


def test_secrets_are_private_files(service, shared_cluster):
    secret_files = [service.data_dir / "credentials.json", service.data_dir / "pki" / "ca.key",
                    *service.data_dir.glob("clusters/*/*/tls/keystore.pem")]
    assert len(secret_files) >= 8
    for path in secret_files:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    log = service.log_path.read_text()
    assert service.credentials["secret_access_key"] not in log
    assert "PRIVATE KEY" not in log
