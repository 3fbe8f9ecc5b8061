"""StsProvider: GetCallerIdentity and AssumeRole (query protocol).

AssumeRole checks the role's trust policy (Allow for sts:AssumeRole naming the caller, its account or
'*'; an explicit Deny wins) and, for a non-administrator caller, its own permission to sts:AssumeRole
(the gateway's authorizer has already checked that). The session's key id (ASIA...), secret and
token are usable until Expiration; after it the SigV4 lookup no longer knows the key.
"""
from __future__ import annotations

import json
import re

from ...api.core import Provider, RequestContext, ServiceException, handler
from ..errors import MapsBackendErrors
from ..iam.backend import IamBackend
from ..iam.evaluator import DENY, principal_matches, statements, statement_applies

_ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role(/(?:[\x21-\x7e]*/)?)?([\w+=,.@-]{1,64})$")
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")


class StsProvider(MapsBackendErrors, Provider):
    service_name = "sts"

    def __init__(self, iam: IamBackend, admin_key_id: str) -> None:
        self.iam, self.admin_key_id = iam, admin_key_id      # iam: IamAccounts (every account) or one IamBackend

    def _backend(self, account_id: str) -> IamBackend | None:
        if hasattr(self.iam, "backend"):
            return self.iam.backend(account_id)
        return self.iam if account_id == self.iam.account_id else None

    def _caller(self, ctx: RequestContext) -> dict:
        if ctx.access_key_id == self.admin_key_id:
            return {"Arn": f"arn:aws:iam::{self.iam.account_id}:root", "UserId": self.iam.account_id,
                    "Account": self.iam.account_id}
        principal = self.iam.principal(ctx.access_key_id)
        if principal is None:
            raise ServiceException("InvalidClientTokenId", "The security token included in the request is invalid.",
                                   status_code=403)
        return principal

    @handler("GetCallerIdentity")
    async def get_caller_identity(self, ctx: RequestContext, r: dict) -> dict:
        caller = self._caller(ctx)
        return {"UserId": caller["UserId"], "Account": caller.get("Account", self.iam.account_id), "Arn": caller["Arn"]}

    @handler("AssumeRole")
    async def assume_role(self, ctx: RequestContext, r: dict) -> dict:
        caller = self._caller(ctx)
        match = _ROLE_ARN.match(r["RoleArn"])
        if not match:
            raise ServiceException("ValidationError", f"{r['RoleArn']} is invalid")
        if not _SESSION_NAME.match(r["RoleSessionName"]):
            raise ServiceException("ValidationError", "1 validation error detected: Value at 'roleSessionName' failed "
                                                      "to satisfy constraint: Member must satisfy regular expression "
                                                      "pattern: [\\w+=,.@-]*")
        denied = ServiceException("AccessDenied", f"User: {caller['Arn']} is not authorized to perform: "
                                                  f"sts:AssumeRole on resource: {r['RoleArn']}", status_code=403)
        # the role may be in another account than the caller's: its trust policy decides (cross-account roles)
        backend = self._backend(match.group(1))
        role = backend.store.get("iam-role", match.group(3).lower()) if backend is not None else None
        if role is None or role["Arn"] != r["RoleArn"]:
            raise denied

        trusted = False
        for stmt in statements(json.loads(role["AssumeRolePolicyDocument"])):
            if not principal_matches(stmt, [caller["Arn"]], caller.get("Account", self.iam.account_id)):
                continue
            if not statement_applies({**stmt, "Resource": "*"}, "sts:AssumeRole", "*", {"aws:PrincipalArn": caller["Arn"]}):
                continue
            if stmt.get("Effect") == DENY:
                raise denied
            trusted = trusted or stmt.get("Effect") == "Allow"
        if not trusted:
            raise denied
        duration = r.get("DurationSeconds") or 3600
        if duration > role["MaxSessionDuration"]:
            raise ServiceException("ValidationError", f"The requested DurationSeconds exceeds the MaxSessionDuration "
                                                      f"set for this role.")
        creds = backend.create_session(role, r["RoleSessionName"], duration)
        return {"Credentials": {k: creds[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")},
                "AssumedRoleUser": {"AssumedRoleId": creds["AssumedRoleId"], "Arn": creds["Arn"]}}

    @handler("GetSessionToken")
    async def get_session_token(self, ctx: RequestContext, r: dict) -> dict:
        """A user's temporary credentials (900 s .. 36 h, default 12 h); a session may not mint another."""
        caller = self._caller(ctx)
        if "UserName" not in caller or caller.get("SessionTokenSha256"):
            raise ServiceException("AccessDenied", "Cannot call GetSessionToken with session credentials"
                                   if caller.get("SessionTokenSha256") else
                                   "openmsk: GetSessionToken needs an IAM user's access key", status_code=403)
        duration = r.get("DurationSeconds") or 43200
        if not 900 <= duration <= 129600:
            raise ServiceException("ValidationError", "1 validation error detected: Value at 'durationSeconds' "
                                   "failed to satisfy constraint: Member must have value between 900 and 129600")
        creds = self._backend(caller.get("Account", self.iam.account_id)).create_user_session(caller["UserName"], duration)
        return {"Credentials": {k: creds[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")}}
