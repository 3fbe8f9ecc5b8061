"""Scaling a live cluster as MSK does, on real Kafka, under an idempotent acks=all producer and a
consumer that reads all along: UpdateBrokerCount 3 -> 6 (new brokers in every zone, on their own
addresses, nothing else restarted), UpdateRebalancing moving replicas onto them through Kafka's
reassignment API while one of them is SIGKILLed, 6 -> 3 refused while the leaving brokers hold
partitions and accepted once rebalancing drains them, RebootBroker, MSK's refusals, and each
operation's record. 0 acknowledged messages lost, the consumer never stuck."""
from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError
from confluent_kafka import Consumer

from harness import OPENMSK, wait_for
from kafka_clients import broker_config, create_topic, tls_config
from verifying_load import VerifyingLoad


class LiveConsumer:
    """A consumer polling for the whole test: what it received and when it last got something."""

    def __init__(self, config: dict, topic: str) -> None:
        self.config, self.topic = config, topic
        self.received: set[bytes] = set()
        self.last = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        consumer = Consumer({**self.config, "group.id": f"live-{uuid.uuid4().hex[:6]}",
                             "auto.offset.reset": "earliest"})
        consumer.subscribe([self.topic])
        try:
            while not self._stop.is_set():
                msg = consumer.poll(0.5)
                if msg is not None and not msg.error():
                    self.received.add(msg.value())
                    self.last = time.monotonic()
        finally:
            consumer.close()

    def assert_moving(self, within: float = 240) -> None:
        count, deadline = len(self.received), time.monotonic() + within
        while len(self.received) == count:
            assert time.monotonic() < deadline, f"consumer stuck at {count} messages for {within:.0f}s"
            time.sleep(0.5)


# MSK's final operation states; RebootBroker's REBOOT_NODE has its own (MSK DG, "Reboot a broker").
FINAL_STATES = ("UPDATE_COMPLETE", "UPDATE_FAILED", "REBOOT_COMPLETE", "REBOOT_FAILED")


def finished(kafka, op_arn: str, timeout: float = 900) -> dict:
    def done():
        op = kafka.describe_cluster_operation(ClusterOperationArn=op_arn)["ClusterOperationInfo"]
        return op if op["OperationState"] in FINAL_STATES else None
    return wait_for(done, timeout, f"operation {op_arn} to finish")


def error_of(call, **kw) -> tuple[str, str]:
    with pytest.raises(ClientError) as exc:
        call(**kw)
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def node_records(svc, arn: str) -> dict[str, dict]:
    cluster_dir = svc.data_dir / "clusters" / arn.rsplit("/", 1)[1]
    return {p.parent.name: json.loads(p.read_text()) for p in cluster_dir.glob("*/node.json")}


def replicas_by_partition(config: dict, topic: str) -> dict[int, list[int]]:
    from confluent_kafka.admin import AdminClient
    meta = AdminClient(config).list_topics(topic, timeout=30)
    return {p.id: list(p.replicas) for p in meta.topics[topic].partitions.values()}


