"""Strict output mode: a provider's result must fit its operation's output shape exactly.

The serializers are forgiving on purpose (members the shape does not know are dropped, ``None`` is
left out), so in production a misspelt member silently disappears from the wire. With
``OPENMSK_STRICT_OUTPUT=1`` (the test harness sets it for every service it starts) the gateway runs
``check_output`` first and turns a mismatch into a logged 500, so the test that made the call fails.
"""
from __future__ import annotations

import datetime as _dt
import decimal
import os
from typing import Any

from .protocols._common import ProtocolParseError, to_datetime
from .protocols._jsoncodec import WireForm


class OutputShapeError(Exception):
    """A provider result does not match the output shape (a bug in openmsk, never the caller's)."""


def strict_output_from_env() -> bool:
    return os.environ.get("OPENMSK_STRICT_OUTPUT", "") not in ("", "0", "false", "no")


def check_output(op, result: dict) -> None:
    shape = op.output_shape
    if shape is None:
        if result:
            raise OutputShapeError(f"{op.name} has no output, got members {sorted(result)}")
        return
    _check(shape, result, op.name)


def check_value(shape, value: Any) -> None:
    """One structure against its shape (a provider keeping a value in wire form checks it once)."""
    _check(shape, value, shape.name)


def _fail(path: str, shape, value: Any, why: str = "") -> None:
    raise OutputShapeError(f"{path}: {why or 'expected ' + shape.type_name}, got {type(value).__name__} "
                           f"{repr(value)[:80]}")


def _check(shape, value: Any, path: str) -> None:
    if value is None:
        return
    t = shape.type_name
    if t == "structure":
        if value.__class__ is WireForm:          # encoded from a checked value already (ctx.wire_form)
            return
        if not isinstance(value, dict):
            _fail(path, shape, value)
        for name, v in value.items():
            member = shape.members.get(name)
            if member is None:
                _fail(f"{path}.{name}", shape, v, f"not a member of {shape.name} "
                                                  f"(members: {', '.join(shape.members)})")
            _check(member, v, f"{path}.{name}")
    elif t == "list":
        if not isinstance(value, (list, tuple)):
            _fail(path, shape, value)
        for i, v in enumerate(value):
            _check(shape.member, v, f"{path}[{i}]")
    elif t == "map":
        if not isinstance(value, dict):
            _fail(path, shape, value)
        for k, v in value.items():
            _check(shape.key, k, f"{path} key")
            _check(shape.value, v, f"{path}[{k!r}]")
    elif t == "string":
        if not isinstance(value, str):
            _fail(path, shape, value)
        if shape.enum and value not in shape.enum:
            _fail(path, shape, value, f"not one of {', '.join(shape.enum)}")
    elif t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(path, shape, value)
    elif t in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
            _fail(path, shape, value)
    elif t == "boolean":
        if not isinstance(value, bool):
            _fail(path, shape, value)
    elif t == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (_dt.datetime, int, float, str)):
            _fail(path, shape, value)
        try:
            to_datetime(value)
        except ProtocolParseError:
            _fail(path, shape, value, "not a timestamp")
    elif t == "blob":
        if not isinstance(value, (bytes, bytearray, str)):
            _fail(path, shape, value)
