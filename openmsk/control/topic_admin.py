"""Kafka topic administration for the topic APIs, each call in a short-lived child process.

The API's CreateTopic/DescribeTopic/... become AdminClient calls against the cluster's replication
listener with the control plane's own certificate (`scram.admin_config`, a Kafka super user). They run
in `python -m openmsk.control.topic_admin`, one process per call, request on stdin and one JSON reply
on stdout: librdkafka can abort() its host process when brokers restart under it, and the control
plane must not be that process (same reason as scram.py and telemetry/lag_worker.py).

Replies are `{"ok": ...}` or `{"error": {"code": <KafkaError name>, "message": ...}}`; a child that
dies or does not answer in time raises `AdminUnavailable` (the caller maps it to MSK's 409s).
"""
from __future__ import annotations

import asyncio
import ctypes
import json
import signal
import sys


# The whole child must answer before the aws CLI's own 60 s read timeout (it would retry the request).
CALL_TIMEOUT = 58.0
KAFKA_TIMEOUT = 25.0         # each AdminClient request inside it (describe/update/delete make two)
CREATE_TIMEOUT = 45.0        # CreateTopics is the only request of its call


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


async def run_in_child(module: str, request: dict, timeout: float = CALL_TIMEOUT) -> dict:
    """Run `python -m <module>` with `request` as JSON on stdin; return its one JSON reply.

    Secrets may travel in `request` (stdin, never the command line)."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", module, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                preexec_fn=_die_with_parent)
    try:
        out, err = await asyncio.wait_for(proc.communicate(json.dumps(request).encode()), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise AdminUnavailable(f"no answer from the brokers within {timeout:.0f} s", timed_out=True)
    lines = out.decode(errors="replace").strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = err.decode(errors="replace").strip().splitlines()
        raise AdminUnavailable(tail[-1] if tail else f"admin process exited with code {proc.returncode}")
    try:
        reply = json.loads(lines[-1])
    except ValueError:
        raise AdminUnavailable(f"unreadable answer from the admin process: {lines[-1][:200]!r}")
    if "error" in reply:
        raise KafkaAdminError(reply["error"]["code"], reply["error"]["message"])
    return reply["ok"]


class TopicAdmin:
    """What the kafka service calls; one method per topic action, all coroutines. The calls run in a few
    long-lived admin processes (admin_workers.py): same isolation, no process start per call."""

    def __init__(self, plane) -> None:
        from .admin_workers import AdminWorkers
        self.plane = plane
        self.workers = AdminWorkers()

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
                         configs=configs)

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


def _create(admin, name: str, partitions: int, replication: int, configs: dict) -> None:
    from confluent_kafka.admin import NewTopic
    topic = NewTopic(name, num_partitions=partitions, replication_factor=replication, config=configs)
    admin.create_topics([topic], operation_timeout=CREATE_TIMEOUT - 5,
                        request_timeout=CREATE_TIMEOUT)[name].result(CREATE_TIMEOUT + 5)


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


def main() -> None:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient
    request = json.loads(sys.stdin.read())
    admin = AdminClient({**request["config"], "client.id": "openmsk-topic-api", "log_level": 3})
    try:
        reply = {"ok": ACTIONS[request["action"]](admin, **request["args"])}
    except KafkaException as exc:
        error = exc.args[0]
        reply = {"error": {"code": error.name(), "message": error.str()}}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
