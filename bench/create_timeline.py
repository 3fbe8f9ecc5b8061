"""Where a create's time goes: one default 3+3 ZooKeeper cluster created through a real `openmsk serve`,
its operation steps polled every 50 ms and each node's start-up read back from its own logs, printed as
one timeline (seconds since CreateCluster was sent).

  .venv/bin/python bench/create_timeline.py [--runs 1] [--keep]

Events per node: process started (node.json), JVM's first log line, ZooKeeper's LEADING/FOLLOWING,
broker registered in ZooKeeper, "[KafkaServer id=N] started"; then the steps and the state flip to ACTIVE
as the API shows them. Log timestamps are the JVMs' wall clock (millisecond resolution).
"""
from __future__ import annotations

import argparse
import datetime
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness import Service, free_port  # noqa: E402
from startup_levers import cpu_seconds  # noqa: E402

_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")
# (label, pattern) searched in order in each node's log; the first matching line gives the time.
ZK_EVENTS = [("first log line", r""), ("LEADING/FOLLOWING", r"Peer state changed: (leading|following) - broadcast"),
             ("serving", r"Peer state changed: (leading|following) - broadcast")]
BROKER_EVENTS = [("first log line", r""), ("ZooKeeper connected", r"Connected\.|Session establishment complete"),
                 ("registered", r"Registered broker|Creating /brokers/ids/"),
                 ("started", r"\[KafkaServer id=\d+\] started")]


def log_times(path: Path, events: list[tuple[str, str]]) -> dict[str, float]:
    found: dict[str, float] = {}
    if not path.exists():
        return found
    for line in path.read_text(errors="replace").splitlines():
        m = _STAMP.match(line)
        if not m:
            continue
        for label, pattern in events:
            if label not in found and re.search(pattern, line):
                stamp = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
                found[label] = stamp.timestamp()
    return found


def run_once(svc: Service, name: str) -> list[tuple[float, str]]:
    kafka = svc.client("kafka")
    t0 = time.time()
    arn = kafka.create_cluster(ClusterName=name, KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
                               BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                    "ClientSubnets": svc.default_subnets(3)})["ClusterArn"]
    events: list[tuple[float, str]] = [(time.time() - t0, "CreateCluster answered")]
    seen: dict[str, str] = {}
    cpu: dict[str, float] = {}
    while True:
        info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
        now = time.time() - t0
        op = kafka.describe_cluster_operation(ClusterOperationArn=info["ActiveOperationArn"]) \
            if info.get("ActiveOperationArn") else None
        for step in (op or {}).get("ClusterOperationInfo", {}).get("OperationSteps", []):
            status = step["StepInfo"]["StepStatus"]
            if seen.get(step["StepName"]) != status:
                seen[step["StepName"]] = status
                events.append((now, f"step {step['StepName']} {status}"))
        if info["State"] == "ACTIVE":
            events.append((now, "state ACTIVE seen"))
            break
        time.sleep(0.05)
    cdir = next(svc.data_dir.glob(f"clusters/{name}*"), None) or next(
        d for d in svc.data_dir.glob("clusters/*") if (d / "broker-1").exists())
    for node in sorted(cdir.glob("*/node.json")):
        record = json.loads(node.read_text())
        short = node.parent.name
        events.append((record["started_at"] - t0, f"{short} process started"))
        if short.startswith("zookeeper"):
            times = log_times(node.parent / "logs" / "zookeeper.log", ZK_EVENTS[:2])
        else:
            times = log_times(node.parent / "logs" / "server.log", BROKER_EVENTS)
        events += [(t - t0, f"{short} {label}") for label, t in times.items()]
        cpu[short] = cpu_seconds(record["pid"])
    cpu["control plane"] = cpu_seconds(svc.proc.pid)
    events.append((max(t for t, _ in events), "CPU seconds at ACTIVE (+ a few s): " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
                   + f"; JVMs total {sum(v for k, v in cpu.items() if k != 'control plane'):.1f}"))
    return sorted(events), arn


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="leave the data directory (its path is printed)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="openmsk-timeline-"))
    svc = Service(tmp / "data", free_port()).start()
    try:
        time.sleep(2)
        for run in range(args.runs):
            load = Path("/proc/loadavg").read_text().split(" ")[0]
            events, arn = run_once(svc, f"timeline-{run}")
            print(f"--- run {run} (load {load})")
            for t, what in events:
                print(f"{t:7.2f}  {what}")
            if run < args.runs - 1:
                svc.client("kafka").delete_cluster(ClusterArn=arn)
                svc.wait_state(arn, states=("GONE",))
    finally:
        svc.stop_everything()
        if args.keep:
            print(f"data directory kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
