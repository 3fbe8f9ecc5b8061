"""SecretsManagerProvider: the `secretsmanager` subset MSK's SASL/SCRAM credentials come from.

Secrets live in ``control/secrets.py`` (encrypted under their KMS key); this module checks Secrets
Manager's request rules and maps the API onto the store. Rotation, replication and resource
policies are not offered: their operations answer NotImplemented from the gateway.
"""
from __future__ import annotations

from ...api.core import Provider, RequestContext, ServiceException, handler
from ..common import paginate
from ..errors import MapsBackendErrors
from .backend import SecretStore

FILTER_FIELDS = {
    "name": lambda s: [s["Name"]],
    "description": lambda s: [s.get("Description") or ""],
    "tag-key": lambda s: [t["Key"] for t in s.get("Tags") or []],
    "tag-value": lambda s: [t["Value"] for t in s.get("Tags") or []],
    "primary-region": lambda s: [],
    "owning-service": lambda s: [],
}


def _value(request: dict):
    """SecretString or SecretBinary (not both), None if neither."""
    if request.get("SecretString") is not None and request.get("SecretBinary") is not None:
        raise ServiceException("InvalidParameterException", "You can't specify both a binary secret value and a "
                                                            "string secret value in the same secret.")
    return request["SecretString"] if request.get("SecretString") is not None else request.get("SecretBinary")


def _matches(secret: dict, filters: list[dict]) -> bool:
    """Secrets Manager filters: prefix match per value ("!" negates), values ORed, filters ANDed."""
    for flt in filters or []:
        key = flt.get("Key")
        if key is None:         # optional in the model, required by the service
            raise ServiceException("ValidationException", "1 validation error detected: Value null at "
                                   "'filters.member.key' failed to satisfy constraint: Member must not be null")
        fields = ([v for f in FILTER_FIELDS.values() for v in f(secret)] if key == "all"
                  else FILTER_FIELDS.get(key, lambda s: [])(secret))
        hit = False
        for wanted in flt.get("Values") or []:
            negate = wanted.startswith("!")
            prefix = wanted[1:] if negate else wanted
            found = any(f.lower().startswith(prefix.lower()) for f in fields)
            if found != negate:
                hit = True
                break
        if not hit:
            return False
    return True


class SecretsManagerProvider(MapsBackendErrors, Provider):
    service_name = "secretsmanager"

    def __init__(self, secrets: SecretStore) -> None:
        self.secrets = secrets

    @handler("CreateSecret")
    async def create_secret(self, ctx: RequestContext, request: dict) -> dict:
        if request.get("AddReplicaRegions"):
            raise ServiceException("InvalidRequestException", "openmsk does not replicate secrets to other regions.")
        value = _value(request)
        return self.secrets.create(ctx.region, request["Name"], value=value,
                                   token=request.get("ClientRequestToken"), description=request.get("Description"),
                                   kms_key_id=request.get("KmsKeyId"), tags=request.get("Tags"))

    @handler("GetSecretValue")
    async def get_secret_value(self, ctx: RequestContext, request: dict) -> dict:
        return self.secrets.get_value(ctx.region, request["SecretId"], request.get("VersionId"),
                                      request.get("VersionStage"))

    @handler("PutSecretValue")
    async def put_secret_value(self, ctx: RequestContext, request: dict) -> dict:
        value = _value(request)
        if value is None:
            raise ServiceException("InvalidRequestException", "You must provide either SecretString or SecretBinary.")
        return self.secrets.put_value(ctx.region, request["SecretId"], value, request.get("ClientRequestToken"),
                                      request.get("VersionStages"))

    @handler("UpdateSecret")
    async def update_secret(self, ctx: RequestContext, request: dict) -> dict:
        value = _value(request)
        return self.secrets.update(ctx.region, request["SecretId"], value=value,
                                   token=request.get("ClientRequestToken"), description=request.get("Description"),
                                   kms_key_id=request.get("KmsKeyId"))

    @handler("DescribeSecret")
    async def describe_secret(self, ctx: RequestContext, request: dict) -> dict:
        return self.secrets.describe(ctx.region, request["SecretId"])

    @handler("ListSecrets")
    async def list_secrets(self, ctx: RequestContext, request: dict) -> dict:
        secrets = [s for s in self.secrets.secrets(ctx.region, bool(request.get("IncludePlannedDeletion")))
                   if _matches(s, request.get("Filters"))]
        sort_by = request.get("SortBy") or "created-date"
        key = {"created-date": lambda s: s["CreatedDate"], "name": lambda s: s["Name"],
               "last-accessed-date": lambda s: s.get("LastAccessedDate") or s["CreatedDate"],
               "last-changed-date": lambda s: s.get("LastChangedDate") or s["CreatedDate"]}.get(sort_by)
        if key is None:
            raise ServiceException("InvalidParameterException", f"Invalid SortBy value: {sort_by}")
        secrets.sort(key=key, reverse=(request.get("SortOrder") or "desc") == "desc")
        return paginate(secrets, request, "SecretList", default_max=100, bad_token=lambda t: ServiceException(
            "InvalidNextTokenException", "The NextToken value is invalid."))

    @handler("ListSecretVersionIds")
    async def list_secret_version_ids(self, ctx: RequestContext, request: dict) -> dict:
        described = self.secrets.describe(ctx.region, request["SecretId"])
        versions = self.secrets.versions(ctx.region, request["SecretId"], bool(request.get("IncludeDeprecated")))
        page = paginate(versions, request, "Versions", default_max=100, bad_token=lambda t: ServiceException(
            "InvalidNextTokenException", "The NextToken value is invalid."))
        return {**page, "ARN": described["ARN"], "Name": described["Name"]}

    @handler("DeleteSecret")
    async def delete_secret(self, ctx: RequestContext, request: dict) -> dict:
        return self.secrets.delete(ctx.region, request["SecretId"], request.get("RecoveryWindowInDays"),
                                   bool(request.get("ForceDeleteWithoutRecovery")))

    @handler("RestoreSecret")
    async def restore_secret(self, ctx: RequestContext, request: dict) -> dict:
        return self.secrets.restore(ctx.region, request["SecretId"])
