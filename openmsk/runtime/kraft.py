"""KRaft mode: the controller process kind, the quorum settings brokers and controllers share, and the
storage formatting every KRaft node needs before its first start.

A KRaft cluster (MSK's `.kraft` versions) runs three controllers (process.roles=controller, one per
zone) and broker-only brokers (process.roles=broker). Controllers listen on CONTROLLER (TLS, mutual:
brokers and controllers present installation-CA certificates). Before a node's first start its log
directory is formatted with Kafka's own `kafka-storage format` (kafka.tools.StorageTool) with the
cluster's id; the format runs inside the node's command (`sh -c 'format || exit; exec java ...'`), so
a placement driver needs no extra hook (a Kubernetes driver would make it an init container), and an
already formatted directory is left alone.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from . import cds
from .distribution import KAFKA_JVM_PERFORMANCE_OPTS, KafkaDistribution
from .jvm_flags import launch_env, startup_flags
from .kafka_config import MSK_DEFAULTS, render_properties
from .log4j import broker_log4j
from .placement import NodeSpec

CONTROLLER_LISTENER = "CONTROLLER"
CONTROLLER_PORT = 9097
CONTROLLER_ID_BASE = 1000          # controller n (1..3) is node 1000+n; broker ids stay 1..N
CONTROLLER_HEAP = ["-Xms128m", "-Xmx384m"]
FORMAT_HEAP = ["-Xmx128m"]
_COMMON_JVM_OPTS = ["-XX:+ExitOnOutOfMemoryError", "-XX:-UsePerfData"]
_TRANSITION = re.compile(r"Completed transition to (\w+)")
# The first line every start of a Kafka node logs: state transitions before the last one belong to an
# earlier run of the process and say nothing about this one.
_START_MARKERS = ("Registered kafka:type=kafka.Log4jController MBean", "Registered `kafka:type=kafka.Log4jController` MBean",
                  "Starting controller")
# Logged (3.x and 4.x alike) once KafkaRaftServer's start-up has completed: ControllerServer.startup
# returns only after the metadata publishers are installed, i.e. after the node's metadata loader has
# caught up with the quorum's high watermark.
_STARTED = "Kafka Server started"
# The metadata loader's first publish of this run: it has read the log up to the high watermark.
_CAUGHT_UP = "InitializeNewPublishers: initializing"
# ControllerRegistrationManager (3.7+, KIP-919) has seen this run's registration in the metadata log.
# Required too: a controller restarted while its registration RPC is in flight (the roller moving on to
# the leader) can be left never registered — its timeout handler keeps the request marked pending
# (seen in 3.9.1 and 4.1.2) — and `kafka-features upgrade --metadata` then fails with "controller N has
# not registered".
_REGISTERED = "Our registration has been persisted to the metadata log"
# ...and why a controller can stay unregistered: when the channel manager times the registration RPC
# out before sending it (a loaded host, or the active controller restarting meanwhile), the timeout
# handler of ControllerRegistrationManager (Scala, 3.7 to 4.1) schedules a resend but leaves its
# pending-RPC flag set, so every resend only logs "waiting for the previous RPC to complete" and the
# controller never registers until its process restarts. Seen at creation (two or all three
# controllers of a fresh cluster at load ~100) and after a roll's restart.
_REGISTRATION_TIMED_OUT = "RegistrationResponseHandler: channel manager timed out before sending the request"
# A release whose handler does resend (Kafka's Java rewrite clears the flag) gets this long to register
# after the timeout before its controller counts as stuck.
REGISTRATION_STUCK_AFTER = 60.0
_LOG_TIME = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+\]")


@dataclass(frozen=True)
class KRaftQuorum:
    """What every node of one KRaft cluster agrees on."""

    cluster_id: str                              # 22-character base64 UUID (kafka-storage random-uuid form)
    voters: tuple[tuple[int, str], ...]          # (node id, address) of each controller

    @property
    def voters_string(self) -> str:
        return ",".join(f"{node_id}@{host}:{CONTROLLER_PORT}" for node_id, host in self.voters)

    def common_properties(self) -> dict[str, str]:
        return {"controller.quorum.voters": self.voters_string,
                "controller.listener.names": CONTROLLER_LISTENER}


def tls_properties(keystore: str, truststore: str) -> dict[str, str]:
    """The CONTROLLER listener's TLS, on controllers (server side) and brokers (client side) alike."""
    prefix = "listener.name.controller."
    return {
        f"{prefix}ssl.keystore.type": "PEM", f"{prefix}ssl.keystore.location": keystore,
        f"{prefix}ssl.truststore.type": "PEM", f"{prefix}ssl.truststore.location": truststore,
        f"{prefix}ssl.client.auth": "required",
        f"{prefix}ssl.endpoint.identification.algorithm": "https",
        f"{prefix}ssl.enabled.protocols": "TLSv1.2,TLSv1.3",
    }


