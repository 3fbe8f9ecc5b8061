"""Sockets of another network namespace, for one process that relays between namespaces (multi-VPC
endpoints, control/vpc_endpoints.py). A socket belongs to the namespace its creating thread was in when
it was created, and keeps it: a dedicated thread enters the namespace (setns(2), per thread), creates
the socket and returns to its own namespace. Nothing else of the process changes namespace.
"""
from __future__ import annotations

import asyncio
import ctypes
import os
import socket
from concurrent.futures import ThreadPoolExecutor

from .netns import NETNS_DIR

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netns-sockets")


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def _socket_in(namespace: str, listen: tuple[str, int] | None) -> socket.socket:
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(os.path.join(NETNS_DIR, namespace), os.O_RDONLY)
        try:
            _setns(target)
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            finally:
                _setns(home)
        finally:
            os.close(target)
    finally:
        os.close(home)
    try:
        sock.setblocking(False)
        if listen is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(listen)
            sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


async def listening_socket(namespace: str, address: str, port: int) -> socket.socket:
    """A non-blocking TCP socket listening on address:port inside `namespace`."""
    return await asyncio.get_running_loop().run_in_executor(_executor, _socket_in, namespace, (address, port))


async def open_connection(namespace: str, address: str, port: int):
    """asyncio streams of a TCP connection made from inside `namespace`."""
    loop = asyncio.get_running_loop()
    sock = await loop.run_in_executor(_executor, _socket_in, namespace, None)
    try:
        await loop.sock_connect(sock, (address, port))
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)
