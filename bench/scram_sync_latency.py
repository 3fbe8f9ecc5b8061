"""DescribeCluster latency while the control plane syncs 1,000 SCRAM users (issue 8: heavy work leaves
the event loop). A SASL/SCRAM cluster, 1,000 `AmazonMSK_` secrets; then, in the same run:

  baseline: DescribeCluster at a fixed rate for --seconds with nothing else going on;
  sync:     the same DescribeCluster load while the 1,000 secrets are associated (100 calls of 10)
            and the control plane fingerprints and applies every user, until the log says the last
            user was set.
Prints p50/p99/max of both phases and the p99 ratio. Target: p99 < 50 ms during the sync.

  .venv/bin/python bench/scram_sync_latency.py [--users 1000] [--rate 20] [--seconds 20]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from botocore.config import Config  # noqa: E402

from harness import Service, free_port  # noqa: E402


class Prober(threading.Thread):
    """DescribeCluster at `rate` per second until stopped; records each call's latency."""

    def __init__(self, svc: Service, arn: str, rate: float):
        super().__init__(daemon=True)
        self.kafka = svc.client("kafka", config=Config(retries={"total_max_attempts": 1}))
        self.arn, self.period = arn, 1.0 / rate
        self.latencies: list[float] = []
        self.errors = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.stopping.is_set():
            t0 = time.perf_counter()
            try:
                self.kafka.describe_cluster(ClusterArn=self.arn)
                self.latencies.append(time.perf_counter() - t0)
            except Exception:
                self.errors += 1
            next_at += self.period
            time.sleep(max(0.0, next_at - time.monotonic()))


def summary(latencies: list[float]) -> dict:
    ordered = sorted(latencies)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"n": len(ordered), "p50_ms": round(statistics.median(ordered) * 1000, 1), "p99_ms": round(pick(0.99), 1),
            "max_ms": round(ordered[-1] * 1000, 1)}


def measure(svc: Service, arn: str, rate: float, until) -> Prober:
    prober = Prober(svc, arn, rate)
    prober.start()
    until()
    prober.stopping.set()
    prober.join(10)
    return prober


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="DescribeCluster calls per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the baseline phase")
    parser.add_argument("--sync-timeout", type=float, default=900.0)
    args = parser.parse_args()

    svc = Service(Path(tempfile.mkdtemp(prefix="scram-bench-")) / "data", free_port()).start()
    try:
        kafka = svc.client("kafka")
        t0 = time.monotonic()
        arn = kafka.create_cluster(
            ClusterName="scram-bench", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
            BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large", "ClientSubnets": svc.default_subnets(3)},
            ClientAuthentication={"Sasl": {"Scram": {"Enabled": True}}})["ClusterArn"]
        svc.wait_state(arn, timeout=600)
        print(f"cluster ACTIVE in {time.monotonic() - t0:.0f} s", flush=True)

        key_id = svc.client("kms").create_key()["KeyMetadata"]["KeyId"]
        sm = svc.client("secretsmanager")
        t0 = time.monotonic()
        def create(i: int) -> str:
            return sm.create_secret(Name=f"AmazonMSK_bench_{i:04d}", KmsKeyId=key_id,
                                    SecretString=json.dumps({"username": f"bench-user-{i:04d}",
                                                             "password": f"pw-{i:04d}-x"}))["ARN"]
        with ThreadPoolExecutor(4) as pool:
            secrets = list(pool.map(create, range(args.users)))
        print(f"{args.users} secrets created in {time.monotonic() - t0:.0f} s", flush=True)

        baseline = measure(svc, arn, args.rate, lambda: time.sleep(args.seconds))

        last_user = f"bench-user-{args.users - 1:04d}"
        log_start = svc.log_path.stat().st_size

        def sync():
            started = time.monotonic()
            for i in range(0, len(secrets), 10):
                result = kafka.batch_associate_scram_secret(ClusterArn=arn, SecretArnList=secrets[i:i + 10])
                assert not result["UnprocessedScramSecrets"], result
            print(f"associated in {time.monotonic() - started:.0f} s", flush=True)
            deadline = time.monotonic() + args.sync_timeout
            while time.monotonic() < deadline:
                with open(svc.log_path, "rb") as log:
                    log.seek(log_start)
                    text = log.read().decode(errors="replace")
                if "SCRAM users set" in text and last_user in text:
                    print(f"all {args.users} users applied {time.monotonic() - started:.0f} s after the first "
                          f"association", flush=True)
                    return
                time.sleep(0.5)
            raise SystemExit(f"SCRAM sync did not finish within {args.sync_timeout} s")

        during = measure(svc, arn, args.rate, sync)
        base, load = summary(baseline.latencies), summary(during.latencies)
        print(f"DescribeCluster without sync: {base}, errors {baseline.errors}")
        print(f"DescribeCluster during sync:  {load}, errors {during.errors}")
        with open(svc.log_path, "rb") as log:
            log.seek(log_start)
            failures = log.read().decode(errors="replace").count("SCRAM sync failed")
        print(f"failed sync attempts on the way (retried by the reconciler): {failures}")
        print(f"p99 ratio sync/baseline: {load['p99_ms'] / base['p99_ms']:.2f}; target p99 < 50 ms: "
              f"{'met' if load['p99_ms'] < 50 else 'NOT met'}")
    finally:
        svc.stop_everything()


if __name__ == "__main__":
    main()
