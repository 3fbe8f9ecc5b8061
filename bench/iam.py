"""MSK IAM on the brokers (issue 14): produce throughput and connection set-up on the IAM listener against SCRAM
and TLS-only on the same cluster, and what the IAM authorizer costs per request, measured inside the brokers.

  .venv/bin/python bench/iam.py [--warmup 1] [--reps 3] [--records 100000] [--record-size 1024]
                                [--connects 10] [--auth-requests 3000] [--json FILE]
  .venv/bin/python bench/iam.py --report FILE      # re-print the summary of a saved run

(about 10 minutes on 2 cores at a low load). One service of its own, one 3-broker, 3-zone 3.9.x cluster with
TLS to clients, unauthenticated TLS (9094), SASL/SCRAM (9096) and IAM (9098) all on. Every client is
confluent-kafka: SCRAM-SHA-512 as a user of an `AmazonMSK_` secret; IAM with OAUTHBEARER tokens from
aws-msk-iam-sasl-signer-python, signed with the key of an IAM user whose policy allows Connect on the cluster
and DescribeTopic/WriteData on its topics (a real policy evaluation on every cache miss).

1. Throughput: one producer per run (acks=all, --records of --record-size, unlimited rate, a fresh
   3-partition RF-3 topic per run, created over TLS), timed from the first send to the last delivery report
   after the producer has its metadata (connection set-up is not in it). First --warmup rounds of one
   half-size run per listener (discarded), then --reps repetitions, each running the three listeners in a
   rotated order; each repetition's IAM/SCRAM and IAM/TLS ratios; the verdict is the median of the
   per-repetition ratios (target IAM/SCRAM >= 0.9).
2. Connection set-up: --connects new producers per listener, interleaved (IAM, SCRAM, TLS, IAM, ...): time
   from creating the client to its first metadata (bootstrap connection, TLS, SASL) and to the delivery
   report of one acks=all message (plus the leader's connection and, for IAM, the first authorization).
   For IAM, where the time goes: when librdkafka calls the signer (oauth_cb) and how long the signer takes,
   and the brokers' calls to the control plane to verify each SASL exchange (ControlPlaneCall timers below).
3. Authorization cost: the brokers' own timers (plugins/msk-iam AuthorizeTimer, JMX
   `kafka.server:type=OpenmskIamAuthorizer,name=AuthorizeTime,path=...`, read through each broker's JMX
   exporter): cumulative counts per bucket of IamAuthorizer.authorize()'s wall time and of its thread CPU
   time. `cached` = IAM requests whose every action was in the broker's decision cache (the warm path; target
   p99 < 100 us), `asked` = those that went to the control plane, `delegate` = requests on the other
   listeners (TLS, SCRAM, replication) decided by Kafka's ACL authorizer, the baseline. Two windows: the
   throughput repetitions (big batches: few requests), and a phase of --auth-requests produce requests of
   one message each, one after the other, by one IAM producer (every one a warm-cache decision but the
   one every 2 s when the cached decision expires). Wall time on a loaded 2-core host is mostly waiting
   for a core; CPU time is the cost. A percentile is given as its bucket's upper bound (buckets 1, 2, 3,
   5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200 us, ...).
   The one-message phase runs after the throughput repetitions, so how warm the brokers' JIT is depends on
   --records x --reps: with the defaults (300 MB) both authorizers were still ~4x slower than after
   `--reps 5 --records 500000` (2.5 GB; the figures in bench/README.md).
The load average is printed with every run; results go to bench/results/iam.json unless --json says where.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from harness import Service, free_port  # noqa: E402
from kafka_clients import iam_config, tls_config  # noqa: E402
from openmsk.telemetry.jmx import INTERNAL_PORT, parse_exposition  # noqa: E402
from tls_throughput import log, uptime as load  # noqa: E402

LISTENERS = ("iam", "scram", "tls")
TIMER = "kafka_server_OpenmskIamAuthorizer_"
PATHS = ("cached", "asked", "delegate")             # name=AuthorizeTime
CALLS = ("cp-authenticate", "cp-authorize")         # name=ControlPlaneCall: the brokers' calls to the control plane


# -- the cluster and its clients -------------------------------------------------------------------
def create_cluster(svc: Service) -> tuple[str, dict]:
    kafka = svc.client("kafka")
    arn = kafka.create_cluster(
        ClusterName="iam-bench", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
        BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large", "ClientSubnets": svc.default_subnets(3)},
        ClientAuthentication={"Sasl": {"Scram": {"Enabled": True}, "Iam": {"Enabled": True}},
                              "Unauthenticated": {"Enabled": True}},
    )["ClusterArn"]
    svc.wait_state(arn, timeout=900)
    return arn, kafka.get_bootstrap_brokers(ClusterArn=arn)


def client_configs(svc: Service, arn: str, boot: dict) -> dict[str, dict]:
    """One confluent-kafka config per listener, each for an identity allowed to produce."""
    kms_key = svc.client("kms").create_key()["KeyMetadata"]["KeyId"]
    secret = svc.client("secretsmanager").create_secret(
        Name="AmazonMSK_bench", KmsKeyId=kms_key,
        SecretString=json.dumps({"username": "bench", "password": "bench-password"}))["ARN"]
    svc.client("kafka").batch_associate_scram_secret(ClusterArn=arn, SecretArnList=[secret])
    iam = svc.client("iam", region="us-east-1")
    iam.create_user(UserName="bench")
    key = iam.create_access_key(UserName="bench")["AccessKey"]
    topics = arn.replace(":cluster/", ":topic/") + "/*"
    iam.put_user_policy(UserName="bench", PolicyName="produce", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kafka-cluster:Connect", "Resource": arn},
            {"Effect": "Allow", "Action": ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"],
             "Resource": topics}]}))
    ca = svc.ca_path
    return {
        "iam": iam_config(boot["BootstrapBrokerStringSaslIam"], ca, key["AccessKeyId"], key["SecretAccessKey"]),
        "scram": {"bootstrap.servers": boot["BootstrapBrokerStringSaslScram"], "security.protocol": "SASL_SSL",
                  "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "bench", "sasl.password": "bench-password",
                  "ssl.ca.location": ca},
        "tls": tls_config(boot["BootstrapBrokerStringTls"], ca),
    }


def until(what: str, predicate, timeout: float = 600):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception:       # noqa: BLE001 - brokers or the SCRAM user not there yet
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout} s")
        time.sleep(1)


def metadata(config: dict, timeout: float = 30) -> int:
    client = AdminClient({**config, "log_level": 0})     # keep a reference: a destroyed handle fails its futures
    return len(client.list_topics(timeout=timeout).brokers)


def new_topic(admin: dict) -> str:
    topic = f"perf-{uuid.uuid4().hex[:8]}"
    client = AdminClient(admin)
    client.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])[topic].result(120)
    until(f"leaders of {topic}", lambda: all(
        p.leader >= 0 for p in client.list_topics(topic, timeout=30).topics[topic].partitions.values())
        and len(client.list_topics(topic, timeout=30).topics[topic].partitions) == 3, 120)
    return topic


# -- 1. throughput ----------------------------------------------------------------------------------
def produce_run(config: dict, admin: dict, records: int, size: int) -> float:
    """MB/s of one producer writing `records` to a fresh topic, from the first send to the last report."""
    topic = new_topic(admin)
    producer = Producer({**config, "acks": "all", "linger.ms": 5, "message.timeout.ms": 300000})
    producer.list_topics(topic, timeout=60)           # connected, authenticated, metadata known
    value = b"x" * size
    failed: list = []

    def report(err, _msg):
        if err is not None:
            failed.append(err)
    start = time.monotonic()
    for _ in range(records):
        while True:
            try:
                producer.produce(topic, value, on_delivery=report)
                break
            except BufferError:                         # queue full: let delivery reports drain it
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(600) != 0 or failed:
        raise RuntimeError(f"produce failed: {len(failed)} errors, e.g. {failed[:1]}")
    elapsed = time.monotonic() - start
    return records * size / elapsed / 1e6


def throughput(configs: dict, admin: dict, warmup: int, reps: int, records: int, size: int) -> dict:
    out: dict = {"runs": {k: [] for k in LISTENERS}, "ratios": {"iam/scram": [], "iam/tls": []}, "loads": []}
    for w in range(warmup):
        figures = {k: produce_run(configs[k], admin, records // 2, size) for k in LISTENERS}
        log(f"warm-up {w + 1}/{warmup}: " + ", ".join(f"{k} {v:.2f} MB/s" for k, v in figures.items())
            + f" (discarded), load {load()}")
    for rep in range(reps):
        order = LISTENERS[rep % 3:] + LISTENERS[:rep % 3]     # rotated: no listener always runs first
        figures = {k: produce_run(configs[k], admin, records, size) for k in order}
        for k in LISTENERS:
            out["runs"][k].append(figures[k])
        out["ratios"]["iam/scram"].append(figures["iam"] / figures["scram"])
        out["ratios"]["iam/tls"].append(figures["iam"] / figures["tls"])
        out["loads"].append(load())
        log(f"rep {rep + 1}/{reps} ({'-'.join(order)}): " + ", ".join(f"{k} {figures[k]:.2f} MB/s" for k in LISTENERS)
            + f"; IAM/SCRAM {out['ratios']['iam/scram'][-1]:.3f}, IAM/TLS {out['ratios']['iam/tls'][-1]:.3f}"
            + f", load {load()}")
    return out


# -- 2. connection set-up ---------------------------------------------------------------------------
def connect_once(config: dict, topic: str) -> dict[str, float]:
    """Seconds from creating a producer to its first metadata and to one acknowledged message; for IAM
    also when the signer was first called and how long it took."""
    signer: list[tuple[float, float]] = []
    if "oauth_cb" in config:
        sign = config["oauth_cb"]

        def timed(arg):
            called = time.monotonic()
            token = sign(arg)
            signer.append((called - start, time.monotonic() - called))
            return token
        config = {**config, "oauth_cb": timed}
    start = time.monotonic()
    producer = Producer({**config, "acks": "all", "linger.ms": 0, "message.timeout.ms": 120000})
    producer.list_topics(topic, timeout=120)
    out = {"metadata_s": time.monotonic() - start}
    acked: list = []
    producer.produce(topic, b"hello", on_delivery=lambda err, _msg: acked.append(err))
    producer.flush(120)
    if acked != [None]:
        raise RuntimeError(f"first produce failed: {acked}")
    out["first_produce_s"] = time.monotonic() - start
    if signer:
        out["signer_called_s"], out["signer_took_s"] = signer[0]
    return out


def connection_setup(configs: dict, admin: dict, connects: int) -> dict:
    topic = new_topic(admin)
    out: dict = {k: {} for k in LISTENERS}
    for k in LISTENERS:                                   # one discarded round: the brokers' first handshakes
        connect_once(configs[k], topic)
    for _ in range(connects):
        for k in LISTENERS:
            for name, value in connect_once(configs[k], topic).items():
                out[k].setdefault(name, []).append(value)
    return out


# -- 3. authorization cost, from the brokers' timers --------------------------------------------------
def one_by_one(config: dict, admin: dict, requests: int) -> None:
    """`requests` produce requests of one message each, one after the other (each waits for its ack)."""
    topic = new_topic(admin)
    producer = Producer({**config, "acks": "all", "linger.ms": 0, "max.in.flight": 1,
                         "message.timeout.ms": 120000})
    producer.list_topics(topic, timeout=60)
    for i in range(requests):
        producer.produce(topic, b"a", partition=i % 3)
        if producer.flush(120) != 0:
            raise RuntimeError("a one-message produce was not acknowledged")


def read_timers(boot: dict) -> dict[str, dict[str, float]]:
    """timer (PATHS, CALLS) -> attribute -> value, summed over the brokers."""
    hosts = {h.rsplit(":", 1)[0] for h in boot["BootstrapBrokerStringTls"].split(",")}
    out: dict[str, dict[str, float]] = {p: {} for p in PATHS + CALLS}
    for host in hosts:
        text = urllib.request.urlopen(f"http://{host}:{INTERNAL_PORT}/metrics", timeout=60).read().decode()
        for name, labels, value in parse_exposition(text):
            key = ("cp-" if labels.get("name") == "ControlPlaneCall" else "") + labels.get("path", "")
            if name.startswith(TIMER) and key in out:
                attr = name[len(TIMER):]
                acc = out[key]
                acc[attr] = max(acc.get(attr, 0), value) if attr == "MaxNanos" else acc.get(attr, 0) + value
    return out


def timer_delta(before: dict, after: dict) -> dict:
    return {p: {a: (v if a == "MaxNanos" else v - before[p].get(a, 0)) for a, v in after[p].items()} for p in after}


def bucket_percentile(timer: dict, q: float, prefix: str) -> float | None:
    """Upper bound (us) of the bucket holding the q-quantile (prefix "Le": wall time, "CpuLe": CPU time);
    inf if above the last bound."""
    count = timer.get("Count", 0)
    if count <= 0:
        return None
    bounds = sorted(int(a[len(prefix):-2]) for a in timer if a.startswith(prefix) and a.endswith("us"))
    for b in bounds:
        if timer[f"{prefix}{b}us"] >= q * count:
            return float(b)
    return float("inf")


def timer_summary(timer: dict) -> dict:
    count = timer.get("Count", 0)
    out = {"count": int(count), "max_us_since_start": timer.get("MaxNanos", 0) / 1000}
    for kind, prefix, total in (("wall", "Le", "TotalNanos"), ("cpu", "CpuLe", "TotalCpuNanos")):
        out[kind] = {"mean_us": timer.get(total, 0) / count / 1000 if count else None,
                     **{f"p{name}_us": bucket_percentile(timer, q, prefix)
                        for name, q in (("50", 0.5), ("90", 0.9), ("99", 0.99), ("999", 0.999))}}
    return out


# -- main -------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--records", type=int, default=100000)
    parser.add_argument("--record-size", type=int, default=1024)
    parser.add_argument("--connects", type=int, default=10)
    parser.add_argument("--auth-requests", type=int, default=3000)
    parser.add_argument("--json", help="where to write the raw figures (default bench/results/iam.json)")
    parser.add_argument("--report", metavar="JSON", help="only print the summary of a file written before")
    args = parser.parse_args()
    if args.report:
        report(json.loads(Path(args.report).read_text()))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="openmsk-iambench-"))
    svc = Service(tmp / "data", free_port()).start()
    results: dict = {"load_start": load(), "args": vars(args)}
    try:
        log(f"creating a 3-broker cluster with TLS, SCRAM and IAM, load {load()}")
        arn, boot = create_cluster(svc)
        configs = client_configs(svc, arn, boot)
        admin = configs["tls"]
        for k in LISTENERS:
            until(f"{k} login", lambda k=k: metadata(configs[k]) >= 3)
        log(f"cluster ACTIVE, all three logins work, load {load()}")
        before = read_timers(boot)
        results["throughput"] = throughput(configs, admin, args.warmup, args.reps, args.records, args.record_size)
        after = read_timers(boot)
        results["raw_throughput"] = timer_delta(before, after)
        results["authorize_throughput"] = {p: timer_summary(d) for p, d in results["raw_throughput"].items()}
        log(f"{args.auth_requests} one-message IAM produce requests, load {load()}")
        before = read_timers(boot)
        one_by_one(configs["iam"], admin, args.auth_requests)
        after = read_timers(boot)
        results["raw_one_by_one"] = timer_delta(before, after)
        results["authorize_one_by_one"] = {p: timer_summary(d) for p, d in results["raw_one_by_one"].items()}
        results["load_auth"] = load()
        log(f"connection set-up, {args.connects} per listener, load {load()}")
        before = read_timers(boot)
        results["connect"] = connection_setup(configs, admin, args.connects)
        results["control_plane_during_connect"] = {
            p: timer_summary(d) for p, d in timer_delta(before, read_timers(boot)).items() if p in CALLS}
    finally:
        svc.stop_everything()
        results["load_end"] = load()
        shutil.rmtree(tmp, ignore_errors=True)
    out = Path(args.json) if args.json else REPO / "bench" / "results" / "iam.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    report(results)
    return 0


def report(results: dict) -> None:
    med = statistics.median

    def q(values: list[float], p: float) -> float:
        values = sorted(values)
        return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]

    tp = results["throughput"]
    print()
    print(f"load average at start {results['load_start']}, at end {results['load_end']} (2 cores); "
          f"per repetition: {'; '.join(tp['loads'])}")
    for k in LISTENERS:
        runs = tp["runs"][k]
        print(f"produce {k:<5} MB/s per rep: {', '.join(f'{v:.2f}' for v in runs)}  median {med(runs):.2f}")
    for name, target in (("iam/scram", 0.9), ("iam/tls", None)):
        ratios = tp["ratios"][name]
        verdict = "" if target is None else ("  target >= 0.9: met" if med(ratios) >= target else
                                             "  target >= 0.9: NOT met")
        print(f"{name.upper():<9} median of per-rep ratios {med(ratios):.3f} "
              f"[{', '.join(f'{r:.3f}' for r in ratios)}]{verdict}")
    print("connection set-up (s): median / p90 over "
          f"{len(results['connect']['iam']['metadata_s'])} connections each")
    for k in LISTENERS:
        c = results["connect"][k]
        print(f"  {k:<5} to first metadata {med(c['metadata_s']):.3f} / {q(c['metadata_s'], 0.9):.3f}   "
              f"to first acked produce {med(c['first_produce_s']):.3f} / {q(c['first_produce_s'], 0.9):.3f}")
    c = results["connect"]["iam"]
    if "signer_called_s" in c:
        print(f"  iam: signer called at {med(c['signer_called_s']):.3f} s (median), took "
              f"{med(c['signer_took_s']):.3f} s (median)")
    auth = results.get("control_plane_during_connect", {}).get("cp-authenticate")
    if auth and auth["count"]:
        w = auth["wall"]
        print(f"  iam: the brokers' control-plane authentications meanwhile: {auth['count']} calls, wall mean "
              f"{w['mean_us'] / 1000:.1f} ms, p50 <= {w['p50_us'] / 1000:g} ms, p90 <= {w['p90_us'] / 1000:g} ms")
    for window, title in (("authorize_throughput", "during the throughput repetitions"),
                          ("authorize_one_by_one", "during the one-message requests, load "
                           + results.get("load_auth", "?"))):
        print(f"authorize() inside the brokers {title} (bucket upper bounds, us; wall | CPU):")
        for p in PATHS:
            s = results[window][p]
            if not s["count"]:
                print(f"  {p:<8} no calls")
                continue
            w, c = s["wall"], s["cpu"]
            print(f"  {p:<8} calls {s['count']:>7}  mean {w['mean_us']:8.1f} | {c['mean_us']:6.1f}  "
                  f"p50 <= {w['p50_us']:g} | {c['p50_us']:g}  p90 <= {w['p90_us']:g} | {c['p90_us']:g}  "
                  f"p99 <= {w['p99_us']:g} | {c['p99_us']:g}  p99.9 <= {w['p999_us']:g} | {c['p999_us']:g}")
    cached = results["authorize_one_by_one"]["cached"]
    if cached["count"]:
        for kind in ("cpu", "wall"):
            p99 = cached[kind]["p99_us"]
            print(f"warm-cache authorization, {kind} time: p99 <= {p99:g} us; target p99 < 100 us "
                  f"{'met' if p99 <= 100 else 'NOT met'}")


if __name__ == "__main__":
    sys.exit(main())
