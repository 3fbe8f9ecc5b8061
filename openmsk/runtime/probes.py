"""Readiness probes that ask the real processes, never a sleep.

* ZooKeeper: the `srvr` four-letter word; a node is ready when it reports `Mode: leader|follower`
  (an up-but-not-in-quorum node answers "not currently serving requests").
* Kafka: a Metadata v1 request on a broker listener; a broker is ready when it answers and lists
  itself, and the cluster is ready when every expected broker id is registered. Speaking the wire
  protocol directly keeps librdkafka/JVM clients out of the control plane.
"""
from __future__ import annotations

import asyncio
import ssl
import struct
from dataclasses import dataclass


async def zk_four_letter(host: str, port: int, word: str, *, timeout: float = 3.0,
                         ssl_context: ssl.SSLContext | None = None) -> str:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=ssl_context, server_hostname=host if ssl_context else None),
        timeout)
    try:
        writer.write(word.encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(65536), timeout)
        chunks = [data]
        while data:
            data = await asyncio.wait_for(reader.read(65536), timeout)
            chunks.append(data)
        return b"".join(chunks).decode(errors="replace")
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass


async def zk_answers(host: str, port: int, **kw) -> bool:
    """True when the node answers `srvr` at all, serving or not ("not currently serving requests"
    while it elects): its JVM is up and listening."""
    try:
        return bool(await zk_four_letter(host, port, "srvr", **kw))
    except (OSError, asyncio.TimeoutError, ssl.SSLError):
        return False


async def zk_mode(host: str, port: int = 2181, **kw) -> str | None:
    """'leader' / 'follower' / 'standalone', or None if the node is not serving."""
    try:
        text = await zk_four_letter(host, port, "srvr", **kw)
    except (OSError, asyncio.TimeoutError, ssl.SSLError):
        return None
    for line in text.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None


@dataclass
class BrokerMetadata:
    node_id: int
    host: str
    port: int
    rack: str | None


@dataclass
class PartitionMetadata:
    topic: str
    partition: int
    leader: int
    replicas: list[int]
    isr: list[int]


@dataclass
class ClusterMetadata:
    brokers: list[BrokerMetadata]
    controller_id: int
    partitions: list[PartitionMetadata] | None = None     # only when asked for topics

    @property
    def broker_ids(self) -> set[int]:
        return {b.node_id for b in self.brokers}


def _metadata_request_v1(correlation_id: int, all_topics: bool = False) -> bytes:
    client_id = b"openmsk-probe"
    header = struct.pack(">hhih", 3, 1, correlation_id, len(client_id)) + client_id
    # null array (-1) = every topic; empty array = brokers and controller only
    body = struct.pack(">i", -1 if all_topics else 0)
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def _parse_metadata_v1(data: bytes) -> ClusterMetadata:
    offset = 4                             # correlation id
    (count,) = struct.unpack_from(">i", data, offset)
    offset += 4
    brokers = []
    for _ in range(count):
        node_id, host_len = struct.unpack_from(">ih", data, offset)
        offset += 6
        host = data[offset:offset + host_len].decode()
        offset += host_len
        (port, rack_len) = struct.unpack_from(">ih", data, offset)
        offset += 6
        rack = None
        if rack_len >= 0:
            rack = data[offset:offset + rack_len].decode()
            offset += rack_len
        brokers.append(BrokerMetadata(node_id, host, port, rack))
    (controller_id,) = struct.unpack_from(">i", data, offset)
    offset += 4
    (topic_count,) = struct.unpack_from(">i", data, offset)
    offset += 4
    partitions = []
    for _ in range(topic_count):
        _error, name_len = struct.unpack_from(">hh", data, offset)
        offset += 4
        name = data[offset:offset + name_len].decode()
        offset += name_len + 1                                  # + is_internal
        (part_count,) = struct.unpack_from(">i", data, offset)
        offset += 4
        for _ in range(part_count):
            _perr, index, leader, nrep = struct.unpack_from(">hiii", data, offset)
            offset += 14
            replicas = list(struct.unpack_from(f">{nrep}i", data, offset))
            offset += 4 * nrep
            (nisr,) = struct.unpack_from(">i", data, offset)
            offset += 4
            isr = list(struct.unpack_from(f">{nisr}i", data, offset))
            offset += 4 * nisr
            partitions.append(PartitionMetadata(name, index, leader, replicas, isr))
    return ClusterMetadata(brokers, controller_id, partitions if topic_count else [])


async def kafka_metadata(host: str, port: int, *, timeout: float = 5.0,
                         ssl_context: ssl.SSLContext | None = None, all_topics: bool = False) -> ClusterMetadata:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=ssl_context, server_hostname=host if ssl_context else None),
        timeout)
    try:
        writer.write(_metadata_request_v1(1, all_topics))
        await writer.drain()
        (size,) = struct.unpack(">i", await asyncio.wait_for(reader.readexactly(4), timeout))
        data = await asyncio.wait_for(reader.readexactly(size), timeout)
        return _parse_metadata_v1(data)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass


async def try_kafka_metadata(host: str, port: int, **kw) -> ClusterMetadata | None:
    try:
        return await kafka_metadata(host, port, **kw)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, struct.error, ssl.SSLError,
            UnicodeDecodeError):
        return None
