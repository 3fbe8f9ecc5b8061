"""Duplicates of idempotent acks=all producers while every broker of a cluster is rolled the way an
upgrade rolls them (BrokerRoller: one at a time, SIGTERM -> controlled shutdown, the next only once all
partitions are in sync again). Two producers run side by side at the same rate, each on a topic of its own
(6 partitions by default, RF 3, min ISR 2): librdkafka's (confluent-kafka, as the upgrade tests use it) and Kafka's own
Java producer (VerifiableProducer with enable.idempotence=true). Each roll is an UpdateMonitoring that
toggles the JMX exporter. Afterwards both topics are read to their end; every value stored at more than one
offset is a duplicate, and Kafka's DumpLogSegments tells each copy's producerId / producerEpoch /
baseSequence: a later copy under a higher epoch with its sequence restarted is the client's re-send as new
records (no broker can deduplicate that); the same PID, epoch and sequence twice would be the broker's.

  .venv/bin/python bench/roll_duplicates.py [--rolls 3] [--rate 600] [--partitions 6] [--request-timeout-ms N]
                                            [--stall S]

One service of its own on a temporary data dir (removed at the end unless --keep).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from confluent_kafka import Producer  # noqa: E402

from harness import Service, free_port  # noqa: E402
from kafka_clients import create_topic, read_to_end, tls_config  # noqa: E402
from log_segments import copies_by_epoch  # noqa: E402
from verifying_load import JavaVerifyingLoad  # noqa: E402

PARTITIONS = 6


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class FileLogger(logging.Logger):
    def __init__(self, path: Path) -> None:
        super().__init__("eos", logging.DEBUG)
        self.out = open(path, "a")

    def handle(self, record: logging.LogRecord) -> None:
        self.out.write(f"{time.time():.3f} {record.getMessage()}\n")


class LibrdkafkaLoad:
    """confluent-kafka's idempotent producer with VerifyingLoad's settings, `rate` messages/s in bursts
    every 50 ms; each acknowledgement's (partition, offset) is kept, and librdkafka's eos debug lines go to a file."""

    def __init__(self, config: dict, topic: str, rate: int, workdir: Path, extra: dict) -> None:
        self.config = {**config, "acks": "all", "enable.idempotence": True, "message.timeout.ms": 300000,
                       "debug": "eos", **extra}
        self.topic, self.rate, self.log = topic, rate, workdir / "librdkafka-eos.log"
        self.acked: dict[bytes, tuple[int, int]] = {}
        self.errors: list = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "LibrdkafkaLoad":
        self._thread.start()
        return self

    def _run(self) -> None:
        producer = Producer(self.config, logger=FileLogger(self.log))

        def on_delivery(err, msg):
            if err:
                self.errors.append(str(err))
            else:
                self.acked[msg.value()] = (msg.partition(), msg.offset())
        i, burst = 0, max(1, self.rate // 20)
        while not self._stop.is_set():
            for _ in range(burst):
                producer.produce(self.topic, f"m{i}".encode(), on_delivery=on_delivery)
                i += 1
            producer.poll(0)
            time.sleep(0.05)
        producer.flush(300)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(360)


class Staller:
    """Freezes one random broker's process group with SIGSTOP for `seconds`, every ~8 s, until stopped."""

    def __init__(self, svc: Service, arn: str, seconds: float) -> None:
        self.records = sorted((svc.data_dir / "clusters" / arn.rsplit("/", 1)[1]).glob("broker-*/node.json"))
        self.seconds, self.count = seconds, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Staller":
        self._thread.start()
        return self

    def _run(self) -> None:
        import os
        import random
        while not self._stop.wait(random.uniform(5, 20)):
            try:
                pid = json.loads(random.choice(self.records).read_text())["pid"]
                os.killpg(pid, signal.SIGSTOP)
            except (OSError, ValueError, KeyError):
                continue
            try:
                time.sleep(self.seconds)
            finally:
                try:
                    os.killpg(pid, signal.SIGCONT)
                except OSError:
                    pass
            self.count += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)
        print(f"stalls: {self.count} x {self.seconds:.1f}s", flush=True)


def client_staller(pids: list[int], seconds: float) -> subprocess.Popen:
    """A shell loop outside this process (which it freezes too) that SIGSTOPs `pids` for `seconds` every 5-20 s;
    on SIGTERM it resumes them first."""
    ids = " ".join(map(str, pids))
    script = (f"trap 'kill -CONT {ids}; exit 0' TERM; "
              f"while :; do sleep $((5 + RANDOM % 16)); kill -STOP {ids}; sleep {seconds}; kill -CONT {ids}; done")
    return subprocess.Popen(["bash", "-c", script], start_new_session=True)


