"""From a cluster document to the process objects that realise it (Kafka knowledge lives here and in
runtime/*_config.py, never in a placement driver).

Listeners follow MSK's port plan (anchors.md §1.1): 9092 plaintext, 9094 TLS, 9096 SASL/SCRAM over TLS,
9098 SASL/IAM over TLS.
`EncryptionInTransit.ClientBroker` decides which client listeners exist; `InCluster` puts
inter-broker traffic on a TLS listener.
"""
from __future__ import annotations

import base64
import ipaddress
import logging
import os
import uuid

from dataclasses import dataclass
from pathlib import Path

from ..runtime import addressing
from ..runtime import kraft
from ..runtime.instance_types import instance_type
from ..runtime.kafka_config import BrokerConfig, Listener, is_dynamic_key, parse_properties
from ..runtime.msk_iam_config import iam_properties
from ..runtime.nodes import BrokerProcess, ZooKeeperNode
from ..runtime.versions import is_kraft, jar_version
from ..runtime.zookeeper_config import ZooKeeperConfig
from .multi_vpc import multi_vpc_listeners
from .public_access import public_listeners

log = logging.getLogger(__name__)

KEYSTORE = "tls/keystore.pem"     # per node, 0600: PKCS#8 key + certificate chain (Kafka/ZooKeeper PEM keystore)

PLAINTEXT_PORT, TLS_PORT, SCRAM_PORT, IAM_PORT = 9092, 9094, 9096, 9098
ZK_PORT, ZK_TLS_PORT = 2181, 2182


def client_auth(cluster: dict) -> dict:
    """MSK's ClientAuthentication rule, the one place it is written (validation, the brokers' settings and
    DescribeCluster all read it here): {"scram", "iam", "tls", "tls_requested": bool, "cas": [arn],
    "unauthenticated": bool}. Tls.Enabled defaults to "CAs were given"; `tls` is mTLS actually on (asked
    for and with CAs to trust); with no way to authenticate, unauthenticated access is on."""
    auth = cluster["Spec"].get("ClientAuthentication") or {}
    sasl = auth.get("Sasl") or {}
    tls = auth.get("Tls") or {}
    scram = bool((sasl.get("Scram") or {}).get("Enabled"))
    iam = bool((sasl.get("Iam") or {}).get("Enabled"))
    cas = list(tls.get("CertificateAuthorityArnList") or [])
    tls_requested = bool(tls.get("Enabled", bool(cas)))
    tls_on = tls_requested and bool(cas)
    unauth = auth.get("Unauthenticated")
    unauthenticated = bool(unauth["Enabled"]) if unauth and "Enabled" in unauth else not (scram or iam or tls_on)
    return {"scram": scram, "iam": iam, "tls": tls_on, "tls_requested": tls_requested, "cas": cas,
            "unauthenticated": unauthenticated}


CLIENT_CAS = "tls/client-cas.pem"   # per broker: the ACM PCA certificates that sign client certificates


IAM_LISTENERS = ("CLIENT_IAM",)   # 9098 (MSK's IAM listener); ops-change may add the public 9198 one


def broker_security_properties(cluster: dict, broker_dir: Path, principals: list[str],
                               endpoint_file: str = "") -> dict[str, str]:
    """Client authentication on the client listeners, and an authorizer as soon as clients have identities.
    With IAM, MSK's IAM authorizer decides on the IAM listeners and delegates the others to the ACL
    authorizer (`endpoint_file`: where the brokers find the control plane, runtime/msk_iam_config.py)."""
    auth = client_auth(cluster)
    props: dict[str, str] = {}
    if auth["scram"]:
        props["listener.name.client_sasl_scram.sasl.enabled.mechanisms"] = "SCRAM-SHA-512"
        props["listener.name.client_sasl_scram.scram-sha-512.sasl.jaas.config"] = \
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    if auth["tls"]:
        props["listener.name.tls.ssl.client.auth"] = "requested" if auth["unauthenticated"] else "required"
        props["listener.name.tls.ssl.truststore.type"] = "PEM"
        props["listener.name.tls.ssl.truststore.location"] = str(broker_dir / CLIENT_CAS)
    if auth["scram"] or auth["tls"] or auth["iam"]:
        # KRaft keeps ACLs in the metadata log: StandardAuthorizer (brokers and controllers).
        props["authorizer.class.name"] = ("org.apache.kafka.metadata.authorizer.StandardAuthorizer"
                                          if is_kraft(cluster["Spec"]["KafkaVersion"])
                                          else "kafka.security.authorizer.AclAuthorizer")
        props["super.users"] = ";".join(f"User:{p}" for p in principals)
    iam_listeners = [l.name for l in client_listeners(cluster) if l.name in IAM_LISTENERS]
    if iam_listeners:
        from .iam_channel import BROKER_TOKEN_FILE
        props.update(iam_properties(iam_listeners, endpoint_file, str(broker_dir / BROKER_TOKEN_FILE),
                                    cluster["ClusterArn"], kraft=is_kraft(cluster["Spec"]["KafkaVersion"]),
                                    kafka_version=jar_version(cluster["Spec"]["KafkaVersion"]) or "3.9.1"))
    return props