def broker_properties(quorum: KRaftQuorum, broker_id: int) -> dict[str, str]:
    return {"process.roles": "broker", "node.id": str(broker_id), **quorum.common_properties()}


@dataclass
class ControllerConfig:
    node_id: int
    rack: str
    host: str
    quorum: KRaftQuorum
    log_dir: str = ""
    extra: dict[str, str] = field(default_factory=dict)     # TLS, authorizer (from control/layout.py)

    def properties(self) -> dict[str, str]:
        props = {k: v for k, v in MSK_DEFAULTS.items() if not k.startswith("zookeeper.")}
        props.update({
            "process.roles": "controller",
            "node.id": str(self.node_id),
            "broker.rack": self.rack,
            "listeners": f"{CONTROLLER_LISTENER}://{self.host}:{CONTROLLER_PORT}",
            "listener.security.protocol.map": f"{CONTROLLER_LISTENER}:SSL",
            "log.dirs": self.log_dir,
            **self.quorum.common_properties(),
        })
        props.update(self.extra)
        return props


def format_wrapper(cluster_id: str, workdir: Path, properties_file: Path, dist: KafkaDistribution,
                   command: list[str]) -> list[str]:
    """`command`, preceded by `kafka-storage format` of the node's log directory unless it is formatted.
    The format's output goes to logs/storage-format.log; a failed format is the node's exit."""
    tool_log4j = workdir / ("tools-log4j2.properties" if dist.log4j2 else "tools-log4j.properties")
    fmt = dist.java_command("kafka.tools.StorageTool",
                            ["format", "--ignore-formatted", "-t", cluster_id, "-c", str(properties_file)],
                            heap=FORMAT_HEAP, jvm_opts=["-XX:TieredStopAtLevel=1", *_COMMON_JVM_OPTS],
                            log4j_config=tool_log4j, logs_dir=workdir / "logs")
    marker = workdir / "data" / "meta.properties"
    script = (f"mkdir -p {shlex.quote(str(workdir / 'logs'))} && "
              f"{{ [ -f {shlex.quote(str(marker))} ] || {shlex.join(fmt)} "
              f">> {shlex.quote(str(workdir / 'logs' / 'storage-format.log'))} 2>&1; }} && exec \"$@\"")
    return ["/bin/sh", "-c", script, "kafka-node", *command]


def format_files(dist: KafkaDistribution) -> dict[str, str]:
    from .log4j import TOOLS_LOG4J, TOOLS_LOG4J2
    return {"tools-log4j2.properties": TOOLS_LOG4J2} if dist.log4j2 else {"tools-log4j.properties": TOOLS_LOG4J}


@dataclass
class ControllerNode:
    """One KRaft controller (process.roles=controller): hidden from clients as on MSK."""

    cluster_dir: Path
    config: ControllerConfig

    @property
    def name(self) -> str:
        return f"{self.cluster_dir.name}/controller-{self.config.node_id}"

    @property
    def workdir(self) -> Path:
        return self.cluster_dir / f"controller-{self.config.node_id}"

    def spec(self, dist: KafkaDistribution, extra_jvm_opts: list[str] | None = None,
             secret_files: dict[str, bytes] | None = None, extra_files: dict[str, str] | None = None) -> NodeSpec:
        workdir = self.workdir
        self.config.log_dir = str(workdir / "data")
        log4j_name, log4j_text = broker_log4j(dist.log4j2)
        files = {
            "server.properties": render_properties(
                self.config.properties(), f"openmsk: KRaft controller {self.config.node_id} ({self.config.rack})"),
            log4j_name: log4j_text,
            **format_files(dist),
            **(extra_files or {}),
        }
        command = dist.java_command(
            "kafka.Kafka", [str(workdir / "server.properties")],
            heap=CONTROLLER_HEAP,
            jvm_opts=[*KAFKA_JVM_PERFORMANCE_OPTS, *_COMMON_JVM_OPTS, *startup_flags("controller"), *(extra_jvm_opts or [])],
            log4j_config=workdir / log4j_name, logs_dir=workdir / "logs")
        command = format_wrapper(self.config.quorum.cluster_id, workdir, workdir / "server.properties", dist, command)
        return NodeSpec(self.name, "controller", workdir, command, files, dict(secret_files or {}),
                        address=self.config.host, ports=(CONTROLLER_PORT,),
                        launch_env={**launch_env(), **cds.launch_env(dist, "controller", self.name)})

    async def mode(self) -> str | None:
        """'leader' / 'follower' while the controller takes part in the quorum, else None.

        KafkaRaftClient logs each state change ("Completed transition to Leader(...)" /
        "FollowerState(...)"); the last one is the node's state, provided its listener answers and
        this run of the process has finished starting (see `run_state`). A follower is not serving as
        soon as it knows the leader: a restarted controller on a loaded host reaches FollowerState
        minutes before it has fetched the log up to the high watermark (4.1 logs "the loader is still
        catching up" meanwhile, and flips Follower <-> Prospective on each 2 s fetch timeout). Taken
        for ready then (load ~150: 73 s before its start-up completed), the roller restarted the next
        controller, and then the leader, while this one could not yet count for the quorum: leader
        elections over and over, brokers without a controller to heartbeat to, and a restarted broker
        that never got unfenced ("broker-1 not ready 240s after its restart")."""
        if not await _port_open(self.config.host, CONTROLLER_PORT):
            return None
        state = run_state(self.workdir / "logs" / "server.log")
        if state is None:
            return None
        if state.startswith("Leader"):
            return "leader"
        if state.startswith("Follower"):
            return "follower"
        return None

    async def ready(self) -> bool:
        return await self.mode() in ("leader", "follower")

    def stuck(self, since: float | None = None) -> str | None:
        """Why this controller, running since `since` (epoch seconds), will not become ready without a
        restart, or None (see `registration_stuck`)."""
        return registration_stuck(self.workdir / "logs" / "server.log", since=since)

    def is_leader(self) -> bool:
        """Whether the last Raft transition of this run made it the leader (a stuck one restarts last)."""
        return (last_transition(self.workdir / "logs" / "server.log") or "").startswith("Leader")

    def failure_reason(self) -> list[str]:
        from .nodes import _tail_errors
        errors = _tail_errors(self.workdir / "logs" / "server.log")
        fmt_log = self.workdir / "logs" / "storage-format.log"
        if not errors and fmt_log.exists():
            lines = [l for l in fmt_log.read_text(errors="replace").splitlines() if l.strip()]
            errors = [f"[format] ERROR {lines[-1]}"] if lines else []
        return errors


