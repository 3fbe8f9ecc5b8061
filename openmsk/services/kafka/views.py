"""Stored cluster documents -> the response shapes of the kafka API (boto3 form)."""
from __future__ import annotations

from ...control import model
from ...control.multi_vpc import multi_vpc_bootstrap
from ...control.public_access import public_bootstrap
from ...control.layout import (IAM_PORT, PLAINTEXT_PORT, SCRAM_PORT, TLS_PORT, ZK_PORT, ZK_TLS_PORT, client_auth,
                               client_listeners, zookeeper_tls_only)

_NOT_YET_CONNECTABLE = (model.CREATING,)


def _ts(value: str | None):
    return model.parse_iso(value) if value else None


def broker_node_group_info(cluster: dict) -> dict:
    spec = cluster["Spec"]["BrokerNodeGroupInfo"]
    info = {
        "BrokerAZDistribution": spec.get("BrokerAZDistribution", "DEFAULT"),
        "ClientSubnets": list(spec["ClientSubnets"]),
        "InstanceType": spec["InstanceType"],
        "SecurityGroups": list(spec.get("SecurityGroups") or cluster.get("DefaultSecurityGroups") or []),
        "StorageInfo": {"EbsStorageInfo": {"VolumeSize": cluster["VolumeSize"], **(
            {"ProvisionedThroughput": cluster["ProvisionedThroughput"]} if cluster.get("ProvisionedThroughput") else {})}},
        "ConnectivityInfo": {"PublicAccess": {"Type": "DISABLED"}, **(spec.get("ConnectivityInfo") or {})},
        "ZoneIds": sorted({b["ZoneId"] for b in cluster["Brokers"]}),
    }
    return info


def client_authentication(cluster: dict) -> dict:
    auth = client_auth(cluster)
    return {"Sasl": {"Scram": {"Enabled": auth["scram"]}, "Iam": {"Enabled": auth["iam"]}},
            "Tls": {"CertificateAuthorityArnList": auth["cas"], "Enabled": auth["tls"]},
            "Unauthenticated": {"Enabled": auth["unauthenticated"]}}


def encryption_info(cluster: dict) -> dict:
    enc = cluster["Spec"].get("EncryptionInfo") or {}
    transit = enc.get("EncryptionInTransit") or {}
    info = {"EncryptionInTransit": {"ClientBroker": transit.get("ClientBroker", "TLS"),
                                    "InCluster": transit.get("InCluster", True)}}
    if enc.get("EncryptionAtRest"):
        info["EncryptionAtRest"] = dict(enc["EncryptionAtRest"])
    return info


def open_monitoring(cluster: dict) -> dict:
    prom = ((cluster["Spec"].get("OpenMonitoring") or {}).get("Prometheus") or {})
    return {"Prometheus": {
        "JmxExporter": {"EnabledInBroker": bool((prom.get("JmxExporter") or {}).get("EnabledInBroker"))},
        "NodeExporter": {"EnabledInBroker": bool((prom.get("NodeExporter") or {}).get("EnabledInBroker"))}}}


def software_info(cluster: dict) -> dict:
    info = {"KafkaVersion": cluster["Spec"]["KafkaVersion"]}
    conf = cluster["Spec"].get("ConfigurationInfo")
    if conf:
        info["ConfigurationArn"] = conf["Arn"]
        info["ConfigurationRevision"] = conf["Revision"]
    return info


def zookeeper_strings(cluster: dict) -> dict:
    if cluster["State"] in _NOT_YET_CONNECTABLE or not cluster["ZooKeeperNodes"]:
        return {}          # KRaft clusters have no ZooKeeper (MSK omits both strings)
    nodes = sorted(cluster["ZooKeeperNodes"], key=lambda z: z["ZookeeperId"])
    result = {"ZookeeperConnectStringTls": ",".join(f"{z['Address']}:{ZK_TLS_PORT}" for z in nodes)}
    if not zookeeper_tls_only(cluster):       # see layout.zookeeper_tls_only: no plaintext 2181 on TLS clusters
        result["ZookeeperConnectString"] = ",".join(f"{z['Address']}:{ZK_PORT}" for z in nodes)
    return result


def _common(cluster: dict) -> dict:
    out = {
        "ClusterArn": cluster["ClusterArn"], "ClusterName": cluster["ClusterName"],
        "CreationTime": _ts(cluster["CreationTime"]), "CurrentVersion": cluster["CurrentVersion"],
        "State": cluster["State"], "Tags": dict(cluster.get("Tags") or {}),
    }
    if cluster.get("ActiveOperationArn"):
        out["ActiveOperationArn"] = cluster["ActiveOperationArn"]
    if cluster.get("StateInfo"):
        out["StateInfo"] = dict(cluster["StateInfo"])
    return out


