"""The console's Kafka data-plane calls (consumer groups, offset resets, the message browser), made in a
child process: librdkafka can abort() its host when brokers restart under it, and a slow Kafka call must
never hold the endpoint's event loop (same reasons as control/topic_admin.py and telemetry/lag_worker.py).

Protocol: one JSON request per line on stdin, `{"config": {librdkafka}, "action": ..., "args": {...}}`;
one JSON reply per line, `{"ok": ...}` or `{"error": {"code": <KafkaError name>, "message": ...}}`.
The process is kept (one AdminClient per cluster config) and restarted by `KafkaWorker` when it dies.
"""
from __future__ import annotations

import asyncio
import base64
import ctypes
import json
import signal
import sys
import time

TIMEOUT = 15.0
REPLY_TIMEOUT = 40.0
BROWSE_LIMIT = 500


class KafkaCallError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# -- the child process -------------------------------------------------------------------------------
def _b64(data) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _ends(admin, partitions, *specs) -> dict | tuple[dict, ...]:
    """{(topic, partition): offset} per OffsetSpec, the specs' requests all in flight at once."""
    from confluent_kafka import TopicPartition
    futures = [admin.list_offsets({TopicPartition(t, p): spec for t, p in partitions}, request_timeout=TIMEOUT)
               if partitions else {} for spec in specs]
    found = []
    for batch in futures:
        out = {}
        for tp, future in batch.items():
            try:
                out[(tp.topic, tp.partition)] = future.result(TIMEOUT).offset
            except Exception:
                continue
        found.append(out)
    return found[0] if len(found) == 1 else tuple(found)


def _committed(admin, group: str) -> list:
    from confluent_kafka import ConsumerGroupTopicPartitions
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                               request_timeout=TIMEOUT)[group].result(TIMEOUT)
    return [tp for tp in result.topic_partitions or [] if not tp.error]


def _groups(admin) -> list:
    """[{group, state, members, topics, lag}] of every consumer group, in two rounds of requests instead
    of three: (ListGroups | Metadata), then (DescribeGroups | one OffsetFetch per group | ListOffsets of
    every partition the metadata named), all in flight at once. Only partitions the metadata did not
    know (a topic created between the two rounds) cost a third round."""
    from confluent_kafka import ConsumerGroupTopicPartitions
    from confluent_kafka.admin import OffsetSpec
    listing = admin.list_consumer_groups(request_timeout=TIMEOUT)
    meta = admin.list_topics(timeout=TIMEOUT)
    known = {(t, p) for t, m in meta.topics.items() if m.error is None and not t.startswith("__")
             for p in m.partitions}
    latest = {tp: OffsetSpec.latest() for tp in _tps(known)}
    ending = admin.list_offsets(latest, request_timeout=TIMEOUT) if latest else {}
    listed = listing.result(TIMEOUT)
    ids = sorted(g.group_id for g in listed.valid)
    describing = admin.describe_consumer_groups(ids, request_timeout=TIMEOUT) if ids else {}
    # One OffsetFetch per group (the client takes one group per call), all in flight at once: 20 groups
    # cost one round trip, not 20 in a row.
    pending = {g: admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)], request_timeout=TIMEOUT)[g]
               for g in ids}
    committed = {g: [tp for tp in future.result(TIMEOUT).topic_partitions or [] if not tp.error and tp.offset >= 0]
                 for g, future in pending.items()}
    ends = {}
    for tp, future in ending.items():
        try:
            ends[(tp.topic, tp.partition)] = future.result(TIMEOUT).offset
        except Exception:
            continue
    missing = {(tp.topic, tp.partition) for tps in committed.values() for tp in tps} - set(ends)
    if missing:
        ends.update(_ends(admin, missing, OffsetSpec.latest()))
    described = {}
    for gid, future in describing.items():
        try:
            described[gid] = future.result(TIMEOUT)
        except Exception:
            continue
    out = []
    for gid in ids:
        d = described.get(gid)
        tps = committed[gid]
        out.append({"group": gid, "state": str(d.state.name) if d else "UNKNOWN",
                    "members": len(d.members) if d else 0,
                    "topics": sorted({tp.topic for tp in tps}),
                    "lag": sum(max(0, ends.get((tp.topic, tp.partition), tp.offset) - tp.offset) for tp in tps)})
    return out


def _tps(pairs) -> list:
    from confluent_kafka import TopicPartition
    return [TopicPartition(t, p) for t, p in sorted(pairs)]


