"""The gateway's ``authorize(ctx, params)`` hook: every API request evaluated against the caller's policies.

The installation's own key is the administrator and is not evaluated. Any other key is an IAM user's
access key or an STS session (the gateway's SigV4 lookup already refused unknown, inactive and expired
keys; a session acts with its role's policies). The action, resource ARN(s) and condition keys come from
``resources.request_target`` (AWS's Service Authorization Reference); every resource must be allowed.
A resource-based policy (an MSK cluster policy) is evaluated with the identity's policies, as IAM
does within one account: an Allow in either grants, an explicit Deny in either refuses. A refusal is
the service's own AccessDenied: AccessDeniedException (json / rest-json), AccessDenied (query,
rest-xml), UnauthorizedOperation (ec2) -- HTTP 403, with AWS's message.
"""
from __future__ import annotations

import datetime as dt
from typing import Callable

from ...api.core import RequestContext, ServiceException
from .backend import IamBackend, token_matches
from .evaluator import ALLOW, DENY, IMPLICIT_DENY, evaluate, principal_matches, statements, statement_applies
from .resources import Lookups, request_target

#: Allowed to every authenticated identity, as in AWS (they need no permission).
ALWAYS_ALLOWED = {"sts:GetCallerIdentity", "sts:GetSessionToken"}


def access_denied(ctx: RequestContext, message: str) -> ServiceException:
    if ctx.protocol in ("json", "rest-json"):
        code = "AccessDeniedException"
    elif ctx.protocol == "ec2":
        code = "UnauthorizedOperation"
    else:
        code = "AccessDenied"
    return ServiceException(code, message, status_code=403)


def resource_policy_decision(policy: dict | None, principal_arn: str, account_id: str, action: str,
                             resource: str, context: dict) -> str:
    """A resource-based policy's decision for one principal (statements whose Principal names it)."""
    if not policy:
        return IMPLICIT_DENY
    allowed = False
    for stmt in statements(policy):
        if not principal_matches(stmt, [principal_arn], account_id):
            continue
        if not statement_applies(stmt, action, resource, context):
            continue
        if stmt.get("Effect") == DENY:
            return DENY
        allowed = allowed or stmt.get("Effect") == ALLOW
    return ALLOW if allowed else IMPLICIT_DENY


def request_context(principal: dict, account_id: str, region: str, source_ip: str) -> dict:
    context = {"aws:PrincipalArn": principal["Arn"], "aws:userid": principal["UserId"],
               "aws:SecureTransport": False, "aws:RequestedRegion": region,
               "aws:CurrentTime": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "aws:EpochTime": str(int(dt.datetime.now(dt.timezone.utc).timestamp())),
               "aws:PrincipalAccount": account_id, "aws:PrincipalType":
                   "AssumedRole" if ":assumed-role/" in principal["Arn"] else "User"}
    if source_ip:
        context["aws:SourceIp"] = source_ip
    if "UserName" in principal:
        context["aws:username"] = principal["UserName"]
    return context


def decide(principal: dict, account_id: str, action: str, resource: str, context: dict,
           resource_policy: dict | None = None) -> str:
    """Identity policies + an optional resource policy (same account: union of Allows, any Deny wins)."""
    identity = evaluate(principal["Policies"], action, resource, context)
    if identity == DENY:
        return DENY
    by_resource = resource_policy_decision(resource_policy, principal["Arn"], account_id, action, resource, context)
    if by_resource == DENY:
        return DENY
    return ALLOW if ALLOW in (identity, by_resource) else IMPLICIT_DENY


def denial_message(principal_arn: str, action: str, resource: str, decision: str) -> str:
    why = "with an explicit deny in an identity-based policy" if decision == DENY else \
        "because no identity-based policy allows the " + action + " action"
    return f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource} {why}"


class Authorizer:
    def __init__(self, iam: IamBackend, admin_key_id: str, lookups: Lookups | None = None,
                 resource_policy: Callable[[str], dict | None] | None = None) -> None:
        self.iam, self.admin_key_id = iam, admin_key_id
        self.lookups = lookups or Lookups(iam_arn=self._iam_arn)
        self.resource_policy = resource_policy or (lambda arn: None)

    def _iam_arn(self, kind: str, name: str) -> str | None:
        return (self.iam.user(name) if kind == "user" else self.iam.role(name))["Arn"]

    def __call__(self, ctx: RequestContext, params: dict | None = None) -> None:
        if ctx.access_key_id == self.admin_key_id:
            return
        principal = self.iam.principal(ctx.access_key_id)
        if principal is None or not token_matches(principal, ctx.headers.get("X-Amz-Security-Token")):
            raise access_denied(ctx, "The security token included in the request is invalid.")
        target = request_target(ctx.service, ctx.operation_name, params or {}, ctx.region, self.iam.account_id,
                                self.lookups)
        if target.action in ALWAYS_ALLOWED:
            return
        context = {**request_context(principal, self.iam.account_id, ctx.region, ctx.source_ip), **target.context}
        for resource in target.resources:
            policy = self.resource_policy(resource) if resource != "*" else None
            decision = decide(principal, self.iam.account_id, target.action, resource, context, policy)
            if decision != ALLOW:
                raise access_denied(ctx, denial_message(principal["Arn"], target.action, resource, decision))

    def caller(self, key_id: str) -> dict | None:
        """{"Arn", "UserId"} of a caller (None: the installation's administrator key)."""
        if key_id == self.admin_key_id:
            return None
        return self.iam.principal(key_id)
