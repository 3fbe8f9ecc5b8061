"""Consumer lag as MSK computes it: committed offsets vs log-end offsets, outside Kafka.

Per group in STABLE or EMPTY state (others are rebalancing and their offsets are in flux), for every
partition it has committed: OffsetLag = log-end offset - committed offset. Per (group, topic):
MaxOffsetLag, SumOffsetLag, EstimatedMaxTimeLag. MSK does not publish its time-lag formula; here it is
the partition's lag divided by the rate its log end advanced since the previous pass, and when the log
end did not move (nothing produced) the time since the consumer last fell behind: the age of the
oldest unconsumed data is at least that. Groups whose names contain ':' or are not ASCII are skipped
(MSK drops them). The AdminClient runs in a separate worker process (lag_worker.py), never inside the
control plane: librdkafka can abort the whole process on an assertion when requests to a restarting
broker time out (seen here: `rd_kafka_enq_once_del_source_return: Assertion eonce->refcnt > 0`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

TIMEOUT = 15.0


@dataclass
class PartitionLag:
    group: str
    topic: str
    partition: int
    lag: int
    time_lag: float


@dataclass
class LagTracker:
    """Remembers log-end offsets between passes (for the time estimate)."""
    ends: dict[tuple[str, int], tuple[int, float]] = field(default_factory=dict)
    behind_since: dict[tuple[str, str, int], float] = field(default_factory=dict)

    def time_lag(self, group: str, topic: str, partition: int, lag: int, end: int, now: float,
                 previous: tuple[int, float] | None) -> float:
        key = (group, topic, partition)
        if lag <= 0:
            self.behind_since.pop(key, None)
            return 0.0
        since = self.behind_since.setdefault(key, now)
        if previous is not None and end > previous[0] and now > previous[1]:
            return lag / ((end - previous[0]) / (now - previous[1]))
        return now - since


def admin_client(config: dict) -> AdminClient:
    return AdminClient({**config, "client.id": "openmsk-telemetry", "socket.timeout.ms": 10000,
                        "log_level": 3})


def raw_offsets(admin: AdminClient) -> dict:
    """Blocking; runs in the worker process. -> {"registered": [broker ids],
    "offsets": [[group, topic, partition, committed, log_end]]}."""
    registered = [n.id for n in admin.describe_cluster(request_timeout=TIMEOUT).result(TIMEOUT).nodes]
    listed = admin.list_consumer_groups(states={ConsumerGroupState.STABLE, ConsumerGroupState.EMPTY},
                                        request_timeout=TIMEOUT).result(TIMEOUT)
    groups = [g.group_id for g in listed.valid if ":" not in g.group_id and g.group_id.isascii()]
    committed: dict[str, list[TopicPartition]] = {}
    for group in groups:
        futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=TIMEOUT)
        try:
            result = futures[group].result(TIMEOUT)
        except Exception:
            continue
        committed[group] = [tp for tp in result.topic_partitions or [] if tp.offset >= 0 and not tp.error]
    wanted = {(tp.topic, tp.partition) for tps in committed.values() for tp in tps}
    ends: dict[tuple[str, int], int] = {}
    if wanted:
        futures = admin.list_offsets({TopicPartition(t, p): OffsetSpec.latest() for t, p in wanted},
                                     request_timeout=TIMEOUT)
        for tp, future in futures.items():
            try:
                ends[(tp.topic, tp.partition)] = future.result(TIMEOUT).offset
            except Exception:
                continue
    offsets = [[group, tp.topic, tp.partition, tp.offset, ends[(tp.topic, tp.partition)]]
               for group, tps in committed.items() for tp in tps if (tp.topic, tp.partition) in ends]
    return {"registered": registered, "offsets": offsets}


def lags(offsets: list, tracker: LagTracker) -> list[PartitionLag]:
    """Per-partition lags from the worker's raw offsets (in the control plane: keeps the tracker)."""
    now = time.monotonic()
    out, ends = [], {}
    for group, topic, partition, committed, end in offsets:
        lag = max(0, end - committed)
        out.append(PartitionLag(group, topic, partition, lag,
                                tracker.time_lag(group, topic, partition, lag, end, now,
                                                 tracker.ends.get((topic, partition)))))
        ends[(topic, partition)] = end
    tracker.ends.update({k: (v, now) for k, v in ends.items()})
    return out
