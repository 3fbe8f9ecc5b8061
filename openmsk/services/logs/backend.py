"""LogStore: CloudWatch Logs groups, streams and events in their own SQLite file (logs.db).

Events are indexed by (stream, timestamp, id) and (group, timestamp, id), so reading a stream or a time
window of a group touches only that range however much a busy broker has written. Filter patterns are
compiled to SQL `instr()` conditions (case-sensitive, as CloudWatch), so FilterLogEvents never ships a row
to Python that does not match. Every method is synchronous: the provider and the shipper call them in a
worker thread; each thread gets its own connection (WAL: readers never wait for the writer), writes are
serialised by one lock and committed per call (a batch of events is one transaction).

`ingest(..., batch_key=...)` is idempotent: the key is stored with the events in the same transaction,
so a shipper that crashed after delivering and before recording it can deliver the batch again safely.
"""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from ..sqlite_file import SqliteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (id INTEGER PRIMARY KEY, region TEXT NOT NULL, name TEXT NOT NULL,
    created INTEGER NOT NULL, retention INTEGER, kms TEXT, class TEXT NOT NULL, tags TEXT NOT NULL,
    UNIQUE(region, name));
CREATE TABLE IF NOT EXISTS streams (id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL, name TEXT NOT NULL,
    created INTEGER NOT NULL, first_ts INTEGER, last_ts INTEGER, last_ingest INTEGER,
    stored INTEGER NOT NULL DEFAULT 0, UNIQUE(group_id, name));
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL,
    stream_id INTEGER NOT NULL, ts INTEGER NOT NULL, ingest INTEGER NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_stream ON events(stream_id, ts, id);
CREATE INDEX IF NOT EXISTS events_group ON events(group_id, ts, id);
CREATE TABLE IF NOT EXISTS applied (stream_id INTEGER NOT NULL, key TEXT NOT NULL, at INTEGER NOT NULL,
    PRIMARY KEY(stream_id, key));
