"""Versions benchmark: create->ACTIVE of a ZooKeeper vs a KRaft cluster of the same size, upgrade
duration per broker, and produce throughput of Kafka 3.9 vs 4.x on the same settings. Every figure is
printed next to its baseline measured in the same run (ZooKeeper 3.9.x is the baseline throughout).

  .venv/bin/python bench/versions.py [--messages 200000] [--size 512] [--skip-upgrade]

Clusters: 3 brokers in 3 zones, MSK's default TLS-only encryption; throughput with Kafka's own
kafka-producer-perf-test (acks=all, the same jar for both clusters) over TLS (9094). Figures measured
on a loaded host say so: the load average is printed with them.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from harness import Service, free_port  # noqa: E402

from openmsk.runtime import versions  # noqa: E402


def create(svc: Service, name: str, version: str) -> tuple[str, float]:
    kafka = svc.client("kafka")
    t0 = time.monotonic()
    arn = kafka.create_cluster(ClusterName=name, KafkaVersion=version, NumberOfBrokerNodes=3,
                               BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                    "ClientSubnets": svc.default_subnets(3)})["ClusterArn"]
    svc.wait_state(arn, timeout=1200)
    return arn, time.monotonic() - t0


def upgrade(svc: Service, arn: str, target: str) -> float:
    kafka = svc.client("kafka")
    current = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]
    t0 = time.monotonic()
    op = kafka.update_cluster_kafka_version(ClusterArn=arn, CurrentVersion=current,
                                            TargetKafkaVersion=target)["ClusterOperationArn"]
    while True:
        info = kafka.describe_cluster_operation(ClusterOperationArn=op)["ClusterOperationInfo"]
        if info["OperationState"] in ("UPDATE_COMPLETE", "UPDATE_FAILED"):
            break
        time.sleep(1)
    if info["OperationState"] != "UPDATE_COMPLETE":
        raise SystemExit(f"upgrade to {target} failed: {info.get('ErrorInfo')}")
    return time.monotonic() - t0


def throughput(svc: Service, arn: str, messages: int, size: int) -> float:
    """MB/s of kafka-producer-perf-test (acks=all) into a fresh RF-3 topic over TLS."""
    kafka = svc.client("kafka")
    bootstrap = kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"]
    props = Path(tempfile.mkdtemp()) / "client.properties"
    props.write_text(f"security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={svc.ca_path}\n")
    topic = f"perf-{int(time.time())}"
    tools = REPO / ".venv" / "bin"
    subprocess.run([tools / "kafka-topics.sh", "--bootstrap-server", bootstrap, "--command-config", props,
                    "--create", "--topic", topic, "--partitions", "6", "--replication-factor", "3"],
                   check=True, capture_output=True, timeout=300)
    out = subprocess.run([tools / "kafka-producer-perf-test.sh", "--topic", topic, "--num-records", str(messages),
                          "--record-size", str(size), "--throughput", "-1", "--producer.config", props,
                          "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all", "linger.ms=5"],
                         check=True, capture_output=True, text=True, timeout=900).stdout
    found = re.findall(r"\(([\d.]+) MB/sec\)", out)
    return float(found[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--skip-upgrade", action="store_true")
    args = parser.parse_args()
    for v in ("3.8.x", "3.9.x", "3.9.x.kraft", "4.1.x.kraft"):
        versions.install_line(v)
    print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores; figures under load are noisy)")
    with tempfile.TemporaryDirectory() as tmp:
        svc = Service(Path(tmp) / "data", free_port()).start()
        try:
            zk_arn, zk_s = create(svc, "bench-zk", "3.9.x")
            kr_arn, kr_s = create(svc, "bench-kraft", "4.1.x.kraft")
            print(f"create->ACTIVE  ZooKeeper 3.9.x: {zk_s:6.1f} s (baseline)   KRaft 4.1.x.kraft: {kr_s:6.1f} s "
                  f"(x{kr_s / zk_s:.2f})")
            zk_tp = throughput(svc, zk_arn, args.messages, args.size)
            kr_tp = throughput(svc, kr_arn, args.messages, args.size)
            print(f"produce acks=all TLS  3.9.x (ZK): {zk_tp:7.2f} MB/s (baseline)   4.1.x.kraft: {kr_tp:7.2f} MB/s "
                  f"(x{kr_tp / zk_tp:.2f})")
            svc.client("kafka").delete_cluster(ClusterArn=kr_arn)
            svc.wait_state(kr_arn, states=("GONE",), timeout=600)
            if not args.skip_upgrade:
                up_arn, _ = create(svc, "bench-up-zk", "3.8.x")
                zk_up = upgrade(svc, up_arn, "3.9.x")
                svc.client("kafka").delete_cluster(ClusterArn=up_arn)
                svc.wait_state(up_arn, states=("GONE",), timeout=600)
                kr2_arn, _ = create(svc, "bench-up-kraft", "3.9.x.kraft")
                kr_up = upgrade(svc, kr2_arn, "4.1.x.kraft")
                # ZooKeeper mode restarts 3 ZooKeeper nodes + brokers twice (jars, then protocol);
                # KRaft mode 3 controllers + brokers once (metadata.version needs no restart).
                print(f"upgrade 3.8.x->3.9.x (ZK): {zk_up:6.1f} s = {zk_up / 3:5.1f} s per broker (baseline)   "
                      f"3.9.x.kraft->4.1.x.kraft: {kr_up:6.1f} s = {kr_up / 3:5.1f} s per broker (x{kr_up / zk_up:.2f})")
            print(f"load average at end: {os.getloadavg()[0]:.1f}")
        finally:
            svc.stop_everything()


if __name__ == "__main__":
    main()
