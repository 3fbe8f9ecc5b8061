"""Small helpers around confluent-kafka for tests (real clients against real brokers)."""
from __future__ import annotations

import time
import uuid

from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
from botocore.credentials import CredentialProvider, Credentials
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic


def tls_config(bootstrap: str, ca: str) -> dict:
    return {"bootstrap.servers": bootstrap, "security.protocol": "SSL", "ssl.ca.location": ca}


class Static(CredentialProvider):
    def __init__(self, key: str, secret: str, token: str | None = None):
        self.creds = Credentials(key, secret, token)

    def load(self):
        return self.creds


def iam_config(bootstrap: str, ca: str, key: str, secret: str, token: str | None = None) -> dict:
    """confluent-kafka's settings for MSK IAM, as AWS documents them for non-Java clients: OAUTHBEARER
    tokens from aws-msk-iam-sasl-signer-python, signed with the given key (not the default chain)."""
    def oauth_cb(_config):
        value, expiry_ms = MSKAuthTokenProvider.generate_auth_token_from_credentials_provider(
            "us-east-1", Static(key, secret, token))
        return value, expiry_ms / 1000
    return {"bootstrap.servers": bootstrap, "security.protocol": "SASL_SSL", "sasl.mechanisms": "OAUTHBEARER",
            "oauth_cb": oauth_cb, "ssl.ca.location": ca}


def admin(config: dict) -> AdminClient:
    return AdminClient(config)


def create_topic(config: dict, topic: str, partitions: int = 3, replication: int | None = None,
                 topic_config: dict[str, str] | None = None) -> None:
    kw = {"replication_factor": replication} if replication else {}
    if topic_config:
        kw["config"] = topic_config
    client = AdminClient(config)      # keep a reference: a destroyed handle fails its futures
    client.create_topics([NewTopic(topic, num_partitions=partitions, **kw)])[topic].result(60)


def delete_topic(config: dict, topic: str) -> None:
    """Delete a topic a test made (tests on a shared cluster leave it as they found it)."""
    client = AdminClient(config)
    client.delete_topics([topic], operation_timeout=60)[topic].result(90)


def produce(config: dict, topic: str, messages: list[bytes], **extra) -> None:
    producer = Producer({**config, "acks": "all", **extra})
    errors = []
    for m in messages:
        producer.produce(topic, m, on_delivery=lambda err, msg: err and errors.append(err))
    assert producer.flush(60) == 0
    assert not errors, errors


def consume_all(config: dict, topic: str, expected: int, timeout: float = 300, group: str | None = None) -> list[bytes]:
    # A cluster's first consumer group creates __consumer_offsets (50 partitions x 3 replicas): ~55 s
    # at load 50-100 on the 2-core machine. The read returns as soon as it has `expected` messages.
    consumer = Consumer({**config, "group.id": group or f"t-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": True})
    consumer.subscribe([topic])
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < expected and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and not msg.error():
                got.append(msg.value())
    finally:
        consumer.close()
    return got


def consume_to_end(config: dict, topic: str, timeout: float = 120) -> list[bytes]:
    """Every message the topic holds now: each partition read from its start up to the high watermark
    taken when reading began. Unlike consume_all it does not stop at a count, so a duplicate (which an
    idempotent producer can still write when its epoch is bumped) cannot hide a missing message."""
    return [value for _, _, value in read_to_end(config, topic, timeout)]


# Errors a watermark lookup answers while leadership moves (librdkafka does not mark all retriable).
# OFFSET_NOT_AVAILABLE: a leader elected a moment ago whose high watermark has not caught up yet (KIP-207;
# retriable in Kafka, not flagged so by librdkafka): seen right after a roll's last restart.
RETRIED_LOOKUP_ERRORS = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                         KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT, KafkaError._TRANSPORT,
                         KafkaError.OFFSET_NOT_AVAILABLE}


def _high_watermark(consumer: Consumer, topic: str, partition: int, timeout: float = 120) -> int:
    """The partition's end offset. Right after a roll or a preferred-leader election the client's
    metadata may still name the old leader, which answers NOT_LEADER_FOR_PARTITION (one CI run failed
    so): retriable errors are retried with fresh metadata until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)[1]
        except KafkaException as exc:
            error = exc.args[0]
            if not error.retriable() and error.code() not in RETRIED_LOOKUP_ERRORS or time.monotonic() > deadline:
                raise
            time.sleep(1)
            consumer.list_topics(topic, timeout=30)          # refresh the leaders


def read_to_end(config: dict, topic: str, timeout: float = 120) -> list[tuple[int, int, bytes]]:
    """consume_to_end with each message's (partition, offset): a value stored twice in the log shows
    at two offsets, one the client delivered twice at the same offset."""
    consumer = Consumer({**config, "group.id": f"t-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        ends = {p: _high_watermark(consumer, topic, p) for p in partitions}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions if ends[p] > 0])
        pending = {p for p, end in ends.items() if end > 0}
        got: list[tuple[int, int, bytes]] = []
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            got.append((msg.partition(), msg.offset(), msg.value()))
            if msg.offset() + 1 >= ends[msg.partition()]:
                pending.discard(msg.partition())
        assert not pending, f"partitions {sorted(pending)} of {topic} not read to their end in {timeout}s"
        return got
    finally:
        consumer.close()


def broker_config(config: dict, broker_id: int) -> dict[str, str]:
    resource = ConfigResource(ConfigResource.Type.BROKER, str(broker_id))
    client = AdminClient(config)
    result = client.describe_configs([resource])[resource].result(30)
    return {k: v.value for k, v in result.items()}


def effective(config: dict, broker_id: int, key: str) -> tuple[str, str]:
    """(value, source name) of one broker setting, as Kafka reports it."""
    resource = ConfigResource(ConfigResource.Type.BROKER, str(broker_id))
    client = AdminClient(config)      # keep a reference: a destroyed handle fails its futures
    entry = client.describe_configs([resource])[resource].result(60)[key]
    return entry.value, ConfigSource(entry.source).name


def cluster_nodes(config: dict):
    client = AdminClient(config)
    return client.describe_cluster(request_timeout=30).result(60).nodes
