"""MSK's AWS/Kafka metrics: exact names, units, dimensions and the EnhancedMonitoring level that
publishes them (anchors.md §1.2, DG-2023 `metrics-details.md`), and how each is derived from one
broker's JMX scrape. Each level includes the ones below it.
"""
from __future__ import annotations

from .jmx import Scrape

NAMESPACE = "AWS/Kafka"
CLUSTER, BROKER, TOPIC, GROUP, PARTITION = "Cluster Name", "Broker ID", "Topic", "Consumer Group", "Partition"
LEVELS = ["DEFAULT", "PER_BROKER", "PER_TOPIC_PER_BROKER", "PER_TOPIC_PER_PARTITION"]

PERCENT, BYTES, BYTES_PER_SEC, COUNT, COUNT_PER_SEC, MS, SECONDS, NONE = (
    "Percent", "Bytes", "Bytes/Second", "Count", "Count/Second", "Milliseconds", "Seconds", "None")


def level_at_least(cluster: dict, level: str) -> bool:
    current = cluster["Spec"].get("EnhancedMonitoring") or "DEFAULT"
    return LEVELS.index(current if current in LEVELS else "DEFAULT") >= LEVELS.index(level)


# OS metrics (host.py), DEFAULT level, dimensions Cluster Name + Broker ID.
OS_UNITS = {"CpuUser": PERCENT, "CpuSystem": PERCENT, "CpuIdle": PERCENT, "CpuIoWait": PERCENT,
            "KafkaDataLogsDiskUsed": PERCENT, "RootDiskUsed": PERCENT,
            "MemoryUsed": BYTES, "MemoryFree": BYTES, "MemoryBuffered": BYTES, "MemoryCached": BYTES,
            "SwapUsed": BYTES, "SwapFree": BYTES}

# Gauges read directly: MSK name -> (level, unit, exporter series, labels).
GAUGES = {
    "LeaderCount": ("DEFAULT", COUNT, "kafka_server_ReplicaManager_Value", {"name": "LeaderCount"}),
    "PartitionCount": ("DEFAULT", COUNT, "kafka_server_ReplicaManager_Value", {"name": "PartitionCount"}),
    "UnderReplicatedPartitions": ("DEFAULT", COUNT, "kafka_server_ReplicaManager_Value",
                                  {"name": "UnderReplicatedPartitions"}),
    "UnderMinIsrPartitionCount": ("DEFAULT", COUNT, "kafka_server_ReplicaManager_Value",
                                  {"name": "UnderMinIsrPartitionCount"}),
    "ProduceTotalTimeMsMean": ("DEFAULT", MS, "kafka_network_RequestMetrics_Mean",
                               {"name": "TotalTimeMs", "request": "Produce"}),
    "ZooKeeperRequestLatencyMsMean": ("DEFAULT", MS, "kafka_server_ZooKeeperClientMetrics_Mean",
                                      {"name": "ZooKeeperRequestLatencyMs"}),
    "NetworkProcessorAvgIdlePercent": ("PER_BROKER", PERCENT, "kafka_network_SocketServer_Value",
                                       {"name": "NetworkProcessorAvgIdlePercent"}),
    "RequestHandlerAvgIdlePercent": ("PER_BROKER", PERCENT, "kafka_server_KafkaRequestHandlerPool_OneMinuteRate",
                                     {"name": "RequestHandlerAvgIdlePercent"}),
}
for _request, _prefix in (("Produce", "Produce"), ("FetchConsumer", "FetchConsumer"), ("FetchFollower", "FetchFollower")):
    for _part in ("Local", "RequestQueue", "ResponseQueue", "ResponseSend", "Total"):
        GAUGES.setdefault(f"{_prefix}{_part}TimeMsMean", (
            "PER_BROKER", MS, "kafka_network_RequestMetrics_Mean", {"name": f"{_part}TimeMs", "request": _request}))

