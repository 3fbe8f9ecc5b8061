"""Requests built from botocore's own models: hypothesis strategies for an operation's input shape,
botocore's serializers and signer to put them on the wire, and the mutations that make them invalid.

Which operations: every ``@handler`` of every Provider subclass under ``openmsk.services`` (found by
walking the package, so a service added later is fuzzed without touching this file), each in every
wire protocol openmsk speaks for its model.
"""
from __future__ import annotations

import datetime as dt
import importlib
import json
import pkgutil
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from botocore import serialize
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest, create_request_object, prepare_request_dict
from botocore.credentials import Credentials
from hypothesis import strategies as st

from openmsk.api import specs
from openmsk.api.core import HANDLER_ATTR, Provider
from openmsk.api.protocols import PROTOCOLS

MAX_DEPTH = 4
MUTATING_PREFIXES = ("Create", "Delete", "Update", "Put", "Tag", "Untag", "Batch", "Reboot", "Associate",
                     "Disassociate", "Enable", "Disable", "Schedule", "Cancel", "Restore", "Rotate", "Set",
                     "Import", "Issue", "Revoke", "Modify", "Authorize", "Attach", "Detach", "Start", "Stop",
                     "Promote", "Replicate", "Remove", "Add", "Retire", "Encrypt", "Decrypt", "Generate",
                     "ReEncrypt", "Sign", "Verify", "Subscribe", "Unsubscribe", "Publish", "Confirm",
                     "Test", "Change", "Register", "Deregister")


def served_operations() -> dict[str, list[str]]:
    """signing name -> sorted operation names, from every Provider's @handler methods."""
    import openmsk.services as services
    for info in pkgutil.walk_packages(services.__path__, services.__name__ + "."):
        importlib.import_module(info.name)
    table: dict[str, set[str]] = {}
    stack = list(Provider.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if not cls.service_name or not cls.__module__.startswith("openmsk.services"):
            continue
        for klass in cls.__mro__:
            for value in vars(klass).values():
                op = getattr(value, HANDLER_ATTR, None)
                if op is not None:
                    table.setdefault(cls.service_name, set()).add(op)
    return {svc: sorted(ops) for svc, ops in sorted(table.items())}


def wire_protocols(service: str) -> list[str]:
    return [p for p in specs.supported_protocols(specs.load_service_model(service)) if p in PROTOCOLS]


def is_mutating(op_name: str) -> bool:
    return op_name.startswith(MUTATING_PREFIXES)


# ------------------------------------------------------------------------------ input strategies
@dataclass
class Pool:
    """Identifiers of real resources, so generated requests reach past "not found" now and then."""
    strings: list[str] = field(default_factory=list)

    def add(self, *values) -> None:
        self.strings.extend(v for v in values if isinstance(v, str) and v not in self.strings)


#: What an HTTP header can carry at all (a client cannot send control characters there either).
HEADER_SAFE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


def _string(shape, pool: Pool, in_header: bool = False):
    md = shape.metadata
    lo, hi = md.get("min", 0), min(md.get("max", 40), 40)
    options = [st.text(HEADER_SAFE if in_header else st.characters(codec="utf-8"), min_size=min(lo, hi), max_size=hi)]
    if shape.enum:
        options.insert(0, st.sampled_from(shape.enum))
    if pool.strings:
        options.insert(0, st.sampled_from(pool.strings))
    return st.one_of(*options)


def _number(shape):
    md = shape.metadata
    if shape.type_name in ("integer", "long"):
        lo, hi = md.get("min", -10), md.get("max", 10_000)
        return st.one_of(st.integers(int(lo), int(hi)), st.integers(-2**63, 2**63))
    return st.one_of(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
                     st.floats())


def strategy(shape, pool: Pool, depth: int = 0, in_header: bool = False):
    t = shape.type_name
    if t == "structure":
        required = set(shape.required_members)
        if depth >= MAX_DEPTH:
            return st.just({})
        def member(m):
            return strategy(m, pool, depth + 1, in_header=m.serialization.get("location") == "header")
        fixed = {n: member(m) for n, m in shape.members.items() if n in required}
        optional = {n: member(m) for n, m in shape.members.items()
                    if n not in required and m.serialization.get("location") != "headers"}
        return st.fixed_dictionaries(fixed, optional=optional)
    if t == "list":
        return st.lists(strategy(shape.member, pool, depth + 1, in_header), max_size=0 if depth >= MAX_DEPTH else 3)
    if t == "map":
        return st.dictionaries(_string(shape.key, pool), strategy(shape.value, pool, depth + 1),
                               max_size=0 if depth >= MAX_DEPTH else 3)
    if t == "string":
        return _string(shape, pool, in_header)
    if t in ("integer", "long", "float", "double"):
        return _number(shape)
    if t == "boolean":
        return st.booleans()
    if t == "timestamp":
        return st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2200, 1, 1),
                            timezones=st.just(dt.timezone.utc))
    if t == "blob":
        return st.binary(max_size=64)
    return st.nothing()


