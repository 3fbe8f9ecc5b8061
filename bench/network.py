"""Network layouts compared: produce throughput and connection set-up through the namespace/bridge/nftables
path vs the loopback layout, and how fast a security-group change reaches the wire.

  .venv/bin/python bench/network.py [--warmup 2] [--reps 4] [--records 100000] [--record-size 1024]
                                    [--connects 500]

(about 15 minutes on 2 cores; needs root). Two services of its own, both up for the whole run, each with
one 3-broker, 3-zone cluster with MSK's defaults (TLS to clients, TLS in cluster):
  loopback    OPENMSK_NETWORK=loopback: brokers on 127.(10+zone).<slot>.<n>
  namespaces  OPENMSK_NETWORK=namespaces: each node in its namespace on the VPC bridge, the cluster in
              a security group that admits the default group (the host)
Throughput: `kafka-producer-perf-test.sh` (acks=all, a fresh 3-partition RF-3 topic per run). First a
warm-up phase (--warmup rounds of one full-size run per layout, alternating, discarded: the brokers'
JIT, page cache and TLS session state settle; a first comparison done without it saw every run rise
over the previous one). Then --reps interleaved repetitions, loopback then namespaces in each, so a
drift of the machine's load hits both layouts alike; each repetition's ratio is printed as it ends and
the verdict is the median of the per-repetition ratios (target >= 0.95). Then --connects TCP
handshakes from the host to a broker's 9094 per layout (p50/p99 ms). Namespaces only:
rule-change-to-enforcement, measured by an instance (`openmsk exec`) that connects to a broker every
5 ms; time from AuthorizeSecurityGroupIngress's answer to its first established connection, and from
RevokeSecurityGroupIngress's answer to its first refused attempt (median of 5 each).
Results go to bench/results/network.json.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from harness import OPENMSK, Service, free_port  # noqa: E402

PERF = str(REPO / ".venv" / "bin" / "kafka-producer-perf-test.sh")
TOPICS = str(REPO / ".venv" / "bin" / "kafka-topics.sh")

WATCHER = r"""
import socket, sys, time
target, port, want = sys.argv[1], int(sys.argv[2]), sys.argv[3]
print("ready", flush=True)
deadline = time.time() + 60
while time.time() < deadline:
    s = socket.socket(); s.settimeout(0.05)
    try:
        s.connect((target, port)); ok = True
    except OSError:
        ok = False
    finally:
        s.close()
    if ok == (want == "open"):
        print(f"{time.time():.6f}", flush=True); break
    time.sleep(0.005)
