"""MSK Serverless (CreateClusterV2 with `Serverless`): what the request must say, the cluster it becomes, and how
the API shows it.

A serverless cluster is a real, small KRaft cluster behind MSK Serverless's one IAM endpoint: one broker per
Availability Zone of the first VPC configuration's subnets (two or three: MSK Serverless needs subnets in at
least two zones), `kafka.t3.small` brokers (the smallest heap openmsk has, 384 MiB) and the three KRaft
controllers every `.kraft` cluster gets. That is the cheapest shape that still survives a zone outage on a
2-core host (5 JVMs; a ZooKeeper cluster of the same size would need 5 too, plus ZooKeeper's clients). Clients
only see `BootstrapBrokerStringSaslIam` (9098); the brokers' other listener (9093) is the replication/control
one, as on provisioned clusters. MSK Serverless's topic rules (editable topic properties, 8 MiB messages,
partitions per topic) are enforced by the controllers (plugins/msk-iam ServerlessTopicPolicy,
control/layout.serverless_controller_properties), its quotas (throughput, connections, consumer groups, request
and fetch sizes) by the brokers (control/layout.serverless_broker_properties); docs/serverless.md has the list.

The provisioned-only operations (brokers, storage, configurations, versions, security, monitoring, nodes, the
V1 DescribeCluster/ListClusterOperations) answer BadRequestException for a serverless cluster, as MSK does.
"""
from __future__ import annotations

from .validation import bad_request

SERVERLESS, PROVISIONED = "SERVERLESS", "PROVISIONED"
INSTANCE_TYPE = "kafka.t3.small"
MAX_VPC_CONFIGS = 5          # MSK Serverless quota: client VPCs per cluster
MAX_SECURITY_GROUPS = 5

#: Operations MSK serves for provisioned clusters only.
PROVISIONED_ONLY = frozenset({
    "DescribeCluster", "ListNodes", "ListClusterOperations", "UpdateBrokerCount", "UpdateBrokerStorage",
    "UpdateStorage", "UpdateBrokerType", "UpdateClusterConfiguration", "UpdateClusterKafkaVersion",
    "GetCompatibleKafkaVersions", "UpdateMonitoring", "UpdateSecurity", "UpdateConnectivity", "UpdateRebalancing",
    "RebootBroker", "BatchAssociateScramSecret", "BatchDisassociateScramSecret", "ListScramSecrets",
})


def is_serverless(cluster: dict) -> bool:
    return cluster.get("ClusterType") == SERVERLESS


def refuse_provisioned_only(cluster: dict, operation: str) -> None:
    if is_serverless(cluster) and operation in PROVISIONED_ONLY:
        raise bad_request(f"This operation isn't supported for serverless clusters: {operation}. "
                          f"The cluster {cluster['ClusterArn']} is a serverless cluster.", "clusterArn")


#: The Kafka a serverless cluster runs (MSK does not show it): the KRaft line of the release the broker plugin
#: (plugins/msk-iam: IAM listener, authorizer, topic policy) is built against.
KAFKA_VERSION = "3.9.x.kraft"


def provisioned_spec(request: dict, network, region: str) -> tuple[dict, dict]:
    """Checks the `Serverless` member and returns (the spec the data plane runs, the Serverless body to show)."""
    auth = request.get("ClientAuthentication") or {}
    if not (((auth.get("Sasl") or {}).get("Iam") or {}).get("Enabled")):
        raise bad_request("MSK Serverless supports only IAM access control: set "
                          "ClientAuthentication.Sasl.Iam.Enabled to true.", "clientAuthentication")
    vpcs = request["VpcConfigs"]
    if not 1 <= len(vpcs) <= MAX_VPC_CONFIGS:
        raise bad_request(f"Specify between 1 and {MAX_VPC_CONFIGS} VPC configurations.", "vpcConfigs")
    shown = []
    for vpc in vpcs:
        subnets = list(vpc["SubnetIds"])
        if len(subnets) < 2:
            raise bad_request("Specify subnets in at least two different Availability Zones.", "subnetIds")
        docs = [network.subnet(region, s) for s in subnets]
        missing = [s for s, d in zip(subnets, docs) if d is None]
        if missing:
            raise bad_request(f"The subnet {missing[0]} does not exist.", "subnetIds")
        if len({d["VpcId"] for d in docs}) != 1:
            raise bad_request("The subnets of a VPC configuration must all be in one VPC.", "subnetIds")
        if len({d["AvailabilityZoneId"] for d in docs}) < 2:
            raise bad_request("Specify subnets in at least two different Availability Zones.", "subnetIds")
        groups = list(vpc.get("SecurityGroupIds") or [])
        if len(groups) > MAX_SECURITY_GROUPS:
            raise bad_request(f"Specify at most {MAX_SECURITY_GROUPS} security groups.", "securityGroupIds")
        vpc_id = docs[0]["VpcId"]
        for group in groups:
            doc = network.security_group(region, group)
            if doc is None:
                raise bad_request(f"The security group {group} does not exist.", "securityGroupIds")
            if doc["VpcId"] != vpc_id:
                raise bad_request(f"The security group {group} is in {doc['VpcId']}, not in the subnets' VPC "
                                  f"{vpc_id}.", "securityGroupIds")
        if not groups:     # MSK Serverless uses the VPC's default security group when none is given
            groups = [g["GroupId"] for g in network.security_groups(region)
                      if g["GroupName"] == "default" and g["VpcId"] == vpc_id]
        shown.append({"SubnetIds": subnets, "SecurityGroupIds": groups})
    # the brokers: one per zone of the first VPC configuration (its first subnet in each zone), at most three
    first, zones = [], set()
    for subnet_id in vpcs[0]["SubnetIds"]:
        zone = network.subnet(region, subnet_id)["AvailabilityZoneId"]
        if zone not in zones and len(first) < 3:
            zones.add(zone)
            first.append(subnet_id)
    spec = {
        "KafkaVersion": KAFKA_VERSION, "NumberOfBrokerNodes": len(first),
        "BrokerNodeGroupInfo": {"InstanceType": INSTANCE_TYPE, "ClientSubnets": first,
                                "SecurityGroups": shown[0]["SecurityGroupIds"]},
        "ClientAuthentication": {"Sasl": {"Iam": {"Enabled": True}}, "Unauthenticated": {"Enabled": False}},
        "EncryptionInfo": {"EncryptionInTransit": {"ClientBroker": "TLS", "InCluster": True}},
    }
    body = {"VpcConfigs": shown, "ClientAuthentication": {"Sasl": {"Iam": {"Enabled": True}}}}
    return spec, body


def operation_cluster_type(cluster: dict | None) -> str:
    return SERVERLESS if cluster and is_serverless(cluster) else PROVISIONED