def test_scale_out_rebalance_scale_in_and_reboot_under_load(service):
    svc = service
    kafka = svc.client("kafka")
    subnets = svc.default_subnets(3)
    arn = kafka.create_cluster(ClusterName=f"scale-{uuid.uuid4().hex[:4]}", KafkaVersion="3.9.x",
                               NumberOfBrokerNodes=3,
                               BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large", "ClientSubnets": subnets})["ClusterArn"]
    try:
        info = svc.wait_state(arn, timeout=400)
        assert info["Rebalancing"] == {"Status": "PAUSED"}
        config = tls_config(kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"], svc.ca_path)
        topic = f"scale-{uuid.uuid4().hex[:6]}"
        create_topic(config, topic, partitions=6, replication=3)
        zone_of_subnet = {s["SubnetId"]: (s["AvailabilityZoneId"], s["CidrBlock"])
                          for s in svc.client("ec2").describe_subnets(SubnetIds=subnets)["Subnets"]}

        with VerifyingLoad(config, topic) as load, LiveConsumer(config, topic) as consumer:
            consumer.assert_moving(within=600)        # first join: __consumer_offsets is created now
            version = info["CurrentVersion"]

            # -- refusals -----------------------------------------------------------------------------
            code, message = error_of(kafka.update_broker_count, ClusterArn=arn, CurrentVersion="KWRONGVERSION",
                                     TargetNumberOfBrokerNodes=6)
            assert code == "BadRequestException" and "isn’t current" in message
            code, message = error_of(kafka.update_broker_count, ClusterArn=arn, CurrentVersion=version,
                                     TargetNumberOfBrokerNodes=4)
            assert code == "BadRequestException" and "multiple of Availability Zones" in message
            code, _ = error_of(kafka.update_broker_count, ClusterArn=arn, CurrentVersion=version,
                               TargetNumberOfBrokerNodes=3)
            assert code == "BadRequestException"
            code, message = error_of(kafka.reboot_broker, ClusterArn=arn, BrokerIds=["1", "2"])
            assert code == "BadRequestException" and "one broker" in message

            # -- 3 -> 6 (rebalancing PAUSED: new brokers join empty, nobody else restarts) -----------
            before = node_records(svc, arn)
            op_arn = kafka.update_broker_count(ClusterArn=arn, CurrentVersion=version,
                                               TargetNumberOfBrokerNodes=6)["ClusterOperationArn"]
            assert kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["State"] == "UPDATING"
            code, _ = error_of(kafka.update_broker_count, ClusterArn=arn,
                               CurrentVersion=kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"],
                               TargetNumberOfBrokerNodes=9)
            assert code == "ConflictException"
            op = finished(kafka, op_arn)
            assert op["OperationState"] == "UPDATE_COMPLETE", op
            assert op["OperationType"] == "INCREASE_BROKER_COUNT"
            assert op["SourceClusterInfo"]["NumberOfBrokerNodes"] == 3
            assert op["TargetClusterInfo"]["NumberOfBrokerNodes"] == 6
            assert op["TargetClusterInfo"]["BrokerCountUpdateInfo"]["CreatedBrokerIds"] == [4.0, 5.0, 6.0]
            v2 = kafka.describe_cluster_operation_v2(ClusterOperationArn=op_arn)["ClusterOperationInfo"]
            assert v2["OperationType"] == "INCREASE_BROKER_COUNT" and v2["OperationState"] == "UPDATE_COMPLETE"
            assert v2["Provisioned"]["TargetClusterInfo"]["NumberOfBrokerNodes"] == 6
            listed = kafka.list_cluster_operations_v2(ClusterArn=arn)["ClusterOperationInfoList"]
            assert listed[0]["OperationArn"] == op_arn
            info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
            assert info["State"] == "ACTIVE" and info["NumberOfBrokerNodes"] == 6
            nodes = {int(n["BrokerNodeInfo"]["BrokerId"]): n["BrokerNodeInfo"]
                     for n in kafka.list_nodes(ClusterArn=arn)["NodeInfoList"]}
            assert sorted(nodes) == [1, 2, 3, 4, 5, 6]
            for broker_id in (4, 5, 6):
                node = nodes[broker_id]
                zone, cidr = zone_of_subnet[node["ClientSubnet"]]
                assert ipaddress.ip_address(node["ClientVpcIpAddress"]) in ipaddress.ip_network(cidr)   # its subnet
                assert node["ClientVpcIpAddress"] not in {nodes[b]["ClientVpcIpAddress"] for b in nodes if b != broker_id}
            assert {zone_of_subnet[nodes[b]["ClientSubnet"]][0] for b in (4, 5, 6)} == \
                {zone_of_subnet[s][0] for s in subnets}
            bootstrap = kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"]
            assert all(nodes[b]["ClientVpcIpAddress"] in bootstrap for b in (4, 5, 6))
            after = node_records(svc, arn)
            for b in (1, 2, 3):            # a scale-out restarts no existing broker
                assert after[f"broker-{b}"]["pid"] == before[f"broker-{b}"]["pid"]
            assert broker_config(config, 5)["broker.rack"] == zone_of_subnet[nodes[5]["ClientSubnet"]][0]
            consumer.assert_moving()

            # -- UpdateRebalancing ACTIVE: replicas move onto 4, 5, 6; broker 5 is SIGKILLed meanwhile -
            version = info["CurrentVersion"]
            op_arn = kafka.update_rebalancing(ClusterArn=arn, CurrentVersion=version,
                                              Rebalancing={"Status": "ACTIVE"})["ClusterOperationArn"]
            killed_pid = node_records(svc, arn)["broker-5"]["pid"]
            wait_for(lambda: any(s["StepName"] == "REBALANCE_PARTITIONS"
                                 and s["StepInfo"]["StepStatus"] == "IN_PROGRESS"
                                 for s in kafka.describe_cluster_operation(ClusterOperationArn=op_arn)
                                 ["ClusterOperationInfo"]["OperationSteps"]), 300, "the rebalance to start")
            os.kill(killed_pid, signal.SIGKILL)
            op = finished(kafka, op_arn)
            assert op["OperationState"] == "UPDATE_COMPLETE", op
            assert op["OperationType"] == "UPDATE_REBALANCING"
            assert op["TargetClusterInfo"] == {"Rebalancing": {"Status": "ACTIVE"}}
            record = node_records(svc, arn)["broker-5"]
            assert record["pid"] != killed_pid                      # replaced ...
            assert kafka.list_nodes(ClusterArn=arn)["NodeInfoList"]  # ... on the same address:
            assert nodes[5]["ClientVpcIpAddress"] in {n["BrokerNodeInfo"]["ClientVpcIpAddress"]
                                                      for n in kafka.list_nodes(ClusterArn=arn)["NodeInfoList"]}
            placement = replicas_by_partition(config, topic)
            held = {b for replicas in placement.values() for b in replicas}
            assert {4, 5, 6} <= held, placement
            zone_of = {b: nodes[b]["ClientSubnet"] for b in nodes}
            assert all(len({zone_of[b] for b in r}) == 3 for r in placement.values()), placement
            throttles = broker_config(config, 1)
            assert not throttles.get("leader.replication.throttled.rate"), throttles
            shown = subprocess.run([OPENMSK, "rebalance", arn, "--json", "--data-dir", str(svc.data_dir)],
                                   capture_output=True, text=True, timeout=120)
            assert shown.returncode == 0, shown.stderr
            doc = json.loads(shown.stdout)            # `openmsk rebalance`: the run and what is left to do
            assert doc["Status"] == "ACTIVE" and doc["Last"]["State"] == "COMPLETE", doc
            assert doc["Last"]["Done"] == doc["Last"]["Total"] > 0 and doc["Plan"]["Moves"] == [], doc
            consumer.assert_moving()
            # the new brokers got MSK's recommended per-broker alarms (defaults.reconcile, each pass)
            cloudwatch, cluster_name = svc.client("cloudwatch"), info["ClusterName"]

            def broker_alarms() -> set[str]:
                names = [a["AlarmName"] for page in cloudwatch.get_paginator("describe_alarms").paginate(
                    AlarmNamePrefix=f"openmsk-{cluster_name}-broker-") for a in page["MetricAlarms"]]
                return {n.split("-broker-")[1].split("-")[0] for n in names}
            wait_for(lambda: broker_alarms() == {"1", "2", "3", "4", "5", "6"}, 180, "alarms of brokers 4-6")

            # -- 6 -> 3 refused while the leaving brokers hold partitions (rebalancing PAUSED) -------
            version = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]
            op = finished(kafka, kafka.update_rebalancing(ClusterArn=arn, CurrentVersion=version,
                                                          Rebalancing={"Status": "PAUSED"})["ClusterOperationArn"])
            assert op["OperationState"] == "UPDATE_COMPLETE"
            info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
            assert info["Rebalancing"] == {"Status": "PAUSED"}
            code, message = error_of(kafka.update_broker_count, ClusterArn=arn, CurrentVersion=info["CurrentVersion"],
                                     TargetNumberOfBrokerNodes=3)
            assert code == "BadRequestException" and "hold no partitions" in message, message
            assert f"{topic}-" in message, message

            # -- ... accepted with rebalancing ACTIVE: replicas drain off, then the brokers go ---------
            op = finished(kafka, kafka.update_rebalancing(ClusterArn=arn, CurrentVersion=info["CurrentVersion"],
                                                          Rebalancing={"Status": "ACTIVE"})["ClusterOperationArn"])
            assert op["OperationState"] == "UPDATE_COMPLETE"
            version = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]
            op_arn = kafka.update_broker_count(ClusterArn=arn, CurrentVersion=version,
                                               TargetNumberOfBrokerNodes=3)["ClusterOperationArn"]
            op = finished(kafka, op_arn)
            assert op["OperationState"] == "UPDATE_COMPLETE", op
            assert op["OperationType"] == "DECREASE_BROKER_COUNT"
            deleted = op["TargetClusterInfo"]["BrokerCountUpdateInfo"]["DeletedBrokerIds"]
            assert len(deleted) == 3
            steps = [s["StepName"] for s in op["OperationSteps"]]
            assert steps.index("REBALANCE_PARTITIONS") < steps.index("REMOVE_BROKERS")
            remaining = {int(n["BrokerNodeInfo"]["BrokerId"]) for n in kafka.list_nodes(ClusterArn=arn)["NodeInfoList"]}
            assert len(remaining) == 3 and not remaining & {int(b) for b in deleted}
            assert kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["NumberOfBrokerNodes"] == 3
            placement = replicas_by_partition(config, topic)
            assert {b for r in placement.values() for b in r} == remaining, placement
            gone = [b for b in node_records(svc, arn) if b in {f"broker-{int(d)}" for d in deleted}]
            assert gone == []                                   # processes and storage removed
            consumer.assert_moving()

            # -- RebootBroker: REBOOTING_BROKER, one broker restarted, back in ISR ----------------------
            target = sorted(remaining)[0]
            pid = node_records(svc, arn)[f"broker-{target}"]["pid"]
            seen: list[str] = []
            op_arn = kafka.reboot_broker(ClusterArn=arn, BrokerIds=[str(target)])["ClusterOperationArn"]
            states = {kafka.describe_cluster_operation(ClusterOperationArn=op_arn)["ClusterOperationInfo"]
                      ["OperationState"]}
            svc.wait_state(arn, states=("ACTIVE",), timeout=600, seen=seen)
            op = finished(kafka, op_arn)
            states.add(op["OperationState"])
            assert op["OperationState"] == "REBOOT_COMPLETE" and op["OperationType"] == "REBOOT_NODE", op
            assert states <= {"PENDING", "REBOOT_IN_PROGRESS", "REBOOT_COMPLETE"}, states
            assert op.get("SourceClusterInfo", {}) == {} and op.get("TargetClusterInfo", {}) == {}, op
            listed = kafka.list_cluster_operations(ClusterArn=arn)["ClusterOperationInfoList"]
            assert listed[0]["OperationArn"] == op_arn and listed[0]["OperationState"] == "REBOOT_COMPLETE"
            assert "REBOOTING_BROKER" in seen, seen
            assert node_records(svc, arn)[f"broker-{target}"]["pid"] != pid
            from confluent_kafka.admin import AdminClient
            meta = AdminClient(config).list_topics(topic, timeout=30)
            assert all(set(p.isrs) == set(p.replicas) for p in meta.topics[topic].partitions.values())
            consumer.assert_moving()

            # the removed brokers' alarms went with them
            wait_for(lambda: broker_alarms() == {str(b) for b in remaining}, 180, "alarms of removed brokers gone")

            load.stop()
            assert load.errors == [] and len(load.acked) > 100
            # the live consumer gets every acknowledged message (it was never stuck for good)
            wait_for(lambda: set(load.acked) <= consumer.received, 120, "the consumer to catch up")
        assert load.lost() == set()
    finally:
        kafka.delete_cluster(ClusterArn=arn)
        svc.wait_state(arn, states=("GONE",), timeout=300)


