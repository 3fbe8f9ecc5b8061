"""BrokerRoller's choice of the next broker, on a simulated cluster (no processes): the state a control
plane finds when the previous one died right after the SIGTERM of a broker's controlled shutdown. That
broker still runs on its old spec, out of every ISR, and exits a moment later; the roll must start it
first rather than wait for another broker's turn that cannot come while it is down. (The whole story
on real processes: test_resume_roll.py; this moment is too short to hit there on purpose.)"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from openmsk.control import roller
from openmsk.control.roller import BrokerRoller, ZooKeeperRoller


@dataclass
class Partition:
    topic: str
    replicas: list[int]
    isr: list[int]


@dataclass
class SimulatedCluster:
    running: dict[int, bool] = field(default_factory=lambda: {1: True, 2: True, 3: True})
    partitions: list[Partition] = field(default_factory=list)
    exits_after_polls: dict[int, int] = field(default_factory=dict)   # broker -> metadata polls until it exits
    restarts: list[int] = field(default_factory=list)
    down_at_restart: list[list[int]] = field(default_factory=list)   # other brokers down at each restart
    stopping: set[int] = field(default_factory=set)      # sent a stop (the placement's record), not started since
    restart_polls: int = 0                               # polls a restarted node stays down (0: back at once)
    back_after_polls: dict[int, int] = field(default_factory=dict)
    most_down: int = 0                                   # the most nodes down at any poll

    def poll(self) -> None:
        for broker_id, left in list(self.exits_after_polls.items()):
            if left <= 0:
                self.running[broker_id] = False
                del self.exits_after_polls[broker_id]
            else:
                self.exits_after_polls[broker_id] = left - 1
        for node_id, left in list(self.back_after_polls.items()):
            if left <= 0:
                self.running[node_id] = True
                del self.back_after_polls[node_id]
            else:
                self.back_after_polls[node_id] = left - 1
        self.most_down = max(self.most_down, sum(1 for up in self.running.values() if not up))


class SimulatedBroker:
    def __init__(self, cluster: SimulatedCluster, broker_id: int) -> None:
        self.cluster, self.config = cluster, SimpleNamespace(broker_id=broker_id)
        self.name = f"c/broker-{broker_id}"
        self.workdir = Path("/nonexistent")

    async def metadata(self, all_topics: bool = False):
        self.cluster.poll()
        if not self.cluster.running[self.config.broker_id]:
            return None
        return SimpleNamespace(controller_id=3, broker_ids=[b for b, up in self.cluster.running.items() if up],
                               partitions=self.cluster.partitions)

    async def ready(self) -> bool:
        meta = await self.metadata()
        return meta is not None

    def failure_reason(self) -> list[str]:
        return []


class SimulatedPlacement:
    def __init__(self, cluster: SimulatedCluster) -> None:
        self.cluster = cluster

    async def observe(self, name: str):
        node_id = int(name.rsplit("-", 1)[1])
        running = self.cluster.running[node_id] or node_id in self.cluster.back_after_polls   # restarting: runs, not ready
        return SimpleNamespace(running=running, exit_code=0, stopping=running and node_id in self.cluster.stopping)

    async def replace(self, spec: str, *, grace: float) -> None:
        broker_id = int(spec.rsplit("-", 1)[1])
        self.cluster.down_at_restart.append([b for b, up in self.cluster.running.items() if not up and b != broker_id])
        self.cluster.restarts.append(broker_id)
        self.cluster.exits_after_polls.pop(broker_id, None)      # the stop waits for its exit
        self.cluster.stopping.discard(broker_id)                 # the start clears the record
        if self.cluster.restart_polls:
            self.cluster.running[broker_id] = False
            self.cluster.back_after_polls[broker_id] = self.cluster.restart_polls
            self.cluster.poll()
            return
        self.cluster.running[broker_id] = True
        for p in self.cluster.partitions:        # caught up at once
            p.isr = sorted(set(p.isr) | {broker_id})


def test_roll_starts_the_broker_a_dead_control_plane_was_stopping_first(monkeypatch):
    monkeypatch.setattr(roller, "AVAILABILITY_TIMEOUT", 20.0)
    cluster = SimulatedCluster(
        # broker 2's controlled shutdown took it out of every ISR; it exits after a few polls
        partitions=[Partition("t", [1, 2, 3], [1, 3]), Partition("t", [2, 3, 1], [3, 1])],
        exits_after_polls={2: 6})
    brokers = [SimulatedBroker(cluster, i) for i in (1, 2, 3)]
    rolling = BrokerRoller(SimulatedPlacement(cluster), default_min_isr=2)
    asyncio.run(rolling.roll(brokers, {b.name: b.name for b in brokers}))
    # broker 2 first (it serves nothing), the controller (3) last; never a restart with another broker down
    assert cluster.restarts == [2, 1, 3]
    assert cluster.down_at_restart == [[], [], []]


class SimulatedQuorumNode:
    """A ZooKeeper node (or KRaft controller) of `cluster`: serving while running, once `warming` (its
    polls left before it serves, e.g. still catching up after its own restart) is used up."""

    def __init__(self, cluster: SimulatedCluster, node_id: int, warming: int = 0) -> None:
        self.cluster, self.name = cluster, f"c/zookeeper-{node_id}"
        self.node_id, self.warming = node_id, warming
        self.workdir = Path("/nonexistent")

    async def mode(self):
        self.cluster.poll()
        if self.warming > 0:
            self.warming -= 1
            return None
        return "follower" if self.cluster.running[self.node_id] else None

    async def ready(self) -> bool:
        return await self.mode() is not None

    def failure_reason(self) -> list[str]:
        return []


def test_quorum_roll_starts_the_node_a_dead_control_plane_was_stopping_first(monkeypatch):
    monkeypatch.setattr(roller, "AVAILABILITY_TIMEOUT", 20.0)
    # Node 3 already runs its new spec but does not serve yet; node 2 got its SIGTERM and exits shortly.
    cluster = SimulatedCluster(exits_after_polls={2: 4})
    nodes = [SimulatedQuorumNode(cluster, 1), SimulatedQuorumNode(cluster, 2), SimulatedQuorumNode(cluster, 3, 12)]
    asyncio.run(ZooKeeperRoller(SimulatedPlacement(cluster)).roll(nodes, {n.name: n.name for n in nodes[:2]}))
    assert cluster.restarts == [2, 1]               # the stopped one first, once the others serve
    assert cluster.down_at_restart == [[], []]      # the quorum kept a majority throughout


def test_quorum_roll_restarts_a_stopping_node_that_still_serves_first(monkeypatch):
    """The gap of docs/operations.md: the previous control plane died right after it sent node 2 its
    SIGTERM. Node 2 still answers as a follower (a KRaft controller's shutdown takes seconds) when the
    next control plane's roll chooses; only the placement's record says it is stopping. Counted as
    serving, the roll restarted node 1 while node 2 exited: two of three down, quorum lost."""
    monkeypatch.setattr(roller, "AVAILABILITY_TIMEOUT", 20.0)
    cluster = SimulatedCluster(exits_after_polls={2: 8}, stopping={2}, restart_polls=12)
    nodes = [SimulatedQuorumNode(cluster, i) for i in (1, 2, 3)]
    asyncio.run(ZooKeeperRoller(SimulatedPlacement(cluster)).roll(nodes, {n.name: n.name for n in nodes[:2]}))
    assert cluster.restarts == [2, 1]               # the stopping one first, though it still answered
    assert cluster.down_at_restart == [[], []]
    assert cluster.most_down == 1                   # never two quorum nodes down at once


def test_broker_roll_restarts_a_stopping_broker_first_even_before_it_leaves_the_isr(monkeypatch):
    """The same moment for brokers, earlier: the SIGTERM was just sent, the controlled shutdown has not
    moved anything yet (every ISR full). The min-ISR rule alone would let broker 1 go first."""
    monkeypatch.setattr(roller, "AVAILABILITY_TIMEOUT", 20.0)
    cluster = SimulatedCluster(partitions=[Partition("t", [1, 2, 3], [1, 2, 3])], exits_after_polls={2: 8},
                               stopping={2}, restart_polls=12)
    brokers = [SimulatedBroker(cluster, i) for i in (1, 2, 3)]
    rolling = BrokerRoller(SimulatedPlacement(cluster), default_min_isr=2)
    asyncio.run(rolling.roll(brokers, {b.name: b.name for b in brokers}))
    assert cluster.restarts == [2, 1, 3]
    assert cluster.most_down == 1
