"""The default VPC's /16 is claimed machine-wide (control/vpc_runtime.py), so parallel installations
(pytest-xdist workers, each its own service) never share one; a claim outlives its service while its
data directory exists. When every candidate is claimed (a test suite leaves dozens of data directories
behind) the oldest claim of an installation that is down is taken over instead of failing; one whose
installation is up (namespaces or host interface present) never is. No service, no kernel objects."""
from __future__ import annotations

import os
import shutil

import pytest

from openmsk.control import vpc_runtime
from openmsk.control.vpc_runtime import VpcRuntime
from openmsk.runtime import netns

pytestmark = pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 is not installed")

CANDIDATES = ["10.201.0.0/16", "10.202.0.0/16"]


def installation(tmp_path, name: str) -> VpcRuntime:
    data = tmp_path / name
    data.mkdir()
    (data / "openmsk.db").write_bytes(b"")          # what makes a claim live: the data directory's store
    runtime = object.__new__(VpcRuntime)             # only the CIDR choice: no store, no network
    runtime.data_dir, runtime.enabled, runtime.names = data.resolve(), True, netns.Names.for_data_dir(str(data))
    return runtime


@pytest.fixture(autouse=True)
def own_claims(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENMSK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(vpc_runtime, "CANDIDATE_CIDRS", CANDIDATES)
    if any(netns.host_conflict(c) for c in CANDIDATES):
        pytest.skip("this host routes the test's candidate blocks")


def test_parallel_installations_get_their_own_block_and_keep_it(tmp_path):
    a, b = installation(tmp_path, "a"), installation(tmp_path, "b")
    assert a.choose_default_cidr("us-east-1") == CANDIDATES[0]
    assert b.choose_default_cidr("us-east-1") == CANDIDATES[1]
    assert a.choose_default_cidr("us-east-1") == CANDIDATES[0]     # its own claim again (a restart)


def test_all_claimed_the_oldest_claim_of_a_stopped_installation_is_taken_over(tmp_path, monkeypatch):
    a, b, c = (installation(tmp_path, n) for n in "abc")
    a.choose_default_cidr("us-east-1"), b.choose_default_cidr("us-east-1")
    os.utime(vpc_runtime._claim_path(CANDIDATES[1]), (1, 1))          # b's claim is the older one
    assert c.choose_default_cidr("us-east-1") == CANDIDATES[1]
    assert vpc_runtime._claim_owner(CANDIDATES[1]) == str(c.data_dir)
    monkeypatch.setattr(vpc_runtime, "_owner_is_up", lambda data_dir: True)   # every owner running
    with pytest.raises(RuntimeError, match="no free /16"):
        installation(tmp_path, "d").choose_default_cidr("us-east-1")
