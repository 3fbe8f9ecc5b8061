"""What `openmsk wait` and `openmsk create --wait` show while an operation runs: the cluster's state,
the operation's steps (each with the time it was seen to finish) and every node's readiness.

Steps come from DescribeClusterOperation. Nodes come from the cluster's directory (the API does not
list ZooKeeper nodes before a cluster is ACTIVE) and are probed the way the control plane decides
readiness: ZooKeeper `srvr` (leader/follower), a Kafka Metadata request on the broker's replication
listener (port 9093, with the control plane's client certificate when it is TLS) listing the broker.
On a terminal the block is redrawn in place; otherwise (logs, CI) one line per change is printed.
"""
from __future__ import annotations

import asyncio
import ssl
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..control import zones
from ..runtime import probes
from .common import Api

STEP_DONE = ("COMPLETE", "COMPLETED")
MARK = {"COMPLETED": "done", "COMPLETE": "done", "IN_PROGRESS": "...", "FAILED": "FAILED", "PENDING": ""}


@dataclass
class NodeProbe:
    label: str                    # b-1, z-2
    kind: str
    workdir: Path
    address: str = ""
    port: int = 0
    tls: bool = False
    process: str = "absent"
    answer: str = ""

    @property
    def ready(self) -> bool:
        return self.answer in ("ok", "leader", "follower", "standalone")

    @property
    def status(self) -> str:
        if self.ready:
            return self.answer
        if self.process == "running":
            return "starting"
        return self.process


def _properties(path: Path) -> dict[str, str]:
    out = {}
    try:
        for line in path.read_text().splitlines():
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                out[key.strip()] = value.strip()
    except OSError:
        pass
    return out


def local_nodes(cluster_dir: Path) -> list[NodeProbe]:
    nodes = []
    for workdir in sorted(cluster_dir.glob("zookeeper-*")):
        props = _properties(workdir / "zoo.cfg")
        port = props.get("secureClientPort") or props.get("clientPort") or "2181"
        nodes.append(NodeProbe(f"z-{workdir.name.rsplit('-', 1)[1]}", "zookeeper", workdir,
                               props.get("clientPortAddress", ""), int(port)))
    for workdir in sorted(cluster_dir.glob("broker-*")):
        props = _properties(workdir / "server.properties")
        listeners = dict(item.split("://", 1) for item in props.get("listeners", "").split(",") if "://" in item)
        name = "REPLICATION_SECURE" if "REPLICATION_SECURE" in listeners else "REPLICATION"
        host, _, port = listeners.get(name, ":9093").rpartition(":")
        nodes.append(NodeProbe(f"b-{workdir.name.rsplit('-', 1)[1]}", "broker", workdir, host, int(port or 9093),
                               tls=name == "REPLICATION_SECURE"))
    return nodes


def _tls_context(data_dir: Path) -> ssl.SSLContext | None:
    ca, client = data_dir / "pki" / "ca.pem", data_dir / "pki" / "control-plane-client.pem"
    if not ca.exists():
        return None
    context = ssl.create_default_context(cafile=str(ca))
    if client.exists():
        try:
            context.load_cert_chain(str(client))
        except (OSError, ssl.SSLError):
            pass
    return context


# A TLS handshake plus Metadata from a broker JVM that is still warming up takes over a second on a
# loaded host; 1 s made a ready broker show "starting" on the last poll before ACTIVE.
PROBE_TIMEOUT = 5.0


def probe_nodes(nodes: list[NodeProbe], context: ssl.SSLContext | None) -> None:
    async def one(node: NodeProbe) -> None:
        node.process = zones.process_state(node.workdir)
        node.answer = ""
        if node.process != "running" or not node.address:
            return
        if node.kind == "zookeeper":
            node.answer = await probes.zk_mode(node.address, node.port, timeout=PROBE_TIMEOUT) or ""
            return
        meta = await probes.try_kafka_metadata(node.address, node.port, timeout=PROBE_TIMEOUT,
                                               ssl_context=context if node.tls else None)
        node.answer = "ok" if meta is not None and int(node.label[2:]) in meta.broker_ids else ""

    async def run():
        await asyncio.gather(*(one(n) for n in nodes))
    asyncio.run(run())


