"""Errors for requests openmsk cannot route: services it does not serve, unauthenticated or oversized
requests of any service. They are answered in the *caller's* protocol, so every SDK shows a readable
error code instead of "400" or a parser error:

    X-Amz-Target header (awsJson clients: dynamodb, sqs, ...)  -> {"__type": Code, "message": ...}
    form body or ?Action= (query clients: sns, iam, sts, ...)  -> <ErrorResponse><Error><Code>..
    REST request of a rest-xml service (route53, s3, ...)      -> <ErrorResponse><Error><Code>..
                                                                  (botocore's rest-xml parser reads it)
    anything else                                              -> rest-json (x-amzn-ErrorType + JSON)

The protocol of a REST request cannot be told from the request alone, so the service's botocore
model decides it when botocore knows the service (a directory listing, then one cached model).
"""
from __future__ import annotations

import functools

import botocore.session

from .core import ServiceException
from .protocols import get_protocol

#: Signing names whose botocore service name differs (the rest are the same).
_SIGNING_TO_SERVICE = {"monitoring": "cloudwatch", "email": "ses", "execute-api": "apigateway",
                       "states": "stepfunctions", "es": "opensearch"}


@functools.lru_cache(maxsize=1)
def _available() -> frozenset[str]:
    return frozenset(botocore.session.get_session().get_available_services())


@functools.lru_cache(maxsize=64)
def model_protocol(signing_name: str) -> str | None:
    """The protocol botocore uses for a service, or None when botocore does not know it."""
    service = _SIGNING_TO_SERVICE.get(signing_name, signing_name)
    if service not in _available():
        return None
    model = botocore.session.get_session().get_service_model(service)
    protocols = model.metadata.get("protocols") or [model.protocol]
    for p in ("json", "rest-json", "rest-xml", "query", "ec2"):      # botocore's own preference
        if p in protocols:
            return p
    return protocols[0]


def caller_protocol(signing_name: str | None, raw_path: str, headers) -> str:
    """Protocol to answer this request in: one of rest-json | json | query | ec2."""
    if headers.get("X-Amz-Target"):
        return "json"
    content_type = (headers.get("Content-Type") or "").lower()
    if "x-www-form-urlencoded" in content_type or "Action=" in raw_path.partition("?")[2]:
        return "ec2" if signing_name == "ec2" else "query"
    if "json" in content_type:
        return "rest-json"
    known = model_protocol(signing_name) if signing_name else None
    if known in ("rest-xml", "query"):
        return "query"                    # <ErrorResponse> XML: what query and rest-xml parsers read
    if known == "ec2":
        return "ec2"
    if known == "json":
        return "json"
    return "rest-json"


def error_response(signing_name: str | None, raw_path: str, headers, codes: tuple[str, str], message: str,
                   status: int, request_id: str) -> tuple[int, dict[str, str], bytes]:
    """``codes`` = (code for JSON callers, code for XML callers)."""
    protocol = caller_protocol(signing_name, raw_path, headers)
    code = codes[1] if protocol in ("query", "ec2") else codes[0]
    exc = ServiceException(code, message, status_code=status)
    status, out_headers, body = get_protocol(protocol).serialize_error(None, None, exc, request_id)
    if protocol == "json":
        # An awsJson client asked: answer with its own JSON version.
        version = (headers.get("Content-Type") or "").lower().rpartition("x-amz-json-")[2].strip()
        if version in ("1.0", "1.1"):
            out_headers["Content-Type"] = f"application/x-amz-json-{version}"
    out_headers.setdefault("x-amzn-RequestId", request_id)
    return status, out_headers, body