def _provisioned_body(cluster: dict) -> dict:
    body = {
        "BrokerNodeGroupInfo": broker_node_group_info(cluster),
        "ClientAuthentication": client_authentication(cluster),
        "CurrentBrokerSoftwareInfo": software_info(cluster),
        "EncryptionInfo": encryption_info(cluster),
        "EnhancedMonitoring": cluster["Spec"].get("EnhancedMonitoring", "DEFAULT"),
        "OpenMonitoring": open_monitoring(cluster),
        "NumberOfBrokerNodes": cluster["Spec"]["NumberOfBrokerNodes"],
        "StorageMode": cluster["Spec"].get("StorageMode", "LOCAL"),
        **zookeeper_strings(cluster),
    }
    if cluster["Spec"].get("LoggingInfo"):
        body["LoggingInfo"] = cluster["Spec"]["LoggingInfo"]
    # Every cluster has partition rebalancing here (MSK: Express brokers only); PAUSED unless asked for.
    body["Rebalancing"] = {"Status": (cluster["Spec"].get("Rebalancing") or {}).get("Status") or "PAUSED"}
    return body


def cluster_info(cluster: dict) -> dict:
    return {**_common(cluster), **_provisioned_body(cluster)}


def cluster_v2(cluster: dict) -> dict:
    if cluster.get("ClusterType") == "SERVERLESS":      # services/kafka/serverless.py
        return {**_common(cluster), "ClusterType": "SERVERLESS", "Serverless": cluster["Serverless"]}
    return {**_common(cluster), "ClusterType": "PROVISIONED", "Provisioned": _provisioned_body(cluster)}


def bootstrap_brokers(cluster: dict) -> dict:
    ports = {l.name: l.port for l in client_listeners(cluster)}
    brokers = sorted(cluster["Brokers"], key=lambda b: b["BrokerId"])

    def joined(port: int) -> str:
        return ",".join(f"{b['Address']}:{port}" for b in brokers)

    out = {}
    if "PLAINTEXT" in ports:
        out["BootstrapBrokerString"] = joined(PLAINTEXT_PORT)
    if "TLS" in ports:
        out["BootstrapBrokerStringTls"] = joined(TLS_PORT)
    if "CLIENT_SASL_SCRAM" in ports:
        out["BootstrapBrokerStringSaslScram"] = joined(SCRAM_PORT)
    if "CLIENT_IAM" in ports:
        out["BootstrapBrokerStringSaslIam"] = joined(IAM_PORT)
    out.update(public_bootstrap(cluster))
    out.update(multi_vpc_bootstrap(cluster))
    return out


def node_info(cluster: dict, broker: dict) -> dict:
    return {
        "AddedToClusterTime": broker.get("AddedToClusterTime", cluster["CreationTime"]),
        "BrokerNodeInfo": {
            "AttachedENIId": broker["EniId"], "BrokerId": float(broker["BrokerId"]),
            "ClientSubnet": broker["SubnetId"], "ClientVpcIpAddress": broker["Address"],
            "CurrentBrokerSoftwareInfo": {"KafkaVersion": cluster["Spec"]["KafkaVersion"]},
            "Endpoints": [broker["Address"]],
        },
        "InstanceType": cluster["Spec"]["BrokerNodeGroupInfo"]["InstanceType"],
        "NodeARN": broker["NodeArn"],
        "NodeType": "BROKER",
    }


def controller_node_info(cluster: dict, controller: dict) -> dict:
    """A KRaft controller as MSK's ListNodes shows it: its endpoint only (no broker fields, no NodeType)."""
    return {
        "AddedToClusterTime": controller.get("AddedToClusterTime", cluster["CreationTime"]),
        "ControllerNodeInfo": {"Endpoints": [controller["Address"]]},
        "InstanceType": cluster["Spec"]["BrokerNodeGroupInfo"]["InstanceType"],
        "NodeARN": controller["NodeArn"],
    }


def operation_info(op: dict) -> dict:
    out = {k: v for k, v in op.items() if k not in ("CreationTime", "EndTime", "ClusterType")}  # V1 has no type
    out["CreationTime"] = _ts(op["CreationTime"])
    if op.get("EndTime"):
        out["EndTime"] = _ts(op["EndTime"])
    return out
