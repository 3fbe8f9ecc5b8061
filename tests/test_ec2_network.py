"""The EC2 VPC subset through boto3 and the aws CLI: VPCs, subnets, security groups and their rules,
tags and filters, EC2's error codes, and the placement rules CreateCluster applies on top of them.
API only: no cluster is created (a refused CreateCluster starts nothing)."""
from __future__ import annotations

import ipaddress
import json

import pytest
from botocore.exceptions import ClientError


def _code(err: pytest.ExceptionInfo) -> str:
    return err.value.response["Error"]["Code"]


@pytest.fixture
def ec2(service):
    return service.client("ec2")


@pytest.fixture
def vpc(ec2):
    """A fresh VPC (deleted afterwards, with whatever the test left in it)."""
    vpc_id = ec2.create_vpc(CidrBlock="10.77.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "test"}]}])["Vpc"]["VpcId"]
    yield vpc_id
    for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    for group in groups:                # rules referencing other groups first
        rules = [p for p in group["IpPermissions"] if p["UserIdGroupPairs"] and group["GroupName"] != "default"]
        if rules:
            ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=rules)
    for group in groups:
        if group["GroupName"] != "default":
            ec2.delete_security_group(GroupId=group["GroupId"])
    ec2.delete_vpc(VpcId=vpc_id)


def test_default_vpc_subnets_are_one_per_zone_inside_the_vpc(ec2):
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]},
                                            {"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    block = ipaddress.ip_network(vpc["CidrBlock"])
    assert all(ipaddress.ip_network(s["CidrBlock"]).subnet_of(block) for s in subnets)
    default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]},
                                                    {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]
    assert default["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == default["GroupId"]
    assert default["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]


def test_vpc_subnet_lifecycle_and_errors(ec2, vpc):
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["test"]}])["Vpcs"][0]["VpcId"] == vpc
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24", AvailabilityZoneId="use1-az2",
                               TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "tier", "Value": "a"}]}])
    assert subnet["Subnet"]["AvailabilityZone"] == "us-east-1b"
    assert subnet["Subnet"]["AvailableIpAddressCount"] == 251
    for cidr, code in (("10.77.1.128/25", "InvalidSubnet.Conflict"), ("10.78.0.0/24", "InvalidSubnet.Range"),
                       ("10.77.2.0/29x", "InvalidParameterValue")):
        with pytest.raises(ClientError) as err:
            ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone="us-east-1a")
        assert _code(err) == code
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as err:
        ec2.delete_vpc(VpcId=vpc)
    assert _code(err) == "DependencyViolation"
    with pytest.raises(ClientError) as err:
        ec2.create_vpc(CidrBlock="10.0.0.0/8")
    assert _code(err) == "InvalidVpc.Range"
    found = ec2.describe_subnets(Filters=[{"Name": "tag:tier", "Values": ["a"]}])["Subnets"]
    assert [s["SubnetId"] for s in found] == [subnet["Subnet"]["SubnetId"]]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "env", "Value": "dev"}])
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:env", "Values": ["d*"]}])["Vpcs"][0]["VpcId"] == vpc
    ec2.delete_tags(Resources=[vpc], Tags=[{"Key": "env"}])
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:env", "Values": ["dev"]}])["Vpcs"] == []
    with pytest.raises(ClientError) as err:
        ec2.describe_vpcs(VpcIds=["vpc-0123456789abcdef0"])
    assert _code(err) == "InvalidVpcID.NotFound"


