"""MSK's listener/port rules as pure functions (fast; the cluster tests show them on real brokers)."""
from __future__ import annotations

import base64

import pytest

from openmsk.control.layout import broker_listeners, client_listeners, kraft_cluster_id, zookeeper_client_port


def cluster(client_broker="TLS", in_cluster=True, auth=None) -> dict:
    return {"Spec": {"EncryptionInfo": {"EncryptionInTransit": {"ClientBroker": client_broker, "InCluster": in_cluster}},
                     "ClientAuthentication": auth or {}}}


@pytest.mark.parametrize("client_broker, auth, ports", [
    ("TLS", None, {9094}),
    ("TLS_PLAINTEXT", None, {9092, 9094}),
    ("PLAINTEXT", None, {9092}),
    ("TLS", {"Sasl": {"Scram": {"Enabled": True}}}, {9096}),                       # SCRAM only: no anonymous TLS
    ("TLS", {"Sasl": {"Scram": {"Enabled": True}}, "Unauthenticated": {"Enabled": True}}, {9094, 9096}),
    ("TLS", {"Tls": {"CertificateAuthorityArnList": ["arn:ca"]}}, {9094}),          # mTLS on 9094
    ("TLS", {"Tls": {"CertificateAuthorityArnList": ["arn:ca"]}, "Sasl": {"Scram": {"Enabled": True}}}, {9094, 9096}),
    ("TLS", {"Sasl": {"Iam": {"Enabled": True}}}, {9098}),                            # IAM only
    ("TLS_PLAINTEXT", {"Sasl": {"Iam": {"Enabled": True}, "Scram": {"Enabled": True}},
                       "Unauthenticated": {"Enabled": True}}, {9092, 9094, 9096, 9098}),
])
def test_client_listeners_follow_msk(client_broker, auth, ports):
    assert {l.port for l in client_listeners(cluster(client_broker, True, auth))} == ports


def test_inter_broker_listener_follows_in_cluster_encryption():
    listeners, inter = broker_listeners(cluster("TLS", True))
    assert inter == "REPLICATION_SECURE" and {(l.name, l.protocol) for l in listeners if l.port == 9093} == {
        ("REPLICATION_SECURE", "SSL")}
    listeners, inter = broker_listeners(cluster("PLAINTEXT", False))
    assert inter == "REPLICATION" and not any(l.protocol == "SSL" for l in listeners)


def test_zookeeper_port_follows_in_cluster_encryption():
    assert zookeeper_client_port(cluster("TLS", True)) == 2182
    assert zookeeper_client_port(cluster("PLAINTEXT", False)) == 2181


def test_iam_listeners_private_and_public_are_decided_by_the_iam_authorizer(tmp_path):
    from openmsk.control.layout import broker_security_properties
    from openmsk.control.public_access import public_listener_properties, public_listeners
    doc = cluster("TLS", True, {"Sasl": {"Iam": {"Enabled": True}}})
    doc["Spec"]["KafkaVersion"] = "3.9.x"
    doc.update(ClusterArn="arn:aws:kafka:us-east-1:123456789012:cluster/c/u-1", Slot=7)
    doc["Spec"]["BrokerNodeGroupInfo"] = {"ConnectivityInfo": {"PublicAccess": {"Type": "SERVICE_PROVIDED_EIPS"}}}
    props = broker_security_properties(doc, tmp_path, ["CN=b-1"], endpoint_file="/data/endpoint.json")
    assert props["authorizer.class.name"] == "dev.openmsk.iam.IamAuthorizer"
    assert props["openmsk.iam.delegate"] == "kafka.security.authorizer.AclAuthorizer"
    assert props["listener.name.client_iam.sasl.enabled.mechanisms"] == "AWS_MSK_IAM,OAUTHBEARER"
    assert 'clusterArn="arn:aws:kafka:us-east-1:123456789012:cluster/c/u-1"' in \
        props["listener.name.client_iam.aws_msk_iam.sasl.jaas.config"]
    public = public_listeners(doc, client_listeners(doc), 1)
    assert [(l.name, l.port) for l in public] == [("CLIENT_IAM_PUBLIC", 9198)]
    twin = public_listener_properties(props, public, tmp_path)
    assert twin["openmsk.iam.listeners"] == "CLIENT_IAM,CLIENT_IAM_PUBLIC"
    assert twin["listener.name.client_iam_public.oauthbearer.sasl.server.callback.handler.class"] == \
        "dev.openmsk.iam.IamOAuthBearerValidator"


