"""Broker logs delivered as MSK does (LoggingInfo.BrokerLogs).

The shipper's guarantees with a fake destination and real files (no cluster): rotation, crash between
delivery and bookkeeping, outage buffered then caught up, bounded buffer. Then ONE real cluster with
CloudWatch Logs and S3 enabled at create: the brokers' real start-up lines are readable with
`aws logs get-log-events` / `filter-log-events`; after a broker restart and a SIGKILL of the control
plane, every line of every broker's server.log is in its `Broker-<id>` stream exactly once, and the S3
objects under MSK's keys gunzip to the same lines. Missing destinations get MSK's BadRequestException.
"""
from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import pytest

import boto3
from harness import BIN, free_port
from kafka_clients import consume_all, create_topic, produce, tls_config
from openmsk.services.logs import LogStore
from openmsk.services.logs.destinations import EmbeddedDestinations, ExternalS3
from openmsk.services.s3 import ObjectStore
from openmsk.telemetry.log_shipping import DeliveryError, LogShipper, Settings, s3_key


# -- the shipper alone ------------------------------------------------------------------------------
class FakeSink:
    def __init__(self):
        self.events: dict[str, list[str]] = {}
        self.applied: set[str] = set()
        self.objects: dict[str, bytes] = {}
        self.down = False
        self.crash_after_put = False

    def exists(self, region, dest, name):
        return True

    def put_cloudwatch(self, region, group, stream, events, batch_key):
        if self.down:
            raise DeliveryError(f"The log group {group} does not exist")
        if batch_key not in self.applied:
            self.applied.add(batch_key)
            self.events.setdefault(stream, []).extend(m for _, m in events)
        if self.crash_after_put:
            raise KeyboardInterrupt("control plane killed after delivery, before bookkeeping")

    def put_s3(self, region, bucket, key, body):
        if self.down:
            raise DeliveryError(f"The bucket {bucket} does not exist")
        self.objects[key] = body

    def put_firehose(self, region, stream, records, batch_key):
        raise DeliveryError("no firehose here")


class FakePlane:
    def __init__(self, root: Path):
        self.root = root
        self.events: list[str] = []

    def cluster_dir(self, cluster):
        return self.root / cluster["Uuid"]


CLUSTER = {"ClusterArn": "arn:aws:kafka:us-east-1:123456789012:cluster/c1/u-1", "ClusterName": "c1", "Uuid": "u-1",
           "Region": "us-east-1", "AccountId": "123456789012", "State": "ACTIVE", "Brokers": [{"BrokerId": 1}],
           "Spec": {"LoggingInfo": {"BrokerLogs": {"CloudWatchLogs": {"Enabled": True, "LogGroup": "g"},
                                                   "S3": {"Enabled": True, "Bucket": "b", "Prefix": "p"}}}}}


def _shipper(tmp_path, sink, **settings):
    shipper = LogShipper(tmp_path / "ship.db", sink, Settings(**{"s3_interval": 0.0, **settings}))
    shipper.open(FakePlane(tmp_path / "clusters"))
    return shipper


def _append(path: Path, lines: list[str]) -> None:
    with open(path, "a") as f:
        f.writelines(line + "\n" for line in lines)


def _s3_lines(sink) -> list[str]:
    out = []
    for key in sorted(sink.objects, key=lambda k: k.rsplit("_", 1)[0]):
        out += gzip.decompress(sink.objects[key]).decode().splitlines()
    return out