def test_security_group_rules(service, ec2, vpc):
    brokers = ec2.create_security_group(GroupName="brokers", Description="kafka", VpcId=vpc)["GroupId"]
    clients = ec2.create_security_group(GroupName="clients", Description="apps", VpcId=vpc)["GroupId"]
    with pytest.raises(ClientError) as err:
        ec2.create_security_group(GroupName="brokers", Description="again", VpcId=vpc)
    assert _code(err) == "InvalidGroup.Duplicate"
    added = ec2.authorize_security_group_ingress(GroupId=brokers, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 9092, "ToPort": 9098, "UserIdGroupPairs": [{"GroupId": clients}]},
        {"IpProtocol": "tcp", "FromPort": 2181, "ToPort": 2182, "IpRanges": [{"CidrIp": "10.77.5.0/24",
                                                                             "Description": "admins"}]}])
    assert added["Return"] is True and len(added["SecurityGroupRules"]) == 2
    with pytest.raises(ClientError) as err:        # the same rule again, through the aws CLI's flat form
        ec2.authorize_security_group_ingress(GroupId=brokers, IpProtocol="tcp", FromPort=2181, ToPort=2182,
                                             CidrIp="10.77.5.0/24")
    assert _code(err) == "InvalidPermission.Duplicate"
    for perm, code in (({"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
                        "InvalidParameterValue"),
                       ({"IpProtocol": "tcp", "FromPort": 9, "ToPort": 70000, "IpRanges": [{"CidrIp": "1.2.3.4/32"}]},
                        "InvalidParameterValue"),
                       ({"IpProtocol": "tcp", "FromPort": 9, "ToPort": 9,
                         "UserIdGroupPairs": [{"GroupId": "sg-0000000000000000a"}]}, "InvalidGroup.NotFound")):
        with pytest.raises(ClientError) as err:
            ec2.authorize_security_group_ingress(GroupId=brokers, IpPermissions=[perm])
        assert _code(err) == code, perm
    view = ec2.describe_security_groups(GroupIds=[brokers])["SecurityGroups"][0]
    by_port = {p["FromPort"]: p for p in view["IpPermissions"]}
    assert by_port[9092]["UserIdGroupPairs"][0]["GroupId"] == clients
    assert by_port[2181]["IpRanges"] == [{"CidrIp": "10.77.5.0/24", "Description": "admins"}]
    assert ec2.describe_security_groups(Filters=[{"Name": "ip-permission.group-id", "Values": [clients]}]
                                        )["SecurityGroups"][0]["GroupId"] == brokers
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [brokers]}])["SecurityGroupRules"]
    zk = next(r for r in rules if r.get("CidrIpv4") == "10.77.5.0/24")
    ec2.modify_security_group_rules(GroupId=brokers, SecurityGroupRules=[{
        "SecurityGroupRuleId": zk["SecurityGroupRuleId"],
        "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 2182, "ToPort": 2182, "CidrIpv4": "10.77.6.0/24"}}])
    zk = ec2.describe_security_group_rules(SecurityGroupRuleIds=[zk["SecurityGroupRuleId"]])["SecurityGroupRules"][0]
    assert (zk["FromPort"], zk["CidrIpv4"]) == (2182, "10.77.6.0/24")
    with pytest.raises(ClientError) as err:        # referenced by brokers' rule
        ec2.delete_security_group(GroupId=clients)
    assert _code(err) == "DependencyViolation"
    with pytest.raises(ClientError) as err:
        ec2.revoke_security_group_ingress(GroupId=brokers, IpPermissions=[
            {"IpProtocol": "udp", "FromPort": 1, "ToPort": 1, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    assert _code(err) == "InvalidPermission.NotFound"
    revoked = ec2.revoke_security_group_ingress(GroupId=brokers, SecurityGroupRuleIds=[zk["SecurityGroupRuleId"]])
    assert revoked["Return"] is True
    default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                    {"Name": "group-name", "Values": ["default"]}])
    with pytest.raises(ClientError) as err:
        ec2.delete_security_group(GroupId=default["SecurityGroups"][0]["GroupId"])
    assert _code(err) == "CannotDelete"
    # EC2's XML error shape, as the aws CLI prints it
    result = service.aws("ec2", "delete-security-group", "--group-id", "sg-0000000000000000b")
    assert result.returncode != 0 and "(InvalidGroup.NotFound)" in result.stderr


def test_create_cluster_placement_rules(service, ec2, vpc):
    kafka = service.client("kafka")
    own = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.77.{10 + i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
           for i, zone in enumerate(("us-east-1a", "us-east-1b"))]
    other_group = ec2.create_security_group(GroupName="elsewhere", Description="x", VpcId=vpc)["GroupId"]
    default = service.default_subnets(3)
    request = {"ClusterName": "refused", "KafkaVersion": "3.9.x", "NumberOfBrokerNodes": 2}
    for info, message in (({"ClientSubnets": [default[0], own[1]]}, "must all be in one VPC"),
                          ({"ClientSubnets": default[:2], "SecurityGroups": [other_group]}, "not in the client subnets' VPC")):
        with pytest.raises(kafka.exceptions.BadRequestException) as err:
            kafka.create_cluster(**request, BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large", **info})
        assert message in err.value.response["Error"]["Message"]
    assert all(c["ClusterName"] != "refused" for c in kafka.list_clusters()["ClusterInfoList"])
