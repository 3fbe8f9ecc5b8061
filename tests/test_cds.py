"""Class-data-sharing archives in the machine-wide cache (runtime/cds.py): which one a node of each kind
maps (its own, else its fallback), and the stale-archive cleanup of `openmsk cds build|remove`, which
must never take an archive another checkout sharing the cache still uses. No cluster: a cache of its own
(OPENMSK_CACHE) with archive files aged through their atime/mtime; the real `openmsk` CLI does the cleanup.
(That KRaft controllers and brokers map their archives: tests/test_kraft.py; brokers: test_classpath_agent.py.)"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from openmsk.runtime import cds
from openmsk.runtime.distribution import KafkaDistribution, pinned_kafka_version

DAY = 86400


@pytest.fixture
def cache(tmp_path, monkeypatch) -> KafkaDistribution:
    """A cache with a (fake) pinned jar set, so `KafkaDistribution.locate()` and the CLI work on it."""
    monkeypatch.setenv("OPENMSK_CACHE", str(tmp_path))
    monkeypatch.delenv(cds.TRAINING_DIR_ENV, raising=False)
    monkeypatch.delenv("OPENMSK_CDS", raising=False)
    version = pinned_kafka_version()
    lib = tmp_path / "lib" / f"kafka-{version}"
    lib.mkdir(parents=True)
    (lib / f"kafka_2.13-{version}.jar").write_bytes(b"")
    (tmp_path / "cds").mkdir()
    return KafkaDistribution.locate()


def archive(path: Path, *, used_days_ago: float, written_days_ago: float | None = None) -> Path:
    path.write_bytes(b"archive")
    now = time.time()
    written = used_days_ago if written_days_ago is None else written_days_ago
    os.utime(path, (now - used_days_ago * DAY, now - written * DAY))
    return path


def test_a_kind_without_its_archive_maps_its_fallback_and_stamps_its_use(cache):
    broker = archive(cds.archive_path(cache, "broker"), used_days_ago=30)
    assert cds.jvm_options(cache, "controller", "c/controller-1001")[0] == f"-XX:SharedArchiveFile={broker}"
    assert cds.mapped_archive(cache, "kraft-broker") == broker
    # handed to a node = used now (also where the kernel would not update atime: noatime mounts)
    assert time.time() - broker.stat().st_atime < 60
    assert time.time() - broker.stat().st_mtime > 29 * DAY
    controller = archive(cds.archive_path(cache, "controller"), used_days_ago=0)
    assert cds.mapped_archive(cache, "controller") == controller
    assert cds.mapped_archive(cache, "zookeeper") is None            # no fallback for ZooKeeper
    assert cds.jvm_options(cache, "zookeeper", "c/zookeeper-1") == []


def test_training_dumps_only_the_training_node_of_each_kind(cache, monkeypatch, tmp_path):
    monkeypatch.setenv(cds.TRAINING_DIR_ENV, str(tmp_path / "trained"))
    assert cds.jvm_options(cache, "controller", "c/controller-1001") == [
        f"-XX:ArchiveClassesAtExit={tmp_path / 'trained' / 'controller.jsa'}"]
    assert cds.jvm_options(cache, "kraft-broker", "k/broker-1") == [
        f"-XX:ArchiveClassesAtExit={tmp_path / 'trained' / 'kraft-broker.jsa'}"]
    assert cds.jvm_options(cache, "controller", "c/controller-1002") == []


def test_cds_remove_deletes_ours_and_only_archives_unused_for_two_weeks(cache):
    directory = cache.lib_dir.parents[1] / "cds"
    current = {kind: archive(cds.archive_path(cache, kind), used_days_ago=40) for kind in ("broker", "controller")}
    tag = cds.jdk_tag()
    old = {
        # another checkout's (another plugin digest), nobody mapped it for a month
        "unused": archive(directory / f"broker-kafka-3.9.1-jdk-{tag}-cp-0badc0de.jsa", used_days_ago=30),
        # openmsk before the classpath digest was in the name
        "undigested": archive(directory / f"zookeeper-kafka-3.9.1-jdk-{tag}.jsa", used_days_ago=20),
        # an install interrupted while it copied an archive in
        "tmp": archive(directory / f"kraft-broker-kafka-3.9.1-jdk-{tag}-cp-0badc0de.tmp", used_days_ago=15),
    }
    kept = {
        # another checkout's, written a month ago but mapped by a JVM yesterday (atime)
        "mapped": archive(directory / f"controller-kafka-4.1.2-jdk-{tag}-cp-12345678.jsa", used_days_ago=1,
                          written_days_ago=30),
        # another checkout's, written last week
        "young": archive(directory / f"broker-kafka-3.8.1-jdk-{tag}-cp-87654321.jsa", used_days_ago=7),
        # not openmsk's naming: never touched
        "foreign": archive(directory / "notes.jsa", used_days_ago=400),
        "other-kind": archive(directory / f"schema-registry-kafka-3.9.1-jdk-{tag}.jsa", used_days_ago=400),
    }
    assert sorted(cds.stale_archives(cache)) == sorted(old.values())
    env = {**os.environ, "OPENMSK_CACHE": os.environ["OPENMSK_CACHE"]}
    run = subprocess.run([sys.executable, "-m", "openmsk", "cds", "remove"], capture_output=True, text=True,
                         timeout=120, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    for path in [*current.values(), *old.values()]:
        assert not path.exists(), path
    for path in kept.values():
        assert path.exists(), path
    assert f"removed {old['unused']}" in run.stdout + run.stderr
    status = subprocess.run([sys.executable, "-m", "openmsk", "cds", "status"], capture_output=True, text=True,
                            timeout=120, env=env)
    assert status.returncode != 0 and "nodes start without class-data sharing" in status.stdout + status.stderr
