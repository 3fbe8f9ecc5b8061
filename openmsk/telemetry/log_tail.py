"""Tailing a broker's server.log and its rotated backups by file identity (inode + first bytes), for the
broker-log shipper (log_shipping.py). Pure file reading: no database, no destinations.

log4j rolls server.log over by size: log4j 1 renames it to server.log.1 after shifting .1 -> .2 ...
(newest backup lowest), log4j2's default strategy renames it to the next index (newest highest), and
both delete the oldest backup, whose inode the next new file may get. A position is (inode, offset after
the last complete line, head = the file's first bytes up to that offset).
"""
from __future__ import annotations

import os
from pathlib import Path

READ_LIMIT = 4 * 1024 * 1024          # bytes read per broker per pass (the rest next pass)
ROTATED_MAX = 9
HEAD_BYTES = 256      # a file's identity besides its inode: its first bytes (a log4j line starts with its time)

Chunk = tuple[int, int, int, list[bytes], "bytes | None"]   # (inode, start, end offset, lines, head); head None: not read


def read_new_lines(logs_dir: Path, position) -> list[Chunk] | None:
    """New complete lines since `position` ((inode, offset, head) or None), as chunks: first the rest of the
    file being read when it was rotated away, then every file rotated after it (oldest first), then
    server.log. `head` is the file's first bytes (up to HEAD_BYTES, never past the offset): a file deleted
    by log4j frees its inode for the next file, so an inode alone does not say which file it is."""
    current = logs_dir / "server.log"
    try:
        st = current.stat()
    except FileNotFoundError:
        return None
    out = []
    budget = READ_LIMIT
    if position is not None and not (position[0] == st.st_ino and _has_head(current, _head_of(position))):
        for path, inode, start, size in _rotated_since(logs_dir, position, st.st_ino):
            chunk = _read(path, inode, start, budget, final=True)
            out.append(chunk)
            if chunk[2] < size:                  # budget used up (or renamed meanwhile): go on next pass
                return out
            budget -= chunk[2] - chunk[1]
        start = 0
    elif position is not None:
        start = position[1] if position[1] <= st.st_size else 0      # truncated: from the beginning
    else:
        start = 0
    out.append(_read(current, st.st_ino, start, budget, final=False))
    return out


def end_position(logs_dir: Path) -> tuple[int, int, bytes] | None:
    """(inode, offset after the last complete line, head) of server.log now: where shipping starts for a
    destination configured later. None if there is no server.log (or no complete line yet)."""
    try:
        with open(logs_dir / "server.log", "rb") as f:
            st = os.fstat(f.fileno())
            tail = min(st.st_size, 1024 * 1024)
            f.seek(st.st_size - tail)
            end = st.st_size - tail + f.read(tail).rfind(b"\n") + 1
            if end <= st.st_size - tail:
                return None                   # no line end in the last MiB: decide on a later pass
            f.seek(0)
            return st.st_ino, end, f.read(min(HEAD_BYTES, end))
    except FileNotFoundError:
        return None


def _head_of(position) -> bytes | None:
    return position[2] if len(position) > 2 else None


def _has_head(path: Path, head: bytes | None) -> bool:
    """Does the file at `path` start with `head`? (None: a position recorded without one.)"""
    if not head:
        return True
    try:
        with open(path, "rb") as f:
            return f.read(len(head)) == head
    except FileNotFoundError:
        return False


def _rotated_since(logs_dir: Path, position, current_inode: int) -> list[tuple[Path, int, int, int]]:
    """(path, inode, start offset, size) of the rotated files still to read, oldest first.

    The file being read (found by its inode and head under whichever server.log.N it now has) and every
    rotated file written after it: with the control plane down, a busy broker may rotate more than once, and
    the files in between are shipped too. Order is by modification time, not by index, because log4j 1
    numbers the newest backup .1 and log4j2's default strategy numbers it highest. If the file being read
    is gone (rotated past the last backup), every backup left is newer than it and is read whole."""
    rotated = []
    for i in range(1, ROTATED_MAX + 1):
        path = logs_dir / f"server.log.{i}"
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        if st.st_ino != current_inode:
            rotated.append((st.st_mtime_ns, path, st))
    inode, offset, head = position[0], position[1], _head_of(position)
    tracked = next((r for r in rotated if r[2].st_ino == inode and _has_head(r[1], head)), None)
    since = tracked[0] if tracked is not None else -1
    out = []
    for mtime, path, st in sorted(rotated, key=lambda r: (r[0], r is not tracked)):
        if tracked is not None and path == tracked[1]:
            out.append((path, st.st_ino, min(offset, st.st_size), st.st_size))
        elif mtime >= since:
            out.append((path, st.st_ino, 0, st.st_size))
    return out


def _read(path: Path, inode: int, start: int, budget: int, final: bool) -> Chunk:
    """Complete lines of `path` from `start` (a rotated file's last line counts even without a newline),
    and the file's head up to the new offset. If `path` is no longer the file `inode` (rotated between stat
    and open), nothing is read this pass."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_ino != inode:
            return inode, start, start, [], None
        f.seek(start)
        data = f.read(max(0, budget))
        cut = data.rfind(b"\n") + 1
        if final and cut < len(data) and len(data) < budget:
            cut = len(data)
        end = start + cut
        f.seek(0)
        head = f.read(min(HEAD_BYTES, end))
    body = data[:cut]
    lines = body.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return inode, start, end, [ln.rstrip(b"\r") for ln in lines], head
