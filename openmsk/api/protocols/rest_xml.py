"""REST-XML (S3): the operation is chosen by method + URI template + required query/header members.

Request: `/{Bucket}/{Key+}` labels from the raw path (path-style) or the bucket from the Host's first label
(virtual-hosted: `bucket.s3.localhost:port`); querystring, header and `x-amz-meta-` members; the payload
member is the raw body (blob) or an XML document decoded by its shape. Among operations sharing a method
and template (PutObject/UploadPart/CopyObject, GetObject/ListParts, ...) the most specific one whose
literal query keys (`?uploads`), required query parameters and required headers are all present wins.
Response: header members as headers (`x-amz-meta-*` from Metadata), a blob payload as the raw body, else
the output shape as XML in S3's namespace; 206 when the result has a ContentRange.
Errors: `<Error><Code>NoSuchKey</Code><Message>..</Message>..<RequestId>..</RequestId></Error>`; no body for
HEAD, as S3.
"""
from __future__ import annotations

import ipaddress
import urllib.parse
from typing import Any, Mapping
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from botocore.model import OperationModel, ServiceModel

from ..core import ServiceException
from ._common import ProtocolParseError, format_timestamp, scalar_from_text, scalar_to_text

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
ROOT_NAMES = {"ListObjectsV2": "ListBucketResult", "ListObjects": "ListBucketResult",
              "ListBuckets": "ListAllMyBucketsResult", "CreateMultipartUpload": "InitiateMultipartUploadResult",
              "CompleteMultipartUpload": "CompleteMultipartUploadResult", "ListParts": "ListPartsResult",
              "DeleteObjects": "DeleteResult", "ListMultipartUploads": "ListMultipartUploadsResult",
              "GetBucketLocation": "LocationConstraint"}


def _host_bucket(host: str) -> str | None:
    """Virtual-hosted addressing: `<bucket>.s3.localhost`, `<bucket>.localhost` (a bucket name may hold
    dots) or `<bucket>.<endpoint host>`; an IP or a bare name is path-style."""
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host
    try:
        ipaddress.ip_address(name.strip("[]"))
        return None
    except ValueError:
        pass
    name = name.lower()
    if name == "s3.localhost":
        return None
    for suffix in (".s3.localhost", ".localhost"):          # bucket names may hold dots: all before the suffix
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)]
    labels = name.split(".")
    if len(labels) < 2 or labels[0] in ("s3", "localhost"):
        return None
    return labels[0]


def _split(raw_path: str, headers: Mapping[str, str]) -> tuple[list[str], dict[str, list[str]]]:
    path, _, query = raw_path.partition("?")
    bucket = _host_bucket(headers.get("Host") or "")
    segments = path.lstrip("/")
    if bucket:
        segments = urllib.parse.quote(bucket, safe="") + ("/" + segments if segments else "")
    parts = segments.split("/", 1) if segments else []
    if len(parts) == 2 and parts[1] == "":
        parts = parts[:1]
    labels = [urllib.parse.unquote(p) for p in parts]
    params: dict[str, list[str]] = {}
    for item in query.split("&") if query else []:
        if not item:
            continue
        k, _, v = item.partition("=")
        params.setdefault(urllib.parse.unquote_plus(k), []).append(urllib.parse.unquote_plus(v))
    return labels, params


def _template(op: OperationModel) -> tuple[list[str], dict[str, str | None]]:
    uri = op.http["requestUri"]
    path, _, query = uri.partition("?")
    literal = {}
    for item in query.split("&") if query else []:
        k, eq, v = item.partition("=")
        literal[k] = v if eq else None
    return [p for p in path.strip("/").split("/") if p], literal


def _score(op: OperationModel, method: str, labels: list[str], params: dict, headers) -> int | None:
    if op.http["method"] != method:
        return None
    segs, literal = _template(op)
    if len(segs) != len(labels) and not (segs and segs[-1].endswith("+}") and len(labels) >= len(segs)):
        return None
    for k, v in literal.items():
        if k not in params or (v is not None and params[k][0] != v):
            return None
    score = 10 * len(literal)
    shape = op.input_shape
    for name in (shape.required_members if shape is not None else []):
        member = shape.members[name]
        loc = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if loc == "querystring":
            if wire not in params:
                return None
            score += 1
        elif loc == "header":
            if headers.get(wire) is None:
                return None
            score += 1
    return score


def find_operation(model: ServiceModel, method: str, labels: list[str], params: dict, headers) -> OperationModel:
    best, best_score = None, -1
    for name in model.operation_names:
        op = model.operation_model(name)
        score = _score(op, method, labels, params, headers)
        if score is not None and score > best_score:
            best, best_score = op, score
    if best is None:
        raise ServiceException("MethodNotAllowed", "The specified method is not allowed against this resource.",
                               status_code=405)
    return best


