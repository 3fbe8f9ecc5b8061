"""The collector: a ControlPlane background service that measures every running cluster once per
interval (60 s as MSK; `OPENMSK_METRICS_INTERVAL`) and writes AWS/Kafka metrics into the store.

A pass, per cluster in a state where MSK publishes metrics (ACTIVE, UPDATING, HEALING, ...):
  1. per broker whose process runs: CPU / memory / disk from /proc and its data dir (host.py), and one
     filtered scrape of its JMX exporter (jmx.py); meters become rates from Count deltas between passes,
     so a rate is the exact average over the interval;
  2. cluster-level metrics from all brokers' controller gauges, plus the cluster-level
     KafkaDataLogsDiskUsed copy MSK publishes (the fullest broker);
  3. consumer lag and ZooKeeper session state through an AdminClient per cluster, in a worker process;
  4. one write of everything, stamped with the pass's wall-clock time.
Publishing follows the cluster's EnhancedMonitoring level (catalog.py). Per-topic series appear only
once their value has been non-zero (as MSK for Kafka >= 2.4.1). Intervals below 60 s are stored at
high resolution too, so Period 1/5/10/30 queries work for them.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from ..control import model
from . import catalog, host, jmx, lag
from .catalog import BROKER, CLUSTER, GROUP, NAMESPACE, PARTITION, TOPIC
from .lag_worker import LagWorker
from .store import Bucket, MetricStore

log = logging.getLogger(__name__)

COLLECTED_STATES = {model.ACTIVE, model.UPDATING, model.HEALING, model.REBOOTING_BROKER, model.MAINTENANCE}


@dataclass
class BrokerMemory:
    """What a broker's previous pass left behind, for deltas."""
    pid: int
    cpu: host.CpuSample | None = None
    io: tuple[int, int] | None = None
    io_at: float = 0.0
    meters: dict | None = None
    meters_at: float = 0.0
    meters_from_zero: bool = False      # `meters` is the process start's (every count 0), not a scrape's


