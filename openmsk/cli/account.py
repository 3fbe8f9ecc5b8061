"""`openmsk account create <12-digit id>`: another AWS account on this installation, for cross-account access
(services/iam/accounts.py). Prints the new account's root access key once, as JSON (like
`aws iam create-access-key`): with it, that account's administrator creates its users, roles and policies with
the ordinary `aws iam` commands, and an MSK cluster policy of the installation's account can grant them access.
`openmsk account list` prints the accounts (the installation's own is `"Default": true`); `openmsk account
delete <id>` removes another account with its users, roles, policies and keys (they stop working at once);
the default account cannot be deleted.
"""
from __future__ import annotations

import json

from ..services.iam.accounts import ACCOUNTS_DELETE_PATH, ACCOUNTS_LIST_PATH, ACCOUNTS_PATH
from .common import EXIT_OK, EXIT_USAGE, Api


def cmd_account(args) -> int:
    api = Api.from_args(args)
    if args.action == "list":
        print(json.dumps(api.operator(ACCOUNTS_LIST_PATH, {}), indent=4))
        return EXIT_OK
    if not args.account_id:
        print(f"openmsk account {args.action}: give the 12-digit account id")
        return EXIT_USAGE
    if args.action == "delete":
        print(json.dumps({"Account": api.operator(ACCOUNTS_DELETE_PATH, {"AccountId": args.account_id})},
                         indent=4))
        return EXIT_OK
    answer = api.operator(ACCOUNTS_PATH, {"AccountId": args.account_id})
    print(json.dumps({"Account": answer}, indent=4))
    return EXIT_OK


def register(add) -> None:
    p = add("account", cmd_account, "other AWS accounts: create (its root access key is printed once), list, delete")
    p.add_argument("action", choices=("create", "list", "delete"))
    p.add_argument("account_id", nargs="?", help="12-digit account id, other than the installation's "
                   "(create, delete)")
    p.add_argument("--port", type=int, help="service port (default: the one `openmsk serve` recorded)")
