"""KeyStore: the KMS keys of an installation -- metadata in the store, key material in 0600 files.

MSK refuses SCRAM secrets that are not encrypted with a customer-managed key, so the keys here are
real: each one is 256 bits of random AES key material in ``<data_dir>/kms/<key-id>.key`` (never in
the database, never logged), and ``encrypt`` is AES-256-GCM under it. A ciphertext blob names the
key that made it, as KMS's do, so ``decrypt`` needs no key id; the encryption context is bound as
associated data, so a blob only decrypts with the context it was made with. Losing or damaging a
key file makes everything encrypted under it undecryptable -- as losing a KMS key does.

The AWS-managed key behind ``alias/aws/secretsmanager`` is created the first time something asks
for it in a region (as KMS does on first use). Keys are regional: a key id from another region is
unknown. Metadata is stored as KMS's KeyMetadata with ISO-8601 timestamps; ``describe`` returns it
boto3-shaped (datetimes).

Errors are ``BackendError(code, message)`` (services/errors.py) with KMS's error shape names, so
callers outside the kms API (Secrets Manager) can map them to their own.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ...control.model import iso as _iso, parse_iso as _parse, utcnow as _now
from ...control.store import Store
from ...util import write_secret
from ..errors import BackendError

KIND_KEY, KIND_ALIAS = "kms-key", "kms-alias"
MAGIC = b"OMK1"                    # blob = MAGIC | len(key id) | key id | 12-byte nonce | GCM ciphertext+tag
NONCE_BYTES = 12
KEY_BYTES = 32
ALIAS_RE = re.compile(r"^alias/[a-zA-Z0-9/_-]+$")
KEY_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

#: Predefined aliases of AWS-managed keys openmsk creates on demand -> the key's description.
MANAGED_ALIASES = {
    "alias/aws/secretsmanager": "Default key that protects my Secrets Manager data when no other key is defined",
}


def _with_datetimes(doc: dict, fields: tuple[str, ...]) -> dict:
    out = dict(doc)
    for name in fields:
        if isinstance(out.get(name), str):
            out[name] = _parse(out[name])
    return out


def _context_aad(header: bytes, context: dict | None) -> bytes:
    return header + json.dumps(context or {}, sort_keys=True, separators=(",", ":")).encode()


class KeyStore:
    def __init__(self, store: Store, data_dir: Path, account_id: str) -> None:
        self.store = store
        self.key_dir = Path(data_dir) / "kms"
        self.account_id = account_id

    # -- identifiers --------------------------------------------------------------------------
    def key_arn(self, region: str, key_id: str) -> str:
        return f"arn:aws:kms:{region}:{self.account_id}:key/{key_id}"

    def alias_arn(self, region: str, alias_name: str) -> str:
        return f"arn:aws:kms:{region}:{self.account_id}:{alias_name}"

    def _material_path(self, key_id: str) -> Path:
        return self.key_dir / f"{key_id}.key"

    # -- keys ---------------------------------------------------------------------------------
    def create_key(self, region: str, description: str = "", tags: list[dict] | None = None, *,
                   policy: str | None = None, key_manager: str = "CUSTOMER") -> dict:
        """A new enabled SYMMETRIC_DEFAULT key with fresh material; returns its KeyMetadata."""
        key_id = str(uuid.uuid4())
        write_secret(self._material_path(key_id), os.urandom(KEY_BYTES))
        metadata = {
            "AWSAccountId": self.account_id, "KeyId": key_id, "Arn": self.key_arn(region, key_id),
            "CreationDate": _iso(_now()), "Enabled": True, "Description": description or "",
            "KeyUsage": "ENCRYPT_DECRYPT", "KeyState": "Enabled", "Origin": "AWS_KMS",
            "KeyManager": key_manager, "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "KeySpec": "SYMMETRIC_DEFAULT", "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"], "MultiRegion": False,
        }
        self.store.put(KIND_KEY, key_id, {"KeyMetadata": metadata, "Tags": list(tags or []), "Policy": policy},
                       region=region)
        return self._public(metadata)

    def describe(self, region: str, key_ref: str) -> dict:
        """KeyMetadata (datetimes) of a key given by id, key ARN, alias name or alias ARN."""
        return self._public(self._resolve(region, key_ref)["KeyMetadata"])

    def keys(self, region: str) -> list[dict]:
        return [self._public(doc["KeyMetadata"]) for doc in self.store.list(KIND_KEY, region=region)
                if self._purge_if_due(doc) is not None]

    def tags(self, region: str, key_ref: str) -> list[dict]:
        return list(self._resolve(region, key_ref).get("Tags") or [])

    def managed_key(self, region: str, alias_name: str = "alias/aws/secretsmanager") -> dict:
        """KeyMetadata of the AWS-managed key behind a predefined alias, created on first use."""
        return self.describe(region, alias_name)

    def set_enabled(self, region: str, key_ref: str, enabled: bool) -> dict:
        doc = self._resolve(region, key_ref)
        meta = doc["KeyMetadata"]
        self._refuse_managed(meta, "EnableKey" if enabled else "DisableKey")
        if meta["KeyState"] == "PendingDeletion":
            raise BackendError("KMSInvalidStateException", f"{meta['Arn']} is pending deletion.")
        meta.update(Enabled=enabled, KeyState="Enabled" if enabled else "Disabled")
        self._save(region, doc)
        return self._public(meta)

    def schedule_deletion(self, region: str, key_ref: str, days: int = 30) -> dict:
        doc = self._resolve(region, key_ref)
        meta = doc["KeyMetadata"]
        self._refuse_managed(meta, "ScheduleKeyDeletion")
        if not 7 <= days <= 30:
            raise BackendError("ValidationException", f"PendingWindowInDays value {days} is not valid. "
                                                  "It must be between 7 and 30 (inclusive).")
        if meta["KeyState"] == "PendingDeletion":
            raise BackendError("KMSInvalidStateException", f"{meta['Arn']} is pending deletion.")
        deletion = _now() + dt.timedelta(days=days)
        meta.update(Enabled=False, KeyState="PendingDeletion", DeletionDate=_iso(deletion),
                    PendingDeletionWindowInDays=days)
        self._save(region, doc)
        return self._public(meta)

    def cancel_deletion(self, region: str, key_ref: str) -> dict:
        """As KMS: the key comes back Disabled."""
        doc = self._resolve(region, key_ref)
        meta = doc["KeyMetadata"]
        if meta["KeyState"] != "PendingDeletion":
            raise BackendError("KMSInvalidStateException", f"{meta['Arn']} is not pending deletion.")
        meta.update(Enabled=False, KeyState="Disabled")
        meta.pop("DeletionDate", None)
        meta.pop("PendingDeletionWindowInDays", None)
        self._save(region, doc)
        return self._public(meta)

    # -- aliases ------------------------------------------------------------------------------
    def create_alias(self, region: str, alias_name: str, target_key_ref: str) -> dict:
        if not alias_name.startswith("alias/"):
            raise BackendError("InvalidAliasNameException", "Alias must start with the prefix \"alias/\".")
        if alias_name.startswith("alias/aws/"):
            raise BackendError("InvalidAliasNameException", "Alias names beginning with \"alias/aws/\" are reserved "
                                                        "for AWS managed keys.")
        if not ALIAS_RE.match(alias_name):
            raise BackendError("InvalidAliasNameException", f"Alias {alias_name} contains characters that are not "
                                                        "allowed: use letters, digits, /, _ and -.")
        if target_key_ref.startswith("alias/") or ":alias/" in target_key_ref:
            raise BackendError("ValidationException", "Aliases must refer to keys. Not aliases")
        arn = self.alias_arn(region, alias_name)
        if self.store.get(KIND_ALIAS, arn) is not None:
            raise BackendError("AlreadyExistsException", f"An alias with the name {arn} already exists")
        meta = self._resolve(region, target_key_ref)["KeyMetadata"]
        if meta["KeyState"] == "PendingDeletion":
            raise BackendError("KMSInvalidStateException", f"{meta['Arn']} is pending deletion.")
        return self._put_alias(region, alias_name, meta["KeyId"])

    def delete_alias(self, region: str, alias_name: str) -> None:
        if alias_name.startswith("alias/aws/"):
            raise BackendError("InvalidAliasNameException", "Alias names beginning with \"alias/aws/\" are reserved "
                                                        "for AWS managed keys.")
        arn = self.alias_arn(region, alias_name)
        if self.store.get(KIND_ALIAS, arn) is None:
            raise BackendError("NotFoundException", f"Alias {arn} is not found.")
        self.store.delete(KIND_ALIAS, arn)

    def aliases(self, region: str, key_ref: str | None = None) -> list[dict]:
        """AliasListEntry dicts (datetimes); only those of one key when ``key_ref`` is given."""
        key_id = self._resolve(region, key_ref)["KeyMetadata"]["KeyId"] if key_ref else None
        out = []
        for alias in self.store.list(KIND_ALIAS, region=region):
            if self.store.get(KIND_KEY, alias["TargetKeyId"]) is None:
                continue                                  # its key was deleted
            if key_id is None or alias["TargetKeyId"] == key_id:
                out.append(_with_datetimes(alias, ("CreationDate", "LastUpdatedDate")))
        return out

    def _put_alias(self, region: str, alias_name: str, key_id: str) -> dict:
        now = _iso(_now())
        alias = {"AliasName": alias_name, "AliasArn": self.alias_arn(region, alias_name), "TargetKeyId": key_id,
                 "CreationDate": now, "LastUpdatedDate": now}
        self.store.put(KIND_ALIAS, alias["AliasArn"], alias, region=region)
        return _with_datetimes(alias, ("CreationDate", "LastUpdatedDate"))

    # -- cryptography -------------------------------------------------------------------------
    def encrypt(self, region: str, key_ref: str, plaintext: bytes, context: dict | None = None) -> bytes:
        """AES-256-GCM under the key; the blob names the key; ``context`` is bound as associated data."""
        meta = self._usable(self._resolve(region, key_ref)["KeyMetadata"])
        key_id = meta["KeyId"].encode()
        header = MAGIC + bytes([len(key_id)]) + key_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._material(meta)).encrypt(nonce, plaintext, _context_aad(header, context))
        return header + nonce + sealed

    def decrypt(self, region: str, blob: bytes, context: dict | None = None,
                key_ref: str | None = None) -> tuple[str, bytes]:
        """(key id, plaintext). ``key_ref``, if given, must name the key the blob was made with."""
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 1:
            raise BackendError("InvalidCiphertextException", "")
        id_len = blob[len(MAGIC)]
        header_len = len(MAGIC) + 1 + id_len
        key_id = blob[len(MAGIC) + 1:header_len].decode("ascii", "replace")
        if not KEY_ID_RE.match(key_id) or len(blob) < header_len + NONCE_BYTES + 16:
            raise BackendError("InvalidCiphertextException", "")
        doc = self.store.get(KIND_KEY, key_id)
        if doc is None or doc["KeyMetadata"]["Arn"] != self.key_arn(region, key_id) or self._purge_if_due(doc) is None:
            raise BackendError("InvalidCiphertextException", "")
        meta = doc["KeyMetadata"]
        if key_ref is not None and self._resolve(region, key_ref)["KeyMetadata"]["KeyId"] != key_id:
            raise BackendError("IncorrectKeyException", "The key ID in the request does not identify a CMK that can "
                                                    "perform this operation.")
        self._usable(meta)
        nonce = blob[header_len:header_len + NONCE_BYTES]
        try:
            plaintext = AESGCM(self._material(meta)).decrypt(nonce, blob[header_len + NONCE_BYTES:],
                                                              _context_aad(blob[:header_len], context))
        except InvalidTag:
            raise BackendError("InvalidCiphertextException", "") from None
        return key_id, plaintext

    def _material(self, meta: dict) -> bytes:
        try:
            material = self._material_path(meta["KeyId"]).read_bytes()
        except OSError:
            material = b""
        if len(material) != KEY_BYTES:
            raise BackendError("KeyUnavailableException", f"{meta['Arn']} is unavailable: its key material is "
                                                      "missing or damaged.")
        return material

    @staticmethod
    def _usable(meta: dict) -> dict:
        if meta["KeyState"] == "PendingDeletion":
            raise BackendError("KMSInvalidStateException", f"{meta['Arn']} is pending deletion.")
        if not meta["Enabled"]:
            raise BackendError("DisabledException", f"{meta['Arn']} is disabled.")
        return meta

    # -- lookups ------------------------------------------------------------------------------
    def _resolve(self, region: str, key_ref: str) -> dict:
        """The stored key document for id / key ARN / alias name / alias ARN, else KMS's NotFound."""
        ref = key_ref or ""
        alias_name = None
        if ref.startswith("alias/"):
            alias_name = ref
        elif ref.startswith("arn:"):
            parts = ref.split(":", 5)
            if len(parts) < 6 or parts[2] != "kms":
                raise BackendError("InvalidArnException", f"Invalid arn {ref}")
            resource = parts[5]
            if parts[3] != region or parts[4] != self.account_id:
                raise BackendError("NotFoundException", f"Key '{ref}' does not exist" if resource.startswith("key/")
                               else f"Alias {ref} is not found.")
            if resource.startswith("alias/"):
                alias_name = resource
            elif resource.startswith("key/"):
                ref = resource[len("key/"):]
            else:
                raise BackendError("InvalidArnException", f"Invalid arn {key_ref}")
        if alias_name is not None:
            alias = self.store.get(KIND_ALIAS, self.alias_arn(region, alias_name))
            if alias is None and alias_name in MANAGED_ALIASES:
                meta = self.create_key(region, MANAGED_ALIASES[alias_name], key_manager="AWS")
                alias = self._put_alias(region, alias_name, meta["KeyId"])
            doc = self.store.get(KIND_KEY, alias["TargetKeyId"]) if alias else None
            if doc is None or self._purge_if_due(doc) is None:
                raise BackendError("NotFoundException", f"Alias {self.alias_arn(region, alias_name)} is not found.")
            return doc
        if not KEY_ID_RE.match(ref):
            raise BackendError("NotFoundException", f"Invalid keyId '{key_ref}'")
        doc = self.store.get(KIND_KEY, ref)
        if doc is None or doc["KeyMetadata"]["Arn"] != self.key_arn(region, ref) or self._purge_if_due(doc) is None:
            raise BackendError("NotFoundException", f"Key '{self.key_arn(region, ref)}' does not exist")
        return doc

    def _purge_if_due(self, doc: dict) -> dict | None:
        """Deletes a key whose waiting period is over (lazily, on access); None if it was."""
        meta = doc["KeyMetadata"]
        if meta["KeyState"] != "PendingDeletion" or _parse(meta["DeletionDate"]) > _now():
            return doc
        self.store.delete(KIND_KEY, meta["KeyId"])
        self._material_path(meta["KeyId"]).unlink(missing_ok=True)
        return None

    def _save(self, region: str, doc: dict) -> None:
        self.store.put(KIND_KEY, doc["KeyMetadata"]["KeyId"], doc, region=region)

    @staticmethod
    def _refuse_managed(meta: dict, operation: str) -> None:
        if meta["KeyManager"] == "AWS":
            raise BackendError("UnsupportedOperationException",
                           f"{meta['Arn']} is an AWS managed key; {operation} is not allowed on it.")

    @staticmethod
    def _public(meta: dict) -> dict:
        return _with_datetimes(meta, ("CreationDate", "DeletionDate"))
