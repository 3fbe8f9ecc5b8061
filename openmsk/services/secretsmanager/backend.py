"""SecretStore: Secrets Manager's secrets, kept encrypted under their KMS key.

Each secret version's value is encrypted with the secret's KMS key (``KeyStore.encrypt``, encryption
context ``{"SecretARN": arn, "SecretVersionId": id}`` as Secrets Manager uses) and only the blob is
stored; the plaintext exists in memory while a request is served and never on disk. A secret whose
key is disabled, deleted or whose key file is damaged cannot be read (DecryptionFailure), as on AWS.

Versions carry staging labels: a new value becomes AWSCURRENT and the former current one
AWSPREVIOUS; versions left without a label are deprecated and the oldest of them dropped past
MAX_VERSIONS. Deleting schedules the deletion (the name stays taken, values unreadable, RestoreSecret
undoes it) unless forced; a secret past its deletion date is purged the next time the store is read.

MSK's SCRAM integration reads through ``value`` and ``kms_key_manager`` and subscribes with
``on_change`` to learn that a value changed or a secret went away. Errors are
``BackendError(code, message)`` with Secrets Manager's error shape names.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import inspect
import logging
import random
import re
import string
import uuid
from typing import Callable

from ...control.model import iso as _iso, parse_iso as _parse, utcnow as _now
from ...control.store import Store
from ..errors import BackendError
from ..kms.backend import KeyStore

log = logging.getLogger(__name__)

KIND = "secret"
DEFAULT_KEY = "alias/aws/secretsmanager"
CURRENT, PREVIOUS = "AWSCURRENT", "AWSPREVIOUS"
MAX_VERSIONS = 100
NAME_RE = re.compile(r"^[A-Za-z0-9/_+=.@!-]{1,512}$")
NOT_FOUND = "Secrets Manager can't find the specified secret."
MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion."
DECRYPTION_FAILURE = "Secrets Manager can't decrypt the protected secret text using the provided KMS key."
ENCRYPTION_FAILURE = ("Secrets Manager can't encrypt the protected secret text using the provided KMS key. "
                      "Check that the KMS key is available, enabled, and not in an invalid state.")


def _today() -> str:
    """LastAccessedDate: Secrets Manager truncates it to midnight (UTC) of the day."""
    return _iso(_now().replace(hour=0, minute=0, second=0, microsecond=0))


class SecretStore:
    def __init__(self, store: Store, keys: KeyStore) -> None:
        self.store = store
        self.keys = keys
        self._subscribers: list[Callable[[str], object]] = []

    # -- subscription -------------------------------------------------------------------------
    def on_change(self, callback: Callable[[str], object]) -> None:
        """``callback(arn)`` after a value changes (PutSecretValue, UpdateSecret with a value), a
        secret is deleted or scheduled for deletion, restored, or re-keyed. A coroutine result is
        scheduled on the running loop; exceptions are logged, never returned to the API caller."""
        self._subscribers.append(callback)

    def _notify(self, arn: str) -> None:
        for callback in list(self._subscribers):
            try:
                result = callback(arn)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    task.add_done_callback(_log_failure)
            except Exception:
                log.exception("secret change subscriber failed for %s", arn)

    # -- reads --------------------------------------------------------------------------------
    def describe(self, region: str, secret_ref: str) -> dict:
        """DescribeSecret's answer (datetimes) for a name, ARN or partial ARN; deleted ones too."""
        return self._view(self._find(region, secret_ref), describe=True)

    def secrets(self, region: str, include_deleted: bool = False) -> list[dict]:
        """SecretListEntry dicts (datetimes), oldest first."""
        return [self._view(d, describe=False) for d in self._docs(region) if include_deleted or not d.get("DeletedDate")]

    def get_value(self, region: str, secret_ref: str, version_id: str | None = None,
                  stage: str | None = None, *, touch: bool = True) -> dict:
        """GetSecretValue's answer: ARN, Name, VersionId, SecretString|SecretBinary, VersionStages,
        CreatedDate. Default: the AWSCURRENT version."""
        doc = self._live(region, secret_ref)
        version = self._version(doc, version_id, stage)
        plaintext = self._decrypt(region, doc, version)
        if touch:
            doc["LastAccessedDate"] = _today()
            self._save(region, doc)
        out = {"ARN": doc["ARN"], "Name": doc["Name"], "VersionId": version["VersionId"],
               "VersionStages": list(version["Stages"]), "CreatedDate": _parse(version["CreatedDate"])}
        if version.get("Binary"):
            out["SecretBinary"] = plaintext
        else:
            out["SecretString"] = plaintext.decode("utf-8")
        return out

    def value(self, region: str, secret_ref: str) -> str:
        """The AWSCURRENT SecretString (what MSK reads for SCRAM); BackendError if unreadable."""
        got = self.get_value(region, secret_ref, touch=False)
        if "SecretString" not in got:
            raise BackendError("InvalidRequestException", "The secret has a binary value (SecretBinary), not a "
                                                          "SecretString.")
        return got["SecretString"]

    def kms_key_manager(self, region: str, secret_ref: str) -> str:
        """"CUSTOMER" or "AWS": who manages the KMS key the secret's values are encrypted with."""
        return self._find(region, secret_ref)["KeyManager"]

    def versions(self, region: str, secret_ref: str, include_deprecated: bool = False) -> list[dict]:
        doc = self._find(region, secret_ref)
        return [{"VersionId": v["VersionId"], "VersionStages": list(v["Stages"]),
                 "CreatedDate": _parse(v["CreatedDate"]),
                 **({"LastAccessedDate": _parse(doc["LastAccessedDate"])} if doc.get("LastAccessedDate") else {})}
                for v in doc["Versions"] if include_deprecated or v["Stages"]]

    # -- writes -------------------------------------------------------------------------------
    def create(self, region: str, name: str, *, value: str | bytes | None = None, token: str | None = None,
               description: str | None = None, kms_key_id: str | None = None, tags: list[dict] | None = None) -> dict:
        """A new secret (a first AWSCURRENT version if ``value`` is given); returns ARN, Name, VersionId.
        Retrying with the same token and value returns the first answer again."""
        if not NAME_RE.match(name or ""):
            raise BackendError("InvalidParameterException", "Invalid name. Must be a valid name containing "
                                                            "alphanumeric characters, or any of the following: -/_+=.@!")
        existing = next((d for d in self._docs(region) if d["Name"] == name), None)
        if existing is not None:
            if existing.get("DeletedDate"):
                raise BackendError("InvalidRequestException", "You can't create this secret because a secret with "
                                                              "this name is already scheduled for deletion.")
            version = next((v for v in existing["Versions"] if v["VersionId"] == token), None)
            if version is not None and value is not None and self._same_value(region, existing, version, value):
                return {"ARN": existing["ARN"], "Name": name, "VersionId": token}
            raise BackendError("ResourceExistsException", f"The operation failed because the secret {name} already "
                                                           "exists.")
        key = self._key(region, kms_key_id)
        suffix = "".join(random.choices(string.ascii_letters + string.digits, k=6))
        now = _iso(_now())
        doc = {"ARN": f"arn:aws:secretsmanager:{region}:{self.keys.account_id}:secret:{name}-{suffix}",
               "Name": name, "CreatedDate": now, "LastChangedDate": now, "Tags": list(tags or []),
               "KeyId": key["KeyId"], "KeyManager": key["KeyManager"], "Versions": []}
        if description is not None:
            doc["Description"] = description
        if kms_key_id:
            doc["KmsKeyId"] = kms_key_id
        out = {"ARN": doc["ARN"], "Name": name}
        if value is not None:
            out["VersionId"] = self._add_version(region, doc, value, token, [CURRENT])
        self._save(region, doc)
        return out

    def put_value(self, region: str, secret_ref: str, value: str | bytes, token: str | None = None,
                  stages: list[str] | None = None) -> dict:
        """PutSecretValue: a new version (AWSCURRENT unless ``stages`` says otherwise); ARN, Name,
        VersionId, VersionStages. Same token and value again: no change."""
        doc = self._live(region, secret_ref)
        version = next((v for v in doc["Versions"] if v["VersionId"] == token), None) if token else None
        if version is not None:
            if not self._same_value(region, doc, version, value):
                raise BackendError("ResourceExistsException", "You can't modify an existing version, you can only "
                                                              "create a new version.")
            return {"ARN": doc["ARN"], "Name": doc["Name"], "VersionId": token, "VersionStages": list(version["Stages"])}
        version_id = self._add_version(region, doc, value, token, stages or [CURRENT])
        doc["LastChangedDate"] = _iso(_now())
        self._save(region, doc)
        self._notify(doc["ARN"])
        stages_now = next(v["Stages"] for v in doc["Versions"] if v["VersionId"] == version_id)
        return {"ARN": doc["ARN"], "Name": doc["Name"], "VersionId": version_id, "VersionStages": list(stages_now)}

    def update(self, region: str, secret_ref: str, *, value: str | bytes | None = None, token: str | None = None,
               description: str | None = None, kms_key_id: str | None = None) -> dict:
        """UpdateSecret: description, key (existing versions are re-encrypted under the new key) and/or
        a new AWSCURRENT value; returns ARN, Name (+ VersionId when a value was given)."""
        doc = self._live(region, secret_ref)
        out = {"ARN": doc["ARN"], "Name": doc["Name"]}
        if value is not None and token and any(v["VersionId"] == token for v in doc["Versions"]):
            version = next(v for v in doc["Versions"] if v["VersionId"] == token)
            if not self._same_value(region, doc, version, value):
                raise BackendError("ResourceExistsException", "You can't modify an existing version, you can only "
                                                              "create a new version.")
            return {**out, "VersionId": token}
        changed = False
        if kms_key_id:
            key = self._key(region, kms_key_id)
            if key["KeyId"] != doc["KeyId"]:
                plaintexts = [(v, self._decrypt(region, doc, v)) for v in doc["Versions"]]
                doc.update(KeyId=key["KeyId"], KeyManager=key["KeyManager"])
                for version, plaintext in plaintexts:
                    version["Ciphertext"] = self._encrypt(region, doc, version["VersionId"], plaintext)
                changed = True
            doc["KmsKeyId"] = kms_key_id
        if description is not None:
            doc["Description"] = description
        if value is not None:
            out["VersionId"] = self._add_version(region, doc, value, token, [CURRENT])
            changed = True
        doc["LastChangedDate"] = _iso(_now())
        self._save(region, doc)
        if changed:
            self._notify(doc["ARN"])
        return out

    def delete(self, region: str, secret_ref: str, recovery_days: int | None = None, force: bool = False) -> dict:
        """DeleteSecret: ARN, Name, DeletionDate. Scheduled (default 30 days) unless ``force``."""
        if force and recovery_days is not None:
            raise BackendError("InvalidParameterException", "You can't use ForceDeleteWithoutRecovery in conjunction "
                                                            "with RecoveryWindowInDays.")
        days = 30 if recovery_days is None else recovery_days
        if not 7 <= days <= 30:
            raise BackendError("InvalidParameterException", "The RecoveryWindowInDays value must be between 7 and 30 "
                                                            "days (inclusive).")
        doc = self._find(region, secret_ref)
        now = _now()
        if force:
            self.store.delete(KIND, doc["ARN"])
            deletion = now
        else:
            if doc.get("DeletedDate"):
                raise BackendError("InvalidRequestException", MARKED_FOR_DELETION)
            deletion = now + dt.timedelta(days=days)
            doc.update(DeletedDate=_iso(now), DeletionDate=_iso(deletion))
            self._save(region, doc)
        self._notify(doc["ARN"])
        return {"ARN": doc["ARN"], "Name": doc["Name"], "DeletionDate": deletion}

    def restore(self, region: str, secret_ref: str) -> dict:
        doc = self._find(region, secret_ref)
        doc.pop("DeletedDate", None)
        doc.pop("DeletionDate", None)
        self._save(region, doc)
        self._notify(doc["ARN"])
        return {"ARN": doc["ARN"], "Name": doc["Name"]}

    # -- internals ----------------------------------------------------------------------------
    def _docs(self, region: str) -> list[dict]:
        """Secrets of a region, purging those whose deletion date has passed."""
        now, out = _now(), []
        for doc in self.store.list(KIND, region=region):
            if doc.get("DeletionDate") and _parse(doc["DeletionDate"]) <= now:
                self.store.delete(KIND, doc["ARN"])
                continue
            out.append(doc)
        return out

    def _find(self, region: str, secret_ref: str) -> dict:
        """By name, full ARN or partial ARN (the ARN without its ``-xxxxxx`` suffix)."""
        ref = secret_ref or ""
        if ref.startswith("arn:") and ref.split(":")[3:4] == [region]:
            # A full ARN is the document's key: one read instead of decoding every secret of the
            # region (a 1,000-user SCRAM association made ~30,000 decodes per call on the loop).
            doc = self.store.get(KIND, ref)
            if doc is not None:
                if doc.get("DeletionDate") and _parse(doc["DeletionDate"]) <= _now():
                    self.store.delete(KIND, ref)
                    raise BackendError("ResourceNotFoundException", NOT_FOUND)
                return doc
        for doc in self._docs(region):
            if ref.startswith("arn:"):
                if doc["ARN"] == ref or doc["ARN"][:-7] == ref:
                    return doc
            elif doc["Name"] == ref:
                return doc
        raise BackendError("ResourceNotFoundException", NOT_FOUND)

    def _live(self, region: str, secret_ref: str) -> dict:
        doc = self._find(region, secret_ref)
        if doc.get("DeletedDate"):
            raise BackendError("InvalidRequestException", MARKED_FOR_DELETION)
        return doc

    def _key(self, region: str, kms_key_id: str | None) -> dict:
        try:
            return self.keys.describe(region, kms_key_id or DEFAULT_KEY)
        except BackendError as e:
            raise BackendError("EncryptionFailure", ENCRYPTION_FAILURE if e.code != "NotFoundException"
                               else f"Secrets Manager can't find the specified KMS key: {e.message}") from None

    @staticmethod
    def _version(doc: dict, version_id: str | None, stage: str | None) -> dict:
        for version in doc["Versions"]:
            if (version_id is None or version["VersionId"] == version_id) and \
                    (stage in version["Stages"] if stage else version_id is not None or CURRENT in version["Stages"]):
                return version
        if version_id is not None:
            raise BackendError("ResourceNotFoundException", "Secrets Manager can't find the specified secret value "
                                                            f"for VersionId: {version_id}")
        raise BackendError("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for "
                                                        f"staging label: {stage or CURRENT}")

    def _encrypt(self, region: str, doc: dict, version_id: str, plaintext: bytes) -> str:
        try:
            blob = self.keys.encrypt(region, doc["KeyId"], plaintext,
                                     {"SecretARN": doc["ARN"], "SecretVersionId": version_id})
        except BackendError:
            raise BackendError("EncryptionFailure", ENCRYPTION_FAILURE) from None
        return base64.b64encode(blob).decode()

    def _decrypt(self, region: str, doc: dict, version: dict) -> bytes:
        try:
            _, plaintext = self.keys.decrypt(region, base64.b64decode(version["Ciphertext"]),
                                             {"SecretARN": doc["ARN"], "SecretVersionId": version["VersionId"]})
        except BackendError:
            raise BackendError("DecryptionFailure", DECRYPTION_FAILURE) from None
        return plaintext

    def _same_value(self, region: str, doc: dict, version: dict, value: str | bytes) -> bool:
        binary = isinstance(value, (bytes, bytearray))
        raw = bytes(value) if binary else value.encode("utf-8")
        return bool(version.get("Binary")) == binary and self._decrypt(region, doc, version) == raw

    def _add_version(self, region: str, doc: dict, value: str | bytes, token: str | None, stages: list[str]) -> str:
        version_id = token or str(uuid.uuid4())
        binary = isinstance(value, (bytes, bytearray))
        raw = bytes(value) if binary else value.encode("utf-8")
        doc["Versions"].append({"VersionId": version_id, "Stages": [], "CreatedDate": _iso(_now()), "Binary": binary,
                                "Ciphertext": self._encrypt(region, doc, version_id, raw)})
        for stage in stages:
            self._move_stage(doc, stage, version_id)
        unlabeled = [v for v in doc["Versions"] if not v["Stages"]]
        while len(doc["Versions"]) > MAX_VERSIONS and unlabeled:
            doc["Versions"].remove(unlabeled.pop(0))
        return version_id

    @staticmethod
    def _move_stage(doc: dict, stage: str, version_id: str) -> None:
        previous = next((v for v in doc["Versions"] if stage in v["Stages"]), None)
        if previous is not None and previous["VersionId"] == version_id:
            return
        if previous is not None:
            previous["Stages"].remove(stage)
        target = next(v for v in doc["Versions"] if v["VersionId"] == version_id)
        target["Stages"].append(stage)
        if stage == CURRENT and previous is not None:
            for v in doc["Versions"]:
                if PREVIOUS in v["Stages"]:
                    v["Stages"].remove(PREVIOUS)
            previous["Stages"].append(PREVIOUS)

    def _save(self, region: str, doc: dict) -> None:
        self.store.put(KIND, doc["ARN"], doc, region=region)

    def _view(self, doc: dict, *, describe: bool) -> dict:
        out = {"ARN": doc["ARN"], "Name": doc["Name"]}
        if doc.get("Description") is not None:
            out["Description"] = doc["Description"]
        if doc.get("KmsKeyId"):
            out["KmsKeyId"] = doc["KmsKeyId"]
        for name in ("LastChangedDate", "LastAccessedDate", "DeletedDate"):
            if doc.get(name):
                out[name] = _parse(doc[name])
        if doc.get("Tags"):
            out["Tags"] = list(doc["Tags"])
        stages = {v["VersionId"]: list(v["Stages"]) for v in doc["Versions"] if v["Stages"]}
        out["VersionIdsToStages" if describe else "SecretVersionsToStages"] = stages
        out["CreatedDate"] = _parse(doc["CreatedDate"])
        return out


def _log_failure(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("secret change subscriber failed: %r", task.exception())
