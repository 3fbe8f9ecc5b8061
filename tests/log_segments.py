"""Who wrote a duplicate: each stored copy's batch as Kafka's DumpLogSegments prints it (producerId,
producerEpoch, baseSequence) from one replica's log segments on disk.

A copy written under a *higher* producer epoch than the first copy, same producer ID, is the client
re-sending the records as new ones after bumping its epoch: no broker can deduplicate that (librdkafka
bumps its epoch after an OUT_OF_ORDER_SEQUENCE_NUMBER, renumbering every partition's unacknowledged
messages from sequence 0, including a batch whose first send was persisted but not acknowledged:
confluentinc/librdkafka#4953, open). Two copies under one PID and epoch would be the broker's failure to
deduplicate a retry."""
from __future__ import annotations

import re
from pathlib import Path

from harness import kafka_tool

_FIELDS = ("baseOffset", "lastOffset", "baseSequence", "lastSequence", "producerId", "producerEpoch")


def batches(partition_dir: Path) -> list[dict[str, int]]:
    """Every batch of the partition replica in `partition_dir`, oldest first."""
    segments = sorted(partition_dir.glob("*.log"))
    if not segments:
        return []
    out = kafka_tool("kafka.tools.DumpLogSegments", "--files", ",".join(map(str, segments)), timeout=300).stdout
    found = []
    for line in out.splitlines():
        if "baseOffset:" in line:
            found.append({k: int(m.group(1)) for k in _FIELDS if (m := re.search(rf"\b{k}: (-?\d+)", line))})
    return found


def copies_by_epoch(cluster_dir: Path, topic: str, copies: dict) -> tuple[int, dict]:
    """For values (any key: a message's bytes or its number) stored at several (partition, offset) positions: how many later copies were written under
    a higher producer epoch of the same producer ID than the first copy (the client's re-sends), and for
    each value the line naming each copy's batch (value -> line, in order of the values' first positions)."""
    read: dict[int, list[dict[str, int]]] = {}
    client_resent, lines = 0, {}
    for value, positions in sorted(copies.items(), key=lambda item: sorted(item[1])):
        found = []
        for partition, offset in sorted(positions):
            if partition not in read:
                replicas = sorted(cluster_dir.glob(f"broker-*/data/{topic}-{partition}"))
                read[partition] = batches(replicas[0]) if replicas else []
            found.append(next((b for b in read[partition] if b["baseOffset"] <= offset <= b["lastOffset"]), None))
        if all(found):
            first = found[0]
            client_resent += sum(1 for b in found[1:] if b["producerId"] == first["producerId"]
                                 and b["producerEpoch"] > first["producerEpoch"])
        label = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
        lines[value] = (f"{label}: " + " | ".join(
            f"p{p}@{o} " + (f"pid {b['producerId']} epoch {b['producerEpoch']} seq {b.get('baseSequence')}-"
                            f"{b.get('lastSequence')}" if b else "batch not found")
            for (p, o), b in zip(sorted(positions), found)))
    return client_resent, lines
