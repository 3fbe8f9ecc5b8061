"""API-only checks of issue 9: cluster policies (stored, versioned, validated; not enforced) and MSK's
list of server properties a configuration may set. The shared cluster is left without a policy."""
from __future__ import annotations

import json

import pytest

from openmsk.services.kafka.vpc_connections import policy_allows, vpc_connectivity_problem

POLICY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "123456789012"},
    "Action": ["kafka:CreateVpcConnection", "kafka:GetBootstrapBrokers", "kafka:DescribeCluster",
               "kafka:DescribeClusterV2", "kafka-cluster:*"],
    "Resource": "arn:aws:kafka:us-east-1:111122223333:cluster/testing/de8982fa-8222-4e87-8b20-9bf3cdfa1521-2"}]}


def test_cluster_policy_versions_with_the_cli(service, shared_cluster, tmp_path):
    arn = shared_cluster["ClusterArn"]
    kafka = service.client("kafka")
    with pytest.raises(kafka.exceptions.NotFoundException):
        kafka.get_cluster_policy(ClusterArn=arn)
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(POLICY))
    put = service.aws("kafka", "put-cluster-policy", "--cluster-arn", arn, "--policy", f"file://{path}")
    assert put.returncode == 0, put.stderr
    first = put.json["CurrentVersion"]
    try:
        got = service.aws("kafka", "get-cluster-policy", "--cluster-arn", arn)
        assert got.returncode == 0, got.stderr
        assert got.json["CurrentVersion"] == first and json.loads(got.json["Policy"]) == POLICY

        # Optimistic concurrency: a stale CurrentVersion is refused and changes nothing.
        changed = json.dumps({**POLICY, "Statement": [{**POLICY["Statement"][0], "Effect": "Deny"}]})
        with pytest.raises(kafka.exceptions.BadRequestException) as err:
            kafka.put_cluster_policy(ClusterArn=arn, Policy=changed, CurrentVersion="KSTALEVERSION1")
        assert "KSTALEVERSION1" in err.value.response["Error"]["Message"]
        assert kafka.get_cluster_policy(ClusterArn=arn)["CurrentVersion"] == first
        second = kafka.put_cluster_policy(ClusterArn=arn, Policy=changed, CurrentVersion=first)["CurrentVersion"]
        assert second != first
        got = kafka.get_cluster_policy(ClusterArn=arn)
        assert got["CurrentVersion"] == second and json.loads(got["Policy"])["Statement"][0]["Effect"] == "Deny"
        # Without CurrentVersion the policy is replaced unconditionally (as MSK does).
        third = kafka.put_cluster_policy(ClusterArn=arn, Policy=json.dumps(POLICY))["CurrentVersion"]
        assert third not in (first, second)
    finally:
        deleted = service.aws("kafka", "delete-cluster-policy", "--cluster-arn", arn)
    assert deleted.returncode == 0, deleted.stderr
    with pytest.raises(kafka.exceptions.NotFoundException):
        kafka.get_cluster_policy(ClusterArn=arn)
    with pytest.raises(kafka.exceptions.NotFoundException):
        kafka.delete_cluster_policy(ClusterArn=arn)


@pytest.mark.parametrize("policy, fragment", [
    ("{not json", "not valid JSON"),
    ("[]", "JSON object"),
    (json.dumps({"Version": "2012-10-17"}), "Statement"),
    (json.dumps({**POLICY, "Version": "2020-01-01"}), "Version"),
    (json.dumps({**POLICY, "Extra": 1}), "unknown element"),
    (json.dumps({"Statement": [{**POLICY["Statement"][0], "Effect": "Maybe"}]}), "Effect"),
    (json.dumps({"Statement": [{k: v for k, v in POLICY["Statement"][0].items() if k != "Principal"}]}), "Principal"),
    (json.dumps({"Statement": [{**POLICY["Statement"][0], "Principal": {"Someone": "x"}}]}), "Principal"),
    (json.dumps({"Statement": [{**POLICY["Statement"][0], "Action": "s3:GetObject"}]}), "s3:GetObject"),
    (json.dumps({"Statement": [{**POLICY["Statement"][0], "Action": []}]}), "Action"),
    (json.dumps({"Statement": [{**POLICY["Statement"][0], "Resource": "cluster/x"}]}), "not an ARN"),
    (json.dumps({"Statement": [{**POLICY["Statement"][0], "Condition": "yes"}]}), "Condition"),
    (json.dumps({"Statement": [POLICY["Statement"][0]], "Id": "x" * 21000}), "characters"),
])
def test_invalid_policies_are_refused(service, shared_cluster, policy, fragment):
    kafka = service.client("kafka")
    with pytest.raises(kafka.exceptions.BadRequestException) as err:
        kafka.put_cluster_policy(ClusterArn=shared_cluster["ClusterArn"], Policy=policy)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert fragment in err.value.response["Error"]["Message"]
    with pytest.raises(kafka.exceptions.NotFoundException):
        kafka.get_cluster_policy(ClusterArn=shared_cluster["ClusterArn"])