def test_rotation_restart_and_outage_lose_and_repeat_nothing(tmp_path):
    logs = tmp_path / "clusters" / "u-1" / "broker-1" / "logs"
    logs.mkdir(parents=True)
    sink = FakeSink()
    shipper = _shipper(tmp_path, sink)
    expected = [f"[2026-12-03 10:00:{i % 60:02d},000] INFO line {i} (kafka.Test)" for i in range(30)]
    _append(logs / "server.log", expected[:10])
    with open(logs / "server.log", "a") as f:
        f.write("[2026-12-03 10:00:59,000] INFO half a li")            # incomplete: not shipped yet
    shipper.ship_once([CLUSTER])
    assert sink.events["Broker-1"] == expected[:10]

    # The rest of the line, more lines, then rotation (log4j renames server.log -> server.log.1).
    with open(logs / "server.log", "a") as f:
        f.write("ne\n")
    expected.insert(10, "[2026-12-03 10:00:59,000] INFO half a line")
    _append(logs / "server.log", expected[11:15])
    os.rename(logs / "server.log", logs / "server.log.1")
    _append(logs / "server.log", expected[15:20])
    # Outage: nothing delivered, everything buffered; the cluster is told.
    sink.down = True
    notes = shipper.ship_once([CLUSTER])
    assert any("failing" in m and "CloudWatch" in m for _, m in notes)
    assert sink.events["Broker-1"] == expected[:10]
    # Control plane killed after a delivery and before its bookkeeping: a new shipper on the same files.
    sink.down = False
    sink.crash_after_put = True
    with pytest.raises(KeyboardInterrupt):
        shipper._retry_at.clear()
        shipper.ship_once([CLUSTER])
    sink.crash_after_put = False
    shipper = _shipper(tmp_path, sink)
    _append(logs / "server.log", expected[20:])
    for _ in range(3):
        notes = shipper.ship_once([CLUSTER])
    assert sink.events["Broker-1"] == expected                  # each line once, in order
    assert _s3_lines(sink) == expected
    key = next(iter(sink.objects))
    assert key.startswith("p/AWSLogs/123456789012/KafkaBrokerLogs/us-east-1/c1-u-1/")
    assert key.rsplit("/", 1)[1].startswith("Broker-1_") and key.endswith(".log.gz")


def _rotate(logs: Path, backups: int, newest_highest: bool) -> None:
    """One size-based rollover of server.log as log4j does it: log4j 1 shifts .1 -> .2 … and renames
    server.log to .1 (newest lowest); log4j2's default strategy (fileIndex=max) renames it to the next free
    index, or shifts the others down dropping .1 when all are used (newest highest)."""
    if newest_highest:
        taken = sorted(int(p.suffix[1:]) for p in logs.glob("server.log.*"))
        if len(taken) == backups:
            (logs / "server.log.1").unlink()
            for i in range(2, backups + 1):
                os.rename(logs / f"server.log.{i}", logs / f"server.log.{i - 1}")
            os.rename(logs / "server.log", logs / f"server.log.{backups}")
        else:
            os.rename(logs / "server.log", logs / f"server.log.{len(taken) + 1}")
    else:
        (logs / f"server.log.{backups}").unlink(missing_ok=True)
        for i in range(backups - 1, 0, -1):
            if (logs / f"server.log.{i}").exists():
                os.rename(logs / f"server.log.{i}", logs / f"server.log.{i + 1}")
        os.rename(logs / "server.log", logs / "server.log.1")


