"""Partition rebalancing: move replicas onto new brokers after a scale-out and off leaving ones before a
scale-in, rack-aware, through Kafka's own reassignment API, throttled.

MSK gives this ("intelligent rebalancing", `UpdateRebalancing`) to Express brokers only; here every
cluster has it. The plan is computed from live metadata (`plan_moves`, pure): replicas on leaving
brokers go first, to the least-loaded broker of the same zone (or of a zone the partition does not
use yet), then single replicas move from the most- to the least-loaded broker until replica counts
differ by at most one, never putting two replicas of a partition in one zone when it had them apart;
finally each partition's preferred leader is chosen so leaderships spread evenly too.

It is executed by Kafka's `kafka-reassign-partitions` tool (ReassignPartitionsCommand: the
AlterPartitionReassignments API, with `leader/follower.replication.throttled.rate` set on the brokers
and the moving replicas listed as throttled) in a child JVM, like every admin call of the control
plane (a child process, never in the control plane itself). Progress is followed in metadata (a
partition is done when its replicas are exactly its target and all in sync), a broker that dies on the
way is restarted on its address and storage, then `--verify` removes the throttles and a preferred
leader election moves leadership onto the planned leaders. The plan and its progress are kept in the
cluster document (`Rebalance`) for `openmsk rebalance`.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import Counter
from pathlib import Path

from . import model
from .layout import broker_listeners

log = logging.getLogger(__name__)

#: Replication throttle while replicas move (bytes/s per broker, leader and follower side).
DEFAULT_THROTTLE = 50 * 1024 * 1024
REBALANCE_TIMEOUT = 1800.0
TOOL_TIMEOUT = 180.0
PROGRESS_INTERVAL = 2.0
EXECUTE_ATTEMPTS = 4
EXECUTE_RETRY_DELAY = 2.0
# What a reassignment tool run that may succeed when repeated says (a broker died or is not back yet).
RETRIABLE = ("Unknown broker", "TimeoutException", "NetworkException", "DisconnectException",
             "NotControllerException", "LeaderNotAvailableException", "did not finish within")
REASSIGN_TOOL = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"
ELECTION_TOOL = "org.apache.kafka.tools.LeaderElectionCommand"


def throttle_bytes() -> int:
    try:
        return max(1024, int(os.environ.get("OPENMSK_REBALANCE_THROTTLE_BYTES", DEFAULT_THROTTLE)))
    except ValueError:
        return DEFAULT_THROTTLE


class RebalanceFailed(Exception):
    pass


# -- the plan (pure) ----------------------------------------------------------------------------
def plan_moves(partitions: list[tuple[str, int, list[int]]], racks: dict[int, str],
               leaving: set[int] = frozenset()) -> dict[tuple[str, int], list[int]]:
    """(topic, partition) -> new replica list, for the partitions whose list changes.

    `partitions`: (topic, partition, replicas) from metadata; `racks`: broker id -> zone of every
    broker of the cluster; `leaving`: brokers that must end up with no replica."""
    eligible = sorted(b for b in racks if b not in leaving)
    if not eligible:
        return {}
    target = {(t, p): list(r) for t, p, r in partitions}
    load = Counter({b: 0 for b in eligible})
    for replicas in target.values():
        load.update(b for b in replicas if b in load)

    def zone_ok(replicas: list[int], old: int, new: int) -> bool:
        others = {racks.get(b) for b in replicas if b != old}
        return racks.get(new) == racks.get(old) or racks.get(new) not in others

    # 1. Leaving brokers give up every replica (mandatory; a zone-keeping choice first).
    for key in sorted(target):
        replicas = target[key]
        for i, broker in enumerate(replicas):
            if broker not in leaving:
                continue
            free = [b for b in eligible if b not in replicas]
            if not free:
                continue
            best = min(free, key=lambda b: (not zone_ok(replicas, broker, b), racks.get(b) != racks.get(broker),
                                            load[b], b))
            replicas[i] = best
            load[best] += 1
    # 2. Even out each topic's replicas over the brokers (a topic's load follows its partitions), then
    #    the totals, one replica at a time, keeping zones apart; a move never makes a topic less even.
    per_topic: dict[str, Counter] = {}
    for (topic, _), replicas in target.items():
        per_topic.setdefault(topic, Counter({b: 0 for b in eligible})).update(b for b in replicas if b in load)

    def move(key, hi: int, lo: int) -> None:
        replicas = target[key]
        replicas[replicas.index(hi)] = lo
        load[hi] -= 1
        load[lo] += 1
        per_topic[key[0]][hi] -= 1
        per_topic[key[0]][lo] += 1

    def one_move(keys, counts, hi_first) -> bool:
        order = sorted(eligible, key=lambda b: (counts[b], load[b], b))
        for hi in sorted(eligible, key=hi_first, reverse=True):
            for lo in order:
                if counts[hi] - counts[lo] <= 1:
                    break
                for key in keys:
                    replicas = target[key]
                    if hi in replicas and lo not in replicas and zone_ok(replicas, hi, lo) \
                            and per_topic[key[0]][hi] > per_topic[key[0]][lo]:
                        move(key, hi, lo)
                        return True
        return False

    for topic in sorted(per_topic):
        keys = [k for k in sorted(target) if k[0] == topic]
        counts = per_topic[topic]
        while one_move(keys, counts, lambda b: (counts[b], load[b], b)):
            pass
    keys = sorted(target)
    while one_move(keys, load, lambda b: (load[b], b)):
        pass
    # 3. Preferred leaders: each partition's first replica is the one leading the fewest partitions of its
    #    topic so far (then of the cluster).
    leaders = Counter({b: 0 for b in eligible})
    topic_leaders: dict[str, Counter] = {}
    for key in sorted(target):
        replicas = target[key]
        mine = topic_leaders.setdefault(key[0], Counter())
        first = min(replicas, key=lambda b: (b not in leaders, mine[b], leaders[b], replicas.index(b)))
        replicas.remove(first)
        replicas.insert(0, first)
        leaders[first] += 1
        mine[first] += 1
    current = {(t, p): list(r) for t, p, r in partitions}
    return {key: replicas for key, replicas in sorted(target.items()) if replicas != current[key]}


def partitions_on(partitions: list[tuple[str, int, list[int]]], brokers: set[int]) -> dict[int, list[str]]:
    """broker -> ["topic-partition", ...] of the replicas it holds, for the given brokers."""
    out: dict[int, list[str]] = {b: [] for b in brokers}
    for topic, partition, replicas in partitions:
        for b in replicas:
            if b in out:
                out[b].append(f"{topic}-{partition}")
    return out


def replica_counts(partitions: list[tuple[str, int, list[int]]]) -> dict[int, int]:
    return dict(Counter(b for _, _, replicas in partitions for b in replicas))


# -- running it ----------------------------------------------------------------------------------
def tool_client_config(plane, cluster: dict) -> Path:
    """A Java client config for the Kafka tools: the replication listener with the control plane's
    own certificate (a super user) when that listener is TLS."""
    _, inter = broker_listeners(cluster)
    lines = []
    if inter == "REPLICATION_SECURE":
        # The control plane's client certificate (key + certificate, PKCS#8 PEM: a Kafka PEM keystore),
        # written when the plane built its probe context (ControlPlane.probe_ssl_context).
        keystore = Path(plane.data_dir) / "pki" / "control-plane-client.pem"
        lines = ["security.protocol=SSL", "ssl.keystore.type=PEM", f"ssl.keystore.location={keystore}",
                 "ssl.truststore.type=PEM", f"ssl.truststore.location={plane.ca.cert_path}"]
    path = plane.cluster_dir(cluster) / "admin-tools.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


async def run_tool(plane, cluster: dict, main_class: str, args: list[str], timeout: float = TOOL_TIMEOUT) -> str:
    """Run a Kafka tool in a child JVM against the cluster's replication listener; its stdout."""
    bootstrap = ",".join(f"{b['Address']}:9093" for b in cluster["Brokers"] if not b.get("Leaving"))
    cmd = plane.distribution.java_command(
        main_class, ["--bootstrap-server", bootstrap, *args], heap=["-Xmx256m"], jvm_opts=["-XX:+UseSerialGC"],
        log4j_config=None, logs_dir=None)
    cmd.insert(1, "-Dlog4j.configuration=file:/dev/null")
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise RebalanceFailed(f"{main_class.rsplit('.', 1)[-1]} did not finish within {timeout:.0f}s")
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        lines = [l for l in (text + err.decode(errors="replace")).splitlines()
                 if l.strip() and not l.startswith(("log4j:", "\t", "SLF4J"))]
        reason = next((l for l in lines if l.startswith("Error")), lines[-1] if lines else f"exit {proc.returncode}")
        raise RebalanceFailed(f"{main_class.rsplit('.', 1)[-1]} failed: {reason}")
    return text