CREATE INDEX IF NOT EXISTS applied_at ON applied(at);
"""

DAY_MS = 86_400_000
PURGE_BATCH = 5_000       # events deleted per write transaction: ingestion goes on between two batches
PURGE_PAUSE = 0.01        # seconds between two batches: the write lock is not fair, let waiting writers in


def now_ms() -> int:
    return int(time.time() * 1000)


class LogStore(SqliteFile):
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        super().__init__(self.path, SCHEMA.split(";"), pragmas=("synchronous=NORMAL",))

    # -- groups --------------------------------------------------------------------------------------
    def group(self, region: str, name: str) -> sqlite3.Row | None:
        return self._db().execute("SELECT * FROM groups WHERE region=? AND name=?", (region, name)).fetchone()

    def create_group(self, region: str, name: str, *, kms: str | None, cls: str, tags: dict) -> bool:
        """False if it exists already."""
        try:
            with self._write() as db:
                db.execute("INSERT INTO groups(region, name, created, kms, class, tags) VALUES (?,?,?,?,?,?)",
                           (region, name, now_ms(), kms, cls, json.dumps(tags)))
        except sqlite3.IntegrityError:
            return False
        return True

    def delete_group(self, group_id: int) -> None:
        self._purge("group_id", group_id)
        with self._write() as db:
            db.execute("DELETE FROM applied WHERE stream_id IN (SELECT id FROM streams WHERE group_id=?)", (group_id,))
            db.execute("DELETE FROM events WHERE group_id=?", (group_id,))       # what arrived meanwhile
            db.execute("DELETE FROM streams WHERE group_id=?", (group_id,))
            db.execute("DELETE FROM groups WHERE id=?", (group_id,))

    def _purge(self, column: str, value: int) -> None:
        """Delete a group's or stream's events a batch per transaction (a week of a busy broker is millions
        of rows: one transaction would hold the write lock, and every writer, for as long as it takes)."""
        while True:
            with self._write() as db:
                n = db.execute(f"DELETE FROM events WHERE id IN (SELECT id FROM events WHERE {column}=? LIMIT ?)",
                               (value, PURGE_BATCH)).rowcount
            if n < PURGE_BATCH:
                return
            time.sleep(PURGE_PAUSE)

    def groups(self, region: str, prefix: str = "", pattern: str = "") -> list[sqlite3.Row]:
        rows = self._db().execute("SELECT * FROM groups WHERE region=? AND substr(name, 1, ?)=? ORDER BY name",
                                  (region, len(prefix), prefix)).fetchall()
        return [r for r in rows if pattern.lower() in r["name"].lower()] if pattern else rows

    def group_stored_bytes(self, group_id: int) -> int:
        row = self._db().execute("SELECT COALESCE(SUM(stored), 0) FROM streams WHERE group_id=?", (group_id,)).fetchone()
        return int(row[0])

    def update_group(self, group_id: int, **fields) -> None:
        with self._write() as db:
            for key, value in fields.items():
                if key == "tags":
                    value = json.dumps(value)
                db.execute(f"UPDATE groups SET {key}=? WHERE id=?", (value, group_id))

    # -- streams -------------------------------------------------------------------------------------
    def stream(self, group_id: int, name: str) -> sqlite3.Row | None:
        return self._db().execute("SELECT * FROM streams WHERE group_id=? AND name=?", (group_id, name)).fetchone()

    def create_stream(self, group_id: int, name: str) -> bool:
        try:
            with self._write() as db:
                db.execute("INSERT INTO streams(group_id, name, created) VALUES (?,?,?)", (group_id, name, now_ms()))
        except sqlite3.IntegrityError:
            return False
        return True

    def delete_stream(self, stream_id: int) -> None:
        self._purge("stream_id", stream_id)
        with self._write() as db:
            db.execute("DELETE FROM events WHERE stream_id=?", (stream_id,))
            db.execute("DELETE FROM applied WHERE stream_id=?", (stream_id,))
            db.execute("DELETE FROM streams WHERE id=?", (stream_id,))

    def streams(self, group_id: int, prefix: str = "", order_by_last_event: bool = False,
                descending: bool = False) -> list[sqlite3.Row]:
        order = "COALESCE(last_ts, 0)" if order_by_last_event else "name"
        direction = "DESC" if descending else "ASC"
        return self._db().execute(f"SELECT * FROM streams WHERE group_id=? AND substr(name, 1, ?)=? "
                                  f"ORDER BY {order} {direction}, name {direction}",
                                  (group_id, len(prefix), prefix)).fetchall()

    # -- events --------------------------------------------------------------------------------------
    def ingest(self, group_id: int, stream_id: int, events: list[tuple[int, str]], batch_key: str | None = None) -> int:
        """Append (timestamp ms, message) events to a stream in one transaction; returns the number written
        (0 when `batch_key` was applied before)."""
        if not events:
            return 0
        with self._write() as db:
            if batch_key is not None:
                if db.execute("SELECT 1 FROM applied WHERE stream_id=? AND key=?", (stream_id, batch_key)).fetchone():
                    return 0
                db.execute("INSERT INTO applied(stream_id, key, at) VALUES (?,?,?)", (stream_id, batch_key, now_ms()))
            ingest = now_ms()
            db.executemany("INSERT INTO events(group_id, stream_id, ts, ingest, message) VALUES (?,?,?,?,?)",
                           [(group_id, stream_id, ts, ingest, msg) for ts, msg in events])
            size = sum(len(m.encode("utf-8", "replace")) for _, m in events)
            first, last = min(ts for ts, _ in events), max(ts for ts, _ in events)
            db.execute("UPDATE streams SET first_ts=MIN(COALESCE(first_ts, ?), ?), "
                       "last_ts=MAX(COALESCE(last_ts, ?), ?), last_ingest=?, stored=stored+? WHERE id=?",
                       (first, first, last, last, ingest, size, stream_id))
        return len(events)

    def read_stream(self, stream_id: int, start: int, end: int, *, after: tuple[int, int] | None,
                    before: tuple[int, int] | None, limit: int, newest: bool) -> list[sqlite3.Row]:
        """Events of one stream in [start, end), after/before a (ts, id) position, ascending.

        `newest` (no position, not startFromHead): the last `limit` events of the window."""
        sql = "SELECT id, ts, ingest, message FROM events WHERE stream_id=? AND ts>=? AND ts<?"
        args: list = [stream_id, start, end]
        if after is not None:
            sql += " AND (ts>? OR (ts=? AND id>?))"
            args += [after[0], after[0], after[1]]
        if before is not None:
            sql += " AND (ts<? OR (ts=? AND id<?))"
            args += [before[0], before[0], before[1]]
        descending = before is not None or newest
        sql += " ORDER BY ts DESC, id DESC" if descending else " ORDER BY ts, id"
        rows = self._db().execute(sql + " LIMIT ?", (*args, limit)).fetchall()
        return rows[::-1] if descending else rows

    @staticmethod
    def _window(group_id: int, stream_ids: list[int] | None, start: int, end: int,
                after: tuple[int, int] | None) -> tuple[str, list]:
        """WHERE clause and arguments of a FilterLogEvents window: the group (or some of its streams),
        [start, end), after the (ts, id) `after` in (ts, id) order."""
        sql = "e.group_id=? AND e.ts>=? AND e.ts<?"
        args: list = [group_id, start, end]
        if stream_ids is not None:
            sql += f" AND e.stream_id IN ({','.join('?' * len(stream_ids))})"
            args += stream_ids
        if after is not None:
            sql += " AND (e.ts>? OR (e.ts=? AND e.id>?))"
            args += [after[0], after[0], after[1]]
        return sql, args

    def scan_bound(self, group_id: int, stream_ids: list[int] | None, start: int, end: int,
                   after: tuple[int, int] | None, rows: int) -> tuple[int, int] | None:
        """The (ts, id) of the `rows`-th event after `after` in the window (in (ts, id) order), or None if
        there are fewer: how far one FilterLogEvents call searches (walking the group index only)."""
        window, args = self._window(group_id, stream_ids, start, end, after)
        row = self._db().execute(f"SELECT e.ts, e.id FROM events e WHERE {window} ORDER BY e.ts, e.id "
                                 "LIMIT 1 OFFSET ?", (*args, rows - 1)).fetchone()
        return (row[0], row[1]) if row is not None else None

    def filter_events(self, group_id: int, stream_ids: list[int] | None, start: int, end: int,
                      after: tuple[int, int] | None, where: str, where_args: list, limit: int,
                      upto: tuple[int, int] | None = None) -> list[sqlite3.Row]:
        """Matching events of a group (or of some of its streams) in [start, end), after `after` and up to
        `upto` (inclusive), in (ts, id) order."""
        window, args = self._window(group_id, stream_ids, start, end, after)
        sql = ("SELECT e.id, e.ts, e.ingest, e.message, s.name AS stream FROM events e "
               f"JOIN streams s ON s.id = e.stream_id WHERE {window}")
        if upto is not None:
            sql += " AND (e.ts<? OR (e.ts=? AND e.id<=?))"
            args += [upto[0], upto[0], upto[1]]
        if where:
            sql += " AND " + where
            args += where_args
        sql += " ORDER BY e.ts, e.id LIMIT ?"
        return self._db().execute(sql, (*args, limit)).fetchall()

    def last_event_id(self) -> int:
        return self._db().execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]

    def events_after(self, after_id: int, group_ids: list[int], stream_ids: list[int] | None, where: str,
                     where_args: list, limit: int, upto: int | None = None) -> list[sqlite3.Row]:
        """Events stored after event id ``after_id`` (ids grow with ingestion), in ingestion order: what a
        live tail shows next. Uses the primary key range, so a tail costs the new rows only."""
        sql = ("SELECT e.id, e.ts, e.ingest, e.message, e.group_id, s.name AS stream FROM events e "
               f"JOIN streams s ON s.id = e.stream_id WHERE e.id>? AND e.group_id IN ({','.join('?' * len(group_ids))})")
        args: list = [after_id, *group_ids]
        if upto is not None:
            sql += " AND e.id<=?"
            args.append(upto)
        if stream_ids is not None:
            sql += f" AND e.stream_id IN ({','.join('?' * len(stream_ids))})"
            args += stream_ids
        if where:
            sql += " AND " + where
            args += where_args
        sql += " ORDER BY e.id LIMIT ?"
        return self._db().execute(sql, (*args, limit)).fetchall()

    # -- retention -----------------------------------------------------------------------------------
    def expire(self, now: int | None = None, group_id: int | None = None) -> int:
        """Remove events older than their group's retention (every group's, or one's); returns how many.

        Oldest first, PURGE_BATCH events per write transaction, each stream's stored bytes lowered by what
        was removed and its first timestamp looked up in its index: the cost is the expired rows, never
        the week of rows that stay."""
        now = now if now is not None else now_ms()
        removed = 0
        sql, args = "SELECT id, retention FROM groups WHERE retention IS NOT NULL", ()
        if group_id is not None:
            sql, args = sql + " AND id=?", (group_id,)
        for group in self._db().execute(sql, args).fetchall():
            cutoff = now - group["retention"] * DAY_MS
            while True:
                with self._write() as db:
                    rows = db.execute("SELECT id, stream_id, length(CAST(message AS BLOB)) AS size FROM events "
                                      "WHERE group_id=? AND ts<? ORDER BY ts, id LIMIT ?",
                                      (group["id"], cutoff, PURGE_BATCH)).fetchall()
                    db.executemany("DELETE FROM events WHERE id=?", [(r["id"],) for r in rows])
                    freed: dict[int, int] = {}
                    for r in rows:
                        freed[r["stream_id"]] = freed.get(r["stream_id"], 0) + r["size"]
                    for stream_id, size in freed.items():
                        db.execute("UPDATE streams SET stored=MAX(0, stored-?), first_ts=(SELECT MIN(ts) FROM events "
                                   "WHERE stream_id=?) WHERE id=?", (size, stream_id, stream_id))
                removed += len(rows)
                if len(rows) < PURGE_BATCH:
                    break
                time.sleep(PURGE_PAUSE)
        if group_id is None:
            with self._write() as db:
                db.execute("DELETE FROM applied WHERE at<?", (now - 7 * DAY_MS,))
        return removed