@pytest.mark.parametrize("newest_highest", [False, True], ids=["log4j1", "log4j2"])
def test_several_rotations_while_the_shipper_is_down(tmp_path, newest_highest):
    """A busy broker rotates server.log more than once while the control plane is down: the rest of the
    file being read, every file rotated after it, then the new server.log, each line once and in order."""
    logs = tmp_path / "clusters" / "u-1" / "broker-1" / "logs"
    logs.mkdir(parents=True)
    sink = FakeSink()
    shipper = _shipper(tmp_path, sink)
    expected = [f"[2026-12-03 10:00:00,{i:03d}] INFO rotated {i} (kafka.Test)" for i in range(50)]
    _append(logs / "server.log", expected[:5])
    shipper.ship_once([CLUSTER])
    _append(logs / "server.log", expected[5:10])                # logged, not yet shipped
    stamp = time.time() - 100
    for n in range(4):                                          # four rollovers with the shipper down
        os.utime(logs / "server.log", (stamp + n, stamp + n))    # mtime = when it was last written
        _rotate(logs, 4, newest_highest)
        _append(logs / "server.log", expected[10 + 10 * n:20 + 10 * n])
    shipper = _shipper(tmp_path, sink)                          # back: a new shipper on the same files
    for _ in range(3):
        shipper.ship_once([CLUSTER])
    assert sink.events["Broker-1"] == expected
    assert _s3_lines(sink) == expected

    # More rollovers than backups while down: the file being read and the first one after it are gone
    # (log4j deleted them, nothing can bring those lines back); every backup left and server.log are shipped.
    later = [f"[2026-12-03 10:00:01,{n:03d}] INFO later {n} (kafka.Test)" for n in range(6)]
    for n in range(6):
        os.utime(logs / "server.log", (stamp + 10 + n, stamp + 10 + n))
        _rotate(logs, 4, newest_highest)
        _append(logs / "server.log", [later[n]])
    for _ in range(3):
        shipper.ship_once([CLUSTER])
    assert sink.events["Broker-1"] == expected + later[1:]

    # The shipper running through many rollovers: log4j deletes the oldest backup and the new server.log
    # often gets its inode (as on this file system): not the old file, and not the old file's batches.
    running = [f"[2026-12-03 10:00:02,{n:03d}] INFO running {n} (kafka.Test)" for n in range(12)]
    for n in range(12):
        _rotate(logs, 4, newest_highest)
        _append(logs / "server.log", [running[n]])
        shipper.ship_once([CLUSTER])
    assert sink.events["Broker-1"] == expected + later[1:] + running


def test_a_destination_configured_later_gets_the_lines_from_then_on(tmp_path):
    """As on MSK: logging turned on for a running cluster (update-monitoring) delivers what the brokers log
    from then on, not the whole server.log so far; turned off and on again, nothing logged in between."""
    logs = tmp_path / "clusters" / "u-1" / "broker-1" / "logs"
    logs.mkdir(parents=True)
    sink = FakeSink()
    shipper = _shipper(tmp_path, sink)
    quiet = {**CLUSTER, "Spec": {}}
    lines = [f"[2026-12-03 10:00:00,{i:03d}] INFO later-on {i} (kafka.Test)" for i in range(40)]
    _append(logs / "server.log", lines[:10])
    shipper.ship_once([quiet])
    _append(logs / "server.log", lines[10:15])
    shipper.ship_once([quiet])
    assert sink.events == {}
    _append(logs / "server.log", lines[15:20])            # logged just before the update
    shipper.ship_once([quiet])
    _append(logs / "server.log", lines[20:25])
    shipper.ship_once([CLUSTER])                           # logging on
    assert sink.events["Broker-1"] == lines[20:25]
    shipper.ship_once([quiet])                             # off: lines logged meanwhile are not shipped ...
    _append(logs / "server.log", lines[25:30])
    shipper.ship_once([quiet])
    _append(logs / "server.log", lines[30:40])
    shipper.ship_once([CLUSTER])                           # ... on again: from then on
    assert sink.events["Broker-1"] == lines[20:25] + lines[30:40]


