"""server.properties for an MSK-style broker (ZooKeeper mode, Kafka 3.9).

Layering, lowest first (as Kafka's system tests do: template -> service overrides -> node overrides):
  1. MSK's documented defaults (shared/reference/anchors.md §1.4), including the zone-dependent
     replication defaults (3 zones: RF 3 / min ISR 2; 2 zones: RF 2 / min ISR 1);
  2. what the broker's instance type sets (instance_types.py: thread counts, request size);
  3. the user's configuration revision (`CreateConfiguration` server.properties), its static keys only
     (dynamic ones are applied through the admin API: see DYNAMIC_CLUSTER_WIDE);
  4. what openmsk owns per node (ids, rack, listeners, paths, ZooKeeper connection) — never overridable,
     as on MSK where these are "static broker configs".
Rendered sorted, so the file is deterministic and its hash changes only when content does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

MSK_DEFAULTS: dict[str, str] = {
    "allow.everyone.if.no.acl.found": "true",
    "auto.create.topics.enable": "false",
    "auto.leader.rebalance.enable": "true",
    "num.io.threads": "8",
    "num.network.threads": "5",
    "num.partitions": "1",
    "num.replica.fetchers": "2",
    "replica.lag.time.max.ms": "30000",
    "socket.receive.buffer.bytes": "102400",
    "socket.send.buffer.bytes": "102400",
    "socket.request.max.bytes": "104857600",
    "unclean.leader.election.enable": "true",
    "zookeeper.session.timeout.ms": "18000",
    "zookeeper.connection.timeout.ms": "18000",
    "zookeeper.set.acl": "false",
    "log.retention.hours": "168",
    "controlled.shutdown.enable": "true",
}

# Keys openmsk sets per node; a configuration revision may not set them (MSK rejects them too).
MANAGED_KEYS = frozenset({
    "broker.id", "broker.rack", "listeners", "advertised.listeners", "listener.security.protocol.map",
    "inter.broker.listener.name", "security.inter.broker.protocol", "log.dirs", "log.dir",
    "zookeeper.connect", "port", "host.name", "advertised.host.name", "advertised.port",
    "node.id", "process.roles", "controller.quorum.voters", "controller.listener.names",
    "broker.id.generation.enable", "reserved.broker.max.id", "authorizer.class.name", "super.users",
}) | frozenset()
MANAGED_PREFIXES = ("ssl.", "sasl.", "zookeeper.ssl.", "zookeeper.clientCnxnSocket", "listener.name.")


def is_managed_key(key: str) -> bool:
    return key in MANAGED_KEYS or key.startswith(MANAGED_PREFIXES)


# Broker settings Kafka 3.9 updates cluster-wide without a restart ("Update Mode: cluster-wide" in the
# output of `java -cp <kafka jars> kafka.server.KafkaConfig`; tests/test_broker_changes.py checks this
# list against the jars). A configuration revision applies these through the admin API
# (IncrementalAlterConfigs on the cluster-wide default) instead of server.properties, so changing one
# restarts nothing; every other key is static and rolls the brokers.
DYNAMIC_CLUSTER_WIDE = frozenset({
    "background.threads", "compression.gzip.level", "compression.lz4.level", "compression.type",
    "compression.zstd.level", "log.cleaner.backoff.ms", "log.cleaner.dedupe.buffer.size",
    "log.cleaner.delete.retention.ms", "log.cleaner.io.buffer.load.factor", "log.cleaner.io.buffer.size",
    "log.cleaner.io.max.bytes.per.second", "log.cleaner.max.compaction.lag.ms", "log.cleaner.min.cleanable.ratio",
    "log.cleaner.min.compaction.lag.ms", "log.cleaner.threads", "log.cleanup.policy", "log.flush.interval.messages",
    "log.flush.interval.ms", "log.index.interval.bytes", "log.index.size.max.bytes", "log.local.retention.bytes",
    "log.local.retention.ms", "log.message.downconversion.enable", "log.message.timestamp.after.max.ms",
    "log.message.timestamp.before.max.ms", "log.message.timestamp.difference.max.ms", "log.message.timestamp.type",
    "log.preallocate", "log.retention.bytes", "log.retention.ms", "log.roll.jitter.ms", "log.roll.ms",
    "log.segment.bytes", "log.segment.delete.delay.ms", "max.connection.creation.rate", "max.connections",
    "max.connections.per.ip", "max.connections.per.ip.overrides", "message.max.bytes", "metric.reporters",
    "min.insync.replicas", "num.io.threads", "num.network.threads", "num.recovery.threads.per.data.dir",
    "num.replica.fetchers", "producer.id.expiration.ms", "remote.fetch.max.wait.ms",
    "remote.log.index.file.cache.total.size.bytes", "remote.log.manager.copy.max.bytes.per.second",
    "remote.log.manager.fetch.max.bytes.per.second", "transaction.partition.verification.enable",
    "unclean.leader.election.enable",
})


def is_dynamic_key(key: str) -> bool:
    return key in DYNAMIC_CLUSTER_WIDE


def zone_defaults(zone_count: int, broker_count: int) -> dict[str, str]:
    rf = 3 if zone_count >= 3 else 2
    rf = max(1, min(rf, broker_count))
    min_isr = max(1, min(2 if zone_count >= 3 else 1, rf - 1 if rf > 1 else 1))
    return {
        "default.replication.factor": str(rf),
        "min.insync.replicas": str(min_isr),
        "offsets.topic.replication.factor": str(rf),
        "transaction.state.log.replication.factor": str(rf),
        "transaction.state.log.min.isr": str(min_isr),
    }


@dataclass(frozen=True)
class Listener:
    name: str          # e.g. PLAINTEXT, TLS, SASL_SCRAM
    protocol: str      # Kafka security protocol: PLAINTEXT, SSL, SASL_SSL
    port: int
    host: str | None = None   # bind/advertise address when not the broker's own (public access)
    bind: str | None = None   # bind address when not `host` (public access relayed into a namespace)
    advertised_port: int | None = None   # when clients reach it on another port (multi-VPC relays)


@dataclass
class BrokerConfig:
    broker_id: int
    rack: str
    host: str
    listeners: list[Listener]
    inter_broker_listener: str
    log_dir: str
    zookeeper_connect: str
    zone_count: int
    broker_count: int
    user_properties: dict[str, str] = field(default_factory=dict)
    instance_defaults: dict[str, str] = field(default_factory=dict)   # by instance type (instance_types.py)
    extra_managed: dict[str, str] = field(default_factory=dict)   # TLS/SASL settings from other steps
    kraft_cluster_id: str | None = None     # KRaft mode (runtime/kraft.py): no ZooKeeper settings at all

    def properties(self) -> dict[str, str]:
        props = dict(MSK_DEFAULTS)
        props.update(zone_defaults(self.zone_count, self.broker_count))
        props.update(self.instance_defaults)
        props.update({k: v for k, v in self.user_properties.items() if not is_managed_key(k)})
        props.update({
            "broker.id": str(self.broker_id),
            "broker.rack": self.rack,
            "listeners": ",".join(f"{l.name}://{l.bind or l.host or self.host}:{l.port}" for l in self.listeners),
            "advertised.listeners": ",".join(f"{l.name}://{l.host or self.host}:{l.advertised_port or l.port}"
                                              for l in self.listeners),
            "listener.security.protocol.map": ",".join(f"{l.name}:{l.protocol}" for l in self.listeners),
            "inter.broker.listener.name": self.inter_broker_listener,
            "log.dirs": self.log_dir,
            "zookeeper.connect": self.zookeeper_connect,
        })
        if self.kraft_cluster_id:
            # node.id (runtime/kraft.py) names a KRaft node; broker.id is ZooKeeper mode's
            props = {k: v for k, v in props.items() if not k.startswith("zookeeper.") and k != "broker.id"}
            props["listener.security.protocol.map"] += ",CONTROLLER:SSL"
        props.update(self.extra_managed)
        return props


def render_properties(props: dict[str, str], header: str) -> str:
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [f"{k}={_escape(v)}" for k, v in sorted(props.items())]
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def parse_properties(text: str) -> dict[str, str]:
    """Java .properties subset as MSK accepts in server.properties: key=value or key: value, # and ! comments."""
    props: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        for sep_index, ch in enumerate(line):
            if ch in "=:":
                key, value = line[:sep_index].strip(), line[sep_index + 1:].strip()
                break
        else:
            raise ValueError(f"not a key=value line: {raw!r}")
        if not key:
            raise ValueError(f"empty property name in line: {raw!r}")
        props[key] = value
    return props
