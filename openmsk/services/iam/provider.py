"""IamProvider: the `iam` API subset (query protocol) over IamBackend.

Policy documents come back URL-encoded, as IAM returns them (boto3 decodes them to dicts; the aws
CLI prints them decoded too). Paging: Marker/MaxItems with IsTruncated.
"""
from __future__ import annotations

from contextvars import ContextVar
from urllib.parse import quote

from ...api.core import Provider, RequestContext, ServiceException, handler
from ..errors import MapsBackendErrors
from .backend import ROLE, USER, IamBackend, as_datetime


def _encoded(document: str) -> str:
    return quote(document, safe="")


def _page(items: list, request: dict, key: str) -> dict:
    marker = request.get("Marker") or "0"
    if not marker.isdigit() or int(marker) > len(items):
        raise ServiceException("InvalidInput", "Invalid Marker.")
    start, size = int(marker), request.get("MaxItems") or 100
    out = {key: items[start:start + size], "IsTruncated": start + size < len(items)}
    if out["IsTruncated"]:
        out["Marker"] = str(start + size)
    return out


def _user(doc: dict, tags: bool = True) -> dict:
    out = {k: doc[k] for k in ("Path", "UserName", "UserId", "Arn")}
    out["CreateDate"] = as_datetime(doc["CreateDate"])
    if tags and doc.get("Tags"):
        out["Tags"] = doc["Tags"]
    return out


def _role(doc: dict) -> dict:
    out = {k: doc[k] for k in ("Path", "RoleName", "RoleId", "Arn", "MaxSessionDuration")}
    out["CreateDate"] = as_datetime(doc["CreateDate"])
    out["AssumeRolePolicyDocument"] = _encoded(doc["AssumeRolePolicyDocument"])
    if doc.get("Description"):
        out["Description"] = doc["Description"]
    if doc.get("Tags"):
        out["Tags"] = doc["Tags"]
    return out


def _key(doc: dict) -> dict:
    return {"UserName": doc["UserName"], "AccessKeyId": doc["AccessKeyId"], "Status": doc["Status"],
            "CreateDate": as_datetime(doc["CreateDate"])}


#: The IamBackend of the calling account, for the request being handled (IamProvider.dispatch_table).
_CALLER_BACKEND: ContextVar[IamBackend] = ContextVar("iam_caller_backend")