def test_the_running_shipper_sleeps_while_logs_are_quiet_and_ships_a_write_or_rotation(tmp_path, monkeypatch):
    """Issue 15: no pass while nothing changes (no polling each interval), yet a line written, a rotation,
    and a cluster saved each get a pass, as a pass each interval would."""
    import asyncio
    from openmsk.telemetry import log_shipping
    monkeypatch.setattr(log_shipping, "QUIET_PASS_INTERVAL", 3600.0)
    logs = tmp_path / "clusters" / "u-1" / "broker-1" / "logs"
    logs.mkdir(parents=True)
    cloudwatch_only = {**CLUSTER, "Spec": {"LoggingInfo": {"BrokerLogs": {"CloudWatchLogs": {
        "Enabled": True, "LogGroup": "g"}}}}}
    lines = [f"[2026-12-03 10:00:00,{i:03d}] INFO quiet-then-{i} (kafka.Test)" for i in range(8)]
    _append(logs / "server.log", lines[:2])
    sink = FakeSink()

    class Store:
        cluster = cloudwatch_only

        def ids(self, kind):
            return [self.cluster["ClusterArn"]]

        def list(self, kind, states=()):
            return [self.cluster]

    plane = FakePlane(tmp_path / "clusters")
    plane.store, plane.on_cluster_saved, plane.note_event = Store(), [], lambda cluster, message: None
    shipper = LogShipper(tmp_path / "ship.db", sink, Settings(interval=0.1))
    passes = []
    ship_once = shipper.ship_once
    shipper.ship_once = lambda *a: passes.append(1) or ship_once(*a)

    async def until(condition):
        for _ in range(1200):                 # 120 s: generous for a loaded machine
            if condition():
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"not reached: {sink.events} {len(passes)}")

    async def scenario():
        await shipper.start(plane)
        try:
            await until(lambda: sink.events.get("Broker-1") == lines[:2])
            before = len(passes)
            await asyncio.sleep(2.0)          # 20 intervals: a polling shipper would pass ~20 times
            quiet_passes = len(passes) - before
            _append(logs / "server.log", lines[2:4])
            await until(lambda: sink.events["Broker-1"] == lines[:4])
            os.rename(logs / "server.log", logs / "server.log.1")
            _append(logs / "server.log", lines[4:6])
            await until(lambda: sink.events["Broker-1"] == lines[:6])
            # A cluster saved (new settings, a new cluster) wakes a pass too.
            await asyncio.sleep(0.5)
            after_writes = len(passes)
            for listener in plane.on_cluster_saved:
                listener()
            await until(lambda: len(passes) > after_writes)
            return quiet_passes
        finally:
            await shipper.stop()
    quiet_passes = asyncio.run(scenario())
    assert quiet_passes <= 1, quiet_passes
    assert shipper.plane.on_cluster_saved == []               # stop() unhooks it


def test_buffer_is_bounded_and_says_so(tmp_path):
    logs = tmp_path / "clusters" / "u-1" / "broker-1" / "logs"
    logs.mkdir(parents=True)
    sink = FakeSink()
    sink.down = True
    shipper = _shipper(tmp_path, sink, spool_limit=2000)
    notes = []
    for i in range(5):
        _append(logs / "server.log", [f"line {i}-{j} " + "x" * 80 for j in range(10)])
        notes += shipper.ship_once([CLUSTER], now=time.time() + 10 * i)
    assert any("full" in m and "dropped" in m for _, m in notes)
    sink.down = False
    shipper.ship_once([CLUSTER], now=time.time() + 100)
    got = sink.events["Broker-1"]
    assert 0 < len(got) < 50 and got[-1].startswith("line 4-9")   # newest kept, oldest dropped


def test_delivery_reads_what_passes_committed_while_one_runs(tmp_path):
    """`openmsk status` asks delivery() on the event loop while a pass runs in a worker thread: it reads
    the last committed spool, not the pass's transaction in progress (it once shared the pass's
    connection, which saw those rows - and deadlocked once in a test)."""
    import threading
    logs = tmp_path / "clusters" / "u-1" / "broker-1" / "logs"
    logs.mkdir(parents=True)
    sink = FakeSink()
    sink.down = True                                       # rows stay in the spool
    shipper = _shipper(tmp_path, sink, s3_interval=3600.0)
    _append(logs / "server.log", ["one", "two"])
    shipper.ship_once([CLUSTER])
    committed = {d["Destination"]: d["BufferedBatches"] for d in shipper.delivery(CLUSTER["ClusterArn"])}
    assert committed and all(n >= 1 for n in committed.values()), committed

    in_pass, release, seen = threading.Event(), threading.Event(), {}

    def a_pass_in_its_transaction():
        with shipper._db:                                  # as _tail does: rows and position in one transaction
            shipper._db.execute("INSERT INTO spool(cluster_arn, broker, broker_id, dest, target, batch_key, created, "
                                "nbytes, lines) SELECT cluster_arn, broker, broker_id, dest, target, batch_key || '+', "
                                "created, nbytes, lines FROM spool")
            in_pass.set()
            release.wait(30)

    worker = threading.Thread(target=a_pass_in_its_transaction)
    worker.start()
    try:
        assert in_pass.wait(30)
        asker = threading.Thread(target=lambda: seen.update(
            {d["Destination"]: d["BufferedBatches"] for d in shipper.delivery(CLUSTER["ClusterArn"])}))
        asker.start()
        asker.join(30)
        assert not asker.is_alive(), "delivery() waited for the pass"
        assert seen == committed                           # not the doubled, uncommitted spool
    finally:
        release.set()
        worker.join(30)
    doubled = {d["Destination"]: d["BufferedBatches"] for d in shipper.delivery(CLUSTER["ClusterArn"])}
    assert doubled == {dest: 2 * n for dest, n in committed.items()}


