"""BrokerRoller: restart brokers one at a time without hurting availability (after Strimzi's
KafkaRoller and KafkaAvailability).

For each broker that needs a restart — the active controller last, so leadership moves once:
  1. wait until restarting it cannot take a partition below `min.insync.replicas`: every partition
     with a replica on the broker either has it out of the ISR already, or keeps >= min ISR without it;
  2. restart it gracefully (SIGTERM -> controlled shutdown moves leadership away first);
  3. wait until it is registered again and every partition is fully in sync before the next one.
Errors are typed: `RollTimeout` (the cluster did not get healthy in time; the caller retries later).
"""
from __future__ import annotations

import asyncio
import logging
import time

log = logging.getLogger(__name__)

AVAILABILITY_TIMEOUT = 300.0
READY_TIMEOUT = 240.0
IN_SYNC_TIMEOUT = 300.0
SHUTDOWN_GRACE = 120.0


class RollTimeout(Exception):
    pass


class BrokerRoller:
    def __init__(self, placement, min_insync_replicas: int, on_progress=None) -> None:
        self.placement = placement
        self.min_isr = min_insync_replicas
        self.on_progress = on_progress or (lambda message: None)

    async def roll(self, brokers: list, specs: dict) -> None:
        """Restart `brokers` (BrokerProcess objects; all brokers of the cluster are needed to observe
        it) whose name is a key of `specs` (name -> new NodeSpec)."""
        to_roll = [b for b in brokers if b.name in specs]
        meta = await self._metadata(brokers)
        controller = meta.controller_id if meta else -1
        to_roll.sort(key=lambda b: (b.config.broker_id == controller, b.config.broker_id))
        for broker in to_roll:
            await self._wait(lambda: self._can_roll(broker, brokers), AVAILABILITY_TIMEOUT,
                             f"broker {broker.config.broker_id} could be restarted without going below min ISR")
            self.on_progress(f"restarting broker {broker.config.broker_id}")
            await self.placement.replace(specs[broker.name], grace=SHUTDOWN_GRACE)
            await self._wait(broker.ready, READY_TIMEOUT, f"broker {broker.config.broker_id} ready")
            await self._wait(lambda: self._fully_in_sync(brokers), IN_SYNC_TIMEOUT, "all partitions in sync")
            self.on_progress(f"broker {broker.config.broker_id} restarted and in sync")

    async def _metadata(self, brokers: list):
        for other in brokers:
            meta = await other.metadata(all_topics=True)
            if meta is not None:
                return meta
        return None

    async def _can_roll(self, broker, brokers: list) -> bool:
        meta = await self._metadata([b for b in brokers if b is not broker] + [broker])
        if meta is None:
            return False
        broker_id = broker.config.broker_id
        for p in meta.partitions or []:
            if broker_id not in p.replicas:
                continue
            min_isr = min(self.min_isr, len(p.replicas))
            if broker_id in p.isr and len(p.isr) - 1 < min_isr and len(p.replicas) > 1:
                return False
        return True

    async def _fully_in_sync(self, brokers: list) -> bool:
        meta = await self._metadata(brokers)
        return meta is not None and all(set(p.isr) == set(p.replicas) for p in meta.partitions or [])

    @staticmethod
    async def _wait(predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not await predicate():
            if time.monotonic() > deadline:
                raise RollTimeout(f"timed out after {timeout:.0f}s waiting until {what}")
            await asyncio.sleep(0.5)
