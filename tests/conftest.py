"""Session fixtures: one shared service and one shared cluster (created with the real aws CLI) for
tests that leave them as they found them; tests that change a cluster make their own."""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import pytest

from harness import Service, free_port

# The suite's clusters live minutes, not months: brokers and controllers at C1 only (OPENMSK_JVM_PROFILE,
# runtime/jvm_flags.py) use 0.5-0.8x the CPU (bench/README.md "JVM profile"; no test here pushes TLS
# throughput, which C1 cuts 25x), and the Kafka command-line
# tools the tests run (each a JVM of a few seconds) get the same tier and the serial collector. Only
# the JIT tier and collector change, never what Kafka does; both can be overridden from outside.
os.environ.setdefault("OPENMSK_JVM_PROFILE", "light")
os.environ.setdefault("KAFKA_JVM_PERFORMANCE_OPTS",
                      "-server -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true")


@pytest.fixture(scope="session")
def service(tmp_path_factory):
    svc = Service(tmp_path_factory.mktemp("shared") / "data", free_port()).start()
    yield svc
    svc.stop_everything()


@pytest.fixture(scope="session")
def shared_cluster(service):
    """A 3-zone cluster with MSK's default encryption (TLS only), created via `aws kafka create-cluster`."""
    subnets = service.default_subnets(3)
    result = service.aws("kafka", "create-cluster", "--cluster-name", "shared", "--kafka-version", "3.9.x",
                         "--number-of-broker-nodes", "3", "--broker-node-group-info",
                         json.dumps({"InstanceType": "kafka.m5.large", "ClientSubnets": subnets}),
                         "--tags", "team=platform")
    assert result.returncode == 0, result.stderr
    created = result.json
    assert created["State"] == "CREATING"
    info = service.wait_state(created["ClusterArn"])
    return info


@pytest.fixture
def private_service(tmp_path):
    """A service of the test's own (for tests that kill or restart the control plane)."""
    svc = Service(tmp_path / "data", free_port()).start()
    yield svc
    svc.stop_everything()


# Longest files first (measured, most CPU- and wait-heavy at the top), so that with parallel workers
# (scripts/test: pytest-xdist --dist loadfile --no-loadscope-reorder, one file per worker at a time)
# the suite does not end on one of them. xdist's default reorders files by their number of tests,
# which would start these single-test files last.
SLOW_FIRST = (
    "test_scaling.py", "test_broker_changes.py", "test_cert_renewal.py", "test_kraft.py",
    "test_storage_autoscaling.py", "test_convergence.py", "test_console_browser.py", "test_upgrade.py",
    "test_default_alarms.py", "test_runbook.py", "test_restart.py", "test_resume_roll.py", "test_msk_iam.py",
    "test_public_access.py",
    "test_vpc_enforcement.py", "test_multi_vpc.py", "test_reliability.py", "test_cluster_lifecycle.py", "test_broker_logs.py",
)


@lru_cache(maxsize=None)
def uses_shared_cluster(path) -> bool:
    try:
        return "shared_cluster" in Path(path).read_text()
    except OSError:
        return False


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        if uses_shared_cluster(item.path):
            return -1               # the shared-cluster unit below: the longest, so it starts first
        name = item.path.name
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)
    items.sort(key=rank)                # stable: order within a file is kept


# --dist loadfile, with one change: every file that uses `shared_cluster` is ONE unit of work, run by
# one worker, so the session-scoped cluster is created once per run instead of once per worker that
# happens to get one of those files (each copy is six JVMs started and kept for the whole run). Every
# other file stays its own unit: a file never splits across workers, so its module fixtures are created
# once. (xdist's own --dist loadgroup cannot do this under pytest 9: it renames node ids through an
# attribute pytest 9 no longer reads.)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling
    root = Path(config.rootpath)

    class SharedClusterAsOneUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "shared_cluster" if uses_shared_cluster(root / path) else path
    return SharedClusterAsOneUnit(config, log)