class IamProvider(MapsBackendErrors, Provider):
    """Every handler acts on the caller's own account's IAM: the installation's, or another account's when an
    identity of that account calls (services/iam/accounts.py; `accounts` is None with one account)."""
    service_name = "iam"

    def __init__(self, backend: IamBackend, accounts=None) -> None:
        self._home, self._accounts = backend, accounts

    @property
    def iam(self) -> IamBackend:
        return _CALLER_BACKEND.get(self._home)

    def dispatch_table(self) -> dict:
        def in_callers_account(fn):
            async def call(ctx: RequestContext, request: dict) -> dict:
                backend = self._accounts.backend_for_key(ctx.access_key_id) if self._accounts else self._home
                token = _CALLER_BACKEND.set(backend)
                try:
                    return await fn(ctx, request)
                finally:
                    _CALLER_BACKEND.reset(token)
            return call
        return {op: in_callers_account(fn) for op, fn in super().dispatch_table().items()}

    def _policy(self, doc: dict) -> dict:
        out = {k: doc[k] for k in ("PolicyName", "PolicyId", "Arn", "Path", "DefaultVersionId", "IsAttachable")}
        out.update(AttachmentCount=self.iam.attachment_count(doc["Arn"]), PermissionsBoundaryUsageCount=0,
                   CreateDate=as_datetime(doc["CreateDate"]), UpdateDate=as_datetime(doc["UpdateDate"]))
        if doc.get("Description"):
            out["Description"] = doc["Description"]
        if doc.get("Tags"):
            out["Tags"] = doc["Tags"]
        return out

    # -- users -----------------------------------------------------------------------------------
    @handler("CreateUser")
    async def create_user(self, ctx: RequestContext, r: dict) -> dict:
        return {"User": _user(self.iam.create_user(r["UserName"], r.get("Path"), r.get("Tags")))}

    @handler("GetUser")
    async def get_user(self, ctx: RequestContext, r: dict) -> dict:
        name = r.get("UserName")
        if not name:
            principal = self.iam.principal(ctx.access_key_id)
            if principal is None or "UserName" not in principal:
                raise ServiceException("ValidationError", "Must specify userName when calling with non-User "
                                                          "credentials")
            name = principal["UserName"]
        return {"User": _user(self.iam.user(name))}

    @handler("ListUsers")
    async def list_users(self, ctx: RequestContext, r: dict) -> dict:
        return _page([_user(u, tags=False) for u in self.iam.users(r.get("PathPrefix"))], r, "Users")

    @handler("DeleteUser")
    async def delete_user(self, ctx: RequestContext, r: dict) -> dict:
        self.iam.delete_user(r["UserName"])
        return {}

    @handler("TagUser")
    async def tag_user(self, ctx: RequestContext, r: dict) -> dict:
        self.iam.set_tags(USER, r["UserName"], r["Tags"])
        return {}

    @handler("UntagUser")
    async def untag_user(self, ctx: RequestContext, r: dict) -> dict:
        self.iam.remove_tags(USER, r["UserName"], r["TagKeys"])
        return {}

    @handler("ListUserTags")
    async def list_user_tags(self, ctx: RequestContext, r: dict) -> dict:
        return _page(self.iam.user(r["UserName"]).get("Tags", []), r, "Tags")

    # -- access keys -----------------------------------------------------------------------------
    def _user_name(self, ctx: RequestContext, r: dict) -> str:
        if r.get("UserName"):
            return r["UserName"]
        principal = self.iam.principal(ctx.access_key_id)
        if principal is None or "UserName" not in principal:
            raise ServiceException("ValidationError", "Must specify userName when calling with non-User credentials")
        return principal["UserName"]

    @handler("CreateAccessKey")
    async def create_access_key(self, ctx: RequestContext, r: dict) -> dict:
        doc, secret = self.iam.create_key(self._user_name(ctx, r))
        return {"AccessKey": {**_key(doc), "SecretAccessKey": secret}}

    @handler("ListAccessKeys")
    async def list_access_keys(self, ctx: RequestContext, r: dict) -> dict:
        name = self._user_name(ctx, r)
        self.iam.user(name)
        return _page([_key(k) for k in self.iam.keys(name)], r, "AccessKeyMetadata")

    @handler("UpdateAccessKey")
    async def update_access_key(self, ctx: RequestContext, r: dict) -> dict:
        self.iam.update_key(self._user_name(ctx, r), r["AccessKeyId"], r["Status"])
        return {}

    @handler("DeleteAccessKey")
    async def delete_access_key(self, ctx: RequestContext, r: dict) -> dict:
        self.iam.delete_key(self._user_name(ctx, r), r["AccessKeyId"])
        return {}

    # -- managed policies ------------------------------------------------------------------------
    @handler("CreatePolicy")
    async def create_policy(self, ctx: RequestContext, r: dict) -> dict:
        doc = self.iam.create_policy(r["PolicyName"], r.get("Path"), r["PolicyDocument"], r.get("Description"),
                                     r.get("Tags"))
        return {"Policy": self._policy(doc)}

    @handler("GetPolicy")
    async def get_policy(self, ctx: RequestContext, r: dict) -> dict:
        return {"Policy": self._policy(self.iam.policy(r["PolicyArn"]))}

    @handler("ListPolicies")
    async def list_policies(self, ctx: RequestContext, r: dict) -> dict:
        if r.get("Scope") == "AWS":
            return _page([], r, "Policies")
        docs = self.iam.policies()
        if r.get("OnlyAttached"):
            docs = [d for d in docs if self.iam.attachment_count(d["Arn"])]
        return _page([self._policy(d) for d in docs], r, "Policies")

    @handler("GetPolicyVersion")
    async def get_policy_version(self, ctx: RequestContext, r: dict) -> dict:
        doc = self.iam.policy(r["PolicyArn"])
        version = doc["Versions"].get(r["VersionId"])
        if version is None:
            raise ServiceException("NoSuchEntity", f"Policy {r['PolicyArn']} version {r['VersionId']} does not exist "
                                                   f"or is not attachable.")
        return {"PolicyVersion": {"Document": _encoded(version["Document"]), "VersionId": r["VersionId"],
                                  "IsDefaultVersion": r["VersionId"] == doc["DefaultVersionId"],
                                  "CreateDate": as_datetime(version["CreateDate"])}}

    @handler("CreatePolicyVersion")
    async def create_policy_version(self, ctx: RequestContext, r: dict) -> dict:
        v = self.iam.create_policy_version(r["PolicyArn"], r["PolicyDocument"], bool(r.get("SetAsDefault")))
        return {"PolicyVersion": {"VersionId": v["VersionId"], "IsDefaultVersion": v["IsDefaultVersion"],
                                  "CreateDate": as_datetime(v["CreateDate"])}}

    @handler("ListPolicyVersions")
    async def list_policy_versions(self, ctx: RequestContext, r: dict) -> dict:
        doc = self.iam.policy(r["PolicyArn"])
        items = [{"VersionId": vid, "IsDefaultVersion": vid == doc["DefaultVersionId"],
                  "CreateDate": as_datetime(v["CreateDate"])} for vid, v in doc["Versions"].items()]
        return _page(items[::-1], r, "Versions")

    @handler("DeletePolicyVersion")
    async def delete_policy_version(self, ctx: RequestContext, r: dict) -> dict:
        self.iam.delete_policy_version(r["PolicyArn"], r["VersionId"])
        return {}

    @handler("DeletePolicy")
    async def delete_policy(self, ctx: RequestContext, r: dict) -> dict:
        self.iam.delete_policy(r["PolicyArn"])
        return {}

    # -- attachments and inline policies ---------------------------------------------------------
    def _attached(self, kind: str, name: str, r: dict) -> dict:
        entity = self.iam.user(name) if kind == USER else self.iam.role(name)
        items = [{"PolicyName": arn.rsplit("/", 1)[-1], "PolicyArn": arn} for arn in entity["Attached"]]
        return _page(items, r, "AttachedPolicies")

    @handler("AttachUserPolicy")
    async def attach_user_policy(self, ctx, r):
        self.iam.attach(USER, r["UserName"], r["PolicyArn"])
        return {}

    @handler("DetachUserPolicy")
    async def detach_user_policy(self, ctx, r):
        self.iam.detach(USER, r["UserName"], r["PolicyArn"])
        return {}

    @handler("ListAttachedUserPolicies")
    async def list_attached_user_policies(self, ctx, r):
        return self._attached(USER, r["UserName"], r)

    @handler("PutUserPolicy")
    async def put_user_policy(self, ctx, r):
        self.iam.put_inline(USER, r["UserName"], r["PolicyName"], r["PolicyDocument"])
        return {}

    @handler("GetUserPolicy")
    async def get_user_policy(self, ctx, r):
        doc = self.iam.get_inline(USER, r["UserName"], r["PolicyName"])
        return {"UserName": self.iam.user(r["UserName"])["UserName"], "PolicyName": r["PolicyName"],
                "PolicyDocument": _encoded(doc)}

    @handler("DeleteUserPolicy")
    async def delete_user_policy(self, ctx, r):
        self.iam.delete_inline(USER, r["UserName"], r["PolicyName"])
        return {}

    @handler("ListUserPolicies")
    async def list_user_policies(self, ctx, r):
        return _page(sorted(self.iam.user(r["UserName"])["Inline"]), r, "PolicyNames")

    # -- roles -----------------------------------------------------------------------------------
    @handler("CreateRole")
    async def create_role(self, ctx, r):
        doc = self.iam.create_role(r["RoleName"], r.get("Path"), r["AssumeRolePolicyDocument"], r.get("Description"),
                                   r.get("MaxSessionDuration"), r.get("Tags"))
        return {"Role": _role(doc)}

    @handler("GetRole")
    async def get_role(self, ctx, r):
        return {"Role": _role(self.iam.role(r["RoleName"]))}

    @handler("DeleteRole")
    async def delete_role(self, ctx, r):
        self.iam.delete_role(r["RoleName"])
        return {}

    @handler("AttachRolePolicy")
    async def attach_role_policy(self, ctx, r):
        self.iam.attach(ROLE, r["RoleName"], r["PolicyArn"])
        return {}

    @handler("DetachRolePolicy")
    async def detach_role_policy(self, ctx, r):
        self.iam.detach(ROLE, r["RoleName"], r["PolicyArn"])
        return {}

    @handler("ListAttachedRolePolicies")
    async def list_attached_role_policies(self, ctx, r):
        return self._attached(ROLE, r["RoleName"], r)

    @handler("PutRolePolicy")
    async def put_role_policy(self, ctx, r):
        self.iam.put_inline(ROLE, r["RoleName"], r["PolicyName"], r["PolicyDocument"])
        return {}

    @handler("GetRolePolicy")
    async def get_role_policy(self, ctx, r):
        doc = self.iam.get_inline(ROLE, r["RoleName"], r["PolicyName"])
        return {"RoleName": self.iam.role(r["RoleName"])["RoleName"], "PolicyName": r["PolicyName"],
                "PolicyDocument": _encoded(doc)}

    @handler("DeleteRolePolicy")
    async def delete_role_policy(self, ctx, r):
        self.iam.delete_inline(ROLE, r["RoleName"], r["PolicyName"])
        return {}

    @handler("ListRoles")
    async def list_roles(self, ctx, r):
        return _page([_role(d) for d in self.iam.roles(r.get("PathPrefix"))], r, "Roles")

    @handler("ListRolePolicies")
    async def list_role_policies(self, ctx, r):
        return _page(sorted(self.iam.role(r["RoleName"])["Inline"]), r, "PolicyNames")

    @handler("UpdateAssumeRolePolicy")
    async def update_assume_role_policy(self, ctx, r):
        self.iam.update_trust(r["RoleName"], r["PolicyDocument"])
        return {}
