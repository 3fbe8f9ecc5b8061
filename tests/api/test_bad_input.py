"""Malformed requests get a 4xx in the protocol's own error shape, never a 5xx; services and operations
openmsk does not serve answer in the caller's protocol so botocore shows a readable code."""
import gzip
import json
import math

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from openmsk.api.protocols._common import MAX_BODY

from .helpers import ACCESS_KEY, SECRET_KEY, signed_request
from .test_e2e_boto3 import send

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
JSON = {"Content-Type": "application/json"}
CW_PUT = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData"}
CW_GET = {"Content-Type": "application/x-amz-json-1.0",
          "X-Amz-Target": "GraniteServiceVersion20100801.GetMetricStatistics"}
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
CREATE = {"clusterName": "x", "kafkaVersion": "3.9.x", "numberOfBrokerNodes": 3,
          "brokerNodeGroupInfo": {"instanceType": "kafka.m5.large", "clientSubnets": ["a", "b"]}}


def call(server, service, method, path, body=b"", headers=None):
    return send(signed_request(server.url + path, service, method, body, headers or {}))


def metric(**over):
    return json.dumps({"Namespace": "a", "MetricData": [{"MetricName": "m", "Value": 1, **over}]}).encode()


CASES = [
    # (id, service, method, path, body, headers, status, error type)
    ("json-100k-deep-array", "kafka", "POST", "/v1/clusters", b"[" * 100_000 + b"]" * 100_000, JSON, 400,
     "BadRequestException"),
    ("json-100k-deep-object", "kafka", "POST", "/v1/clusters", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, JSON,
     400, "BadRequestException"),
    ("invalid-utf8", "kafka", "POST", "/v1/clusters", b'{"clusterName":"\xff\xfe"}', JSON, 400,
     "BadRequestException"),
    ("true-for-integer", "kafka", "POST", "/v1/clusters", json.dumps({**CREATE, "numberOfBrokerNodes": True}).encode(),
     JSON, 400, "BadRequestException"),
    ("duplicate-query-parameter", "kafka", "GET", "/v1/clusters?clusterNameFilter=a&clusterNameFilter=b", b"", {},
     400, "BadRequestException"),
    ("unknown-route", "kafka", "GET", "/v9/nothing", b"", {}, 404, "UnknownOperationException"),
    ("form-to-rest-json", "kafka", "POST", "/v1/clusters", b"clusterName=x", FORM, 400, "BadRequestException"),
    ("nan-timestamp", "monitoring", "POST", "/", metric(Timestamp=math.nan), CW_PUT, 400, "SerializationException"),
    ("1e20-timestamp", "monitoring", "POST", "/", metric(Timestamp=1e20), CW_PUT, 400, "SerializationException"),
    ("infinite-timestamp", "monitoring", "POST", "/", metric(Timestamp=math.inf), CW_PUT, 400,
     "SerializationException"),
    ("garbage-timestamp-string", "monitoring", "POST", "/",
     b'{"Namespace":"a","MetricName":"m","StartTime":"9999999999999999","EndTime":"x","Period":60}', CW_GET, 400,
     "SerializationException"),
    ("nan-value", "monitoring", "POST", "/", metric(Value=math.nan), CW_PUT, 400, "InvalidParameterValueException"),
    ("true-for-period", "monitoring", "POST", "/",
     b'{"Namespace":"a","MetricName":"m","StartTime":1,"EndTime":2,"Period":true,"Statistics":["Average"]}', CW_GET,
     400, "InvalidParameterValueException"),
    ("unknown-target", "monitoring", "POST", "/", b"{}",
     {**CW_GET, "X-Amz-Target": "GraniteServiceVersion20100801.Nope"}, 400, "UnknownOperationException"),
    ("gzip-bomb", "monitoring", "POST", "/", gzip.compress(b" " * (MAX_BODY + 10)), {**CW_PUT, "Content-Encoding": "gzip"},
     413, "RequestEntityTooLargeException"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_json_requests_are_4xx_in_protocol_shape(server, providers, case):
    _, service, method, path, body, headers, status, error_type = case
    calls = len(providers["kafka"].calls) + len(providers["monitoring"].calls)
    got, out_headers, out = call(server, service, method, path, body, headers)
    assert (got, out_headers.get("x-amzn-ErrorType")) == (status, error_type), out[:300]
    doc = json.loads(out)
    assert doc.get("message") or doc.get("Message")
    if service == "monitoring":
        assert doc["__type"] == error_type
    assert len(providers["kafka"].calls) + len(providers["monitoring"].calls) == calls, "a refused request reached a provider"


@pytest.mark.parametrize("body, code", [
    (b"Action=GetMetricStatistics&Version=2010-08-01&Namespace=a&MetricName=b&StartTime=1e20&EndTime=nan"
     b"&Period=60&Statistics.member.1=Average", "MalformedQueryString"),
    (b"Action=GetMetricStatistics&Version=2010-08-01&Namespace=a&Namespace=b&MetricName=b&StartTime=2020-01-01T00:00:00Z"
     b"&EndTime=2020-01-01T01:00:00Z&Period=60&Statistics.member.1=Average", "MalformedQueryString"),
    (b"Action=Nope&Version=2010-08-01", "InvalidAction"),
    (b"Action=ListMetrics&Version=2010-08-01&Namespace=\xff", "MalformedQueryString"),
], ids=["overflowing-timestamps", "duplicate-parameter", "unknown-action", "invalid-utf8"])
def test_malformed_query_requests_are_xml_4xx(server, body, code):
    status, headers, out = call(server, "monitoring", "POST", "/", body, FORM)
    assert status == 400 and headers["Content-Type"] == "text/xml", out
    assert f"<Code>{code}</Code>" in out.decode() and out.startswith(b"<ErrorResponse")


def test_ec2_bad_input_is_ec2_xml(server):
    for body in (b"Action=DescribeSubnets&Version=2016-11-15&SubnetId.1=a&SubnetId.1=b",
                 b"Version=2016-11-15", b'{"json": "to an ec2 endpoint"}'):
        status, headers, out = call(server, "ec2", "POST", "/", body, FORM)
        assert status == 400 and b"<Response><Errors><Error><Code>" in out, out


def test_body_over_the_limit_is_413_in_the_protocol_shape(server):
    big = b" " * (MAX_BODY + 1)
    status, headers, out = call(server, "kafka", "POST", "/v1/clusters", big, JSON)
    assert status == 413 and headers["x-amzn-ErrorType"] == "RequestEntityTooLargeException"
    assert "limit" in json.loads(out)["message"]
    status, headers, out = call(server, "monitoring", "POST", "/", b"Action=ListMetrics&Version=2010-08-01&" + big,
                                FORM)
    assert status == 413 and b"<Code>RequestEntityTooLarge</Code>" in out


def unserved_client(server, name, **kw):
    return boto3.client(name, endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=kw.pop("secret", SECRET_KEY), config=NO_RETRY)


@pytest.mark.parametrize("service, call_it, code", [
    ("dynamodb", lambda c: c.list_tables(), "UnknownServiceException"),                     # json 1.0
    ("sqs", lambda c: c.list_queues(), "UnknownServiceException"),                          # json (query-compatible)
    ("sns", lambda c: c.list_topics(), "InvalidAction"),                                     # query
    ("route53", lambda c: c.list_hosted_zones(), "InvalidAction"),                           # rest-xml
    ("lambda", lambda c: c.list_functions(), "UnknownServiceException"),                     # rest-json
])
def test_unserved_services_answer_in_the_callers_protocol(server, service, call_it, code):
    with pytest.raises(ClientError) as err:
        call_it(unserved_client(server, service))
    assert err.value.response["Error"]["Code"] == code
    assert f"Service {service} is not served by openmsk" in err.value.response["Error"]["Message"]
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize("service, call_it, code", [
    ("dynamodb", lambda c: c.list_tables(), "UnrecognizedClientException"),
    ("sns", lambda c: c.list_topics(), "InvalidClientTokenId"),
    ("route53", lambda c: c.list_hosted_zones(), "InvalidClientTokenId"),
])
def test_unserved_services_with_a_bad_key_are_403_readable(server, service, call_it, code):
    client = boto3.client(service, endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="AKIDUNKNOWN",
                          aws_secret_access_key="x", config=NO_RETRY)
    with pytest.raises(ClientError) as err:
        call_it(client)
    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