def stored_twice(stored: list[tuple[int, int, bytes]]) -> dict[bytes, list[tuple[int, int]]]:
    positions: dict[bytes, list[tuple[int, int]]] = {}
    for p, o, v in stored:
        positions.setdefault(v, []).append((p, o))
    return {v: sorted(at) for v, at in positions.items() if len(at) > 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rolls", type=int, default=3)
    parser.add_argument("--rate", type=int, default=600, help="messages/s of each producer")
    parser.add_argument("--partitions", type=int, default=PARTITIONS, help="partitions of each topic")
    parser.add_argument("--request-timeout-ms", type=int, default=0, help="both producers' request.timeout.ms (0: default)")
    parser.add_argument("--stall", type=float, default=0.0,
                        help="also freeze a random broker (SIGSTOP) for this many seconds every ~8 s during the rolls, "
                             "as a host at load 100 stalls its JVMs")
    parser.add_argument("--client-stall", type=float, default=0.0,
                        help="also freeze both producers' processes (SIGSTOP) for this many seconds every 5-20 s "
                             "during the rolls, as a loaded host stalls a client: its timers fire late")
    parser.add_argument("--keep", action="store_true", help="keep the data dir (log segments, eos log)")
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()

    workdir = Path(args.dir or tempfile.mkdtemp(prefix="roll-dups-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"workdir {workdir}; load average at start {load_average()}", flush=True)
    svc = Service(workdir / "data", free_port()).start()
    client_stalls = None
    try:
        kafka = svc.client("kafka")
        t0 = time.monotonic()
        arn = kafka.create_cluster(
            ClusterName="roll-dups", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
            BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large", "ClientSubnets": svc.default_subnets(3)},
        )["ClusterArn"]
        svc.wait_state(arn, timeout=900)
        print(f"cluster ACTIVE after {time.monotonic() - t0:.0f}s", flush=True)
        bootstrap = kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"]
        tls = tls_config(bootstrap, svc.ca_path)
        suffix = uuid.uuid4().hex[:6]
        rdk_topic, java_topic = f"rdk-{suffix}", f"java-{suffix}"
        for topic in (rdk_topic, java_topic):
            create_topic(tls, topic, partitions=args.partitions, replication=3, topic_config={"min.insync.replicas": "2"})
        extra = {"request.timeout.ms": args.request_timeout_ms} if args.request_timeout_ms else {}
        rdk = LibrdkafkaLoad(tls, rdk_topic, args.rate, workdir, extra).start()
        java = JavaVerifyingLoad(bootstrap, svc.ca_path, java_topic, workdir, args.rate, extra).start()
        time.sleep(10)
        stalls = Staller(svc, arn, args.stall).start() if args.stall else None
        client_stalls = client_staller([os.getpid(), java.proc.pid], args.client_stall) if args.client_stall else None
        loads = [load_average()]
        for roll in range(args.rolls):
            info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
            enable = not info["OpenMonitoring"]["Prometheus"]["JmxExporter"]["EnabledInBroker"]
            started = time.monotonic()
            op_arn = kafka.update_monitoring(
                ClusterArn=arn, CurrentVersion=info["CurrentVersion"],
                OpenMonitoring={"Prometheus": {"JmxExporter": {"EnabledInBroker": enable},
                                               "NodeExporter": {"EnabledInBroker": False}}})["ClusterOperationArn"]
            while True:
                op = kafka.describe_cluster_operation(ClusterOperationArn=op_arn)["ClusterOperationInfo"]
                if op["OperationState"] in ("UPDATE_COMPLETE", "UPDATE_FAILED"):
                    break
                time.sleep(2)
            svc.wait_state(arn, timeout=900)
            loads.append(load_average())
            print(f"roll {roll + 1}: {op['OperationState']} in {time.monotonic() - started:.0f}s, "
                  f"librdkafka acked {len(rdk.acked)}, load {loads[-1]}", flush=True)
        if stalls:
            stalls.stop()
        if client_stalls:
            client_stalls.terminate()            # its trap resumes both producers before it exits
            client_stalls.wait(120)
        time.sleep(10)
        rdk.stop()
        java.stop()

        for name, topic, acked, errors in (("librdkafka " + __import__("confluent_kafka").libversion()[0], rdk_topic,
                                            rdk.acked, rdk.errors),
                                           ("java " + "3.9.1", java_topic, {v: None for v in java.acked}, java.errors)):
            stored = read_to_end(tls, topic, timeout=600)
            dups = stored_twice(stored)
            lost = set(acked) - {v for _, _, v in stored}
            print(f"{name}: acked {len(acked)}, delivery errors {len(errors)}, lost {len(lost)}, "
                  f"duplicated values {len(dups)}", flush=True)
            resent, lines = copies_by_epoch(svc.data_dir / "clusters" / arn.rsplit("/", 1)[1], topic, dups) \
                if dups else (0, {})
            if dups:
                print(f"    {resent} later copies written under a bumped producer epoch (the client's re-sends)")
            for line in lines.values():
                print("   ", line, flush=True)
            for value, at in dups.items():
                print(f"    {value.decode()} acknowledged at {acked.get(value)}", flush=True)
        print(f"load average during the rolls: {', '.join(loads)}", flush=True)
    finally:
        if client_stalls and client_stalls.poll() is None:
            client_stalls.terminate()
        svc.stop_everything()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