#: MSK Serverless's topic rules (plugins/msk-iam ServerlessTopicPolicy): KRaft controllers apply topic policies.
SERVERLESS_TOPIC_POLICY = "dev.openmsk.iam.ServerlessTopicPolicy"


#: MSK Serverless's quotas (MSK developer guide, "MSK Serverless quota"), per cluster / per partition.
SERVERLESS_MAX_CONNECTIONS = 3000                   # client connections per cluster
SERVERLESS_MAX_CONNECTION_RATE = 100                # connection attempts per second per cluster
SERVERLESS_PARTITION_INGRESS = 5 * 1024 * 1024      # bytes/s written to one partition
SERVERLESS_PARTITION_EGRESS = 10 * 1024 * 1024      # bytes/s read from one partition
SERVERLESS_CLUSTER_INGRESS = 200 * 1024 * 1024     # bytes/s written to the cluster
SERVERLESS_CLUSTER_EGRESS = 400 * 1024 * 1024      # bytes/s read from the cluster
SERVERLESS_QUOTA_CALLBACK = "dev.openmsk.iam.ServerlessQuotaCallback"
SERVERLESS_CONSUMER_GROUPS = 500                   # consumer groups per cluster (plugins/msk-iam ServerlessGroupLimit)
SERVERLESS_FETCH_MAX_BYTES = 55 * 1024 * 1024      # bytes one Fetch response may carry (Kafka's default, set explicitly)
SERVERLESS_REQUEST_MAX_BYTES = 100 * 1024 * 1024   # bytes of one request (Kafka's default, set explicitly)
SERVERLESS_RETENTION_BYTES = 250 * 1024 ** 3       # MSK Serverless's default retention.bytes of a topic (Kafka's: -1)
SERVERLESS_PARTITION_MUTATIONS = 250                # partitions created or deleted ...
SERVERLESS_PARTITION_MUTATIONS_SECONDS = 300        # ... per 5 minutes
#: Kafka's client quotas, the default for every (user, client id) pair (control/serverless_quotas.py). Byte
#: rates: each broker enforces them on what the client sends it / fetches from it (MSK Serverless's per-partition
#: figures). `controller_mutation_rate` (KIP-599): partitions created/deleted per second, enforced by the active
#: KRaft controller on CreateTopics, CreatePartitions and DeleteTopics as a token bucket whose size is
#: rate x controller.quota.window.num x controller.quota.window.size.seconds = 250 (SERVERLESS_CONTROLLER_QUOTA_WINDOW).
SERVERLESS_CLIENT_QUOTAS = {"producer_byte_rate": SERVERLESS_PARTITION_INGRESS,
                            "consumer_byte_rate": SERVERLESS_PARTITION_EGRESS,
                            "controller_mutation_rate": SERVERLESS_PARTITION_MUTATIONS
                            / SERVERLESS_PARTITION_MUTATIONS_SECONDS}