def test_s3_key_layout():
    key = s3_key(CLUSTER, "", 2, 1_764_756_300.0, "k")
    assert key.startswith("AWSLogs/123456789012/KafkaBrokerLogs/us-east-1/c1-u-1/2025-12-03-10/Broker-2_10-05_")
    assert len(key.rsplit("_", 1)[1]) == len("12345678.log.gz")


# -- a second, independent S3-compatible server as the destination (moto's server) -------------------
def _moto(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("moto_server did not start")


def test_external_s3_compatible_destination(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    moto = _moto(port)
    try:
        other = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="k",
                             aws_secret_access_key="s")
        other.create_bucket(Bucket="archive-logs")
        (tmp_path / "log-destinations.json").write_text(json.dumps({"s3": {
            "endpoint_url": url, "access_key_id": "k", "secret_access_key": "s", "buckets": ["archive-logs"]}}))
        sink = EmbeddedDestinations(LogStore(tmp_path / "logs.db"), ObjectStore(tmp_path / "s3"), None,
                                    ExternalS3.from_data_dir(tmp_path))
        assert sink.exists("us-east-1", "s3", "archive-logs") and not sink.exists("us-east-1", "s3", "elsewhere")
        cluster = {**CLUSTER, "Spec": {"LoggingInfo": {"BrokerLogs": {"S3": {"Enabled": True, "Bucket": "archive-logs"}}}}}
        logs = tmp_path / "clusters" / "u-1" / "broker-1" / "logs"
        logs.mkdir(parents=True)
        shipper = LogShipper(tmp_path / "ship.db", sink, Settings(s3_interval=0.0))
        shipper.open(FakePlane(tmp_path / "clusters"))
        lines = [f"[2026-12-03 10:00:00,{i:03d}] INFO external {i} (kafka.Test)" for i in range(40)]
        _append(logs / "server.log", lines[:20])
        shipper.ship_once([cluster])

        def delivered():
            keys = [o["Key"] for o in other.list_objects_v2(Bucket="archive-logs").get("Contents", [])]
            assert all(k.startswith("AWSLogs/123456789012/KafkaBrokerLogs/us-east-1/c1-u-1/") for k in keys), keys
            return sorted(ln for k in keys for ln in gzip.decompress(
                other.get_object(Bucket="archive-logs", Key=k)["Body"].read()).decode().splitlines())

        assert delivered() == sorted(lines[:20])
        # The other server goes away: lines are buffered, the cluster is told; back (a fresh moto): caught up.
        moto.kill()
        moto.wait(30)
        _append(logs / "server.log", lines[20:])
        notes = shipper.ship_once([cluster])
        assert any("S3 bucket is failing" in m for _, m in notes), notes
        moto = _moto(port)
        other.create_bucket(Bucket="archive-logs")
        shipper._retry_at.clear()
        notes = shipper.ship_once([cluster])
        assert any("works again" in m for _, m in notes), notes
        assert delivered() == sorted(lines[20:])          # a fresh server holds what was buffered, once
    finally:
        moto.kill()
        moto.wait(30)


# -- one real cluster ------------------------------------------------------------------------------
def _file_lines(service, cluster_uuid: str, broker_id: int) -> list[str]:
    logs = service.data_dir / "clusters" / cluster_uuid / f"broker-{broker_id}" / "logs"
    rotated = sorted(logs.glob("server.log.*"), key=lambda p: -int(p.suffix[1:]))
    out = []
    for path in [*rotated, logs / "server.log"]:
        out += path.read_bytes().decode("utf-8", "replace").splitlines()
    return out


def _stream_lines(logs, group: str, stream: str) -> list[str]:
    out, token = [], None
    for _ in range(1000):
        kw = {"nextToken": token} if token else {}
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True, **kw)
        out += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            return out
        token = page["nextForwardToken"]
    raise AssertionError("GetLogEvents did not end")


