"""ec2 protocol round trips with botocore as the oracle."""

import pytest
from multidict import CIMultiDict

from openmsk.api import specs
from openmsk.api.core import ServiceException
from openmsk.api.protocols import ec2

from .helpers import client_parse, client_request, roundtrip_output, server_parse

EC2 = specs.load_service_model("ec2")


def test_describe_subnets_filters():
    params = {"Filters": [{"Name": "vpc-id", "Values": ["vpc-1", "vpc-2"]},
                          {"Name": "tag:Name", "Values": ["a b"]}],
              "SubnetIds": ["subnet-0aaa", "subnet-0bbb"], "MaxResults": 5, "DryRun": False}
    _, _, _, body = client_request("ec2", "ec2", "DescribeSubnets", params)
    assert b"Filter.1.Value.2=vpc-2" in body and b"SubnetId.2=subnet-0bbb" in body
    assert server_parse("ec2", "ec2", "DescribeSubnets", params) == params


def test_security_group_inputs():
    params = {"GroupIds": ["sg-1", "sg-2"], "Filters": [{"Name": "vpc-id", "Values": ["vpc-1"]}]}
    assert server_parse("ec2", "ec2", "DescribeSecurityGroups", params) == params
    ingress = {"GroupId": "sg-1", "IpPermissions": [{
        "IpProtocol": "tcp", "FromPort": 9092, "ToPort": 9098,
        "IpRanges": [{"CidrIp": "10.0.0.0/16", "Description": "clients"}],
        "UserIdGroupPairs": [{"GroupId": "sg-2"}]}]}
    assert server_parse("ec2", "ec2", "AuthorizeSecurityGroupIngress", ingress) == ingress
    create = {"GroupName": "msk-sg", "Description": "MSK brokers", "VpcId": "vpc-1",
              "TagSpecifications": [{"ResourceType": "security-group", "Tags": [{"Key": "Name", "Value": "x"}]}]}
    assert server_parse("ec2", "ec2", "CreateSecurityGroup", create) == create


def test_outputs_roundtrip():
    subnets = {"Subnets": [{"SubnetId": "subnet-1", "State": "available", "VpcId": "vpc-1",
                            "CidrBlock": "10.0.1.0/24", "AvailableIpAddressCount": 251,
                            "AvailabilityZone": "us-east-1a", "AvailabilityZoneId": "use1-az1",
                            "DefaultForAz": False, "MapPublicIpOnLaunch": False,
                            "Ipv6CidrBlockAssociationSet": [],
                            "Tags": [{"Key": "Name", "Value": "a<b&c"}]}], "NextToken": "n1"}
    assert roundtrip_output("ec2", "ec2", "DescribeSubnets", subnets) == subnets
    groups = {"SecurityGroups": [{
        "OwnerId": "123456789012", "GroupId": "sg-1", "GroupName": "msk-sg", "Description": "MSK brokers",
        "VpcId": "vpc-1",
        "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 9092, "ToPort": 9098, "UserIdGroupPairs": [],
                           "IpRanges": [{"CidrIp": "10.0.0.0/16", "Description": "clients"}],
                           "Ipv6Ranges": [], "PrefixListIds": []}],
        "IpPermissionsEgress": [], "Tags": []}]}
    assert roundtrip_output("ec2", "ec2", "DescribeSecurityGroups", groups) == groups
    created = {"GroupId": "sg-9", "Tags": [{"Key": "k", "Value": "v"}]}
    assert roundtrip_output("ec2", "ec2", "CreateSecurityGroup", created) == created


def test_response_shape_and_request_id():
    op = EC2.operation_model("DescribeSubnets")
    status, headers, body = ec2.serialize_response(op, {"Subnets": []}, "rid-1")
    assert body.startswith(b'<?xml') and b'<DescribeSubnetsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">' in body
    assert b"<requestId>rid-1</requestId>" in body and b"<subnetSet></subnetSet>" in body
    hd = {"content-type": headers["Content-Type"]}
    parsed = __import__("botocore.parsers").parsers.create_parser("ec2").parse(
        {"status_code": 200, "headers": hd, "body": body}, op.output_shape)
    assert parsed["ResponseMetadata"]["RequestId"] == "rid-1"


def test_error_xml():
    exc = ServiceException("InvalidGroup.NotFound", "The security group 'sg-1' does not exist")
    status, headers, body = ec2.serialize_error(EC2, None, exc, "rid")
    assert status == 400 and b"<RequestID>rid</RequestID>" in body
    parsed = client_parse("ec2", None, status, headers, body, error=True)
    assert parsed["Error"] == {"Code": "InvalidGroup.NotFound",
                               "Message": "The security group 'sg-1' does not exist"}


def test_unknown_action():
    with pytest.raises(ServiceException) as ei:
        ec2.parse_request(EC2, "POST", "/", CIMultiDict(), b"Action=Nope&Version=2016-11-15")
    assert ei.value.code == "InvalidAction" and ei.value.status_code == 400
