"""Metric time series in SQLite (`<data dir>/metrics.db`), kept the way CloudWatch keeps them.

CloudWatch retention: 1-second data 3 hours, 1-minute data 15 days, 5-minute data 63 days, 1-hour data
455 days. Rather than a roll-up job that could fall behind, every sample is merged into its bucket at
each resolution when it is written (a few upserts), and retention is a plain delete by age per
resolution. A bucket keeps SampleCount/Sum/Minimum/Maximum exactly and a bounded set of
(value, count) pairs for percentiles (exact up to `VALUES_CAP` distinct values per bucket, then
thinned evenly). Storage is therefore bounded by series x retention; series without data for 455 days
are dropped.

Writes leave the event loop: merging a collection pass is a few hundred read-modify-write upserts
(measured 65 ms for 120 samples, 450 ms for 600 on the loaded 2-core test machine), so `write_async`
runs `write` in a worker thread on a connection of its own, one write at a time (a lock). Reads use
the main connection on the loop; WAL lets them proceed while a write is in progress and they see
every committed write (PutMetricData returns only after its write committed).
"""
from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HIGH_RES, MINUTE, FIVE_MINUTES, HOUR = 1, 60, 300, 3600
RETENTION = {HIGH_RES: 3 * 3600, MINUTE: 15 * 86400, FIVE_MINUTES: 63 * 86400, HOUR: 455 * 86400}
VALUES_CAP = 150
PRUNE_EVERY = 600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, region TEXT NOT NULL, namespace TEXT NOT NULL, metric TEXT NOT NULL,
    dims TEXT NOT NULL, unit TEXT NOT NULL, last_ts INTEGER NOT NULL,
    UNIQUE (region, namespace, metric, dims, unit));
CREATE INDEX IF NOT EXISTS series_by_name ON series (region, namespace, metric);
CREATE TABLE IF NOT EXISTS points (
    series INTEGER NOT NULL, res INTEGER NOT NULL, ts INTEGER NOT NULL,
    n REAL NOT NULL, sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, vals TEXT NOT NULL,
    PRIMARY KEY (series, res, ts)) WITHOUT ROWID;
