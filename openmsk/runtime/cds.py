"""Application class-data sharing (AppCDS) archives for the broker and ZooKeeper JVMs.

A JVM starting Kafka loads, parses and verifies ~6,000 classes (ZooKeeper ~2,000) before it serves;
on a 2-core laptop running six of them at once that is most of a cluster's start-up CPU. JDK 17's
dynamic CDS keeps those classes pre-parsed and pre-verified in a memory-mapped archive:
`-XX:ArchiveClassesAtExit=<file>` writes one when a JVM exits, `-XX:SharedArchiveFile=<file>` maps it
at start. The JVM checks the archive against its own build and the classpath (jar sizes and mtimes)
and silently starts without it when anything differs, so a stale archive only costs the speed-up.

The archives are trained on a real cluster (`openmsk cds build`, run by scripts/install): the nodes
named `broker-1` / `zookeeper-1` of a default cluster started with `OPENMSK_CDS_TRAINING_DIR` set dump
their classes on their graceful stop, so TLS listeners, SASL, the JMX exporter and ZooKeeper's Netty TLS
are all in the archive. They live in the machine-wide cache next to the jars, one per kind, Kafka version,
JDK build and classpath; never in git. The options reach the JVM through `JDK_JAVA_OPTIONS` in the node's launch
environment, outside its spec hash: an archive appearing or going rolls no node. `OPENMSK_CDS=0`
starts nodes without them (the benchmark's baseline).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .distribution import KafkaDistribution, cache_dir

KINDS = ("broker", "zookeeper")
TRAINING_DIR_ENV = "OPENMSK_CDS_TRAINING_DIR"
# The one node of each kind whose classes are archived during training (the others would only
# write the same archive again).
TRAINING_NODES = {"broker": "broker-1", "zookeeper": "zookeeper-1"}


# Map the archives where they were written instead of at a random address. This JDK build (17.0.15,
# as JDK 20+) defaults to ArchiveRelocationMode=1, and relocating rewrites every pointer of the mapped
# archive: its ~40 MiB (broker) / ~15 MiB (ZooKeeper) become private dirty pages in each JVM. Mapped
# at the archived address the pages stay clean and are shared between the nodes (page cache): ~50 MiB
# less PSS per broker (bench/README.md, issue 15). The cost is that the class metadata's address is
# not randomized (mode 0 is JDK 17's upstream default); the JVM relocates anyway if the address is taken.
MAP_AT_ARCHIVED_ADDRESS = ["-XX:+UnlockDiagnosticVMOptions", "-XX:ArchiveRelocationMode=0"]


def enabled() -> bool:
    return os.environ.get("OPENMSK_CDS", "1") != "0"


def jdk_tag(java: str | None = None) -> str:
    """A short tag of the JDK build `java` belongs to (an archive only fits the build that wrote it)."""
    binary = Path(os.path.realpath(java or KafkaDistribution.java()))
    home = binary.parent.parent
    release = home / "release"
    ident = release.read_bytes() if release.exists() else str(home).encode()
    return hashlib.sha256(bytes(str(home), "utf-8") + b"\0" + ident).hexdigest()[:12]


def archive_path(dist: KafkaDistribution, kind: str) -> Path:
    """One archive per kind, Kafka version, JDK build and classpath: the classpath names this checkout's
    plugin directory (one per plugin source content, distribution.msk_iam_plugin_dir), and the JVM refuses an
    archive written with another one; checkouts sharing the cache then keep one archive each, and a changed
    plugin gets a new archive from scripts/install instead of silently starting without one."""
    classpath = hashlib.sha256(dist.classpath.encode()).hexdigest()[:8]
    return cache_dir() / "cds" / f"{kind}-kafka-{dist.version}-jdk-{jdk_tag()}-cp-{classpath}.jsa"


def training_output(kind: str) -> Path | None:
    directory = os.environ.get(TRAINING_DIR_ENV)
    return Path(directory) / f"{kind}.jsa" if directory else None


def jvm_options(dist: KafkaDistribution, kind: str, node_name: str) -> list[str]:
    """The CDS options of one node's JVM: dump (training), map (an archive exists) or nothing."""
    if kind not in KINDS or not enabled():
        return []
    out = training_output(kind)
    if out is not None:
        if node_name.rsplit("/", 1)[-1] == TRAINING_NODES[kind]:
            return [f"-XX:ArchiveClassesAtExit={out}"]
        return []
    path = archive_path(dist, kind)
    # -Xlog:cds=off: an archive the JVM refuses (e.g. after a JDK upgrade) is not worth a warning
    # line in every node's stdout.log; the node simply starts without it.
    if not path.exists():
        return []
    return [f"-XX:SharedArchiveFile={path}", *MAP_AT_ARCHIVED_ADDRESS, "-Xlog:cds=off", "-Xlog:cds+dynamic=off"]


def launch_env(dist: KafkaDistribution, kind: str, node_name: str) -> dict[str, str]:
    """`JDK_JAVA_OPTIONS` carrying the node's CDS options: the `java` launcher prepends it to the
    command line, and a NodeSpec's launch environment is not part of its spec hash, so building,
    rebuilding or removing an archive never makes the control plane roll running nodes."""
    opts = jvm_options(dist, kind, node_name)
    if not opts:
        return {}
    inherited = os.environ.get("JDK_JAVA_OPTIONS", "")
    quoted = [f'"{o}"' if any(c.isspace() for c in o) else o for o in opts]
    return {"JDK_JAVA_OPTIONS": " ".join([inherited, *quoted]).strip()}


def install_archive(dist: KafkaDistribution, kind: str, trained: Path) -> Path:
    """Move a trained archive into the cache under the name nodes look for (atomically)."""
    target = archive_path(dist, kind)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(trained.read_bytes())
    os.replace(tmp, target)
    return target


def status(dist: KafkaDistribution) -> dict[str, Path | None]:
    return {kind: (p if (p := archive_path(dist, kind)).exists() else None) for kind in KINDS}