def _xml_value(shape, elem) -> Any:
    t = shape.type_name
    if t == "structure":
        out = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            if member.type_name == "list" and member.serialization.get("flattened"):
                items = [c for c in elem if _local(c.tag) == wire]
                if items:
                    out[name] = [_xml_value(member.member, c) for c in items]
                continue
            child = next((c for c in elem if _local(c.tag) == wire), None)
            if child is not None:
                out[name] = _xml_value(member, child)
        return out
    if t == "list":
        item = shape.member.serialization.get("name", "member")
        return [_xml_value(shape.member, c) for c in elem if _local(c.tag) == item]
    if t == "map":
        return {}
    text = elem.text or ""
    if t == "blob":
        return text.encode()
    return scalar_from_text(shape, text)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_request(service_model: ServiceModel, method: str, raw_path: str,
                  headers: Mapping[str, str], body: bytes) -> tuple[OperationModel, dict]:
    labels, params = _split(raw_path, headers)
    op = find_operation(service_model, method, labels, params, headers)
    shape = op.input_shape
    out: dict[str, Any] = {}
    if shape is None:
        return op, out
    segs, _ = _template(op)
    try:
        for i, seg in enumerate(segs):
            if seg.startswith("{"):
                name = seg.strip("{}+")
                value = "/".join(labels[i:]) if seg.endswith("+}") else labels[i]
                out[name] = value
        payload = shape.serialization.get("payload")
        for name, member in shape.members.items():
            loc, wire = member.serialization.get("location"), member.serialization.get("name", name)
            if loc == "querystring" and wire in params:
                if member.type_name == "list":
                    out[name] = [scalar_from_text(member.member, v) for v in params[wire]]
                else:
                    out[name] = scalar_from_text(member, params[wire][0])
            elif loc == "header" and headers.get(wire) is not None:
                text = headers[wire]
                if member.type_name == "timestamp":
                    out[name] = scalar_from_text(member, text)
                elif member.type_name == "list":
                    out[name] = [v.strip() for v in text.split(",")]
                elif member.type_name in ("string",) and member.serialization.get("jsonvalue"):
                    out[name] = text
                else:
                    out[name] = scalar_from_text(member, text) if member.type_name != "blob" else text.encode()
            elif loc == "headers":
                prefix = wire.lower()
                meta = {k[len(prefix):]: v for k, v in headers.items() if k.lower().startswith(prefix)}
                if meta:
                    out[name] = meta
            elif name == payload:
                if member.type_name == "blob":
                    out[name] = body
                elif body.strip():
                    try:
                        root = ElementTree.fromstring(body)
                    except ElementTree.ParseError as e:
                        raise ServiceException("MalformedXML", "The XML you provided was not well-formed or did not "
                                               f"validate against our published schema ({e})", status_code=400) from None
                    out[name] = _xml_value(member, root)
    except ProtocolParseError as e:
        raise ServiceException("InvalidArgument", str(e), status_code=400) from None
    return op, out


def _encode(shape, value, name: str) -> str:
    t = shape.type_name
    if t == "structure":
        inner = "".join(_members(shape, value))
        return f"<{name}>{inner}</{name}>"
    if t == "list":
        item = shape.member.serialization.get("name", "member")
        return f"<{name}>" + "".join(_encode(shape.member, v, item) for v in value) + f"</{name}>"
    if t == "timestamp":
        text = format_timestamp(value, shape.serialization.get("timestampFormat", "iso8601"), always_ms=True)
    else:
        text = scalar_to_text(shape, value, "iso8601")
    return f"<{name}>{escape(str(text))}</{name}>"


def _members(shape, value: dict):
    for name, member in shape.members.items():
        if name not in value or value[name] is None or member.serialization.get("location"):
            continue
        wire = member.serialization.get("name", name)
        if member.type_name == "list" and member.serialization.get("flattened"):
            for item in value[name]:
                yield _encode(member.member, item, wire)
        else:
            yield _encode(member, value[name], wire)


def serialize_response(op: OperationModel, result: dict | None,
                       request_id: str = "") -> tuple[int, dict[str, str], bytes]:
    result = dict(result or {})
    # A ranged GET answers 206 Partial Content: the only rest-xml status not in the model (`responseCode`).
    status = 206 if result.get("ContentRange") else int(op.http.get("responseCode", 200))
    headers = {"x-amz-request-id": request_id} if request_id else {}
    shape = op.output_shape
    body = b""
    if shape is None:
        return status, headers, body
    for name, member in shape.members.items():
        loc, wire = member.serialization.get("location"), member.serialization.get("name", name)
        if name not in result or result[name] is None:
            continue
        if loc == "header":
            if member.type_name == "timestamp":
                headers[wire] = format_timestamp(result[name], member.serialization.get("timestampFormat", "rfc822"))
            else:
                headers[wire] = scalar_to_text(member, result[name], "rfc822")
        elif loc == "headers":
            for k, v in result[name].items():
                headers[wire + k] = str(v)
    payload = shape.serialization.get("payload")
    if payload:
        member = shape.members[payload]
        if member.type_name == "blob":
            data = result.get(payload)
            body = data if isinstance(data, bytes) else (data or b"")
        elif result.get(payload) is not None:
            body = _xml_doc(_encode(member, result[payload], member.serialization.get("name", payload)))
            headers["Content-Type"] = "application/xml"
    elif any(not m.serialization.get("location") for m in shape.members.values()):
        root = ROOT_NAMES.get(op.name, f"{op.name}Result")
        if op.name == "GetBucketLocation":
            body = _xml_doc(f"<{root}>{escape(result.get('LocationConstraint') or '')}</{root}>")
        else:
            body = _xml_doc(f"<{root}>{''.join(_members(shape, result))}</{root}>")
        headers["Content-Type"] = "application/xml"
    return status, headers, body


def _xml_doc(element: str) -> bytes:
    i = element.index(">")
    if element[i - 1] == "/":
        i -= 1
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + element[:i] + f' xmlns="{NAMESPACE}"' + element[i:]).encode()


def serialize_error(service_model: ServiceModel | None, op: OperationModel | None,
                    exc: ServiceException, request_id: str) -> tuple[int, dict[str, str], bytes]:
    status = exc.status_code or 400
    extra = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in exc.fields.items() if v is not None)
    xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(exc.code)}</Code>'
           f"<Message>{escape(exc.message)}</Message>{extra}<RequestId>{escape(request_id)}</RequestId></Error>")
    headers = {"Content-Type": "application/xml", "x-amz-request-id": request_id}
    if op is not None and op.http.get("method") == "HEAD":
        return status, headers, b""
    return status, headers, xml.encode()
