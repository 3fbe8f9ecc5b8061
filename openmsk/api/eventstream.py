"""AWS event streams (application/vnd.amazon.eventstream) on the wire, for operations whose output has an
event-stream member (CloudWatch Logs StartLiveTail).

A provider returns the stream member as an ``EventStream`` wrapping an async iterator of
``(event name, payload dict)``; the iterator may raise ``ServiceException`` with one of the stream's
modeled error names, which becomes an ``exception`` message and ends the stream. The gateway writes, as
botocore's parser expects for JSON protocols: first an ``initial-response`` event carrying the non-stream
output members, then one message per event, each framed as

    total length (4) | headers length (4) | prelude CRC32 (4) | headers | payload | message CRC32 (4)

with string headers ``:message-type``, ``:event-type`` / ``:exception-type`` and ``:content-type``
(botocore.eventstream decodes exactly this; its CRCs are checked).
"""
from __future__ import annotations

import json
import struct
import zlib
from typing import AsyncIterator

from .core import ServiceException

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_STRING = 7


class EventStream:
    def __init__(self, events: AsyncIterator[tuple[str, dict]]) -> None:
        self.events = events


def _header(name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return struct.pack("!B", len(n)) + n + struct.pack("!BH", _STRING, len(v)) + v


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    head = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack("!II", total, len(head))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    message = prelude + head + payload
    return message + struct.pack("!I", zlib.crc32(message))


def event_message(event_type: str, payload: dict) -> bytes:
    return encode_message({":message-type": "event", ":event-type": event_type,
                           ":content-type": "application/json"}, json.dumps(payload).encode())


def exception_message(exc: ServiceException) -> bytes:
    return encode_message({":message-type": "exception", ":exception-type": exc.code,
                           ":content-type": "application/json"}, json.dumps({"message": exc.message}).encode())


def split_output(op, result: dict) -> tuple[dict, EventStream | None]:
    """(the initial-response members, the EventStream) of an event-stream operation's result."""
    name = op.output_shape.event_stream_name if op.output_shape is not None else None
    stream = result.get(name) if name else None
    if not isinstance(stream, EventStream):
        return result, None
    return {k: v for k, v in result.items() if k != name}, stream


async def frames(initial: dict, stream: EventStream) -> AsyncIterator[bytes]:
    """Every message of the response, in order; a modeled stream error ends it as an exception message."""
    yield event_message("initial-response", initial)
    try:
        async for event_type, payload in stream.events:
            yield event_message(event_type, payload)
    except ServiceException as exc:
        yield exception_message(exc)
