"""Verified traffic for fault tests: an idempotent acks=all producer and a verifying consumer, each in a
child process of its own (librdkafka may abort() its host while brokers restart; the test process must
survive that and still count).

Every message value starts with a unique sequence number. The producer appends each acknowledged
sequence number (and the wall-clock time of its acknowledgement) to a file as delivery reports
arrive; the consumer reads every partition from the beginning without a consumer group (no
rebalances, no redelivery) and appends `partition offset seq` for every record. At the end:

* lost       = acknowledged sequence numbers the consumer never saw;
* duplicates = records beyond the first for one sequence number (the same number at two offsets:
               a retried send written twice, which the idempotent producer must prevent).

A crashed child is restarted by a watchdog thread (a new producer takes a fresh sequence range; a new
consumer starts from the beginning again, records are keyed by (partition, offset)) and counted.

Run as a script this module is the child: `traffic.py produce|consume|metadata --config JSON ...`.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

SEQ_RANGE = 10**9           # a restarted producer continues at the next multiple: numbers never collide


# -- parent side -----------------------------------------------------------------------------------
@dataclass
class TrafficResult:
    acked: int
    lost: int
    duplicates: int
    consumed: int
    delivery_errors: int
    unacknowledged: int            # produced, neither acknowledged nor failed when the producer stopped
    drained: bool                  # the consumer reached every partition's end
    client_restarts: int
    ack_times: list[float] = field(default_factory=list, repr=False)
    crashes: list[str] = field(default_factory=list)
    duplicate_offsets: dict[int, list] = field(default_factory=dict)   # seq -> [(partition, offset), ...]

    def max_ack_gap(self, since: float = 0.0) -> float | None:
        """Longest time without an acknowledgement after `since` (wall clock), the produce stall."""
        times = sorted(t for t in self.ack_times if t >= since)
        if len(times) < 2:
            return None
        return max(b - a for a, b in zip(times, times[1:]))


class VerifiedTraffic:
    def __init__(self, config: dict, topic: str, workdir: Path, *, rate: int = 200, payload: int = 100) -> None:
        self.config, self.topic, self.rate, self.payload = config, topic, rate, payload
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._producers: list[subprocess.Popen] = []
        self._consumers: list[subprocess.Popen] = []
        self._stopping = False
        self._watchdog: threading.Thread | None = None
        self.crashes: list[str] = []

    # children
    def _spawn(self, role: str, index: int, *extra: str) -> subprocess.Popen:
        err = open(self.workdir / f"{role}-{index}.err", "ab")
        try:
            return subprocess.Popen([sys.executable, __file__, role, "--config", json.dumps(self.config),
                                     "--topic", self.topic, "--out", str(self.workdir / f"{role}-{index}"), *extra],
                                    stdout=subprocess.DEVNULL, stderr=err)
        finally:
            err.close()

    def _spawn_producer(self) -> None:
        index = len(self._producers)
        self._producers.append(self._spawn("produce", index, "--first-seq", str(index * SEQ_RANGE),
                                           "--rate", str(self.rate), "--payload", str(self.payload)))

    def _spawn_consumer(self) -> None:
        self._consumers.append(self._spawn("consume", len(self._consumers)))

    def start(self) -> "VerifiedTraffic":
        self._spawn_producer()
        self._spawn_consumer()
        self._watchdog = threading.Thread(target=self._watch, daemon=True, name="traffic watchdog")
        self._watchdog.start()
        return self

    def _watch(self) -> None:
        while True:
            time.sleep(0.5)
            with self._lock:
                if self._stopping:
                    return
                for kind, procs, respawn in (("producer", self._producers, self._spawn_producer),
                                             ("consumer", self._consumers, self._spawn_consumer)):
                    code = procs[-1].poll()
                    if code is not None:
                        self.crashes.append(f"{kind} {len(procs) - 1} exited with {code}")
                        respawn()

    # progress
    def acked(self) -> int:
        return sum(1 for _ in _lines(self.workdir, "produce-*.acked"))

    def wait_acked(self, count: int, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while (got := self.acked()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {got} of {count} messages acknowledged after {timeout:.0f}s; "
                                     f"producer stderr: {self._stderr('produce')}")
            time.sleep(0.25)
        return got

    def _stderr(self, role: str) -> str:
        return " | ".join(p.read_text(errors="replace")[-400:] for p in sorted(self.workdir.glob(f"{role}-*.err")))

    def _finish(self, procs: list[subprocess.Popen], timeout: float) -> None:
        proc = procs[-1]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            self.crashes.append(f"{proc.args[2]} did not finish within {timeout:.0f}s; killed")

    def stop(self, *, flush_timeout: float = 320, drain_timeout: float = 180) -> TrafficResult:
        """Stop producing, wait for outstanding acknowledgements, let the consumer read to the end, count."""
        with self._lock:
            self._stopping = True
        self._finish(self._producers, flush_timeout + 30)       # the producer flushes (bounded) before it exits
        self._finish(self._consumers, drain_timeout + 30)       # the consumer drains to the high watermarks
        return tally(self.workdir, client_restarts=len(self._producers) + len(self._consumers) - 2,
                     crashes=self.crashes)

    def kill(self) -> None:
        """Best-effort cleanup after a failed test (children are bounded anyway)."""
        with self._lock:
            self._stopping = True
        for proc in [*self._producers, *self._consumers]:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def _lines(workdir: Path, pattern: str):
    for path in sorted(workdir.glob(pattern)):
        with open(path) as f:
            for line in f:
                if line.endswith("\n"):        # a child killed mid-write leaves a partial last line
                    yield line.split()


def _summary(workdir: Path, stem: str) -> dict:
    try:
        return json.loads((workdir / f"{stem}.done").read_text())
    except (OSError, ValueError):
        return {}


def tally(workdir: Path, *, client_restarts: int = 0, crashes: list[str] | None = None) -> TrafficResult:
    """Count from the children's files: acknowledged sequence numbers against consumed records."""
    acked: dict[int, float] = {}
    for seq, at in _lines(workdir, "produce-*.acked"):
        acked[int(seq)] = float(at)
    errors = sum(1 for _ in _lines(workdir, "produce-*.errors"))
    offsets_by_seq: dict[int, set] = defaultdict(set)
    for partition, offset, seq in _lines(workdir, "consume-*.records"):
        offsets_by_seq[int(seq)].add((int(partition), int(offset)))
    unacknowledged = sum(_summary(workdir, p.name[:-len(".acked")]).get("unacknowledged", 0)
                         for p in workdir.glob("produce-*.acked"))
    consumers = sorted(workdir.glob("consume-*.records"), key=lambda p: int(p.name.split("-")[1].split(".")[0]))
    drained = bool(consumers) and _summary(workdir, consumers[-1].name[:-len(".records")]).get("drained", False)
    return TrafficResult(acked=len(acked), lost=sum(1 for seq in acked if seq not in offsets_by_seq),
                         duplicates=sum(len(o) - 1 for o in offsets_by_seq.values()),
                         consumed=sum(len(o) for o in offsets_by_seq.values()), delivery_errors=errors,
                         unacknowledged=unacknowledged, drained=drained, client_restarts=client_restarts,
                         ack_times=sorted(acked.values()), crashes=list(crashes or []),
                         duplicate_offsets={seq: sorted(o) for seq, o in offsets_by_seq.items() if len(o) > 1})


