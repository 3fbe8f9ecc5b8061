"""Bad input gets MSK's/EC2's error shapes, the right status, a message the CLI prints cleanly — and
changes nothing."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest


def signed(service, method: str, path: str, body: bytes = b"", *, secret: str | None = None,
           service_name: str = "kafka") -> tuple[int, dict, bytes]:
    creds = service.credentials
    url = service.endpoint + path
    req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body,
                                         headers={"Content-Type": "application/json"} if body else {})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(creds["access_key_id"],
                                                             secret or creds["secret_access_key"]),
                            service_name, service.region).add_auth(req)
    prepared = urllib.request.Request(url, data=body or None, method=method, headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(prepared, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def cluster_count(service) -> int:
    return len(service.client("kafka").list_clusters()["ClusterInfoList"])


def test_unknown_cluster_arn_cli_and_boto3(service):
    arn = "arn:aws:kafka:us-east-1:123456789012:cluster/nope/00000000-0000-0000-0000-000000000000-1"
    result = service.aws("kafka", "describe-cluster", "--cluster-arn", arn)
    assert result.returncode == 255
    assert ("An error occurred (NotFoundException) when calling the DescribeCluster operation: "
            f"The cluster {arn} does not exist.") in result.stderr
    kafka = service.client("kafka")
    for call in (kafka.get_bootstrap_brokers, kafka.list_nodes, kafka.delete_cluster, kafka.list_cluster_operations):
        with pytest.raises(kafka.exceptions.NotFoundException) as err:
            call(ClusterArn=arn)
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert err.value.response["InvalidParameter"] == "clusterArn"


def test_malformed_json_missing_members_and_wrong_types_are_400(service):
    before = cluster_count(service)
    status, headers, body = signed(service, "POST", "/v1/clusters", b"{not json")
    assert status == 400 and headers["x-amzn-ErrorType"].startswith("BadRequestException")
    assert json.loads(body)["message"]
    status, headers, body = signed(service, "POST", "/v1/clusters", json.dumps({"kafkaVersion": "3.9.x"}).encode())
    message = json.loads(body)["message"]
    assert status == 400 and message.startswith("Missing required parameter in input:"), message
    request = {"clusterName": "typed", "kafkaVersion": "3.9.x", "numberOfBrokerNodes": "three",
               "brokerNodeGroupInfo": {"instanceType": "kafka.m5.large", "clientSubnets": ["a", "b"]}}
    status, headers, body = signed(service, "POST", "/v1/clusters", json.dumps(request).encode())
    assert status == 400 and headers["x-amzn-ErrorType"].startswith("BadRequestException"), body
    assert cluster_count(service) == before


@pytest.mark.parametrize("change, message", [
    (lambda r, s: r["BrokerNodeGroupInfo"].update(ClientSubnets=[s[0], "subnet-doesnotexist"]),
     "The subnet subnet-doesnotexist does not exist."),
    (lambda r, s: r.update(NumberOfBrokerNodes=4), "multiple of Availability Zones"),
    (lambda r, s: r["BrokerNodeGroupInfo"].update(InstanceType="kafka.x9.huge"), "instance type kafka.x9.huge"),
    (lambda r, s: r.update(KafkaVersion="1.0.0"), "Unsupported Kafka version 1.0.0"),
    (lambda r, s: r["BrokerNodeGroupInfo"].update(ClientSubnets=s[:1]), "two or three client subnets"),
    (lambda r, s: r.update(EnhancedMonitoring="EVERYTHING"), "enhancedMonitoring"),
])
def test_create_cluster_rejections(service, change, message):
    subnets = service.default_subnets(3)
    request = {"ClusterName": "rejected", "KafkaVersion": "3.9.x", "NumberOfBrokerNodes": 3,
               "BrokerNodeGroupInfo": {"InstanceType": "kafka.m5.large", "ClientSubnets": subnets}}
    change(request, subnets)
    kafka = service.client("kafka")
    before = cluster_count(service)
    with pytest.raises(kafka.exceptions.BadRequestException) as err:
        kafka.create_cluster(**request)
    assert message in err.value.response["Error"]["Message"]
    assert cluster_count(service) == before


def test_two_subnets_in_one_zone_are_refused(service):
    ec2 = service.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    block = "127.31.0.0/16" if vpc["CidrBlock"] == "127.0.0.0/8" else vpc["CidrBlock"].replace(".0.0/16", ".48.0/20")
    extra = ec2.create_subnet(VpcId=vpc["VpcId"], AvailabilityZone="us-east-1a", CidrBlock=block)["Subnet"]
    try:
        first = service.default_subnets(1)[0]
        result = service.aws("kafka", "create-cluster", "--cluster-name", "same-zone", "--kafka-version", "3.9.x",
                             "--number-of-broker-nodes", "2", "--broker-node-group-info",
                             json.dumps({"InstanceType": "kafka.m5.large", "ClientSubnets": [first, extra["SubnetId"]]}))
        assert result.returncode == 255
        assert "(BadRequestException)" in result.stderr and "different Availability Zones" in result.stderr
    finally:
        ec2.delete_subnet(SubnetId=extra["SubnetId"])


def test_duplicate_cluster_name_is_a_conflict(service, shared_cluster):
    kafka = service.client("kafka")
    with pytest.raises(kafka.exceptions.ConflictException) as err:
        kafka.create_cluster(ClusterName="shared", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
                             BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                  "ClientSubnets": service.default_subnets(3)})
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_signatures_are_verified(service):
    result = service.aws("kafka", "list-clusters", env={**service.env, "AWS_SECRET_ACCESS_KEY": "wrong" * 8})
    assert result.returncode == 255
    assert "An error occurred (ForbiddenException) when calling the ListClusters operation" in result.stderr
    result = service.aws("kafka", "list-clusters", env={**service.env, "AWS_ACCESS_KEY_ID": "AKIAUNKNOWN000000000"})
    assert result.returncode == 255 and "ForbiddenException" in result.stderr
    try:
        urllib.request.urlopen(service.endpoint + "/v1/clusters", timeout=10)
        raise AssertionError("unsigned request accepted")
    except urllib.error.HTTPError as err:
        assert err.code == 403 and json.loads(err.read())["message"]
    status, headers, _ = signed(service, "GET", "/v1/clusters", secret="x" * 40)
    assert status == 403 and headers["x-amzn-ErrorType"].startswith("ForbiddenException")


def test_configurations_lifecycle(service):
    kafka = service.client("kafka")
    props = b"auto.create.topics.enable = true\nlog.retention.hours=24\n# comment\n"
    created = kafka.create_configuration(Name="cfg-lifecycle", KafkaVersions=["3.9.x"], ServerProperties=props,
                                         Description="first")
    arn = created["Arn"]
    assert created["LatestRevision"]["Revision"] == 1 and created["State"] == "ACTIVE"
    rev = kafka.describe_configuration_revision(Arn=arn, Revision=1)
    assert rev["ServerProperties"] == props and rev["Description"] == "first"
    updated = kafka.update_configuration(Arn=arn, ServerProperties=b"log.retention.hours=48\n", Description="second")
    assert updated["LatestRevision"]["Revision"] == 2
    revisions = kafka.list_configuration_revisions(Arn=arn)["Revisions"]
    assert [r["Revision"] for r in revisions] == [1, 2]
    assert kafka.describe_configuration(Arn=arn)["LatestRevision"]["Description"] == "second"
    with pytest.raises(kafka.exceptions.ConflictException):
        kafka.create_configuration(Name="cfg-lifecycle", ServerProperties=b"a=b")
    with pytest.raises(kafka.exceptions.BadRequestException) as err:
        kafka.create_configuration(Name="cfg-managed", ServerProperties=b"broker.id=7\nlisteners=PLAINTEXT://:1\n")
    assert [e["name"] for e in json.loads(err.value.response["Error"]["Message"])] == ["broker.id", "listeners"]
    with pytest.raises(kafka.exceptions.BadRequestException):
        kafka.create_configuration(Name="cfg-garbage", ServerProperties=b"this line has no separator\n")
    with pytest.raises(kafka.exceptions.NotFoundException):
        kafka.describe_configuration_revision(Arn=arn, Revision=9)
    assert kafka.delete_configuration(Arn=arn)["State"] == "DELETING"
    with pytest.raises(kafka.exceptions.NotFoundException):
        kafka.describe_configuration(Arn=arn)


def test_cli_paginates_configurations(service):
    kafka = service.client("kafka")
    arns = [kafka.create_configuration(Name=f"page-{i}", ServerProperties=b"log.retention.hours=1\n")["Arn"]
            for i in range(5)]
    try:
        result = service.aws("kafka", "list-configurations", "--page-size", "2")
        assert result.returncode == 0, result.stderr
        names = [c["Name"] for c in result.json["Configurations"]]
        assert [n for n in names if n.startswith("page-")] == [f"page-{i}" for i in range(5)]
        one = kafka.list_configurations(MaxResults=2)
        assert len(one["Configurations"]) == 2 and one["NextToken"]
        with pytest.raises(kafka.exceptions.BadRequestException):
            kafka.list_configurations(NextToken="garbage!")
    finally:
        for arn in arns:
            kafka.delete_configuration(Arn=arn)


def test_versions(service):
    kafka = service.client("kafka")
    # The full table is tests/test_versions.py's; here: the default version is offered and upgradable.
    assert {"Version": "3.9.x", "Status": "ACTIVE"} in kafka.list_kafka_versions()["KafkaVersions"]
    compatible = kafka.get_compatible_kafka_versions()["CompatibleKafkaVersions"]
    assert "3.9.x" in [c["SourceVersion"] for c in compatible]


def test_ec2_default_network(service):
    result = service.aws("ec2", "describe-availability-zones")
    assert result.returncode == 0, result.stderr
    zones = result.json["AvailabilityZones"]
    assert [(z["ZoneName"], z["ZoneId"], z["State"]) for z in zones] == [
        ("us-east-1a", "use1-az1", "available"), ("us-east-1b", "use1-az2", "available"),
        ("us-east-1c", "use1-az3", "available")]
    vpcs = service.aws("ec2", "describe-vpcs").json["Vpcs"]
    assert len(vpcs) == 1 and vpcs[0]["IsDefault"] is True
    subnets = service.aws("ec2", "describe-subnets", "--filters", f"Name=vpc-id,Values={vpcs[0]['VpcId']}",
                          "Name=default-for-az,Values=true").json["Subnets"]
    assert sorted(s["AvailabilityZoneId"] for s in subnets) == ["use1-az1", "use1-az2", "use1-az3"]
    groups = service.aws("ec2", "describe-security-groups", "--group-names", "default").json["SecurityGroups"]
    assert groups[0]["VpcId"] == vpcs[0]["VpcId"]
    missing = service.aws("ec2", "describe-subnets", "--subnet-ids", "subnet-0123456789abcdef0")
    assert missing.returncode == 255
    assert "An error occurred (InvalidSubnetID.NotFound) when calling the DescribeSubnets operation" in missing.stderr
    other_region = service.client("ec2", region="eu-west-1").describe_availability_zones()["AvailabilityZones"]
    assert [z["ZoneId"] for z in other_region] == ["euw1-az1", "euw1-az2", "euw1-az3"]


def test_unserved_services_and_oversized_bodies_in_the_callers_protocol(service):
    """Real aws CLI callers of services openmsk does not serve read a code, not "400" or a parser error."""
    for args, code in ((["dynamodb", "list-tables"], "UnknownServiceException"),      # awsJson
                       (["route53", "list-hosted-zones"], "InvalidAction"),            # rest-xml
                       (["autoscaling", "describe-auto-scaling-groups"], "InvalidAction")):  # query
        result = service.aws(*args)
        assert result.returncode == 255
        assert f"An error occurred ({code}) when calling" in result.stderr, result.stderr
        assert f"Service {args[0]} is not served by openmsk" in result.stderr
    before = cluster_count(service)
    status, headers, body = signed(service, "POST", "/v1/clusters", b" " * (16 * 1024 * 1024 + 1))
    assert status == 413 and headers["x-amzn-ErrorType"] == "RequestEntityTooLargeException"
    assert "exceeds the limit" in json.loads(body)["message"]
    status, headers, body = signed(service, "POST", "/v1/clusters", b"[" * 100_000 + b"]" * 100_000)
    assert status == 400 and "nested too deeply" in json.loads(body)["message"]
    assert cluster_count(service) == before
