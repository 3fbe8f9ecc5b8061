"""MSK's listener/port rules as pure functions (fast; the cluster tests show them on real brokers)."""
from __future__ import annotations

import pytest

from openmsk.control.layout import broker_listeners, client_listeners, zookeeper_client_port


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