def test_policy_of_an_unknown_cluster(service, shared_cluster):
    kafka = service.client("kafka")
    arn = shared_cluster["ClusterArn"].replace("/shared/", "/nosuch/")
    for call in (lambda: kafka.put_cluster_policy(ClusterArn=arn, Policy=json.dumps(POLICY)),
                 lambda: kafka.get_cluster_policy(ClusterArn=arn), lambda: kafka.delete_cluster_policy(ClusterArn=arn)):
        with pytest.raises(kafka.exceptions.NotFoundException):
            call()


def test_configurations_refuse_keys_msk_manages(service):
    kafka = service.client("kafka")
    props = b"log.retention.hours=24\nbroker.id=7\nadvertised.listeners=PLAINTEXT://x:1\nssl.keystore.password=p\n"
    names = []
    every_version = ", ".join(sorted(v["Version"] for v in kafka.list_kafka_versions()["KafkaVersions"]))
    for create, checked in (
            (lambda: kafka.create_configuration(Name="cfg-refused", KafkaVersions=["3.9.x"], ServerProperties=props),
             "3.9.x"),
            # without KafkaVersions the keys are checked against every version the installation offers
            (lambda: kafka.create_configuration(Name="cfg-refused", ServerProperties=b"no.such.setting=1\n"),
             every_version)):
        with pytest.raises(kafka.exceptions.BadRequestException) as err:
            create()
        message = err.value.response["Error"]["Message"]
        refused = json.loads(message)       # MSK answers a JSON list, one entry per refused key
        assert all(e["errorMessages"][0] == f"Key '{e['name']}' is not supported by at least one Apache Kafka "
                   f"version. Key checked against versions: [{checked}]" for e in refused), refused
        names.append([e["name"] for e in refused])
    assert names == [["broker.id", "advertised.listeners", "ssl.keystore.password"], ["no.such.setting"]]
    assert refused[0]["value"] == "1"
    assert not [c for c in kafka.list_configurations()["Configurations"] if c["Name"] == "cfg-refused"]

    # UpdateConfiguration applies the same list to a new revision; the allowed keys are accepted.
    arn = kafka.create_configuration(Name="cfg-allowed", ServerProperties=b"min.insync.replicas=2\n"
                                     b"unclean.leader.election.enable=false\nnum.io.threads=8\n")["Arn"]
    try:
        with pytest.raises(kafka.exceptions.BadRequestException) as err:
            kafka.update_configuration(Arn=arn, ServerProperties=b"zookeeper.connect=127.0.0.1:2181\n")
        assert json.loads(err.value.response["Error"]["Message"])[0]["name"] == "zookeeper.connect"
        assert kafka.describe_configuration(Arn=arn)["LatestRevision"]["Revision"] == 1
    finally:
        kafka.delete_configuration(Arn=arn)


