"""The Prometheus JMX exporter agent on every broker, and reading what it serves.

Every broker runs the agent, because CloudWatch's AWS/Kafka metrics need Kafka's MBeans whether or not
the user turned Open Monitoring on. Where it listens is what Open Monitoring decides:
  * `OpenMonitoring.Prometheus.JmxExporter.EnabledInBroker` -> `<broker-ip>:11001`, MSK's port, so a
    Prometheus configured for MSK scrapes it unchanged;
  * otherwise -> `<broker-ip>:11011`, an internal port only the collector uses, so 11001 stays closed
    as on MSK. Switching moves a JVM option, hence a rolling restart (UpdateMonitoring).
The config is MSK's naming: jmx_exporter's default export (kafka-runtime.md §4), e.g.
`kafka_server_BrokerTopicMetrics_Count{name="BytesInPerSec",topic="t"}`.
"""
from __future__ import annotations

import asyncio
import re

from ..runtime.distribution import DistributionMissing, jmx_exporter_agent

OPEN_MONITORING_PORT = 11001
INTERNAL_PORT = 11011
CONFIG_FILE = "jmx-exporter.yaml"

EXPORTER_CONFIG = """\
# openmsk: Prometheus JMX exporter, MSK Open Monitoring naming (default export of every MBean)
lowercaseOutputName: false
lowercaseOutputLabelNames: false
includeObjectNames: ["kafka.server:*", "kafka.controller:*", "kafka.network:*", "kafka.log:*",
                     "kafka.cluster:*", "kafka.coordinator.group:*", "kafka.coordinator.transaction:*",
                     "java.lang:*"]
rules:
  - pattern: ".*"
"""

# Without Open Monitoring only the collector reads the agent: collect just the MBeans it publishes
# (the agent walks every included MBean on each scrape; the full set costs ~10x the CPU in the JVM),
# and the IAM authorizer's timers (plugins/msk-iam AuthorizeTimer; three MBeans, read by bench/iam.py).
COLLECTOR_CONFIG = """\
# openmsk: Prometheus JMX exporter for the CloudWatch collector only (Open Monitoring is off)
lowercaseOutputName: false
lowercaseOutputLabelNames: false
includeObjectNames: ["kafka.server:type=ReplicaManager,*", "kafka.controller:type=KafkaController,*",
                     "kafka.server:type=BrokerTopicMetrics,*", "kafka.server:type=ZooKeeperClientMetrics,*",
                     "kafka.network:type=RequestMetrics,request=Produce,*",
                     "kafka.network:type=RequestMetrics,request=FetchConsumer,*",
                     "kafka.network:type=RequestMetrics,request=FetchFollower,*",
                     "kafka.network:type=SocketServer,*", "kafka.server:type=KafkaRequestHandlerPool,*",
                     "kafka.server:type=socket-server-metrics,*", "java.lang:type=Memory",
                     "java.lang:type=MemoryPool,*", "kafka.server:type=OpenmskIamAuthorizer,*"]
rules:
  - pattern: ".*"
"""


def jmx_exporter_enabled(cluster: dict) -> bool:
    prom = ((cluster["Spec"].get("OpenMonitoring") or {}).get("Prometheus") or {})
    return bool((prom.get("JmxExporter") or {}).get("EnabledInBroker"))


def node_exporter_enabled(cluster: dict) -> bool:
    prom = ((cluster["Spec"].get("OpenMonitoring") or {}).get("Prometheus") or {})
    return bool((prom.get("NodeExporter") or {}).get("EnabledInBroker"))


def exporter_port(cluster: dict) -> int:
    return OPEN_MONITORING_PORT if jmx_exporter_enabled(cluster) else INTERNAL_PORT


def broker_extension(cluster: dict, broker) -> tuple[list[str], dict[str, str]]:
    """`ControlPlane.broker_extensions` hook: attach the agent (if installed) to a broker's JVM."""
    try:
        agent = jmx_exporter_agent()
    except DistributionMissing:
        return [], {}          # brokers still run; AWS/Kafka then has OS metrics only
    address = f"{broker.config.host}:{exporter_port(cluster)}"
    config = EXPORTER_CONFIG if jmx_exporter_enabled(cluster) else COLLECTOR_CONFIG
    return [f"-javaagent:{agent}={address}:{broker.workdir / CONFIG_FILE}"], {CONFIG_FILE: config}


# -- reading /metrics --------------------------------------------------------------------------
_LINE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')

Sample = tuple[str, dict[str, str], float]


def parse_exposition(text: str) -> list[Sample]:
    """Prometheus text format -> [(name, labels, value)] (comments and NaN dropped)."""
    samples = []
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        m = _LINE.match(line)
        if not m:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        if value != value:        # NaN
            continue
        labels = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(m.group(2) or "")}
        samples.append((m.group(1), labels, value))
    return samples


async def scrape(host: str, port: int, names: list[str] | None = None, timeout: float = 10.0) -> list[Sample] | None:
    """GET http://host:port/metrics[?name[]=...] with a bare asyncio stream (no client library)."""
    query = "?" + "&".join(f"name[]={n}" for n in names) if names else ""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError):
        return None
    try:
        writer.write(f"GET /metrics{query} HTTP/1.0\r\nHost: {host}:{port}\r\nAccept: text/plain\r\n\r\n".encode())
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)
    except (OSError, asyncio.TimeoutError):
        return None
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
        return None
    if b"chunked" in head.lower():
        body = _dechunk(body)
    return parse_exposition(body.decode("utf-8", "replace"))


def _dechunk(body: bytes) -> bytes:
    out, pos = bytearray(), 0
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            return bytes(out)
        size = int(body[pos:end].split(b";")[0] or b"0", 16)
        if size == 0:
            return bytes(out)
        out += body[end + 2:end + 2 + size]
        pos = end + 2 + size + 2


class Scrape:
    """Lookups over one scrape: `value(name, **labels)`, `sum`, and label-grouped series."""

    def __init__(self, samples: list[Sample]) -> None:
        self.by_name: dict[str, list[tuple[dict[str, str], float]]] = {}
        for name, labels, value in samples:
            self.by_name.setdefault(name, []).append((labels, value))

    def series(self, family: str, /, **match: str) -> list[tuple[dict[str, str], float]]:
        return [(l, v) for l, v in self.by_name.get(family, ()) if all(l.get(k) == x for k, x in match.items())]

    def value(self, family: str, /, **match: str) -> float | None:
        """The value of the series with exactly these labels."""
        for labels, value in self.series(family, **match):
            if set(labels) == set(match):
                return value
        return None

    def sum(self, family: str, /, **match: str) -> float | None:
        found = self.series(family, **match)
        return sum(v for _, v in found) if found else None
