"""One class per data-plane process kind (after Kafka's system-test services): each builds the
`NodeSpec` its placement driver runs, knows how to tell it is ready, and how to explain a failure.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from . import cds, probes
from .jvm_flags import launch_env, startup_flags
from .distribution import KAFKA_JVM_PERFORMANCE_OPTS, KafkaDistribution
from .kafka_config import BrokerConfig, render_properties
from .log4j import ZOOKEEPER_LOG4J, broker_log4j
from .placement import NodeSpec
from .zookeeper_config import ZooKeeperConfig

# Heaps sized so two 3+3 clusters fit comfortably on a 2-core / 24 GiB machine (kafka-runtime.md §5).
BROKER_HEAP = ["-Xms256m", "-Xmx768m"]
# ZooKeeper -Xms16m: SerialGC sizes its young generation from the initial heap, and the eden an idle node
# allocates through ends up resident (21 MiB at -Xms64m); it grows when a node needs more.
ZOOKEEPER_HEAP = ["-Xms16m", "-Xmx256m"]
ZOOKEEPER_JVM_OPTS = ["-XX:+UseSerialGC", "-Djava.awt.headless=true", "-Dzookeeper.jmx.log4j.disable=true"]
COMMON_JVM_OPTS = ["-XX:+ExitOnOutOfMemoryError", "-XX:-UsePerfData"]

_ERROR_LINE = re.compile(r"^\[[^\]]+\] (ERROR|FATAL) ")


def _tail_errors(path: Path, limit: int = 5) -> list[str]:
    if not path.exists():
        return []
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 256 * 1024))
            lines = fh.read().decode(errors="replace").splitlines()
    except OSError:
        return []
    errors = []
    for i, line in enumerate(lines):
        if _ERROR_LINE.match(line):
            # The exception (with the useful message) follows on the next line, e.g.
            # "org.apache.kafka.common.config.ConfigException: Invalid value 0 for configuration ...".
            following = lines[i + 1] if i + 1 < len(lines) else ""
            if not _ERROR_LINE.match(following) and ("Exception" in following or "Error" in following):
                line = f"{line} -- {following.strip()}"
            errors.append(line)
    return errors[-limit:]


@dataclass
class ZooKeeperNode:
    cluster_dir: Path
    config: ZooKeeperConfig

    @property
    def name(self) -> str:
        return f"{self.cluster_dir.name}/zookeeper-{self.config.node_id}"

    @property
    def workdir(self) -> Path:
        return self.cluster_dir / f"zookeeper-{self.config.node_id}"

    def spec(self, dist: KafkaDistribution, extra_jvm_opts: list[str] | None = None,
             secret_files: dict[str, bytes] | None = None) -> NodeSpec:
        workdir = self.workdir
        self.config.data_dir = str(workdir / "data")
        files = {
            "zoo.cfg": render_properties(self.config.properties(), f"openmsk: ZooKeeper node {self.config.node_id}"),
            "log4j.properties": ZOOKEEPER_LOG4J,
            "data/myid": f"{self.config.node_id}\n",
        }
        command = dist.java_command(
            "org.apache.zookeeper.server.quorum.QuorumPeerMain", [str(workdir / "zoo.cfg")],
            heap=ZOOKEEPER_HEAP,
            jvm_opts=[*ZOOKEEPER_JVM_OPTS, *COMMON_JVM_OPTS, *startup_flags("zookeeper"), *(extra_jvm_opts or [])],
            log4j_config=workdir / "log4j.properties", logs_dir=workdir / "logs")
        return NodeSpec(self.name, "zookeeper", workdir, command, files, dict(secret_files or {}),
                        address=self.config.host, ports=(self.config.client_port, 2888, 3888),
                        launch_env={**launch_env(), **cds.launch_env(dist, "zookeeper", self.name)})

    async def mode(self) -> str | None:
        """'leader' / 'follower' / 'standalone', or None while the node does not serve."""
        return await probes.zk_mode(self.config.host, self.config.client_port)

    async def ready(self) -> bool:
        return await self.mode() in ("leader", "follower", "standalone")

    def failure_reason(self) -> list[str]:
        return _tail_errors(self.workdir / "logs" / "zookeeper.log")


@dataclass
class BrokerProcess:
    cluster_dir: Path
    config: BrokerConfig
    probe_port: int = 9092
    probe_ssl: object | None = None
    heap: tuple[str, ...] = tuple(BROKER_HEAP)     # by instance type (instance_types.py)

    @property
    def name(self) -> str:
        return f"{self.cluster_dir.name}/broker-{self.config.broker_id}"

    @property
    def workdir(self) -> Path:
        return self.cluster_dir / f"broker-{self.config.broker_id}"

    def spec(self, dist: KafkaDistribution, extra_jvm_opts: list[str] | None = None,
             secret_files: dict[str, bytes] | None = None, extra_files: dict[str, str] | None = None) -> NodeSpec:
        workdir = self.workdir
        self.config.log_dir = str(workdir / "data")
        log4j_name, log4j_text = broker_log4j(dist.log4j2)
        files = {
            "server.properties": render_properties(
                self.config.properties(), f"openmsk: broker {self.config.broker_id} ({self.config.rack})"),
            log4j_name: log4j_text,
            **(extra_files or {}),
        }
        command = dist.java_command(
            "kafka.Kafka", [str(workdir / "server.properties")],
            heap=list(self.heap),
            jvm_opts=[*KAFKA_JVM_PERFORMANCE_OPTS, *COMMON_JVM_OPTS, *startup_flags("broker"), *(extra_jvm_opts or [])],
            log4j_config=workdir / log4j_name, logs_dir=workdir / "logs")
        if self.config.kraft_cluster_id:
            from .kraft import format_files, format_wrapper
            files.update(format_files(dist))
            command = format_wrapper(self.config.kraft_cluster_id, workdir, workdir / "server.properties", dist, command)
        return NodeSpec(self.name, "broker", workdir, command, files, dict(secret_files or {}),
                        address=self.config.host, ports=tuple(l.port for l in self.config.listeners),
                        launch_env={**launch_env(), **cds.launch_env(dist, self.cds_kind, self.name)})

    @property
    def cds_kind(self) -> str:
        """Its class-data-sharing archive (runtime/cds.py): a KRaft broker loads other classes."""
        return "kraft-broker" if self.config.kraft_cluster_id else "broker"

    async def metadata(self, all_topics: bool = False) -> probes.ClusterMetadata | None:
        return await probes.try_kafka_metadata(self.config.host, self.probe_port, ssl_context=self.probe_ssl,
                                               all_topics=all_topics)

    async def ready(self) -> bool:
        meta = await self.metadata()
        return meta is not None and self.config.broker_id in meta.broker_ids

    def failure_reason(self) -> list[str]:
        return _tail_errors(self.workdir / "logs" / "server.log")
