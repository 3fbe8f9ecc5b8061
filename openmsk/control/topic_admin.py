"""Kafka topic administration for the topic APIs, each call in a child process.

The API's CreateTopic/DescribeTopic/... become AdminClient calls against the cluster's replication
listener with the control plane's own certificate (`scram.admin_config`, a Kafka super user). They run
in a few long-lived admin processes (admin_workers.py; the actions are this module's ACTIONS), one
JSON request and one JSON reply per line: librdkafka can abort() its host process when brokers restart
under it, and the control plane must not be that process (same reason as scram.py and
telemetry/lag_worker.py).

Replies are `{"ok": ...}` or `{"error": {"code": <KafkaError name>, "message": ...}}`; a child that
dies or does not answer in time raises `AdminUnavailable` (the caller maps it to MSK's 409s).
"""
from __future__ import annotations

import ctypes
import os
import signal


# The whole child must answer before the aws CLI's own 60 s read timeout (it would retry the request).
CALL_TIMEOUT = 58.0
KAFKA_TIMEOUT = 25.0         # each AdminClient request inside it (describe/update/delete make two)
# CreateTopic: how long Kafka holds the CreateTopics answer until the new partitions have leaders (its
# operation timeout). Past it the answer is still MSK's Status CREATING if the controller recorded the
# topic (MSK's CreateTopic answers CREATING at once): a loaded host is not a failed create.
# OPENMSK_TOPIC_CREATE_WAIT_SECONDS changes it (tests make it run out). 40 s, as before this fallback
# existed; with the check below the call stays within CALL_TIMEOUT (40 + 5 + 10 s).
CREATE_WAIT = 40.0
VERIFY_TIMEOUT = 8.0         # the validate-only CreateTopics asking whether the topic was recorded


def create_wait() -> float:
    return max(0.001, float(os.environ.get("OPENMSK_TOPIC_CREATE_WAIT_SECONDS", CREATE_WAIT)))


