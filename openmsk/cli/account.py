"""`openmsk account create <12-digit id>`: another AWS account on this installation, for cross-account access
(services/iam/accounts.py). Prints the new account's root access key once, as JSON (like
`aws iam create-access-key`): with it, that account's administrator creates its users, roles and policies with
the ordinary `aws iam` commands, and an MSK cluster policy of the installation's account can grant them access.
"""
from __future__ import annotations

import json

from ..services.iam.accounts import ACCOUNTS_PATH
from .common import EXIT_OK, Api


def cmd_account(args) -> int:
    answer = Api.from_args(args).operator(ACCOUNTS_PATH, {"AccountId": args.account_id})
    print(json.dumps({"Account": answer}, indent=4))
    return EXIT_OK


def register(add) -> None:
    p = add("account", cmd_account, "create another AWS account (its root access key is printed once)")
    p.add_argument("action", choices=("create",))
    p.add_argument("account_id", help="12-digit account id, other than the installation's")
    p.add_argument("--port", type=int, help="service port (default: the one `openmsk serve` recorded)")
