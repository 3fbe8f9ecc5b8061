"""Helpers shared by every protocol: timestamps, request-body decoding, member wire names."""
from __future__ import annotations

import base64
import binascii
import datetime as _dt
import email.utils
import math
import zlib
from typing import Any, Mapping

from botocore.utils import parse_timestamp

UTC = _dt.timezone.utc


class ProtocolParseError(ValueError):
    """The request is malformed for its protocol (a client fault: answered with a 4xx)."""


def to_datetime(value: Any) -> _dt.datetime:
    """Wire or provider value -> tz-aware UTC datetime (epoch numbers, ISO8601, RFC822)."""
    if isinstance(value, _dt.datetime):
        dt = value
    elif isinstance(value, bool):
        raise ProtocolParseError(f"Invalid timestamp: {value!r}")
    elif isinstance(value, (int, float)):
        # NaN, infinities and epochs outside datetime's years 1-9999 are a client's mistake.
        if not math.isfinite(value):
            raise ProtocolParseError(f"Invalid timestamp: {value!r}")
        try:
            dt = _dt.datetime.fromtimestamp(value, UTC)
        except (ValueError, OverflowError, OSError) as e:
            raise ProtocolParseError(f"Invalid timestamp: {value!r} is out of range") from e
    elif isinstance(value, str):
        try:
            dt = parse_timestamp(value)
        except Exception as e:     # botocore raises RuntimeError for some garbage ("1e20")
            raise ProtocolParseError(f"Invalid timestamp: {value[:64]!r}") from e
    else:
        raise ProtocolParseError(f"Invalid timestamp: {value!r}")
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_timestamp(value: Any, fmt: str, always_ms: bool = False) -> Any:
    """Python value -> wire timestamp in ``fmt`` (iso8601 | unixtimestamp | rfc822)."""
    dt = to_datetime(value)
    if fmt == "unixtimestamp":
        ts = dt.timestamp()
        return int(ts) if dt.microsecond == 0 else round(ts, 3)
    if fmt == "rfc822":
        return email.utils.format_datetime(dt, usegmt=True)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if always_ms or dt.microsecond:
        base += ".%03d" % (dt.microsecond // 1000)
    return base + "Z"


def b64decode(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ProtocolParseError(f"Invalid base64 blob: expected a string, got {type(value).__name__}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ProtocolParseError(f"Invalid base64 blob: {e}") from e


def b64encode(value: Any) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(bytes(value)).decode("ascii")


#: Largest request body, compressed or not (a gzip bomb stops here, not in memory).
MAX_BODY = 16 * 1024 * 1024


class BodyTooLarge(ValueError):
    """The (decompressed) request body exceeds ``MAX_BODY``: the gateway answers 413 in the request's
    protocol (deliberately not a ProtocolParseError, which parsers turn into a 400)."""


def decode_body(headers: Mapping[str, str], body: bytes) -> bytes:
    """Undo ``Content-Encoding: gzip`` (botocore request compression, e.g. PutMetricData)."""
    encoding = (headers.get("Content-Encoding") or "").strip().lower()
    if not body or encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = inflater.decompress(body, MAX_BODY + 1)
        except zlib.error as e:
            raise ProtocolParseError(f"Request body is not valid gzip: {e}") from e
        if len(out) > MAX_BODY:
            raise BodyTooLarge(f"Decompressed request body exceeds {MAX_BODY} bytes")
        if not inflater.eof:
            raise ProtocolParseError("Request body is not valid gzip: truncated stream")
        return out
    raise ProtocolParseError(f"Unsupported Content-Encoding: {encoding}")


def wire_name(member_name: str, member_shape) -> str:
    """JSON/query/XML name of a member: its ``locationName`` else the member name."""
    return member_shape.serialization.get("name", member_name)


def ec2_query_name(member_name: str, member_shape) -> str:
    """EC2 input key: ``queryName``, else ``locationName`` capitalised, else the member name."""
    ser = member_shape.serialization
    if "queryName" in ser:
        return ser["queryName"]
    if "name" in ser:
        return ser["name"][:1].upper() + ser["name"][1:]
    return member_name


def scalar_from_text(shape, text: str) -> Any:
    """Typed value of a textual scalar (URI label, querystring, header, form field).

    Unconvertible numbers/booleans are returned unchanged so validation reports a clean
    type error (400) instead of the parser guessing.
    """
    t = shape.type_name
    if t in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            return text
    if t in ("float", "double"):
        try:
            return float(text)
        except ValueError:
            return text
    if t == "boolean":
        low = text.lower()
        return True if low == "true" else False if low == "false" else text
    if t == "timestamp":
        return to_datetime(text)
    if t == "blob":
        return b64decode(text)
    return text


def scalar_to_text(shape, value: Any, timestamp_format: str) -> str:
    t = shape.type_name
    if t == "boolean":
        return "true" if value else "false"
    if t == "timestamp":
        return str(format_timestamp(value, shape.serialization.get("timestampFormat", timestamp_format)))
    if t == "blob":
        return b64encode(value)
    if t in ("float", "double") and isinstance(value, float) and value.is_integer():
        return repr(value)
    return str(value)


def error_fields_to_wire(error_shape, fields: Mapping[str, Any], lower_first: bool) -> dict:
    """Error members (PascalCase keys) -> wire keys via the error shape, else by convention."""
    out: dict[str, Any] = {}
    members = error_shape.members if error_shape is not None else {}
    for key, value in fields.items():
        if value is None:
            continue
        if key in members:
            out[wire_name(key, members[key])] = value
        else:
            out[key[:1].lower() + key[1:] if lower_first else key] = value
    return out


def message_key(error_shape) -> str:
    """``message`` unless the error shape only models ``Message``."""
    if error_shape is not None:
        for name, member in error_shape.members.items():
            if name.lower() == "message":
                return wire_name(name, member)
    return "message"