def test_rebalance_plan_spreads_replicas_and_leaders_and_keeps_zones_apart():
    """The plan alone (no cluster): 3 -> 6 brokers evens replica and leader counts, never puts two
    replicas of a partition in one zone, and a drain of 4, 5, 6 leaves them empty; a balanced cluster
    plans nothing."""
    from collections import Counter
    from openmsk.control.rebalance import plan_moves
    racks = {1: "az1", 2: "az2", 3: "az3", 4: "az1", 5: "az2", 6: "az3"}
    partitions = [(f"t{t}", p, [1 + (p + t) % 3, 1 + (p + t + 1) % 3, 1 + (p + t + 2) % 3])
                  for t in range(3) for p in range(8)]

    def applied(parts, moves):
        return [(t, p, moves.get((t, p), r)) for t, p, r in parts]
    grown = applied(partitions, plan_moves(partitions, racks))
    replicas = Counter(b for _, _, r in grown for b in r)
    leaders = Counter(r[0] for _, _, r in grown)
    assert max(replicas.values()) - min(replicas.values()) <= 1 and set(replicas) == set(racks), replicas
    assert max(leaders.values()) - min(leaders.values()) <= 1 and set(leaders) == set(racks), leaders
    assert all(len({racks[b] for b in r}) == 3 for _, _, r in grown)
    assert plan_moves(grown, racks) == {}
    drained = applied(grown, plan_moves(grown, racks, leaving={4, 5, 6}))
    assert {b for _, _, r in drained for b in r} == {1, 2, 3}
    assert all(len({racks[b] for b in r}) == 3 for _, _, r in drained)


