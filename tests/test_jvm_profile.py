"""OPENMSK_JVM_PROFILE (runtime/jvm_flags.py): `light` puts brokers and KRaft controllers at C1 only
(what this suite runs with, tests/conftest.py), `standard` keeps Kafka's own flags, anything else is
refused by `openmsk serve` before it starts anything."""
from __future__ import annotations

import subprocess

from harness import OPENMSK, free_port
from openmsk.runtime import jvm_flags

C1 = "-XX:TieredStopAtLevel=1"


def test_profiles_choose_the_jit_tier(monkeypatch):
    monkeypatch.setenv("OPENMSK_JVM_PROFILE", "standard")
    assert C1 not in jvm_flags.startup_flags("broker") and C1 not in jvm_flags.startup_flags("controller")
    assert C1 in jvm_flags.startup_flags("zookeeper")          # ZooKeeper is at C1 in every profile
    for kind in ("broker", "controller"):      # C2 later: 4x HotSpot's tier-4 thresholds
        assert set(jvm_flags.C2_LATER) <= set(jvm_flags.startup_flags(kind))
        assert "-XX:Tier4InvocationThreshold=20000" in jvm_flags.startup_flags(kind)
    assert not set(jvm_flags.C2_LATER) & set(jvm_flags.startup_flags("zookeeper"))
    monkeypatch.delenv("OPENMSK_JVM_PROFILE")
    assert jvm_flags.jvm_profile() == "standard"
    monkeypatch.setenv("OPENMSK_JVM_PROFILE", " Light ")
    for kind in ("broker", "controller"):      # the in-memory keystore flag is in every profile
        assert jvm_flags.startup_flags(kind) == [jvm_flags.IN_MEMORY_KEYSTORE, C1]
    assert jvm_flags.startup_flags("zookeeper") == [C1]         # not twice
    assert jvm_flags.launch_env() == {"MALLOC_ARENA_MAX": "2"}
    monkeypatch.setenv("OPENMSK_STARTUP_FLAGS", "0")            # the benchmarks' by-hand baseline
    assert jvm_flags.startup_flags("broker") == []
    assert jvm_flags.launch_env() == {}


def test_serve_refuses_an_unknown_profile(tmp_path):
    result = subprocess.run([OPENMSK, "serve", "--data-dir", str(tmp_path / "data"), "--port", str(free_port())],
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OPENMSK_JVM_PROFILE": "turbo"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "OPENMSK_JVM_PROFILE='turbo'" in result.stderr and "standard, light" in result.stderr
    assert not (tmp_path / "data").exists()                     # refused before it touched anything


def test_the_shared_clusters_brokers_run_the_light_profile(service, shared_cluster):
    pids = service.broker_pids(shared_cluster["ClusterArn"])
    assert len(pids) == 3
    for pid in pids:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().split(b"\0")
        assert b"kafka.Kafka" in argv and C1.encode() in argv, argv
        # TLS brokers (the shared cluster serves the suite over TLS) with the cheap in-memory keystore.
        assert jvm_flags.IN_MEMORY_KEYSTORE.encode() in argv, argv
