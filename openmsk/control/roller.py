"""Rolling restarts without hurting availability (after Strimzi's KafkaRoller and KafkaAvailability).

BrokerRoller, for each broker whose running spec differs from its desired one — unready brokers
first (they serve nothing), the active controller last (leadership moves once):
  1. wait until restarting it cannot take a partition below its topic's own `min.insync.replicas`
     (per-topic overrides count; read with DescribeConfigs): every partition with a replica on the
     broker either has it out of the ISR already, or keeps >= min ISR without it (the broker is chosen
     again on each poll: one that stops serving meanwhile goes first, it is what the others wait for);
  2. restart it gracefully (SIGTERM -> controlled shutdown moves leadership away first);
  3. wait until it is registered again, then until every partition is fully in sync.
ZooKeeperRoller: one node at a time, the leader last, each only while every other node serves (the
ensemble keeps its quorum), and the next only once the restarted node serves again.
Both count a node the placement reports stopping (NodeStatus.stopping: a stop was sent, by a control
plane that may have died since, and the process has not exited yet) as not serving, however it answers.

Errors are typed. `RollRetryable`: the cluster was not healthy enough to restart the next node in
time (nothing is broken; the caller tries again later). `RollFatal`: a node did not come back (its
process exited on each of START_ATTEMPTS starts, or never got ready); the reason is the node's own
error, and the caller reports it. A start that failed only because the host is loaded (a broker
that missed its ZooKeeper connection timeout) does not use up START_ATTEMPTS (healing.py). A restarted
node that runs but is stuck (a KRaft controller whose registration Kafka will never resend) is
restarted again, up to STUCK_RESTARTS times, instead of being waited for until READY_TIMEOUT.
"""
from __future__ import annotations

import asyncio
import logging
import time

from .healing import StartAttempts

log = logging.getLogger(__name__)

AVAILABILITY_TIMEOUT = 300.0
READY_TIMEOUT = 420.0          # running but not ready (an exit is seen at once): see reconciler.py
IN_SYNC_TIMEOUT = 300.0
SHUTDOWN_GRACE = 120.0
ZOOKEEPER_GRACE = 30.0
TOPIC_CONFIG_REFRESH = 30.0
START_ATTEMPTS = 3
START_RETRY_DELAY = 5.0
STUCK_RESTARTS = 3             # restarts of a node that runs but cannot become ready (kraft.py: registration)
STUCK_CHECK_INTERVAL = 5.0     # reading a node's log for that is not free: not on every readiness poll


class RollError(Exception):
    retryable = True
    code = "ROLLING_UPDATE_FAILED"


class RollRetryable(RollError):
    """The cluster was not healthy enough to go on; retry later."""


class RollFatal(RollError):
    """A restarted node did not come back; retrying helps only once its fault is gone."""
    retryable = False


def _short(node) -> str:
    return node.name.split("/")[-1]


def stuck_reason(node, status) -> str | None:
    """Why the node, running as `status` says, cannot become ready without a restart (KRaft
    controllers: a registration Kafka never resends), else None. Other node kinds are never stuck
    that way, and neither is a node that does not run."""
    stuck = getattr(node, "stuck", None)
    if stuck is None or not status.running:
        return None
    return stuck(since=status.started_at)


def _why(status) -> str:
    if status.stopping:
        return "stopping: a control plane sent it a stop and did not start it again"
    return "spec changed" if status.running else "not running"


async def serving(placement, node) -> bool:
    """The node answers as ready and its process is not on its way out: one the placement reports
    stopping (a control plane that died right after sending it SIGTERM) still answers for a moment,
    under a second for ZooKeeper, seconds for a KRaft controller, and must not count as serving."""
    if (await placement.observe(node.name)).stopping:
        return False
    return await node.ready()


async def _wait(predicate, timeout: float, what: str, error=RollRetryable) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise error(f"timed out after {timeout:.0f}s waiting until {what}")
        await asyncio.sleep(0.5)


