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
from dataclasses import replace
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
    account_id = principal.get("Account", account_id)         # the principal's own account
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
    """Identity policies + an optional resource policy of the resource's account `account_id`. Same account:
    union of Allows; a principal of another account (principal["Account"]): both must allow, as IAM's
    cross-account evaluation. Any explicit Deny wins."""
    identity = evaluate(principal["Policies"], action, resource, context)
    if identity == DENY:
        return DENY
    own_account = principal.get("Account", account_id)
    by_resource = resource_policy_decision(resource_policy, principal["Arn"], own_account, action, resource, context)
    if by_resource == DENY:
        return DENY
    if own_account != account_id:
        return ALLOW if identity == ALLOW and by_resource == ALLOW else IMPLICIT_DENY
    return ALLOW if ALLOW in (identity, by_resource) else IMPLICIT_DENY


def denial_message(principal_arn: str, action: str, resource: str, decision: str, cross_account: bool = False) -> str:
    if decision == DENY:
        why = "with an explicit deny in an identity-based policy"
    elif cross_account:
        why = "because no resource-based policy allows the " + action + " action"
    else:
        why = "because no identity-based policy allows the " + action + " action"
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
        # IAM and STS act on the caller's own account (another account's administrator manages its own
        # identities); every other service's resources belong to the installation's account.
        account, lookups = self.iam.account_id, self.lookups
        own = principal.get("Account", account)
        if ctx.service in ("iam", "sts") and own != account:
            backend = self.iam.backend(own)
            account = own
            lookups = replace(lookups, iam_arn=lambda kind, name: (
                backend.user(name) if kind == "user" else backend.role(name))["Arn"])
        target = request_target(ctx.service, ctx.operation_name, params or {}, ctx.region, account, lookups)
        if target.action in ALWAYS_ALLOWED:
            return
        context = {**request_context(principal, account, ctx.region, ctx.source_ip), **target.context}
        for resource in target.resources:
            policy = self.resource_policy(resource) if resource != "*" else None
            # sts:AssumeRole: the role's trust policy is its resource policy, checked by the STS provider
            decision = decide(principal, own if target.action == "sts:AssumeRole" else account, target.action,
                              resource, context, policy)
            if decision != ALLOW:
                raise access_denied(ctx, denial_message(principal["Arn"], target.action, resource, decision,
                                                        cross_account=own != account))

    def caller(self, key_id: str) -> dict | None:
        """{"Arn", "UserId"} of a caller (None: the installation's administrator key)."""
        if key_id == self.admin_key_id:
            return None
        return self.iam.principal(key_id)
