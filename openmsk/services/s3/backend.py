"""ObjectStore: S3 buckets and objects. Object bytes are files under <data>/s3/objects (written to a temp
file and renamed, so a reader or a crash never sees half an object); metadata (bucket, key, size, ETag,
times, content type, user metadata, multipart uploads and their parts) is in <data>/s3/s3.db.

Synchronous: the provider and the broker-log sink call it in worker threads. Metadata writes are
serialised by one lock; the file of a replaced or deleted object is removed after the metadata commit.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
import uuid
from pathlib import Path

from ..sqlite_file import SqliteFile

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, region TEXT NOT NULL, created REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS objects (bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, "
    "etag TEXT NOT NULL, modified REAL NOT NULL, content_type TEXT, metadata TEXT NOT NULL, file TEXT NOT NULL, "
    "parts TEXT, PRIMARY KEY(bucket, key))",
    "CREATE TABLE IF NOT EXISTS uploads (id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, "
    "created REAL NOT NULL, content_type TEXT, metadata TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS parts (upload_id TEXT NOT NULL, number INTEGER NOT NULL, size INTEGER NOT NULL, "
    "etag TEXT NOT NULL, modified REAL NOT NULL, file TEXT NOT NULL, PRIMARY KEY(upload_id, number))",
]


class ObjectStore(SqliteFile):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.files = self.root / "objects"
        self.files.mkdir(parents=True, exist_ok=True)
        super().__init__(self.root / "s3.db", SCHEMA)

    def _store_file(self, data: bytes) -> str:
        name = uuid.uuid4().hex
        tmp = self.files / f".{name}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.files / name)
        return name

    def _unlink(self, *names: str) -> None:
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                (self.files / name).unlink()

    def path(self, file: str) -> Path:
        return self.files / file

    # -- buckets -------------------------------------------------------------------------------------
    def bucket(self, name: str):
        return self._db().execute("SELECT * FROM buckets WHERE name=?", (name,)).fetchone()

    def buckets(self) -> list:
        return self._db().execute("SELECT * FROM buckets ORDER BY name").fetchall()

    def create_bucket(self, name: str, region: str) -> bool:
        try:
            with self._write() as db:
                db.execute("INSERT INTO buckets(name, region, created) VALUES (?,?,?)", (name, region, time.time()))
        except sqlite3.IntegrityError:
            return False
        return True

    def bucket_empty(self, name: str) -> bool:
        db = self._db()
        return (db.execute("SELECT 1 FROM objects WHERE bucket=? LIMIT 1", (name,)).fetchone() is None
                and db.execute("SELECT 1 FROM uploads WHERE bucket=? LIMIT 1", (name,)).fetchone() is None)

    def delete_bucket(self, name: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM buckets WHERE name=?", (name,))

    # -- objects -------------------------------------------------------------------------------------
    def put_object(self, bucket: str, key: str, data: bytes, content_type: str | None = None,
                   metadata: dict | None = None) -> dict:
        etag = '"' + hashlib.md5(data).hexdigest() + '"'
        file = self._store_file(data)
        return self._commit_object(bucket, key, len(data), etag, file, content_type, metadata, None)

    def _commit_object(self, bucket, key, size, etag, file, content_type, metadata, parts) -> dict:
        now = time.time()
        with self._write() as db:
            old = db.execute("SELECT file FROM objects WHERE bucket=? AND key=?", (bucket, key)).fetchone()
            db.execute("INSERT OR REPLACE INTO objects(bucket, key, size, etag, modified, content_type, metadata, "
                       "file, parts) VALUES (?,?,?,?,?,?,?,?,?)",
                       (bucket, key, size, etag, now, content_type, json.dumps(metadata or {}), file,
                        json.dumps(parts) if parts else None))
        if old is not None and old["file"] != file:
            self._unlink(old["file"])
        return {"etag": etag, "modified": now, "size": size}

    def object(self, bucket: str, key: str):
        return self._db().execute("SELECT * FROM objects WHERE bucket=? AND key=?", (bucket, key)).fetchone()

    def read(self, row, start: int = 0, end: int | None = None) -> bytes:
        with open(self.files / row["file"], "rb") as f:
            f.seek(start)
            return f.read((row["size"] if end is None else end + 1) - start)

    def delete_object(self, bucket: str, key: str) -> bool:
        with self._write() as db:
            old = db.execute("SELECT file FROM objects WHERE bucket=? AND key=?", (bucket, key)).fetchone()
            db.execute("DELETE FROM objects WHERE bucket=? AND key=?", (bucket, key))
        if old is not None:
            self._unlink(old["file"])
        return old is not None

    def list_objects(self, bucket: str, prefix: str, after: str, limit: int) -> list:
        """Objects with `prefix` and key > `after`, in key (UTF-8 byte) order, at most `limit`."""
        sql = "SELECT key, size, etag, modified FROM objects WHERE bucket=? AND key>?"
        args: list = [bucket, after]
        if prefix:
            sql += " AND substr(key, 1, ?)=?"
            args += [len(prefix), prefix]
        return self._db().execute(sql + " ORDER BY CAST(key AS BLOB) LIMIT ?", (*args, limit)).fetchall()

    # -- multipart -----------------------------------------------------------------------------------
    def create_upload(self, bucket: str, key: str, content_type: str | None, metadata: dict | None) -> str:
        upload_id = uuid.uuid4().hex + uuid.uuid4().hex
        with self._write() as db:
            db.execute("INSERT INTO uploads(id, bucket, key, created, content_type, metadata) VALUES (?,?,?,?,?,?)",
                       (upload_id, bucket, key, time.time(), content_type, json.dumps(metadata or {})))
        return upload_id

    def upload(self, upload_id: str, bucket: str, key: str):
        return self._db().execute("SELECT * FROM uploads WHERE id=? AND bucket=? AND key=?",
                                  (upload_id, bucket, key)).fetchone()

    def uploads(self, bucket: str) -> list:
        return self._db().execute("SELECT * FROM uploads WHERE bucket=? ORDER BY key, created", (bucket,)).fetchall()

    def put_part(self, upload_id: str, number: int, data: bytes) -> str:
        etag = '"' + hashlib.md5(data).hexdigest() + '"'
        file = self._store_file(data)
        with self._write() as db:
            old = db.execute("SELECT file FROM parts WHERE upload_id=? AND number=?", (upload_id, number)).fetchone()
            db.execute("INSERT OR REPLACE INTO parts(upload_id, number, size, etag, modified, file) VALUES (?,?,?,?,?,?)",
                       (upload_id, number, len(data), etag, time.time(), file))
        if old is not None:
            self._unlink(old["file"])
        return etag

    def parts(self, upload_id: str) -> list:
        return self._db().execute("SELECT * FROM parts WHERE upload_id=? ORDER BY number", (upload_id,)).fetchall()

    def complete_upload(self, upload, chosen: list) -> dict:
        """Concatenate the chosen part rows into the object (one temp file, renamed), then drop the upload."""
        name = uuid.uuid4().hex
        tmp = self.files / f".{name}.tmp"
        digest = hashlib.md5()
        size = 0
        with open(tmp, "wb") as out:
            for part in chosen:
                with open(self.files / part["file"], "rb") as f:
                    while chunk := f.read(1 << 20):
                        out.write(chunk)
                size += part["size"]
                digest.update(bytes.fromhex(part["etag"].strip('"')))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.files / name)
        etag = f'"{digest.hexdigest()}-{len(chosen)}"'
        result = self._commit_object(upload["bucket"], upload["key"], size, etag, name, upload["content_type"],
                                     json.loads(upload["metadata"]), [p["size"] for p in chosen])
        self.abort_upload(upload["id"])
        return result

    def abort_upload(self, upload_id: str) -> None:
        files = [p["file"] for p in self.parts(upload_id)]
        with self._write() as db:
            db.execute("DELETE FROM parts WHERE upload_id=?", (upload_id,))
            db.execute("DELETE FROM uploads WHERE id=?", (upload_id,))
        self._unlink(*files)
