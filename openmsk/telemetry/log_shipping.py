"""Broker log shipping: what MSK's LoggingInfo.BrokerLogs does, for openmsk's brokers.

    broker JVM --log4j--> logs/server.log (+ .1 .. .4 rotated)     (the broker never waits for us)
         tail (inode, offset) --one SQLite transaction--> spool rows + new position   (log_shipping.db)
         spool --BrokerLogSink--> CloudWatch Logs stream `Broker-<id>` / S3 object / Firehose records

Exactly once, across broker restarts, rotation, control-plane SIGKILL and destination outages:
* a file position is the file's inode and the offset after the last complete line read. Lines read are
  written to the spool in the same transaction as the new position: a crash loses neither, repeats neither;
* a rotated file (server.log -> server.log.1) is found again by its inode and finished before the new one,
  after it any file rotated later (several rotations while the control plane was down), oldest first;
* a file is its inode and its first bytes (`head`): log4j deletes the oldest backup and the next new file
  may get its inode, which must not be taken for the old file (lines skipped) nor collide with its batches;
* every spool row carries a batch key (`<cluster uuid>/<broker>:<inode>:<offset>:<time read>`, unique even
  when an inode is reused; a retry re-sends the stored row with its key) the destination applies
  idempotently (CloudWatch: stored with the events in one transaction; S3: a key derived from the first
  row, overwritten by a superset on retry; Firehose: stored with the records). A row is deleted only after
  its delivery succeeded, so an outage just leaves rows in the spool: bounded per broker and destination
  (oldest dropped first, with a cluster event), delivered in order when the destination works again.
A destination failing or recovering is a cluster event (`openmsk status`), and `status()` gives the
current problem per cluster for views.

When passes run (issue 15: an idle cluster must cost next to nothing): a pass starts when a broker's
server.log is written or rotated (inotify, file_watch.py) or a cluster is saved (the control plane's
`on_cluster_saved`), at most one per `interval`, so a line is delivered as fast as by a pass each
`interval`. While that cannot cover everything (a broker's log not there yet, rows waiting for a
retry or an S3 batch, no inotify) passes run each `interval`; otherwise one a minute (forgetting
deleted clusters).

The shipper never imports services (layering): the composition root hands it a BrokerLogSink.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import hashlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .file_watch import DIR_EVENTS, FILE_EVENTS, FileWatch
from .log_tail import end_position, read_new_lines

log = logging.getLogger(__name__)

QUIET_PASS_INTERVAL = 60.0        # the pass nothing asked for (every change above wakes one sooner)
SHIPPED_STATES = {"CREATING", "ACTIVE", "UPDATING", "HEALING", "REBOOTING_BROKER", "MAINTENANCE"}
_TS = re.compile(rb"^\[(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d),(\d{3})\]")

SCHEMA = """
CREATE TABLE IF NOT EXISTS positions (broker TEXT PRIMARY KEY, inode INTEGER NOT NULL, offset INTEGER NOT NULL,
    head BLOB);
CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY AUTOINCREMENT, cluster_arn TEXT NOT NULL,
    broker TEXT NOT NULL, broker_id INTEGER NOT NULL, dest TEXT NOT NULL, target TEXT NOT NULL,
    batch_key TEXT NOT NULL, created REAL NOT NULL, nbytes INTEGER NOT NULL, lines BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS spool_dest ON spool(cluster_arn, dest, broker, id);
"""


class DeliveryError(Exception):
    """A destination refused or could not take a delivery (missing group/bucket/stream, outage)."""


class BrokerLogSink(Protocol):
    """Where broker logs go. Methods are synchronous (called in a worker thread) and raise DeliveryError.

    `exists` answers the destination checks MSK makes when logging is configured."""

    def exists(self, region: str, dest: str, name: str) -> bool: ...

    def put_cloudwatch(self, region: str, log_group: str, stream: str, events: list[tuple[int, str]],
                       batch_key: str) -> None: ...

    def put_s3(self, region: str, bucket: str, key: str, body: bytes) -> None: ...

    def put_firehose(self, region: str, delivery_stream: str, records: list[bytes], batch_key: str) -> None: ...


DEST_LABEL = {"cloudwatch": "CloudWatch Logs log group", "s3": "S3 bucket", "firehose": "Firehose delivery stream"}


def enabled_destinations(cluster: dict) -> dict[str, dict]:
    """dest -> target settings, from the cluster's LoggingInfo.BrokerLogs (only Enabled ones)."""
    logs = ((cluster.get("Spec") or {}).get("LoggingInfo") or {}).get("BrokerLogs") or {}
    out = {}
    cw, s3, fh = logs.get("CloudWatchLogs") or {}, logs.get("S3") or {}, logs.get("Firehose") or {}
    if cw.get("Enabled") and cw.get("LogGroup"):
        out["cloudwatch"] = {"LogGroup": cw["LogGroup"]}
    if s3.get("Enabled") and s3.get("Bucket"):
        out["s3"] = {"Bucket": s3["Bucket"], "Prefix": s3.get("Prefix") or ""}
    if fh.get("Enabled") and fh.get("DeliveryStream"):
        out["firehose"] = {"DeliveryStream": fh["DeliveryStream"]}
    return out