def _split(name: str) -> tuple[str, int]:
    topic, partition = name.rsplit("-", 1)
    return topic, int(partition)


def _as_tuples(meta) -> list[tuple[str, int, list[int]]]:
    return [(p.topic, p.partition, list(p.replicas)) for p in meta.partitions or []]


class Rebalancer:
    """One rebalance of one cluster, driven by the reconciler (`reconciler` gives metadata and heals)."""

    def __init__(self, reconciler, cluster: dict) -> None:
        self.reconciler, self.plane, self.cluster = reconciler, reconciler.plane, cluster

    def _brokers(self):
        return self.reconciler.configured_brokers(self.cluster, self.reconciler.layout(self.cluster))

    async def metadata(self):
        for broker in self._brokers():
            meta = await broker.metadata(all_topics=True)
            if meta is not None:
                return meta
        return None

    def _record(self, **fields) -> None:
        fresh = self.plane.load_cluster(self.cluster["ClusterArn"])
        if fresh is None:
            return
        record = fresh.setdefault("Rebalance", {})
        record.update(fields)
        self.plane.save_cluster(fresh)

    async def run(self, leaving: set[int], reason: str) -> int:
        """Completes when no replica is on a leaving broker and replica counts are even; the number of
        partitions moved."""
        meta = await self.metadata()
        if meta is None:
            raise RebalanceFailed("no broker answers metadata requests")
        racks = {b["BrokerId"]: b["ZoneId"] for b in self.cluster["Brokers"]}
        current = _as_tuples(meta)
        unfinished = (self.plane.load_cluster(self.cluster["ClusterArn"]) or {}).get("Rebalance") or {}
        if unfinished.get("State") == "RUNNING" and set(unfinished.get("Leaving") or []) == leaving:
            # The control plane stopped while replicas moved: metadata now shows the moving partitions
            # with old and new replicas together, so the recorded plan is carried on, not a new one.
            moves = {tuple(_split(m["Partition"])): m["To"] for m in unfinished.get("Moves") or []}
        else:
            moves = plan_moves(current, racks, leaving)
            before = {f"{t}-{p}": r for t, p, r in current}
            self.cluster["Rebalance"] = {}
            self._record(Reason=reason, State="RUNNING", StartTime=model.now_iso(), EndTime=None,
                         Throttle=throttle_bytes(), Leaving=sorted(leaving), Total=len(moves), Done=0, Error=None,
                         Moves=[{"Partition": f"{t}-{p}", "From": before[f"{t}-{p}"], "To": r}
                                for (t, p), r in moves.items()])
        if not moves:
            self._record(State="COMPLETE", EndTime=model.now_iso())
            return 0
        self.reconciler.progress(self.cluster, f"rebalancing ({reason}): moving {len(moves)} partitions")
        work = self.plane.cluster_dir(self.cluster) / "rebalance"
        work.mkdir(parents=True, exist_ok=True)
        plan_file = work / "reassignment.json"
        plan_file.write_text(json.dumps({"version": 1, "partitions": [
            {"topic": t, "partition": p, "replicas": r} for (t, p), r in moves.items()]}))
        config = tool_client_config(self.plane, self.cluster)
        common = ["--command-config", str(config), "--reassignment-json-file", str(plan_file)]
        try:
            await self._execute(common)
            await self._wait_done(moves)
            # --verify of a finished reassignment removes the throttles it set.
            await run_tool(self.plane, self.cluster, REASSIGN_TOOL, [*common, "--verify"])
            election = work / "election.json"
            election.write_text(json.dumps({"partitions": [{"topic": t, "partition": p} for t, p in moves]}))
            try:
                await run_tool(self.plane, self.cluster, ELECTION_TOOL,
                               ["--admin.config", str(config), "--election-type", "PREFERRED",
                                "--path-to-json-file", str(election)])
            except RebalanceFailed as exc:      # leadership follows anyway (auto.leader.rebalance.enable)
                log.info("cluster %s: preferred leader election: %s", self.cluster["ClusterName"], exc)
        except RebalanceFailed as exc:
            self._record(State="FAILED", EndTime=model.now_iso(), Error=str(exc))
            raise
        self._record(State="COMPLETE", EndTime=model.now_iso(), Done=len(moves))
        self.reconciler.progress(self.cluster, f"rebalancing ({reason}) complete: {len(moves)} partitions moved")
        return len(moves)

    async def _execute(self, common: list[str]) -> None:
        """Submit the reassignment. Kafka refuses one naming a broker that is not registered ("Unknown
        broker id"), and the tool gives up when a broker dies under one of its admin calls (it sets the
        throttles first, then submits): a broker that died is restarted (on its address and storage)
        and, once every broker is registered again, the same plan is submitted again, with
        `--additional` so that a first attempt which got as far as Kafka does not refuse the second."""
        for attempt in range(1, EXECUTE_ATTEMPTS + 1):
            await self._heal()
            try:
                await run_tool(self.plane, self.cluster, REASSIGN_TOOL,
                               [*common, "--execute", "--throttle", str(throttle_bytes()),
                                *(["--additional"] if attempt > 1 else [])])
                return
            except RebalanceFailed as exc:
                if not any(sign in str(exc) for sign in RETRIABLE) or attempt == EXECUTE_ATTEMPTS:
                    raise
                log.info("cluster %s: %s; healing and submitting again", self.cluster["ClusterName"], exc)
                await asyncio.sleep(EXECUTE_RETRY_DELAY)

    async def _heal(self) -> None:
        """Every broker running and registered (a dead one restarted on its address and storage)."""
        from .reconciler import ReconcileFailed
        try:
            await self.reconciler.brokers_running(self.cluster)
            await self.reconciler.brokers_registered(self.cluster)
        except ReconcileFailed as exc:
            raise RebalanceFailed(exc.message)

    async def _wait_done(self, moves: dict) -> None:
        deadline = time.monotonic() + REBALANCE_TIMEOUT
        last_done = -1
        while True:
            meta = await self.metadata()
            done = 0
            if meta is not None:
                now = {(p.topic, p.partition): p for p in meta.partitions or []}
                for key, replicas in moves.items():
                    p = now.get(key)
                    if p is not None and sorted(p.replicas) == sorted(replicas) and set(replicas) <= set(p.isr):
                        done += 1
            if done != last_done:
                self._record(Done=done)
                last_done = done
            if done == len(moves):
                return
            if time.monotonic() > deadline:
                raise RebalanceFailed(f"{len(moves) - done} of {len(moves)} partitions not moved after "
                                      f"{REBALANCE_TIMEOUT:.0f}s")
            # A broker that died meanwhile is restarted on its address and storage (as the supervisor
            # would once the operation is over): a reassignment onto it waits for it.
            await self.reconciler.brokers_running(self.cluster)
            await asyncio.sleep(PROGRESS_INTERVAL)


async def current_plan(plane, cluster: dict) -> dict:
    """What a rebalance would move now (for `openmsk rebalance`): {"Moves": [...], "ReplicaCounts": {...}}."""
    from .reconciler import ClusterReconciler
    rebalancer = Rebalancer(ClusterReconciler(plane, cluster["ClusterArn"]), cluster)
    meta = await rebalancer.metadata()
    if meta is None:
        raise RebalanceFailed("no broker answers metadata requests")
    current = _as_tuples(meta)
    racks = {b["BrokerId"]: b["ZoneId"] for b in cluster["Brokers"]}
    leaving = {b["BrokerId"] for b in cluster["Brokers"] if b.get("Leaving")}
    moves = plan_moves(current, racks, leaving)
    before = {(t, p): r for t, p, r in current}
    counts = replica_counts(current)
    return {"Moves": [{"Partition": f"{t}-{p}", "From": before[(t, p)], "To": r} for (t, p), r in moves.items()],
            "ReplicaCounts": {str(b): counts.get(b, 0) for b in sorted(racks)}}
