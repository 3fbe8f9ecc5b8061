"""KmsProvider: the `kms` subset MSK's SASL/SCRAM needs (customer keys to encrypt SCRAM secrets with),
plus the symmetric cryptographic operations, which are cheap once the keys are real.

Only SYMMETRIC_DEFAULT ENCRYPT_DECRYPT keys with AWS_KMS origin, single-region, exist; asking for
anything else is refused with UnsupportedOperationException rather than silently giving a different
key. Key policies are stored and returned nowhere: openmsk has one credential, so there is no one to
authorize against them. The key logic lives in ``backend.py``; this module maps the API onto it.
"""
from __future__ import annotations

import base64
import json
import os

from ...api.core import Provider, RequestContext, ServiceException, handler
from ..errors import MapsBackendErrors
from .backend import KeyStore

KEY_SPEC_BYTES = {"AES_256": 32, "AES_128": 16}


def _marker_page(items: list, request: dict, key: str, default_limit: int) -> dict:
    """KMS paging: Limit/Marker in, NextMarker + Truncated out (Truncated always present)."""
    start = 0
    marker = request.get("Marker")
    if marker:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(marker.encode()).decode())["offset"])
            if start < 0:
                raise ValueError
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise ServiceException("InvalidMarkerException", "Invalid marker") from None
    limit = request.get("Limit") or default_limit
    page = items[start:start + limit]
    result = {key: page, "Truncated": start + limit < len(items)}
    if result["Truncated"]:
        result["NextMarker"] = base64.urlsafe_b64encode(json.dumps({"offset": start + limit}).encode()).decode()
    return result


