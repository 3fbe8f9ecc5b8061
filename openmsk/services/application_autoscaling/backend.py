"""Scalable targets and scaling policies (the service's own documents), and the loop that acts on
them: MSK storage auto scaling.

MSK's documented behaviour (DG msk-autoexpand): a target-tracking policy on the predefined metric
KafkaBrokerStorageUtilization (AWS/Kafka KafkaDataLogsDiskUsed, here the cluster-level figure: the
fullest broker), checked every minute; when utilization exceeds the target, storage grows by the
larger of 10 GiB and 10 %, never beyond MaxCapacity, never shrinks (MSK does not scale storage in),
and obeys the storage cool-down like any UpdateBrokerStorage. The growth goes through the kafka
service's own UpdateBrokerStorage path (`grow(cluster_arn, size) -> operation arn`, wired by the
composition root), so it is an ordinary UPDATE_BROKER_STORAGE operation on the cluster.
"""
from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from typing import Callable

from ...control import model
from ...control.store import Store

log = logging.getLogger(__name__)

TARGET_KIND, POLICY_KIND = "scalable-target", "scaling-policy"
NAMESPACE, DIMENSION = "kafka", "kafka:broker-storage:VolumeSize"
METRIC_TYPE = "KafkaBrokerStorageUtilization"
STEP_GIB, STEP_FRACTION = 10, 0.10


def autoscaling_interval() -> float:
    """Seconds between evaluations (60, as MSK; OPENMSK_AUTOSCALING_INTERVAL for tests)."""
    return float(os.environ.get("OPENMSK_AUTOSCALING_INTERVAL", "60"))


def target_key(region: str, resource_id: str, dimension: str) -> str:
    return f"{region}|{resource_id}|{dimension}"


def next_size(current: int, maximum: int) -> int:
    return min(maximum, current + max(STEP_GIB, math.ceil(current * STEP_FRACTION)))


class ScalingStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def target(self, region: str, resource_id: str, dimension: str) -> dict | None:
        return self.store.get(TARGET_KIND, target_key(region, resource_id, dimension))

    def targets(self, region: str | None = None) -> list[dict]:
        return self.store.list(TARGET_KIND, region=region)

    def put_target(self, region: str, target: dict) -> None:
        key = target_key(region, target["ResourceId"], target["ScalableDimension"])
        self.store.put(TARGET_KIND, key, target, region=region)

    def delete_target(self, region: str, resource_id: str, dimension: str) -> None:
        key = target_key(region, resource_id, dimension)
        for policy in self.policies(region, key):
            self.store.delete(POLICY_KIND, f"{key}|{policy['PolicyName']}")
        self.store.delete(TARGET_KIND, key)

    def policies(self, region: str, key: str | None = None) -> list[dict]:
        return [p for p in self.store.list(POLICY_KIND, region=region)
                if key is None or target_key(region, p["ResourceId"], p["ScalableDimension"]) == key]

    def put_policy(self, region: str, policy: dict) -> None:
        key = target_key(region, policy["ResourceId"], policy["ScalableDimension"])
        self.store.put(POLICY_KIND, f"{key}|{policy['PolicyName']}", policy, region=region)

    def delete_policy(self, region: str, resource_id: str, dimension: str, name: str) -> bool:
        doc_key = f"{target_key(region, resource_id, dimension)}|{name}"
        if self.store.get(POLICY_KIND, doc_key) is None:
            return False
        self.store.delete(POLICY_KIND, doc_key)
        return True


def storage_utilization(metrics) -> Callable[[str, str, float], float | None]:
    """(region, cluster name, since) -> the cluster-level KafkaDataLogsDiskUsed (Maximum of the latest
    one-minute period that started at or after `since`) from the telemetry store, or None."""
    from ...telemetry.store import MINUTE

    def latest(region: str, name: str, since: float) -> float | None:
        now = int(time.time())
        start = max(now - 180, math.ceil(since / MINUTE) * MINUTE)
        ids = [s.id for s in metrics.series(region, "AWS/Kafka", "KafkaDataLogsDiskUsed", since=start)
               if s.dims == {"Cluster Name": name}]
        points = metrics.points(ids, MINUTE, start, now + MINUTE) if ids else []
        return max(points, key=lambda p: p[0])[1].max if points else None
    return latest


class StorageAutoScaler:
    """A background service (plane.background_services): every interval, each kafka storage target
    with a target-tracking policy whose cluster is fuller than the target value grows one step."""

    def __init__(self, scaling: ScalingStore, utilization: Callable[[str, str], float | None],
                 clusters: Callable[[], list[dict]], grow: Callable[[dict, int], str],
                 interval: float | None = None) -> None:
        self.scaling = scaling
        self.utilization = utilization      # (region, cluster name, since) -> KafkaDataLogsDiskUsed or None
        self.clusters = clusters
        self.grow = grow                    # (cluster doc, new size GiB) -> operation arn; raises if refused
        self.interval = interval or autoscaling_interval()
        self._task: asyncio.Task | None = None
        # cluster arn -> (volume size, when this loop first saw it ACTIVE at that size): only metric
        # periods that start after a growth settled count, so one full volume is not grown twice.
        self._settled: dict[str, tuple[int, float]] = {}

    async def start(self, plane) -> None:
        self._task = asyncio.create_task(self._run(), name="storage auto scaling")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.evaluate()
            except Exception:
                log.exception("storage auto scaling pass failed")

    def evaluate(self) -> list[str]:
        """One pass; returns the operation arns started."""
        started = []
        by_arn = {c["ClusterArn"]: c for c in self.clusters()}
        for target in self.scaling.targets():
            cluster = by_arn.get(target["ResourceId"])
            if target["ScalableDimension"] != DIMENSION or cluster is None or cluster["State"] != model.ACTIVE:
                continue
            if (target.get("SuspendedState") or {}).get("DynamicScalingOutSuspended"):
                continue
            region = target["ScalableTargetARN"].split(":")[3]
            key = target_key(region, target["ResourceId"], DIMENSION)
            policies = [p for p in self.scaling.policies(region, key) if p["PolicyType"] == "TargetTrackingScaling"]
            current = int(cluster["VolumeSize"])
            size_seen, settled = self._settled.get(cluster["ClusterArn"], (None, 0.0))
            if size_seen != current:
                last = cluster.get("LastStorageUpdateTime")
                settled = time.time() if last else 0.0
                self._settled[cluster["ClusterArn"]] = (current, settled)
            used = self.utilization(region, cluster["ClusterName"], settled)
            if not policies or used is None:
                continue
            goal = min(p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] for p in policies)
            size = next_size(current, int(target["MaxCapacity"]))
            if used <= goal or size <= current:
                continue
            try:
                started.append(self.grow(cluster, size))
                log.info("cluster %s: storage %.1f%% used > target %.0f%%: growing %d -> %d GiB",
                         cluster["ClusterName"], used, goal, current, size)
            except Exception as exc:       # cool-down, an operation running: the next pass tries again
                log.info("cluster %s: storage auto scaling waits: %s", cluster["ClusterName"], exc)
        return started
