"""AlarmEvaluator: the ControlPlane background service that evaluates every alarm.

A pass every `interval` seconds (60, or the collection interval when shorter) evaluates metric
alarms, then composite alarms over the new states (parents after children), saves and notifies
through the AlarmBackend, and reconciles the default alarms of clusters. High-resolution alarms
(Period < 60) are also evaluated every 10 s between the passes, as CloudWatch evaluates them.
A pass reads SQLite on the event loop and yields to it every 50 alarms (1,000 alarms cost about
0.6 s of CPU per pass, measured in bench/alarms.py); notification only enqueues deliveries, so a dead
endpoint never slows a pass. Series lookups are cached for the length of a pass. Actions a mute rule
held back run on the first pass after the rule stops muting (mute_rules.py).
"""
from __future__ import annotations

import asyncio
import logging
import time

from . import defaults, rules
from .evaluation import evaluate, evaluate_composite, period_of
from .query import SeriesCache

log = logging.getLogger(__name__)

HIGH_RES_TICK = 10.0
CHUNK = 50
STATE_FIELDS = ("StateValue", "StateReason", "StateReasonData", "StateUpdatedTimestamp", "StateTransitionedTimestamp",
                "History", "TriggeringChildren")


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
                for _ in self._pass(high_resolution_only=not full):
                    await asyncio.sleep(0)                        # let API requests in between chunks
            except Exception:
                log.exception("alarm evaluation failed")

    def reconcile_defaults(self) -> int:
        if self.clusters is None:
            return 0
        return defaults.reconcile(self.alarms, self.metrics, self.clusters, self.alarms.notifier)

    def evaluate_all(self, *, high_resolution_only: bool = False, now: float | None = None) -> int:
        """One pass, start to end; returns the number of transitions."""
        result = [0]
        for _ in self._pass(high_resolution_only=high_resolution_only, now=now, result=result):
            pass
        return result[0]

    def _save(self, doc: dict) -> None:
        """Save an evaluated state onto the alarm as it is now: an API call made while the pass yielded
        (Enable/DisableAlarmActions, tags) is kept; a reconfigured or deleted alarm is left alone."""
        current = self.alarms.get(doc["AlarmArn"])
        if current is None or current.get("AlarmConfigurationUpdatedTimestamp") != doc.get(
                "AlarmConfigurationUpdatedTimestamp"):
            return
        for key in STATE_FIELDS:
            if key in doc:
                current[key] = doc[key]
        self.alarms.commit(current)
        doc.update(current)

    def _release(self, doc: dict) -> None:
        if self.alarms.muted_by(doc) is not None:
            return
        current = self.alarms.get(doc["AlarmArn"])
        if current is not None and self.alarms.held_back(current):
            self.alarms.commit(current)
            doc.update(current)
            log.info("alarm %s: actions for %s run after a mute", doc["AlarmName"], doc["StateValue"])

    def _pass(self, *, high_resolution_only: bool = False, now: float | None = None, result=None):
        """Generator: evaluates every alarm, yielding after each CHUNK so the event loop stays responsive."""
        if high_resolution_only and not self.alarms.high_resolution:
            return                                # no alarm with a Period under 60 s: nothing to do
        self.passes += 1
        changed = 0
        docs = self.alarms.list()
        if not high_resolution_only:
            self.alarms.high_resolution = any(period_of(d) < 60 for d in docs if d.get("AlarmRule") is None)
        composites = [d for d in docs if d.get("AlarmRule") is not None]
        metrics = SeriesCache(self.metrics)
        for i, doc in enumerate(docs, 1):
            if i % CHUNK == 0:
                yield
            if self.alarms.held_back(doc):
                self._release(doc)                 # actions held back by a mute rule that has ended
            if doc.get("AlarmRule") is not None or (high_resolution_only and period_of(doc) >= 60):
                continue
            try:
                if evaluate(metrics, doc, now):
                    self._save(doc)
                    changed += 1
                    log.info("alarm %s -> %s", doc["AlarmName"], doc["StateValue"])
            except Exception:
                log.exception("alarm %s could not be evaluated", doc.get("AlarmName"))
        if composites:
            changed += self._composites(docs, composites)
        if result is not None:
            result[0] = changed

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
                        self._save(doc)
                        moved += 1
                        log.info("composite alarm %s -> %s", doc["AlarmName"], doc["StateValue"])
                except rules.RuleError:
                    log.warning("composite alarm %s has an invalid rule", doc["AlarmName"])
            changed += moved
            if not moved:
                break
        return changed
