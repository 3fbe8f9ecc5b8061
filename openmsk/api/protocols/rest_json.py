"""rest-json (kafka): operation from HTTP method + ``requestUri`` template on the raw path.

MSK ARNs contain ``/`` and ``:`` and arrive percent-encoded (``%2F``), so routes are
matched on the *raw* path split on ``/``; label values are unquoted only afterwards.
``{label+}`` is greedy. Members are placed by ``location`` (uri / querystring / header /
headers / body); body JSON uses ``locationName``s, timestamps iso8601 unless the shape
says otherwise, blobs base64.
"""
from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import parse_qsl, unquote

from botocore.model import OperationModel, ServiceModel

from .. import specs
from ..core import ServiceException
from ._common import (ProtocolParseError, b64encode, decode_body, error_fields_to_wire, message_key,
                      scalar_from_text, scalar_to_text, to_datetime)
from ._jsoncodec import JSONCodec, WireForm, dumps, loads_object

CODEC = JSONCodec("iso8601", iso_always_ms=True)


def wire_form(shape, value: dict) -> WireForm:
    """`value` (a structure of `shape`) encoded once, to be handed back in later results as is."""
    return WireForm(CODEC.encode(shape, value))
CONTENT_TYPE = "application/json"


@dataclass
class _Route:
    op: OperationModel
    segments: list[tuple[str, str]]          # ("lit", text) | ("label", name) | ("greedy", name)
    static_query: dict[str, str] = field(default_factory=dict)

    @property
    def rank(self):
        lits = sum(1 for kind, _ in self.segments if kind == "lit")
        greedy = any(kind == "greedy" for kind, _ in self.segments)
        return (-lits, greedy, -len(self.segments), -len(self.static_query))

    def match(self, parts: list[str], query: dict[str, list[str]]) -> dict[str, str] | None:
        # Labels are collected raw and unquoted only once the whole route matched: a request is
        # tried against every route of its method, most of which fail on a literal.
        raw: list[tuple[str, str]] = []
        for i, (kind, text) in enumerate(self.segments):
            if kind == "greedy":
                rest = parts[i:]
                if not rest or not "".join(rest):
                    return None
                raw.append((text, "/".join(rest)))
                break
            if i >= len(parts):
                return None
            if kind == "lit":
                if parts[i] != text:
                    return None
            else:
                if not parts[i]:
                    return None
                raw.append((text, parts[i]))
        else:
            if len(parts) != len(self.segments):
                return None
        if not self._query_ok(query):
            return None
        return {name: unquote(value) for name, value in raw}

    def _query_ok(self, query):
        return all(k in query and (not v or v in query[k]) for k, v in self.static_query.items())


def _split(path: str) -> list[str]:
    path = path.strip("/")
    return path.split("/") if path else []


@functools.lru_cache(maxsize=None)
def _routes(model: ServiceModel) -> dict[str, list[_Route]]:
    table: dict[str, list[_Route]] = {}
    for name in model.operation_names:
        op = model.operation_model(name)
        path, _, static = op.http["requestUri"].partition("?")
        segments = []
        for seg in _split(path):
            if seg.startswith("{") and seg.endswith("+}"):
                segments.append(("greedy", seg[1:-2]))
            elif seg.startswith("{") and seg.endswith("}"):
                segments.append(("label", seg[1:-1]))
            else:
                segments.append(("lit", seg))
        sq = dict(p.partition("=")[::2] for p in static.split("&") if p)
        table.setdefault(op.http["method"].upper(), []).append(_Route(op, segments, sq))
    for routes in table.values():
        routes.sort(key=lambda r: r.rank)
    return table


@functools.lru_cache(maxsize=1024)
def _candidates(model: ServiceModel, method: str, length: int) -> list[_Route]:
    """The routes of `method` that can match a path of `length` segments, in rank order."""
    out = []
    for route in _routes(model).get(method, []):
        greedy = any(kind == "greedy" for kind, _ in route.segments)
        if len(route.segments) == length or (greedy and length >= len(route.segments)):
            out.append(route)
    return out


def _bad_request(model: ServiceModel, message: str) -> ServiceException:
    code = "BadRequestException" if specs.find_error_shape(model, "BadRequestException") else "SerializationException"
    return ServiceException(code, message, status_code=400)


def parse_request(service_model: ServiceModel, method: str, raw_path: str,
                  headers: Mapping[str, str], body: bytes) -> tuple[OperationModel, dict]:
    path, _, raw_query = raw_path.partition("?")
    query: dict[str, list[str]] = {}
    for k, v in parse_qsl(raw_query, keep_blank_values=True):
        query.setdefault(k, []).append(v)
    parts = _split(path)
    for route in _candidates(service_model, method.upper(), len(parts)):
        labels = route.match(parts, query)
        if labels is not None:
            break
    else:
        raise ServiceException("UnknownOperationException",
                               f"No operation matches {method.upper()} {path}", status_code=404)
    op = route.op
    try:
        return op, _parse_members(op, labels, query, headers, decode_body(headers, body))
    except ProtocolParseError as e:
        raise _bad_request(service_model, str(e)) from None


