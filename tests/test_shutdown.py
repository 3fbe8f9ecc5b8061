"""Stopping the service: SIGTERM to `openmsk serve --stop-data-plane-on-exit` (what Ctrl-C on
`scripts/demo` or a CI timeout does) stops supervision first, then every node — brokers, ZooKeeper,
node exporters — and leaves no process behind; nothing is "healed" on the way out. A cluster whose
address slot another installation holds is then neither started nor marked HEALING."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from harness import Service, alive, free_port


def node_records(svc) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in svc.data_dir.glob("clusters/*/*/node.json")}


def processes_mentioning(needles: list[str]) -> list[tuple[int, str]]:
    """Live processes whose command line contains any of `needles` (a scan of /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(n in cmdline for n in needles) and alive(int(entry.name)):
            found.append((int(entry.name), cmdline[:200]))
    return found


def test_sigterm_stops_everything_and_a_foreign_slot_is_left_alone(tmp_path):
    # The loopback layout: address slots are its own (the namespace layout gives every node a namespace;
    # `openmsk down` and cluster deletion removing those is tests/test_vpc_enforcement.py's).
    svc = Service(tmp_path / "data", free_port()).start("--stop-data-plane-on-exit", env={"OPENMSK_NETWORK": "loopback"})
    try:
        kafka = svc.client("kafka")
        arn = kafka.create_cluster(
            ClusterName="shutdown", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
            BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large", "ClientSubnets": svc.default_subnets(3)},
            OpenMonitoring={"Prometheus": {"JmxExporter": {"EnabledInBroker": False},
                                           "NodeExporter": {"EnabledInBroker": True}}})["ClusterArn"]
        svc.wait_state(arn, timeout=300)
        ips = [n["BrokerNodeInfo"]["ClientVpcIpAddress"] for n in kafka.list_nodes(ClusterArn=arn)["NodeInfoList"]]
        deadline = time.monotonic() + 60
        while len(node_records(svc)) < 9 and time.monotonic() < deadline:     # 3 ZooKeeper, 3 brokers, 3 exporters
            time.sleep(0.5)
        records = node_records(svc)
        assert sorted(n.split("-")[0] for n in records) == ["broker"] * 3 + ["node"] * 3 + ["zookeeper"] * 3
        assert all(alive(r["pid"]) for r in records.values())
        needles = [str(svc.data_dir / "clusters")] + [f"--web.listen-address={ip}:11002" for ip in ips]
        assert len(processes_mentioning(needles)) >= 9

        svc.proc.send_signal(signal.SIGTERM)
        assert svc.proc.wait(240) == 0
        assert [name for name, r in records.items() if alive(r["pid"])] == []
        time.sleep(3)                                   # nothing comes back after the service exited
        assert processes_mentioning(needles) == []
        log = svc.log_path.read_text()
        assert "exited unexpectedly" not in log and "started " not in log.split("shutting down", 1)[1]

        # Another installation now holds this cluster's address slot: the restarted service must not
        # start the cluster, nor report it HEALING and "heal" it.
        from openmsk.control import slots
        slot = int(ips[0].split(".")[2])
        claim = slots._claims_dir() / str(slot)
        mine = claim.read_text()
        other = tmp_path / "other-installation"
        other.mkdir()
        (other / "openmsk.db").write_bytes(b"")
        claim.write_text(json.dumps({"data_dir": str(other), "cluster": "arn:aws:kafka:other"}))
        try:
            svc.start()
            time.sleep(8)                               # several supervisor passes
            info = svc.client("kafka").describe_cluster(ClusterArn=arn)["ClusterInfo"]
            assert info["State"] == "ACTIVE", info["State"]
            assert processes_mentioning(needles) == []
            assert "claimed by another openmsk installation" in svc.log_path.read_text()
        finally:
            claim.write_text(mine)
    finally:
        svc.stop_everything()
