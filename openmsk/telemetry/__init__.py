"""Telemetry: what MSK's CloudWatch integration and Open Monitoring do, for openmsk's brokers.

    brokers --(JMX exporter agent, /proc, data dir)--> collector --> MetricStore (metrics.db)
                                                                      ^          |
                                         PutMetricData (users) -------+          v
                                                         CloudWatch API (services/cloudwatch/)

* `jmx`        -- the agent attached to every broker (port 11001 with Open Monitoring, else internal)
* `host`       -- CPU / memory / disk of a broker process from /proc
* `catalog`    -- MSK's metric names, units, dimensions and EnhancedMonitoring levels
* `lag`        -- consumer lag from committed vs log-end offsets (confluent-kafka AdminClient)
* `collector`  -- background service: one pass per interval over every running cluster
* `store`      -- time series in SQLite with CloudWatch's retention and roll-ups
* `node_exporter` -- Debian's prometheus-node-exporter on :11002 per broker when enabled: a sidecar
                   node the reconciler places next to each broker

`install(plane)` wires it into a ControlPlane through the plane's extension hooks.
"""
from __future__ import annotations

import os

from .jmx import broker_extension
from .node_exporter import NodeExporterSidecar


def metrics_interval() -> float:
    """Seconds between collection passes: 60 as MSK, `OPENMSK_METRICS_INTERVAL` to change (tests)."""
    try:
        return max(1.0, float(os.environ.get("OPENMSK_METRICS_INTERVAL", "60")))
    except ValueError:
        return 60.0


def install(plane):
    """Register the broker agent and the collector on `plane`; returns the metric store."""
    from .collector import Collector
    from .store import MetricStore
    store = MetricStore(plane.data_dir / "metrics.db")
    plane.broker_extensions.append(broker_extension)
    plane.sidecars.append(NodeExporterSidecar())
    plane.background_services.append(Collector(store, metrics_interval()))
    return store
