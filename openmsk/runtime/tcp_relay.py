"""Plain TCP relays (asyncio): listen on one address:port, pipe every connection to another, bytes
untouched (TLS stays end to end between client and broker). Used for brokers' public addresses in the
namespace layout (control/public_relays.py): the address a client "outside the VPC" dials is on the
host, the listener it reaches is inside the broker's namespace.
"""
from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

Endpoint = tuple[str, int]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()              # half-close: the other direction may still be talking
    except (ConnectionError, OSError):
        writer.close()


class Relays:
    """The set of relays, made equal to a wanted mapping with `set()`; `close()` ends them all."""

    def __init__(self) -> None:
        self._servers: dict[Endpoint, tuple[Endpoint, asyncio.base_events.Server]] = {}

    @property
    def mapping(self) -> dict[Endpoint, Endpoint]:
        return {listen: target for listen, (target, _) in self._servers.items()}

    async def set(self, wanted: dict[Endpoint, Endpoint]) -> None:
        for listen in [l for l, (t, _) in self._servers.items() if wanted.get(l) != t]:
            _, server = self._servers.pop(listen)
            server.close()
        for listen, target in wanted.items():
            if listen in self._servers:
                continue
            try:
                server = await asyncio.start_server(self._handler(target), *listen, reuse_address=True)
            except OSError as exc:
                log.warning("relay %s:%d -> %s:%d: %s", *listen, *target, exc)
                continue
            self._servers[listen] = (target, server)

    def _handler(self, target: Endpoint):
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*target), timeout=30)
            except (OSError, asyncio.TimeoutError):
                writer.close()              # the client sees the connection end, as with a refused one
                return
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                for w in (writer, up_writer):
                    w.close()
        return handle

    async def close(self) -> None:
        await self.set({})
