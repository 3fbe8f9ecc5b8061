"""The few ZooKeeper requests the control plane makes itself, spoken on the wire (jute) like probes.py's
four-letter words: open a session, read a znode's Stat, delete a znode at a version, close the session.

What it is for: a SIGKILLed broker's registration (the ephemeral /brokers/ids/<id>, and /controller if
it was the controller) stays until its ZooKeeper session expires, 18 s later (MSK's
`zookeeper.session.timeout.ms`). Until then the controller still counts the dead broker as alive (its
partitions keep it as leader) and the broker cannot be started again (Kafka refuses to register over an
existing node). The control plane, which has seen the process exit, removes them at once instead
(control/registrations.py). Starting a JVM (zookeeper-shell) for two deletes would cost seconds of CPU.
"""
from __future__ import annotations

import asyncio
import ssl
import struct
from dataclasses import dataclass

OP_DELETE, OP_GET_DATA, OP_CLOSE = 2, 4, -11
NO_NODE, BAD_VERSION = -101, -103
SESSION_TIMEOUT_MS = 6000


class ZooKeeperError(Exception):
    def __init__(self, code: int, path: str) -> None:
        super().__init__(f"ZooKeeper error {code} on {path}")
        self.code = code


@dataclass
class Stat:
    version: int
    ephemeral_owner: int          # the session that holds an ephemeral znode, 0 for a persistent one


def _string(value: str) -> bytes:
    data = value.encode()
    return struct.pack(">i", len(data)) + data


def _connect_request() -> bytes:
    # protocolVersion, lastZxidSeen, timeOut, sessionId (0: a new session), passwd (16 zero bytes), readOnly
    body = struct.pack(">iqiq", 0, 0, SESSION_TIMEOUT_MS, 0) + struct.pack(">i", 16) + bytes(16) + b"\x00"
    return struct.pack(">i", len(body)) + body


def _request(xid: int, op: int, body: bytes) -> bytes:
    payload = struct.pack(">ii", xid, op) + body
    return struct.pack(">i", len(payload)) + payload


def parse_stat(data: bytes, offset: int) -> Stat:
    # czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner, dataLength, numChildren, pzxid
    fields = struct.unpack_from(">qqqqiiiqiiq", data, offset)
    return Stat(version=fields[4], ephemeral_owner=fields[7])


class ZooKeeperSession:
    """One short session on one ZooKeeper node (`async with`); requests one at a time."""

    def __init__(self, host: str, port: int, *, ssl_context: ssl.SSLContext | None, timeout: float = 5.0) -> None:
        self.host, self.port, self.ssl_context, self.timeout = host, port, ssl_context, timeout
        self._xid = 0

    async def __aenter__(self) -> "ZooKeeperSession":
        self.reader, self.writer = await asyncio.wait_for(asyncio.open_connection(
            self.host, self.port, ssl=self.ssl_context,
            server_hostname=self.host if self.ssl_context else None), self.timeout)
        try:
            self.writer.write(_connect_request())
            reply = await self._frame()
            _, negotiated, session_id = struct.unpack_from(">iiq", reply)
            if negotiated <= 0 or session_id == 0:            # the server refused the session (not serving)
                raise ConnectionError(f"ZooKeeper {self.host} refused a session")
        except BaseException:
            self.writer.close()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        try:
            if exc[0] is None:
                await self._call(OP_CLOSE, b"", "")
        finally:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, ssl.SSLError):
                pass

    async def _frame(self) -> bytes:
        (size,) = struct.unpack(">i", await asyncio.wait_for(self.reader.readexactly(4), self.timeout))
        return await asyncio.wait_for(self.reader.readexactly(size), self.timeout)

    async def _call(self, op: int, body: bytes, path: str) -> bytes:
        self._xid += 1
        self.writer.write(_request(self._xid, op, body))
        await self.writer.drain()
        while True:
            reply = await self._frame()
            xid, _zxid, err = struct.unpack_from(">iqi", reply)
            if xid != self._xid:               # a notification (-1) or a ping (-2): not our answer
                continue
            if err:
                raise ZooKeeperError(err, path)
            return reply[16:]

    async def stat(self, path: str) -> Stat | None:
        """The znode's Stat, None if it does not exist."""
        try:
            body = await self._call(OP_GET_DATA, _string(path) + b"\x00", path)
        except ZooKeeperError as exc:
            if exc.code == NO_NODE:
                return None
            raise
        (length,) = struct.unpack_from(">i", body)
        return parse_stat(body, 4 + max(length, 0))

    async def delete(self, path: str, version: int) -> bool:
        """Delete the znode if it still has `version`; False if it is gone or changed meanwhile."""
        try:
            await self._call(OP_DELETE, _string(path) + struct.pack(">i", version), path)
            return True
        except ZooKeeperError as exc:
            if exc.code in (NO_NODE, BAD_VERSION):
                return False
            raise


async def remove_broker_registration(ensemble: list[tuple[str, int]], broker_id: int, *,
                                     ssl_context: ssl.SSLContext | None) -> list[str]:
    """Remove a dead broker's ephemeral registration, and /controller if that same (dead) session holds
    it, so the controller fails the broker over now and it can register again. Only znodes owned by the
    dead broker's session are touched (the caller has seen the process exit and not started it since).
    Returns the paths removed. Raises OSError / ZooKeeperError when no ZooKeeper node could do it."""
    failure: Exception | None = None
    for host, port in ensemble:
        try:
            async with ZooKeeperSession(host, port, ssl_context=ssl_context) as zk:
                path = f"/brokers/ids/{broker_id}"
                registration = await zk.stat(path)
                if registration is None or registration.ephemeral_owner == 0:
                    return []
                removed = []
                if await zk.delete(path, registration.version):
                    removed.append(path)
                # A dead controller's /controller too: the survivors elect a new one at once, and it
                # starts from the broker list without the dead broker.
                controller = await zk.stat("/controller")
                if controller is not None and controller.ephemeral_owner == registration.ephemeral_owner \
                        and await zk.delete("/controller", controller.version):
                    removed.append("/controller")
                return removed
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ssl.SSLError, struct.error,
                ZooKeeperError) as exc:
            failure = exc
    raise failure or ConnectionError("no ZooKeeper node given")