"""


def dims_key(dims: dict[str, str]) -> str:
    return json.dumps(sorted(dims.items()), separators=(",", ":"))


@dataclass
class Bucket:
    """Aggregate of the samples of one period (also the result of merging buckets)."""
    n: float = 0.0
    sum: float = 0.0
    min: float = float("inf")
    max: float = float("-inf")
    values: dict[float, float] = field(default_factory=dict)     # value -> count

    def add(self, value: float, count: float = 1.0) -> None:
        self.n += count
        self.sum += value * count
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        self.values[value] = self.values.get(value, 0.0) + count

    def add_set(self, n: float, total: float, lo: float, hi: float) -> None:
        """A StatisticSet (no individual values: percentiles see only its min and max)."""
        self.n += n
        self.sum += total
        self.min, self.max = min(self.min, lo), max(self.max, hi)

    def merge(self, other: "Bucket") -> None:
        self.n += other.n
        self.sum += other.sum
        self.min, self.max = min(self.min, other.min), max(self.max, other.max)
        for v, c in other.values.items():
            self.values[v] = self.values.get(v, 0.0) + c

    def thin(self) -> None:
        if len(self.values) <= VALUES_CAP:
            return
        pairs = sorted(self.values.items())
        step = len(pairs) / VALUES_CAP
        kept: dict[float, float] = {}
        for i in range(VALUES_CAP):
            chunk = pairs[int(i * step):int((i + 1) * step)]
            mid = chunk[len(chunk) // 2][0]
            kept[mid] = kept.get(mid, 0.0) + sum(c for _, c in chunk)
        self.values = kept

    def percentile(self, p: float) -> float | None:
        """Nearest-rank percentile over the kept values (min/max fill in for StatisticSets)."""
        if self.n <= 0:
            return None
        if p >= 100:
            return self.max
        if not self.values:
            return self.min if p <= 0 else None
        pairs = sorted(self.values.items())
        total = sum(c for _, c in pairs)
        target = p / 100.0 * total
        acc = 0.0
        for v, c in pairs:
            acc += c
            if acc >= target - 1e-9:
                return v
        return pairs[-1][0]

    def to_row(self) -> tuple[float, float, float, float, str]:
        self.thin()
        return self.n, self.sum, self.min, self.max, json.dumps([[v, c] for v, c in self.values.items()])

    @classmethod
    def from_row(cls, n, total, lo, hi, vals) -> "Bucket":
        return cls(n, total, lo, hi, {float(v): float(c) for v, c in json.loads(vals)})


@dataclass(frozen=True)
class Series:
    id: int
    region: str
    namespace: str
    metric: str
    dims: dict[str, str]
    unit: str
    last_ts: int


class MetricStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        # The writer's own connection: used only under _write_lock, from whichever thread writes.
        self._writer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._writer.execute("PRAGMA synchronous=NORMAL")
        self._write_lock = threading.Lock()
        self._ids: dict[tuple, int] = {}
        self._last_prune = 0.0
        self.generation = 0                     # +1 per committed write or prune: readers' caches key on it
        self._local = threading.local()         # per-thread read connections (_reader)

    def close(self) -> None:
        with self._write_lock:
            self._writer.close()
        self.db.close()

    # -- writing -------------------------------------------------------------------------------
    def _series_id(self, region: str, namespace: str, metric: str, dims: dict[str, str], unit: str, ts: int) -> int:
        db = self._writer
        key = (region, namespace, metric, dims_key(dims), unit)
        sid = self._ids.get(key)
        if sid is None:
            db.execute("INSERT OR IGNORE INTO series (region, namespace, metric, dims, unit, last_ts) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (*key, ts))
            sid = db.execute("SELECT id FROM series WHERE region=? AND namespace=? AND metric=? AND dims=? "
                             "AND unit=?", key).fetchone()[0]
            self._ids[key] = sid
        db.execute("UPDATE series SET last_ts=? WHERE id=? AND last_ts<?", (ts, sid, ts))
        return sid

    async def write_async(self, region: str, namespace: str,
                          entries: list[tuple[str, dict, str, float, Bucket, bool]]) -> None:
        """`write` in a worker thread (the event loop keeps serving API requests meanwhile)."""
        await asyncio.to_thread(self.write, region, namespace, entries)

    def write(self, region: str, namespace: str, entries: list[tuple[str, dict, str, float, Bucket, bool]]) -> None:
        """Merge samples: entries of (metric, dims, unit, timestamp, bucket, high_resolution)."""
        with self._write_lock:
            db = self._writer
            db.execute("BEGIN IMMEDIATE")
            try:
                for metric, dims, unit, ts, sample, high_res in entries:
                    sid = self._series_id(region, namespace, metric, dims, unit or "None", int(ts))
                    resolutions = (HIGH_RES, MINUTE, FIVE_MINUTES, HOUR) if high_res else (MINUTE, FIVE_MINUTES, HOUR)
                    for res in resolutions:
                        start = int(ts) // res * res
                        row = db.execute("SELECT n, sum, min, max, vals FROM points WHERE series=? AND res=? AND ts=?",
                                         (sid, res, start)).fetchone()
                        bucket = Bucket.from_row(*row) if row else Bucket()
                        bucket.merge(sample)
                        db.execute("INSERT OR REPLACE INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                   (sid, res, start, *bucket.to_row()))
                db.execute("COMMIT")
                self.generation += 1
            except BaseException:
                db.execute("ROLLBACK")
                self._ids.clear()          # ids of series inserted by the rolled-back transaction are void
                raise
            if time.time() - self._last_prune > PRUNE_EVERY:
                self._prune(time.time())

    def prune(self, now: float | None = None) -> None:
        with self._write_lock:
            self._prune(time.time() if now is None else now)

    def _prune(self, now: float) -> None:
        db = self._writer
        self._last_prune = now
        for res, keep in RETENTION.items():
            db.execute("DELETE FROM points WHERE res=? AND ts<?", (res, int(now - keep)))
        gone = db.execute("SELECT id FROM series WHERE last_ts<?", (int(now - RETENTION[HOUR]),)).fetchall()
        for (sid,) in gone:
            db.execute("DELETE FROM points WHERE series=?", (sid,))
            db.execute("DELETE FROM series WHERE id=?", (sid,))
        if gone:
            self._ids.clear()
        self.generation += 1

    # -- reading -------------------------------------------------------------------------------
    def series(self, region: str | None, namespace: str | None = None, metric: str | None = None,
               since: int | None = None) -> list[Series]:
        sql, args = "SELECT id, region, namespace, metric, dims, unit, last_ts FROM series WHERE 1=1", []
        if region is not None:
            sql += " AND region=?"
            args.append(region)
        if namespace is not None:
            sql += " AND namespace=?"
            args.append(namespace)
        if metric is not None:
            sql += " AND metric=?"
            args.append(metric)
        if since is not None:
            sql += " AND last_ts>=?"
            args.append(since)
        return [Series(i, r, ns, m, dict(json.loads(d)), u, t)
                for i, r, ns, m, d, u, t in self._reader().execute(sql + " ORDER BY id", args)]

    def points(self, series_ids: list[int], res: int, start: int, end: int) -> list[tuple[int, Bucket]]:
        """Buckets of resolution `res` with start <= ts < end, over all given series (unmerged)."""
        out = []
        db = self._reader()
        for sid in series_ids:
            for ts, *row in db.execute("SELECT ts, n, sum, min, max, vals FROM points WHERE series=? AND res=? "
                                       "AND ts>=? AND ts<? ORDER BY ts", (sid, res, start, end)):
                out.append((ts, Bucket.from_row(*row)))
        return out

    def aggregate(self, series_ids: list[int], res: int, start: int, end: int,
                  period: int) -> list[tuple[int, Bucket]]:
        """n/sum/min/max of the points of resolution `res` over all given series, per `period`-long bucket
        from `start` (start <= ts < end), summed up by SQLite: what `points` + merging gives without the
        sample values, at one row per bucket instead of one Python object per stored point."""
        merged: dict[int, Bucket] = {}
        db = self._reader()
        for i in range(0, len(series_ids), 500):
            chunk = series_ids[i:i + 500]
            rows = db.execute(
                f"SELECT ?1 + (ts - ?1) / ?2 * ?2 AS k, SUM(n), SUM(sum), MIN(min), MAX(max) FROM points "
                f"WHERE res=?3 AND ts>=?1 AND ts<?4 AND series IN ({','.join('?' * len(chunk))}) GROUP BY k",
                (start, period, res, end, *chunk))
            for k, n, total, lo, hi in rows:
                if k in merged:
                    merged[k].merge(Bucket(n, total, lo, hi))
                else:
                    merged[k] = Bucket(n, total, lo, hi)
        return sorted(merged.items())

    def _reader(self) -> sqlite3.Connection:
        """The calling thread's read connection: API reads run in worker threads (off the event loop), each
        with its own connection so they neither wait on nor share one another's statements."""
        if threading.current_thread() is threading.main_thread():
            return self.db
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        return db

    def size(self) -> dict[str, int]:
        return {"series": self.db.execute("SELECT count(*) FROM series").fetchone()[0],
                "points": self.db.execute("SELECT count(*) FROM points").fetchone()[0]}