def test_multi_vpc_refused_on_an_unauthenticated_cluster_and_bad_connection_input(service, shared_cluster):
    """Multi-VPC private connectivity, MSK's refusals (the shared cluster is unauthenticated): no
    VpcConnectivity for it, no connection to it, unknown connections are NotFound / BadRequest."""
    kafka = service.client("kafka")
    arn = shared_cluster["ClusterArn"]
    version = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]
    with pytest.raises(kafka.exceptions.BadRequestException) as err:
        kafka.update_connectivity(ClusterArn=arn, CurrentVersion=version, ConnectivityInfo={
            "VpcConnectivity": {"ClientAuthentication": {"Sasl": {"Iam": {"Enabled": True}}}}})
    assert "unauthenticated clusters" in err.value.response["Error"]["Message"]
    info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
    assert info["CurrentVersion"] == version and "VpcConnectivity" not in info["BrokerNodeGroupInfo"]["ConnectivityInfo"]

    vpc = service.client("ec2").describe_vpcs()["Vpcs"][0]["VpcId"]
    subnets = service.default_subnets(2)
    good = {"TargetClusterArn": arn, "Authentication": "SASL_IAM", "VpcId": vpc, "ClientSubnets": subnets,
            "SecurityGroups": []}
    for change, fragment in (({"TargetClusterArn": arn.replace("/shared/", "/nosuch/")}, "does not exist"),
                             ({"Authentication": "PLAINTEXT"}, "SASL_IAM, SASL_SCRAM, TLS"),
                             ({}, "not turned on for multi-VPC")):
        with pytest.raises(kafka.exceptions.BadRequestException) as err:
            kafka.create_vpc_connection(**{**good, **change})
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert fragment in err.value.response["Error"]["Message"]
    unknown = "arn:aws:kafka:us-east-1:000000000000:vpc-connection/000000000000/shared/abc-1"
    for call in (kafka.describe_vpc_connection, kafka.delete_vpc_connection):
        with pytest.raises(kafka.exceptions.NotFoundException) as err:
            call(Arn=unknown)
        assert unknown in err.value.response["Error"]["Message"]
    with pytest.raises(kafka.exceptions.BadRequestException) as err:
        kafka.reject_client_vpc_connection(ClusterArn=arn, VpcConnectionArn=unknown)
    assert "not a client VPC connection" in err.value.response["Error"]["Message"]
    assert kafka.list_client_vpc_connections(ClusterArn=arn)["ClientVpcConnections"] == []
    cli = service.aws("kafka", "list-vpc-connections")
    assert cli.returncode == 0, cli.stderr
    assert cli.json["VpcConnections"] == []


def _cluster_doc(auth: dict, props: str = "", version: str = "3.9.x", instance: str = "kafka.m5.large") -> dict:
    return {"Spec": {"KafkaVersion": version, "ClientAuthentication": auth,
                     "BrokerNodeGroupInfo": {"InstanceType": instance}}, "ServerProperties": props}


def test_multi_vpc_preconditions_and_cross_account_policy():
    """No service: MSK's preconditions for VpcConnectivity and the cluster-policy check of a cross-account
    CreateVpcConnection."""
    iam = {"Sasl": {"Iam": {"Enabled": True}}}
    scram = {"Sasl": {"Scram": {"Enabled": True}}}
    on = {"iam": True, "scram": False, "tls": False}
    assert vpc_connectivity_problem(_cluster_doc(iam), on) is None
    assert "unauthenticated clusters" in vpc_connectivity_problem(_cluster_doc({}), on)
    assert "2.7.1" in vpc_connectivity_problem(_cluster_doc(iam, version="2.6.2"), on)
    assert "t3.small" in vpc_connectivity_problem(_cluster_doc(iam, instance="kafka.t3.small"), on)
    assert "SASL/IAM client authentication is not turned on" in vpc_connectivity_problem(_cluster_doc(scram), on)
    scram_on = {"iam": False, "scram": True, "tls": False}
    assert "allow.everyone.if.no.acl.found to false" in vpc_connectivity_problem(_cluster_doc(scram), scram_on)
    assert vpc_connectivity_problem(_cluster_doc(scram, "allow.everyone.if.no.acl.found=false"), scram_on) is None

    cluster = POLICY["Statement"][0]["Resource"]
    assert policy_allows(POLICY, "123456789012", "kafka:CreateVpcConnection", cluster)
    assert not policy_allows(POLICY, "210987654321", "kafka:CreateVpcConnection", cluster)
    assert not policy_allows(None, "123456789012", "kafka:CreateVpcConnection", cluster)
    assert not policy_allows(POLICY, "123456789012", "kafka:CreateVpcConnection", cluster.replace("testing", "x"))
    wildcard = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kafka:*",
         "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "kafka:CreateVpcConnection", "Resource": cluster}]}
    assert policy_allows(wildcard, "123456789012", "kafka:GetBootstrapBrokers", cluster)
    assert not policy_allows(wildcard, "123456789012", "kafka:CreateVpcConnection", cluster)