#: 10 windows of 30 s: the token bucket holds 5 minutes' worth of the rate (250 partitions).
SERVERLESS_CONTROLLER_QUOTA_WINDOW = {"controller.quota.window.num": "10",
                                      "controller.quota.window.size.seconds": str(
                                          SERVERLESS_PARTITION_MUTATIONS_SECONDS // 10)}


def replication_bootstrap(cluster: dict) -> str:
    """The brokers' replication listeners (9093), where the plugins reach the brokers as a node of the cluster."""
    return ",".join(f"{b['Address']}:9093" for b in cluster["Brokers"])


def serverless_controller_properties(cluster: dict) -> dict[str, str]:
    """A serverless cluster's controllers refuse what MSK Serverless refuses on topics (services/kafka/serverless.py).
    ServerlessTopicPolicy counts the cluster's partitions (its 2400 / 120 compacted quota) by asking the brokers'
    replication listener (9093) as the controller itself (its certificate, a super user on the brokers)."""
    if cluster.get("ClusterType") != "SERVERLESS":
        return {}
    return {**SERVERLESS_CONTROLLER_QUOTA_WINDOW,
            "create.topic.policy.class.name": SERVERLESS_TOPIC_POLICY,
            "alter.config.policy.class.name": SERVERLESS_TOPIC_POLICY,
            "openmsk.serverless.bootstrap.servers": replication_bootstrap(cluster)}


def serverless_cluster_throughput() -> tuple[int, int]:
    """MSK Serverless's cluster-wide (ingress, egress) in bytes/s: 200 and 400 MiB/s, or
    `OPENMSK_SERVERLESS_CLUSTER_THROUGHPUT=<ingress>,<egress>` (bytes/s; a small host cannot reach MSK's figures,
    so tests set lower ones). Read when a broker's configuration is rendered: a change rolls the brokers."""
    raw = os.environ.get("OPENMSK_SERVERLESS_CLUSTER_THROUGHPUT", "")
    try:
        ingress, egress = (int(v) for v in raw.split(","))
        if ingress > 0 and egress > 0:
            return ingress, egress
    except ValueError:
        if raw:
            log.warning("OPENMSK_SERVERLESS_CLUSTER_THROUGHPUT=%r is not <ingress>,<egress> in bytes/s; using "
                        "MSK Serverless's", raw)
    return SERVERLESS_CLUSTER_INGRESS, SERVERLESS_CLUSTER_EGRESS


def serverless_consumer_groups() -> int:
    """MSK Serverless's consumer groups per cluster: 500, or `OPENMSK_SERVERLESS_CONSUMER_GROUPS=<n>` (tests set a
    small figure so as not to create 500 groups). Read when a broker's configuration is rendered."""
    raw = os.environ.get("OPENMSK_SERVERLESS_CONSUMER_GROUPS", "")
    if raw.strip().isdigit() and int(raw) > 0:
        return int(raw)
    if raw:
        log.warning("OPENMSK_SERVERLESS_CONSUMER_GROUPS=%r is not a positive number; using MSK Serverless's", raw)
    return SERVERLESS_CONSUMER_GROUPS


def serverless_broker_properties(cluster: dict) -> dict[str, str]:
    """MSK Serverless's quotas on a serverless cluster's brokers:
    * connections: Kafka's broker-wide connection limits (KIP-402, KIP-612; Kafka exempts the inter-broker
      listener from both), the cluster's figures shared evenly by its brokers;
    * throughput: the per-client quotas of the cluster's metadata (control/serverless_quotas.py) under a
      cluster-wide total, both applied by plugins/msk-iam's ServerlessQuotaCallback (Kafka's
      client.quota.callback.class), each broker taking its share of the total;
    * consumer groups: the brokers' IAM authorizer refuses a new group while the cluster has the maximum
      (plugins/msk-iam ServerlessGroupLimit, which lists the cluster's groups on the replication listener);
    * request and fetch sizes: Kafka's `socket.request.max.bytes` (a larger request closes the connection) and
      `fetch.max.bytes` (a Fetch response carries at most that much), MSK Serverless's 100 MB and 55 MB;
    * topics' default retention.bytes: MSK Serverless's 250 GiB, as the brokers' `log.retention.bytes`."""
    if cluster.get("ClusterType") != "SERVERLESS":
        return {}
    brokers = max(1, int(cluster["Spec"]["NumberOfBrokerNodes"]))
    ingress, egress = serverless_cluster_throughput()
    return {"max.connections": str(SERVERLESS_MAX_CONNECTIONS // brokers),
            "max.connection.creation.rate": str(SERVERLESS_MAX_CONNECTION_RATE // brokers),
            "client.quota.callback.class": SERVERLESS_QUOTA_CALLBACK,
            "openmsk.serverless.brokers": str(brokers),
            "openmsk.serverless.cluster.ingress.bytes.per.second": str(ingress),
            "openmsk.serverless.cluster.egress.bytes.per.second": str(egress),
            "openmsk.serverless.max.consumer.groups": str(serverless_consumer_groups()),
            "openmsk.serverless.bootstrap.servers": replication_bootstrap(cluster),
            "socket.request.max.bytes": str(SERVERLESS_REQUEST_MAX_BYTES),
            "fetch.max.bytes": str(SERVERLESS_FETCH_MAX_BYTES),
            "log.retention.bytes": str(SERVERLESS_RETENTION_BYTES)}


def encryption_in_transit(cluster: dict) -> dict:
    enc = (cluster["Spec"].get("EncryptionInfo") or {}).get("EncryptionInTransit") or {}
    return {"ClientBroker": enc.get("ClientBroker", "TLS"), "InCluster": enc.get("InCluster", True)}


def client_listeners(cluster: dict) -> list[Listener]:
    """The listeners clients use, by MSK's rules."""
    enc = encryption_in_transit(cluster)
    scram = client_auth(cluster)["scram"]
    listeners = []
    if enc["ClientBroker"] in ("PLAINTEXT", "TLS_PLAINTEXT"):
        listeners.append(Listener("PLAINTEXT", "PLAINTEXT", PLAINTEXT_PORT))
    if enc["ClientBroker"] in ("TLS", "TLS_PLAINTEXT"):
        auth = client_auth(cluster)
        # 9094 serves unauthenticated TLS clients and/or mTLS clients; with neither allowed it must not exist.
        if auth["unauthenticated"] or auth["tls"]:
            listeners.append(Listener("TLS", "SSL", TLS_PORT))
        if scram:
            listeners.append(Listener("CLIENT_SASL_SCRAM", "SASL_SSL", SCRAM_PORT))
        if auth["iam"]:
            listeners.append(Listener("CLIENT_IAM", "SASL_SSL", IAM_PORT))
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


def zookeeper_tls_only(cluster: dict) -> bool:
    """In-cluster encryption puts ZooKeeper behind TLS: 2182 is ZooKeeper's `clientPort` with port
    unification (plain four-letter words such as `ruok` still answer, so the runbook's `nc` check
    works), every ZooKeeper *session* must authenticate with an installation-CA client certificate
    (`enforce.auth.schemes=x509`), and there is no plaintext 2181: Kafka's metadata never crosses an
    unencrypted connection. Without in-cluster encryption: 2181 plaintext (also accepting TLS) and
    2182 TLS-only, as MSK offers both."""
    return encryption_in_transit(cluster)["InCluster"]


def zookeeper_client_port(cluster: dict) -> int:
    return ZK_TLS_PORT if zookeeper_tls_only(cluster) else ZK_PORT


def zookeeper_tls_properties(cluster: dict, host: str, keystore: str, truststore: str) -> dict[str, str]:
    props = {
        "serverCnxnFactory": "org.apache.zookeeper.server.NettyServerCnxnFactory",
        "client.portUnification": "true",
        "ssl.keyStore.location": keystore, "ssl.keyStore.type": "PEM",
        "ssl.trustStore.location": truststore, "ssl.trustStore.type": "PEM",
        "ssl.clientAuth": "need",
        "authProvider.x509": "org.apache.zookeeper.server.auth.X509AuthenticationProvider",
    }
    if zookeeper_tls_only(cluster):
        props.update({
            "enforce.auth.enabled": "true", "enforce.auth.schemes": "x509",
            "sslQuorum": "true",
            "ssl.quorum.keyStore.location": keystore, "ssl.quorum.keyStore.type": "PEM",
            "ssl.quorum.trustStore.location": truststore, "ssl.quorum.trustStore.type": "PEM",
        })
    else:
        props.update({"secureClientPortAddress": host, "secureClientPort": str(ZK_TLS_PORT)})
    return props


def broker_zookeeper_tls_properties(keystore: str, truststore: str) -> dict[str, str]:
    return {
        "zookeeper.ssl.client.enable": "true",
        "zookeeper.clientCnxnSocket": "org.apache.zookeeper.ClientCnxnSocketNetty",
        "zookeeper.ssl.keystore.location": keystore, "zookeeper.ssl.keystore.type": "PEM",
        "zookeeper.ssl.truststore.location": truststore, "zookeeper.ssl.truststore.type": "PEM",
        "zookeeper.ssl.endpoint.identification.algorithm": "HTTPS",
    }


def needs_tls(cluster: dict) -> bool:
    listeners, _ = broker_listeners(cluster)
    return any(l.protocol in ("SSL", "SASL_SSL") for l in listeners)


@dataclass
class ClusterLayout:
    cluster: dict
    cluster_dir: Path
    ca_path: Path | None = None

    @property
    def zone_count(self) -> int:
        return len(self.cluster["Spec"]["BrokerNodeGroupInfo"]["ClientSubnets"])

    @property
    def kraft(self) -> bool:
        return is_kraft(self.cluster["Spec"]["KafkaVersion"])

    def quorum_nodes(self) -> list:
        """The metadata quorum: KRaft controllers, or the ZooKeeper ensemble."""
        return self.controller_nodes() if self.kraft else self.zookeeper_nodes()

    def kraft_quorum(self) -> kraft.KRaftQuorum:
        return kraft.KRaftQuorum(self.cluster["KRaftClusterId"],
                                 tuple((c["NodeId"], c["Address"]) for c in self.cluster["Controllers"]))

    def controller_nodes(self) -> list[kraft.ControllerNode]:
        quorum = self.kraft_quorum()
        nodes = []
        for c in sorted(self.cluster.get("Controllers") or [], key=lambda c: c["NodeId"]):
            node = kraft.ControllerNode(self.cluster_dir, kraft.ControllerConfig(c["NodeId"], c["ZoneId"], c["Address"],
                                                                               quorum))
            if self.ca_path is not None:
                node.config.extra.update(kraft.tls_properties(str(node.workdir / KEYSTORE), str(self.ca_path)))
            nodes.append(node)
        return nodes

    def zookeeper_ensemble(self) -> dict[int, str]:
        return {z["ZookeeperId"]: z["Address"] for z in self.cluster["ZooKeeperNodes"]}

    def zookeeper_connect(self) -> str:
        port = zookeeper_client_port(self.cluster)
        return ",".join(f"{a}:{port}" for _, a in sorted(self.zookeeper_ensemble().items()))

    def zookeeper_nodes(self) -> list[ZooKeeperNode]:
        ensemble = self.zookeeper_ensemble()
        nodes = []
        for node_id, address in sorted(ensemble.items()):
            node = ZooKeeperNode(self.cluster_dir, ZooKeeperConfig(node_id, address, "", ensemble,
                                                                   zookeeper_client_port(self.cluster)))
            if self.ca_path is not None:
                node.config.extra = zookeeper_tls_properties(self.cluster, address, str(node.workdir / KEYSTORE),
                                                             str(self.ca_path))
            nodes.append(node)
        return nodes

    def user_properties(self) -> dict[str, str]:
        """The static keys of the cluster's configuration revision (server.properties; a change rolls)."""
        return {k: v for k, v in all_user_properties(self.cluster).items() if not is_dynamic_key(k)}

    def brokers(self) -> list[BrokerProcess]:
        listeners, inter = broker_listeners(self.cluster)
        machine = instance_type(self.cluster["Spec"]["BrokerNodeGroupInfo"]["InstanceType"])
        brokers = []
        for b in self.cluster["Brokers"]:
            public = public_listeners(self.cluster, client_listeners(self.cluster), b["BrokerId"], b["Address"])
            multi_vpc = multi_vpc_listeners(self.cluster, client_listeners(self.cluster), b["BrokerId"], b["Address"])
            config = BrokerConfig(
                broker_id=b["BrokerId"], rack=b["ZoneId"], host=b["Address"],
                listeners=[*listeners, *public, *multi_vpc],
                inter_broker_listener=inter, log_dir="", zookeeper_connect=self.zookeeper_connect(),
                zone_count=self.zone_count, broker_count=len(self.cluster["Brokers"]),
                user_properties=self.user_properties(), instance_defaults=machine.broker_properties())
            broker = BrokerProcess(self.cluster_dir, config, heap=tuple(machine.heap()))
            if self.kraft:
                config.zookeeper_connect = ""
                config.kraft_cluster_id = self.cluster["KRaftClusterId"]
                config.extra_managed.update(kraft.broker_properties(self.kraft_quorum(), b["BrokerId"]))
                if self.ca_path is not None:
                    config.extra_managed.update(kraft.tls_properties(str(broker.workdir / KEYSTORE), str(self.ca_path)))
            elif self.ca_path is not None and zookeeper_tls_only(self.cluster):
                config.extra_managed.update(broker_zookeeper_tls_properties(str(broker.workdir / KEYSTORE),
                                                                            str(self.ca_path)))
            brokers.append(broker)
        return brokers


def all_user_properties(cluster: dict) -> dict[str, str]:
    text = cluster.get("ServerProperties") or ""
    return parse_properties(text) if text else {}


def kraft_cluster_id() -> str:
    """A random cluster id in kafka-storage's random-uuid form (22 characters of URL-safe base64) that,
    like Kafka's Uuid.randomUuid(), never starts with "-": `kafka-storage format -t -Xy...` would read
    such an id as an option and refuse to format (1 cluster in 64 failed to start before)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def acls_enforced(cluster: dict) -> bool:
    """The cluster's configuration sets allow.everyone.if.no.acl.found=false (MSK's precondition for
    public access and multi-VPC connectivity with SASL/SCRAM or mTLS)."""
    value = all_user_properties(cluster).get("allow.everyone.if.no.acl.found", "true")
    return value.strip().lower() == "false"


def dynamic_user_properties(cluster: dict) -> dict[str, str]:
    """The keys of the configuration revision Kafka updates without a restart: applied cluster-wide
    through the admin API (control/broker_configs.py), never written to server.properties."""
    return {k: v for k, v in all_user_properties(cluster).items() if is_dynamic_key(k)}


def loopback_address(subnet: dict, slot: int, host: int) -> str:
    """The loopback layout's address of a node: inside its subnet when that is a loopback /16 or larger,
    else in its zone's loopback range (a VPC recorded, not wired: docs/networking.md)."""
    network = ipaddress.ip_network(subnet["CidrBlock"])
    if network.subnet_of(ipaddress.ip_network("127.0.0.0/8")) and network.prefixlen <= 16:
        return addressing.node_address(subnet["CidrBlock"], slot, host)
    zone_index = int(subnet["AvailabilityZoneId"].rsplit("az", 1)[-1])
    return str(ipaddress.ip_network(addressing.zone_cidr(zone_index)).network_address + slot * 256 + host)


def node_address(subnet: dict, slot: int, host: int, allocate=None) -> str:
    """A new node's address: from the subnet's own range when its VPC is wired (`allocate(subnet)`, the
    namespace layout: control/vpc_runtime.py), else the loopback layout's."""
    address = allocate(subnet) if allocate else None
    return address or loopback_address(subnet, slot, host)


def place_nodes(cluster: dict, subnets_by_id: dict[str, dict], slot: int, allocate=None) -> None:
    """Spread brokers evenly over the client subnets (round robin, as MSK's DEFAULT distribution) and put
    the three ZooKeeper nodes in the first three zones (cycling when there are only two)."""
    subnets = cluster["Spec"]["BrokerNodeGroupInfo"]["ClientSubnets"]
    count = cluster["Spec"]["NumberOfBrokerNodes"]
    brokers = []
    for i in range(count):
        subnet = subnets_by_id[subnets[i % len(subnets)]]
        broker_id = i + 1
        brokers.append({"BrokerId": broker_id, "SubnetId": subnet["SubnetId"], "ZoneId": subnet["AvailabilityZoneId"],
                        "Address": node_address(subnet, slot, broker_id, allocate)})
    zk_nodes = []
    if is_kraft(cluster["Spec"]["KafkaVersion"]):
        # KRaft: three controllers, one per zone (cycling over two), where ZooKeeper would be; a cluster id
        # in kafka-storage's random-uuid form (22 characters of URL-safe base64).
        cluster["Controllers"] = [
            {"NodeId": kraft.CONTROLLER_ID_BASE + m, "SubnetId": subnets_by_id[subnets[(m - 1) % len(subnets)]]["SubnetId"],
             "ZoneId": subnets_by_id[subnets[(m - 1) % len(subnets)]]["AvailabilityZoneId"],
             "Address": node_address(subnets_by_id[subnets[(m - 1) % len(subnets)]], slot, 100 + m, allocate)}
            for m in range(1, 4)]
        cluster["KRaftClusterId"] = kraft_cluster_id()
        cluster["Brokers"], cluster["ZooKeeperNodes"] = brokers, []
        return
    for m in range(1, 4):
        subnet = subnets_by_id[subnets[(m - 1) % len(subnets)]]
        zk_nodes.append({"ZookeeperId": m, "SubnetId": subnet["SubnetId"], "ZoneId": subnet["AvailabilityZoneId"],
                         "Address": node_address(subnet, slot, 100 + m, allocate)})
    cluster["Brokers"], cluster["ZooKeeperNodes"] = brokers, zk_nodes
