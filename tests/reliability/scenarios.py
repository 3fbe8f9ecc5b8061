"""Fault scenarios under verified traffic, shared by tests/reliability and bench/reliability.py.

Each scenario damages a running cluster while an idempotent acks=all producer and a verifying consumer
run (traffic.py), waits until the cluster has recovered — ACTIVE, every broker registered, every
partition's ISR equal to its replicas, plus the scenario's own condition — and counts acknowledged
messages lost and duplicated. Scenarios on one cluster run one after another, each starting only
from a fully recovered cluster. Every wait is bounded.

  * broker            SIGKILL a broker's JVM (process group) -> supervisor heals it
  * zookeeper         SIGKILL a ZooKeeper node -> supervisor heals it
  * control-plane-mid-create   SIGKILL `openmsk serve` while the cluster is CREATING, start it again
  * control-plane-mid-update   UpdateMonitoring toggles the JMX exporter (a rolling restart); SIGKILL
                      `openmsk serve` while brokers are being rolled, start it again; the operation must
                      finish and every broker must run the new setting (port 11001 open iff enabled)
"""
from __future__ import annotations

import json
import os
import signal
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from harness import Service, alive
from kafka_clients import create_topic, tls_config
from log_segments import copies_by_epoch
from traffic import VerifiedTraffic, cluster_metadata, full_isr

BROKERS = 3
RATE = 200                       # messages/s from the producer
WARMUP_ACKS = 300                # acknowledged before the fault is injected
AFTER_RECOVERY_ACKS = 200        # acknowledged after recovery, before traffic stops
CREATE_TIMEOUT = 480.0
RECOVERY_TIMEOUT = 420.0
ROLL_TIMEOUT = 900.0
MSK_TOPIC = {"min.insync.replicas": "2"}      # MSK's default for 3 zones, explicit on the topic