async def _wait_back(placement, node, spec, timeout: float, attempts: StartAttempts) -> None:
    """Completes when the restarted node is ready. A start that fails is retried: START_ATTEMPTS
    starts for a failure of the node's own, and more for one a loaded host causes (healing.py: a broker
    that missed its ZooKeeper connection timeout); RollFatal once they are used up, with the node's
    own reason."""
    deadline = time.monotonic() + timeout
    unstuck, next_stuck_check = 0, 0.0
    while not await node.ready():
        status = await placement.observe(node.name)
        reason = None
        if time.monotonic() >= next_stuck_check:
            next_stuck_check = time.monotonic() + STUCK_CHECK_INTERVAL
            reason = stuck_reason(node, status)
        if reason and unstuck < STUCK_RESTARTS:
            unstuck += 1
            log.warning("%s is stuck after its restart (%s); restarting it again (%d)", node.name, reason, unstuck)
            await placement.replace(spec, grace=ZOOKEEPER_GRACE)
            deadline = time.monotonic() + timeout
            continue
        if not status.running:
            if attempts.failed(status.exit_code):
                log.info("%s exited after its restart (code %s: %s); starting it again (attempt %d)",
                         node.name, status.exit_code, attempts.last, attempts.count + 1)
                await asyncio.sleep(START_RETRY_DELAY)
                await placement.apply(spec)
                deadline = time.monotonic() + timeout
                continue
            raise RollFatal(f"{_short(node)} did not come back after its restart {attempts.summary()}")
        if time.monotonic() > deadline:
            raise RollFatal(f"{_short(node)} not ready {timeout:.0f}s after its restart")
        await asyncio.sleep(0.5)


class BrokerRoller:
    def __init__(self, placement, default_min_isr: int, topic_min_isr=None, on_progress=None) -> None:
        """`topic_min_isr`: coroutine function -> {topic: effective min.insync.replicas}."""
        self.placement = placement
        self.default_min_isr = default_min_isr
        self.topic_min_isr = topic_min_isr
        self.on_progress = on_progress or (lambda message: None)
        self._topic_config: dict[str, int] | None = None
        self._topic_config_at = 0.0
        self.restarted: list[str] = []          # nodes this roll brought back on their new spec

    async def roll(self, brokers: list, specs: dict) -> None:
        """Restart those of `brokers` (all BrokerProcess objects of the cluster, needed to observe it)
        whose name is a key of `specs` (name -> new NodeSpec)."""
        remaining = [b for b in brokers if b.name in specs]
        while remaining:
            broker = await self._next_restartable(remaining, brokers)
            remaining.remove(broker)
            status = await self.placement.observe(broker.name)
            self.on_progress(f"{'restarting' if status.running else 'starting'} broker {broker.config.broker_id} "
                             f"({_why(status)})")
            await self.placement.replace(specs[broker.name], grace=SHUTDOWN_GRACE)
            attempts = StartAttempts(broker, START_ATTEMPTS)      # after the stop: its errors are not the start's
            await _wait_back(self.placement, broker, specs[broker.name], READY_TIMEOUT, attempts)
            self.restarted.append(broker.name)
            await _wait(lambda: self._fully_in_sync(brokers), IN_SYNC_TIMEOUT, "all partitions in sync")
            self.on_progress(f"broker {broker.config.broker_id} restarted and in sync")

    async def _next_restartable(self, remaining: list, brokers: list):
        """The next broker to restart, once restarting it takes no partition below its min.insync.replicas.
        Chosen again on every poll, not once: a broker of `remaining` that stops serving while another
        waits for its turn is restarted first instead of being waited for. That happens when the control
        plane died during a roll after the SIGTERM of a broker's controlled shutdown: the next control
        plane finds it still running (on its old spec), and it exits while the roll waits for the ISR it
        took away; waiting for another broker's turn then waited for nothing (AVAILABILITY_TIMEOUT, then
        UPDATE_FAILED), with that broker down."""
        deadline = time.monotonic() + AVAILABILITY_TIMEOUT
        while True:
            broker = await self._next(remaining, brokers)
            if not await serving(self.placement, broker) or await self._can_roll(broker, brokers):
                return broker
            if time.monotonic() > deadline:
                raise RollRetryable(f"timed out after {AVAILABILITY_TIMEOUT:.0f}s waiting until broker "
                                    f"{broker.config.broker_id} could be restarted without taking a partition "
                                    f"below its min.insync.replicas")
            await asyncio.sleep(0.5)

    async def _next(self, remaining: list, brokers: list):
        meta = await self._metadata(brokers)
        controller = meta.controller_id if meta else -1
        ready = {b.name: await serving(self.placement, b) for b in remaining}
        return min(remaining, key=lambda b: (ready[b.name], b.config.broker_id == controller, b.config.broker_id))

    async def _metadata(self, brokers: list):
        for other in brokers:
            meta = await other.metadata(all_topics=True)
            if meta is not None:
                return meta
        return None

    async def _topic_configs(self) -> dict[str, int] | None:
        if self.topic_min_isr is None:
            return {}
        if self._topic_config is None or time.monotonic() - self._topic_config_at > TOPIC_CONFIG_REFRESH:
            try:
                self._topic_config = await self.topic_min_isr()
                self._topic_config_at = time.monotonic()
            except Exception as exc:       # brokers busy: no answer means no restart yet
                log.info("topic configs not readable yet: %s", exc)
                return None
        return self._topic_config

    async def _can_roll(self, broker, brokers: list) -> bool:
        meta = await self._metadata([b for b in brokers if b is not broker] + [broker])
        topic_min_isr = await self._topic_configs()
        if meta is None or topic_min_isr is None:
            return False
        return can_restart(broker.config.broker_id, meta.partitions or [], topic_min_isr, self.default_min_isr)

    async def _fully_in_sync(self, brokers: list) -> bool:
        meta = await self._metadata(brokers)
        return meta is not None and all(set(p.isr) == set(p.replicas) for p in meta.partitions or [])


