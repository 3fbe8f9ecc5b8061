"""IAM's validation of policy documents (MalformedPolicyDocument) -- what IAM checks before storing one."""
from __future__ import annotations

import json

from ..errors import BackendError
from .evaluator import KNOWN_OPERATORS, split_operator

MAX_MANAGED = 6144          # characters, managed policy
MAX_INLINE_USER = 2048
MAX_INLINE_ROLE = 10240
MAX_TRUST = 2048
_TOP = {"Version", "Id", "Statement"}
_STMT = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition", "Principal", "NotPrincipal"}


def malformed(message: str) -> BackendError:
    return BackendError("MalformedPolicyDocument", message)


def parse(text: str, *, trust: bool = False, limit: int = MAX_MANAGED) -> dict:
    """The policy as a dict, or BackendError(MalformedPolicyDocument)."""
    if len(text) > limit:
        raise BackendError("LimitExceeded", f"Cannot exceed quota for PolicySize: {limit}")
    try:
        doc = json.loads(text)
    except ValueError:
        raise malformed("This policy contains invalid Json") from None
    if not isinstance(doc, dict):
        raise malformed("This policy contains invalid Json")
    if set(doc) - _TOP:
        raise malformed(f"Syntax errors in policy: unknown field {sorted(set(doc) - _TOP)[0]}")
    if doc.get("Version", "2012-10-17") not in ("2012-10-17", "2008-10-17"):
        raise malformed("The policy failed legacy parsing")
    stmts = doc.get("Statement")
    if isinstance(stmts, dict):
        stmts = [stmts]
    if not isinstance(stmts, list) or not stmts:
        raise malformed("Syntax errors in policy.")
    for stmt in stmts:
        _check_statement(stmt, trust)
    return doc


def _strings(value, what: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise malformed(f"Syntax errors in policy: {what} must be a string or a list of strings")
    return values


def _check_statement(stmt, trust: bool) -> None:
    if not isinstance(stmt, dict) or set(stmt) - _STMT:
        raise malformed("Syntax errors in policy.")
    if stmt.get("Effect") not in ("Allow", "Deny"):
        raise malformed("Invalid effect: %s" % stmt.get("Effect"))
    if ("Action" in stmt) == ("NotAction" in stmt):
        raise malformed("Policy statement must contain actions.")
    for action in _strings(stmt.get("Action", stmt.get("NotAction")), "Action"):
        if action != "*" and (":" not in action or not action.partition(":")[0]):
            raise malformed(f"Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
    if trust:
        if "Principal" not in stmt and "NotPrincipal" not in stmt:
            raise malformed("Has prohibited field Resource" if "Resource" in stmt else
                            "Missing required field Principal")
        if "Resource" in stmt or "NotResource" in stmt:
            raise malformed("Has prohibited field Resource")
    else:
        if "Principal" in stmt or "NotPrincipal" in stmt:
            raise malformed("Policy document should not specify a principal.")
        if ("Resource" in stmt) == ("NotResource" in stmt):
            raise malformed("Policy statement must contain resources.")
        for resource in _strings(stmt.get("Resource", stmt.get("NotResource")), "Resource"):
            if resource != "*" and not resource.startswith("arn:"):
                raise malformed(f"Resource {resource} must be in ARN format or \"*\".")
    cond = stmt.get("Condition")
    if cond is not None:
        if not isinstance(cond, dict):
            raise malformed("Syntax errors in policy: Condition must be an object")
        for raw_op, pairs in cond.items():
            set_op, op, _ = split_operator(raw_op)
            if op not in KNOWN_OPERATORS or set_op not in ("", "ForAllValues", "ForAnyValue"):
                raise malformed(f"Invalid Condition type : {raw_op}.")
            if not isinstance(pairs, dict) or not pairs:
                raise malformed("Syntax errors in policy: Condition block must map keys to values")