class AdminUnavailable(Exception):
    """The child could not talk to the brokers (crashed, timed out)."""

    def __init__(self, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class KafkaAdminError(Exception):
    """Kafka refused the request; `code` is the KafkaError name (TOPIC_ALREADY_EXISTS, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)     # PR_SET_PDEATHSIG
    except OSError:
        pass


class TopicAdmin:
    """What the kafka service calls; one method per topic action, all coroutines. The calls run in a few
    long-lived admin processes (admin_workers.py): same isolation, no process start per call."""

    def __init__(self, plane) -> None:
        from .admin_workers import AdminWorkers
        self.plane = plane
        self.workers = AdminWorkers()
        self.create_wait = create_wait()

    async def _call(self, cluster: dict, action: str, **args) -> dict:
        from .scram import admin_config       # here, not at the top: the child imports only confluent_kafka
        reply = await self.workers.call({"config": admin_config(self.plane, cluster), "action": action,
                                         "args": args}, CALL_TIMEOUT)
        if "error" in reply:
            raise KafkaAdminError(reply["error"]["code"], reply["error"]["message"])
        return reply["ok"]

    async def list_topics(self, cluster: dict) -> dict:
        """-> {"brokers": n, "topics": {name: [[partition, leader, replicas, isr], ...]}}"""
        return await self._call(cluster, "list")

    async def describe_topic(self, cluster: dict, name: str) -> dict:
        """-> {"partitions": [[partition, leader, replicas, isr], ...], "configs": {key: value}}"""
        return await self._call(cluster, "describe", name=name)

    async def create_topic(self, cluster: dict, name: str, partitions: int, replication: int,
                           configs: dict[str, str]) -> None:
        await self._call(cluster, "create", name=name, partitions=partitions, replication=replication,
                         configs=configs, wait=self.create_wait)

    async def update_topic(self, cluster: dict, name: str, partitions: int | None,
                           configs: dict[str, str] | None) -> None:
        await self._call(cluster, "update", name=name, partitions=partitions, configs=configs)

    async def delete_topic(self, cluster: dict, name: str) -> None:
        await self._call(cluster, "delete", name=name)


# -- the child process -------------------------------------------------------------------------------
def _topics(admin) -> dict:
    metadata = admin.list_topics(timeout=KAFKA_TIMEOUT)
    topics = {}
    for name, topic in metadata.topics.items():
        if topic.error is not None:
            continue
        topics[name] = sorted([p.id, p.leader, list(p.replicas), list(p.isrs)] for p in topic.partitions.values())
    return {"brokers": len(metadata.brokers), "topics": topics}


def _require(admin, name: str) -> list:
    partitions = _topics(admin)["topics"].get(name)
    if partitions is None:
        from confluent_kafka import KafkaError, KafkaException
        raise KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART,
                                        "This server does not host this topic-partition."))
    return partitions


def _describe(admin, name: str) -> dict:
    from confluent_kafka.admin import ConfigResource
    partitions = _require(admin, name)
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    entries = admin.describe_configs([resource], request_timeout=KAFKA_TIMEOUT)[resource].result(KAFKA_TIMEOUT)
    configs = {k: e.value for k, e in entries.items() if not e.is_sensitive and e.value is not None}
    return {"partitions": partitions, "configs": configs}


def _create(admin, name: str, partitions: int, replication: int, configs: dict, wait: float = CREATE_WAIT) -> None:
    """Create the topic. Kafka validates it (name, replication factor, configs, existence) and records it
    before it waits up to `wait` for the partitions' leaders; if that wait runs out, the topic counts as
    created (MSK's Status CREATING) when a validate-only CreateTopics finds it recorded. Kafka's
    REQUEST_TIMED_OUT alone does not say so: a KRaft controller times out requests it never applied."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic
    topic = NewTopic(name, num_partitions=partitions, replication_factor=replication, config=configs)
    try:
        admin.create_topics([topic], operation_timeout=wait, request_timeout=wait + 4)[name].result(wait + 5)
        return
    except KafkaException as exc:
        if exc.args[0].code() not in (KafkaError.REQUEST_TIMED_OUT, KafkaError._TIMED_OUT):
            raise
        timed_out = exc
    except TimeoutError:             # the future outlived its own timeout: as ambiguous as the above
        timed_out = KafkaException(KafkaError(KafkaError._TIMED_OUT, f"CreateTopics: no answer in {wait + 5:.0f} s"))
    try:
        admin.create_topics([topic], validate_only=True,
                            request_timeout=VERIFY_TIMEOUT)[name].result(VERIFY_TIMEOUT + 2)
    except KafkaException as exc:
        error = exc.args[0]
        if error.code() == KafkaError.TOPIC_ALREADY_EXISTS and "marked for deletion" not in error.str():
            return                   # recorded: its partitions get leaders later (DescribeTopic: CREATING)
    except TimeoutError:
        pass
    raise timed_out


def _update(admin, name: str, partitions: int | None, configs: dict | None) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions
    _require(admin, name)
    steps = []
    if partitions is not None:
        steps.append(lambda validate: admin.create_partitions(
            [NewPartitions(name, partitions)], validate_only=validate, operation_timeout=KAFKA_TIMEOUT,
            request_timeout=KAFKA_TIMEOUT)[name].result(KAFKA_TIMEOUT + 5))
    if configs:
        entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in configs.items()]
        resource = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=entries)
        steps.append(lambda validate: admin.incremental_alter_configs(
            [resource], validate_only=validate, request_timeout=KAFKA_TIMEOUT)[resource].result(KAFKA_TIMEOUT + 5))
    for step in steps:          # all validated first, so a refused part changes nothing
        step(True)
    for step in steps:
        step(False)


def _delete(admin, name: str) -> None:
    _require(admin, name)
    admin.delete_topics([name], operation_timeout=KAFKA_TIMEOUT,
                        request_timeout=KAFKA_TIMEOUT)[name].result(KAFKA_TIMEOUT + 5)


ACTIONS = {"list": _topics, "describe": _describe, "create": _create, "update": _update, "delete": _delete}