def _current_run(log_file: Path) -> tuple[str, bool] | None:
    """The tail of `log_file` written by the process's current run, and whether that run's start is in
    it (no start marker in the last 512 KiB: the node has been running longer than that, or the log
    rolled since its start)."""
    try:
        with open(log_file, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 512 * 1024))
            text = fh.read().decode(errors="replace")
    except OSError:
        return None
    start = max(text.rfind(marker) for marker in _START_MARKERS)
    return (text[start:], True) if start >= 0 else (text, False)


def last_transition(log_file: Path) -> str | None:
    """The last Raft state transition of the current run ("Leader", "FollowerState", ...), if any."""
    run = _current_run(log_file)
    if run is None:
        return None
    found = _TRANSITION.findall(run[0])
    return found[-1] if found else None


def run_state(log_file: Path) -> str | None:
    """The last Raft state transition of the current run, provided the run has finished starting: its
    start-up completed ("Kafka Server started"), its metadata loader caught up with the high
    watermark (first "InitializeNewPublishers") and its controller registration is in the metadata log;
    None before. A run whose start is no longer in the log's tail started long ago and counts as
    started."""
    run = _current_run(log_file)
    if run is None:
        return None
    text, start_seen = run
    if start_seen and any(marker not in text for marker in (_STARTED, _CAUGHT_UP, _REGISTERED)):
        return None
    found = _TRANSITION.findall(text)
    return found[-1] if found else None


def registration_stuck(log_file: Path, now: datetime | None = None, since: float | None = None) -> str | None:
    """A reason when the current run's controller registration timed out (REGISTRATION_STUCK_AFTER
    ago or longer) and the run has not registered since: a run in that state never registers (see
    _REGISTRATION_TIMED_OUT), and `kafka-features upgrade` refuses to finalize while it is unregistered.
    `since`: when the running process started (epoch seconds); a timeout logged before it is an earlier
    process's (a restarted JVM logs its start marker only seconds later), so it does not count."""
    run = _current_run(log_file)
    if run is None:
        return None
    text = run[0]
    at = text.rfind(_REGISTRATION_TIMED_OUT)
    if at < 0 or _REGISTERED in text[at:]:
        return None
    stamp = _LOG_TIME.match(text, text.rfind("\n", 0, at) + 1)
    if stamp is None:
        return None                 # not openmsk's log layout: never restart a node on a guess
    logged = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S")     # the JVM logs local time
    if since is not None and logged < datetime.fromtimestamp(since).replace(microsecond=0):
        return None
    if ((now or datetime.now()) - logged).total_seconds() < REGISTRATION_STUCK_AFTER:
        return None
    return f"its controller registration timed out at {stamp.group(1)} and is never resent (Kafka keeps it pending)"


async def _port_open(host: str, port: int, timeout: float = 2.0) -> bool:
    import asyncio
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True
