"""kafka (rest-json) codec round trips with botocore as the oracle."""
import datetime as dt
import json

import pytest
from multidict import CIMultiDict

from openmsk.api import specs
from openmsk.api.core import ServiceException
from openmsk.api.protocols import rest_json

from .helpers import client_parse, client_request, roundtrip_output, server_parse

UTC = dt.timezone.utc
ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/demo-cluster-1/6357e0b2-0e6a-4b86-a0b4-70df934c2e31-5"
KAFKA = specs.load_service_model("kafka")


def test_create_cluster_nested_input():
    params = {
        "ClusterName": "demo",
        "KafkaVersion": "3.5.1",
        "NumberOfBrokerNodes": 3,
        "BrokerNodeGroupInfo": {
            "InstanceType": "kafka.m5.large",
            "ClientSubnets": ["subnet-1", "subnet-2", "subnet-3"],
            "SecurityGroups": ["sg-1"],
            "StorageInfo": {"EbsStorageInfo": {"VolumeSize": 100,
                                                "ProvisionedThroughput": {"Enabled": True, "VolumeThroughput": 250}}},
        },
        "EncryptionInfo": {
            "EncryptionAtRest": {"DataVolumeKMSKeyId": "arn:aws:kms:us-east-1:123456789012:key/abc"},
            "EncryptionInTransit": {"ClientBroker": "TLS", "InCluster": True},
        },
        "EnhancedMonitoring": "PER_BROKER",
        "Tags": {"team": "data", "env": "dev"},
    }
    method, raw, headers, body = client_request("kafka", "rest-json", "CreateCluster", params)
    assert (method, raw) == ("POST", "/v1/clusters")
    assert json.loads(body)["brokerNodeGroupInfo"]["storageInfo"]["ebsStorageInfo"]["volumeSize"] == 100
    assert server_parse("kafka", "rest-json", "CreateCluster", params) == params


def test_describe_cluster_arn_with_slash_and_colon():
    method, raw, _, _ = client_request("kafka", "rest-json", "DescribeCluster", {"ClusterArn": ARN})
    assert "%2F" in raw and "%3A" in raw
    assert server_parse("kafka", "rest-json", "DescribeCluster", {"ClusterArn": ARN}) == {"ClusterArn": ARN}


@pytest.mark.parametrize("op_name,params", [
    ("UntagResource", {"ResourceArn": ARN, "TagKeys": ["k1", "k 2", "a/b+c"]}),
    ("ListClusters", {"ClusterNameFilter": "a b/c+d~é", "MaxResults": 5, "NextToken": "t0"}),
    ("DeleteCluster", {"ClusterArn": ARN, "CurrentVersion": "K3AEGXETSR30VB"}),
    ("DescribeConfigurationRevision", {"Arn": ARN.replace("cluster/", "configuration/"), "Revision": 7}),
    ("UpdateBrokerCount", {"ClusterArn": ARN, "CurrentVersion": "K1", "TargetNumberOfBrokerNodes": 6}),
    ("RebootBroker", {"ClusterArn": ARN, "BrokerIds": ["1", "2"]}),
    ("DescribeClusterOperation", {"ClusterOperationArn": ARN.replace("cluster/", "cluster-operation/")}),
    ("GetCompatibleKafkaVersions", {"ClusterArn": ARN}),
    ("UpdateSecurity", {"ClusterArn": ARN, "CurrentVersion": "K1",
                        "ClientAuthentication": {"Sasl": {"Scram": {"Enabled": True}, "Iam": {"Enabled": True}}}}),
])
def test_input_roundtrip(op_name, params):
    assert server_parse("kafka", "rest-json", op_name, params) == params


def test_create_configuration_blob():
    props = b"auto.create.topics.enable=true\nnum.partitions=3\n\x00\xff"
    params = {"Name": "cfg1", "KafkaVersions": ["3.5.1"], "ServerProperties": props, "Description": "d"}
    assert server_parse("kafka", "rest-json", "CreateConfiguration", params) == params


