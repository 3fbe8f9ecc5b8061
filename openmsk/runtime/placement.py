"""The one interface through which the control plane places data-plane processes.

A `NodeSpec` is everything a placement driver needs to run one broker or ZooKeeper node: rendered
files, a command line, an address. All Kafka knowledge (configs, certificates, rolling order) is
done before a spec is built, so a driver only materialises files and runs/stops a process. The first
driver is `LocalProcessPlacement` (child processes on this host); a Kubernetes driver would implement
the same coroutines (`wait_exit` may simply poll: `poll_exit` below).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass
class NodeSpec:
    name: str                       # unique, stable: "<cluster-uuid>/broker-1"
    kind: str                       # "broker" | "zookeeper" | "exporter"
    workdir: Path                   # the node's own directory (configs, data, logs)
    command: list[str]
    files: dict[str, str] = field(default_factory=dict)      # path relative to workdir -> content
    secret_files: dict[str, bytes] = field(default_factory=dict)  # written 0600 (keys, keystores)
    env: dict[str, str] = field(default_factory=dict)
    address: str = ""
    ports: tuple[int, ...] = ()
    # Environment that only speeds a start up (the JVM's class-data-sharing archive, runtime/cds.py):
    # not part of the spec hash, so an archive appearing or going never rolls a node.
    launch_env: dict[str, str] = field(default_factory=dict)

    def spec_hash(self) -> str:
        digest = hashlib.sha256()
        digest.update(json.dumps([self.command, sorted(self.files.items()), sorted(self.env.items())]).encode())
        for name, content in sorted(self.secret_files.items()):
            digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
        return digest.hexdigest()[:16]


@dataclass
class NodeStatus:
    name: str
    phase: str                      # "running" | "exited" | "absent"
    pid: int | None = None
    exit_code: int | None = None
    spec_hash: str | None = None
    started_at: float | None = None
    adopted: bool = False           # running, but started by an earlier control-plane process
    log_file: Path | None = None
    # When a stop was sent to this process (by this or an earlier control plane): recorded before the
    # signal, cleared by the next start. Survives the control plane that sent it.
    stopping_since: float | None = None

    @property
    def running(self) -> bool:
        return self.phase == "running"

    @property
    def stopping(self) -> bool:
        """Running, but told to stop: on its way out, whether or not it still answers. Nothing may
        count it as serving (a roll would restart another quorum node while it exits)."""
        return self.running and self.stopping_since is not None


class Placement(Protocol):
    async def apply(self, spec: NodeSpec) -> NodeStatus:
        """Make the node run this spec: start it if absent/exited; no-op if already running it.
        A running node with a different spec is left alone (rolling it is the caller's decision)."""

    async def observe(self, name: str) -> NodeStatus:
        """Current state of the node, without changing anything. A node sent a stop and not started
        since reports `stopping_since`, also to a control plane started after the one that sent it."""

    async def replace(self, spec: NodeSpec, *, grace: float = 60.0) -> NodeStatus:
        """Stop the node gracefully (if running) and start it with `spec`. The stop is recorded before
        its signal is sent (`NodeStatus.stopping_since`), the start clears it."""

    async def delete(self, name: str, *, grace: float = 60.0, purge: bool = False) -> None:
        """Stop the node (SIGTERM, then SIGKILL after `grace`); `purge` also removes its files."""

    async def pause(self, name: str) -> bool:
        """Freeze a running node: it stops answering without closing a connection (a simulated zone
        outage); it still counts as running. False if it is not running."""

    async def resume(self, name: str) -> bool:
        """Thaw a paused node (no-op for one that is not paused). False if it is not running."""

    async def names(self, prefix: str) -> list[str]:
        """Every node this driver has placed whose name starts with `prefix/` (running or not), so
        a cluster's nodes can all be stopped without knowing who asked for them."""

    async def wait_exit(self, names: list[str], timeout: float) -> None:
        """Return as soon as one of these nodes may have stopped running, at the latest after `timeout`
        seconds: the supervisor's wait between checks. A driver without exit notifications (a future
        Kubernetes driver could watch pods) returns after a short poll interval instead."""


POLL_INTERVAL = 1.0


async def poll_exit(timeout: float) -> None:
    """`wait_exit` for a driver that cannot be told when a node exits: the caller checks again soon."""
    await asyncio.sleep(min(timeout, POLL_INTERVAL))