def _group(admin, group: str) -> dict:
    from confluent_kafka.admin import OffsetSpec
    d = admin.describe_consumer_groups([group], request_timeout=TIMEOUT)[group].result(TIMEOUT)
    members = []
    owner = {}
    for m in d.members:
        assigned = sorted([tp.topic, tp.partition] for tp in (m.assignment.topic_partitions if m.assignment else []))
        members.append({"member": m.member_id, "client": m.client_id, "host": m.host, "assignment": assigned})
        owner.update({(t, p): m.client_id for t, p in assigned})
    tps = [tp for tp in _committed(admin, group) if tp.offset >= 0]
    ends = _ends(admin, {(tp.topic, tp.partition) for tp in tps}, OffsetSpec.latest())
    partitions = [{"topic": tp.topic, "partition": tp.partition, "committed": tp.offset,
                   "end": ends.get((tp.topic, tp.partition)),
                   "lag": max(0, ends.get((tp.topic, tp.partition), tp.offset) - tp.offset),
                   "owner": owner.get((tp.topic, tp.partition))}
                  for tp in sorted(tps, key=lambda t: (t.topic, t.partition))]
    return {"group": group, "state": d.state.name, "protocol": d.partition_assignor,
            "coordinator": d.coordinator.id if d.coordinator else None, "members": members,
            "partitions": partitions}


def _topic_partitions(admin, topic: str) -> list[int]:
    from confluent_kafka import KafkaError, KafkaException
    meta = admin.list_topics(topic=topic, timeout=TIMEOUT).topics.get(topic)
    if meta is None or meta.error is not None:
        raise KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, f"Topic {topic} does not exist."))
    return sorted(meta.partitions)


def _reset(admin, group: str, topic: str | None, to: str, timestamp_ms: int | None, apply: bool) -> dict:
    """Where each committed partition of `group` (of `topic`, when given) would move; moved if `apply`."""
    from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
    from confluent_kafka.admin import OffsetSpec
    current = {(tp.topic, tp.partition): tp.offset for tp in _committed(admin, group)
               if topic is None or tp.topic == topic}
    if topic is not None:
        for p in _topic_partitions(admin, topic):
            current.setdefault((topic, p), -1)
    if not current:
        raise KafkaException(KafkaError(KafkaError._INVALID_ARG,
                                        f"Group {group} has no committed offsets{' on ' + topic if topic else ''}; "
                                        "choose a topic to reset."))
    spec = {"earliest": OffsetSpec.earliest(), "latest": OffsetSpec.latest()}.get(to)
    if spec is None:
        spec = OffsetSpec.for_timestamp(int(timestamp_ms))
    targets, latest = _ends(admin, set(current), spec, OffsetSpec.latest())
    rows = []
    for (t, p), offset in sorted(current.items()):
        target = targets.get((t, p), -1)
        if target < 0:                       # no message at or after the timestamp: the end, as Kafka's tool
            target = latest.get((t, p), 0)
        rows.append({"topic": t, "partition": p, "current": offset, "target": target,
                     "lag_after": max(0, latest.get((t, p), target) - target)})
    if apply:
        state = admin.describe_consumer_groups([group], request_timeout=TIMEOUT)[group].result(TIMEOUT).state.name
        if state not in ("EMPTY", "DEAD", "UNKNOWN"):
            raise KafkaException(KafkaError(KafkaError.REBALANCE_IN_PROGRESS if state == "PREPARING_REBALANCE"
                                            else KafkaError.UNKNOWN_MEMBER_ID,
                                            f"Group {group} is {state}: offsets can be reset only while it has no "
                                            "active members (stop its consumers first)."))
        request = ConsumerGroupTopicPartitions(group, [TopicPartition(r["topic"], r["partition"], r["target"])
                                                       for r in rows])
        admin.alter_consumer_group_offsets([request], request_timeout=TIMEOUT)[group].result(TIMEOUT)
    return {"rows": rows, "applied": apply}


def _browser(consumers: dict, key: str, config: dict):
    """The message browser's Consumer of a cluster, kept between requests (creating one, with its
    connections to every broker, was most of a browse); it never subscribes nor commits, only assigns."""
    from confluent_kafka import Consumer
    if key not in consumers:
        consumers[key] = Consumer({**config, "group.id": "openmsk-console-browser", "enable.auto.commit": False,
                                   "enable.partition.eof": True, "fetch.wait.max.ms": 100,
                                   "client.id": "openmsk-console", "log_level": 3})
    return consumers[key]