@dataclass
class Progress:
    """One wait's display: `update()` after each poll, `finish()` at the end."""

    api: Api
    cluster_arn: str
    tty: bool
    quiet: bool = False
    started: float = field(default_factory=time.monotonic)
    _steps_done: dict[str, float] = field(default_factory=dict)
    _last: dict[str, str] = field(default_factory=dict)
    _drawn: int = 0
    _nodes_shown: bool = False
    _context: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        self._context = _tls_context(self.api.data_dir)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def update(self, info: dict | None, operation: dict | None, show_nodes: bool, final: bool = False) -> None:
        """`final`: the awaited state is reached; `finish()` prints it after the operation's last steps."""
        if self.quiet:
            return
        now = self.elapsed()
        state = info["State"] if info else "DELETED"
        steps = (operation or {}).get("OperationSteps") or []
        for step in steps:
            if (step.get("StepInfo") or {}).get("StepStatus") in STEP_DONE:
                self._steps_done.setdefault(step["StepName"], now)
        nodes = []
        # The state is reached between two polls: a node last seen starting is ready by now, so a wait
        # that was showing nodes probes them once more for its final picture.
        show_nodes = show_nodes or (final and self._nodes_shown)
        self._nodes_shown = self._nodes_shown or show_nodes
        if show_nodes and info is not None:
            nodes = local_nodes(self.api.cluster_dir(self.cluster_arn))
            probe_nodes(nodes, self._context)
        if self.tty:
            self._draw(now, state, operation, steps, nodes)
        else:
            self._log(now, state, operation, steps, nodes, final)

    def _log(self, now, state, operation, steps, nodes, final=False) -> None:
        events = [] if final else [("state", state, state)]
        if operation:
            events.append(("op", operation.get("OperationType", ""),
                           f"{operation.get('OperationType', '')} operation {operation.get('OperationState', '')}"))
        for step in steps:
            status = (step.get("StepInfo") or {}).get("StepStatus", "")
            events.append((f"step {step['StepName']}", status, f"step {step['StepName']}: {status.lower()}"))
        for node in nodes:
            events.append((f"node {node.label}", node.status, f"{node.label} {node.status}"))
        for key, value, text in events:
            if self._last.get(key) != value and value:
                if key != "op" or self._last.get(key) is None:
                    print(f"{now:7.1f}s  {text}", flush=True)
                self._last[key] = value

    def _draw(self, now, state, operation, steps, nodes) -> None:
        lines = [f"{state}  {now:6.1f}s" + (f"  ({operation.get('OperationType')})" if operation else "")]
        for step in steps:
            status = (step.get("StepInfo") or {}).get("StepStatus", "")
            done = self._steps_done.get(step["StepName"])
            when = f"{done:6.1f}s" if done is not None else "       "
            lines.append(f"  {when}  {step['StepName']:<22} {MARK.get(status, status.lower())}")
        if nodes:
            ready = sum(1 for n in nodes if n.ready)
            lines.append(f"  nodes {ready}/{len(nodes)} ready: " + "  ".join(f"{n.label} {n.status}" for n in nodes))
        out = sys.stdout
        if self._drawn:
            out.write(f"\x1b[{self._drawn}F")         # back to the first line of the previous block
        for line in lines:
            out.write(f"\x1b[2K{line[:160]}\n")
        for _ in range(self._drawn - len(lines)):      # a shorter block: clear what is left below
            out.write("\x1b[2K\n")
        extra = max(0, self._drawn - len(lines))
        if extra:
            out.write(f"\x1b[{extra}F")
        out.flush()
        self._drawn = len(lines)

    def finish(self, state: str) -> None:
        if self.quiet:
            return
        if not self.tty and self._last.get("state") != state:
            print(f"{self.elapsed():7.1f}s  {state}", flush=True)