def stream_name(broker_id: int) -> str:
    return f"Broker-{broker_id}"


def s3_key(cluster: dict, prefix: str, broker_id: int, created: float, batch_key: str) -> str:
    """MSK's layout: [prefix/]AWSLogs/<acct>/KafkaBrokerLogs/<region>/<name>-<uuid>/<YYYY-MM-DD-HH>/
    Broker-<id>_<HH-MM>_<8hex>.log.gz"""
    when = dt.datetime.fromtimestamp(created, dt.timezone.utc)
    tag = hashlib.sha1(batch_key.encode()).hexdigest()[:8]
    key = (f"AWSLogs/{cluster['AccountId']}/KafkaBrokerLogs/{cluster['Region']}/{cluster['ClusterName']}-"
           f"{cluster['Uuid']}/{when:%Y-%m-%d-%H}/Broker-{broker_id}_{when:%H-%M}_{tag}.log.gz")
    prefix = prefix.strip("/")
    return f"{prefix}/{key}" if prefix else key


def line_timestamp(line: bytes, default: int) -> int:
    """log4j's `[%d]` (the JVM's local time) -> epoch ms; lines without one (stack traces) get `default`."""
    m = _TS.match(line)
    if not m:
        return default
    y, mo, d, h, mi, s, ms = (int(x) for x in m.groups())
    try:
        return int(time.mktime((y, mo, d, h, mi, s, 0, 0, -1))) * 1000 + ms
    except (OverflowError, ValueError):
        return default


@dataclass
class Settings:
    interval: float = 1.0             # tail + CloudWatch/Firehose delivery
    s3_interval: float = 60.0         # an S3 object per broker at most this often (MSK batches too)
    spool_limit: int = 64 * 1024 * 1024   # bytes buffered per broker and destination

    @classmethod
    def from_env(cls) -> "Settings":
        def num(name, default):
            try:
                return float(os.environ.get(name, default))
            except ValueError:
                return float(default)
        return cls(max(0.1, num("OPENMSK_LOG_SHIP_INTERVAL", 1.0)), max(0.1, num("OPENMSK_LOG_S3_INTERVAL", 60.0)),
                   int(num("OPENMSK_LOG_SPOOL_BYTES", 64 * 1024 * 1024)))


