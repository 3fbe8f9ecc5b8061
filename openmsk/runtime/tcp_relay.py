"""Plain TCP relays (asyncio): listen on one address:port, pipe every connection to another, bytes
untouched (TLS stays end to end between client and broker). Used for brokers' public addresses in the
namespace layout (control/public_relays.py): the address a client "outside the VPC" dials is on the
host, the listener it reaches is inside the broker's namespace. An endpoint may also name a network
namespace, (namespace, address, port): the socket is then made inside it (runtime/netns_sockets.py;
multi-VPC endpoints, control/vpc_endpoints.py). A relay that is removed also ends the connections it
carries (a deleted VPC connection cuts its clients off).
"""
from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

Endpoint = tuple  # (address, port) on the host, or (namespace, address, port)


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
        self._live: dict[Endpoint, set[asyncio.StreamWriter]] = {}
        self.failed: set[Endpoint] = set()      # wanted by the last `set()` but not listening (retry)

    @property
    def mapping(self) -> dict[Endpoint, Endpoint]:
        return {listen: target for listen, (target, _) in self._servers.items()}

    async def set(self, wanted: dict[Endpoint, Endpoint]) -> None:
        self.failed = set()
        for listen in [l for l, (t, _) in self._servers.items() if wanted.get(l) != t]:
            _, server = self._servers.pop(listen)
            server.close()
            for w in self._live.pop(listen, set()):
                w.close()
        for listen, target in wanted.items():
            if listen in self._servers:
                continue
            try:
                if len(listen) == 3:
                    from .netns_sockets import listening_socket
                    sock = await listening_socket(*listen)
                    server = await asyncio.start_server(self._handler(listen, target), sock=sock)
                else:
                    server = await asyncio.start_server(self._handler(listen, target), *listen, reuse_address=True)
            except OSError as exc:
                log.warning("relay %s -> %s: %s", listen, target, exc)
                self.failed.add(listen)
                continue
            self._servers[listen] = (target, server)

    def _handler(self, listen: Endpoint, target: Endpoint):
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            live = self._live.setdefault(listen, set())
            live.add(writer)
            try:
                if len(target) == 3:
                    from .netns_sockets import open_connection
                    connect = open_connection(*target)
                else:
                    connect = asyncio.open_connection(*target)
                up_reader, up_writer = await asyncio.wait_for(connect, timeout=30)
            except (OSError, asyncio.TimeoutError):
                live.discard(writer)
                writer.close()              # the client sees the connection end, as with a refused one
                return
            live.add(up_writer)
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                for w in (writer, up_writer):
                    live.discard(w)
                    w.close()
        return handle

    async def close(self) -> None:
        await self.set({})
