"""Scaling and restarts of a managed cluster, each against a baseline measured in the same run:

  1. scale-out 3 -> 6 (UpdateBrokerCount until the operation is UPDATE_COMPLETE and the cluster ACTIVE)
     vs creating a fresh 6-broker cluster (CreateCluster until ACTIVE);
  2. broker SIGKILL -> the broker back and every partition in ISR again (target <= 30 s; MSK replaces a
     broker in minutes), `--reps` times;
  3. rolling restart of one broker (RebootBroker until REBOOT_COMPLETE: availability check, controlled
     shutdown, restart, back in ISR) vs a bare restart of the same JVM (SIGTERM, wait for exit, start the
     same command line, until registered and every partition in ISR; the service is stopped meanwhile so
     nothing else touches the broker).

  .venv/bin/python bench/scaling.py [--reps 3] [--json FILE]
  .venv/bin/python bench/scaling.py --sigkill-only [--reps 3]

`--sigkill-only` runs only 2., on a 3-broker cluster, each repetition twice, interleaved: with the healer
removing the dead broker's ZooKeeper registration (the default) and with it waiting for the session's
expiry (the service restarted with OPENMSK_DEAD_BROKER_REGISTRATION=wait, the behaviour before), and
prints the ratio.

One service of its own on a temporary data dir (removed at the end), a topic with 12 partitions (RF 3)
and a light acks=all producer on it throughout. Every wait is bounded. Prints the machine's load average
with the figures: on a shared machine they say as much about the load as about openmsk.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from confluent_kafka.admin import AdminClient  # noqa: E402

from harness import Service, alive, free_port  # noqa: E402
from kafka_clients import create_topic, tls_config  # noqa: E402
from verifying_load import VerifyingLoad  # noqa: E402

TIMEOUT = 1200


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def in_sync(config: dict, broker_id: int) -> bool:
    """The broker is registered and every partition of the cluster has its full replica set in ISR."""
    try:
        meta = AdminClient({**config, "socket.timeout.ms": 5000}).list_topics(timeout=5)
    except Exception:
        return False
    if broker_id not in meta.brokers:
        return False
    return all(set(p.isrs) == set(p.replicas) for t in meta.topics.values() for p in t.partitions.values())


def node_record(svc: Service, arn: str, broker_id: int) -> dict:
    path = svc.data_dir / "clusters" / arn.rsplit("/", 1)[1] / f"broker-{broker_id}" / "node.json"
    return json.loads(path.read_text())


def create(kafka, svc: Service, name: str, brokers: int) -> tuple[str, float]:
    t0 = time.monotonic()
    arn = kafka.create_cluster(ClusterName=name, KafkaVersion="3.9.x", NumberOfBrokerNodes=brokers,
                               BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                    "ClientSubnets": svc.default_subnets(3)})["ClusterArn"]
    svc.wait_state(arn, timeout=TIMEOUT)
    return arn, time.monotonic() - t0


def operation(kafka, op_arn: str) -> dict:
    def done():
        op = kafka.describe_cluster_operation(ClusterOperationArn=op_arn)["ClusterOperationInfo"]
        return op if op["OperationState"] in ("UPDATE_COMPLETE", "UPDATE_FAILED", "REBOOT_COMPLETE",
                                              "REBOOT_FAILED") else None
    op = wait(done, TIMEOUT, f"operation {op_arn}")
    if op["OperationState"] not in ("UPDATE_COMPLETE", "REBOOT_COMPLETE"):
        raise RuntimeError(f"operation failed: {op.get('ErrorInfo')}")
    return op


def bare_restart(svc: Service, arn: str, config: dict, broker_id: int) -> float:
    """Stop the service, restart the broker's JVM by hand with its recorded command line, time it until
    it is registered and everything is in ISR; then hand the broker back to the service."""
    svc.kill(signal.SIGTERM)
    record = node_record(svc, arn, broker_id)
    workdir = svc.data_dir / "clusters" / arn.rsplit("/", 1)[1] / f"broker-{broker_id}"
    t0 = time.monotonic()
    os.kill(record["pid"], signal.SIGTERM)
    wait(lambda: not alive(record["pid"]), 180, "the broker to exit")
    with open(workdir / "logs" / "stdout.log", "ab") as out:
        child = subprocess.Popen(record["command"], cwd=workdir, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    wait(lambda: in_sync(config, broker_id), TIMEOUT, "the bare-restarted broker in ISR")
    elapsed = time.monotonic() - t0
    child.send_signal(signal.SIGTERM)           # the service starts it again as its own node
    child.wait(180)
    svc.start()
    svc.wait_state(arn, timeout=TIMEOUT)
    wait(lambda: in_sync(config, broker_id), TIMEOUT, "the broker back under the service")
    return elapsed


def leads_nothing(config: dict, broker_id: int) -> bool:
    """No partition has `broker_id` as its leader any more (the controller failed it over)."""
    try:
        meta = AdminClient({**config, "socket.timeout.ms": 5000}).list_topics(timeout=5)
    except Exception:
        return False
    return all(p.leader != broker_id for t in meta.topics.values() for p in t.partitions.values())


def sigkill_to_isr(svc: Service, arn: str, config: dict, broker: int, failovers: list | None = None) -> float:
    """Seconds from the SIGKILL until the broker is back and every partition in ISR; `failovers` gets
    the seconds until no partition had the dead broker as leader (producers to its partitions stall
    until then), which depends far less on the host's load than a JVM's start does."""
    pid = node_record(svc, arn, broker)["pid"]
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    wait(lambda: leads_nothing(config, broker), TIMEOUT, f"broker {broker}'s partitions failed over")
    failover = time.monotonic() - t0
    wait(lambda: in_sync(config, broker), TIMEOUT, f"broker {broker} back in ISR")
    elapsed = time.monotonic() - t0
    print(f"SIGKILL broker {broker} -> leaders moved {failover:.1f} s, back in ISR {elapsed:.1f} s "
          f"(load {load_average()})", flush=True)
    if failovers is not None:
        failovers.append(failover)
    svc.wait_state(arn, timeout=TIMEOUT)
    return elapsed


def restart_service(svc: Service, arn: str, env: dict) -> None:
    svc.kill(signal.SIGTERM)        # the cluster keeps running; the next service adopts it
    svc.start(env=env)
    svc.wait_state(arn, timeout=TIMEOUT)
    # The service's start-up pass over the cluster (it adopts the running nodes) may still be running:
    # a kill then is healed by that pass, not by the supervisor this measures.
    time.sleep(20)


def sigkill_before_after(svc: Service, arn: str, config: dict, reps: int, results: dict) -> None:
    """Each repetition kills one broker with the registration removal off (the session's expiry waited
    for) and one with it on, in alternating order, so both see the same load."""
    for key in ("sigkill_wait_s", "sigkill_to_isr_s", "failover_wait_s", "failover_s"):
        results[key] = []
    for rep in range(reps):
        modes = ["wait", "remove"] if rep % 2 == 0 else ["remove", "wait"]
        for mode in modes:
            restart_service(svc, arn, {"OPENMSK_DEAD_BROKER_REGISTRATION": mode})
            broker = 1 + (2 * rep + modes.index(mode)) % 3
            print(f"[{mode}] ", end="", flush=True)
            isr_key, failover_key = (("sigkill_wait_s", "failover_wait_s") if mode == "wait"
                                     else ("sigkill_to_isr_s", "failover_s"))
            results[isr_key].append(sigkill_to_isr(svc, arn, config, broker, results[failover_key]))


def report_sigkill(results: dict, args) -> int:
    removal, waited = sorted(results["sigkill_to_isr_s"]), sorted(results["sigkill_wait_s"])
    print(f"\nload average {results['load_start']} -> {results['load_end']}; producer acked {results['acked']}, "
          f"lost {results['lost']}")
    print(f"SIGKILL -> back in ISR, registration removed: median {removal[len(removal) // 2]:5.1f} s  "
          f"{', '.join(f'{v:.1f}' for v in results['sigkill_to_isr_s'])}")
    print(f"SIGKILL -> back in ISR, session expiry waited: median {waited[len(waited) // 2]:5.1f} s  "
          f"{', '.join(f'{v:.1f}' for v in results['sigkill_wait_s'])}")
    print(f"ratio removed / waited {removal[len(removal) // 2] / waited[len(waited) // 2]:.2f} (target <= 30 s)")
    moved, moved_waited = sorted(results["failover_s"]), sorted(results["failover_wait_s"])
    print(f"SIGKILL -> no partition led by the dead broker: removed median {moved[len(moved) // 2]:.1f} s, "
          f"waited median {moved_waited[len(moved_waited) // 2]:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if results["lost"] == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--json", help="also write the results to FILE")
    parser.add_argument("--sigkill-only", action="store_true",
                        help="only SIGKILL -> in ISR, with and without the registration removal, interleaved")
    args = parser.parse_args()
    os.chdir(REPO)
    workdir = Path(tempfile.mkdtemp(prefix="openmsk-scaling-"))
    svc = Service(workdir / "data", free_port()).start()
    kafka = svc.client("kafka")
    results: dict = {"load_start": load_average(), "reps": args.reps}
    try:
        arn, results["create_3_s"] = create(kafka, svc, "bench-scale", 3)
        config = tls_config(kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"], svc.ca_path)
        create_topic(config, "bench", partitions=12, replication=3)
        with VerifyingLoad(config, "bench", interval=0.05) as load:
            if args.sigkill_only:
                sigkill_before_after(svc, arn, config, args.reps, results)
            else:
                scale_kill_reboot(svc, kafka, arn, config, args.reps, results)
        results["lost"] = len(load.lost())
        results["acked"] = len(load.acked)
    finally:
        results["load_end"] = load_average()
        svc.stop_everything()
        shutil.rmtree(workdir, ignore_errors=True)
    if args.sigkill_only:
        return report_sigkill(results, args)
    report(results, args)
    return 0


def scale_kill_reboot(svc: Service, kafka, arn: str, config: dict, reps: int, results: dict) -> None:
    # 1. scale-out vs a fresh 6-broker create
    version = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]
    t0 = time.monotonic()
    operation(kafka, kafka.update_broker_count(ClusterArn=arn, CurrentVersion=version,
                                               TargetNumberOfBrokerNodes=6)["ClusterOperationArn"])
    svc.wait_state(arn, timeout=TIMEOUT)
    results["scale_out_s"] = time.monotonic() - t0
    print(f"scale-out 3 -> 6: {results['scale_out_s']:.1f} s", flush=True)
    fresh, results["create_6_s"] = create(kafka, svc, "bench-fresh6", 6)
    print(f"fresh 6-broker create: {results['create_6_s']:.1f} s", flush=True)
    kafka.delete_cluster(ClusterArn=fresh)
    svc.wait_state(fresh, states=("GONE",), timeout=600)
    version = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]
    t0 = time.monotonic()
    operation(kafka, kafka.update_rebalancing(ClusterArn=arn, CurrentVersion=version,
                                              Rebalancing={"Status": "ACTIVE"})["ClusterOperationArn"])
    results["rebalance_s"] = time.monotonic() - t0
    print(f"rebalance onto the new brokers: {results['rebalance_s']:.1f} s", flush=True)

    # 2. SIGKILL -> back in ISR
    results["sigkill_to_isr_s"] = []
    for rep in range(reps):
        broker = 2 + rep % 5
        results["sigkill_to_isr_s"].append(sigkill_to_isr(svc, arn, config, broker))

    # 3. rolling restart (RebootBroker) vs a bare restart of the same JVM
    results["reboot_s"], results["bare_restart_s"] = [], []
    for rep in range(reps):
        broker = 1 + rep % 6
        t0 = time.monotonic()
        operation(kafka, kafka.reboot_broker(ClusterArn=arn, BrokerIds=[str(broker)])["ClusterOperationArn"])
        results["reboot_s"].append(time.monotonic() - t0)
        results["bare_restart_s"].append(bare_restart(svc, arn, config, broker))
        print(f"broker {broker}: RebootBroker {results['reboot_s'][-1]:.1f} s, bare restart "
              f"{results['bare_restart_s'][-1]:.1f} s", flush=True)


def report(results: dict, args) -> None:
    def med(values):
        return sorted(values)[len(values) // 2]
    print(f"\nload average {results['load_start']} -> {results['load_end']}; producer acked {results.get('acked')}, "
          f"lost {results.get('lost')}")
    print(f"scale-out 3 -> 6 ACTIVE   {results['scale_out_s']:7.1f} s   fresh 6-broker create {results['create_6_s']:7.1f} s"
          f"   ratio {results['scale_out_s'] / results['create_6_s']:.2f}")
    print(f"rebalance onto new brokers {results['rebalance_s']:6.1f} s")
    kills = results["sigkill_to_isr_s"]
    print(f"SIGKILL -> back in ISR    median {med(kills):6.1f} s   max {max(kills):6.1f} s   (target <= 30 s)")
    print(f"rolling restart / broker  median {med(results['reboot_s']):6.1f} s   bare restart median "
          f"{med(results['bare_restart_s']):6.1f} s   ratio {med(results['reboot_s']) / med(results['bare_restart_s']):.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
