"""IncrementalAlterConfigs (Kafka API key 44, version 0) on the cluster-wide default broker resource,
and DescribeConfigs (key 32, version 0) of one broker, spoken directly on the wire like probes.py's
Metadata request.

librdkafka (confluent-kafka) refuses a ConfigResource with an empty name, and the empty name is how
Kafka addresses the cluster-wide default (`kafka-configs.sh --entity-type brokers --entity-default`);
the request is small enough to write here rather than start a JVM for it. In ZooKeeper mode any broker
accepts it and stores the change in ZooKeeper, from where every broker applies it live.
"""
from __future__ import annotations

import asyncio
import ssl
import struct

API_KEY, API_VERSION = 44, 0
DESCRIBE_KEY, DESCRIBE_VERSION = 32, 0
BROKER_RESOURCE = 4
SET, DELETE = 0, 1


class AlterConfigsError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"Kafka error {code}: {message}")
        self.code = code


def _string(value: str) -> bytes:
    data = value.encode()
    return struct.pack(">h", len(data)) + data


def _nullable(value: str | None) -> bytes:
    return struct.pack(">h", -1) if value is None else _string(value)


def _framed(api_key: int, version: int, correlation_id: int, body: bytes) -> bytes:
    """A request as Kafka reads it: size, request header v1 (key, version, correlation id, client id), body."""
    payload = struct.pack(">hhi", api_key, version, correlation_id) + _string("openmsk-control-plane") + body
    return struct.pack(">i", len(payload)) + payload


def alter_request(correlation_id: int, upserts: dict[str, str], deletions: list[str]) -> bytes:
    ops = [(k, SET, v) for k, v in sorted(upserts.items())] + [(k, DELETE, None) for k in deletions]
    body = struct.pack(">i", 1) + struct.pack(">b", BROKER_RESOURCE) + _string("")
    body += struct.pack(">i", len(ops))
    for name, op, value in ops:
        body += _string(name) + struct.pack(">b", op) + _nullable(value)
    body += struct.pack(">b", 0)                          # validate_only = false
    return _framed(API_KEY, API_VERSION, correlation_id, body)


def parse_alter_response(data: bytes) -> None:
    offset = 4 + 4                                        # correlation id, throttle time
    (count,) = struct.unpack_from(">i", data, offset)
    offset += 4
    for _ in range(count):
        code, msg_len = struct.unpack_from(">hh", data, offset)
        offset += 4
        message = ""
        if msg_len >= 0:
            message = data[offset:offset + msg_len].decode(errors="replace")
            offset += msg_len
        offset += 1                                       # resource type
        (name_len,) = struct.unpack_from(">h", data, offset)
        offset += 2 + name_len
        if code:
            raise AlterConfigsError(code, message or "no message")


async def _exchange(host: str, port: int, request: bytes, ssl_context: ssl.SSLContext | None,
                    timeout: float) -> bytes:
    """One request on a fresh connection; the response without its size prefix."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=ssl_context, server_hostname=host if ssl_context else None), timeout)
    try:
        writer.write(request)
        await writer.drain()
        (size,) = struct.unpack(">i", await asyncio.wait_for(reader.readexactly(4), timeout))
        return await asyncio.wait_for(reader.readexactly(size), timeout)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass


async def alter_broker_defaults(host: str, port: int, upserts: dict[str, str], deletions: list[str], *,
                                ssl_context: ssl.SSLContext | None = None, timeout: float = 20.0) -> None:
    """Set `upserts` and delete `deletions` on the cluster-wide default broker configuration."""
    parse_alter_response(await _exchange(host, port, alter_request(1, upserts, deletions), ssl_context, timeout))


def describe_request(correlation_id: int, broker_id: int, names: list[str]) -> bytes:
    body = struct.pack(">i", 1) + struct.pack(">b", BROKER_RESOURCE) + _string(str(broker_id))
    body += struct.pack(">i", len(names)) + b"".join(_string(n) for n in names)
    return _framed(DESCRIBE_KEY, DESCRIBE_VERSION, correlation_id, body)


def _read_string(data: bytes, offset: int) -> tuple[str | None, int]:
    (length,) = struct.unpack_from(">h", data, offset)
    offset += 2
    if length < 0:
        return None, offset
    return data[offset:offset + length].decode(errors="replace"), offset + length


def parse_describe_response(data: bytes) -> dict[str, str | None]:
    offset = 4 + 4                                        # correlation id, throttle time
    (count,) = struct.unpack_from(">i", data, offset)
    offset += 4
    values: dict[str, str | None] = {}
    for _ in range(count):
        (code,) = struct.unpack_from(">h", data, offset)
        message, offset = _read_string(data, offset + 2)
        _, offset = _read_string(data, offset + 1)        # resource type, resource name
        if code:
            raise AlterConfigsError(code, message or "no message")
        (entries,) = struct.unpack_from(">i", data, offset)
        offset += 4
        for _ in range(entries):
            name, offset = _read_string(data, offset)
            value, offset = _read_string(data, offset)
            offset += 3                                   # read_only, is_default, is_sensitive
            values[name or ""] = value
    return values


async def describe_broker_configs(host: str, port: int, broker_id: int, names: list[str], *,
                                  ssl_context: ssl.SSLContext | None = None,
                                  timeout: float = 20.0) -> dict[str, str | None]:
    """The values broker `broker_id` (answering on host:port) currently uses for `names`."""
    return parse_describe_response(
        await _exchange(host, port, describe_request(1, broker_id, names), ssl_context, timeout))
