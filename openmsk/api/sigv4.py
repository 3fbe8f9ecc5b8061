"""SigV4 request verification using botocore's own signer (aws-api.md §6.2).

The canonical request is rebuilt from exactly what the client sent: the raw, still
percent-encoded path and query (botocore double-encodes the path itself), only the
headers named in ``SignedHeaders`` with their received values, the body bytes as received
(compressed bytes for gzip bodies) and ``X-Amz-Date`` as the signing timestamp. The
signature is recomputed with ``botocore.auth.SigV4Auth`` and compared in constant time.
Secrets never leave this module and are never logged.
"""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Callable, Mapping
from urllib.parse import quote, urlsplit

from botocore.auth import EMPTY_SHA256_HASH, SIGNED_HEADERS_BLACKLIST, S3SigV4Auth, SigV4Auth
from botocore.utils import normalize_url_path
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MAX_SKEW = _dt.timedelta(minutes=15)

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+"
    r"Credential=(?P<akid>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)/aws4_request\s*,\s*"
    r"SignedHeaders=(?P<signed>[a-z0-9\-;]+)\s*,\s*"
    r"Signature=(?P<sig>[0-9a-f]{64})\s*$")

MSG_UNKNOWN_KEY = "The security token included in the request is invalid."
MSG_BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. "
                     "Check your AWS Secret Access Key and signing method. "
                     "Consult the service documentation for details.")


@dataclass(frozen=True)
class Credential:
    access_key_id: str
    date: str        # YYYYMMDD from the credential scope
    region: str
    service: str     # signing name
    security_token: str | None = None
    payload: bytes | None = None     # S3: the decoded body of an aws-chunked upload (else the body as sent)


class AuthError(Exception):
    """``code`` is one of MissingAuthenticationTokenException, IncompleteSignatureException,
    UnrecognizedClientException, InvalidSignatureException. ``service`` is the scope's
    service when it could be parsed (so the gateway can answer in that protocol)."""

    def __init__(self, code: str, message: str, service: str | None = None, region: str | None = None):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.service, self.region = code, message, service, region


_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")


def _parse_amz_date(text: str) -> _dt.datetime:
    """`YYYYMMDDTHHMMSSZ` (what strptime with that format accepts from signers, at a tenth of its cost)."""
    if not _AMZ_DATE.fullmatch(text):
        raise ValueError(text)
    return _dt.datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[9:11]), int(text[11:13]),
                        int(text[13:15]), tzinfo=_dt.timezone.utc)


@functools.lru_cache(maxsize=256)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """SigV4's derived key: the same for every request of a key, day, region and service."""
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@functools.lru_cache(maxsize=4096)
def _canonical_uri(path: str) -> str:
    # botocore's SigV4Auth._normalize_url_path; cached: the same ARNs are asked about again and again.
    return quote(normalize_url_path(path), safe="/~")


def canonical_request_fast(method: str, url: str, req_headers: dict[str, str],
                           body: bytes) -> tuple[str, str] | None:
    """(SignedHeaders, canonical request) exactly as botocore's SigV4Auth builds them for a plain-HTTP
    request, or None when botocore's own code must decide (non-ASCII path or header values).
    tests/api/test_validate_sigv4.py compares the two on many requests."""
    parts = urlsplit(url)
    if not (parts.path.isascii() and parts.query.isascii()):
        return None
    names = sorted({n for n in req_headers if n not in SIGNED_HEADERS_BLACKLIST} | {"host"})
    lines = []
    for name in names:
        value = req_headers[name] if name in req_headers else parts.netloc
        if not value.isascii():
            return None
        lines.append(f"{name}:{' '.join(value.split())}")
    query = ""
    if parts.query:
        query = "&".join(f"{k}={v}" for k, v in sorted(p.partition("=")[::2] for p in parts.query.split("&")))
    if "x-amz-content-sha256" in req_headers:
        payload = req_headers["x-amz-content-sha256"]
    else:
        payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256_HASH
    signed = ";".join(names)
    canonical = "\n".join((method.upper(), _canonical_uri(parts.path), query,
                           "\n".join(lines) + "\n", signed, payload))
    return signed, canonical


def parse_authorization(value: str | None) -> dict | None:
    m = _AUTH_RE.match(value.strip()) if value else None
    return m.groupdict() if m else None