def _shipped_exactly_once(shipped: list[str], before: list[str], after: list[str]) -> bool:
    """Every line the file held before the read was shipped, and nothing was shipped that the file did
    not hold after it, each exactly once (multisets). A live broker keeps logging (client handshakes,
    fetcher reconnects), so the file is read on both sides of reading what was shipped."""
    return Counter(before) <= Counter(shipped) <= Counter(after)


def _wait_shipped(service, logs, group, cluster_uuid, brokers, timeout=180):
    """(files before, shipped, files after) per broker once everything logged so far has arrived."""
    deadline = time.monotonic() + timeout
    while True:
        before = {b: _file_lines(service, cluster_uuid, b) for b in brokers}
        streams = {b: _stream_lines(logs, group, f"Broker-{b}") for b in brokers}
        after = {b: _file_lines(service, cluster_uuid, b) for b in brokers}
        if all(_shipped_exactly_once(streams[b], before[b], after[b]) for b in brokers) \
                or time.monotonic() > deadline:
            return before, streams, after
        time.sleep(1)


@pytest.fixture
def logging_service(private_service, monkeypatch):
    # S3 objects every 3 s instead of MSK's minutes, so the test sees several; restart with the setting.
    monkeypatch.setenv("OPENMSK_LOG_S3_INTERVAL", "3")
    private_service.kill(signal.SIGTERM)
    private_service.start()
    return private_service


