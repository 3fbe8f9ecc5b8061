"""validate() vocabulary per service, and SigV4 verification edge cases."""
import datetime as dt

import pytest
from multidict import CIMultiDict

from openmsk.api import specs
from openmsk.api.core import ServiceException
from openmsk.api.sigv4 import AuthError, SigV4Verifier
from openmsk.api.validate import validate

from .helpers import ACCESS_KEY, SECRET_KEY, signed_request

KAFKA, EC2, CW, LOGS = (specs.load_service_model(n) for n in ("kafka", "ec2", "monitoring", "logs"))
BNGI = {"InstanceType": "kafka.m5.large", "ClientSubnets": ["s1", "s2"]}


def _err(model, op, params) -> ServiceException:
    with pytest.raises(ServiceException) as ei:
        validate(model.operation_model(op), params)
    assert ei.value.status_code == 400
    return ei.value


def test_kafka_missing_required():
    e = _err(KAFKA, "CreateCluster", {"BrokerNodeGroupInfo": BNGI, "KafkaVersion": "3.5.1", "NumberOfBrokerNodes": 3})
    assert e.code == "BadRequestException"
    assert e.message == 'Missing required parameter in input: "clusterName"'
    assert e.fields == {"InvalidParameter": "clusterName"}


def test_kafka_min_max_enum_type():
    base = {"ClusterName": "c", "BrokerNodeGroupInfo": BNGI, "KafkaVersion": "3.5.1", "NumberOfBrokerNodes": 3}
    e = _err(KAFKA, "CreateCluster", {**base, "NumberOfBrokerNodes": 0})
    assert e.message == "Invalid value for parameter numberOfBrokerNodes, value: 0, valid min value: 1"
    e = _err(KAFKA, "CreateCluster", {**base, "NumberOfBrokerNodes": 16})
    assert "valid max value: 15" in e.message and e.fields["InvalidParameter"] == "numberOfBrokerNodes"
    e = _err(KAFKA, "CreateCluster", {**base, "ClusterName": "x" * 65})
    assert "valid max length: 64" in e.message
    e = _err(KAFKA, "CreateCluster", {**base, "EnhancedMonitoring": "LOTS"})
    assert e.fields["InvalidParameter"] == "enhancedMonitoring" and "PER_BROKER" in e.message
    e = _err(KAFKA, "CreateCluster", {**base, "NumberOfBrokerNodes": "3"})
    assert e.message.startswith("Invalid type for parameter numberOfBrokerNodes")
    e = _err(KAFKA, "CreateCluster", {**base, "BrokerNodeGroupInfo": {"ClientSubnets": ["s"]}})
    assert e.fields["InvalidParameter"] == "brokerNodeGroupInfo.instanceType"
    validate(KAFKA.operation_model("CreateCluster"), base)


def test_other_vocabularies():
    assert _err(EC2, "CreateSecurityGroup", {"GroupName": "g"}).code == "MissingParameter"
    e = _err(EC2, "CreateSecurityGroup", {"GroupName": "g", "Description": 5})
    assert e.code == "InvalidParameterValue" and "GroupDescription" in e.message
    assert _err(CW, "GetMetricStatistics", {"Namespace": "n"}).code == "MissingRequiredParameterException"
    assert _err(LOGS, "CreateLogGroup", {}).code == "ValidationException"


def _headers(req):
    return CIMultiDict((k, v) for k, v in req.headers.items())


