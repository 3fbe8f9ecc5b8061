"""IamBackend: users, access keys, roles, managed and inline policies, STS sessions -- in the Store.

Documents (kind -> id): ``iam-user`` (name), ``iam-role`` (name), ``iam-policy`` (ARN; its versions
inside), ``iam-key`` (access key id, parent = user name), ``iam-session`` (temporary key id from
AssumeRole). Policy documents are stored as the text the caller sent (IAM returns them as written).
Secret access keys never enter the database: each is a 0600 file ``<data_dir>/iam/keys/<key id>``
written atomically (util.write_secret) and is never logged; session tokens are stored as SHA-256.

Errors are BackendError with IAM's codes (NoSuchEntity, EntityAlreadyExists, DeleteConflict,
MalformedPolicyDocument, LimitExceeded, InvalidInput).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import string
import time
from pathlib import Path

from ...control.model import iso, parse_iso, utcnow
from ...control.store import Store
from ...util import write_secret
from ..errors import BackendError
from . import policy_docs

USER, ROLE, POLICY, KEY, SESSION = "iam-user", "iam-role", "iam-policy", "iam-key", "iam-session"
NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}$")
POLICY_NAME_RE = re.compile(r"^[\w+=,.@-]{1,128}$")
PATH_RE = re.compile(r"^/([\x21-\x7e]*/)?$")
MAX_KEYS_PER_USER = 2
MAX_ATTACHED = 10
MAX_VERSIONS = 5
_UPPER = string.ascii_uppercase + string.digits


def _rand(prefix: str, n: int) -> str:
    return prefix + "".join(secrets.choice(_UPPER) for _ in range(n))


def no_such(kind: str, name: str) -> BackendError:
    return BackendError("NoSuchEntity", f"The {kind} with name {name} cannot be found.")


class IamBackend:
    def __init__(self, store: Store, data_dir: Path, account_id: str) -> None:
        self.store, self.account_id = store, account_id
        self.key_dir = Path(data_dir) / "iam" / "keys"
        self._secrets: dict[str, str] = {}          # key id -> secret (cache of the 0600 files)

    # -- helpers ---------------------------------------------------------------------------------
    def _check_name(self, name: str, what: str = "name", pattern: re.Pattern = NAME_RE) -> None:
        if not isinstance(name, str) or not pattern.match(name):
            raise BackendError("ValidationError", f"The specified value for {what} is invalid. It must contain "
                                                  f"only alphanumeric characters and/or the following: +=,.@_-")

    def _path(self, path: str | None) -> str:
        path = path or "/"
        if not PATH_RE.match(path) or len(path) > 512:
            raise BackendError("ValidationError", "The specified value for path is invalid. It must begin and end "
                                                  "with / and contain only alphanumeric characters and/or / characters.")
        return path

    def _arn(self, kind: str, path: str, name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:{kind}{path}{name}"

    # -- users -----------------------------------------------------------------------------------
    def create_user(self, name: str, path: str | None, tags: list | None) -> dict:
        self._check_name(name, "userName")
        if self._user_doc(name) is not None:
            raise BackendError("EntityAlreadyExists", f"User with name {name} already exists.")
        path = self._path(path)
        doc = {"UserName": name, "UserId": _rand("AIDA", 17), "Path": path, "Arn": self._arn("user", path, name),
               "CreateDate": iso(utcnow()), "Tags": list(tags or []), "Inline": {}, "Attached": []}
        self.store.put(USER, name.lower(), doc)
        return doc

    def _user_doc(self, name: str) -> dict | None:
        return self.store.get(USER, str(name).lower())      # IAM names are case-insensitively unique

    def user(self, name: str) -> dict:
        doc = self._user_doc(name)
        if doc is None:
            raise no_such("user", name)
        return doc

    def users(self, path_prefix: str = "/") -> list[dict]:
        return [u for u in self.store.list(USER) if u["Path"].startswith(path_prefix or "/")]

    def delete_user(self, name: str) -> None:
        doc = self.user(name)
        if doc["Inline"] or doc["Attached"] or self.keys(name):
            raise BackendError("DeleteConflict", "Cannot delete entity, must delete policies and access keys first.")
        self.store.delete(USER, name.lower())

    def put_user(self, doc: dict) -> None:
        self.store.put(USER, doc["UserName"].lower(), doc)

    # -- access keys -----------------------------------------------------------------------------
    def create_key(self, user_name: str) -> tuple[dict, str]:
        user = self.user(user_name)
        if len(self.keys(user["UserName"])) >= MAX_KEYS_PER_USER:
            raise BackendError("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
        key_id = _rand("AKIA", 16)
        secret = "".join(secrets.choice(string.ascii_letters + string.digits + "/+") for _ in range(40))
        write_secret(self.key_dir / key_id, secret.encode())
        doc = {"UserName": user["UserName"], "AccessKeyId": key_id, "Status": "Active", "CreateDate": iso(utcnow())}
        self.store.put(KEY, key_id, doc, parent=user["UserName"].lower())
        return doc, secret

    def keys(self, user_name: str) -> list[dict]:
        return self.store.list(KEY, parent=user_name.lower())

    def _key_of(self, user_name: str, key_id: str) -> dict:
        user = self.user(user_name)
        doc = self.store.get(KEY, key_id)
        if doc is None or doc["UserName"] != user["UserName"]:
            raise BackendError("NoSuchEntity", f"The Access Key with id {key_id} cannot be found.")
        return doc

    def update_key(self, user_name: str, key_id: str, status: str) -> None:
        doc = self._key_of(user_name, key_id)
        doc["Status"] = status
        self.store.put(KEY, key_id, doc, parent=doc["UserName"].lower())

    def delete_key(self, user_name: str, key_id: str) -> None:
        self._key_of(user_name, key_id)
        self.store.delete(KEY, key_id)
        self._secrets.pop(key_id, None)
        (self.key_dir / key_id).unlink(missing_ok=True)

    def _secret_file(self, key_id: str) -> str | None:
        if key_id not in self._secrets:
            try:
                self._secrets[key_id] = (self.key_dir / key_id).read_text()
            except OSError:
                return None
        return self._secrets[key_id]

    def secret(self, key_id: str) -> str | None:
        """SigV4 lookup: the secret of an *active* user key or an unexpired session, else None."""
        if not isinstance(key_id, str) or not re.match(r"^[A-Z0-9]{16,128}$", key_id):
            return None
        doc = self.store.get(KEY, key_id)
        if doc is not None:
            return self._secret_file(key_id) if doc["Status"] == "Active" else None
        session = self.store.get(SESSION, key_id)
        if session is not None and session["Expires"] > time.time():
            return self._secret_file(key_id)
        return None

    # -- managed policies ------------------------------------------------------------------------
    def create_policy(self, name: str, path: str | None, document: str, description: str | None,
                      tags: list | None) -> dict:
        self._check_name(name, "policyName", POLICY_NAME_RE)
        path = self._path(path)
        policy_docs.parse(document)
        arn = self._arn("policy", path, name)
        if any(p["PolicyName"] == name for p in self.store.list(POLICY)):
            raise BackendError("EntityAlreadyExists", f"A policy called {name} already exists. Duplicate names are "
                                                      f"not allowed.")
        now = iso(utcnow())
        doc = {"PolicyName": name, "PolicyId": _rand("ANPA", 17), "Arn": arn, "Path": path, "DefaultVersionId": "v1",
               "IsAttachable": True, "Description": description or "", "CreateDate": now, "UpdateDate": now,
               "Tags": list(tags or []), "Versions": {"v1": {"Document": document, "CreateDate": now}},
               "NextVersion": 2}
        self.store.put(POLICY, arn, doc)
        return doc

    def policy(self, arn: str) -> dict:
        doc = self.store.get(POLICY, arn)
        if doc is None:
            raise BackendError("NoSuchEntity", f"Policy {arn} does not exist or is not attachable.")
        return doc

    def policies(self) -> list[dict]:
        return self.store.list(POLICY)

    def attachment_count(self, arn: str) -> int:
        return sum(arn in e["Attached"] for kind in (USER, ROLE) for e in self.store.list(kind))

    def create_policy_version(self, arn: str, document: str, set_default: bool) -> dict:
        doc = self.policy(arn)
        policy_docs.parse(document)
        if len(doc["Versions"]) >= MAX_VERSIONS:
            raise BackendError("LimitExceeded", f"A managed policy can have up to {MAX_VERSIONS} versions. Before you "
                                                f"create a new version, you must delete an existing version.")
        vid = f"v{doc['NextVersion']}"
        now = iso(utcnow())
        doc["Versions"][vid] = {"Document": document, "CreateDate": now}
        doc["NextVersion"] += 1
        doc["UpdateDate"] = now
        if set_default:
            doc["DefaultVersionId"] = vid
        self.store.put(POLICY, arn, doc)
        return {"VersionId": vid, "IsDefaultVersion": set_default, "CreateDate": now, "Document": document}

    def delete_policy_version(self, arn: str, version_id: str) -> None:
        doc = self.policy(arn)
        if version_id not in doc["Versions"]:
            raise BackendError("NoSuchEntity", f"Policy {arn} version {version_id} does not exist or is not attachable.")
        if version_id == doc["DefaultVersionId"]:
            raise BackendError("DeleteConflict", "Cannot delete the default version of a policy.")
        del doc["Versions"][version_id]
        self.store.put(POLICY, arn, doc)

    def roles(self, path_prefix: str = "/") -> list[dict]:
        return [r for r in self.store.list(ROLE) if r["Path"].startswith(path_prefix or "/")]

    def update_trust(self, name: str, trust: str) -> None:
        doc = self.role(name)
        policy_docs.parse(trust, trust=True, limit=policy_docs.MAX_TRUST)
        doc["AssumeRolePolicyDocument"] = trust
        self._save(ROLE, doc)

    def delete_policy(self, arn: str) -> None:
        doc = self.policy(arn)
        if self.attachment_count(arn):
            raise BackendError("DeleteConflict", "Cannot delete a policy attached to entities.")
        if len(doc["Versions"]) > 1:
            raise BackendError("DeleteConflict", "Cannot delete a policy with non-default versions; "
                                                 "delete them first.")
        self.store.delete(POLICY, arn)

    # -- roles -----------------------------------------------------------------------------------
    def create_role(self, name: str, path: str | None, trust: str, description: str | None,
                    max_session: int | None, tags: list | None) -> dict:
        self._check_name(name, "roleName")
        path = self._path(path)
        policy_docs.parse(trust, trust=True, limit=policy_docs.MAX_TRUST)
        if self._role_doc(name) is not None:
            raise BackendError("EntityAlreadyExists", f"Role with name {name} already exists.")
        doc = {"RoleName": name, "RoleId": _rand("AROA", 17), "Path": path, "Arn": self._arn("role", path, name),
               "CreateDate": iso(utcnow()), "AssumeRolePolicyDocument": trust, "Description": description or "",
               "MaxSessionDuration": max_session or 3600, "Tags": list(tags or []), "Inline": {}, "Attached": []}
        self.store.put(ROLE, name.lower(), doc)
        return doc

    def _role_doc(self, name: str) -> dict | None:
        return self.store.get(ROLE, str(name).lower())

    def role(self, name: str) -> dict:
        doc = self._role_doc(name)
        if doc is None:
            raise no_such("role", name)
        return doc

    def delete_role(self, name: str) -> None:
        doc = self.role(name)
        if doc["Inline"] or doc["Attached"]:
            raise BackendError("DeleteConflict", "Cannot delete entity, must delete policies first.")
        self.store.delete(ROLE, name.lower())

    # -- attachments and inline policies (users and roles alike) --------------------------------
    def _entity(self, kind: str, name: str) -> dict:
        return self.user(name) if kind == USER else self.role(name)

    def _save(self, kind: str, doc: dict) -> None:
        self.store.put(kind, (doc.get("UserName") or doc["RoleName"]).lower(), doc)

    def attach(self, kind: str, name: str, arn: str) -> None:
        entity = self._entity(kind, name)
        self.policy(arn)
        if arn not in entity["Attached"]:
            if len(entity["Attached"]) >= MAX_ATTACHED:
                raise BackendError("LimitExceeded", f"Cannot exceed quota for PoliciesPerEntity: {MAX_ATTACHED}")
            entity["Attached"].append(arn)
            self._save(kind, entity)

    def detach(self, kind: str, name: str, arn: str) -> None:
        entity = self._entity(kind, name)
        if arn not in entity["Attached"]:
            raise BackendError("NoSuchEntity", f"Policy {arn} was not found.")
        entity["Attached"].remove(arn)
        self._save(kind, entity)

    def put_inline(self, kind: str, name: str, policy_name: str, document: str) -> None:
        entity = self._entity(kind, name)
        self._check_name(policy_name, "policyName", POLICY_NAME_RE)
        policy_docs.parse(document, limit=policy_docs.MAX_INLINE_USER if kind == USER else policy_docs.MAX_INLINE_ROLE)
        entity["Inline"][policy_name] = document
        self._save(kind, entity)

    def get_inline(self, kind: str, name: str, policy_name: str) -> str:
        entity = self._entity(kind, name)
        if policy_name not in entity["Inline"]:
            raise BackendError("NoSuchEntity", f"The {'user' if kind == USER else 'role'} policy with name "
                                               f"{policy_name} cannot be found.")
        return entity["Inline"][policy_name]

    def delete_inline(self, kind: str, name: str, policy_name: str) -> None:
        self.get_inline(kind, name, policy_name)
        entity = self._entity(kind, name)
        del entity["Inline"][policy_name]
        self._save(kind, entity)

    def set_tags(self, kind: str, name: str, tags: list) -> None:
        entity = self._entity(kind, name)
        merged = {t["Key"]: t["Value"] for t in entity.get("Tags", [])}
        merged.update({t["Key"]: t["Value"] for t in tags})
        if len(merged) > 50:
            raise BackendError("LimitExceeded", "Cannot exceed quota for TagsPerUser: 50")
        entity["Tags"] = [{"Key": k, "Value": v} for k, v in merged.items()]
        self._save(kind, entity)

    def remove_tags(self, kind: str, name: str, keys: list) -> None:
        entity = self._entity(kind, name)
        entity["Tags"] = [t for t in entity.get("Tags", []) if t["Key"] not in keys]
        self._save(kind, entity)

    # -- who is calling, and what may they do ----------------------------------------------------
    def principal(self, key_id: str) -> dict | None:
        """{"Arn", "UserId", "Policies": [parsed documents], "SessionTokenSha256"?} of a user key or session."""
        key = self.store.get(KEY, key_id)
        if key is not None:
            entity = self._user_doc(key["UserName"])
            if entity is None:
                return None
            return {"Arn": entity["Arn"], "UserId": entity["UserId"], "Policies": self._policies_of(entity),
                    "UserName": entity["UserName"]}
        session = self.store.get(SESSION, key_id)
        if session is None or session["Expires"] <= time.time():
            return None
        if "UserName" in session:       # GetSessionToken: the user itself, with its own policies
            user = self._user_doc(session["UserName"])
            if user is None or user["UserId"] != session["UserId"]:
                return None
            return {"Arn": user["Arn"], "UserId": user["UserId"], "Policies": self._policies_of(user),
                    "UserName": user["UserName"], "SessionTokenSha256": session["TokenSha256"],
                    "Expires": session["Expires"]}
        role = self._role_doc(session["RoleName"])
        if role is None or role["RoleId"] != session["RoleId"]:
            return None                 # a role deleted (or re-created) takes its sessions with it
        return {"Arn": session["Arn"], "UserId": f"{role['RoleId']}:{session['SessionName']}",
                "Policies": self._policies_of(role), "SessionTokenSha256": session["TokenSha256"],
                "Expires": session["Expires"]}

    def principal_by_arn(self, arn: str) -> dict | None:
        """A broker session's principal (a user ARN, or an assumed-role ARN: the role's policies), with its
        *current* policies; None once the user or role is gone."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[4] != self.account_id:
            return None
        resource = parts[5]
        if parts[2] == "iam" and resource.startswith("user/"):
            user = self._user_doc(resource.rsplit("/", 1)[-1])
            if user is None or user["Arn"] != arn:
                return None
            return {"Arn": arn, "UserId": user["UserId"], "Policies": self._policies_of(user),
                    "UserName": user["UserName"]}
        if parts[2] == "sts" and resource.startswith("assumed-role/") and resource.count("/") == 2:
            _, role_name, session_name = resource.split("/")
            role = self._role_doc(role_name)
            if role is None:
                return None
            return {"Arn": arn, "UserId": f"{role['RoleId']}:{session_name}", "Policies": self._policies_of(role)}
        return None

    def _policies_of(self, entity: dict) -> list[dict]:
        out = [json.loads(text) for text in entity["Inline"].values()]
        for arn in entity["Attached"]:
            policy = self.store.get(POLICY, arn)
            if policy is not None:
                out.append(json.loads(policy["Versions"][policy["DefaultVersionId"]]["Document"]))
        return out

    # -- STS sessions ----------------------------------------------------------------------------
    def create_session(self, role: dict, session_name: str, duration: int) -> dict:
        key_id = _rand("ASIA", 16)
        secret = "".join(secrets.choice(string.ascii_letters + string.digits + "/+") for _ in range(40))
        token = secrets.token_urlsafe(96)
        write_secret(self.key_dir / key_id, secret.encode())
        expires = time.time() + duration
        arn = f"arn:aws:sts::{self.account_id}:assumed-role/{role['RoleName']}/{session_name}"
        self.store.put(SESSION, key_id, {"RoleName": role["RoleName"], "RoleId": role["RoleId"],
                                         "SessionName": session_name, "Arn": arn, "Expires": expires,
                                         "TokenSha256": hashlib.sha256(token.encode()).hexdigest()})
        self._sweep_sessions()
        return {"AccessKeyId": key_id, "SecretAccessKey": secret, "SessionToken": token,
                "Expiration": dt.datetime.fromtimestamp(int(expires), dt.timezone.utc), "Arn": arn,
                "AssumedRoleId": f"{role['RoleId']}:{session_name}"}

    def create_user_session(self, user_name: str, duration: int) -> dict:
        """GetSessionToken: temporary credentials that act as the user (its policies, its ARN)."""
        user = self.user(user_name)
        key_id = _rand("ASIA", 16)
        secret = "".join(secrets.choice(string.ascii_letters + string.digits + "/+") for _ in range(40))
        token = secrets.token_urlsafe(96)
        write_secret(self.key_dir / key_id, secret.encode())
        expires = time.time() + duration
        self.store.put(SESSION, key_id, {"UserName": user["UserName"], "UserId": user["UserId"], "Expires": expires,
                                         "TokenSha256": hashlib.sha256(token.encode()).hexdigest()})
        self._sweep_sessions()
        return {"AccessKeyId": key_id, "SecretAccessKey": secret, "SessionToken": token,
                "Expiration": dt.datetime.fromtimestamp(int(expires), dt.timezone.utc)}

    def _sweep_sessions(self) -> None:
        now = time.time()
        for key_id in list(self.store.ids(SESSION)):
            doc = self.store.get(SESSION, key_id)
            if doc and doc["Expires"] < now - 3600:
                self.store.delete(SESSION, key_id)
                self._secrets.pop(key_id, None)
                (self.key_dir / key_id).unlink(missing_ok=True)


def token_matches(principal: dict, token: str | None) -> bool:
    expected = principal.get("SessionTokenSha256")
    if expected is None:
        return not token                      # long-term keys carry no session token
    return bool(token) and hmac.compare_digest(expected, hashlib.sha256(token.encode()).hexdigest())


def as_datetime(value: str) -> dt.datetime:
    return parse_iso(value)
