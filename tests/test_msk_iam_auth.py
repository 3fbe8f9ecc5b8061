"""The control plane's half of MSK IAM on the data plane (services/iam/broker_auth.py), without brokers:
tokens made by AWS's own Python signer (aws-msk-iam-sasl-signer-python) and aws-msk-iam-auth-shaped
payloads verified against IAM users and sessions; kafka-cluster:* decisions on MSK's ARNs with the cluster
policy as a resource policy. (tests/test_msk_iam.py runs the same through real brokers and clients.)"""
import base64
import json
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
from botocore.credentials import CredentialProvider, Credentials

from openmsk.control.store import Store
from openmsk.services.iam.backend import IamBackend
from openmsk.services.iam.broker_auth import BrokerAuth, kafka_action, resource_arn

CLUSTER = "arn:aws:kafka:us-east-1:123456789012:cluster/demo/6357e0b2-0e6a-4b86-a0b4-70df934c2e31-1"
TOPIC_ARN = "arn:aws:kafka:us-east-1:123456789012:topic/demo/6357e0b2-0e6a-4b86-a0b4-70df934c2e31-1/orders"


class Static(CredentialProvider):
    def __init__(self, key, secret, token=None):
        self.creds = Credentials(key, secret, token)

    def load(self):
        return self.creds


def signer_token(key, secret, token=None, region="us-east-1") -> str:
    value, _expiry_ms = MSKAuthTokenProvider.generate_auth_token_from_credentials_provider(
        region, Static(key, secret, token))
    return value


def java_payload(oauth_token: str, host: str) -> str:
    """The AWS_MSK_IAM payload aws-msk-iam-auth sends, rebuilt from a presigned URL for `host`
    (lower-cased query keys + version, host, user-agent)."""
    url = base64.urlsafe_b64decode(oauth_token + "=" * (-len(oauth_token) % 4)).decode()
    params = {k.lower(): v for k, v in parse_qsl(urlsplit(url).query) if k != "User-Agent"}
    return json.dumps({**params, "version": "2020_10_22", "host": host, "user-agent": "aws-msk-iam-auth/2.3.2"})


