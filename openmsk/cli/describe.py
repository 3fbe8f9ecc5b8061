"""`openmsk describe-cluster`: one view of a cluster - what DescribeCluster, GetBootstrapBrokers and
ListNodes say, plus each node's zone - for a human (default) or a script (`--json`, the same document
as `aws msk describe-cluster` with a `Zone` on every node)."""
from __future__ import annotations

import json

from ..awscli_plugin import combined_describe
from .common import EXIT_OK, Api, api_call, resolve_cluster, say, subnets, zone_of


def describe(api: Api, ref: str) -> dict:
    kafka, ec2 = api.client("kafka"), api.client("ec2")
    info = resolve_cluster(kafka, ref)
    doc = api_call(combined_describe, kafka, info["ClusterArn"])
    by_subnet = subnets(ec2)
    for node in doc["BrokerNodes"]:
        zone = zone_of(node["ClientVpcIpAddress"], by_subnet, node.get("ClientSubnet"))
        node["ZoneId"] = zone.zone_id if zone else None
    for node in doc["ZookeeperNodes"]:
        zone = zone_of(node.get("Endpoint") or node.get("ClientVpcIpAddress", ""), by_subnet)
        node["ZoneId"] = zone.zone_id if zone else None
    return doc


def _print(doc: dict) -> None:
    info = doc["ClusterInfo"]
    transit = info["EncryptionInfo"]["EncryptionInTransit"]
    auth = info.get("ClientAuthentication") or {}
    methods = [name for name, on in (("SASL/SCRAM", auth.get("Sasl", {}).get("Scram", {}).get("Enabled")),
                                     ("SASL/IAM", auth.get("Sasl", {}).get("Iam", {}).get("Enabled")),
                                     ("mTLS", auth.get("Tls", {}).get("Enabled")),
                                     ("unauthenticated", auth.get("Unauthenticated", {}).get("Enabled"))) if on]
    rows = [
        ("Cluster", f"{info['ClusterName']} ({info['State']})"),
        ("ARN", info["ClusterArn"]),
        ("Kafka", info["CurrentBrokerSoftwareInfo"]["KafkaVersion"]),
        ("Brokers", f"{info['NumberOfBrokerNodes']} x {info['BrokerNodeGroupInfo']['InstanceType']}, "
                    f"{info['BrokerNodeGroupInfo']['StorageInfo']['EbsStorageInfo']['VolumeSize']} GiB each"),
        ("Zones", ", ".join(info["BrokerNodeGroupInfo"].get("ZoneIds") or [])),
        ("Encryption", f"client-broker {transit['ClientBroker']}, in-cluster {transit['InCluster']}"),
        ("Client auth", ", ".join(methods) or "none"),
    ]
    rows += [(key, value) for key, value in doc.items() if key.startswith("BootstrapBroker")]
    for key in ("ZookeeperConnectString", "ZookeeperConnectStringTls"):
        if info.get(key):
            rows.append((key, info[key]))
    if info.get("StateInfo"):
        rows.append(("StateInfo", f"{info['StateInfo'].get('Code')}: {info['StateInfo'].get('Message')}"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        say(f"{key + ':':<{width + 2}}{value}")
    say()
    say(f"{'NODE':<6} {'ZONE':<10} {'ENDPOINT':<16} SUBNET")
    for b in doc["BrokerNodes"]:
        say(f"{'b-' + str(b['BrokerId']):<6} {b['ZoneId'] or '?':<10} {b['ClientVpcIpAddress']:<16} {b['ClientSubnet']}")
    for z in doc["ZookeeperNodes"]:
        ports = "/".join(str(p) for p in (z.get("Port"), z.get("TlsPort")) if p)
        say(f"{'z-' + str(z['ZookeeperId']):<6} {z['ZoneId'] or '?':<10} {z.get('Endpoint', ''):<16} "
            f"ZooKeeper port {ports}")


def cmd_describe(args) -> int:
    doc = describe(Api.from_args(args), args.cluster)
    if args.json:
        say(json.dumps(doc, indent=2, default=str))
    else:
        _print(doc)
    return EXIT_OK


def register(add) -> None:
    p = add("describe-cluster", cmd_describe,
            "a cluster's settings, bootstrap broker strings, brokers and ZooKeeper nodes with their zones")
    p.add_argument("cluster", help="cluster name or ARN")
    p.add_argument("--json", action="store_true", help="the `aws msk describe-cluster` document plus zones")
    p.add_argument("--region", help="AWS region (default us-east-1)")
    p.add_argument("--port", type=int, help="service port (default: the one `openmsk serve` recorded)")
