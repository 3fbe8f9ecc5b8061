"""From a cluster document to the process objects that realise it (Kafka knowledge lives here and in
runtime/*_config.py, never in a placement driver).

Listeners follow MSK's port plan (anchors.md §1.1): 9092 plaintext, 9094 TLS, 9096 SASL/SCRAM over TLS.
`EncryptionInTransit.ClientBroker` decides which client listeners exist; `InCluster` puts
inter-broker traffic on a TLS listener.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..runtime import addressing
from ..runtime.kafka_config import BrokerConfig, Listener, parse_properties
from ..runtime.nodes import BrokerProcess, ZooKeeperNode
from ..runtime.zookeeper_config import ZooKeeperConfig

PLAINTEXT_PORT, TLS_PORT, SCRAM_PORT, IAM_PORT = 9092, 9094, 9096, 9098
ZK_PORT, ZK_TLS_PORT = 2181, 2182


def encryption_in_transit(cluster: dict) -> dict:
    enc = (cluster["Spec"].get("EncryptionInfo") or {}).get("EncryptionInTransit") or {}
    return {"ClientBroker": enc.get("ClientBroker", "TLS"), "InCluster": enc.get("InCluster", True)}


def client_listeners(cluster: dict) -> list[Listener]:
    """The listeners clients use, by MSK's rules."""
    enc = encryption_in_transit(cluster)
    auth = cluster["Spec"].get("ClientAuthentication") or {}
    scram = ((auth.get("Sasl") or {}).get("Scram") or {}).get("Enabled", False)
    listeners = []
    if enc["ClientBroker"] in ("PLAINTEXT", "TLS_PLAINTEXT"):
        listeners.append(Listener("PLAINTEXT", "PLAINTEXT", PLAINTEXT_PORT))
    if enc["ClientBroker"] in ("TLS", "TLS_PLAINTEXT"):
        listeners.append(Listener("TLS", "SSL", TLS_PORT))
        if scram:
            listeners.append(Listener("CLIENT_SASL_SCRAM", "SASL_SSL", SCRAM_PORT))
    return listeners


def broker_listeners(cluster: dict) -> tuple[list[Listener], str]:
    """All listeners of a broker and the name of the inter-broker one.

    Inter-broker traffic gets a listener of its own on a port clients do not use (9093, as
    `REPLICATION` / `REPLICATION_SECURE` on MSK), so client-facing changes never disturb replication."""
    enc = encryption_in_transit(cluster)
    listeners = client_listeners(cluster)
    if enc["InCluster"]:
        listeners.append(Listener("REPLICATION_SECURE", "SSL", 9093))
        return listeners, "REPLICATION_SECURE"
    listeners.append(Listener("REPLICATION", "PLAINTEXT", 9093))
    return listeners, "REPLICATION"


def needs_tls(cluster: dict) -> bool:
    listeners, _ = broker_listeners(cluster)
    return any(l.protocol in ("SSL", "SASL_SSL") for l in listeners)


@dataclass
class ClusterLayout:
    cluster: dict
    cluster_dir: Path

    @property
    def zone_count(self) -> int:
        return len(self.cluster["Spec"]["BrokerNodeGroupInfo"]["ClientSubnets"])

    def zookeeper_ensemble(self) -> dict[int, str]:
        return {z["ZookeeperId"]: z["Address"] for z in self.cluster["ZooKeeperNodes"]}

    def zookeeper_connect(self) -> str:
        return ",".join(f"{a}:{ZK_PORT}" for _, a in sorted(self.zookeeper_ensemble().items()))

    def zookeeper_nodes(self) -> list[ZooKeeperNode]:
        ensemble = self.zookeeper_ensemble()
        return [ZooKeeperNode(self.cluster_dir, ZooKeeperConfig(node_id, address, "", ensemble, ZK_PORT))
                for node_id, address in sorted(ensemble.items())]

    def user_properties(self) -> dict[str, str]:
        text = self.cluster.get("ServerProperties") or ""
        return parse_properties(text) if text else {}

    def brokers(self) -> list[BrokerProcess]:
        listeners, inter = broker_listeners(self.cluster)
        brokers = []
        for b in self.cluster["Brokers"]:
            config = BrokerConfig(
                broker_id=b["BrokerId"], rack=b["ZoneId"], host=b["Address"], listeners=listeners,
                inter_broker_listener=inter, log_dir="", zookeeper_connect=self.zookeeper_connect(),
                zone_count=self.zone_count, broker_count=len(self.cluster["Brokers"]),
                user_properties=self.user_properties())
            probe = next((l for l in listeners if l.protocol == "PLAINTEXT"), None)
            brokers.append(BrokerProcess(self.cluster_dir, config, probe_port=probe.port if probe else 0))
        return brokers


def place_nodes(cluster: dict, subnets_by_id: dict[str, dict], slot: int) -> None:
    """Spread brokers evenly over the client subnets (round robin, as MSK's DEFAULT distribution) and put
    the three ZooKeeper nodes in the first three zones (cycling when there are only two)."""
    subnets = cluster["Spec"]["BrokerNodeGroupInfo"]["ClientSubnets"]
    count = cluster["Spec"]["NumberOfBrokerNodes"]
    brokers = []
    for i in range(count):
        subnet = subnets_by_id[subnets[i % len(subnets)]]
        broker_id = i + 1
        brokers.append({"BrokerId": broker_id, "SubnetId": subnet["SubnetId"], "ZoneId": subnet["AvailabilityZoneId"],
                        "Address": addressing.node_address(subnet["CidrBlock"], slot, broker_id)})
    zk_nodes = []
    for m in range(1, 4):
        subnet = subnets_by_id[subnets[(m - 1) % len(subnets)]]
        zk_nodes.append({"ZookeeperId": m, "SubnetId": subnet["SubnetId"], "ZoneId": subnet["AvailabilityZoneId"],
                         "Address": addressing.node_address(subnet["CidrBlock"], slot, 100 + m)})
    cluster["Brokers"], cluster["ZooKeeperNodes"] = brokers, zk_nodes
