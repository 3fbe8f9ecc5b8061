"""Firehose delivery streams (DirectPut -> S3) with Firehose's buffering and key naming.

Records are appended to a buffer in <data>/firehose.db as they are accepted. The Deliverer (a control-plane
background service) writes a stream's buffer as one S3 object once it holds BufferingHints.SizeInMBs or its
oldest record is IntervalInSeconds old: records concatenated as sent, GZIP-compressed if asked, under
`<Prefix or ''>YYYY/MM/DD/HH/<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<id>[.gz]` (UTC, Firehose's default
layout). The object's name derives from its first record, so a crash between writing the object and
dropping the buffer rewrites the same object instead of duplicating records. A missing bucket keeps the
records buffered (retried) for 24 hours, as Firehose does, and shows as the stream's FailureDescription.
"""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import logging
import sqlite3
import time
from pathlib import Path

from ..periodic import PeriodicWork
from ..sqlite_file import SqliteFile

log = logging.getLogger(__name__)

RETRY_SECONDS = 24 * 3600        # how long undeliverable records are kept (Firehose's S3 retry duration)

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS streams (region TEXT NOT NULL, name TEXT NOT NULL, created REAL NOT NULL, "
    "config TEXT NOT NULL, tags TEXT NOT NULL, failure TEXT, PRIMARY KEY(region, name))",
    "CREATE TABLE IF NOT EXISTS records (id INTEGER PRIMARY KEY AUTOINCREMENT, region TEXT NOT NULL, "
    "stream TEXT NOT NULL, data BLOB NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS records_stream ON records(region, stream, id)",
    "CREATE TABLE IF NOT EXISTS applied (region TEXT NOT NULL, stream TEXT NOT NULL, key TEXT NOT NULL, "
    "at REAL NOT NULL, PRIMARY KEY(region, stream, key))",
]