def test_outputs_roundtrip():
    when = dt.datetime(2023, 1, 1, 23, 18, 0, 123000, tzinfo=UTC)
    info = {
        "ClusterArn": ARN, "ClusterName": "demo", "CreationTime": when, "State": "ACTIVE",
        "CurrentVersion": "K3AEGXETSR30VB", "NumberOfBrokerNodes": 3,
        "BrokerNodeGroupInfo": {"InstanceType": "kafka.m5.large", "ClientSubnets": ["s1", "s2"],
                                "StorageInfo": {"EbsStorageInfo": {"VolumeSize": 100}}},
        "CurrentBrokerSoftwareInfo": {"KafkaVersion": "3.5.1"},
        "Tags": {"a": "b"},
    }
    assert roundtrip_output("kafka", "rest-json", "DescribeCluster", {"ClusterInfo": info}) == {"ClusterInfo": info}
    listed = {"ClusterInfoList": [info], "NextToken": "t1"}
    assert roundtrip_output("kafka", "rest-json", "ListClusters", listed) == listed
    rev = {"Arn": "arn:cfg", "CreationTime": when, "Revision": 2, "ServerProperties": b"a=b\n"}
    assert roundtrip_output("kafka", "rest-json", "DescribeConfigurationRevision", rev) == rev
    nodes = {"NodeInfoList": [{"BrokerNodeInfo": {"BrokerId": 1.0, "ClientSubnet": "s1"},
                               "AddedToClusterTime": "2023-01-01T23:18:00.123Z", "NodeType": "BROKER"}]}
    assert roundtrip_output("kafka", "rest-json", "ListNodes", nodes) == nodes


def test_wire_timestamp_is_iso_with_millis():
    op = KAFKA.operation_model("DescribeConfiguration")
    when = dt.datetime(2023, 1, 1, 23, 18, tzinfo=UTC)
    _, _, body = rest_json.serialize_response(op, {"Arn": "a", "CreationTime": when})
    assert json.loads(body)["creationTime"] == "2023-01-01T23:18:00.000Z"


def test_tag_resource_is_204_empty():
    op = KAFKA.operation_model("TagResource")
    status, headers, body = rest_json.serialize_response(op, {}, "rid")
    assert (status, body) == (204, b"")
    assert headers["x-amzn-RequestId"] == "rid"


def test_error_body_and_header():
    exc = ServiceException("NotFoundException", "Cluster not found", InvalidParameter="clusterArn")
    status, headers, body = rest_json.serialize_error(KAFKA, None, exc, "rid")
    assert status == 404 and headers["x-amzn-ErrorType"] == "NotFoundException"
    assert json.loads(body) == {"message": "Cluster not found", "invalidParameter": "clusterArn"}
    parsed = client_parse("rest-json", None, status, headers, body, error=True)
    assert parsed["Error"]["Code"] == "NotFoundException"
    assert parsed["Error"]["Message"] == "Cluster not found"


def test_malformed_json_is_bad_request():
    with pytest.raises(ServiceException) as ei:
        rest_json.parse_request(KAFKA, "POST", "/v1/clusters", CIMultiDict(), b'{"clusterName": ')
    assert ei.value.code == "BadRequestException" and ei.value.status_code == 400


def test_unknown_route_is_404():
    with pytest.raises(ServiceException) as ei:
        rest_json.parse_request(KAFKA, "GET", "/v9/nothing", CIMultiDict(), b"")
    assert ei.value.status_code == 404


def test_string_for_int_is_kept_for_validation():
    _, params = rest_json.parse_request(KAFKA, "POST", "/v1/clusters", CIMultiDict(),
                                        b'{"numberOfBrokerNodes": "3", "unknownMember": 1, "tags": null}')
    assert params == {"NumberOfBrokerNodes": "3"}


def test_greedy_label_and_static_query():
    from botocore.model import ServiceModel
    model = ServiceModel({
        "metadata": {"protocol": "rest-json", "apiVersion": "2020-01-01", "endpointPrefix": "x",
                     "signatureVersion": "v4", "serviceId": "X"},
        "operations": {
            "GetObj": {"name": "GetObj", "http": {"method": "GET", "requestUri": "/b/{Key+}"},
                       "input": {"shape": "In"}},
            "GetAcl": {"name": "GetAcl", "http": {"method": "GET", "requestUri": "/b/{Key+}?acl"},
                       "input": {"shape": "In"}}},
        "shapes": {"In": {"type": "structure", "required": ["Key"],
                          "members": {"Key": {"shape": "S", "location": "uri", "locationName": "Key"}}},
                   "S": {"type": "string"}}}, service_name="x")
    op, params = rest_json.parse_request(model, "GET", "/b/a%2Fb/c%20d", CIMultiDict(), b"")
    assert (op.name, params) == ("GetObj", {"Key": "a/b/c d"})
    op, params = rest_json.parse_request(model, "GET", "/b/k?acl", CIMultiDict(), b"")
    assert (op.name, params) == ("GetAcl", {"Key": "k"})