def test_multi_vpc_twins_per_layout_and_bootstrap_strings(tmp_path):
    """VpcConnectivity on for SASL/IAM and TLS: twins of exactly those listeners. Loopback layout: bound on
    127.(251+t).<slot>.<id>:14000+id; namespace layout: bound on the node's VPC address (a port per type),
    advertised as 100.(64+t).<slot>.<id>:14000+id (the endpoints' addresses, control/vpc_endpoints.py)."""
    from openmsk.control.layout import broker_security_properties
    from openmsk.control.multi_vpc import multi_vpc_bootstrap, multi_vpc_listener_properties, multi_vpc_listeners
    from openmsk.runtime.kafka_config import BrokerConfig
    doc = cluster("TLS", True, {"Sasl": {"Iam": {"Enabled": True}, "Scram": {"Enabled": True}},
                                "Tls": {"CertificateAuthorityArnList": ["arn:ca"]}})
    doc["Spec"]["KafkaVersion"] = "3.9.x"
    doc.update(ClusterArn="arn:aws:kafka:us-east-1:123456789012:cluster/c/u-1", Slot=7, State="ACTIVE")
    doc["Spec"]["BrokerNodeGroupInfo"] = {"ConnectivityInfo": {"VpcConnectivity": {"ClientAuthentication": {
        "Sasl": {"Iam": {"Enabled": True}, "Scram": {"Enabled": False}}, "Tls": {"Enabled": True}}}}}
    loop = multi_vpc_listeners(doc, client_listeners(doc), 2, "127.11.7.2")
    assert [(l.name, l.host, l.port, l.bind) for l in loop] == [
        ("CLIENT_SECURE_VPCE", "127.251.7.2", 14002, None), ("CLIENT_IAM_VPCE", "127.253.7.2", 14002, None)]
    wired = multi_vpc_listeners(doc, client_listeners(doc), 2, "172.31.16.11")
    assert [(l.name, l.host, l.port, l.bind, l.advertised_port) for l in wired] == [
        ("CLIENT_SECURE_VPCE", "100.64.7.2", 14094, "172.31.16.11", 14002),
        ("CLIENT_IAM_VPCE", "100.66.7.2", 14098, "172.31.16.11", 14002)]
    props = BrokerConfig(2, "use1-az2", "172.31.16.11", wired, "REPLICATION_SECURE", "", "", 2, 2).properties()
    assert "CLIENT_IAM_VPCE://172.31.16.11:14098" in props["listeners"]
    assert "CLIENT_IAM_VPCE://100.66.7.2:14002" in props["advertised.listeners"]
    private = broker_security_properties(doc, tmp_path, ["CN=b-1"], endpoint_file="/data/endpoint.json")
    twins = multi_vpc_listener_properties(private, wired, tmp_path)
    assert twins["openmsk.iam.listeners"] == "CLIENT_IAM,CLIENT_IAM_VPCE"
    assert twins["listener.name.client_secure_vpce.ssl.client.auth"] == "required"      # mTLS, as on 9094
    doc["Brokers"] = [{"BrokerId": 1, "Address": "127.11.7.1"}, {"BrokerId": 2, "Address": "127.12.7.2"}]
    assert multi_vpc_bootstrap(doc) == {
        "BootstrapBrokerStringVpcConnectivityTls": "127.251.7.1:14001,127.251.7.2:14002",
        "BootstrapBrokerStringVpcConnectivitySaslIam": "127.253.7.1:14001,127.253.7.2:14002"}


def test_kraft_cluster_ids_never_start_with_a_dash():
    """kafka-storage reads `format -t -Xy...` as an option: 1 KRaft cluster in 64 used to fail to start."""
    ids = {kraft_cluster_id() for _ in range(20_000)}
    assert len(ids) == 20_000
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 and len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)


def test_kraft_iam_authorizer_per_kafka_release_and_on_controllers(tmp_path):
    """KRaft brokers from Kafka 4.1 on run the Monitorable IAM authorizer, from the plugin's build against
    Kafka 4.1 (Kafka 4.1's StandardAuthorizer needs the plugin metrics only a Monitorable wrapper receives);
    earlier releases the 3.9 build. Controllers decide forwarded requests of IAM principals by IAM policy."""
    from openmsk.control.layout import broker_security_properties
    from openmsk.runtime.distribution import KafkaDistribution, msk_iam_plugin_dir, msk_iam_plugin_jar_dir
    from openmsk.runtime.msk_iam_config import controller_iam_properties
    doc = cluster("TLS", True, {"Sasl": {"Iam": {"Enabled": True}}})
    doc.update(ClusterArn="arn:aws:kafka:us-east-1:123456789012:cluster/c/u-1", Slot=7)
    expected = {"3.9.x.kraft": "dev.openmsk.iam.IamKRaftAuthorizer", "4.0.x.kraft": "dev.openmsk.iam.IamKRaftAuthorizer",
                "4.1.x.kraft": "dev.openmsk.iam.MonitorableIamKRaftAuthorizer"}
    for version, authorizer in expected.items():
        doc["Spec"]["KafkaVersion"] = version
        props = broker_security_properties(doc, tmp_path, ["CN=b-1"], endpoint_file="/data/endpoint.json")
        assert props["authorizer.class.name"] == authorizer
        assert props["openmsk.iam.delegate"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert msk_iam_plugin_jar_dir("4.1.2") == msk_iam_plugin_dir() / "kafka-4.1"
    assert msk_iam_plugin_jar_dir("4.0.2") == msk_iam_plugin_jar_dir("3.9.1") == msk_iam_plugin_dir()
    assert str(msk_iam_plugin_dir() / "kafka-4.1" / "*") in KafkaDistribution("4.1.2", tmp_path).classpath.split(":")
    assert str(msk_iam_plugin_dir() / "*") in KafkaDistribution("3.9.1", tmp_path).classpath.split(":")
    controller = controller_iam_properties("/data/endpoint.json", "/c/iam/channel.token", doc["ClusterArn"], "4.1.2")
    assert controller["authorizer.class.name"] == "dev.openmsk.iam.MonitorableIamKRaftAuthorizer"
    assert controller["openmsk.iam.forwarded.principals"] == "true" and controller["openmsk.iam.listeners"] == ""
