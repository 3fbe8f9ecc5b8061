"""What an API request is authorized *on*: the IAM action, the resource ARN(s) and the request's condition
keys, as AWS's Service Authorization Reference defines them for the services openmsk serves.

``request_target(service, operation, params, region, account, lookups) -> Target``

* kafka: ``ClusterArn`` (cluster operations), ``Arn`` (configuration operations), ``ResourceArn``
  (tagging) name the resource; list/create operations are on ``*``. Tags in the request give
  ``aws:RequestTag/<key>`` and ``aws:TagKeys``; the named cluster's or configuration's tags give
  ``aws:ResourceTag/<key>`` (through ``lookups.resource_tags``).
* kms keys (``KeyId``, an alias resolved to its key), secrets (``SecretId``, a name resolved to its
  ARN), SNS topics, CloudWatch Logs groups/streams, S3 buckets/objects (with S3's own action names:
  ``ListObjectsV2`` is ``s3:ListBucket``), Firehose streams, CloudWatch alarms, ACM PCA authorities,
  IAM users/roles/policies and the role STS assumes.
Anything not named is ``*``. A lookup that fails (unknown key, secret, user) falls back to the ARN the
reference would have (the handler then answers NotFound, as AWS does after authorizing).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

#: SigV4 signing name -> IAM action prefix, where they differ.
ACTION_PREFIX = {"monitoring": "cloudwatch"}

#: S3 operations whose IAM action is not s3:<Operation>.
S3_ACTIONS = {
    "ListObjectsV2": "ListBucket", "ListObjects": "ListBucket", "HeadBucket": "ListBucket",
    "ListObjectVersions": "ListBucketVersions", "HeadObject": "GetObject", "DeleteObjects": "DeleteObject",
    "ListBuckets": "ListAllMyBuckets", "CopyObject": "PutObject", "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject", "CompleteMultipartUpload": "PutObject", "AbortMultipartUpload": "AbortMultipartUpload",
    "ListMultipartUploads": "ListBucketMultipartUploads", "ListParts": "ListMultipartUploadParts",
    "GetBucketLocation": "GetBucketLocation", "PutBucketPolicy": "PutBucketPolicy",
    "GetObjectTagging": "GetObjectTagging", "PutObjectTagging": "PutObjectTagging",
    "GetBucketTagging": "GetBucketTagging", "PutBucketTagging": "PutBucketTagging",
}
#: S3 operations whose resource is the bucket (the others with a Key are on the object).
S3_BUCKET_OPERATIONS = {"ListObjectsV2", "ListObjects", "HeadBucket", "ListObjectVersions", "DeleteObjects",
                        "CreateBucket", "DeleteBucket", "GetBucketLocation", "ListMultipartUploads",
                        "GetBucketTagging", "PutBucketTagging", "DeleteBucketTagging", "PutBucketPolicy",
                        "GetBucketPolicy", "DeleteBucketPolicy"}


@dataclass
class Lookups:
    """Resolvers app.py wires from the service backends (each may raise or return None: then the
    reference form of the ARN is used)."""
    kms_key_arn: Callable[[str, str], str | None] = lambda region, ref: None
    secret_arn: Callable[[str, str], str | None] = lambda region, ref: None
    iam_arn: Callable[[str, str], str | None] = lambda kind, name: None
    resource_tags: Callable[[str], dict | None] = lambda arn: None


@dataclass
class Target:
    action: str
    resources: list[str]
    context: dict = field(default_factory=dict)


def _safe(fn: Callable, *args) -> str | None:
    try:
        return fn(*args)
    except Exception:          # an unknown name: the handler reports it after authorization, as AWS
        return None


def _tags_of(params: dict) -> dict[str, str]:
    tags = params.get("Tags")
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    if isinstance(tags, list):      # [{"Key", "Value"}] (iam, kms uses TagKey/TagValue, sns Key/Value)
        out = {}
        for t in tags:
            if isinstance(t, dict):
                key = t.get("Key", t.get("TagKey"))
                if key is not None:
                    out[str(key)] = str(t.get("Value", t.get("TagValue", "")))
        return out
    return {}


def _kafka(op: str, p: dict, region: str, account: str) -> list[str]:
    for key in ("ClusterArn", "Arn", "ResourceArn"):
        if p.get(key):
            return [p[key]]
    if op == "DescribeClusterOperation" or op == "DescribeClusterOperationV2":
        return ["*"]
    return ["*"]


def _kafka_cluster(op: str, p: dict) -> list[str]:
    """MSK's data-plane actions (kafka-cluster:ReadData, DescribeGroup, ...; the web console's Kafka calls)
    on the cluster, topic or group ARN: arn:aws:kafka:<region>:<account>:topic/<cluster>/<uuid>/<topic>."""
    cluster = p.get("ClusterArn") or ""
    if ":cluster/" not in cluster:
        return ["*"]
    if "Group" in op and p.get("Group"):
        return [cluster.replace(":cluster/", ":group/", 1) + "/" + p["Group"]]
    if ("Topic" in op or op in ("ReadData", "WriteData")) and p.get("Topic"):
        return [cluster.replace(":cluster/", ":topic/", 1) + "/" + p["Topic"]]
    return [cluster]


def _kms(op: str, p: dict, region: str, account: str, lk: Lookups) -> list[str]:
    if op in ("CreateAlias", "DeleteAlias", "UpdateAlias"):
        alias = p.get("AliasName", "")
        out = [f"arn:aws:kms:{region}:{account}:{alias}"]
        target = p.get("TargetKeyId")
        if target:
            out.append(_safe(lk.kms_key_arn, region, target) or _kms_ref(target, region, account))
        return out
    ref = p.get("KeyId")
    if not ref:
        return ["*"]
    return [_safe(lk.kms_key_arn, region, ref) or _kms_ref(ref, region, account)]


def _kms_ref(ref: str, region: str, account: str) -> str:
    if ref.startswith("arn:"):
        return ref
    if ref.startswith("alias/"):
        return f"arn:aws:kms:{region}:{account}:{ref}"
    return f"arn:aws:kms:{region}:{account}:key/{ref}"


def _secretsmanager(op: str, p: dict, region: str, account: str, lk: Lookups) -> list[str]:
    ref = p.get("SecretId") or (p.get("Name") if op == "CreateSecret" else None)
    if not ref:
        return ["*"]
    if ref.startswith("arn:"):
        return [ref]
    found = _safe(lk.secret_arn, region, ref) if op != "CreateSecret" else None
    return [found or f"arn:aws:secretsmanager:{region}:{account}:secret:{ref}"]


def _sns(op: str, p: dict, region: str, account: str) -> list[str]:
    if p.get("TopicArn"):
        return [p["TopicArn"]]
    if op == "CreateTopic" and p.get("Name"):
        return [f"arn:aws:sns:{region}:{account}:{p['Name']}"]
    if p.get("ResourceArn"):
        return [p["ResourceArn"]]
    if p.get("SubscriptionArn"):        # a subscription is authorized on its topic
        return [p["SubscriptionArn"].rsplit(":", 1)[0]]
    return ["*"]


def _logs(op: str, p: dict, region: str, account: str) -> list[str]:
    group = p.get("logGroupName")
    if not group and p.get("logGroupIdentifier"):
        ident = p["logGroupIdentifier"]
        if ident.startswith("arn:"):
            return [ident]
        group = ident
    if not group:
        if p.get("resourceArn"):
            return [p["resourceArn"]]
        return ["*"]
    arn = f"arn:aws:logs:{region}:{account}:log-group:{group}"
    if p.get("logStreamName"):
        return [f"{arn}:log-stream:{p['logStreamName']}"]
    return [arn]


def _s3(op: str, p: dict) -> list[str]:
    bucket = p.get("Bucket")
    if not bucket:
        return ["*"]
    if p.get("Key") and op not in S3_BUCKET_OPERATIONS:
        return [f"arn:aws:s3:::{bucket}/{p['Key']}"]
    return [f"arn:aws:s3:::{bucket}"]


def _iam(op: str, p: dict, account: str, lk: Lookups) -> list[str]:
    if p.get("PolicyArn") and not p.get("UserName") and not p.get("RoleName"):
        return [p["PolicyArn"]]
    if op == "CreatePolicy" and p.get("PolicyName"):
        return [f"arn:aws:iam::{account}:policy{p.get('Path') or '/'}{p['PolicyName']}"]
    for param, kind in (("UserName", "user"), ("RoleName", "role")):
        name = p.get(param)
        if name:
            if op in ("CreateUser", "CreateRole"):
                return [f"arn:aws:iam::{account}:{kind}{p.get('Path') or '/'}{name}"]
            return [_safe(lk.iam_arn, kind, name) or f"arn:aws:iam::{account}:{kind}/{name}"]
    return ["*"]


def _firehose(op: str, p: dict, region: str, account: str) -> list[str]:
    name = p.get("DeliveryStreamName")
    if not name and p.get("DeliveryStreamARN"):
        return [p["DeliveryStreamARN"]]
    return [f"arn:aws:firehose:{region}:{account}:deliverystream/{name}"] if name else ["*"]


def _cloudwatch(op: str, p: dict, region: str, account: str) -> list[str]:
    names = p.get("AlarmNames") or ([p["AlarmName"]] if p.get("AlarmName") else [])
    if p.get("ResourceARN"):
        return [p["ResourceARN"]]
    return [f"arn:aws:cloudwatch:{region}:{account}:alarm:{n}" for n in names] or ["*"]


def request_target(service: str, op: str, params: dict, region: str, account: str,
                   lookups: Lookups | None = None) -> Target:
    lk = lookups or Lookups()
    p = params or {}
    prefix = ACTION_PREFIX.get(service, service)
    action = f"s3:{S3_ACTIONS.get(op, op)}" if service == "s3" else f"{prefix}:{op}"
    if service == "kafka":
        resources = _kafka(op, p, region, account)
    elif service == "kafka-cluster":
        resources = _kafka_cluster(op, p)
    elif service == "kms":
        resources = _kms(op, p, region, account, lk)
    elif service == "secretsmanager":
        resources = _secretsmanager(op, p, region, account, lk)
    elif service == "sns":
        resources = _sns(op, p, region, account)
    elif service == "logs":
        resources = _logs(op, p, region, account)
    elif service == "s3":
        resources = _s3(op, p)
    elif service == "iam":
        resources = _iam(op, p, account, lk)
    elif service == "sts" and p.get("RoleArn"):
        resources = [p["RoleArn"]]
    elif service == "firehose":
        resources = _firehose(op, p, region, account)
    elif service == "monitoring":
        resources = _cloudwatch(op, p, region, account)
    elif service == "acm-pca" and p.get("CertificateAuthorityArn"):
        resources = [p["CertificateAuthorityArn"]]
    else:
        resources = ["*"]
    context: dict = {}
    tags = _tags_of(p)
    if tags:
        context["aws:TagKeys"] = sorted(tags)
        for k, v in tags.items():
            context[f"aws:RequestTag/{k}"] = v
    if p.get("TagKeys") and isinstance(p["TagKeys"], list):     # UntagResource
        context["aws:TagKeys"] = [str(k) for k in p["TagKeys"]]
    if resources != ["*"]:
        for k, v in (_safe(lk.resource_tags, resources[0]) or {}).items():
            context[f"aws:ResourceTag/{k}"] = v
    return Target(action, resources, context)