# Meters turned into per-second rates from their Count between two passes.
# MSK name -> (level for the broker-wide series or None, level for the per-topic series or None, unit)
TOPIC_METERS = {
    "BytesInPerSec": ("PER_BROKER", "DEFAULT", BYTES_PER_SEC),
    "BytesOutPerSec": ("PER_BROKER", "DEFAULT", BYTES_PER_SEC),
    "MessagesInPerSec": ("DEFAULT", "PER_TOPIC_PER_BROKER", COUNT_PER_SEC),
    "FetchMessageConversionsPerSec": (None, "PER_TOPIC_PER_BROKER", COUNT_PER_SEC),
    "ProduceMessageConversionsPerSec": (None, "PER_TOPIC_PER_BROKER", COUNT_PER_SEC),
    "ReplicationBytesInPerSec": ("PER_BROKER", None, BYTES_PER_SEC),
    "ReplicationBytesOutPerSec": ("PER_BROKER", None, BYTES_PER_SEC),
}
METER_SERIES = "kafka_server_BrokerTopicMetrics_Count"

# Heap left after the last collection, per G1 heap pool (the default export names a pool by its name).
HEAP_POOLS_AFTER_GC = [f"java_lang_G1_{pool}_CollectionUsage_used" for pool in ("Eden_Space", "Old_Gen", "Survivor_Space")]

# Cluster-level (dimension Cluster Name only) from the KafkaController gauges: in ZooKeeper mode every
# broker registers them and only the active controller's are meaningful, so aggregate.
CONTROLLER = {"ActiveControllerCount": sum, "OfflinePartitionsCount": max, "GlobalPartitionCount": max,
              "GlobalTopicCount": max}
CONTROLLER_SERIES = "kafka_controller_KafkaController_Value"


def controller_values(scrapes: list[Scrape]) -> dict[str, float]:
    out = {}
    for name, combine in CONTROLLER.items():
        found = [v for s in scrapes if (v := s.value(CONTROLLER_SERIES, name=name)) is not None]
        if found:
            out[name] = float(combine(found))
    return out


def gauge_values(scrape: Scrape, cluster: dict) -> list[tuple[str, float, str]]:
    out = []
    for name, (level, unit, series, labels) in GAUGES.items():
        if not level_at_least(cluster, level):
            continue
        value = scrape.value(series, **labels)
        if value is not None:
            out.append((name, value, unit))
    if level_at_least(cluster, "DEFAULT"):
        conns = scrape.sum("kafka_server_socket_server_metrics_connection_count")
        if conns is not None:
            out.append(("ConnectionCount", conns, COUNT))
        heap_max = scrape.value("java_lang_Memory_HeapMemoryUsage_max")
        pools = [v for name in HEAP_POOLS_AFTER_GC if (v := scrape.sum(name)) is not None]
        after_gc = sum(pools) if pools else None
        if heap_max and heap_max > 0 and after_gc is not None:
            out.append(("HeapMemoryAfterGC", 100.0 * after_gc / heap_max, PERCENT))
    if level_at_least(cluster, "PER_BROKER"):
        for name, series in (("ConnectionCreationRate", "kafka_server_socket_server_metrics_connection_creation_rate"),
                             ("ConnectionCloseRate", "kafka_server_socket_server_metrics_connection_close_rate")):
            value = scrape.sum(series)
            if value is not None:
                out.append((name, value, COUNT_PER_SEC))
    return out


def meter_counts(scrape: Scrape) -> dict[tuple[str, str | None], float]:
    """(MSK meter name, topic or None for broker-wide) -> cumulative count."""
    out = {}
    for labels, value in scrape.series(METER_SERIES):
        name = labels.get("name")
        if name in TOPIC_METERS and set(labels) <= {"name", "topic"}:
            out[(name, labels.get("topic"))] = value
    return out


def families() -> list[str]:
    """Every exporter metric family the collector reads (asked for with `?name[]=`: a full scrape is
    ~850 KB, mostly request histograms nobody publishes to CloudWatch)."""
    names = {series for _, _, series, _ in GAUGES.values()}
    names |= {METER_SERIES, CONTROLLER_SERIES, "java_lang_Memory_HeapMemoryUsage_max", *HEAP_POOLS_AFTER_GC,
              "kafka_server_socket_server_metrics_connection_count",
              "kafka_server_socket_server_metrics_connection_creation_rate",
              "kafka_server_socket_server_metrics_connection_close_rate"}
    return sorted(names)