def test_operations_report_msks_state_names(tmp_path):
    """The plane's bookkeeping (no cluster): RebootBroker's REBOOT_NODE goes REBOOT_IN_PROGRESS ->
    REBOOT_COMPLETE / REBOOT_FAILED as MSK names them; every other operation UPDATE_*."""
    from openmsk.control import model
    from openmsk.control.plane import ControlPlane
    plane = ControlPlane(tmp_path / "data")
    try:
        cluster = {"ClusterArn": "arn:aws:kafka:us-east-1:123456789012:cluster/c/u-1", "ClusterName": "c",
                   "Uuid": "u-1", "Region": "us-east-1", "AccountId": "123456789012", "State": "ACTIVE"}
        seen = {}
        for kind, ok in (("REBOOT_NODE", True), ("REBOOT_NODE", False), ("INCREASE_BROKER_COUNT", True),
                         ("UPDATE_BROKER_TYPE", False)):
            op = model.new_operation(cluster, kind, [model.REBOOT_BROKER], source={}, target={})
            plane.store.put("operation", op["OperationArn"], op, region="us-east-1", parent=cluster["ClusterArn"])
            plane.save_cluster({**cluster, "ActiveOperationArn": op["OperationArn"]})
            states = [plane.store.get("operation", op["OperationArn"])["OperationState"]]
            plane.set_operation_step(plane.load_cluster(cluster["ClusterArn"]), model.REBOOT_BROKER, "IN_PROGRESS")
            running = plane.store.get("operation", op["OperationArn"])
            states.append(running["OperationState"])
            assert model.op_running(running)
            plane.finish_operation(plane.load_cluster(cluster["ClusterArn"]), ok=ok, state="ACTIVE",
                                   error=None if ok else ("X", "broken"))
            done = plane.store.get("operation", op["OperationArn"])
            states.append(done["OperationState"])
            assert not model.op_running(done) and done["EndTime"]
            seen[(kind, ok)] = states
        assert seen == {("REBOOT_NODE", True): ["PENDING", "REBOOT_IN_PROGRESS", "REBOOT_COMPLETE"],
                        ("REBOOT_NODE", False): ["PENDING", "REBOOT_IN_PROGRESS", "REBOOT_FAILED"],
                        ("INCREASE_BROKER_COUNT", True): ["PENDING", "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"],
                        ("UPDATE_BROKER_TYPE", False): ["PENDING", "UPDATE_IN_PROGRESS", "UPDATE_FAILED"]}
    finally:
        plane.store.close()