"""


def client_props(service: Service, path: Path) -> Path:
    path.write_text(f"security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={service.ca_path}\n")
    return path


def perf_run(bootstrap: str, props: Path, topic: str, records: int, size: int) -> float:
    subprocess.run([TOPICS, "--bootstrap-server", bootstrap, "--command-config", str(props), "--create", "--topic",
                    topic, "--partitions", "3", "--replication-factor", "3"], check=True, capture_output=True,
                   timeout=180)
    out = subprocess.run([PERF, "--topic", topic, "--num-records", str(records), "--record-size", str(size),
                          "--throughput", "-1", "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all",
                          "--producer.config", str(props)], capture_output=True, text=True, timeout=900).stdout
    return float(re.findall(r"\(([\d.]+) MB/sec\)", out)[-1])


def handshakes(host: str, port: int, count: int) -> dict:
    import socket
    times = []
    for _ in range(count):
        s = socket.socket()
        start = time.perf_counter()
        s.connect((host, port))
        times.append((time.perf_counter() - start) * 1000)
        s.close()
    times.sort()
    return {"p50_ms": round(times[len(times) // 2], 3), "p99_ms": round(times[int(len(times) * 0.99)], 3)}


def cluster(service: Service, groups: list[str] | None = None) -> tuple[str, str]:
    kafka = service.client("kafka")
    info = {"InstanceType": "kafka.m5.large", "ClientSubnets": service.default_subnets(3)}
    if groups:
        info["SecurityGroups"] = groups
    arn = kafka.create_cluster(ClusterName="bench", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
                               BrokerNodeGroupInfo=info)["ClusterArn"]
    info = service.wait_state(arn, states=("ACTIVE", "FAILED"), timeout=900)
    if info["State"] == "FAILED":
        raise SystemExit(f"cluster creation failed: {info.get('StateInfo')}")
    return arn, kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"]


def start_layout(name: str, workdir: Path) -> tuple[dict, Service]:
    """A service in layout `name` with one ACTIVE cluster; the result dict gets its bootstrap string."""
    service = Service(workdir / name / "data", free_port()).start(env={"OPENMSK_NETWORK": name})
    groups = None
    if name == "namespaces":
        ec2 = service.client("ec2")
        vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        default = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])
        group = ec2.create_security_group(GroupName="msk", Description="bench", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 9092, "ToPort": 9098,
            "UserIdGroupPairs": [{"GroupId": default["SecurityGroups"][0]["GroupId"]}]}])
        groups = [group]
    started = time.monotonic()
    try:
        arn, bootstrap = cluster(service, groups)
    except BaseException:
        service.stop_everything()
        raise
    result = {"cluster_active_s": round(time.monotonic() - started, 1), "bootstrap": bootstrap, "arn": arn,
              "props": str(client_props(service, workdir / f"{name}.properties"))}
    return result, service


def interleaved_throughput(layouts: dict[str, dict], args) -> dict:
    """Warm-up rounds, then --reps repetitions of (loopback, namespaces); per-repetition MB/s and ratios."""
    names = ("loopback", "namespaces")
    run = lambda name, tag: perf_run(layouts[name]["bootstrap"], Path(layouts[name]["props"]),  # noqa: E731
                                     f"perf-{name}-{tag}", args.records, args.record_size)
    warmup: dict[str, list[float]] = {n: [] for n in names}
    for i in range(args.warmup):
        for name in names:
            warmup[name].append(run(name, f"warmup{i}"))
        print(f"warm-up {i + 1}/{args.warmup}: loopback {warmup['loopback'][-1]:.2f} MB/s, "
              f"namespaces {warmup['namespaces'][-1]:.2f} MB/s (discarded)", flush=True)
    reps = []
    for i in range(args.reps):
        rep = {"load_average": os.getloadavg()[0]}
        for name in names:
            rep[name] = run(name, f"rep{i}")
        rep["ratio"] = round(rep["namespaces"] / rep["loopback"], 3)
        reps.append(rep)
        print(f"rep {i + 1}/{args.reps}: loopback {rep['loopback']:.2f} MB/s, namespaces {rep['namespaces']:.2f} MB/s, "
              f"ratio {rep['ratio']:.3f} (load {rep['load_average']:.1f})", flush=True)
    medians = {n: statistics.median(r[n] for r in reps) for n in names}
    return {"warmup_mb_per_s": warmup, "reps": reps, "median_mb_per_s": medians,
            "median_ratio": round(statistics.median(r["ratio"] for r in reps), 3)}


def enforcement_times(service: Service, bootstrap: str, rounds: int = 5) -> dict:
    ec2 = service.client("ec2")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    msk = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["msk"]}])["SecurityGroups"][0]["GroupId"]
    apps = ec2.create_security_group(GroupName="apps", Description="bench", VpcId=vpc)["GroupId"]
    subnet = service.default_subnets(1)[0]
    host = bootstrap.split(",")[0].rsplit(":", 1)[0]
    perm = [{"IpProtocol": "tcp", "FromPort": 9094, "ToPort": 9094, "UserIdGroupPairs": [{"GroupId": apps}]}]
    opened, closed = [], []
    for _ in range(rounds):
        for want, change, out in (("open", ec2.authorize_security_group_ingress, opened),
                                  ("closed", ec2.revoke_security_group_ingress, closed)):
            watcher = subprocess.Popen([OPENMSK, "exec", "--data-dir", str(service.data_dir), "--subnet", subnet,
                                        "--security-group", apps, "--", sys.executable, "-c", WATCHER, host, "9094",
                                        want], stdout=subprocess.PIPE, text=True)
            assert watcher.stdout.readline().strip() == "ready"
            time.sleep(0.5)
            change(GroupId=msk, IpPermissions=perm)
            answered = time.time()
            line = watcher.stdout.readline().strip()
            watcher.wait(90)
            out.append(round(float(line) - answered, 3) if line else None)
    ok = lambda xs: [x for x in xs if x is not None]  # noqa: E731
    return {"authorize_to_open_s": opened, "revoke_to_closed_s": closed,
            "authorize_median_s": statistics.median(ok(opened)) if ok(opened) else None,
            "revoke_median_s": statistics.median(ok(closed)) if ok(closed) else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=2, help="discarded rounds (one run per layout each)")
    parser.add_argument("--reps", type=int, default=4, help="interleaved repetitions (loopback, namespaces)")
    parser.add_argument("--records", type=int, default=100000)
    parser.add_argument("--record-size", type=int, default=1024)
    parser.add_argument("--connects", type=int, default=500)
    args = parser.parse_args()
    load = os.getloadavg()
    results: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "load_average_at_start": load}
    with tempfile.TemporaryDirectory(prefix="openmsk-bench-net-") as tmp:
        workdir = Path(tmp)
        services: dict[str, Service] = {}
        try:
            for name in ("loopback", "namespaces"):
                results[name], services[name] = start_layout(name, workdir)
                print(f"{name}: cluster ACTIVE in {results[name]['cluster_active_s']} s", flush=True)
            results["throughput"] = interleaved_throughput(results, args)
            for name in ("loopback", "namespaces"):
                host, port = results[name]["bootstrap"].split(",")[0].rsplit(":", 1)
                results[name]["handshake"] = handshakes(host, int(port), args.connects)
            results["enforcement"] = enforcement_times(services["namespaces"], results["namespaces"]["bootstrap"])
        finally:
            for service in services.values():
                service.stop_everything()
    results["load_average_at_end"] = os.getloadavg()
    ratio = results["throughput"]["median_ratio"]
    results["throughput_ratio"] = ratio
    print(json.dumps(results, indent=2))
    print(f"produce throughput namespaces/loopback, median of {args.reps} interleaved repetitions: {ratio:.3f} "
          f"(target >= 0.95: {'met' if ratio >= 0.95 else 'NOT met'})")
    print(f"TCP handshake p50 ms: loopback {results['loopback']['handshake']['p50_ms']}, "
          f"namespaces {results['namespaces']['handshake']['p50_ms']}")
    print(f"rule change to enforcement (median s): authorize {results['enforcement']['authorize_median_s']}, "
          f"revoke {results['enforcement']['revoke_median_s']}")
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "network.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
