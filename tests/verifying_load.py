"""A client load that runs while a test changes a live cluster: an idempotent acks=all producer in a
thread (what it had acknowledged is recorded) and, afterwards, a consumer that reads the topic back
and tells which acknowledged messages are missing."""
from __future__ import annotations

import json
import logging
import signal
import subprocess
import threading
import time
from pathlib import Path

from confluent_kafka import Producer

from kafka_clients import consume_to_end


class VerifyingLoad:
    # ~50 messages/s as bursts of 5 every 0.1 s: each burst is one produce request per partition leader,
    # so the brokers (most of the suite's CPU) serve ~10 requests/s instead of ~50 for the same message
    # count; a roll or fault still lands in the middle of a stream of acknowledged messages.
    def __init__(self, config: dict, topic: str, interval: float = 0.1, burst: int = 5,
                 diagnose: bool = False) -> None:
        self.config, self.topic, self.interval, self.burst = config, topic, interval, burst
        self.acked: list[bytes] = []
        self.errors: list = []
        # diagnose: librdkafka's idempotence (`eos`) debug lines (PID/epoch changes, sequence resets, drains)
        # and the (partition, offset) each message was acknowledged at, to tell a duplicate's cause.
        self.diagnose = diagnose
        self.acked_at: dict[bytes, tuple[int, int]] = {}
        self.eos_log: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "VerifyingLoad":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        config = {**self.config, "acks": "all", "enable.idempotence": True, "message.timeout.ms": 300000}
        if self.diagnose:
            producer = Producer({**config, "debug": "eos"}, logger=_ListLogger(self.eos_log))
        else:
            producer = Producer(config)

        def on_delivery(err, msg):
            if err:
                self.errors.append(err)
            else:
                self.acked.append(msg.value())
                if self.diagnose:
                    self.acked_at[msg.value()] = (msg.partition(), msg.offset())
        i = 0
        while not self._stop.is_set():
            for _ in range(self.burst):
                producer.produce(self.topic, f"m{i}".encode(), on_delivery=on_delivery)
                i += 1
            producer.poll(0)
            time.sleep(self.interval)
        producer.flush(300)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(360)

    def lost(self, timeout: float = 120) -> set[bytes]:
        """Acknowledged messages the topic does not hold (read back from the beginning)."""
        got = consume_to_end(self.config, self.topic, timeout=timeout)
        return set(self.acked) - set(got)


class JavaVerifyingLoad:
    """The same load from Kafka's own Java producer (VerifiableProducer, idempotent, acks=all, its client's
    default retries and 5 requests in flight), `rate` messages/s, each acknowledgement (value, partition,
    offset) read from its JSON output. The control for librdkafka: the Java client does not renumber a
    partition's unacknowledged batches under a new epoch when another partition's request fails
    (log_segments.py), so under the same roll it must write no duplicate."""

    def __init__(self, bootstrap: str, ca: str, topic: str, workdir: Path, rate: int = 20,
                 extra: dict | None = None) -> None:
        from openmsk.runtime.distribution import KafkaDistribution
        workdir.mkdir(parents=True, exist_ok=True)
        props = workdir / "java-producer.properties"
        props.write_text("\n".join([
            "security.protocol=SSL", "ssl.truststore.type=PEM", f"ssl.truststore.location={ca}",
            "enable.idempotence=true", "acks=all", "delivery.timeout.ms=300000",
            # VerifiableProducer sets retries=0, which an idempotent producer refuses: the client's defaults
            "retries=2147483647", "max.in.flight.requests.per.connection=5",
            *(f"{k}={v}" for k, v in (extra or {}).items())]) + "\n")
        dist = KafkaDistribution.locate()
        self.out, self.err = workdir / "java-producer.jsonl", workdir / "java-producer.err"
        self.cmd = [dist.java(), "-Xmx128m", "-Dlog4j.configuration=file:/dev/null", "-cp", dist.classpath,
                    "org.apache.kafka.tools.VerifiableProducer", "--topic", topic, "--bootstrap-server", bootstrap,
                    "--throughput", str(rate), "--acks", "-1", "--producer.config", str(props)]
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "JavaVerifyingLoad":
        return self.start()

    def start(self) -> "JavaVerifyingLoad":
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=err, start_new_session=True)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGTERM: its shutdown hook closes the producer, which completes the sends in flight first."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(360)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)

    def _events(self, name: str) -> list[dict]:
        found = []
        for line in self.out.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("name") == name:
                found.append(event)
        return found

    @property
    def acked(self) -> list[bytes]:
        return [e["value"].encode() for e in self._events("producer_send_success")]

    @property
    def errors(self) -> list[str]:
        return [e.get("message", "") for e in self._events("producer_send_error")] + \
            ([self.err.read_text(errors="replace")[-2000:]] if self.proc and self.proc.returncode not in (0, None, -15, 143)
             else [])


class _ListLogger(logging.Logger):
    """A logger for librdkafka's debug lines that keeps the last 5,000 in a list (no handler, no output)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("verifying-load-eos", logging.DEBUG)
        self.lines = lines

    def handle(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{time.strftime('%H:%M:%S')} {record.getMessage()}")
        del self.lines[:-5000]