def test_cluster_broker_logs_to_cloudwatch_and_s3(logging_service):
    service = logging_service
    logs, s3, kafka = service.client("logs"), service.client("s3"), service.client("kafka")
    group, bucket = f"/aws/msk/{uuid.uuid4().hex[:6]}", f"msk-logs-{uuid.uuid4().hex[:6]}"
    subnets = service.default_subnets(2)
    node_group = json.dumps({"InstanceType": "kafka.m5.large", "ClientSubnets": subnets})

    def create(logging: dict):
        return service.aws("kafka", "create-cluster", "--cluster-name", "logged", "--kafka-version", "3.9.x",
                           "--number-of-broker-nodes", "2", "--broker-node-group-info", node_group,
                           "--logging-info", json.dumps({"BrokerLogs": logging}))

    # MSK does not create destinations: each missing one is a BadRequestException, nothing is created.
    for logging, words in (({"CloudWatchLogs": {"Enabled": True}}, "must specify a CloudWatch log group"),
                           ({"CloudWatchLogs": {"Enabled": True, "LogGroup": group}}, f"log group {group} does not exist"),
                           ({"S3": {"Enabled": True, "Bucket": bucket}}, f"bucket {bucket} does not exist"),
                           ({"Firehose": {"Enabled": True, "DeliveryStream": "nope"}}, "delivery stream nope does not exist")):
        bad = create(logging)
        assert bad.returncode == 255 and "BadRequestException" in bad.stderr and words in bad.stderr, bad.stderr
    assert kafka.list_clusters_v2()["ClusterInfoList"] == []

    logs.create_log_group(logGroupName=group)
    s3.create_bucket(Bucket=bucket)
    created = create({"CloudWatchLogs": {"Enabled": True, "LogGroup": group},
                      "S3": {"Enabled": True, "Bucket": bucket, "Prefix": "broker-logs"}})
    assert created.returncode == 0, created.stderr
    arn = created.json["ClusterArn"]
    info = service.wait_state(arn, timeout=300)
    assert info["LoggingInfo"]["BrokerLogs"]["CloudWatchLogs"] == {"Enabled": True, "LogGroup": group}
    cluster_uuid = arn.rsplit("/", 1)[1]

    # The brokers' real start-up lines, through the CLI.
    deadline = time.monotonic() + 120
    while True:
        started = service.aws("logs", "filter-log-events", "--log-group-name", group, "--filter-pattern",
                              '"started (kafka.server.KafkaServer)"')
        assert started.returncode == 0, started.stderr
        if len(started.json["events"]) == 2 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert sorted(e["logStreamName"] for e in started.json["events"]) == ["Broker-1", "Broker-2"]
    got = service.aws("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "Broker-1",
                      "--start-from-head", "--limit", "50")
    assert any("KafkaConfig values" in e["message"] for e in got.json["events"])

    # A broker restart (healed by the control plane) under acks=all traffic, then a SIGKILL of the control plane.
    bootstrap = kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"]
    config = tls_config(bootstrap, service.ca_path)
    create_topic(config, "logged", partitions=2, replication=2)
    produce(config, "logged", [b"before-%d" % i for i in range(100)])
    node = json.loads((service.data_dir / "clusters" / cluster_uuid / "broker-2" / "node.json").read_text())
    os.killpg(node["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 480          # a loaded machine: a restart can take minutes (ZooKeeper session expiry)
    while True:
        restarted = service.aws("logs", "filter-log-events", "--log-group-name", group, "--log-stream-names",
                                "Broker-2", "--filter-pattern", '"started (kafka.server.KafkaServer)"')
        if len(restarted.json["events"]) == 2 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert len(restarted.json["events"]) == 2, "broker 2 did not start again"
    service.kill(signal.SIGKILL)
    time.sleep(2)
    service.start()
    service.wait_state(arn, timeout=300)
    produce(config, "logged", [b"after-%d" % i for i in range(100)])
    assert len(consume_all(config, "logged", 200)) == 200

    files, streams, files_after = _wait_shipped(service, logs, group, cluster_uuid, [1, 2])
    for b in (1, 2):
        assert len(files[b]) > 50
        # CloudWatch orders a stream by event timestamp; log4j's threads stamp lines a millisecond out of file
        # order now and then, so the comparison is as multisets: every line exactly once.
        assert _shipped_exactly_once(streams[b], files[b], files_after[b]), \
            f"Broker-{b}: {len(streams[b])} lines shipped, {len(files[b])}-{len(files_after[b])} in server.log"
    assert sum("started (kafka.server.KafkaServer)" in line for line in streams[2]) == 2

    # S3: MSK's keys, gzip objects holding the same lines (in key order per broker).
    prefix = f"broker-logs/AWSLogs/123456789012/KafkaBrokerLogs/{service.region}/logged-{cluster_uuid}/"
    deadline = time.monotonic() + 180
    while True:
        files = {b: _file_lines(service, cluster_uuid, b) for b in (1, 2)}
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                for o in page.get("Contents", [])]
        per_broker = {}
        for key in keys:
            assert key.startswith(prefix), key
            per_broker.setdefault(key.rsplit("/", 1)[1].split("_")[0], []).append(key)
        lines = {}
        for name, ks in per_broker.items():
            lines[name] = []
            for key in sorted(ks, key=lambda k: (k.split("/")[-2], k.rsplit("/", 1)[1].split("_")[1],
                                                 s3.head_object(Bucket=bucket, Key=k)["LastModified"])):
                lines[name] += gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).decode().splitlines()
        after = {b: _file_lines(service, cluster_uuid, b) for b in (1, 2)}
        if all(_shipped_exactly_once(lines.get(f"Broker-{b}", []), files[b], after[b]) for b in (1, 2)) \
                or time.monotonic() > deadline:
            break
        time.sleep(2)
    for b in (1, 2):
        assert _shipped_exactly_once(lines[f"Broker-{b}"], files[b], after[b]), \
            f"S3 Broker-{b}: {len(lines[f'Broker-{b}'])} lines, {len(files[b])}-{len(after[b])} in server.log"

    # Logging changed live: S3 off, UpdateMonitoring checks the destination it is given.
    current = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]
    bad = service.aws("kafka", "update-monitoring", "--cluster-arn", arn, "--current-version", current,
                      "--logging-info", json.dumps({"BrokerLogs": {"CloudWatchLogs": {"Enabled": True,
                                                                                      "LogGroup": "/missing"}}}))
    assert bad.returncode == 255 and "log group /missing does not exist" in bad.stderr

    # ... and Firehose added live: lines logged from then on reach the delivery stream's bucket.
    fh = service.client("firehose")
    s3.create_bucket(Bucket=f"{bucket}-fh")
    fh.create_delivery_stream(DeliveryStreamName="broker-logs", S3DestinationConfiguration={
        "RoleARN": "arn:aws:iam::123456789012:role/firehose", "BucketARN": f"arn:aws:s3:::{bucket}-fh",
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}})
    updated = service.aws("kafka", "update-monitoring", "--cluster-arn", arn, "--current-version", current,
                          "--logging-info", json.dumps({"BrokerLogs": {
                              "CloudWatchLogs": {"Enabled": True, "LogGroup": group},
                              "Firehose": {"Enabled": True, "DeliveryStream": "broker-logs"}}}))
    assert updated.returncode == 0, updated.stderr
    info = service.wait_state(arn, timeout=300)
    assert info["LoggingInfo"]["BrokerLogs"]["Firehose"] == {"Enabled": True, "DeliveryStream": "broker-logs"}
    create_topic(config, "after-update", partitions=2, replication=2)        # brokers log the new partitions
    deadline = time.monotonic() + 120
    while True:
        shipped = [ln for o in s3.list_objects_v2(Bucket=f"{bucket}-fh").get("Contents", [])
                   for ln in s3.get_object(Bucket=f"{bucket}-fh", Key=o["Key"])["Body"].read().decode().splitlines()]
        if any("after-update" in ln for ln in shipped) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert any("after-update" in ln for ln in shipped)
    every = set(_file_lines(service, cluster_uuid, 1)) | set(_file_lines(service, cluster_uuid, 2))
    assert set(shipped) <= every and not any("started (kafka.server.KafkaServer)" in ln for ln in shipped)

    # A destination that breaks is not silent: `openmsk status` names it, and says when it works again.
    def status() -> str:
        out = subprocess.run([str(BIN / "openmsk"), "status", "logged", "--data-dir", str(service.data_dir)],
                             capture_output=True, text=True, timeout=120)
        return out.stdout + out.stderr

    logs.delete_log_group(logGroupName=group)
    create_topic(config, "while-missing", partitions=2, replication=2)       # lines to deliver
    deadline = time.monotonic() + 120
    while "FAILING" not in (shown := status()) and time.monotonic() < deadline:
        time.sleep(2)
    assert "broker logs to the CloudWatch Logs log group: FAILING" in shown and group in shown, shown
    logs.create_log_group(logGroupName=group)
    deadline = time.monotonic() + 120
    while "FAILING" in (shown := status()) and time.monotonic() < deadline:
        time.sleep(2)
    assert "FAILING" not in shown, shown
    def delivered_after_outage() -> bool:
        try:
            return any("while-missing" in ln for b in (1, 2) for ln in _stream_lines(logs, group, f"Broker-{b}"))
        except logs.exceptions.ResourceNotFoundException:        # the new group's streams come with delivery
            return False
    deadline = time.monotonic() + 120
    while not delivered_after_outage() and time.monotonic() < deadline:
        time.sleep(2)
    assert delivered_after_outage(), "lines buffered during the outage were not delivered"
