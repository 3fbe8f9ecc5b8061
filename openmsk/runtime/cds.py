"""Application class-data sharing (AppCDS) archives for the broker, ZooKeeper and KRaft controller JVMs.

A JVM starting Kafka loads, parses and verifies ~6,000 classes (ZooKeeper ~2,000) before it serves;
on a 2-core laptop running six of them at once that is most of a cluster's start-up CPU. JDK 17's
dynamic CDS keeps those classes pre-parsed and pre-verified in a memory-mapped archive:
`-XX:ArchiveClassesAtExit=<file>` writes one when a JVM exits, `-XX:SharedArchiveFile=<file>` maps it
at start. The JVM checks the archive against its own build and the classpath (jar sizes and mtimes)
and silently starts without it when anything differs, so a stale archive only costs the speed-up.

Kinds: `broker` (ZooKeeper-mode brokers), `zookeeper`, and for KRaft clusters `kraft-broker` and
`controller`. A KRaft controller runs kafka.Kafka with exactly a broker's classpath (the same jars, the
plugin dir, the JMX exporter at its end), so any Kafka archive of that classpath maps; but the classes
differ by role (a ZooKeeper-mode broker never loads the Raft client, the quorum controller or the
metadata image), hence one archive per role. A kind without its archive maps the next one of
FALLBACK (a controller the KRaft broker's, then the ZooKeeper-mode broker's): fewer of its classes
come from the archive (79-86 % of a controller's; bench/README.md, "KRaft controllers and brokers with
archives of their own").

The archives are trained on real clusters (`openmsk cds build`, run by scripts/install): the nodes
named in TRAINING_NODES (`broker-1`, `zookeeper-1`, `controller-1001`) of a default ZooKeeper cluster
and a default KRaft cluster started with `OPENMSK_CDS_TRAINING_DIR` set dump their classes on their
graceful stop, so TLS listeners, SASL, the JMX exporter and ZooKeeper's Netty TLS are all in the
archive. They live in the machine-wide cache next to the jars, one per kind, Kafka version, JDK build
and classpath; never in git. The options reach the JVM through `JDK_JAVA_OPTIONS` in the node's launch
environment, outside its spec hash: an archive appearing or going rolls no node. `OPENMSK_CDS=0`
starts nodes without them (the benchmark's baseline).

Stale archives (`remove_stale`, run by `openmsk cds build` and `remove`): every checkout and openmsk
version on the machine shares the cache, and each names its own archives (its plugin directory is in
the classpath digest, older versions had no digest in the name), so an archive that is not this
installation's may well be another's, and nothing tells whose it is. It is deleted only when it has
not been used for STALE_AFTER_DAYS: its last use is the later of its mtime (written) and atime, which
the kernel sets when a JVM maps it (relatime: at most once a day) and which `jvm_options` also sets
(at most once a day) whenever it hands an archive to a node, so the rule holds on noatime mounts too.
This installation's current archives are never stale; only files named as archives of openmsk's kinds
(and the `.tmp` of an interrupted install) are ever looked at. Deleting one that was in use costs its
users the speed-up until their next `scripts/install`, nothing else (a running JVM keeps its mapping).
"""
from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

from .distribution import KafkaDistribution, cache_dir

KINDS = ("broker", "zookeeper", "kraft-broker", "controller")
TRAINING_DIR_ENV = "OPENMSK_CDS_TRAINING_DIR"
# The one node of each kind whose classes are archived during training (the others would only
# write the same archive again). `broker-1` is a ZooKeeper-mode broker or a KRaft one by its kind.
TRAINING_NODES = {"broker": "broker-1", "zookeeper": "zookeeper-1", "kraft-broker": "broker-1",
                  "controller": "controller-1001"}
# The archive a node maps when its own kind has none (all share one classpath; see the docstring).
FALLBACK = {"kraft-broker": ("broker",), "controller": ("kraft-broker", "broker")}
STALE_AFTER_DAYS = 14
_DAY = 86400.0
_ARCHIVE_NAME = re.compile(r"^(%s)-kafka-[^/]+-jdk-[0-9a-f]+(-cp-[0-9a-f]+)?\.(jsa|tmp)$"
                           % "|".join(re.escape(k) for k in sorted(KINDS, key=len, reverse=True)))


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


def mapped_archive(dist: KafkaDistribution, kind: str) -> Path | None:
    """The archive a node of `kind` maps: its own, else its FALLBACK's; None without any. The one handed
    out gets its atime set (at most once a day): that is its last use for `remove_stale`."""
    for candidate in (kind, *FALLBACK.get(kind, ())):
        path = archive_path(dist, candidate)
        try:
            st = path.stat()
        except OSError:
            continue
        now = time.time()
        if now - st.st_atime > _DAY:
            try:
                os.utime(path, (now, st.st_mtime))
            except OSError:             # another user's cache: the kernel's relatime still counts
                pass
        return path
    return None


def jvm_options(dist: KafkaDistribution, kind: str, node_name: str) -> list[str]:
    """The CDS options of one node's JVM: dump (training), map (an archive exists) or nothing."""
    if kind not in KINDS or not enabled():
        return []
    out = training_output(kind)
    if out is not None:
        if node_name.rsplit("/", 1)[-1] == TRAINING_NODES[kind]:
            return [f"-XX:ArchiveClassesAtExit={out}"]
        return []
    path = mapped_archive(dist, kind)
    # -Xlog:cds=off: an archive the JVM refuses (e.g. after a JDK upgrade) is not worth a warning
    # line in every node's stdout.log; the node simply starts without it.
    if path is None:
        return []
    return [f"-XX:SharedArchiveFile={path}", *MAP_AT_ARCHIVED_ADDRESS, "-Xlog:cds=off", "-Xlog:cds+dynamic=off"]


def launch_env(dist: KafkaDistribution, kind: str, node_name: str) -> dict[str, str]:
    """`JDK_JAVA_OPTIONS` carrying the node's CDS options: the `java` launcher prepends it to the
    command line, and a NodeSpec's launch environment is not part of its spec hash, so building,
    rebuilding or removing an archive never makes the control plane roll running nodes. (A KRaft node's
    `kafka-storage format` JVM, run by the same shell, inherits it: its classpath lacks the exporter jar,
    so the JVM refuses the archive silently; in training it writes one that the node's exit overwrites.)"""
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


def stale_archives(dist: KafkaDistribution, *, now: float | None = None,
                   days: float = STALE_AFTER_DAYS) -> list[Path]:
    """Archives (and interrupted installs' .tmp files) of openmsk's kinds in the cache that are not this
    installation's current ones and were last used (max of atime and mtime) more than `days` ago."""
    directory = cache_dir() / "cds"
    current = {archive_path(dist, kind) for kind in KINDS}
    cutoff = (time.time() if now is None else now) - days * _DAY
    out = []
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        if path in current or not _ARCHIVE_NAME.match(path.name):
            continue
        try:
            st = path.stat()
        except OSError:
            continue
        if max(st.st_atime, st.st_mtime) < cutoff:
            out.append(path)
    return out


def remove_stale(dist: KafkaDistribution, *, now: float | None = None) -> list[Path]:
    removed = []
    for path in stale_archives(dist, now=now):
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:           # another installation's cleanup got there first
            pass
    return removed
