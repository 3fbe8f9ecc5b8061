"""End to end over HTTP on 127.0.0.1: boto3 and hand-signed requests against the gateway."""
import datetime as dt
import json
import urllib.error
import urllib.request

import boto3
import pytest
from botocore import serialize
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.config import Config

from openmsk.api import specs

from .conftest import ARN, CREATED
from .helpers import ACCESS_KEY, SECRET_KEY, signed_request

UTC = dt.timezone.utc
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def client(server, name, secret=SECRET_KEY, **cfg):
    return boto3.client(name, endpoint_url=server.url, region_name="eu-west-1", aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=secret, config=cfg.pop("config", NO_RETRY))


def send(req):
    prepared = req.prepare()
    r = urllib.request.Request(prepared.url, data=prepared.body or None, method=prepared.method,
                               headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_health(server):
    with urllib.request.urlopen(server.url + "/_openmsk/health", timeout=5) as resp:
        assert json.loads(resp.read()) == {"status": "ok"}


def test_kafka_success(server, providers):
    kafka = client(server, "kafka")
    info = kafka.describe_cluster(ClusterArn=ARN)["ClusterInfo"]
    assert info["ClusterArn"] == ARN and info["CreationTime"] == CREATED
    assert [c["ClusterName"] for c in kafka.list_clusters(ClusterNameFilter="demo")["ClusterInfoList"]] == ["demo-cluster-1"]
    resp = kafka.tag_resource(ResourceArn=ARN, Tags={"team": "streaming"})
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert kafka.describe_cluster(ClusterArn=ARN)["ClusterInfo"]["Tags"]["team"] == "streaming"
    out = kafka.create_configuration(Name="cfg1", ServerProperties=b"num.partitions=3\n", KafkaVersions=["3.5.1"])
    assert out["Arn"].startswith("arn:aws:kafka:eu-west-1:123456789012:configuration/cfg1")
    assert providers["kafka"].calls[-1][1]["ServerProperties"] == b"num.partitions=3\n"


def test_kafka_errors(server):
    kafka = client(server, "kafka")
    with pytest.raises(kafka.exceptions.NotFoundException) as ei:
        kafka.describe_cluster(ClusterArn=ARN + "x")
    assert ei.value.response["InvalidParameter"] == "clusterArn"
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(kafka.exceptions.ForbiddenException) as ei:
        client(server, "kafka", secret="wrong").list_clusters()
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    unvalidated = client(server, "kafka", config=NO_RETRY.merge(Config(parameter_validation=False)))
    with pytest.raises(kafka.exceptions.BadRequestException) as ei:
        unvalidated.create_cluster(BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large", "ClientSubnets": ["s"]},
                                   KafkaVersion="3.5.1", NumberOfBrokerNodes=3)
    assert ei.value.response["Error"]["Message"] == 'Missing required parameter in input: "clusterName"'
    assert ei.value.response["InvalidParameter"] == "clusterName"
    with pytest.raises(kafka.exceptions.ClientError) as ei:
        kafka.describe_cluster_v2(ClusterArn=ARN)
    assert ei.value.response["Error"]["Code"] == "NotImplementedException"
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    with pytest.raises(kafka.exceptions.InternalServerErrorException):
        kafka.list_nodes(ClusterArn=ARN)


def test_kafka_malformed_json_and_unsigned(server):
    url = server.url + "/v1/clusters"
    status, headers, body = send(signed_request(url, "kafka", "POST", b'{"clusterName": "x",',
                                                {"Content-Type": "application/json"}))
    assert status == 400 and headers["x-amzn-ErrorType"] == "BadRequestException"
    assert "not valid JSON" in json.loads(body)["message"]
    status, headers, body = send(signed_request(url, "kafka", "POST", b'{"clusterName": 5, "numberOfBrokerNodes": "x"}',
                                                {"Content-Type": "application/json"}))
    assert status == 400 and headers["x-amzn-ErrorType"] == "BadRequestException"
    req = urllib.request.Request(server.url + "/v1/clusters/" + ARN.replace("/", "%2F"))
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(req, timeout=5)
    assert ei.value.code == 403 and ei.value.headers["x-amzn-ErrorType"] == "ForbiddenException"
    assert json.loads(ei.value.read())["message"] == "Missing Authentication Token"


def test_cloudwatch_json(server, providers):
    cw = client(server, "cloudwatch")
    start = dt.datetime(2023, 1, 1, 23, 18, tzinfo=UTC)
    out = cw.get_metric_statistics(Namespace="AWS/Kafka", MetricName="CpuUser", StartTime=start,
                                   EndTime=start + dt.timedelta(hours=1), Period=300, Statistics=["Average"],
                                   Dimensions=[{"Name": "Cluster Name", "Value": "demo"}])
    assert out["Datapoints"] == [{"Timestamp": start, "Average": 12.5, "Unit": "Percent"}]
    assert providers["monitoring"].calls[-1][1] == "json"
    with pytest.raises(cw.exceptions.InvalidParameterValueException) as ei:
        cw.get_metric_statistics(Namespace="AWS/Kafka", MetricName="CpuUser", StartTime=start, EndTime=start,
                                 Period=61, Statistics=["Average"])
    assert ei.value.response["Error"]["Code"] == "InvalidParameterValue"
    data = [{"MetricName": f"m{i}", "Value": float(i), "Timestamp": start,
             "Dimensions": [{"Name": "Cluster Name", "Value": "demo-" + "x" * 40}]} for i in range(200)]
    cw.put_metric_data(Namespace="AWS/Kafka", MetricData=data)          # > 10 KiB: botocore gzips it
    name, protocol, request = providers["monitoring"].calls[-1]
    assert name == "PutMetricData" and len(request["MetricData"]) == 200
    with pytest.raises(cw.exceptions.ClientError) as ei:
        client(server, "cloudwatch", secret="nope").list_metrics()
    assert ei.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_cloudwatch_query(server, providers):
    model = specs.load_service_model("monitoring")
    op = model.operation_model("GetMetricStatistics")
    start = dt.datetime(2023, 1, 1, 23, 18, tzinfo=UTC)
    params = {"Namespace": "AWS/Kafka", "MetricName": "CpuUser", "StartTime": start, "EndTime": start,
              "Period": 60, "Statistics": ["Average"], "Dimensions": [{"Name": "Broker ID", "Value": "1"}]}
    req_dict = serialize.create_serializer("query").serialize_to_request(params, op)
    prepare_request_dict(req_dict, endpoint_url=server.url)
    prepared = create_request_object(req_dict).prepare()
    req = signed_request(server.url + "/", "monitoring", "POST", prepared.body.encode(),
                         {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    status, headers, body = send(req)
    assert status == 200 and b"<GetMetricStatisticsResult>" in body
    assert b"<Timestamp>2023-01-01T23:18:00Z</Timestamp>" in body
    assert providers["monitoring"].calls[-1][1:] == ("query", params)
    req = signed_request(server.url + "/", "monitoring", "POST", b"Action=GetMetricStatistics&Version=2010-08-01",
                         {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    status, headers, body = send(req)
    assert status == 400 and b"<Code>MissingParameter</Code>" in body and b"<Type>Sender</Type>" in body


def test_ec2(server):
    ec2 = client(server, "ec2")
    out = ec2.describe_subnets(SubnetIds=["subnet-a", "subnet-b"], Filters=[{"Name": "vpc-id", "Values": ["vpc-1"]}])
    assert [s["SubnetId"] for s in out["Subnets"]] == ["subnet-a", "subnet-b"]
    assert out["Subnets"][0]["AvailabilityZone"] == "eu-west-1a"
    with pytest.raises(ec2.exceptions.ClientError) as ei:
        ec2.describe_subnets(SubnetIds=["subnet-missing"])
    assert ei.value.response["Error"]["Code"] == "InvalidSubnetID.NotFound"
    with pytest.raises(ec2.exceptions.ClientError) as ei:
        ec2.describe_vpcs()
    assert ei.value.response["Error"]["Code"] == "NotImplemented"
    with pytest.raises(ec2.exceptions.ClientError) as ei:
        client(server, "ec2", secret="nope").describe_subnets()
    assert ei.value.response["Error"]["Code"] == "AuthFailure"


def test_unsigned_json_and_unknown_service(server):
    req = urllib.request.Request(server.url + "/", data=b"{}", method="POST", headers={
        "X-Amz-Target": "GraniteServiceVersion20100801.ListMetrics", "Content-Type": "application/x-amz-json-1.0"})
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(req, timeout=5)
    assert ei.value.code == 403
    assert ei.value.headers["x-amzn-query-error"] == "MissingAuthenticationToken;Sender"
    assert json.loads(ei.value.read())["__type"] == "MissingAuthenticationToken"
    status, headers, body = send(signed_request(server.url + "/", "lambda", "GET", b"", {}))
    assert status == 400 and headers["x-amzn-ErrorType"] == "UnknownServiceException"
    status, headers, body = send(signed_request(server.url + "/2013-04-01/hostedzone", "route53", "GET", b"", {}))
    assert status == 400 and b"<Code>InvalidAction</Code>" in body      # rest-xml callers get XML
