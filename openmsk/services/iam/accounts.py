"""Other AWS accounts on one installation: the identities cross-account access needs.

The installation is one account (config.ACCOUNT_ID, its generated key is that account's root). A second
account is created by `openmsk account create <12 digits>` (listed by `account list`, removed with its
identities and keys by `account delete <id>`) (the operator route below, installation key only):
it gets its own IAM (an IamBackend over `<data>/accounts/<id>/iam.db`, its keys as 0600 files under that
directory) and a root access key (`<data>/accounts/<id>/root-key.json`, 0600, written atomically). With that
key the account's administrator uses the ordinary IAM and STS APIs, which act on *its* account's users,
roles and policies. Its identities reach the installation account's resources only as AWS lets another
account's principals: the caller's identity policy (in its account) AND the resource's policy (an MSK cluster
policy, in the resource's account) must both allow, and an explicit Deny in either refuses
(services/iam/authorizer.py `decide`). No other service (clusters, keys, secrets...) exists in another account.

`IamAccounts` is what the authorizer, the brokers' IAM channel, SigV4's secret lookup and the IAM/STS
providers ask: it answers for every account, and delegates everything else to the installation's own
IamBackend (so it stands in wherever an IamBackend of the home account was used).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ...api.core import ServiceException
from ...control.store import Store
from ...util import write_secret
from .backend import KEY, SESSION, IamBackend, _rand

ACCOUNTS_PATH = "/_openmsk/v1/accounts"
ACCOUNTS_LIST_PATH = ACCOUNTS_PATH + "/list"
ACCOUNTS_DELETE_PATH = ACCOUNTS_PATH + "/delete"
ACCOUNT_ID = re.compile(r"^\d{12}$")
ROOT_KEY = "root-key.json"
#: the root user may do everything in its own account (it is never refused by its own account's policies)
ROOT_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


class IamAccounts:
    def __init__(self, home: IamBackend, data_dir: Path) -> None:
        self.home, self.account_id = home, home.account_id
        self.dir = Path(data_dir) / "accounts"
        self._others: dict[str, IamBackend] = {}
        self._roots: dict[str, tuple[str, str]] = {}        # root key id -> (account id, secret)
        for path in sorted(self.dir.glob("*/" + ROOT_KEY)):
            self._open(path.parent.name)

    def __getattr__(self, name: str):            # the home account's IamBackend for everything else
        return getattr(self.home, name)

    def _open(self, account_id: str) -> None:
        folder = self.dir / account_id
        root = json.loads((folder / ROOT_KEY).read_text())
        self._others[account_id] = IamBackend(Store(folder / "iam.db"), folder, account_id)
        self._roots[root["AccessKeyId"]] = (account_id, root["SecretAccessKey"])

    # -- accounts --------------------------------------------------------------------------------
    def create_account(self, account_id: str) -> dict:
        """A new account and its root key -> {AccountId, AccessKeyId, SecretAccessKey} (shown once)."""
        if not isinstance(account_id, str) or not ACCOUNT_ID.match(account_id):
            raise ServiceException("ValidationException", "An account id is 12 digits.", 400)
        if account_id == self.account_id or account_id in self._others:
            raise ServiceException("EntityAlreadyExists", f"The account {account_id} already exists.", 409)
        import secrets
        import string
        key_id = _rand("AKIA", 16)
        secret = "".join(secrets.choice(string.ascii_letters + string.digits + "/+") for _ in range(40))
        write_secret(self.dir / account_id / ROOT_KEY,
                     json.dumps({"AccessKeyId": key_id, "SecretAccessKey": secret}).encode())
        self._open(account_id)
        return {"AccountId": account_id, "AccessKeyId": key_id, "SecretAccessKey": secret}

    def accounts(self) -> list[str]:
        return [self.account_id, *sorted(self._others)]

    def list_accounts(self) -> list[dict]:
        """Every account of the installation, the installation's own (default) first."""
        return [{"AccountId": a, "Default": a == self.account_id} for a in self.accounts()]

    def delete_account(self, account_id: str) -> dict:
        """Removes another account with everything of its IAM (users, roles, policies, keys): its root key and
        its users' keys and sessions stop working at once (SigV4 no longer finds their secrets). The
        installation's own account cannot be deleted. Cluster policies naming the account's principals are
        left as they are (as on AWS: a policy may name principals that no longer exist; they match nobody)."""
        if not isinstance(account_id, str) or not ACCOUNT_ID.match(account_id):
            raise ServiceException("ValidationException", "An account id is 12 digits.", 400)
        if account_id == self.account_id:
            raise ServiceException("ValidationException", f"The account {account_id} is the installation's own "
                                   "(default) account; it cannot be deleted.", 400)
        backend = self._others.get(account_id)
        if backend is None:
            raise ServiceException("NoSuchEntity", f"The account {account_id} does not exist.", 404)
        # copy-on-write: a request being authorized elsewhere iterates the old dicts undisturbed
        self._others = {a: b for a, b in self._others.items() if a != account_id}
        self._roots = {k: v for k, v in self._roots.items() if v[0] != account_id}
        import shutil
        folder = self.dir / account_id
        (folder / ROOT_KEY).unlink(missing_ok=True)        # first: a crash mid-way leaves no account to reopen
        backend.store.close()
        shutil.rmtree(folder, ignore_errors=True)
        return {"AccountId": account_id}

    def backend(self, account_id: str) -> IamBackend | None:
        return self.home if account_id == self.account_id else self._others.get(account_id)

    def backends(self) -> list[IamBackend]:
        return [self.home, *self._others.values()]

    def backend_for_key(self, key_id: str) -> IamBackend:
        """The IAM a caller's requests act on: its own account's (the installation's for its own key)."""
        if key_id in self._roots:
            return self._others[self._roots[key_id][0]]
        for backend in self._others.values():
            if backend.store.get(KEY, key_id) is not None or backend.store.get(SESSION, key_id) is not None:
                return backend
        return self.home

    def is_root(self, key_id: str) -> bool:
        return key_id in self._roots

    # -- who is calling --------------------------------------------------------------------------
    def _root(self, account_id: str) -> dict:
        return {"Arn": f"arn:aws:iam::{account_id}:root", "UserId": account_id, "Policies": [ROOT_POLICY],
                "Account": account_id, "Root": True}

    def secret(self, key_id: str) -> str | None:
        if key_id in self._roots:
            return self._roots[key_id][1]
        for backend in self.backends():
            secret = backend.secret(key_id)
            if secret:
                return secret
        return None

    def principal(self, key_id: str) -> dict | None:
        """As IamBackend.principal, for every account, with "Account" (and "Root" for an account's root key)."""
        if key_id in self._roots:
            return self._root(self._roots[key_id][0])
        for backend in self.backends():
            principal = backend.principal(key_id)
            if principal is not None:
                return {**principal, "Account": backend.account_id}
        return None

    def principal_by_arn(self, arn: str) -> dict | None:
        parts = arn.split(":", 5)
        if len(parts) != 6:
            return None
        account_id = parts[4]
        if account_id in self._others and arn == f"arn:aws:iam::{account_id}:root":
            return self._root(account_id)
        backend = self.backend(account_id)
        principal = backend.principal_by_arn(arn) if backend is not None else None
        return {**principal, "Account": account_id} if principal is not None else None


class AccountsApi:
    """`openmsk account create|list|delete` (the installation key only): POST /_openmsk/v1/accounts {"AccountId"},
    POST /_openmsk/v1/accounts/list {}, POST /_openmsk/v1/accounts/delete {"AccountId"}."""

    def __init__(self, accounts: IamAccounts) -> None:
        self.accounts = accounts

    def routes(self) -> list[tuple[str, str, object]]:
        return [("POST", ACCOUNTS_PATH, self.create), ("POST", ACCOUNTS_LIST_PATH, self.list),
                ("POST", ACCOUNTS_DELETE_PATH, self.delete)]

    async def create(self, region: str, request: dict) -> dict:
        return self.accounts.create_account(request.get("AccountId"))

    async def list(self, region: str, request: dict) -> dict:
        return {"Accounts": self.accounts.list_accounts()}

    async def delete(self, region: str, request: dict) -> dict:
        return self.accounts.delete_account(request.get("AccountId"))
