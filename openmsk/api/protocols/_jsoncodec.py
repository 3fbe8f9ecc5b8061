"""JSON <-> boto3-shaped Python walk over botocore shapes (used by rest_json and json_rpc).

``decode`` (wire -> Python) is lenient about types it cannot convert: a string where an
integer is expected is kept as-is so ``validate`` reports a 400 with the member name.
Unknown members and JSON ``null``s are dropped (newer clients may send members our model
does not know). ``encode`` (Python -> wire) drops ``None`` and keys not in the shape.
"""
from __future__ import annotations

import datetime as _dt
import decimal
import json
from typing import Any

from ._common import ProtocolParseError, b64decode, b64encode, format_timestamp, to_datetime, wire_name


_PLAIN = frozenset({str, int, bool, float})


class WireForm(dict):
    """A structure already in its wire form (this codec's output for its shape): the encoders pass it
    through. A provider can keep the wire form of a document that has not changed instead of
    rendering and encoding it again on every request (ListClusters over hundreds of clusters)."""


class JSONCodec:
    def __init__(self, timestamp_format: str, iso_always_ms: bool = False):
        self.timestamp_format = timestamp_format
        self.iso_always_ms = iso_always_ms

    # ---- wire -> Python -------------------------------------------------------------
    def decode(self, shape, value: Any) -> Any:
        return getattr(self, f"_decode_{shape.type_name}", self._decode_scalar)(shape, value)

    def decode_members(self, shape, obj: dict, members=None) -> dict:
        out = {}
        for name, member in (members or shape.members).items():
            wire = wire_name(name, member)
            if wire in obj and obj[wire] is not None:
                out[name] = self.decode(member, obj[wire])
        return out

    def _decode_structure(self, shape, value):
        return self.decode_members(shape, value) if isinstance(value, dict) else value

    def _decode_list(self, shape, value):
        if not isinstance(value, list):
            return value
        return [self.decode(shape.member, v) for v in value]

    def _decode_map(self, shape, value):
        if not isinstance(value, dict):
            return value
        return {k: self.decode(shape.value, v) for k, v in value.items() if v is not None}

    def _decode_timestamp(self, shape, value):
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            return to_datetime(value)
        raise ProtocolParseError(f"Invalid timestamp value: {value!r}")

    def _decode_blob(self, shape, value):
        return b64decode(value)

    def _decode_integer(self, shape, value):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    _decode_long = _decode_integer

    def _decode_scalar(self, shape, value):
        return value

    # ---- Python -> wire -------------------------------------------------------------
    # Every response walks its output shape; the walk is compiled once per shape into nested
    # closures (the models' shape objects live as long as the process), so a request pays for
    # its values only, not for looking up how each member is written.
    def encode(self, shape, value: Any) -> Any:
        return self._encoder(shape)(value)

    def encode_members(self, shape, value: dict, members=None) -> dict:
        if members is None:
            return self._encoder(shape)(value)
        out = {}
        for name, member in members.items():
            v = value.get(name)
            if v is not None:
                out[wire_name(name, member)] = self._encoder(member)(v)
        return out

    def _encoder(self, shape):
        cache = self.__dict__.setdefault("_encoders", {})
        entry = cache.get(id(shape))
        if entry is None or entry[0] is not shape:
            if len(cache) > 50_000:              # only if shape objects were ever built per request
                cache.clear()
            entry = cache[id(shape)] = (shape, self._compile(shape))
        return entry[1]

    def _compile(self, shape):
        kind = shape.type_name
        if kind == "structure":
            plan = None                          # built on first use: shapes may be recursive

            def structure(value):
                nonlocal plan
                if value.__class__ is WireForm:
                    return value
                if plan is None:
                    plan = [(name, wire_name(name, m), self._encoder(m)) for name, m in shape.members.items()]
                out = {}
                for name, wire, enc in plan:
                    v = value.get(name)
                    if v is not None:
                        out[wire] = enc(v)
                return out
            return structure
        if kind == "list":
            def listing(value):
                enc = self._encoder(shape.member)
                return [enc(v) for v in value]
            return listing
        if kind == "map":
            def mapping(value):
                enc = self._encoder(shape.value)
                return {str(k): enc(v) for k, v in value.items() if v is not None}
            return mapping
        if kind == "timestamp":
            return lambda value: self._encode_timestamp(shape, value)
        if kind == "blob":
            return b64encode

        def scalar(value):
            return value if type(value) in _PLAIN else self._encode_scalar(shape, value)
        return scalar

    def _encode_timestamp(self, shape, value):
        fmt = shape.serialization.get("timestampFormat", self.timestamp_format)
        return format_timestamp(value, fmt, always_ms=self.iso_always_ms)

    def _encode_scalar(self, shape, value):
        if isinstance(value, decimal.Decimal):
            return float(value)
        if isinstance(value, _dt.datetime):
            return format_timestamp(value, self.timestamp_format, always_ms=self.iso_always_ms)
        return value


def loads_object(body: bytes) -> dict:
    """Parse a JSON request body that must be an object; empty body -> {}."""
    if not body or not body.strip():
        return {}
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ProtocolParseError(f"Request body is not valid JSON: {e}") from e
    except RecursionError:
        # json's C decoder guards its own stack: 100k nested brackets end here, not in a crash.
        raise ProtocolParseError("Request body is not valid JSON: nested too deeply") from None
    if not isinstance(obj, dict):
        raise ProtocolParseError("Request body must be a JSON object")
    return obj


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