class FirehoseStore(SqliteFile):
    def __init__(self, path: Path, objects) -> None:
        self.path = Path(path)
        self.objects = objects            # services.s3.ObjectStore (put_object / bucket)
        super().__init__(self.path, SCHEMA)

    # -- streams -------------------------------------------------------------------------------------
    def stream(self, region: str, name: str):
        return self._db().execute("SELECT * FROM streams WHERE region=? AND name=?", (region, name)).fetchone()

    def streams(self, region: str) -> list:
        return self._db().execute("SELECT * FROM streams WHERE region=? ORDER BY name", (region,)).fetchall()

    def all_streams(self) -> list:
        return self._db().execute("SELECT * FROM streams").fetchall()

    def create(self, region: str, name: str, config: dict, tags: dict) -> bool:
        try:
            with self._write() as db:
                db.execute("INSERT INTO streams(region, name, created, config, tags) VALUES (?,?,?,?,?)",
                           (region, name, time.time(), json.dumps(config), json.dumps(tags)))
        except sqlite3.IntegrityError:
            return False
        return True

    def delete(self, region: str, name: str) -> None:
        with self._write() as db:
            for table in ("streams", "records", "applied"):
                column = "name" if table == "streams" else "stream"
                db.execute(f"DELETE FROM {table} WHERE region=? AND {column}=?", (region, name))

    def set_failure(self, region: str, name: str, failure: str | None) -> None:
        with self._write() as db:
            db.execute("UPDATE streams SET failure=? WHERE region=? AND name=?", (failure, region, name))

    # -- records -------------------------------------------------------------------------------------
    def put_records(self, region: str, name: str, records: list[bytes], batch_key: str | None = None) -> list[int]:
        now = time.time()
        with self._write() as db:
            if batch_key is not None:
                if db.execute("SELECT 1 FROM applied WHERE region=? AND stream=? AND key=?",
                              (region, name, batch_key)).fetchone():
                    return []
                db.execute("INSERT INTO applied(region, stream, key, at) VALUES (?,?,?,?)", (region, name, batch_key, now))
                db.execute("DELETE FROM applied WHERE at<?", (now - 7 * 86400,))
            ids = []
            for data in records:
                cur = db.execute("INSERT INTO records(region, stream, data, at) VALUES (?,?,?,?)", (region, name, data, now))
                ids.append(cur.lastrowid)
        return ids

    def flush_due(self, now: float | None = None, force: bool = False) -> int:
        """Write every stream whose buffer is due to S3; returns the number of objects written."""
        now = now if now is not None else time.time()
        written = 0
        for stream in self.all_streams():
            try:
                written += self._flush(stream, now, force)
            except Exception as e:           # a missing bucket: keep the records (24 h, as Firehose), say why
                failure = f"{type(e).__name__}: {e}" if not isinstance(e, LookupError) else str(e)
                dropped = self._drop_expired(stream, now)
                if dropped:
                    log.warning("firehose %s: %d records older than 24 hours dropped (%s)", stream["name"], dropped,
                                failure)
                if stream["failure"] != failure:
                    self.set_failure(stream["region"], stream["name"], failure)
            else:
                if stream["failure"] is not None:
                    self.set_failure(stream["region"], stream["name"], None)
        return written

    def _drop_expired(self, stream, now: float) -> int:
        """Firehose retries an S3 destination for 24 hours, then discards: the buffer stays bounded."""
        with self._write() as db:
            return db.execute("DELETE FROM records WHERE region=? AND stream=? AND at<?",
                              (stream["region"], stream["name"], now - RETRY_SECONDS)).rowcount

    def _flush(self, stream, now: float, force: bool) -> int:
        config = json.loads(stream["config"])
        hints = config.get("BufferingHints") or {}
        limit = int(hints.get("SizeInMBs", 5)) * 1024 * 1024
        interval = float(hints.get("IntervalInSeconds", 300))
        db = self._db()
        args = (stream["region"], stream["name"])
        written = 0
        while True:
            first = db.execute("SELECT id, at FROM records WHERE region=? AND stream=? ORDER BY id LIMIT 1", args).fetchone()
            if first is None:
                return written
            size = db.execute("SELECT COALESCE(SUM(length(data)), 0) FROM records WHERE region=? AND stream=?",
                              args).fetchone()[0]
            if not force and size < limit and now - first["at"] < interval:
                return written
            rows, total = [], 0
            for row in db.execute("SELECT id, data, at FROM records WHERE region=? AND stream=? ORDER BY id", args):
                if rows and total + len(row["data"]) > limit:
                    break
                rows.append(row)
                total += len(row["data"])
            bucket = config["BucketARN"].split(":::", 1)[-1]
            if self.objects is None or self.objects.bucket(bucket) is None:
                raise LookupError(f"The bucket {bucket} does not exist")
            body = b"".join(r["data"] for r in rows)
            gz = config.get("CompressionFormat", "UNCOMPRESSED") == "GZIP"
            key = object_key(stream["name"], config.get("Prefix") or "", rows[0]["at"], rows[0]["id"], gz)
            self.objects.put_object(bucket, key, gzip.compress(body) if gz else body,
                                    content_type="application/x-gzip" if gz else "application/octet-stream")
            with self._write() as w:
                w.executemany("DELETE FROM records WHERE id=?", [(r["id"],) for r in rows])
            written += 1


def object_key(stream: str, prefix: str, at: float, first_id: int, gz: bool) -> str:
    when = dt.datetime.fromtimestamp(at, dt.timezone.utc)
    tag = hashlib.sha1(f"{stream}:{first_id}".encode()).hexdigest()
    tag = f"{tag[:8]}-{tag[8:12]}-{tag[12:16]}-{tag[16:20]}-{tag[20:32]}"
    return (f"{prefix}{when:%Y/%m/%d/%H}/{stream}-1-{when:%Y-%m-%d-%H-%M-%S}-{tag}" + (".gz" if gz else ""))


class Deliverer(PeriodicWork):
    """Control-plane background service: flushes due buffers once a second."""

    def __init__(self, store: FirehoseStore, interval: float = 1.0) -> None:
        super().__init__("firehose delivery", store.flush_due, interval)
        self.store = store