@dataclass
class Outcome:
    scenario: str
    rep: int
    acked: int = 0
    lost: int = 0
    duplicates: int = 0
    recovered_s: float | None = None          # fault -> recovered (None: not within the timeout)
    max_stall_s: float | None = None          # longest time without an acknowledgement from the fault on
    states: list[str] = field(default_factory=list)
    operation: str = ""
    client_restarts: int = 0
    detail: str = ""
    # Duplicates the broker could not have deduplicated: the second copy was written under a *bumped*
    # producer epoch with restarted sequence numbers, i.e. re-sent as new records by the client
    # (librdkafka bumps the epoch after an OUT_OF_ORDER_SEQUENCE during a leader change and re-sends
    # batches that were possibly persisted: confluentinc/librdkafka#4953). Read from the log segments.
    client_epoch_dups: int = 0

    @property
    def broker_duplicates(self) -> int:
        return self.duplicates - self.client_epoch_dups

    @property
    def ok(self) -> bool:
        return self.recovered_s is not None and self.lost == 0 and self.broker_duplicates == 0 and self.acked > 0

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def format_table(outcomes: list[Outcome]) -> str:
    head = ("scenario", "rep", "acked", "lost", "dup (client epoch)", "recovered s", "max stall s", "states seen", "operation",
            "restarts", "ok")
    rows = [head]
    for o in outcomes:
        rows.append((o.scenario, str(o.rep), str(o.acked), str(o.lost), f"{o.duplicates} ({o.client_epoch_dups})",
                     "-" if o.recovered_s is None else f"{o.recovered_s:.1f}",
                     "-" if o.max_stall_s is None else f"{o.max_stall_s:.1f}", ">".join(o.states) or "-",
                     o.operation or "-", str(o.client_restarts), "yes" if o.ok else "NO"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _until(predicate, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


class Reliability:
    """Scenarios against the clusters of one `Service` (a real `openmsk serve`)."""

    def __init__(self, svc: Service, workdir: Path, *, log=print) -> None:
        self.svc, self.workdir, self.log = svc, Path(workdir), log
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._bootstrap: dict[str, str] = {}

    # -- observation -----------------------------------------------------------------------------
    def describe(self, arn: str) -> dict | None:
        """DescribeCluster, or None while the control plane is not answering (it may be restarting)."""
        try:
            return self.svc.client("kafka").describe_cluster(ClusterArn=arn)["ClusterInfo"]
        except (BotoCoreError, ClientError, OSError):
            return None

    def _track(self, arn: str, states: list[str]) -> dict | None:
        info = self.describe(arn)
        if info is not None and (not states or states[-1] != info["State"]):
            states.append(info["State"])
        return info

    def node_pid(self, arn: str, node: str) -> int | None:
        try:
            record = self.svc.data_dir / "clusters" / arn.rsplit("/", 1)[1] / node / "node.json"
            return json.loads(record.read_text())["pid"]
        except (OSError, ValueError, KeyError):
            return None

    def client_config(self, arn: str) -> dict:
        if arn not in self._bootstrap:
            boot = self.svc.client("kafka").get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"]
            assert len(boot.split(",")) == BROKERS, boot         # clients know a broker in every zone
            self._bootstrap[arn] = boot
        return tls_config(self._bootstrap[arn], self.svc.ca_path)

    def healthy(self, arn: str, states: list[str], also=lambda: True) -> bool:
        """ACTIVE, `also()`, and every broker registered with every partition fully in sync. Records each
        state seen in `states` (polled often enough to see a HEALING of a few seconds)."""
        info = self._track(arn, states)
        return bool(info and info["State"] == "ACTIVE" and also()
                    and full_isr(cluster_metadata(self.client_config(arn)), BROKERS))

    def exporter_open(self, arn: str) -> dict[int, bool]:
        """Per broker: does Open Monitoring's JMX exporter listen on 11001? (A connect, not a scrape: a full
        scrape takes seconds on a loaded machine, and the port alone tells which setting the JVM runs.)"""
        nodes = self.svc.client("kafka").list_nodes(ClusterArn=arn)["NodeInfoList"]
        got = {}
        for n in nodes:
            try:
                socket.create_connection((n["BrokerNodeInfo"]["ClientVpcIpAddress"], 11001), timeout=5).close()
                got[int(n["BrokerNodeInfo"]["BrokerId"])] = True
            except OSError:
                got[int(n["BrokerNodeInfo"]["BrokerId"])] = False
        return got

    # -- traffic around a fault ------------------------------------------------------------------
    def under_traffic(self, arn: str, outcome: Outcome, inject, recovered, timeout: float = RECOVERY_TIMEOUT) -> Outcome:
        """Start verified traffic on a fresh topic, `inject()` the fault once messages flow, wait (bounded)
        until `recovered()` and the cluster is healthy, let traffic flow on, stop it and count."""
        config = self.client_config(arn)
        topic = f"rel-{outcome.scenario}-{outcome.rep}-{uuid.uuid4().hex[:6]}"
        create_topic(config, topic, partitions=3, replication=3, topic_config=MSK_TOPIC)
        traffic = VerifiedTraffic(config, topic, self.workdir / topic, rate=RATE).start()
        try:
            traffic.wait_acked(WARMUP_ACKS)
            fault_at, t0 = time.time(), time.monotonic()
            outcome.detail = inject() or ""
            if _until(lambda: self.healthy(arn, outcome.states, also=recovered), timeout):
                outcome.recovered_s = round(time.monotonic() - t0, 1)
            else:
                outcome.detail += f"; not recovered within {timeout:.0f}s"
            if outcome.recovered_s is not None:
                traffic.wait_acked(traffic.acked() + AFTER_RECOVERY_ACKS)
            result = traffic.stop()
        except BaseException:
            traffic.kill()
            raise
        outcome.acked, outcome.lost, outcome.duplicates = result.acked, result.lost, result.duplicates
        if result.duplicates:
            outcome.client_epoch_dups = self.client_epoch_duplicates(arn, topic, result.duplicate_offsets)
        outcome.max_stall_s = result.max_ack_gap(since=fault_at - 1)
        outcome.client_restarts = result.client_restarts
        if result.lost or result.duplicates or not result.drained or result.crashes or result.delivery_errors:
            outcome.detail += (f"; consumed {result.consumed}, drained {result.drained}, delivery errors "
                               f"{result.delivery_errors}, unacknowledged {result.unacknowledged}, crashes {result.crashes}")
        self.log(f"{outcome.scenario} #{outcome.rep}: {outcome.as_dict()}")
        return outcome

    def client_epoch_duplicates(self, arn: str, topic: str, copies: dict[int, list]) -> int:
        """How many duplicate copies the log segments show written under a higher producer epoch than the
        first copy: the client's re-sends as new records (log_segments.py); any other is the broker's."""
        cluster_dir = self.svc.data_dir / "clusters" / arn.rsplit("/", 1)[1]
        return copies_by_epoch(cluster_dir, topic, copies)[0]

    # -- scenarios -------------------------------------------------------------------------------
    def create_killing_control_plane(self, name: str, rep: int = 0, kill_at: str = "broker") -> tuple[str, Outcome]:
        """CreateCluster, SIGKILL the control plane once the first `kill_at` ("zookeeper"/"broker") node
        has been started, start it again on the same data dir: the cluster must become ACTIVE with every
        broker registered, then carry verified traffic."""
        outcome = Outcome("control-plane-mid-create", rep)
        kafka = self.svc.client("kafka")
        arn = kafka.create_cluster(ClusterName=name, KafkaVersion="3.9.x", NumberOfBrokerNodes=BROKERS,
                                   BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                        "ClientSubnets": self.svc.default_subnets(3)})["ClusterArn"]
        outcome.states.append(kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["State"])
        cluster_dir = self.svc.data_dir / "clusters" / arn.rsplit("/", 1)[1]
        started = _until(lambda: list(cluster_dir.glob(f"{kill_at}-*/node.json")), CREATE_TIMEOUT, interval=0.05)
        state = self._track(arn, outcome.states)["State"]
        self.svc.kill(signal.SIGKILL)
        t0 = time.monotonic()
        outcome.detail = f"killed with {len(started or [])} {kill_at} node(s) started, cluster {state}"
        self.svc.start()
        if _until(lambda: self.healthy(arn, outcome.states), CREATE_TIMEOUT):
            outcome.recovered_s = round(time.monotonic() - t0, 1)
        ops = kafka.list_cluster_operations(ClusterArn=arn)["ClusterOperationInfoList"]
        create = next((o for o in ops if o["OperationType"] == "CREATE"), {})
        outcome.operation = create.get("OperationState", "")
        if outcome.recovered_s is None:
            outcome.detail += f"; not ACTIVE with full ISR within {CREATE_TIMEOUT:.0f}s"
            return arn, outcome
        # No traffic could run during the creation; afterwards produce and consume must work.
        config = self.client_config(arn)
        topic = f"rel-after-create-{rep}-{uuid.uuid4().hex[:6]}"
        create_topic(config, topic, partitions=3, replication=3, topic_config=MSK_TOPIC)
        traffic = VerifiedTraffic(config, topic, self.workdir / topic, rate=RATE).start()
        try:
            traffic.wait_acked(WARMUP_ACKS)
            result = traffic.stop()
        except BaseException:
            traffic.kill()
            raise
        outcome.acked, outcome.lost, outcome.duplicates = result.acked, result.lost, result.duplicates
        outcome.client_restarts = result.client_restarts
        self.log(f"{outcome.scenario} #{rep}: {outcome.as_dict()}")
        return arn, outcome

    def kill_node(self, arn: str, node: str, rep: int = 0) -> Outcome:
        """SIGKILL one node's process group (a broker or ZooKeeper JVM) under traffic; recovered when a
        new process runs in its place and the cluster is healthy again."""
        kind = node.split("-")[0]
        outcome = Outcome(kind, rep)
        victim = {}

        def inject() -> str:
            victim["pid"] = self.node_pid(arn, node)
            os.killpg(victim["pid"], signal.SIGKILL)
            return f"SIGKILL {node} (pid {victim['pid']})"

        def replaced() -> bool:
            pid = self.node_pid(arn, node)
            return pid is not None and pid != victim["pid"] and alive(pid)

        return self.under_traffic(arn, outcome, inject, replaced)

    def roll_killing_control_plane(self, arn: str, rep: int = 0, brokers_down_before_kill: int = 1) -> Outcome:
        """UpdateMonitoring toggling the JMX exporter rolls every broker. Once `brokers_down_before_kill`
        brokers' old processes have exited (the roll is under way), SIGKILL the control plane and start it
        again. Recovered when the operation has finished, the cluster is healthy, and every broker's
        exporter port matches the requested setting (no broker left on the old configuration)."""
        outcome = Outcome("control-plane-mid-update", rep)
        kafka = self.svc.client("kafka")
        state: dict = {}

        def inject() -> str:
            info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
            enable = not info["OpenMonitoring"]["Prometheus"]["JmxExporter"]["EnabledInBroker"]
            before = {b: self.node_pid(arn, f"broker-{b}") for b in range(1, BROKERS + 1)}
            state.update(enable=enable)
            state["op"] = kafka.update_monitoring(
                ClusterArn=arn, CurrentVersion=info["CurrentVersion"],
                OpenMonitoring={"Prometheus": {"JmxExporter": {"EnabledInBroker": enable},
                                               "NodeExporter": {"EnabledInBroker": False}}})["ClusterOperationArn"]
            self._track(arn, outcome.states)
            rolled = _until(lambda: [b for b, pid in before.items() if not alive(pid)]
                            if len([b for b, pid in before.items() if not alive(pid)]) >= brokers_down_before_kill
                            else None, ROLL_TIMEOUT, interval=0.05)
            op = kafka.describe_cluster_operation(ClusterOperationArn=state["op"])["ClusterOperationInfo"]
            self.svc.kill(signal.SIGKILL)
            self.svc.start()
            return (f"JMX exporter -> {enable}; control plane SIGKILLed with broker(s) {rolled} restarted or "
                    f"restarting, operation {op['OperationState']}")

        def finished() -> bool:
            try:
                op = kafka.describe_cluster_operation(ClusterOperationArn=state["op"])["ClusterOperationInfo"]
            except (BotoCoreError, ClientError, OSError):
                return False
            outcome.operation = op["OperationState"]
            if op["OperationState"] not in ("UPDATE_COMPLETE", "UPDATE_FAILED"):
                return False
            if op["OperationState"] == "UPDATE_FAILED":
                outcome.detail += f"; failed: {op.get('ErrorInfo')}"
            ports = self.exporter_open(arn)
            state["ports"] = ports
            return all(v == state["enable"] for v in ports.values())

        self.under_traffic(arn, outcome, inject, finished, timeout=ROLL_TIMEOUT)
        if outcome.recovered_s is None:
            outcome.detail += f"; exporter ports {state.get('ports')} (wanted {state.get('enable')})"
        return outcome

    def delete(self, arn: str) -> None:
        self.svc.client("kafka").delete_cluster(ClusterArn=arn)
        self.svc.wait_state(arn, states=("GONE",), timeout=300)


def run_all(svc: Service, workdir: Path, reps: int, *, log=print, budget_s: float = 3600) -> list[Outcome]:
    """Every scenario `reps` times: mid-create kills on fresh clusters (alternately while ZooKeeper and
    while brokers start; the extra clusters are deleted), then on the first cluster, in turn, a broker,
    a ZooKeeper node and the control plane mid-roll (after one, then two brokers went down), each fault
    on another node. Stops starting new scenarios once `budget_s` is spent."""
    run = Reliability(svc, workdir, log=log)
    deadline = time.monotonic() + budget_s
    outcomes: list[Outcome] = []
    arn = None
    for rep in range(reps):
        if time.monotonic() > deadline:
            break
        created, outcome = run.create_killing_control_plane(f"reliability-{rep}", rep,
                                                            kill_at=("broker", "zookeeper")[rep % 2])
        outcomes.append(outcome)
        if arn is None and outcome.ok:
            arn = created
        else:
            run.delete(created)
    if arn is None:
        return outcomes
    for rep in range(reps):
        for scenario in (lambda: run.kill_node(arn, f"broker-{rep % BROKERS + 1}", rep),
                         lambda: run.kill_node(arn, f"zookeeper-{rep % BROKERS + 1}", rep),
                         lambda: run.roll_killing_control_plane(arn, rep, brokers_down_before_kill=1 + rep % 2)):
            if time.monotonic() > deadline:
                return outcomes
            outcomes.append(scenario())
            if outcomes[-1].recovered_s is None:
                return outcomes           # the next fault would not start from a recovered cluster
    return outcomes
