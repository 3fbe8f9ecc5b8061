"""Cluster policies (PutClusterPolicy, GetClusterPolicy, DeleteClusterPolicy): MSK's resource-based
policy on a cluster, stored per cluster with a version for optimistic concurrency.

The policy document is checked the way IAM checks a resource policy's grammar (JSON object, Version,
Statement list with Effect/Principal/Action/Resource, actions in the `kafka` or `kafka-cluster`
namespace). The authorizer evaluates it as the cluster's resource-based policy (services/iam/authorizer.py)
for `kafka:` API actions and the brokers' `kafka-cluster:` actions.
"""
from __future__ import annotations

import json
import re

from ...api.core import RequestContext, ServiceException, handler
from ...control import model
from .validation import bad_request, not_found

MAX_POLICY_CHARS = 20480
VERSIONS = ("2012-10-17", "2008-10-17")
STATEMENT_KEYS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource",
                  "Condition"}
PRINCIPAL_KEYS = {"AWS", "Service", "Federated", "CanonicalUser"}
ACTION = re.compile(r"^(\*|(kafka|kafka-cluster):[A-Za-z0-9*?]+)$")


class ClusterPolicyStore:
    """The service's own documents (kind `cluster-policy`, keyed by cluster ARN) in the store it is
    handed by the composition root."""
    KIND = "cluster-policy"

    def __init__(self, store) -> None:
        self.store = store

    def get(self, cluster_arn: str) -> dict | None:
        return self.store.get(self.KIND, cluster_arn)

    def put(self, cluster_arn: str, region: str, policy: str) -> str:
        version = model.new_current_version()
        self.store.put(self.KIND, cluster_arn, {"Policy": policy, "CurrentVersion": version, "Time": model.now_iso()},
                       region=region, parent=cluster_arn)
        return version

    def delete(self, cluster_arn: str) -> None:
        self.store.delete(self.KIND, cluster_arn)

    def policy_document(self, cluster_arn: str) -> dict | None:
        """The parsed policy, for IAM's evaluation as the cluster's resource-based policy."""
        doc = self.get(cluster_arn)
        return json.loads(doc["Policy"]) if doc else None


def _strings(value, what: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise bad_request(f"Invalid policy: {what} must be a non-empty string or list of strings.", "policy")
    return values


def _check_principal(principal, key: str) -> None:
    if principal == "*":
        return
    if not isinstance(principal, dict) or not principal or set(principal) - PRINCIPAL_KEYS:
        raise bad_request(f"Invalid policy: {key} must be \"*\" or an object with AWS, Service, Federated or "
                          "CanonicalUser.", "policy")
    for kind, value in principal.items():
        _strings(value, f"{key}.{kind}")


def _check_statement(statement, index: int) -> None:
    where = f"Statement[{index}]"
    if not isinstance(statement, dict):
        raise bad_request(f"Invalid policy: {where} must be an object.", "policy")
    unknown = sorted(set(statement) - STATEMENT_KEYS)
    if unknown:
        raise bad_request(f"Invalid policy: {where} has unknown element(s) {', '.join(unknown)}.", "policy")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise bad_request(f"Invalid policy: {where}.Effect must be Allow or Deny.", "policy")
    if ("Principal" in statement) == ("NotPrincipal" in statement):
        raise bad_request(f"Invalid policy: {where} needs exactly one of Principal and NotPrincipal "
                          "(a cluster policy is a resource-based policy).", "policy")
    key = "Principal" if "Principal" in statement else "NotPrincipal"
    _check_principal(statement[key], f"{where}.{key}")
    if ("Action" in statement) == ("NotAction" in statement):
        raise bad_request(f"Invalid policy: {where} needs exactly one of Action and NotAction.", "policy")
    key = "Action" if "Action" in statement else "NotAction"
    for action in _strings(statement[key], f"{where}.{key}"):
        if not ACTION.match(action):
            raise bad_request(f"Invalid policy: {where}.{key} \"{action}\" is not an action of Amazon MSK "
                              "(kafka:* or kafka-cluster:*).", "policy")
    for key in ("Resource", "NotResource"):
        if key in statement:
            for resource in _strings(statement[key], f"{where}.{key}"):
                if resource != "*" and not resource.startswith("arn:"):
                    raise bad_request(f"Invalid policy: {where}.{key} \"{resource}\" is not an ARN.", "policy")
    if "Condition" in statement and not isinstance(statement["Condition"], dict):
        raise bad_request(f"Invalid policy: {where}.Condition must be an object.", "policy")
    if "Sid" in statement and not isinstance(statement["Sid"], str):
        raise bad_request(f"Invalid policy: {where}.Sid must be a string.", "policy")


def check_policy(text: str) -> None:
    if len(text) > MAX_POLICY_CHARS:
        raise bad_request(f"Invalid policy: the policy has {len(text)} characters; at most {MAX_POLICY_CHARS} are "
                          "allowed.", "policy")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad_request(f"Invalid policy: the policy is not valid JSON ({exc.msg} at line {exc.lineno} column "
                          f"{exc.colno}).", "policy")
    if not isinstance(doc, dict):
        raise bad_request("Invalid policy: the policy must be a JSON object.", "policy")
    unknown = sorted(set(doc) - {"Version", "Id", "Statement"})
    if unknown:
        raise bad_request(f"Invalid policy: unknown element(s) {', '.join(unknown)}.", "policy")
    if "Version" in doc and doc["Version"] not in VERSIONS:
        raise bad_request(f"Invalid policy: Version must be one of {', '.join(VERSIONS)}.", "policy")
    statements = doc.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise bad_request("Invalid policy: Statement must be an object or a non-empty list of objects.", "policy")
    for index, statement in enumerate(statements):
        _check_statement(statement, index)


class PolicyHandlers:
    cluster_policies: ClusterPolicyStore | None = None   # handed in by the composition root

    def _policies(self) -> ClusterPolicyStore:
        if self.cluster_policies is None:
            raise ServiceException("ServiceUnavailableException", "Cluster policies are not available.", 503)
        return self.cluster_policies

    @handler("PutClusterPolicy")
    async def put_cluster_policy(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        check_policy(request["Policy"])
        existing = self._policies().get(cluster["ClusterArn"])
        given = request.get("CurrentVersion")
        if given is not None and (existing is None or given != existing["CurrentVersion"]):
            current = existing["CurrentVersion"] if existing else "none (the cluster has no policy)"
            raise bad_request(f"The current version {given} does not match the policy's version {current}.",
                              "currentVersion")
        version = self._policies().put(cluster["ClusterArn"], cluster["Region"], request["Policy"])
        return {"CurrentVersion": version}

    @handler("GetClusterPolicy")
    async def get_cluster_policy(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        existing = self._policies().get(cluster["ClusterArn"])
        if existing is None:
            raise not_found(f"The cluster {cluster['ClusterArn']} has no cluster policy.", "clusterArn")
        return {"CurrentVersion": existing["CurrentVersion"], "Policy": existing["Policy"]}

    @handler("DeleteClusterPolicy")
    async def delete_cluster_policy(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        if self._policies().get(cluster["ClusterArn"]) is None:
            raise not_found(f"The cluster {cluster['ClusterArn']} has no cluster policy.", "clusterArn")
        self._policies().delete(cluster["ClusterArn"])
        return {}
