"""S3's payload signing modes (after the request's own SigV4 signature was verified by sigv4.py).

`x-amz-content-sha256` is part of the signed canonical request, so what it claims is authentic; this
module checks the body against the claim and decodes aws-chunked bodies:
  <hex sha256>                          the body's digest must match
  UNSIGNED-PAYLOAD                      the body is taken as is
  STREAMING-AWS4-HMAC-SHA256-PAYLOAD    `<size hex>;chunk-signature=<sig>\\r\\n<data>\\r\\n`... each chunk signed
                                        with the previous signature (the seed is the request's signature)
  STREAMING-UNSIGNED-PAYLOAD-TRAILER    `<size hex>\\r\\n<data>\\r\\n`... then trailing checksum headers
A flexible checksum (`x-amz-checksum-crc32|sha1|sha256`, as a header or a trailer) must match the data
(BadDigest), and an aws-chunked body must hold `x-amz-decoded-content-length` bytes.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import zlib

from .sigv4 import AuthError

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MISMATCH = "The provided 'x-amz-content-sha256' header does not match what was computed."
BAD_CHUNK = "The request signature we calculated does not match the signature you provided."


def _key(secret: str, date: str, region: str, service: str) -> bytes:
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


#: S3's flexible checksums this module can compute: header or trailer name -> (S3's name, function).
#: (CRC32C and CRC64NVME need a native library; a claim of one of them is taken as is.)
CHECKSUMS = {
    "x-amz-checksum-crc32": ("CRC32", lambda data: zlib.crc32(data).to_bytes(4, "big")),
    "x-amz-checksum-sha1": ("SHA1", lambda data: hashlib.sha1(data).digest()),
    "x-amz-checksum-sha256": ("SHA256", lambda data: hashlib.sha256(data).digest()),
}


def verified_payload(headers, body: bytes, secret: str, amz_date: str, auth: dict, service: str,
                     region: str) -> bytes | None:
    """The body to parse (decoded when aws-chunked), or None when it is the body as sent. Checksums the
    client sent (`x-amz-checksum-*` headers, or trailers after an aws-chunked body) must match it."""
    claim = (headers.get("x-amz-content-sha256") or "").strip()
    decoded, trailers = None, {}
    if claim.startswith("STREAMING-"):
        signed = claim == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" or claim == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
        key = _key(secret, auth["date"], region, service) if signed else None
        scope = f"{auth['date']}/{region}/{service}/aws4_request"
        decoded, trailers = _decode_chunks(body, key, amz_date, scope, auth["sig"], service, region)
        declared = headers.get("x-amz-decoded-content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) != len(decoded):
            raise AuthError("IncompleteBody", "You did not provide the number of bytes specified by the "
                            "x-amz-decoded-content-length header.", service, region)
    elif claim and claim != "UNSIGNED-PAYLOAD" and (len(claim) != 64 or hashlib.sha256(body).hexdigest() != claim.lower()):
        raise AuthError("XAmzContentSHA256Mismatch", MISMATCH, service, region)
    data = body if decoded is None else decoded
    for name, (label, compute) in CHECKSUMS.items():
        given = trailers.get(name) or headers.get(name)
        if given and base64.b64encode(compute(data)).decode() != given.strip():
            raise AuthError("BadDigest", f"The {label} you specified did not match the calculated checksum.",
                            service, region)
    return decoded


def _decode_chunks(body: bytes, key: bytes | None, amz_date: str, scope: str, seed: str, service: str,
                   region: str) -> tuple[bytes, dict[str, str]]:
    """(the data, the trailing headers after the last chunk, lower-cased names)."""
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
        if size == 0:                      # after the last chunk: trailers (checksums), `name:value` lines
            trailers = {}
            for line in body[pos:].decode("latin-1").split("\r\n"):
                name, sep, value = line.partition(":")
                if sep and name.strip().lower() != "x-amz-trailer-signature":
                    trailers[name.strip().lower()] = value.strip()
            return b"".join(out), trailers
        if body[pos:pos + 2] != b"\r\n":
            raise AuthError("IncompleteBody", "Invalid aws-chunked chunk terminator.", service, region)
        pos += 2
