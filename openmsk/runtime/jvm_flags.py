"""JVM options chosen for a short start-up of small nodes on a laptop (issue 15; measured with
bench/startup_levers.py and bench/jvm_profile.py, figures in bench/README.md).

Only options that change how fast a JVM gets going and what it costs, never what Kafka or ZooKeeper do:
* ZooKeeper: `-XX:TieredStopAtLevel=1` (C1 only). A ZooKeeper node of a 3-broker cluster handles a
  few requests a second; C2 compiling its start-up paths costs more CPU than it ever saves.
* Brokers and KRaft controllers: Kafka's own flags (KAFKA_JVM_PERFORMANCE_OPTS) stay as they are by
  default: the data path at full speed needs C2, and G1 keeps produce latencies flat. One addition:
  `-Dkeystore.pkcs12.keyPbeIterationCount=1`. Kafka turns a PEM keystore into an in-memory PKCS12
  KeyStore for every SSL channel builder (each listener, the controller's channel to each broker, the
  forwarding / alter-partition / transaction-marker channels...), and the JDK wraps the private key
  with PBKDF2 at 10,000 iterations to put it in, then unwraps it again for the KeyManagerFactory: in a
  JVM that has not compiled SHA-256 yet that is ~0.4 s of CPU per keystore (bench/README.md, issue 15).
  That store never leaves the process (the key comes from a 0600 PEM file, unencrypted, and nothing
  writes a keystore), so the iterations protect nothing; TLS, keys and certificates are unchanged.
  ZooKeeper builds its PEM keystores as JKS, which does not use PBKDF2.

In the `standard` profile brokers and controllers also compile with C2 later: the tier-4 thresholds
(invocations / loop back-edges before C1-profiled code is recompiled by C2) are 4x HotSpot's defaults.
At start-up a broker's C2 compiler threads used ~0.8-1.0 s of its ~2.5 s of CPU to ACTIVE, compiling code
that runs a few thousand times while the broker starts and rarely after (config parsing, class set-up,
TLS set-up); 4x later cut that to ~0.3 s. Code that stays hot (the data path, TLS record encryption)
still reaches C2, after 4x the calls: a few more seconds of a fresh broker's first traffic
(bench/README.md "C2 later").
`OPENMSK_JVM_PROFILE=light` (for CI and laptops running many short-lived clusters, and what the test
suite uses): brokers and controllers at C1 only too. A young broker spends most of its CPU in the C2
compiler; at C1 a 3+3 cluster reaches ACTIVE with ~0.8x the broker CPU, idles at ~0.7x and serves a
light load at ~0.5x, but TLS throughput falls 25x (the AES-GCM intrinsics are C2-only), so it is not
for load (bench/README.md "JVM profile"). Kafka's behaviour is the same: only the JIT tier changes.
`standard` (the default) or unset = Kafka's flags.
Environment (`launch_env`): `MALLOC_ARENA_MAX=2`. glibc gives threads their own malloc arena (up to
8 per core); a broker's ~90 threads ended up with 15 arenas holding ~25 MiB of mostly free native memory.
Two arenas are the usual setting for JVMs (the Java heap is not malloc'd; native allocations are few).
`OPENMSK_STARTUP_FLAGS=0` leaves all of these out (the benchmarks' by-hand baseline).
"""
from __future__ import annotations

import os

IN_MEMORY_KEYSTORE = "-Dkeystore.pkcs12.keyPbeIterationCount=1"
STARTUP_FLAGS: dict[str, list[str]] = {
    "zookeeper": ["-XX:TieredStopAtLevel=1"],
    "broker": [IN_MEMORY_KEYSTORE],
    "controller": [IN_MEMORY_KEYSTORE],
}

# HotSpot's defaults x4 (Tier4InvocationThreshold 5000, Tier4MinInvocationThreshold 600,
# Tier4CompileThreshold 15000, Tier4BackEdgeThreshold 40000).
C2_LATER = ["-XX:Tier4InvocationThreshold=20000", "-XX:Tier4MinInvocationThreshold=2400",
            "-XX:Tier4CompileThreshold=60000", "-XX:Tier4BackEdgeThreshold=160000"]

PROFILES: dict[str, dict[str, list[str]]] = {
    "standard": {"broker": C2_LATER, "controller": C2_LATER},
    "light": {"broker": ["-XX:TieredStopAtLevel=1"], "controller": ["-XX:TieredStopAtLevel=1"]},
}


class UnknownProfile(ValueError):
    pass


def jvm_profile() -> str:
    """The profile named by `OPENMSK_JVM_PROFILE` (unset or empty = standard)."""
    name = os.environ.get("OPENMSK_JVM_PROFILE", "").strip().lower() or "standard"
    if name not in PROFILES:
        raise UnknownProfile(f"OPENMSK_JVM_PROFILE={name!r}: expected one of {', '.join(PROFILES)}")
    return name


LAUNCH_ENV = {"MALLOC_ARENA_MAX": "2"}


def launch_env() -> dict[str, str]:
    """Environment of every node JVM (outside its spec hash, as the CDS options: no roll when it changes)."""
    return {} if os.environ.get("OPENMSK_STARTUP_FLAGS", "1") == "0" else dict(LAUNCH_ENV)


def startup_flags(kind: str) -> list[str]:
    if os.environ.get("OPENMSK_STARTUP_FLAGS", "1") == "0":
        return []
    flags = list(STARTUP_FLAGS.get(kind, []))
    flags += [f for f in PROFILES[jvm_profile()].get(kind, []) if f not in flags]
    return flags
