"""Which server.properties keys an MSK configuration may set (CreateConfiguration, UpdateConfiguration).

MSK accepts only the properties its developer guide lists under "Custom MSK configurations" ("Apache
Kafka configuration properties that you can set"); everything else (broker.id, listeners,
advertised.listeners, log.dirs, zookeeper.connect, ssl.*, sasl.*, ...) is MSK's to manage. A refused
key gets MSK's own BadRequestException message: a JSON list with one entry per offending key,

    [ {
      "name" : "broker.id",
      "value" : "7",
      "errorMessages" : [ "Key 'broker.id' is not supported by at least one Apache Kafka version. Key checked against versions: [3.9.x]" ]
    } ]

(the format seen from MSK in hashicorp/terraform-provider-aws#15797 and aws/aws-cli#5729).
"""
from __future__ import annotations

import json

from .validation import SUPPORTED_VERSIONS, bad_request

# docs.aws.amazon.com/msk/latest/developerguide/msk-configuration-properties.html (standard brokers)
CONFIGURABLE = frozenset({
    "allow.everyone.if.no.acl.found", "auto.create.topics.enable", "compression.type", "connections.max.idle.ms",
    "default.replication.factor", "delete.topic.enable", "group.initial.rebalance.delay.ms",
    "group.max.session.timeout.ms", "group.min.session.timeout.ms", "leader.imbalance.per.broker.percentage",
    "log.cleaner.delete.retention.ms", "log.cleaner.min.cleanable.ratio", "log.cleanup.policy",
    "log.flush.interval.messages", "log.flush.interval.ms", "log.message.timestamp.difference.max.ms",
    "log.message.timestamp.after.max.ms", "log.message.timestamp.before.max.ms", "log.message.timestamp.type",
    "log.retention.bytes", "log.retention.hours", "log.retention.minutes", "log.retention.ms", "log.roll.ms",
    "log.segment.bytes", "max.incremental.fetch.session.cache.slots", "message.max.bytes", "min.insync.replicas",
    "num.io.threads", "num.network.threads", "num.partitions", "num.recovery.threads.per.data.dir",
    "num.replica.fetchers", "offsets.retention.minutes", "offsets.topic.replication.factor",
    "replica.fetch.max.bytes", "replica.fetch.response.max.bytes", "replica.lag.time.max.ms",
    "replica.selector.class", "replica.socket.receive.buffer.bytes", "socket.receive.buffer.bytes",
    "socket.request.max.bytes", "socket.send.buffer.bytes", "transaction.max.timeout.ms",
    "transaction.state.log.min.isr", "transaction.state.log.replication.factor", "transactional.id.expiration.ms",
    "unclean.leader.election.enable", "zookeeper.connection.timeout.ms", "zookeeper.session.timeout.ms",
})


def _jackson(entries: list[dict]) -> str:
    """The pretty-printed JSON MSK's (Java) front end returns: `[ {`, `"key" : value`, `}, {`."""
    blocks = []
    for entry in entries:
        lines = [f'  {json.dumps(k)} : {json.dumps(v) if not isinstance(v, list) else "[ " + ", ".join(json.dumps(m) for m in v) + " ]"}'
                 for k, v in entry.items()]
        blocks.append("{\n" + ",\n".join(lines) + "\n}")
    return "[ " + ", ".join(blocks) + " ]"


def check_configurable(props: dict[str, str], kafka_versions: list[str] | None) -> None:
    """BadRequestException (MSK's message) when `props` sets a key MSK does not let users set."""
    refused = [k for k in props if k not in CONFIGURABLE]
    if not refused:
        return
    versions = ", ".join(kafka_versions or sorted(SUPPORTED_VERSIONS))
    raise bad_request(_jackson([
        {"name": k, "value": props[k],
         "errorMessages": [f"Key '{k}' is not supported by at least one Apache Kafka version. "
                           f"Key checked against versions: [{versions}]"]}
        for k in refused]), "serverProperties")