def _parse_members(op, labels, query, headers, body) -> dict:
    shape = op.input_shape
    if shape is None:
        return {}
    params: dict[str, Any] = {}
    body_members = {}
    claimed = set()
    for name, member in shape.members.items():
        loc, wire = member.serialization.get("location"), member.serialization.get("name", name)
        if loc == "uri":
            if wire in labels:
                params[name] = scalar_from_text(member, labels[wire])
        elif loc == "querystring":
            claimed.add(wire)
            if member.type_name == "list" and wire in query:
                params[name] = [scalar_from_text(member.member, v) for v in query[wire]]
            elif member.type_name != "map" and wire in query:
                if len(query[wire]) > 1:
                    raise ProtocolParseError(f"The query parameter {wire} is given more than once")
                params[name] = scalar_from_text(member, query[wire][0])
        elif loc == "header":
            if wire in headers:
                params[name] = _header_value(member, headers[wire])
        elif loc == "headers":
            pre = wire.lower()
            found = {k[len(pre):]: v for k, v in headers.items() if k.lower().startswith(pre)}
            if found:
                params[name] = found
        elif loc is None:
            body_members[name] = member
    for name, member in shape.members.items():   # querystring maps take the unclaimed keys
        if member.serialization.get("location") == "querystring" and member.type_name == "map":
            rest = {k: v[0] for k, v in query.items() if k not in claimed}
            if rest:
                params[name] = rest
    payload = shape.serialization.get("payload")
    if payload:
        member = shape.members[payload]
        if member.type_name in ("blob", "string"):
            if body:
                params[payload] = body if member.type_name == "blob" else _utf8(body)
        elif body.strip():
            params[payload] = CODEC.decode(member, loads_object(body))
    elif body_members:
        params.update(CODEC.decode_members(shape, loads_object(body), body_members))
    return params


def _utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolParseError(f"Request body is not valid UTF-8: {e}") from e


def _header_value(member, text: str):
    if member.type_name == "timestamp":
        return to_datetime(text)
    if member.type_name == "list":
        return [scalar_from_text(member.member, v.strip()) for v in text.split(",")]
    if member.serialization.get("jsonvalue"):
        try:
            return json.loads(base64.b64decode(text))
        except ValueError as e:
            raise ProtocolParseError(f"Invalid JSON header value: {e}") from e
    return scalar_from_text(member, text)


def serialize_response(op: OperationModel, result: dict | None,
                       request_id: str = "") -> tuple[int, dict[str, str], bytes]:
    status = int(op.http.get("responseCode", 200))
    headers = {"Content-Type": CONTENT_TYPE}
    if request_id:
        headers["x-amzn-RequestId"] = request_id
    shape, result = op.output_shape, result or {}
    if shape is None:
        return status, headers, b""
    body_members = {}
    for name, member in shape.members.items():
        loc, wire, value = member.serialization.get("location"), member.serialization.get("name", name), result.get(name)
        if loc is None:
            body_members[name] = member
        elif value is None:
            continue
        elif loc == "statusCode":
            status = int(value)
        elif loc == "header":
            if member.serialization.get("jsonvalue"):
                headers[wire] = b64encode(json.dumps(value))
            elif member.type_name == "list":
                headers[wire] = ",".join(scalar_to_text(member.member, v, "rfc822") for v in value)
            else:
                headers[wire] = scalar_to_text(member, value, "rfc822")
        elif loc == "headers":
            headers.update({wire + k: str(v) for k, v in value.items()})
    if status == 204:
        return status, headers, b""
    payload = shape.serialization.get("payload")
    if payload:
        member, value = shape.members[payload], result.get(payload)
        if value is None:
            return status, headers, b""
        if member.type_name == "blob":
            return status, headers, bytes(value)
        if member.type_name == "string":
            return status, headers, value.encode("utf-8")
        return status, headers, dumps(CODEC.encode(member, value))
    return status, headers, dumps(CODEC.encode_members(shape, result, body_members))


def serialize_error(service_model: ServiceModel | None, op: OperationModel | None,
                    exc: ServiceException, request_id: str) -> tuple[int, dict[str, str], bytes]:
    status = exc.resolve_status(service_model)
    shape = specs.find_error_shape(service_model, exc.code)
    body = {message_key(shape): exc.message}
    body.update(error_fields_to_wire(shape, exc.fields, lower_first=True))
    headers = {"Content-Type": CONTENT_TYPE, "x-amzn-ErrorType": exc.code}
    if request_id:
        headers["x-amzn-RequestId"] = request_id
    return status, headers, dumps(body)
