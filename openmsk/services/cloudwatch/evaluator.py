"""AlarmEvaluator: the ControlPlane background service that evaluates every alarm.

A pass every `interval` seconds (60, or the collection interval when shorter) evaluates metric
alarms, then composite alarms over the new states (parents after children), saves and notifies
through the AlarmBackend, and reconciles the default alarms of clusters. High-resolution alarms
(Period < 60) are also evaluated every 10 s between the passes, as CloudWatch evaluates them.
Evaluation is synchronous SQLite reads; notification only enqueues deliveries, so a dead endpoint
never slows a pass.
"""
from __future__ import annotations

import asyncio
import logging
import time

from . import defaults, rules
from .evaluation import evaluate, evaluate_composite, period_of

log = logging.getLogger(__name__)

HIGH_RES_TICK = 10.0


class AlarmEvaluator:
    def __init__(self, metrics, alarms, interval: float = 60.0, *, clusters: defaults.Clusters | None = None) -> None:
        self.metrics = metrics
        self.alarms = alarms
        self.interval = interval
        self.clusters = clusters
        self.passes = 0
        self._task: asyncio.Task | None = None

    async def start(self, plane=None) -> None:
        self._task = asyncio.create_task(self._run(), name="alarm evaluator")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        last_full = 0.0
        while True:
            tick = min(self.interval, HIGH_RES_TICK)
            await asyncio.sleep(tick - time.time() % tick)         # on the tick, like CloudWatch's schedule
            full = time.monotonic() - last_full >= self.interval - 0.5
            try:
                if full:
                    last_full = time.monotonic()
                    self.reconcile_defaults()
                self.evaluate_all(high_resolution_only=not full)
            except Exception:
                log.exception("alarm evaluation failed")

    def reconcile_defaults(self) -> int:
        if self.clusters is None:
            return 0
        return defaults.reconcile(self.alarms, self.metrics, self.clusters, self.alarms.notifier)

    def evaluate_all(self, *, high_resolution_only: bool = False, now: float | None = None) -> int:
        """One pass; returns the number of transitions."""
        self.passes += 1
        changed = 0
        docs = self.alarms.list()
        composites = [d for d in docs if d.get("AlarmRule") is not None]
        for doc in docs:
            if doc.get("AlarmRule") is not None or (high_resolution_only and period_of(doc) >= 60):
                continue
            try:
                if evaluate(self.metrics, doc, now):
                    self.alarms.commit(doc)
                    changed += 1
                    log.info("alarm %s -> %s", doc["AlarmName"], doc["StateValue"])
            except Exception:
                log.exception("alarm %s could not be evaluated", doc.get("AlarmName"))
        if composites:
            changed += self._composites(docs, composites)
        return changed

    def _composites(self, docs: list[dict], composites: list[dict]) -> int:
        by_region: dict[str, dict[str, dict]] = {}
        for d in docs:
            by_region.setdefault(d["Region"], {})[d["AlarmName"]] = d
        changed = 0
        for _ in range(len(composites)):           # until stable: composites of composites settle in depth passes
            moved = 0
            for doc in composites:
                peers = by_region[doc["Region"]]
                try:
                    if evaluate_composite(doc, {n: a["StateValue"] for n, a in peers.items()},
                                          {n: a["AlarmArn"] for n, a in peers.items()}):
                        self.alarms.commit(doc)
                        moved += 1
                        log.info("composite alarm %s -> %s", doc["AlarmName"], doc["StateValue"])
                except rules.RuleError:
                    log.warning("composite alarm %s has an invalid rule", doc["AlarmName"])
            changed += moved
            if not moved:
                break
        return changed
