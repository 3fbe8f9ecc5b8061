"""API-only checks of issue 9: cluster policies (stored, versioned, validated; not enforced) and MSK's
list of server properties a configuration may set. The shared cluster is left without a policy."""
from __future__ import annotations

import json

import pytest

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