# ------------------------------------------------------------------------------ the wire
@dataclass
class WireRequest:
    method: str
    url: str                  # endpoint + raw path and query
    headers: dict[str, str]
    body: bytes

    def path_and_query(self) -> str:
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")


def serialize_request(endpoint: str, service: str, protocol: str, op_name: str, params: dict) -> WireRequest:
    """botocore's client serializer for `protocol` (raises for params botocore cannot even encode)."""
    op = specs.load_service_model(service).operation_model(op_name)
    request_dict = serialize.create_serializer(protocol, include_validation=False).serialize_to_request(params, op)
    request_dict.pop("host_prefix", None)      # as a client with inject_host_prefix=False (an IP endpoint)
    prepare_request_dict(request_dict, endpoint_url=endpoint)
    prepared = create_request_object(request_dict).prepare()
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()}
    return WireRequest(prepared.method, prepared.url, headers, body)


def sign(req: WireRequest, service: str, access_key: str, secret: str, region: str = "us-east-1") -> WireRequest:
    # Content-Length comes from the (possibly mutated) body when sent, never from the original request.
    headers = {k: v for k, v in req.headers.items() if k.lower() not in ("authorization", "x-amz-date",
                                                                          "x-amz-content-sha256", "content-length")}
    headers["Host"] = urlsplit(req.url).netloc
    aws = AWSRequest(method=req.method, url=req.url, data=req.body, headers=headers)
    signer = S3SigV4Auth if service == "s3" else SigV4Auth       # what botocore's s3 client signs with
    signer(Credentials(access_key, secret), service, region).add_auth(aws)
    return WireRequest(req.method, req.url, dict(aws.headers.items()), req.body)


# ------------------------------------------------------------------------------ invalid variants
VALUE_SWAPS = [True, False, "x", "", 1e20, -1, 2**70, [], {}, None, "NaN", float("nan"), float("inf"),
               "\u0000", "a" * 5000, 1.5]


def _paths(obj, prefix=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


def mutate(req: WireRequest, kind: str, draw) -> WireRequest:
    """An invalid version of a request (to be re-signed, so only the input is wrong)."""
    method, url, headers, body = req.method, req.url, dict(req.headers), req.body
    if kind == "json-value":
        try:
            doc = json.loads(body) if body.strip() else {}
        except ValueError:
            doc = None
        paths = list(_paths(doc)) if isinstance(doc, (dict, list)) else []
        if paths:
            path = draw(st.sampled_from(paths))
            target = doc
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = draw(st.sampled_from(VALUE_SWAPS))
        elif isinstance(doc, dict):
            doc[draw(st.sampled_from(["unknownMember", "x"]))] = draw(st.sampled_from(VALUE_SWAPS))
        else:
            doc = draw(st.sampled_from(VALUE_SWAPS))
        body = json.dumps(doc).encode()
    elif kind == "truncate":
        body = body[: len(body) // 2]
    elif kind == "deep":
        body = b"[" * 100_000 + b"]" * 100_000
    elif kind == "invalid-utf8":
        cut = draw(st.integers(0, len(body)))
        body = body[:cut] + b"\xff\xfe\xc3" + body[cut:]
    elif kind == "duplicate-parameter":
        parts = urlsplit(url)
        if parts.query:
            first = parts.query.split("&")[0]
            url = url + "&" + first
        elif body and b"=" in body.split(b"&")[0] and not body.lstrip().startswith(b"{"):
            body = body + b"&" + body.split(b"&")[-1]
        else:
            url = url + "?maxResults=1&maxResults=2"
    elif kind == "content-type":
        headers["Content-Type"] = draw(st.sampled_from(["text/plain", "application/xml", "application/json",
                                                        "application/x-www-form-urlencoded", "multipart/form-data"]))
    elif kind == "target":
        if "X-Amz-Target" in headers:
            headers["X-Amz-Target"] = draw(st.sampled_from(["", "Nope.Nope", headers["X-Amz-Target"] + "X"]))
        else:
            headers["X-Amz-Target"] = "Unknown_20240101.Operation"
    elif kind == "method":
        method = draw(st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "POST"]))
    elif kind == "path":
        url = url.split("?")[0].rstrip("/") + draw(st.sampled_from(["/x", "/%ff", "/..", "//", "/%2F%2F"])) + \
            ("?" + url.split("?", 1)[1] if "?" in url else "")
    elif kind == "timestamp":
        body = body.replace(b'"20', b'"99') if b'"20' in body else body + b"&StartTime=1e20"
    return WireRequest(method, url, headers, body)


MUTATIONS = ["json-value", "json-value", "truncate", "deep", "invalid-utf8", "duplicate-parameter", "content-type",
             "target", "method", "path", "timestamp"]
REFUSALS = ["unsigned", "wrong-secret", "unknown-key", "tampered-body", "tampered-path"]