class KmsProvider(MapsBackendErrors, Provider):
    service_name = "kms"

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    # -- keys -----------------------------------------------------------------------------------
    @handler("CreateKey")
    async def create_key(self, ctx: RequestContext, request: dict) -> dict:
        spec = request.get("KeySpec") or request.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
        if request.get("KeySpec") and request.get("CustomerMasterKeySpec"):
            raise ServiceException("ValidationException", "You cannot specify KeySpec and CustomerMasterKeySpec "
                                                          "in the same request. CustomerMasterKeySpec is deprecated.")
        unsupported = [(name, value) for name, value, ok in (
            ("KeySpec", spec, "SYMMETRIC_DEFAULT"), ("KeyUsage", request.get("KeyUsage") or "ENCRYPT_DECRYPT",
                                                     "ENCRYPT_DECRYPT"),
            ("Origin", request.get("Origin") or "AWS_KMS", "AWS_KMS")) if value != ok]
        if request.get("MultiRegion"):
            unsupported.append(("MultiRegion", "true"))
        if request.get("CustomKeyStoreId") or request.get("XksKeyId"):
            unsupported.append(("CustomKeyStoreId", request.get("CustomKeyStoreId") or request.get("XksKeyId")))
        if unsupported:
            name, value = unsupported[0]
            raise ServiceException("UnsupportedOperationException",
                                   f"openmsk supports only symmetric single-region ENCRYPT_DECRYPT keys with "
                                   f"AWS_KMS origin; {name}={value} is not supported.")
        if request.get("Policy") is not None:
            try:
                json.loads(request["Policy"])
            except ValueError:
                raise ServiceException("MalformedPolicyDocumentException", "Policy is not valid JSON.") from None
        meta = self.keys.create_key(ctx.region, request.get("Description") or "", request.get("Tags"),
                                    policy=request.get("Policy"))
        return {"KeyMetadata": meta}

    @handler("DescribeKey")
    async def describe_key(self, ctx: RequestContext, request: dict) -> dict:
        return {"KeyMetadata": self.keys.describe(ctx.region, request["KeyId"])}

    @handler("ListKeys")
    async def list_keys(self, ctx: RequestContext, request: dict) -> dict:
        keys = [{"KeyId": k["KeyId"], "KeyArn": k["Arn"]} for k in self.keys.keys(ctx.region)]
        return _marker_page(keys, request, "Keys", 100)

    @handler("ListResourceTags")
    async def list_resource_tags(self, ctx: RequestContext, request: dict) -> dict:
        return _marker_page(self.keys.tags(ctx.region, request["KeyId"]), request, "Tags", 50)

    @handler("EnableKey")
    async def enable_key(self, ctx: RequestContext, request: dict) -> dict:
        self.keys.set_enabled(ctx.region, request["KeyId"], True)
        return {}

    @handler("DisableKey")
    async def disable_key(self, ctx: RequestContext, request: dict) -> dict:
        self.keys.set_enabled(ctx.region, request["KeyId"], False)
        return {}

    @handler("ScheduleKeyDeletion")
    async def schedule_key_deletion(self, ctx: RequestContext, request: dict) -> dict:
        days = request.get("PendingWindowInDays")
        meta = self.keys.schedule_deletion(ctx.region, request["KeyId"], 30 if days is None else days)
        return {"KeyId": meta["Arn"], "DeletionDate": meta["DeletionDate"], "KeyState": meta["KeyState"],
                "PendingWindowInDays": meta["PendingDeletionWindowInDays"]}

    @handler("CancelKeyDeletion")
    async def cancel_key_deletion(self, ctx: RequestContext, request: dict) -> dict:
        return {"KeyId": self.keys.cancel_deletion(ctx.region, request["KeyId"])["Arn"]}

    # -- aliases --------------------------------------------------------------------------------
    @handler("CreateAlias")
    async def create_alias(self, ctx: RequestContext, request: dict) -> dict:
        self.keys.create_alias(ctx.region, request["AliasName"], request["TargetKeyId"])
        return {}

    @handler("DeleteAlias")
    async def delete_alias(self, ctx: RequestContext, request: dict) -> dict:
        self.keys.delete_alias(ctx.region, request["AliasName"])
        return {}

    @handler("ListAliases")
    async def list_aliases(self, ctx: RequestContext, request: dict) -> dict:
        aliases = self.keys.aliases(ctx.region, request.get("KeyId"))
        return _marker_page(aliases, request, "Aliases", 50)

    # -- cryptography ---------------------------------------------------------------------------
    def _check_algorithm(self, request: dict) -> None:
        if (request.get("EncryptionAlgorithm") or "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
            raise ServiceException("InvalidKeyUsageException",
                                   f"The encryption algorithm {request['EncryptionAlgorithm']} is not supported "
                                   "by symmetric keys.")

    def _dry_run(self, request: dict) -> None:
        if request.get("DryRun"):
            raise ServiceException("DryRunOperationException",
                                   "The request would have succeeded, but the DryRun option is set.")

    @handler("Encrypt")
    async def encrypt(self, ctx: RequestContext, request: dict) -> dict:
        self._check_algorithm(request)
        meta = self.keys.describe(ctx.region, request["KeyId"])
        self._dry_run(request)
        blob = self.keys.encrypt(ctx.region, request["KeyId"], request["Plaintext"], request.get("EncryptionContext"))
        return {"CiphertextBlob": blob, "KeyId": meta["Arn"], "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}

    @handler("Decrypt")
    async def decrypt(self, ctx: RequestContext, request: dict) -> dict:
        self._check_algorithm(request)
        if request.get("Recipient"):
            raise ServiceException("UnsupportedOperationException", "openmsk does not support Recipient (Nitro "
                                                                    "Enclaves attestation).")
        if "CiphertextBlob" not in request:      # optional in the model (for Recipient), needed here
            raise ServiceException("ValidationException", "1 validation error detected: Value null at "
                                                          "'ciphertextBlob' failed to satisfy constraint: "
                                                          "Member must not be null")
        key_id, plaintext = self.keys.decrypt(ctx.region, request["CiphertextBlob"],
                                              request.get("EncryptionContext"), request.get("KeyId"))
        self._dry_run(request)
        return {"KeyId": self.keys.key_arn(ctx.region, key_id), "Plaintext": plaintext,
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}

    @handler("GenerateDataKey")
    async def generate_data_key(self, ctx: RequestContext, request: dict) -> dict:
        count, spec = request.get("NumberOfBytes"), request.get("KeySpec")
        if (count is None) == (spec is None):
            raise ServiceException("ValidationException", "Please specify either number of bytes or key spec.")
        if request.get("Recipient"):
            raise ServiceException("UnsupportedOperationException", "openmsk does not support Recipient (Nitro "
                                                                    "Enclaves attestation).")
        data_key = os.urandom(count if count is not None else KEY_SPEC_BYTES[spec])
        meta = self.keys.describe(ctx.region, request["KeyId"])
        self._dry_run(request)
        blob = self.keys.encrypt(ctx.region, request["KeyId"], data_key, request.get("EncryptionContext"))
        return {"CiphertextBlob": blob, "Plaintext": data_key, "KeyId": meta["Arn"]}