def can_restart(broker_id: int, partitions: list, topic_min_isr: dict[str, int], default_min_isr: int) -> bool:
    """KafkaAvailability's rule: no partition in whose ISR the broker is would drop below its topic's
    min.insync.replicas (capped at its replica count: a topic with RF 1 is never "available")."""
    for p in partitions:
        if broker_id not in p.replicas or broker_id not in p.isr or len(p.replicas) <= 1:
            continue
        min_isr = min(topic_min_isr.get(p.topic, default_min_isr), len(p.replicas))
        if len(p.isr) - 1 < min_isr:
            return False
    return True


class ZooKeeperRoller:
    def __init__(self, placement, on_progress=None) -> None:
        self.placement = placement
        self.on_progress = on_progress or (lambda message: None)
        self.restarted: list[str] = []

    async def roll(self, nodes: list, specs: dict) -> None:
        remaining = [n for n in nodes if n.name in specs]
        while remaining:
            node = await self._next_restartable(remaining, nodes)
            remaining.remove(node)
            self.on_progress(f"restarting {_short(node)} ({_why(await self.placement.observe(node.name))})")
            await self.placement.replace(specs[node.name], grace=ZOOKEEPER_GRACE)
            attempts = StartAttempts(node, START_ATTEMPTS)      # after the stop: its errors are not the start's
            await _wait_back(self.placement, node, specs[node.name], READY_TIMEOUT, attempts)
            self.restarted.append(node.name)
            self.on_progress(f"{_short(node)} restarted and serving")

    async def _next_restartable(self, remaining: list, nodes: list):
        """The next node to restart (one that does not serve first, the leader last), once every other
        node serves. Chosen again on every poll, as BrokerRoller's: a node of `remaining` that stops
        serving meanwhile is what the others wait for. A node the placement reports stopping (a previous
        control plane died right after its SIGTERM) does not serve even while it still answers: it is
        restarted first, and no other node before it (that would be two quorum nodes down at once)."""
        deadline = time.monotonic() + AVAILABILITY_TIMEOUT
        while True:
            modes = {n.name: await n.mode() for n in remaining}
            for n in remaining:
                if (await self.placement.observe(n.name)).stopping:
                    modes[n.name] = None
            node = min(remaining, key=lambda n: (modes[n.name] is not None, modes[n.name] == "leader", n.name))
            if all([await serving(self.placement, o) for o in nodes if o is not node]):
                return node
            if time.monotonic() > deadline:
                raise RollRetryable(f"timed out after {AVAILABILITY_TIMEOUT:.0f}s waiting until every ZooKeeper "
                                    f"node but {_short(node)} serves (quorum kept during its restart)")
            await asyncio.sleep(0.5)
