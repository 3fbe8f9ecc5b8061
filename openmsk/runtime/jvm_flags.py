"""JVM options chosen for a short start-up of small nodes on a laptop (issue 15; measured with
bench/startup_levers.py, figures in bench/README.md).

Only options that change how fast a JVM gets going, never what Kafka or ZooKeeper do:
* ZooKeeper: `-XX:TieredStopAtLevel=1` (C1 only). A ZooKeeper node of a 3-broker cluster handles a
  few requests a second; C2 compiling its start-up paths costs more CPU than it ever saves.
* Brokers: Kafka's own flags (KAFKA_JVM_PERFORMANCE_OPTS) stay as they are: the data path needs C2,
  and G1 keeps produce latencies flat (the options measured and not kept are listed in
  bench/README.md).
`OPENMSK_STARTUP_FLAGS=0` leaves them out (the benchmarks' by-hand baseline).
"""
from __future__ import annotations

import os

STARTUP_FLAGS: dict[str, list[str]] = {
    "zookeeper": ["-XX:TieredStopAtLevel=1"],
    "broker": [],
}


def startup_flags(kind: str) -> list[str]:
    if os.environ.get("OPENMSK_STARTUP_FLAGS", "1") == "0":
        return []
    return list(STARTUP_FLAGS.get(kind, []))