class SigV4Verifier:
    def __init__(self, lookup_secret: Callable[[str], str | None], max_skew: _dt.timedelta = MAX_SKEW,
                 clock: Callable[[], _dt.datetime] | None = None):
        self._lookup_secret = lookup_secret
        self._max_skew = max_skew
        self._clock = clock or (lambda: _dt.datetime.now(_dt.timezone.utc))

    @staticmethod
    def _botocore_signature(method, url, req_headers, body, amz_date, auth, secret, token, svc, region) -> str:
        """The signature as botocore's own signer computes it (S3, and any request the fast path
        does not take: non-ASCII header values or paths)."""
        request = AWSRequest(method=method.upper(), url=url, headers=req_headers, data=body or b"")
        request.context["timestamp"] = amz_date
        signer = (S3SigV4Auth if svc == "s3" else SigV4Auth)(Credentials(auth["akid"], secret, token), svc, region)
        if signer.signed_headers(signer.headers_to_sign(request)) != auth["signed"]:
            raise AuthError("InvalidSignatureException", MSG_BAD_SIGNATURE, svc, region)
        try:
            canonical = signer.canonical_request(request)
        except (AttributeError, TypeError, ValueError, UnicodeError):
            # A signed header botocore cannot canonicalise (non-ASCII value): no valid signature exists.
            raise AuthError("InvalidSignatureException", MSG_BAD_SIGNATURE, svc, region) from None
        return signer.signature(signer.string_to_sign(request, canonical), request)

    def verify(self, method: str, raw_path_and_query: str, headers: Mapping[str, str],
               body: bytes) -> Credential:
        raw_auth = headers.get("Authorization")
        if not raw_auth:
            raise AuthError("MissingAuthenticationTokenException", "Missing Authentication Token")
        auth = parse_authorization(raw_auth)
        if auth is None:
            raise AuthError("IncompleteSignatureException",
                            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
                            "parameters in AWS4-HMAC-SHA256 format.")
        svc, region = auth["service"], auth["region"]
        amz_date = headers.get("X-Amz-Date")
        if not amz_date:
            raise AuthError("IncompleteSignatureException", "Authorization header requires existence of "
                            "either a 'X-Amz-Date' or a 'Date' header.", svc, region)
        try:
            when = _parse_amz_date(amz_date)
        except ValueError:
            raise AuthError("IncompleteSignatureException", f"Invalid X-Amz-Date: {amz_date}", svc, region) from None
        if amz_date[:8] != auth["date"]:
            raise AuthError("InvalidSignatureException", f"Date in Credential scope does not match YYYYMMDD "
                            f"from ISO-8601 version of date from HTTP: '{auth['date']}' != "
                            f"'{amz_date[:8]}', from '{amz_date}'.", svc, region)
        now = self._clock()
        if abs(now - when) > self._max_skew:
            fmt = "%Y%m%dT%H%M%SZ"
            raise AuthError("InvalidSignatureException",
                            f"Signature expired: {amz_date} is now earlier than "
                            f"{(now - self._max_skew).strftime(fmt)} ({now.strftime(fmt)} - 15 min.)"
                            if when < now else
                            f"Signature not yet current: {amz_date} is still later than "
                            f"{(now + self._max_skew).strftime(fmt)} ({now.strftime(fmt)} + 15 min.)",
                            svc, region)
        secret = self._lookup_secret(auth["akid"])
        if secret is None:
            raise AuthError("UnrecognizedClientException", MSG_UNKNOWN_KEY, svc, region)
        token = headers.get("X-Amz-Security-Token")
        signed = auth["signed"].split(";")
        if "host" not in signed:
            raise AuthError("InvalidSignatureException", "'Host' must be a signed header.", svc, region)
        req_headers = {}
        for name in signed:
            values = headers.getall(name, None) if hasattr(headers, "getall") else None
            if values is None:
                value = headers.get(name)
                if value is None:
                    raise AuthError("InvalidSignatureException", MSG_BAD_SIGNATURE, svc, region)
                values = [value]
            req_headers[name] = ",".join(values)
        url = "http://" + req_headers["host"] + raw_path_and_query
        fast = None if svc == "s3" else canonical_request_fast(method, url, req_headers, body)
        if fast is not None:
            signed_names, canonical = fast
            if signed_names != auth["signed"]:
                raise AuthError("InvalidSignatureException", MSG_BAD_SIGNATURE, svc, region)
            scope = f"{amz_date[:8]}/{region}/{svc}/aws4_request"
            to_sign = "\n".join(("AWS4-HMAC-SHA256", amz_date, scope,
                                  hashlib.sha256(canonical.encode()).hexdigest()))
            expected = hmac.new(_signing_key(secret, amz_date[:8], region, svc), to_sign.encode(),
                                hashlib.sha256).hexdigest()
        else:
            expected = self._botocore_signature(method, url, req_headers, body, amz_date, auth, secret, token,
                                                svc, region)
        if not hmac.compare_digest(expected.encode(), auth["sig"].encode()):
            raise AuthError("InvalidSignatureException", MSG_BAD_SIGNATURE, svc, region)
        payload = None
        if svc == "s3":
            from .s3_payload import verified_payload
            payload = verified_payload(headers, body, secret, amz_date, auth, svc, region)
        return Credential(auth["akid"], auth["date"], region, svc, token, payload)
