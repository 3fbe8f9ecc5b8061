"""Open Monitoring's node exporter: Debian's `prometheus-node-exporter` on `<broker-ip>:11002`, one
per broker of a cluster whose `OpenMonitoring.Prometheus.NodeExporter.EnabledInBroker`.

On MSK it runs on the broker's instance. Here each one is a data-plane node like the broker it sits
next to: a `NodeSpec` of kind "exporter" (`<cluster>/node-exporter-<id>`) that the reconciler places
through the placement driver (its SIDECARS step): present iff enabled, restarted if it dies, left
running when the control plane stops (and re-adopted by the next one), deleted with the cluster.
Only the broker's loopback address is bound.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

from ..runtime.placement import NodeSpec
from .jmx import node_exporter_enabled

log = logging.getLogger(__name__)

PORT = 11002
BINARY = "prometheus-node-exporter"


class NodeExporterSidecar:
    """A sidecar provider for ControlPlane.sidecars: `nodes(cluster, cluster_dir)` names every
    exporter the cluster may have, each with its desired spec or None (must not run)."""

    def __init__(self) -> None:
        self._warned = False

    def nodes(self, cluster: dict, cluster_dir: Path) -> dict[str, NodeSpec | None]:
        binary = shutil.which(BINARY)
        enabled = node_exporter_enabled(cluster)
        if enabled and binary is None and not self._warned:
            log.warning("Open Monitoring NodeExporter is enabled but %s is not installed (scripts/install)", BINARY)
            self._warned = True
        result: dict[str, NodeSpec | None] = {}
        for broker in cluster["Brokers"]:
            node = f"node-exporter-{broker['BrokerId']}"
            name = f"{cluster_dir.name}/{node}"
            if not (enabled and binary):
                result[name] = None
                continue
            result[name] = NodeSpec(name, "exporter", cluster_dir / node,
                                    [binary, f"--web.listen-address={broker['Address']}:{PORT}"],
                                    address=broker["Address"], ports=(PORT,))
        return result
