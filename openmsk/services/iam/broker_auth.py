"""MSK IAM on the data plane, the control plane's half: the brokers' plugin (plugins/msk-iam) asks here, over
a loopback channel authenticated with the installation's channel token, because secret keys and policies
live here and never on a broker.

``POST /_openmsk/v1/msk-iam/authenticate`` {cluster_arn, mechanism, auth, server_host?}
  AWS_MSK_IAM: ``auth`` is aws-msk-iam-auth's JSON payload (a SigV4 presigned GET for
  ``Action=kafka-cluster:Connect`` on the broker's host, keys lower-cased); OAUTHBEARER: ``auth`` is the
  base64url presigned URL aws-msk-iam-sasl-signer makes (host ``kafka.<region>.amazonaws.com``,
  ``User-Agent`` appended after signing). Checked: version/action, algorithm, service ``kafka-cluster``,
  the cluster's region, the signature (payload hash ``UNSIGNED-PAYLOAD`` as botocore presigns, or the
  empty-body hash as the Java SDK's presigner), the date (not older than ``X-Amz-Expires`` <= 900 s, not
  more than 5 minutes ahead), an active key or unexpired session with its session token, and
  ``kafka-cluster:Connect`` on the cluster. -> {principal (IAM ARN), expires_ms, request_id} or
  {error: "[<request id>]: Access denied"} (the reason goes to openmsk's log only).
``POST /_openmsk/v1/msk-iam/authorize`` {cluster_arn, principal, client_ip, checks: [{type, operation, name}]}
  Kafka's (resource type, operation) -> MSK's ``kafka-cluster:`` action on the cluster / topic / group /
  transactional-id ARN, evaluated with the principal's current policies and the cluster policy.
  -> {allowed: [bool], ttl_ms} (the broker caches decisions that long).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import time
import uuid
from typing import Callable
from urllib.parse import parse_qsl, quote, urlsplit

from .authorizer import decide, request_context
from .backend import IamBackend, token_matches
from .evaluator import ALLOW

log = logging.getLogger("openmsk.iam.brokers")

CACHE_TTL_MS = 2000
MAX_EXPIRES = 900
CLOCK_SKEW = 300
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

#: (Kafka resource type, Kafka operation) -> MSK's IAM action (MSK developer guide, "IAM access control").
ACTIONS = {
    ("CLUSTER", "DESCRIBE"): "DescribeCluster", ("CLUSTER", "ALTER"): "AlterCluster",
    ("CLUSTER", "DESCRIBE_CONFIGS"): "DescribeClusterDynamicConfiguration",
    ("CLUSTER", "ALTER_CONFIGS"): "AlterClusterDynamicConfiguration",
    ("CLUSTER", "IDEMPOTENT_WRITE"): "WriteDataIdempotently", ("CLUSTER", "CREATE"): "CreateTopic",
    ("TOPIC", "READ"): "ReadData", ("TOPIC", "WRITE"): "WriteData", ("TOPIC", "DESCRIBE"): "DescribeTopic",
    ("TOPIC", "CREATE"): "CreateTopic", ("TOPIC", "DELETE"): "DeleteTopic", ("TOPIC", "ALTER"): "AlterTopic",
    ("TOPIC", "DESCRIBE_CONFIGS"): "DescribeTopicDynamicConfiguration",
    ("TOPIC", "ALTER_CONFIGS"): "AlterTopicDynamicConfiguration",
    ("GROUP", "READ"): "AlterGroup", ("GROUP", "DESCRIBE"): "DescribeGroup", ("GROUP", "DELETE"): "DeleteGroup",
    ("TRANSACTIONAL_ID", "DESCRIBE"): "DescribeTransactionalId",
    ("TRANSACTIONAL_ID", "WRITE"): "AlterTransactionalId",
}
ARN_KIND = {"TOPIC": "topic", "GROUP": "group", "TRANSACTIONAL_ID": "transactional-id"}


class Refused(Exception):
    """Why a SASL exchange is refused (logged, never sent: the client sees MSK's "Access denied")."""


def resource_arn(cluster_arn: str, kafka_type: str, name: str) -> str:
    if kafka_type == "CLUSTER":
        return cluster_arn
    return cluster_arn.replace(":cluster/", f":{ARN_KIND[kafka_type]}/", 1) + "/" + name


def kafka_action(kafka_type: str, operation: str) -> str | None:
    action = ACTIONS.get((kafka_type, operation))
    return f"kafka-cluster:{action}" if action else None


def _parse_payload(mechanism: str, auth: str) -> tuple[str, dict[str, str], str]:
    """-> (signed host, query parameters as signed, signature)."""
    if mechanism == "AWS_MSK_IAM":
        try:
            doc = json.loads(auth)
        except ValueError:
            raise Refused("the AWS_MSK_IAM payload is not JSON")
        if not isinstance(doc, dict) or doc.get("version") != "2020_10_22":
            raise Refused(f"unsupported payload version {doc.get('version') if isinstance(doc, dict) else None!r}")
        names = {"action": "Action", "x-amz-algorithm": "X-Amz-Algorithm", "x-amz-credential": "X-Amz-Credential",
                 "x-amz-date": "X-Amz-Date", "x-amz-expires": "X-Amz-Expires",
                 "x-amz-signedheaders": "X-Amz-SignedHeaders", "x-amz-security-token": "X-Amz-Security-Token"}
        params = {signed: str(doc[key]) for key, signed in names.items() if doc.get(key) is not None}
        return str(doc.get("host") or ""), params, str(doc.get("x-amz-signature") or "")
    if mechanism == "OAUTHBEARER":
        try:
            url = base64.urlsafe_b64decode(auth + "=" * (-len(auth) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            raise Refused("the OAUTHBEARER token is not base64url")
        parts = urlsplit(url)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        params.pop("User-Agent", None)            # appended by the signer after signing
        signature = params.pop("X-Amz-Signature", "")
        if parts.scheme != "https" or parts.path not in ("", "/"):
            raise Refused("the OAUTHBEARER token is not a presigned https URL")
        return parts.netloc, params, signature
    raise Refused(f"unknown mechanism {mechanism!r}")


def _sign(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def presigned_signature(secret: str, host: str, params: dict[str, str], payload_hash: str) -> str:
    """SigV4 of ``GET https://<host>/?<params>`` with only ``host`` signed (a presigned URL)."""
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params.items()))
    canonical = "\n".join(["GET", "/", query, f"host:{host}", "", "host", payload_hash])
    date, region, service, _ = params["X-Amz-Credential"].split("/")[1:]
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", params["X-Amz-Date"], scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _sign(_sign(_sign(_sign(f"AWS4{secret}".encode(), date), region), service), "aws4_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class BrokerAuth:
    def __init__(self, iam: IamBackend, admin_key_id: str, admin_secret: Callable[[str], str | None],
                 load_cluster: Callable[[str], dict | None], cluster_policy: Callable[[str], dict | None],
                 channel_token: str, clock: Callable[[], float] = time.time) -> None:
        self.iam, self.admin_key_id, self.admin_secret, self.clock = iam, admin_key_id, admin_secret, clock
        self.load_cluster, self.cluster_policy, self.channel_token = load_cluster, cluster_policy, channel_token
        self.root_arn = f"arn:aws:iam::{iam.account_id}:root"

    def routes(self) -> list[tuple[str, str, Callable[[dict], tuple[int, dict]]]]:
        return [("POST", "/_openmsk/v1/msk-iam/authenticate", self.authenticate),
                ("POST", "/_openmsk/v1/msk-iam/authorize", self.authorize)]

    # -- authentication ----------------------------------------------------------------------------
    def authenticate(self, body: dict) -> tuple[int, dict]:
        request_id = str(uuid.uuid4())
        try:
            return 200, {**self._verify(body), "request_id": request_id}
        except Refused as why:
            log.info("MSK IAM authentication refused [%s] on %s: %s", request_id, body.get("cluster_arn"), why)
            return 200, {"error": f"[{request_id}]: Access denied"}

    def _verify(self, body: dict) -> dict:
        cluster = self.load_cluster(str(body.get("cluster_arn") or ""))
        if cluster is None:
            raise Refused("unknown cluster")
        mechanism = str(body.get("mechanism") or "")
        host, params, signature = _parse_payload(mechanism, str(body.get("auth") or ""))
        if params.get("Action") != "kafka-cluster:Connect":
            raise Refused(f"action {params.get('Action')!r} is not kafka-cluster:Connect")
        if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or params.get("X-Amz-SignedHeaders") != "host":
            raise Refused("only AWS4-HMAC-SHA256 with SignedHeaders=host is accepted")
        credential = params.get("X-Amz-Credential", "").split("/")
        if len(credential) != 5 or credential[3] != "kafka-cluster" or credential[4] != "aws4_request":
            raise Refused(f"bad credential scope {params.get('X-Amz-Credential')!r}")
        key_id, date, region = credential[0], credential[1], credential[2]
        if region != cluster["Region"]:
            raise Refused(f"signed for region {region}, the cluster is in {cluster['Region']}")
        if mechanism == "AWS_MSK_IAM" and body.get("server_host") and host != body["server_host"]:
            raise Refused(f"signed for host {host!r}, this broker is {body['server_host']!r}")
        try:
            signed_at = dt.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
            expires = int(params.get("X-Amz-Expires", "0"))
        except (KeyError, ValueError):
            raise Refused("bad X-Amz-Date / X-Amz-Expires")
        now = self.clock()
        if not params["X-Amz-Date"].startswith(date) or not 0 < expires <= MAX_EXPIRES:
            raise Refused("X-Amz-Date does not match the credential scope, or X-Amz-Expires is out of range")
        if signed_at.timestamp() + expires < now:
            raise Refused("the signature has expired")
        if signed_at.timestamp() > now + CLOCK_SKEW:
            raise Refused("the signature is dated in the future")
        admin = key_id == self.admin_key_id
        secret = self.admin_secret(key_id) if admin else self.iam.secret(key_id)
        if not secret:
            raise Refused(f"unknown, inactive or expired access key {key_id}")
        if not any(hmac.compare_digest(presigned_signature(secret, host, params, h), signature)
                   for h in ("UNSIGNED-PAYLOAD", EMPTY_SHA256)):
            raise Refused("signature mismatch")
        if admin:
            return {"principal": self.root_arn, "expires_ms": None}
        principal = self.iam.principal(key_id)
        if principal is None or not token_matches(principal, params.get("X-Amz-Security-Token")):
            raise Refused("the session token does not match")
        if not self._allowed(principal, cluster, "kafka-cluster:Connect", cluster["ClusterArn"], body.get("client_ip")):
            raise Refused(f"{principal['Arn']} is not allowed kafka-cluster:Connect on {cluster['ClusterArn']}")
        expires_ms = int(principal["Expires"] * 1000) if principal.get("Expires") else None
        if mechanism == "OAUTHBEARER":    # the token's own life bounds the session; the client re-authenticates
            token_end = int((signed_at.timestamp() + expires) * 1000)
            expires_ms = min(expires_ms, token_end) if expires_ms else token_end
        return {"principal": principal["Arn"], "expires_ms": expires_ms}

    # -- authorization -----------------------------------------------------------------------------
    def _allowed(self, principal: dict, cluster: dict, action: str, resource: str, client_ip: str | None) -> bool:
        context = request_context(principal, self.iam.account_id, cluster["Region"], client_ip or "")
        context["aws:SecureTransport"] = True            # the IAM listener is TLS
        if resource == cluster["ClusterArn"]:
            # AWS's Service Authorization Reference gives kafka-cluster: actions one condition key,
            # aws:ResourceTag/${TagKey}, on the cluster resource only (topics and groups carry no tags).
            for key, value in (cluster.get("Tags") or {}).items():
                context[f"aws:ResourceTag/{key}"] = value
        return decide(principal, self.iam.account_id, action, resource, context,
                      self.cluster_policy(cluster["ClusterArn"])) == ALLOW

    def authorize(self, body: dict) -> tuple[int, dict]:
        checks = body.get("checks") or []
        cluster = self.load_cluster(str(body.get("cluster_arn") or ""))
        arn = str(body.get("principal") or "")
        if cluster is None:
            return 200, {"allowed": [False] * len(checks), "ttl_ms": CACHE_TTL_MS}
        if arn == self.root_arn:
            return 200, {"allowed": [True] * len(checks), "ttl_ms": CACHE_TTL_MS}
        principal = self.iam.principal_by_arn(arn)
        allowed = []
        for check in checks:
            kafka_type, operation = str(check.get("type")), str(check.get("operation"))
            action = kafka_action(kafka_type, operation)
            if principal is None or action is None:
                allowed.append(False)
                continue
            resource = resource_arn(cluster["ClusterArn"], kafka_type, str(check.get("name")))
            allowed.append(self._allowed(principal, cluster, action, resource, body.get("client_ip")))
        return 200, {"allowed": allowed, "ttl_ms": CACHE_TTL_MS}