class Collector:
    def __init__(self, store: MetricStore, interval: float = 60.0) -> None:
        self.store = store
        self.interval = interval
        self.plane = None
        self._task: asyncio.Task | None = None
        self._brokers: dict[tuple[str, int], BrokerMemory] = {}
        self._admin_worker = LagWorker()
        self._lag: dict[str, lag.LagTracker] = {}
        self._seen_topics: set[tuple] | None = None
        self.passes = 0
        self.last_pass_seconds = 0.0

    # -- background service ----------------------------------------------------------------------
    async def start(self, plane) -> None:
        self.plane = plane
        self._task = asyncio.create_task(self._run(), name="telemetry collector")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._admin_worker.stop()
        self.store.close()

    async def _run(self) -> None:
        next_pass = time.monotonic() + min(self.interval, 5.0)     # first pass soon after start
        while True:
            if time.monotonic() >= next_pass:
                started = time.monotonic()
                try:
                    await self.collect_once()
                except Exception:
                    log.exception("metrics pass failed")
                self.last_pass_seconds = time.monotonic() - started
                next_pass += self.interval * max(1, int((time.monotonic() - next_pass) // self.interval) + 1)
            await asyncio.sleep(max(0.05, next_pass - time.monotonic()))

    def _clusters(self) -> list[dict]:
        return [c for c in self.plane.clusters() if c["State"] in COLLECTED_STATES]

    # -- one pass --------------------------------------------------------------------------------
    async def collect_once(self) -> None:
        if self._seen_topics is None:
            self._seen_topics = {(s.region, s.metric, tuple(sorted(s.dims.items())))
                                 for s in self.store.series(None, NAMESPACE) if TOPIC in s.dims}
        clusters = self._clusters()
        for cluster in clusters:
            try:
                await self.collect_cluster(cluster)
            except Exception:
                log.exception("metrics of cluster %s failed", cluster["ClusterName"])
        live = {c["ClusterArn"] for c in clusters}
        for arn in [a for a in self._lag if a not in live]:
            self._lag.pop(arn, None)
        self.passes += 1

    async def collect_cluster(self, cluster: dict) -> None:
        now, tick = time.time(), time.monotonic()
        name = cluster["ClusterName"]
        base = {CLUSTER: name}
        out: list[tuple[str, dict, str, float]] = []      # (metric, dims, unit, value)
        scrapes, disk = [], []
        results = await asyncio.gather(*(self.collect_broker(cluster, b, tick) for b in cluster["Brokers"]))
        for broker, (metrics, scrape, disk_used) in zip(cluster["Brokers"], results):
            dims = {**base, BROKER: str(broker["BrokerId"])}
            out += [(m, {**dims, **extra}, unit, v) for m, extra, unit, v in metrics]
            if scrape is not None:
                scrapes.append(scrape)
            if disk_used is not None:
                disk.append(disk_used)
        # KRaft: the controller gauges (ActiveControllerCount, OfflinePartitionsCount, Global*Count) live
        # on the controllers, which run the same agent; as on MSK they are published per cluster only.
        for controller in cluster.get("Controllers") or []:
            scrape = await self.scrape(cluster, controller["Address"])
            if scrape is not None:
                scrapes.append(scrape)
        for metric, value in catalog.controller_values(scrapes).items():
            out.append((metric, base, catalog.COUNT, value))
        if disk:
            out.append(("KafkaDataLogsDiskUsed", base, catalog.PERCENT, max(disk)))
        out += await self.collect_admin(cluster, base)
        await self.publish(cluster, out, now)

    async def publish(self, cluster: dict, out: list, now: float) -> None:
        entries = []
        for metric, dims, unit, value in out:
            if TOPIC in dims and metric in catalog.TOPIC_METERS:
                key = (cluster["Region"], metric, tuple(sorted(dims.items())))
                if key not in self._seen_topics:
                    if not value:
                        continue
                    self._seen_topics.add(key)
            sample = Bucket()
            sample.add(float(value))
            entries.append((metric, dims, unit, now, sample, self.interval < 60))
        await self.store.write_async(cluster["Region"], NAMESPACE, entries)   # off the event loop

    async def collect_broker(self, cluster: dict, broker: dict, tick: float):
        """-> ([(metric, extra dims, unit, value)], scrape or None, KafkaDataLogsDiskUsed or None).
        `tick`: when the pass started (monotonic). Meter rates are Count deltas over the spacing of the
        passes, not of the scrapes: a loaded pass that scrapes late, followed by a prompt one, would
        otherwise report a short interval's delta as a rate several times too high (and the samples
        x interval would no longer add up to the volume counted)."""
        status = await self.plane.placement.observe(f"{cluster['Uuid']}/broker-{broker['BrokerId']}")
        key = (cluster["Uuid"], broker["BrokerId"])
        if not status.running or status.pid is None:
            self._brokers.pop(key, None)
            return [], None, None
        memory = self._brokers.get(key)
        if memory is None or memory.pid != status.pid:
            memory = self._brokers[key] = BrokerMemory(status.pid)
            if not status.adopted and status.started_at is not None:
                # Started by this control plane: every meter counted from 0 at the process start, so the
                # first pass can rate what the broker took in before it (a client producing the moment
                # the cluster is ACTIVE, ahead of the first pass, would otherwise never show up).
                # A broker adopted from an earlier control plane keeps the old rule: its counts span
                # periods that process already published.
                memory.meters, memory.meters_from_zero = {}, True
                memory.meters_at = tick - max(0.0, time.time() - status.started_at)
        metrics: list[tuple[str, dict, str, float]] = []
        units = catalog.OS_UNITS

        cpu = host.cpu_sample(status.pid)
        if cpu is not None and memory.cpu is not None:
            for m, v in (host.cpu_percentages(memory.cpu, cpu) or {}).items():
                metrics.append((m, {}, units[m], v))
        memory.cpu = cpu
        metrics += [(m, {}, units[m], v) for m, v in host.memory_metrics(status.pid).items()]
        workdir = self.plane.cluster_dir(cluster) / f"broker-{broker['BrokerId']}"
        disk_used = await asyncio.to_thread(host.data_logs_disk_used, workdir / "data", cluster.get("VolumeSize") or 1000)
        metrics.append(("KafkaDataLogsDiskUsed", {}, units["KafkaDataLogsDiskUsed"], disk_used))
        metrics.append(("RootDiskUsed", {}, units["RootDiskUsed"], host.root_disk_used(workdir)))
        if catalog.level_at_least(cluster, "PER_BROKER"):
            io, at = host.io_bytes(status.pid), time.monotonic()
            if io is not None and memory.io is not None:
                metrics.append(("VolumeReadBytes", {}, catalog.BYTES, float(max(0, io[0] - memory.io[0]))))
                metrics.append(("VolumeWriteBytes", {}, catalog.BYTES, float(max(0, io[1] - memory.io[1]))))
            memory.io, memory.io_at = io, at

        scrape = await self.scrape(cluster, broker["Address"])
        if scrape is None:
            return metrics, None, disk_used
        metrics += [(m, {}, unit, v) for m, v, unit in catalog.gauge_values(scrape, cluster)]
        counts, at = catalog.meter_counts(scrape), tick
        if memory.meters is not None and at > memory.meters_at:
            elapsed = at - memory.meters_at
            for (meter, topic), count in counts.items():
                # Kafka creates a topic's meters at the topic's first traffic, from 0: a series the
                # previous scrape (same process) did not have counts from 0.
                before = memory.meters.get((meter, topic), 0.0 if topic or memory.meters_from_zero else None)
                if before is None or count < before:
                    continue                     # the broker restarted
                broker_level, topic_level, unit = catalog.TOPIC_METERS[meter]
                level = topic_level if topic else broker_level
                if level and catalog.level_at_least(cluster, level):
                    metrics.append((meter, {TOPIC: topic} if topic else {}, unit, (count - before) / elapsed))
        memory.meters, memory.meters_at, memory.meters_from_zero = counts, at, False
        return metrics, scrape, disk_used

    async def scrape(self, cluster: dict, address: str) -> jmx.Scrape | None:
        # The agent's port follows Open Monitoring, but a broker keeps the port it was started with
        # until it is rolled: try the configured port first, then the other one.
        first = jmx.exporter_port(cluster)
        for port in (first, jmx.INTERNAL_PORT if first == jmx.OPEN_MONITORING_PORT else jmx.OPEN_MONITORING_PORT):
            samples = await jmx.scrape(address, port, catalog.families())
            if samples is not None:
                return jmx.Scrape(samples)
        return None

    # -- through the Kafka protocol --------------------------------------------------------------
    def _admin_config(self, cluster: dict) -> dict | None:
        """librdkafka config for the control plane's admin connection (replication listener, its own
        certificate): works whatever client authentication the cluster requires."""
        from ..control.scram import admin_config
        return admin_config(self.plane, cluster)

    async def collect_admin(self, cluster: dict, base: dict) -> list:
        tracker = self._lag.setdefault(cluster["ClusterArn"], lag.LagTracker())
        try:
            # A failure here (a broker restarting, a worker crash) costs only the admin-derived
            # metrics of this pass, never the OS and JMX ones.
            config = self._admin_config(cluster)
            if config is None:
                return []
            raw = await self._admin_worker.query(cluster["ClusterArn"], config)
        except Exception as exc:
            log.debug("cluster %s: admin pass failed: %s", cluster["ClusterName"], exc)
            return []
        registered, lags = set(raw["registered"]), lag.lags(raw["offsets"], tracker)
        out = []
        for b in cluster["Brokers"] if not cluster.get("Controllers") else []:     # no ZooKeeper on KRaft
            # MSK's ZooKeeperSessionState: 1.0 CONNECTED. A broker is listed by the cluster exactly
            # while its ZooKeeper session (ephemeral registration) is alive.
            state = 1.0 if b["BrokerId"] in registered else 0.0
            out.append(("ZooKeeperSessionState", {**base, BROKER: str(b["BrokerId"])}, catalog.NONE, state))
        by_topic: dict[tuple[str, str], list[lag.PartitionLag]] = {}
        for p in lags:
            by_topic.setdefault((p.group, p.topic), []).append(p)
        per_partition = catalog.level_at_least(cluster, "PER_TOPIC_PER_PARTITION")
        for (group, topic), parts in by_topic.items():
            dims = {**base, GROUP: group, TOPIC: topic}
            worst = max(parts, key=lambda p: p.lag)
            out += [("MaxOffsetLag", dims, catalog.COUNT, float(worst.lag)),
                    ("SumOffsetLag", dims, catalog.COUNT, float(sum(p.lag for p in parts))),
                    ("EstimatedMaxTimeLag", dims, catalog.SECONDS, float(worst.time_lag))]
            if per_partition:
                for p in parts:
                    pdims = {**dims, PARTITION: str(p.partition)}
                    out += [("OffsetLag", pdims, catalog.COUNT, float(p.lag)),
                            ("EstimatedTimeLag", pdims, catalog.SECONDS, float(p.time_lag))]
        return out
