"""S3's payload signing modes (after the request's own SigV4 signature was verified by sigv4.py).

`x-amz-content-sha256` is part of the signed canonical request, so what it claims is authentic; this
module checks the body against the claim and decodes aws-chunked bodies:
  <hex sha256>                          the body's digest must match
  UNSIGNED-PAYLOAD                      the body is taken as is
  STREAMING-AWS4-HMAC-SHA256-PAYLOAD    `<size hex>;chunk-signature=<sig>\\r\\n<data>\\r\\n`... each chunk signed
                                        with the previous signature (the seed is the request's signature)
  STREAMING-UNSIGNED-PAYLOAD-TRAILER    `<size hex>\\r\\n<data>\\r\\n`... then trailing checksum headers
"""
from __future__ import annotations

import hashlib
import hmac

from .sigv4 import AuthError

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MISMATCH = "The provided 'x-amz-content-sha256' header does not match what was computed."
BAD_CHUNK = "The request signature we calculated does not match the signature you provided."


def _key(secret: str, date: str, region: str, service: str) -> bytes:
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def verified_payload(headers, body: bytes, secret: str, amz_date: str, auth: dict, service: str,
                     region: str) -> bytes | None:
    """The body to parse (decoded when aws-chunked), or None when it is the body as sent."""
    claim = (headers.get("x-amz-content-sha256") or "").strip()
    if not claim or claim == "UNSIGNED-PAYLOAD":
        return None
    if claim.startswith("STREAMING-"):
        signed = claim == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" or claim == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
        key = _key(secret, auth["date"], region, service) if signed else None
        scope = f"{auth['date']}/{region}/{service}/aws4_request"
        return _decode_chunks(body, key, amz_date, scope, auth["sig"], service, region)
    if len(claim) != 64 or hashlib.sha256(body).hexdigest() != claim.lower():
        raise AuthError("XAmzContentSHA256Mismatch", MISMATCH, service, region)
    return None


def _decode_chunks(body: bytes, key: bytes | None, amz_date: str, scope: str, seed: str, service: str,
                   region: str) -> bytes:
    out, pos, previous = [], 0, seed
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            raise AuthError("IncompleteBody", "The aws-chunked body ended early.", service, region)
        header = body[pos:end].decode("latin-1")
        size_text, _, ext = header.partition(";")
        try:
            size = int(size_text.strip(), 16)
        except ValueError:
            raise AuthError("IncompleteBody", "Invalid aws-chunked chunk header.", service, region) from None
        start = end + 2
        data = body[start:start + size]
        if len(data) != size:
            raise AuthError("IncompleteBody", "The aws-chunked body ended early.", service, region)
        if key is not None:
            given = ext.partition("chunk-signature=")[2].strip()
            sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, EMPTY_SHA256,
                             hashlib.sha256(data).hexdigest()])
            expected = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, given):
                raise AuthError("InvalidSignatureException", BAD_CHUNK, service, region)
            previous = expected
        out.append(data)
        pos = start + size
        if size == 0:
            return b"".join(out)           # anything after the last chunk is trailers (checksums)
        if body[pos:pos + 2] != b"\r\n":
            raise AuthError("IncompleteBody", "Invalid aws-chunked chunk terminator.", service, region)
        pos += 2