def cluster_metadata(config: dict, timeout: float = 40) -> dict | None:
    """Brokers and every partition's replicas/ISR as the brokers report them (librdkafka, in a child)."""
    try:
        out = subprocess.run([sys.executable, __file__, "metadata", "--config", json.dumps(config)],
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        return None
    return json.loads(out.stdout)


def full_isr(meta: dict | None, brokers: int) -> bool:
    """Every broker registered, every partition led, and every partition's ISR equal to its replicas."""
    if not meta or len(meta["brokers"]) != brokers:
        return False
    return all(p["leader"] >= 0 and sorted(p["isrs"]) == sorted(p["replicas"]) for p in meta["partitions"])


# -- child side ------------------------------------------------------------------------------------
class _Stop:
    requested = False

    @classmethod
    def install(cls) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(cls, "requested", True))


def _produce(args) -> int:
    from confluent_kafka import Producer
    _Stop.install()
    producer = Producer({**json.loads(args.config), "acks": "all", "enable.idempotence": True,
                         "message.timeout.ms": 300000, "linger.ms": 5, "client.id": "reliability-producer"})
    acked_file, errors_file = open(f"{args.out}.acked", "a"), open(f"{args.out}.errors", "a")
    pending: list[str] = []
    failed: list[str] = []
    outstanding = [0]

    def on_delivery(err, msg):
        outstanding[0] -= 1
        seq = msg.value()[:12].decode()
        if err is None:
            pending.append(f"{seq} {time.time():.3f}\n")
        else:
            failed.append(f"{seq} {err.str().replace(' ', '_')}\n")

    def write_reports():
        if pending:
            acked_file.write("".join(pending))
            acked_file.flush()
            pending.clear()
        if failed:
            errors_file.write("".join(failed))
            errors_file.flush()
            failed.clear()

    seq, interval = args.first_seq, 1.0 / args.rate
    padding = b"." * max(0, args.payload - 13)
    next_send = time.monotonic()
    while not _Stop.requested:
        try:
            producer.produce(args.topic, f"{seq:012d}|".encode() + padding, on_delivery=on_delivery)
            outstanding[0] += 1
            seq += 1
        except BufferError:
            producer.poll(0.1)
        producer.poll(0)
        write_reports()
        next_send += interval
        delay = next_send - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            next_send = time.monotonic()    # behind (a stall): do not burst to catch up
    deadline = time.monotonic() + args.flush_timeout
    while outstanding[0] > 0 and time.monotonic() < deadline:
        producer.flush(1.0)
        write_reports()
    write_reports()
    Path(f"{args.out}.done").write_text(json.dumps({"produced": seq - args.first_seq,
                                                    "unacknowledged": outstanding[0]}))
    return 0


