"""Open Monitoring's node exporter: Debian's `prometheus-node-exporter` on `<broker-ip>:11002`, one
per broker of every running cluster whose `OpenMonitoring.Prometheus.NodeExporter.EnabledInBroker`.

On MSK it runs on the broker's instance. Here each is a child of the control plane (not of a broker),
supervised by the collector: started when enabled, restarted if it dies, stopped when disabled or when
the cluster goes away, and stopped with the control plane (the kernel sends it SIGTERM if the control
plane dies: PR_SET_PDEATHSIG), so none is ever left behind. Only the broker's loopback address is bound.
"""
from __future__ import annotations

import asyncio
import ctypes
import logging
import shutil
import signal
import subprocess
from pathlib import Path

from .jmx import node_exporter_enabled

log = logging.getLogger(__name__)

PORT = 11002
BINARY = "prometheus-node-exporter"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class NodeExporters:
    def __init__(self) -> None:
        self._procs: dict[tuple[str, int], tuple[str, subprocess.Popen]] = {}
        self._warned = False

    def running(self) -> dict[tuple[str, int], int]:
        return {k: p.pid for k, (_, p) in self._procs.items() if p.poll() is None}

    async def sync(self, plane, clusters: list[dict]) -> None:
        wanted: dict[tuple[str, int], tuple[str, Path]] = {}
        for cluster in clusters:
            if node_exporter_enabled(cluster):
                for b in cluster["Brokers"]:
                    logs = plane.cluster_dir(cluster) / f"broker-{b['BrokerId']}" / "logs"
                    wanted[(cluster["Uuid"], b["BrokerId"])] = (b["Address"], logs)
        for key in [k for k in self._procs if k not in wanted or self._procs[k][0] != wanted[k][0]]:
            await self._stop(key)
        for key, (address, logs) in wanted.items():
            current = self._procs.get(key)
            if current is not None and current[1].poll() is None:
                continue
            self._start(key, address, logs)

    def _start(self, key, address: str, logs: Path) -> None:
        binary = shutil.which(BINARY)
        if binary is None:
            if not self._warned:
                log.warning("Open Monitoring NodeExporter is enabled but %s is not installed (scripts/install)", BINARY)
                self._warned = True
            return
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / "node-exporter.log", "ab") as out:
            proc = subprocess.Popen([binary, f"--web.listen-address={address}:{PORT}"], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        self._procs[key] = (address, proc)
        log.info("node exporter for %s broker %d on %s:%d (pid %d)", key[0], key[1], address, PORT, proc.pid)

    async def _stop(self, key) -> None:
        _, proc = self._procs.pop(key)
        if proc.poll() is None:
            proc.terminate()
            for _ in range(50):
                if proc.poll() is not None:
                    return
                await asyncio.sleep(0.1)
            proc.kill()
            proc.wait()

    async def stop_all(self) -> None:
        for key in list(self._procs):
            await self._stop(key)
