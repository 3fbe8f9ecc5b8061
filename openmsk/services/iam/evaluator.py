"""IAM's policy evaluation logic, pure (no service imports): explicit Deny > Allow > implicit deny.

``evaluate(policies, action, resource, context) -> "Allow" | "Deny" | "ImplicitDeny"``
* ``policies``: parsed policy documents (dicts with ``Statement``: a dict or a list of them);
* ``action``: ``service:Operation`` (matched case-insensitively, as IAM does);
* ``resource``: an ARN or ``*`` (matched case-sensitively);
* ``context``: condition keys (``aws:SourceIp``, ``aws:SecureTransport``, ``kafka-cluster:...``), keys
  matched case-insensitively; values are strings, lists of strings, numbers or booleans.

Conditions: String{Equals,NotEquals,EqualsIgnoreCase,NotEqualsIgnoreCase,Like,NotLike},
Arn{Equals,Like,NotEquals,NotLike}, Bool, Numeric{Equals,NotEquals,LessThan,LessThanEquals,GreaterThan,
GreaterThanEquals}, IpAddress/NotIpAddress, Null, the ``...IfExists`` suffix and the
``ForAllValues:``/``ForAnyValue:`` set prefixes. An operator openmsk does not know makes the
statement not apply (fail closed for Allow, and -- as IAM does for a Deny whose condition cannot be
evaluated -- the Deny does not apply either; validation refuses unknown operators up front).
"""
from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Any, Iterable

ALLOW, DENY, IMPLICIT_DENY = "Allow", "Deny", "ImplicitDeny"


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern:
    """IAM wildcards: * any run of characters (also across ':' and '/'), ? exactly one character."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return bool(_glob(pattern, ignore_case).match(value))


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: each of the six ':'-separated parts matched on its own (the resource part keeps its ':')."""
    p, v = pattern.split(":", 5), value.split(":", 5)
    if len(p) != 6 or len(v) != 6:
        return False
    return all(wildcard_match(a, b) for a, b in zip(p, v))


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _ip_in(network: str, value: str) -> bool:
    try:
        return ipaddress.ip_address(str(value)) in ipaddress.ip_network(str(network), strict=False)
    except ValueError:
        return False


def _bool_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).lower()


#: operator -> (compare(policy value, request value) -> bool, negated)
_NUMERIC = {
    "NumericEquals": lambda a, b: a == b, "NumericNotEquals": lambda a, b: a != b,
    "NumericLessThan": lambda a, b: b < a, "NumericLessThanEquals": lambda a, b: b <= a,
    "NumericGreaterThan": lambda a, b: b > a, "NumericGreaterThanEquals": lambda a, b: b >= a,
}
_POSITIVE = {
    "StringEquals": lambda p, v: str(v) == str(p),
    "StringEqualsIgnoreCase": lambda p, v: str(v).lower() == str(p).lower(),
    "StringLike": lambda p, v: wildcard_match(str(p), str(v)),
    "ArnEquals": lambda p, v: str(v) == str(p),
    "ArnLike": lambda p, v: _arn_like(str(p), str(v)),
    "Bool": lambda p, v: _bool_str(v) == _bool_str(p),
    "IpAddress": lambda p, v: _ip_in(p, v),
}
_NEGATED = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
            "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike",
            "NotIpAddress": "IpAddress"}
KNOWN_OPERATORS = set(_POSITIVE) | set(_NEGATED) | set(_NUMERIC) | {"Null"}


def _one(op: str, policy_value: Any, request_value: Any) -> bool:
    if op in _POSITIVE:
        return _POSITIVE[op](policy_value, request_value)
    a, b = _number(policy_value), _number(request_value)
    return a is not None and b is not None and _NUMERIC[op](a, b)