def _consume(args) -> int:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
    _Stop.install()
    consumer = Consumer({**json.loads(args.config), "group.id": f"reliability-verifier-{os.getpid()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "client.id": "reliability-consumer"})
    deadline = time.monotonic() + 60
    while True:
        try:
            meta = consumer.list_topics(args.topic, timeout=10).topics[args.topic]
            if meta.error is None and meta.partitions:
                break
        except KafkaException:
            pass
        if time.monotonic() > deadline:
            return 3
    partitions = sorted(meta.partitions)
    consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in partitions])
    records = open(f"{args.out}.records", "a")
    next_offset = {p: 0 for p in partitions}
    targets: dict[int, int] | None = None
    drain_deadline = None
    while True:
        batch = consumer.consume(500, 0.5)
        lines = []
        for msg in batch:
            if msg.error() is None:
                lines.append(f"{msg.partition()} {msg.offset()} {int(msg.value()[:12])}\n")
                next_offset[msg.partition()] = msg.offset() + 1
        if lines:
            records.write("".join(lines))
            records.flush()
        if _Stop.requested and drain_deadline is None:
            drain_deadline = time.monotonic() + args.drain_timeout
        if drain_deadline is not None:
            if targets is None:
                try:
                    targets = {p: consumer.get_watermark_offsets(TopicPartition(args.topic, p), timeout=10)[1]
                               for p in partitions}
                except KafkaException:
                    targets = None
            drained = targets is not None and all(next_offset[p] >= targets[p] for p in partitions)
            if drained or time.monotonic() > drain_deadline:
                Path(f"{args.out}.done").write_text(json.dumps({"drained": drained, "targets": targets,
                                                                "positions": next_offset}))
                consumer.close()
                return 0


def _metadata(args) -> int:
    from confluent_kafka.admin import AdminClient
    meta = AdminClient(json.loads(args.config)).list_topics(timeout=20)
    print(json.dumps({
        "brokers": sorted(meta.brokers), "controller": meta.controller_id,
        "partitions": [{"topic": t, "partition": p.id, "leader": p.leader, "replicas": p.replicas, "isrs": p.isrs}
                       for t, tm in meta.topics.items() for p in tm.partitions.values()]}))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["produce", "consume", "metadata"])
    parser.add_argument("--config", required=True)
    parser.add_argument("--topic")
    parser.add_argument("--out")
    parser.add_argument("--first-seq", type=int, default=0)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--payload", type=int, default=100)
    parser.add_argument("--flush-timeout", type=float, default=320)
    parser.add_argument("--drain-timeout", type=float, default=180)
    args = parser.parse_args(argv)
    return {"produce": _produce, "consume": _consume, "metadata": _metadata}[args.role](args)


if __name__ == "__main__":
    sys.exit(main())
