"""The control plane dies (SIGKILL) in the middle of a rolling restart of a live cluster: started again
on the same data directory, it finishes the operation as MSK would report it (UPDATE_COMPLETE), every
broker ends on the new configuration, never two brokers down at once, and an idempotent acks=all
producer running throughout loses no acknowledged message."""
from __future__ import annotations

import json
import signal
import threading
import time
import uuid

from confluent_kafka.admin import AdminClient

from harness import alive, wait_for
from kafka_clients import create_topic, effective, tls_config
from verifying_load import VerifyingLoad

ROLL_TIMEOUT = 1500          # three broker restarts, each waiting for full ISR, at a load of 100+


def broker_pids(svc, arn: str) -> dict[str, int]:
    cluster_dir = svc.data_dir / "clusters" / arn.rsplit("/", 1)[1]
    out = {}
    for record in cluster_dir.glob("broker-*/node.json"):
        try:
            out[record.parent.name] = json.loads(record.read_text())["pid"]
        except (OSError, ValueError, KeyError):
            pass                    # being rewritten (atomic replace): the next poll reads it
    return out


class BrokerWatch:
    """Polls the brokers' process records in a thread: every pid each broker had, and the most brokers
    not running at the same moment (a record whose pid is gone counts as down: stopped, not yet restarted)."""

    def __init__(self, svc, arn: str) -> None:
        self.svc, self.arn = svc, arn
        self.pids: dict[str, list[int]] = {}
        self.max_down = 0
        self.down_seen: list[tuple[str, ...]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "BrokerWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            current = broker_pids(self.svc, self.arn)
            for name, pid in current.items():
                seen = self.pids.setdefault(name, [])
                if not seen or seen[-1] != pid:
                    seen.append(pid)
            down = tuple(sorted(n for n, pid in current.items() if not alive(pid)))
            if len(down) > self.max_down:
                self.max_down = len(down)
                self.down_seen.append(down)
            time.sleep(0.1)


def under_replicated(config: dict) -> list[str]:
    client = AdminClient(config)
    meta = client.list_topics(timeout=60)
    return [f"{t.topic}-{p.id}" for t in meta.topics.values() for p in t.partitions.values()
            if set(p.isrs) != set(p.replicas)]


class ShutdownLogs:
    """Follows the brokers' server.log files: which broker began a controlled shutdown since `mark()`
    (Kafka logs "Starting controlled shutdown" when the roller's SIGTERM arrives)."""

    def __init__(self, svc, arn: str) -> None:
        self.dir = svc.data_dir / "clusters" / arn.rsplit("/", 1)[1]
        self.offsets: dict[str, int] = {}

    def mark(self) -> None:
        for log in self.dir.glob("broker-*/logs/server.log"):
            self.offsets[log.parent.parent.name] = log.stat().st_size

    def shutting_down(self) -> list[str]:
        found = []
        for log in self.dir.glob("broker-*/logs/server.log"):
            name = log.parent.parent.name
            with open(log, "rb") as f:
                f.seek(self.offsets.get(name, 0))
                text = f.read()
            if b"Starting controlled shutdown" in text:
                found.append(name)
        return found


def roll_with_control_plane_killed(svc, arn: str, conf_arn: str, value: str, config: dict, load,
                                   kill_when: str) -> dict:
    """Update the cluster to a revision setting auto.create.topics.enable=`value` (static: a roll of every
    broker), SIGKILL `openmsk serve` at `kill_when` ("restarted": the first broker's new JVM started;
    "stopping": the first broker began its controlled shutdown, so it exits while no control plane runs),
    start it again on the same data directory; returns the finished operation (V2)."""
    kafka = svc.client("kafka")
    info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
    rev = kafka.update_configuration(Arn=conf_arn, ServerProperties=f"auto.create.topics.enable={value}\n".encode()
                                     )["LatestRevision"]["Revision"]
    before = broker_pids(svc, arn)
    assert sorted(before) == ["broker-1", "broker-2", "broker-3"]
    logs = ShutdownLogs(svc, arn)
    logs.mark()
    with BrokerWatch(svc, arn) as watch:
        op_arn = kafka.update_cluster_configuration(ClusterArn=arn, CurrentVersion=info["CurrentVersion"],
                                                    ConfigurationInfo={"Arn": conf_arn, "Revision": rev}
                                                    )["ClusterOperationArn"]
        if kill_when == "restarted":         # its process record names a new pid (written as the JVM starts)
            first = wait_for(lambda: [n for n, pid in broker_pids(svc, arn).items() if pid != before[n]],
                             ROLL_TIMEOUT, "the roll's first broker restart")
        else:
            first = wait_for(logs.shutting_down, ROLL_TIMEOUT, "the roll's first controlled shutdown", poll=0.02)
        svc.kill(signal.SIGKILL)
        killed_at = broker_pids(svc, arn)
        print(f"[{kill_when}] control plane killed at {first}; broker pids then {killed_at} "
              f"(before {before}), running: {[n for n, p in killed_at.items() if alive(p)]}")
        svc.start()

        def done():
            op = kafka.describe_cluster_operation_v2(ClusterOperationArn=op_arn)["ClusterOperationInfo"]
            return op if op["OperationState"] not in ("PENDING", "UPDATE_IN_PROGRESS") else None
        op = wait_for(done, ROLL_TIMEOUT, f"operation {op_arn} to finish after the control plane's restart")
        assert op["OperationState"] == "UPDATE_COMPLETE", op
        steps = {s["StepName"]: s["StepInfo"]["StepStatus"] for s in op["Provisioned"]["OperationSteps"]}
        assert steps.get("ROLL_BROKERS") == "COMPLETED", steps
        described = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
        assert described["State"] == "ACTIVE"
        assert described["CurrentBrokerSoftwareInfo"]["ConfigurationRevision"] == rev
        wait_for(lambda: not under_replicated(config), 300, "every partition's ISR to be full")
    after = broker_pids(svc, arn)
    print(f"[{kill_when}] broker pids: {watch.pids}; most down at once: {watch.max_down} {watch.down_seen}")
    for broker_id in (1, 2, 3):
        name = f"broker-{broker_id}"
        assert after[name] != before[name] and alive(after[name]), (before, after)
        assert effective(config, broker_id, "auto.create.topics.enable") == (value, "STATIC_BROKER_CONFIG")
    # Never two brokers down at once (with RF 3 and min.insync.replicas 2, acks=all writes would stop).
    assert watch.max_down <= 1, watch.down_seen
    twice = {n: p for n, p in watch.pids.items() if len(p) > 2}
    if twice:                           # informational: a start retried, or a broker rolled twice
        print(f"[{kill_when}] restarted more than once: {twice}")
    assert load.errors == [], load.errors[:5]
    return op


def test_control_plane_killed_mid_roll_finishes_the_roll(private_service):
    svc = private_service
    kafka = svc.client("kafka")
    name = f"midroll-{uuid.uuid4().hex[:4]}"
    conf = kafka.create_configuration(Name=name, KafkaVersions=["3.9.x"],
                                      ServerProperties=b"auto.create.topics.enable=false\n")
    arn = kafka.create_cluster(ClusterName=name, KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
                               ConfigurationInfo={"Arn": conf["Arn"], "Revision": 1},
                               BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                    "ClientSubnets": svc.default_subnets(3)})["ClusterArn"]
    info = svc.wait_state(arn, states=("ACTIVE", "FAILED"), timeout=600)
    assert info["State"] == "ACTIVE", info.get("StateInfo")
    config = tls_config(kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"], svc.ca_path)
    topic = f"midroll-{uuid.uuid4().hex[:6]}"
    create_topic(config, topic, partitions=6, replication=3)

    with VerifyingLoad(config, topic) as load:
        wait_for(lambda: len(load.acked) >= 50, 300, "the producer's first acknowledgements")
        # Killed once a broker runs on the new configuration, then while one is in its controlled shutdown.
        roll_with_control_plane_killed(svc, arn, conf["Arn"], "true", config, load, kill_when="restarted")
        roll_with_control_plane_killed(svc, arn, conf["Arn"], "false", config, load, kill_when="stopping")
    assert load.errors == [] and len(load.acked) > 100
    assert load.lost() == set()
