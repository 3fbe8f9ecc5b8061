"""Session fixtures: one shared service and one shared cluster (created with the real aws CLI) for
tests that leave them as they found them; tests that change a cluster make their own."""
from __future__ import annotations

import json

import pytest

from harness import Service, free_port


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
    "test_default_alarms.py", "test_runbook.py", "test_restart.py", "test_msk_iam.py", "test_public_access.py",
    "test_vpc_enforcement.py", "test_reliability.py", "test_cluster_lifecycle.py", "test_broker_logs.py",
)


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        name = item.path.name
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)
    items.sort(key=rank)                # stable: order within a file is kept