@pytest.fixture
def env(tmp_path):
    iam = IamBackend(Store(tmp_path / "db.sqlite"), tmp_path, "123456789012")
    cluster = {"ClusterArn": CLUSTER, "Region": "us-east-1"}
    policies = {}
    auth = BrokerAuth(iam, "AKIAADMIN0000000000", {"AKIAADMIN0000000000": "admin-secret"}.get,
                      lambda arn: cluster if arn == CLUSTER else None, policies.get, "channel-token")

    def user(name, actions, resource="*"):
        iam.create_user(name, None, None)
        key, secret = iam.create_key(name)
        iam.put_inline("iam-user", name, "p", json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": [f"kafka-cluster:{a}" for a in actions], "Resource": resource}]}))
        return key["AccessKeyId"], secret
    return iam, auth, user, policies


def authn(auth, mechanism, token, **extra):
    return auth.authenticate({"cluster_arn": CLUSTER, "mechanism": mechanism, "auth": token, **extra})[1]


def test_signer_tokens_authenticate_the_user_and_nothing_else(env):
    iam, auth, user, _ = env
    key, secret = user("alice", ["Connect"])
    ok = authn(auth, "OAUTHBEARER", signer_token(key, secret))
    assert ok["principal"] == "arn:aws:iam::123456789012:user/alice"
    assert ok["expires_ms"] <= (time.time() + 900) * 1000          # the token's own 15 minutes
    # the same signature from the Java library's payload shape, signed for the broker's host
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    req = AWSRequest(method="GET", url="https://127.11.9.1/", params={"Action": "kafka-cluster:Connect"})
    SigV4QueryAuth(Credentials(key, secret), "kafka-cluster", "us-east-1", expires=900).add_auth(req)
    token = base64.urlsafe_b64encode(req.prepare().url.encode()).decode().rstrip("=")
    assert authn(auth, "AWS_MSK_IAM", java_payload(token, "127.11.9.1"), server_host="127.11.9.1")["principal"] \
        == "arn:aws:iam::123456789012:user/alice"
    # ... but not presented to another broker
    refused = authn(auth, "AWS_MSK_IAM", java_payload(token, "127.11.9.1"), server_host="127.12.9.2")
    assert refused["error"].endswith("]: Access denied") and "principal" not in refused
    # wrong secret, other region, tampered signature, admin key
    assert "error" in authn(auth, "OAUTHBEARER", signer_token(key, "x" * 40))
    assert "error" in authn(auth, "OAUTHBEARER", signer_token(key, secret, region="eu-west-1"))
    good = base64.urlsafe_b64decode(signer_token(key, secret) + "==").decode()
    tampered = good.replace("kafka-cluster%3AConnect", "kafka-cluster%3AConnecx")
    assert "error" in authn(auth, "OAUTHBEARER", base64.urlsafe_b64encode(tampered.encode()).decode())
    assert authn(auth, "OAUTHBEARER", signer_token("AKIAADMIN0000000000", "admin-secret"))["principal"] \
        == "arn:aws:iam::123456789012:root"
    # an inactive key is refused at once
    iam.update_key("alice", key, "Inactive")
    assert "error" in authn(auth, "OAUTHBEARER", signer_token(key, secret))


def test_expired_tokens_and_missing_connect_are_refused(env):
    iam, auth, user, _ = env
    key, secret = user("bob", ["DescribeTopic"])            # no kafka-cluster:Connect
    assert "error" in authn(auth, "OAUTHBEARER", signer_token(key, secret))
    key2, secret2 = user("carol", ["Connect"])
    token = signer_token(key2, secret2)
    auth.clock = lambda: time.time() + 901
    assert "error" in authn(auth, "OAUTHBEARER", token)
    auth.clock = time.time
    assert "principal" in authn(auth, "OAUTHBEARER", token)


def test_sessions_need_their_token_and_end_with_their_credentials(env):
    iam, auth, user, _ = env
    iam.create_role("app", None, json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "sts:AssumeRole"}]}), None, None, None)
    iam.put_inline("iam-role", "app", "p", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kafka-cluster:*", "Resource": "*"}]}))
    creds = iam.create_session(iam.role("app"), "s1", 900)
    ok = authn(auth, "OAUTHBEARER", signer_token(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]))
    assert ok["principal"] == "arn:aws:sts::123456789012:assumed-role/app/s1"
    assert "error" in authn(auth, "OAUTHBEARER", signer_token(creds["AccessKeyId"], creds["SecretAccessKey"], "forged"))
    assert auth.authorize({"cluster_arn": CLUSTER, "principal": ok["principal"],
                           "checks": [{"type": "TOPIC", "operation": "WRITE", "name": "t"}]})[1]["allowed"] == [True]


def test_kafka_operations_map_to_msk_actions_and_arns(env):
    iam, auth, user, policies = env
    assert kafka_action("TOPIC", "READ") == "kafka-cluster:ReadData"
    assert kafka_action("GROUP", "READ") == "kafka-cluster:AlterGroup"
    assert kafka_action("CLUSTER", "IDEMPOTENT_WRITE") == "kafka-cluster:WriteDataIdempotently"
    assert kafka_action("TRANSACTIONAL_ID", "WRITE") == "kafka-cluster:AlterTransactionalId"
    assert resource_arn(CLUSTER, "TOPIC", "orders") == TOPIC_ARN
    assert resource_arn(CLUSTER, "GROUP", "g").split(":")[5] == "group/demo/6357e0b2-0e6a-4b86-a0b4-70df934c2e31-1/g"
    user("reader", ["Connect", "DescribeTopic", "ReadData"], resource=[CLUSTER, TOPIC_ARN])
    checks = [{"type": "TOPIC", "operation": op, "name": name}
              for op, name in (("READ", "orders"), ("WRITE", "orders"), ("READ", "payments"), ("DESCRIBE", "orders"))]

    def decide(principal="arn:aws:iam::123456789012:user/reader"):
        return auth.authorize({"cluster_arn": CLUSTER, "principal": principal, "checks": checks})[1]["allowed"]
    assert decide() == [True, False, False, True]
    # the cluster policy is a resource policy: it grants, and its explicit Deny wins
    policies[CLUSTER] = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/reader"},
         "Action": "kafka-cluster:WriteData", "Resource": TOPIC_ARN},
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kafka-cluster:DescribeTopic", "Resource": "*"}]}
    assert decide() == [True, True, False, False]
    assert decide("arn:aws:iam::123456789012:user/nobody") == [False] * 4
    assert auth.authorize({"cluster_arn": CLUSTER, "principal": "arn:aws:iam::123456789012:root",
                           "checks": checks})[1]["allowed"] == [True] * 4