class LogShipper:
    """ControlPlane background service (see telemetry.install_log_shipping)."""

    def __init__(self, path: Path, sink: BrokerLogSink, settings: Settings | None = None) -> None:
        self.path = Path(path)
        self.sink = sink
        self.settings = settings or Settings.from_env()
        self.plane = None
        self._task: asyncio.Task | None = None
        self._db: sqlite3.Connection | None = None          # a pass's (one pass at a time, in a worker thread)
        self._readers = threading.local()                   # every other thread's own (delivery(): the API)
        self._failing: dict[tuple[str, str], str] = {}      # (cluster arn, dest) -> error message
        self._retry_at: dict[tuple[str, str], float] = {}
        self.shipped_lines = 0
        self._watch: FileWatch | None = None
        self._wake: asyncio.Event | None = None
        self._watched_all = False           # last pass: every broker's log watched (else poll)

    # -- background service ----------------------------------------------------------------------
    def open(self, plane) -> None:
        self.plane = plane
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(positions)")}
        if "head" not in columns:              # a log_shipping.db from before file identities had heads
            self._db.execute("ALTER TABLE positions ADD COLUMN head BLOB")
        self._db.commit()

    async def start(self, plane) -> None:
        self.open(plane)
        self._wake = asyncio.Event()
        self._watch = FileWatch.open()
        if self._watch is not None:
            asyncio.get_running_loop().add_reader(self._watch.fd, self._file_changed)
        plane.on_cluster_saved.append(self._wake.set)
        self._task = asyncio.create_task(self._run(), name="broker log shipping")

    def _file_changed(self) -> None:
        self._watch.drain()
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._wake is not None and self._wake.set in self.plane.on_cluster_saved:
            self.plane.on_cluster_saved.remove(self._wake.set)
        if self._watch is not None:
            asyncio.get_running_loop().remove_reader(self._watch.fd)
            self._watch.close()
            self._watch = None
        if self._db is not None:
            self._db.close()
            self._db = None
        reader = getattr(self._readers, "db", None)
        if reader is not None:
            reader.close()
            self._readers.db = None

    def _reader(self) -> sqlite3.Connection:
        """This thread's own connection for reads outside a pass. Not the pass's: a pass runs in a worker
        thread, and one connection used from two threads at once sees the other's uncommitted rows (and
        deadlocked once in a test); WAL lets this one read the last committed state meanwhile."""
        db = getattr(self._readers, "db", None)
        if db is None:
            db = self._readers.db = sqlite3.connect(self.path, timeout=30)
        return db

    def status(self, cluster_arn: str) -> dict[str, str]:
        """dest -> current delivery problem, for views."""
        return {dest: msg for (arn, dest), msg in self._failing.items() if arn == cluster_arn}

    def delivery(self, cluster_arn: str) -> list[dict]:
        """Per destination with a problem or a backlog: what `openmsk status` shows (its operator route).
        The spool is what is still to be delivered; a destination that works has at most one pass's worth."""
        backlog = {}
        if self._db is not None:
            backlog = {dest: (lines, nbytes) for dest, lines, nbytes in self._reader().execute(
                "SELECT dest, COUNT(*), COALESCE(SUM(nbytes), 0) FROM spool WHERE cluster_arn=? GROUP BY dest",
                (cluster_arn,))}
        failing = self.status(cluster_arn)
        return [{"Destination": DEST_LABEL[dest], "Failing": failing.get(dest),
                 "BufferedBatches": backlog.get(dest, (0, 0))[0], "BufferedBytes": backlog.get(dest, (0, 0))[1]}
                for dest in ("cloudwatch", "s3", "firehose") if dest in failing or dest in backlog]

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            self._wake.clear()                 # changes from here on (during the pass too) wake the next
            polling = True
            try:
                # On the event loop: decode only the clusters shipped from (an API-only installation may
                # hold hundreds of others); the rest only need their ids.
                live = set(self.plane.store.ids("cluster"))
                clusters = self.plane.store.list("cluster", states=tuple(sorted(SHIPPED_STATES)))
                notes = await asyncio.to_thread(self.ship_once, clusters, None, live)
                for cluster, message in notes:
                    log.warning("cluster %s: %s", cluster["ClusterName"], message)
                    self.plane.note_event(cluster, message)
                polling = not self._watched_all or self._db.execute("SELECT 1 FROM spool LIMIT 1").fetchone()
            except Exception:
                log.exception("broker log shipping pass failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.interval if polling else QUIET_PASS_INTERVAL)
            except asyncio.TimeoutError:
                pass
            await asyncio.sleep(max(0.0, started + self.settings.interval - time.monotonic()))

    # -- one pass (worker thread) ----------------------------------------------------------------
    def ship_once(self, clusters: list[dict], now: float | None = None,
                  live: set[str] | None = None) -> list[tuple[dict, str]]:
        """`live`: the ARNs of every existing cluster (default: those of `clusters`)."""
        now = now if now is not None else time.time()
        notes: list[tuple[dict, str]] = []
        live = set(live) if live is not None else set()
        watched_all = self._watch is not None
        for cluster in clusters:
            live.add(cluster["ClusterArn"])
            if cluster.get("State") not in SHIPPED_STATES:
                continue
            dests = enabled_destinations(cluster)
            for broker in cluster.get("Brokers") or []:
                watched_all = self._watch_logs(cluster, broker["BrokerId"]) and watched_all
                notes += self._tail(cluster, broker["BrokerId"], dests, now)
            notes += self._deliver(cluster, now)
        self._forget(live)
        self._watched_all = watched_all
        return notes

    def _watch_logs(self, cluster: dict, broker_id: int) -> bool:
        """Be woken when the broker's server.log is written or rotated; watched before it is read, so
        no write after the read goes unnoticed. False: it cannot be watched (yet), poll."""
        if self._watch is None:
            return False
        logs = self._logs_dir(cluster, broker_id)
        return self._watch.add(logs, DIR_EVENTS) and self._watch.add(logs / "server.log", FILE_EVENTS)

    def _logs_dir(self, cluster: dict, broker_id: int) -> Path:
        return self.plane.cluster_dir(cluster) / f"broker-{broker_id}" / "logs"

    def _tail(self, cluster: dict, broker_id: int, dests: dict, now: float) -> list:
        key = f"{cluster['Uuid']}/{broker_id}"
        db = self._db
        row = db.execute("SELECT inode, offset, head FROM positions WHERE broker=?", (key,)).fetchone()
        if not dests:
            # Nothing to ship: only keep up with where the log ends, so that a destination configured later
            # receives the lines logged from then on (as MSK), not the whole server.log so far.
            end = end_position(self._logs_dir(cluster, broker_id))
            if end is not None and (row is None or tuple(row[:2]) != end[:2]):
                with db:
                    db.execute("INSERT INTO positions(broker, inode, offset, head) VALUES (?,?,?,?) ON CONFLICT(broker) "
                               "DO UPDATE SET inode=excluded.inode, offset=excluded.offset, head=excluded.head",
                               (key, *end))
            return []
        chunks = read_new_lines(self._logs_dir(cluster, broker_id), row)
        if chunks is None:
            return []
        notes = []
        with db:
            for inode, start, end, lines, head in chunks:
                if head is None:
                    continue                  # renamed between stat and open: read again next pass
                if lines and dests:
                    default = int(now * 1000)
                    stamped = []
                    for line in lines:
                        default = line_timestamp(line, default)
                        stamped.append((default, line.decode("utf-8", "replace")))
                    payload = zlib.compress(json.dumps(stamped).encode())
                    nbytes = sum(len(x) for x in lines)
                    for dest, target in dests.items():
                        db.execute("INSERT INTO spool(cluster_arn, broker, broker_id, dest, target, batch_key, created, "
                                   "nbytes, lines) VALUES (?,?,?,?,?,?,?,?,?)",
                                   (cluster["ClusterArn"], key, broker_id, dest, json.dumps(target),
                                    f"{key}:{inode}:{start}:{now:.6f}", now, nbytes, payload))
                db.execute("INSERT INTO positions(broker, inode, offset, head) VALUES (?,?,?,?) ON CONFLICT(broker) "
                           "DO UPDATE SET inode=excluded.inode, offset=excluded.offset, head=excluded.head",
                           (key, inode, end, head))
            for dest in dests:
                notes += self._bound(cluster, key, broker_id, dest)
        return notes

    def _bound(self, cluster: dict, key: str, broker_id: int, dest: str) -> list:
        db = self._db
        total = db.execute("SELECT COALESCE(SUM(nbytes), 0) FROM spool WHERE broker=? AND dest=?", (key, dest)).fetchone()[0]
        dropped = 0
        while total > self.settings.spool_limit:
            oldest = db.execute("SELECT id, nbytes, lines FROM spool WHERE broker=? AND dest=? ORDER BY id LIMIT 1",
                                (key, dest)).fetchone()
            if oldest is None:
                break
            dropped += len(json.loads(zlib.decompress(oldest[2])))
            db.execute("DELETE FROM spool WHERE id=?", (oldest[0],))
            total -= oldest[1]
        if dropped:
            return [(cluster, f"Broker log buffer for {DEST_LABEL[dest]} full on broker {broker_id}: "
                              f"{dropped} oldest lines dropped")]
        return []

    def _deliver(self, cluster: dict, now: float) -> list:
        notes = []
        arn = cluster["ClusterArn"]
        for dest in ("cloudwatch", "s3", "firehose"):
            pending = self._db.execute("SELECT COUNT(*) FROM spool WHERE cluster_arn=? AND dest=?", (arn, dest)).fetchone()[0]
            if not pending or self._retry_at.get((arn, dest), 0) > now:
                continue
            try:
                delivered = getattr(self, f"_deliver_{dest}")(cluster, now)
            except DeliveryError as e:
                delivered, error = 0, str(e)
            except Exception as e:                 # an unexpected sink failure is an outage too
                log.exception("broker log delivery to %s failed", dest)
                delivered, error = 0, f"{type(e).__name__}: {e}"
            else:
                error = None
            if error is None:
                self.shipped_lines += delivered
                self._retry_at.pop((arn, dest), None)
                if self._failing.pop((arn, dest), None) is not None:
                    notes.append((cluster, f"Broker log delivery to the {DEST_LABEL[dest]} works again; buffered "
                                           f"lines are being delivered"))
            else:
                self._retry_at[(arn, dest)] = now + 5.0
                if self._failing.get((arn, dest)) != error:
                    notes.append((cluster, f"Broker log delivery to the {DEST_LABEL[dest]} is failing ({error}); "
                                           f"lines are buffered and will be delivered when it works again"))
                self._failing[(arn, dest)] = error
        return notes

    def _rows(self, arn: str, dest: str, limit: int = 200):
        return self._db.execute("SELECT id, broker, broker_id, target, batch_key, created, nbytes, lines FROM spool "
                                "WHERE cluster_arn=? AND dest=? ORDER BY id LIMIT ?", (arn, dest, limit)).fetchall()

    def _deliver_cloudwatch(self, cluster: dict, now: float) -> int:
        count = 0
        for rid, _broker, broker_id, target, batch_key, _c, _n, lines in self._rows(cluster["ClusterArn"], "cloudwatch"):
            events = [(int(ts), text) for ts, text in json.loads(zlib.decompress(lines))]
            self.sink.put_cloudwatch(cluster["Region"], json.loads(target)["LogGroup"], stream_name(broker_id),
                                     events, batch_key)
            with self._db:
                self._db.execute("DELETE FROM spool WHERE id=?", (rid,))
            count += len(events)
        return count

    def _deliver_firehose(self, cluster: dict, now: float) -> int:
        count = 0
        for rid, _broker, _bid, target, batch_key, _c, _n, lines in self._rows(cluster["ClusterArn"], "firehose"):
            records = [(text + "\n").encode() for _ts, text in json.loads(zlib.decompress(lines))]
            self.sink.put_firehose(cluster["Region"], json.loads(target)["DeliveryStream"], records, batch_key)
            with self._db:
                self._db.execute("DELETE FROM spool WHERE id=?", (rid,))
            count += len(records)
        return count

    def _deliver_s3(self, cluster: dict, now: float) -> int:
        """One object per broker and target with everything pending, once its oldest row is s3_interval old."""
        rows = self._rows(cluster["ClusterArn"], "s3", limit=100_000)
        groups: dict[tuple[str, str], list] = {}
        for row in rows:
            groups.setdefault((row[1], row[3]), []).append(row)
        count = 0
        for (_broker, target), batch in groups.items():
            if now - batch[0][5] < self.settings.s3_interval:
                continue
            taken, size = [], 0
            for row in batch:
                if taken and size + row[6] > 64 * 1024 * 1024:
                    break
                taken.append(row)
                size += row[6]
            first = taken[0]
            text = "".join(t + "\n" for row in taken for _ts, t in json.loads(zlib.decompress(row[7])))
            settings = json.loads(target)
            key = s3_key(cluster, settings.get("Prefix", ""), first[2], first[5], first[4])
            self.sink.put_s3(cluster["Region"], settings["Bucket"], key, gzip.compress(text.encode(), 6))
            with self._db:
                self._db.executemany("DELETE FROM spool WHERE id=?", [(row[0],) for row in taken])
            count += text.count("\n")
        return count

    def _forget(self, live: set[str]) -> None:
        """Clusters that are gone: their positions and pending rows go too."""
        db = self._db
        gone = [r[0] for r in db.execute("SELECT DISTINCT cluster_arn FROM spool").fetchall() if r[0] not in live]
        with db:
            for arn in gone:
                db.execute("DELETE FROM spool WHERE cluster_arn=?", (arn,))
        uuids = {arn.rsplit("/", 1)[-1] for arn in live}
        with db:
            for (broker,) in db.execute("SELECT broker FROM positions").fetchall():
                if broker.split("/")[0] not in uuids:
                    db.execute("DELETE FROM positions WHERE broker=?", (broker,))
        for key in [k for k in self._failing if k[0] not in live]:
            self._failing.pop(key, None)
