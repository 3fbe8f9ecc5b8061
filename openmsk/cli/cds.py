"""`openmsk cds build|status|remove`: the class-data-sharing archives nodes start with (runtime/cds.py).

`build` trains them on real default clusters: a throw-away `openmsk serve` in a temporary data directory
creates a 3-broker ZooKeeper cluster and a 3-broker KRaft cluster of the pinned Kafka release at once
through the API, waits for both to be ACTIVE, stops the service and then the nodes (broker-1,
zookeeper-1 and controller-1001 write their archives as they exit) and moves the archives into the
machine-wide cache. scripts/install runs it on every install; it is skipped while current archives exist.
`build` and `remove` also delete stale archives (runtime/cds.py remove_stale: not used for 14 days and
not this installation's); `remove` deletes this installation's current ones as well.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .. import config
from ..runtime import cds
from ..runtime.distribution import KafkaDistribution
from ..runtime.versions import LINES
from .common import EXIT_FAILED, EXIT_OK, Api, CliError, say
from .wait import wait as wait_state

BUILD_TIMEOUT = 600.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(endpoint + "/_openmsk/health", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def _stop_nodes(data_dir: Path, kind: str, timeout: float) -> None:
    pids = []
    for record in data_dir.glob(f"clusters/*/{kind}-*/node.json"):
        try:
            pid = json.loads(record.read_text())["pid"]
            os.killpg(pid, signal.SIGTERM)
            pids.append(pid)
        except (OSError, ValueError, KeyError):
            pass
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        time.sleep(0.2)
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)         # not our child (the service started it): ECHILD
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def training_clusters(dist: KafkaDistribution) -> dict[str, tuple[str, ...]]:
    """MSK version -> the archive kinds its training cluster writes: the first ZooKeeper line and the
    first KRaft line that run the pinned release (a release has one or both)."""
    out = {}
    for kraft, kinds in ((False, ("broker", "zookeeper")), (True, ("kraft-broker", "controller"))):
        line = next((l for l in LINES if l.kafka == dist.version and l.kraft == kraft), None)
        if line is not None:
            out[line.msk_version] = kinds
    return out


def build(dist: KafkaDistribution, *, quiet: bool = False) -> dict[str, Path]:
    work = Path(tempfile.mkdtemp(prefix="openmsk-cds-"))
    data_dir, trained = work / "data", work / "archives"
    trained.mkdir()
    port = _free_port()
    env = {**os.environ, cds.TRAINING_DIR_ENV: str(trained), "OPENMSK_CDS": "1"}
    log = open(work / "serve.log", "ab")
    serve = subprocess.Popen([sys.executable, "-m", "openmsk", "serve", "--data-dir", str(data_dir),
                              "--port", str(port), "--stop-data-plane-on-exit"],
                             stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    log.close()
    endpoint = f"http://127.0.0.1:{port}"
    clusters = training_clusters(dist)
    try:
        deadline = time.monotonic() + 60
        while not _healthy(endpoint):
            if serve.poll() is not None or time.monotonic() > deadline:
                raise CliError(f"training service did not start: {(work / 'serve.log').read_text()[-1500:]}")
            time.sleep(0.2)
        api = Api(data_dir, endpoint, config.DEFAULT_REGION)
        kafka, ec2 = api.client("kafka"), api.client("ec2")
        subnets = sorted((s for s in ec2.describe_subnets()["Subnets"] if s.get("DefaultForAz")),
                         key=lambda s: s["AvailabilityZone"])[:3]
        # Both at once: on 2 cores the second cluster's JVMs use the CPU the first one's wait for.
        arns = [kafka.create_cluster(ClusterName=f"cds-training-{i}", KafkaVersion=version, NumberOfBrokerNodes=3,
                                     BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                          "ClientSubnets": [s["SubnetId"] for s in subnets]}
                                     )["ClusterArn"] for i, version in enumerate(clusters)]
        for arn in arns:
            wait_state(kafka, arn, "ACTIVE", BUILD_TIMEOUT, 1.0, quiet, api)
    finally:
        # The service goes first (it would heal the nodes stopped below); the nodes stop with all the
        # time they need: writing an archive at exit takes seconds of CPU, more than a delete's grace.
        if serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
            try:
                serve.wait(120)
            except subprocess.TimeoutExpired:
                serve.kill()
        # brokers first: their shutdown talks to ZooKeeper / the controllers
        for kind in ("broker", "zookeeper", "controller"):
            _stop_nodes(data_dir, kind, BUILD_TIMEOUT)
    out, missing = {}, []
    for kind in (k for kinds in clusters.values() for k in kinds):
        archive = trained / f"{kind}.jsa"
        if not archive.exists() or archive.stat().st_size == 0:
            missing.append(kind)
            continue
        out[kind] = cds.install_archive(dist, kind, archive)
    if missing:
        raise CliError(f"no {', '.join(missing)} archive was written (see {work / 'serve.log'})")
    shutil.rmtree(work, ignore_errors=True)
    return out


def _remove_stale(dist: KafkaDistribution) -> None:
    for path in cds.remove_stale(dist):
        say(f"cds: removed {path} (not this installation's, unused for {cds.STALE_AFTER_DAYS} days)")


def cmd_cds(args) -> int:
    dist = KafkaDistribution.locate()
    current = cds.status(dist)
    trained = [k for kinds in training_clusters(dist).values() for k in kinds]
    if args.action == "status":
        for kind, path in current.items():
            fallback = cds.mapped_archive(dist, kind) if path is None and cds.FALLBACK.get(kind) else None
            say(f"{kind:<12} {path or (f'none (maps {fallback.name})' if fallback else 'none (nodes start without class-data sharing)')}")
        return EXIT_OK if all(current[k] for k in trained) else EXIT_FAILED
    if args.action == "remove":
        for path in current.values():
            if path:
                path.unlink()
        _remove_stale(dist)
        return EXIT_OK
    _remove_stale(dist)
    if all(current[k] for k in trained) and not args.force:
        say("cds: archives are current (use --force to rebuild)")
        return EXIT_OK
    started = time.monotonic()
    for kind, path in build(dist, quiet=args.quiet).items():
        say(f"cds: {kind} archive {path} ({path.stat().st_size // (1024 * 1024)} MiB)")
    say(f"cds: built in {time.monotonic() - started:.0f}s")
    return EXIT_OK


def register(add) -> None:
    p = add("cds", cmd_cds, "build or show the class-data-sharing archives nodes start with (faster start-up)")
    p.add_argument("action", choices=("build", "status", "remove"))
    p.add_argument("--force", action="store_true", help="build even if current archives exist")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