def test_sigv4_roundtrip_and_failures():
    secrets = {ACCESS_KEY: SECRET_KEY}
    v = SigV4Verifier(secrets.get)
    path = "/v1/clusters/arn%3Aaws%3Akafka%3Aus-east-1%3A1%3Acluster%2Fdemo%2Fx?tagKeys=a%20b&tagKeys=c"
    req = signed_request("http://127.0.0.1:9/" + path[1:], "kafka", "DELETE", b"", {})
    cred = v.verify("DELETE", path, _headers(req), b"")
    assert (cred.access_key_id, cred.region, cred.service) == (ACCESS_KEY, "us-east-1", "kafka")
    with pytest.raises(AuthError) as ei:
        v.verify("GET", path, _headers(req), b"")
    assert ei.value.code == "InvalidSignatureException" and ei.value.service == "kafka"
    bad = signed_request("http://127.0.0.1:9/x", "kafka", "GET", b"", {}, secret="wrong")
    with pytest.raises(AuthError) as ei:
        v.verify("GET", "/x", _headers(bad), b"")
    assert ei.value.message.startswith("The request signature we calculated does not match")
    with pytest.raises(AuthError) as ei:
        SigV4Verifier({}.get).verify("GET", "/x", _headers(bad), b"")
    assert ei.value.code == "UnrecognizedClientException"
    with pytest.raises(AuthError) as ei:
        v.verify("GET", "/x", CIMultiDict(), b"")
    assert ei.value.code == "MissingAuthenticationTokenException"
    late = SigV4Verifier(secrets.get, clock=lambda: dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=20))
    ok = signed_request("http://127.0.0.1:9/x", "kafka", "GET", b"", {})
    with pytest.raises(AuthError) as ei:
        late.verify("GET", "/x", _headers(ok), b"")
    assert ei.value.message.startswith("Signature expired:")


def test_sigv4_session_token_and_body():
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    body = b'{"Namespace":"AWS/Kafka"}'
    req = AWSRequest(method="POST", url="http://127.0.0.1:9/", data=body,
                     headers={"Host": "127.0.0.1:9", "X-Amz-Target": "GraniteServiceVersion20100801.ListMetrics",
                              "Content-Type": "application/x-amz-json-1.0"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, "tok"), "monitoring", "us-west-2").add_auth(req)
    cred = SigV4Verifier({ACCESS_KEY: SECRET_KEY}.get).verify("POST", "/", _headers(req), body)
    assert (cred.region, cred.service, cred.security_token) == ("us-west-2", "monitoring", "tok")
    with pytest.raises(AuthError):
        SigV4Verifier({ACCESS_KEY: SECRET_KEY}.get).verify("POST", "/", _headers(req), body + b" ")


def test_sigv4_fast_canonical_request_matches_botocore():
    """The verifier's own canonical request (the hot path) is byte-for-byte botocore's, on the shapes
    of request clients send: percent-encoded ARNs, dot segments, doubled slashes, repeated and
    unsorted query keys, header values with runs of spaces, bodies and x-amz-content-sha256."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from openmsk.api.sigv4 import canonical_request_fast

    paths = ["/", "", "/v1/clusters", "/v1/clusters/arn%3Aaws%3Akafka%3Aus-east-1%3A1%3Acluster%2Fc%2Fu-1",
             "/a/./b/../c//d/", "/~user/%7E/x y", "/v1/clusters?maxResults=5&nextToken=a%2Fb",
             "/?b=2&a=1&a=0&c&=x&&", "/path?X-Amz-Target=a.b&Action=List"]
    headers = [{"host": "127.0.0.1:9700", "x-amz-date": "20260101T000000Z"},
               {"host": "h", "x-amz-date": "20260101T000000Z", "content-type": "application/x-amz-json-1.1",
                "x-amz-target": "  Kafka.List   Clusters  ", "x-amz-content-sha256": "UNSIGNED-PAYLOAD"},
               {"host": "h:1", "x-amz-date": "20260101T000000Z", "user-agent": "boto3", "x-amz-security-token": "t"}]
    for path in paths:
        for hdrs in headers:
            for body in (b"", b'{"a": 1}'):
                url = "http://" + hdrs["host"] + path
                req = AWSRequest(method="post", url=url, headers=dict(hdrs), data=body)
                req.context["timestamp"] = hdrs["x-amz-date"]
                signer = SigV4Auth(Credentials("AK", "SK"), "kafka", "us-east-1")
                expected = (signer.signed_headers(signer.headers_to_sign(req)), signer.canonical_request(req))
                assert canonical_request_fast("post", url, hdrs, body) == expected, (path, hdrs, body)
    # Non-ASCII takes botocore's own path.
    assert canonical_request_fast("GET", "http://h/é", {"host": "h"}, b"") is None
    assert canonical_request_fast("GET", "http://h/", {"host": "h", "x-a": "é"}, b"") is None
