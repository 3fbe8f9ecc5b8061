"""CloudWatch (monitoring): awsJson 1.0 and legacy query round trips."""
import datetime as dt
import gzip
import json

import pytest
from multidict import CIMultiDict

from openmsk.api import specs
from openmsk.api.core import ServiceException
from openmsk.api.protocols import json_rpc, query

from .helpers import client_parse, client_request, roundtrip_output, server_parse

UTC = dt.timezone.utc
CW = specs.load_service_model("monitoring")
GMS = {"Namespace": "AWS/Kafka", "MetricName": "CpuUser",
       "Dimensions": [{"Name": "Cluster Name", "Value": "demo"}, {"Name": "Broker ID", "Value": "1"}],
       "StartTime": dt.datetime(2023, 1, 1, 23, 18, tzinfo=UTC),
       "EndTime": dt.datetime(2023, 1, 2, 0, 18, tzinfo=UTC),
       "Period": 300, "Statistics": ["Average", "Maximum"]}
PMD = {"Namespace": "AWS/Kafka", "MetricData": [
    {"MetricName": "BytesInPerSec", "Dimensions": [{"Name": "Cluster Name", "Value": "demo"}],
     "Timestamp": dt.datetime(2023, 1, 1, 23, 18, tzinfo=UTC), "Value": 10.5, "Unit": "Bytes/Second"},
    {"MetricName": "X", "Values": [1.0, 2.5], "Counts": [1.0, 2.0], "StorageResolution": 60}]}
DATAPOINTS = {"Label": "CpuUser", "Datapoints": [
    {"Timestamp": dt.datetime(2023, 1, 1, 23, 18, tzinfo=UTC), "Average": 12.5, "Maximum": 20.0, "Unit": "Percent"},
    {"Timestamp": dt.datetime(2023, 1, 1, 23, 23, 0, 123000, tzinfo=UTC), "Average": 1.0, "Unit": "Percent"}]}
ALARMS = {"MetricAlarms": [{"AlarmName": "msk-cpu-high", "ActionsEnabled": True, "OKActions": [],
                            "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:ops"],
                            "StateValue": "INSUFFICIENT_DATA",
                            "StateUpdatedTimestamp": dt.datetime(2023, 1, 1, 23, 18, tzinfo=UTC),
                            "Dimensions": [{"Name": "Cluster Name", "Value": "demo"}],
                            "Period": 300, "Threshold": 60.0, "ComparisonOperator": "GreaterThanThreshold"}],
          "CompositeAlarms": []}


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_inputs(protocol):
    assert server_parse("monitoring", protocol, "GetMetricStatistics", GMS) == GMS
    assert server_parse("monitoring", protocol, "PutMetricData", PMD) == PMD


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_outputs(protocol):
    assert roundtrip_output("monitoring", protocol, "GetMetricStatistics", DATAPOINTS) == DATAPOINTS
    assert roundtrip_output("monitoring", protocol, "DescribeAlarms", ALARMS) == ALARMS


def test_json_wire_details():
    _, raw, headers, body = client_request("monitoring", "json", "GetMetricStatistics", GMS)
    assert headers["X-Amz-Target"] == "GraniteServiceVersion20100801.GetMetricStatistics"
    op = CW.operation_model("GetMetricStatistics")
    status, h, out = json_rpc.serialize_response(op, DATAPOINTS)
    assert h["Content-Type"] == "application/x-amz-json-1.0"
    assert json.loads(out)["Datapoints"][0]["Timestamp"] == 1672615080


def test_json_gzip_body():
    _, raw, headers, body = client_request("monitoring", "json", "PutMetricData", PMD)
    headers["Content-Encoding"] = "gzip"
    op, params = json_rpc.parse_request(CW, "POST", raw, headers, gzip.compress(body))
    assert op.name == "PutMetricData" and params == PMD


def test_query_xml_shape():
    op = CW.operation_model("GetMetricStatistics")
    _, _, body = query.serialize_response(op, DATAPOINTS, "rid")
    assert body.startswith(b'<GetMetricStatisticsResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">'
                           b"<GetMetricStatisticsResult>")
    assert b"<Timestamp>2023-01-01T23:18:00Z</Timestamp>" in body and b"<member>" in body
    assert b"<ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata>" in body


@pytest.mark.parametrize("code", ["InvalidParameterValueException", "InvalidParameterValue"])
def test_json_error_query_compatible(code):
    exc = ServiceException(code, "The parameter Period must be a multiple of 60.")
    status, headers, body = json_rpc.serialize_error(CW, None, exc, "rid")
    assert status == 400
    assert headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
    assert json.loads(body)["__type"] == "InvalidParameterValueException"
    parsed = client_parse("json", None, status, headers, body, error=True)
    assert parsed["Error"]["Code"] == "InvalidParameterValue"
    assert parsed["Error"]["Message"] == "The parameter Period must be a multiple of 60."


def test_query_error():
    exc = ServiceException("ResourceNotFound", "no such alarm")
    status, headers, body = query.serialize_error(CW, None, exc, "rid")
    assert status == 404
    assert b"<Type>Sender</Type><Code>ResourceNotFound</Code>" in body
    parsed = client_parse("query", None, status, headers, body, error=True)
    assert parsed["Error"]["Code"] == "ResourceNotFound" and parsed["Error"]["Message"] == "no such alarm"


def test_logs_json_11():
    logs = specs.load_service_model("logs")
    params = {"logGroupName": "/aws/msk/demo", "logStreamName": "broker-1", "startTime": 1672615080000,
              "limit": 10, "startFromHead": True}
    assert server_parse("logs", "json", "GetLogEvents", params) == params
    out = {"events": [{"timestamp": 1672615080000, "message": "hello", "ingestionTime": 1672615080001}],
           "nextForwardToken": "f/1", "nextBackwardToken": "b/1"}
    assert roundtrip_output("logs", "json", "GetLogEvents", out) == out
    _, h, _ = json_rpc.serialize_response(logs.operation_model("GetLogEvents"), out)
    assert h["Content-Type"] == "application/x-amz-json-1.1"


def test_json_unknown_target_and_bad_json():
    with pytest.raises(ServiceException) as ei:
        json_rpc.parse_request(CW, "POST", "/", CIMultiDict({"X-Amz-Target": "Foo.Bar"}), b"{}")
    assert ei.value.code == "UnknownOperationException" and ei.value.status_code == 400
    hdr = CIMultiDict({"X-Amz-Target": "GraniteServiceVersion20100801.ListMetrics"})
    with pytest.raises(ServiceException) as ei:
        json_rpc.parse_request(CW, "POST", "/", hdr, b"[1,")
    assert ei.value.code == "SerializationException" and ei.value.status_code == 400
