"""The verifier itself: the counts the reliability suite asserts on would show a loss, a duplicate or an
incomplete ISR (no cluster needed: the children's files and metadata are written by hand)."""
from __future__ import annotations

import json

from traffic import full_isr, tally


def write(path, lines):
    path.write_text("".join(f"{line}\n" for line in lines))


def test_tally_counts_lost_and_duplicated_messages(tmp_path):
    write(tmp_path / "produce-0.acked", ["1 10.0", "2 10.5", "3 14.0", "4 14.1"])
    (tmp_path / "produce-0.acked").open("a").write("5 14.2")          # torn last line: not counted
    write(tmp_path / "produce-0.errors", ["6 Local:_Message_timed_out"])
    (tmp_path / "produce-0.done").write_text(json.dumps({"produced": 7, "unacknowledged": 1}))
    # seq 2 written twice (two offsets), seq 3 read twice at the same offset (a re-read, not a duplicate),
    # seq 4 never read: one lost, one duplicate.
    write(tmp_path / "consume-0.records", ["0 0 1", "1 0 2", "1 1 2", "2 0 3"])
    write(tmp_path / "consume-1.records", ["2 0 3"])
    (tmp_path / "consume-1.done").write_text(json.dumps({"drained": True}))
    result = tally(tmp_path, client_restarts=1)
    assert (result.acked, result.lost, result.duplicates) == (4, 1, 1)
    assert (result.consumed, result.delivery_errors, result.unacknowledged, result.drained) == (4, 1, 1, True)
    assert result.max_ack_gap() == 3.5 and round(result.max_ack_gap(since=14.0), 3) == 0.1


def test_full_isr_needs_every_broker_and_every_replica_in_sync():
    part = {"topic": "t", "partition": 0, "leader": 1, "replicas": [1, 2, 3], "isrs": [3, 1, 2]}
    assert full_isr({"brokers": [1, 2, 3], "partitions": [part]}, 3)
    assert not full_isr({"brokers": [1, 3], "partitions": [part]}, 3)
    assert not full_isr({"brokers": [1, 2, 3], "partitions": [{**part, "isrs": [1, 3]}]}, 3)
    assert not full_isr({"brokers": [1, 2, 3], "partitions": [{**part, "leader": -1}]}, 3)
    assert not full_isr(None, 3)
