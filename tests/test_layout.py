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