def _key_matches(op: str, policy_values: list, request_values: list, set_op: str) -> bool:
    negated = op in _NEGATED
    base = _NEGATED.get(op, op)

    def any_policy(v) -> bool:
        return any(_one(base, p, v) for p in policy_values)

    if set_op == "ForAllValues":
        ok = all(any_policy(v) for v in request_values)
        return ok if not negated else all(not any_policy(v) for v in request_values)
    if set_op == "ForAnyValue":
        return any((not any_policy(v)) if negated else any_policy(v) for v in request_values)
    # single-valued key: a negated operator matches when no policy value matches
    hit = any(any_policy(v) for v in request_values)
    return not hit if negated else hit


def split_operator(raw: str) -> tuple[str, str, bool]:
    """'ForAnyValue:StringLikeIfExists' -> ('ForAnyValue', 'StringLike', True)."""
    set_op, _, op = raw.rpartition(":")
    if_exists = op.endswith("IfExists") and op != "IfExists"
    if if_exists:
        op = op[: -len("IfExists")]
    return set_op, op, if_exists


def conditions_match(condition: dict | None, context: dict) -> bool:
    if not condition:
        return True
    ctx = {str(k).lower(): v for k, v in context.items()}
    for raw_op, pairs in condition.items():
        set_op, op, if_exists = split_operator(raw_op)
        if op not in KNOWN_OPERATORS or set_op not in ("", "ForAllValues", "ForAnyValue") or not isinstance(pairs, dict):
            return False
        for key, policy_value in pairs.items():
            present = str(key).lower() in ctx and ctx[str(key).lower()] is not None
            request_values = [_bool_str(v) if isinstance(v, bool) else v for v in _as_list(ctx.get(str(key).lower()))]
            policy_values = _as_list(policy_value)
            if op == "Null":        # "true": the key must be absent
                if not any(_bool_str(p) == ("false" if present else "true") for p in policy_values):
                    return False
                continue
            if not present:
                if if_exists or set_op == "ForAllValues":
                    continue
                return False
            if not _key_matches(op, policy_values, request_values, set_op):
                return False
    return True


def _matches_any(patterns: Iterable, value: str, *, ignore_case: bool) -> bool:
    return any(wildcard_match(str(p), value, ignore_case=ignore_case) for p in patterns)


def statement_applies(stmt: dict, action: str, resource: str, context: dict) -> bool:
    if "Action" in stmt:
        if not _matches_any(_as_list(stmt["Action"]), action, ignore_case=True):
            return False
    elif "NotAction" in stmt:
        if _matches_any(_as_list(stmt["NotAction"]), action, ignore_case=True):
            return False
    else:
        return False
    if "Resource" in stmt:
        if not _matches_any(_as_list(stmt["Resource"]), resource, ignore_case=False):
            return False
    elif "NotResource" in stmt:
        if _matches_any(_as_list(stmt["NotResource"]), resource, ignore_case=False):
            return False
    return conditions_match(stmt.get("Condition"), context)


def statements(policy: dict) -> list[dict]:
    return [s for s in _as_list(policy.get("Statement")) if isinstance(s, dict)]


def evaluate(policies: Iterable[dict], action: str, resource: str = "*", context: dict | None = None) -> str:
    context = context or {}
    allowed = False
    for policy in policies:
        for stmt in statements(policy):
            if not statement_applies(stmt, action, resource, context):
                continue
            if stmt.get("Effect") == DENY:
                return DENY
            if stmt.get("Effect") == ALLOW:
                allowed = True
    return ALLOW if allowed else IMPLICIT_DENY


def principal_matches(stmt: dict, principal_arns: Iterable[str], account_id: str) -> bool:
    """Trust-policy Principal: '*', {"AWS": arn | account id | [..]} (an account id / its root ARN means
    any identity of that account)."""
    principal = stmt.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for value in _as_list(principal.get("AWS")):
        value = str(value)
        if value == "*" or value in (account_id, f"arn:aws:iam::{account_id}:root"):
            return True
        if any(wildcard_match(value, arn) for arn in principal_arns):
            return True
    return False
