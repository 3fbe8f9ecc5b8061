"""SqliteFile: the embedded store of a service that keeps its own SQLite file (logs, s3, firehose).

One connection per thread (the providers run store calls in worker threads; WAL lets readers go on
while one writer commits), autocommit so a read never holds a snapshot open, and writes as explicit
transactions serialised by one lock and rolled back on any error.
"""
from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Iterable


class SqliteFile:
    def __init__(self, path: Path, schema: Iterable[str], pragmas: Iterable[str] = ()) -> None:
        self.db_path = Path(path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._pragmas = ("journal_mode=WAL", *pragmas)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        with self._write() as db:
            for statement in schema:
                if statement.strip():
                    db.execute(statement)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.db_path, timeout=30, check_same_thread=False, isolation_level=None)
            for pragma in self._pragmas:
                db.execute(f"PRAGMA {pragma}")
            db.row_factory = sqlite3.Row
            self._local.db = db
        return db

    @contextlib.contextmanager
    def _write(self):
        """One write transaction (serialised across threads), rolled back on any error."""
        with self._write_lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
