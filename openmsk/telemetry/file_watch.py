"""Being told that files changed (Linux inotify through ctypes), so the broker-log shipper sleeps while
logs are quiet instead of reading every broker's server.log each second.

The watcher only says "something changed": callers re-read what they track (their positions are the
truth), so a lost or coalesced event costs nothing but a pass, and a queue overflow is just a wake-up.
`FileWatch.open()` is None where inotify is unavailable (another OS, a seccomp filter, the per-user
instance limit reached): callers poll then.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

IN_MODIFY = 0x002
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

#: On a file: written to. On a directory: a file appeared or went (log rotation renames and creates).
FILE_EVENTS = IN_MODIFY
DIR_EVENTS = IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE


class FileWatch:
    def __init__(self, libc, fd: int) -> None:
        self._libc = libc
        self.fd = fd                    # readable when events are queued: add it to the event loop

    @classmethod
    def open(cls) -> "FileWatch | None":
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        except (OSError, AttributeError):
            return None
        if fd < 0:
            log.warning("inotify unavailable (%s): broker logs are polled", os.strerror(ctypes.get_errno()))
            return None
        return cls(libc, fd)

    def add(self, path: Path, mask: int) -> bool:
        """Watch `path` (again: re-adding an inode already watched just keeps its watch). False if it
        does not exist (or cannot be watched): the caller must poll it."""
        return self._libc.inotify_add_watch(self.fd, os.fsencode(path), mask) >= 0

    def drain(self) -> None:
        """Read away the queued events (what changed is not needed: callers re-read their files)."""
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
