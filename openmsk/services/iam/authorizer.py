"""The gateway's ``authorize(ctx)`` hook: every API request evaluated against the caller's policies.

The installation's own key is the administrator and is not evaluated. Any other key is an IAM user's
access key or an STS session (the gateway's SigV4 lookup already refused unknown, inactive and expired
keys). Action = ``<IAM prefix>:<Operation>`` (signing name ``monitoring`` -> ``cloudwatch``); the
resource is ``*`` (resource-level ARNs per operation are not modelled yet). A refusal is the
service's own AccessDenied: AccessDeniedException (json / rest-json), AccessDenied (query,
rest-xml), UnauthorizedOperation (ec2) -- HTTP 403.
"""
from __future__ import annotations

import datetime as dt

from ...api.core import RequestContext, ServiceException
from .backend import IamBackend, token_matches
from .evaluator import ALLOW, DENY, evaluate

#: SigV4 signing name -> IAM action prefix, where they differ.
ACTION_PREFIX = {"monitoring": "cloudwatch"}
#: Allowed to every authenticated identity, as in AWS (no policy can deny GetCallerIdentity).
ALWAYS_ALLOWED = {"sts:GetCallerIdentity"}


def access_denied(ctx: RequestContext, message: str) -> ServiceException:
    if ctx.protocol in ("json", "rest-json"):
        code = "AccessDeniedException"
    elif ctx.protocol == "ec2":
        code = "UnauthorizedOperation"
    else:
        code = "AccessDenied"
    return ServiceException(code, message, status_code=403)


class Authorizer:
    def __init__(self, iam: IamBackend, admin_key_id: str) -> None:
        self.iam, self.admin_key_id = iam, admin_key_id

    def __call__(self, ctx: RequestContext) -> None:
        if ctx.access_key_id == self.admin_key_id:
            return
        principal = self.iam.principal(ctx.access_key_id)
        if principal is None or not token_matches(principal, ctx.headers.get("X-Amz-Security-Token")):
            raise access_denied(ctx, "The security token included in the request is invalid.")
        action = f"{ACTION_PREFIX.get(ctx.service, ctx.service)}:{ctx.operation_name}"
        if action in ALWAYS_ALLOWED:
            return
        context = {"aws:PrincipalArn": principal["Arn"], "aws:userid": principal["UserId"],
                   "aws:SecureTransport": False, "aws:RequestedRegion": ctx.region,
                   "aws:CurrentTime": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   "aws:PrincipalAccount": self.iam.account_id}
        if ctx.source_ip:
            context["aws:SourceIp"] = ctx.source_ip
        if "UserName" in principal:
            context["aws:username"] = principal["UserName"]
        decision = evaluate(principal["Policies"], action, "*", context)
        if decision != ALLOW:
            why = "with an explicit deny in an identity-based policy" if decision == DENY else \
                "because no identity-based policy allows the " + action + " action"
            raise access_denied(ctx, f"User: {principal['Arn']} is not authorized to perform: {action} "
                                     f"on resource: * {why}")

    def caller(self, key_id: str) -> dict | None:
        """{"Arn", "UserId"} of a caller (None: the installation's administrator key)."""
        if key_id == self.admin_key_id:
            return None
        return self.iam.principal(key_id)