def _browse(admin, consumer, topic: str, partition: int | None, mode: str, count: int,
            offset: int | None, timestamp_ms: int | None) -> dict:
    """Up to `count` messages: the latest, from an offset, or from a timestamp."""
    from confluent_kafka import KafkaError, TopicPartition
    from confluent_kafka.admin import OffsetSpec
    count = max(1, min(int(count), BROWSE_LIMIT))
    parts = _topic_partitions(admin, topic)
    if partition is not None:
        if partition not in parts:
            from confluent_kafka import KafkaException
            raise KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART,
                                            f"Topic {topic} has no partition {partition}."))
        parts = [partition]
    wanted = {(topic, p) for p in parts}
    lows, highs = _ends(admin, wanted, OffsetSpec.earliest(), OffsetSpec.latest())
    marks = {p: (lows.get((topic, p), 0), highs.get((topic, p), 0)) for p in parts}
    if mode == "timestamp":
        found = _ends(admin, wanted, OffsetSpec.for_timestamp(int(timestamp_ms)))
        starts = {p: found[(topic, p)] if found.get((topic, p), -1) >= 0 else marks[p][1] for p in parts}
    elif mode == "offset":
        starts = {p: min(max(int(offset), marks[p][0]), marks[p][1]) for p in parts}
    else:
        starts = {p: max(marks[p][0], marks[p][1] - count) for p in parts}
    live = [TopicPartition(topic, p, starts[p]) for p in parts if starts[p] < marks[p][1]]
    messages = []
    if live:
        consumer.assign(live)
        try:
            pending = {tp.partition for tp in live}
            deadline = time.monotonic() + TIMEOUT
            per_partition = {p: 0 for p in pending}
            while pending and time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is None:
                    continue
                p = msg.partition()
                if msg.topic() != topic or p not in pending:
                    continue
                if msg.error():
                    # the partition's end (a control record can be the last offset), or an error: done with it
                    if msg.error().code() != KafkaError._PARTITION_EOF or msg.offset() >= marks[p][1]:
                        pending.discard(p)
                    continue
                if msg.offset() < starts[p]:
                    continue
                per_partition[p] += 1
                if msg.offset() + 1 >= marks[p][1] or (mode != "latest" and per_partition[p] >= count):
                    pending.discard(p)
                messages.append({"partition": p, "offset": msg.offset(), "timestamp": msg.timestamp()[1],
                                 "key": _b64(msg.key()), "value": _b64(msg.value()),
                                 "headers": [[k, _b64(v)] for k, v in (msg.headers() or [])]})
        finally:
            consumer.unassign()
    if mode == "latest":
        # A producer's burst shares one millisecond across partitions, where timestamps give no order:
        # among equal timestamps a message nearer its partition's end counts as later, so the latest N
        # keep the newest of every partition (not the tail of the highest-numbered one).
        messages.sort(key=lambda m: (m["timestamp"], m["offset"] - marks[m["partition"]][1], m["partition"]))
        messages = messages[-count:]
    else:
        messages.sort(key=lambda m: (m["timestamp"], m["partition"], m["offset"]))
        messages = messages[:count]
    return {"messages": messages, "watermarks": {str(p): list(m) for p, m in marks.items()}}


def _cluster(admin) -> dict:
    """Registered brokers and the controller, as Kafka's metadata tells them."""
    d = admin.describe_cluster(request_timeout=TIMEOUT).result(TIMEOUT)
    return {"brokers": sorted(n.id for n in d.nodes), "controller": d.controller.id if d.controller else None}


def _handle(admins: dict, consumers: dict, request: dict) -> dict:
    from confluent_kafka.admin import AdminClient
    config = request["config"]
    key = json.dumps(config, sort_keys=True)
    if key not in admins:
        admins[key] = AdminClient({**config, "client.id": "openmsk-console", "log_level": 3})
    admin, action, args = admins[key], request["action"], request.get("args", {})
    if action == "cluster":
        return _cluster(admin)
    if action == "groups":
        return _groups(admin)
    if action == "group":
        return _group(admin, **args)
    if action == "reset":
        return _reset(admin, **args)
    if action == "browse":
        return _browse(admin, _browser(consumers, key, config), **args)
    raise ValueError(f"unknown action {action}")


def main() -> None:
    from confluent_kafka import KafkaException
    admins: dict = {}
    consumers: dict = {}
    for line in sys.stdin:
        try:
            reply = {"ok": _handle(admins, consumers, json.loads(line))}
        except KafkaException as exc:
            err = exc.args[0]
            reply = {"error": {"code": err.name(), "message": err.str()}}
        except Exception as exc:
            reply = {"error": {"code": type(exc).__name__, "message": str(exc)}}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


# -- the console's side ------------------------------------------------------------------------------
def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)     # PR_SET_PDEATHSIG
    except OSError:
        pass


class KafkaWorker:
    """One worker process, started on first use and restarted after it dies or stops answering."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def call(self, config: dict, action: str, **args) -> dict:
        async with self._lock:
            if self.proc is None or self.proc.returncode is not None:
                self.proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", __name__, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.DEVNULL, preexec_fn=_die_with_parent, limit=64 * 1024 * 1024)
            proc = self.proc
            try:
                proc.stdin.write((json.dumps({"config": config, "action": action, "args": args}) + "\n").encode())
                await proc.stdin.drain()
                line = await asyncio.wait_for(proc.stdout.readline(), REPLY_TIMEOUT)
            except (OSError, asyncio.TimeoutError, ConnectionError) as exc:
                await self._stop()
                raise KafkaCallError("KafkaTimeoutException", f"the brokers did not answer in time ({exc!r})")
            if not line:
                await self._stop()
                raise KafkaCallError("ClusterConnectivityException", "the Kafka client process exited")
        reply = json.loads(line)
        if "error" in reply:
            raise KafkaCallError(reply["error"]["code"], reply["error"]["message"])
        return reply["ok"]

    async def _stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()

    async def close(self) -> None:
        async with self._lock:
            await self._stop()


if __name__ == "__main__":
    main()
