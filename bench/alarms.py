"""Alarm benchmark (issue 12): how fast an alarm fires and notifies, and what evaluating 1,000 alarms costs.

  .venv/bin/python bench/alarms.py [--rounds-60 2] [--rounds-10 5] [--alarms 1000] [--window 120]

It starts its own `openmsk serve` (MSK's defaults: alarms evaluated every 60 s, high-resolution
alarms every 10 s; no cluster, the alarms watch PutMetricData series) and a local webhook subscribed
to an SNS topic.
1. Latency: a metric crosses its alarm's threshold at time T (one PutMetricData with Timestamp=T);
   the bench polls DescribeAlarms until ALARM and waits for the notification at the webhook. Both
   are reported against the alarm's Period (target: within one Period + 10 s), for Period=60 and the
   high-resolution Period=10.
2. Cost: the service process's CPU over `--window` seconds idle (a baseline, same run), then with
   `--alarms` alarms (half plain, half metric math over two series), over the same window. Reported
   as % of one core, against the 5 % target; plus the time of one pass measured in this process.
Results go to bench/results/alarms.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from harness import Service, free_port  # noqa: E402
from sns_helpers import Webhook  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
COST_TARGET = 5.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def latency(svc: Service, hook: Webhook, topic: str, period: int) -> dict:
    cw = svc.client("cloudwatch")
    ns, name = f"Bench/{uuid.uuid4().hex[:6]}", f"lat-{period}-{uuid.uuid4().hex[:6]}"
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "M", "Value": 1.0, "StorageResolution": 1,
                                                  "Timestamp": now() - dt.timedelta(seconds=period)}])
    cw.put_metric_alarm(AlarmName=name, Namespace=ns, MetricName="M", Statistic="Maximum", Period=period,
                        EvaluationPeriods=1, Threshold=50.0, ComparisonOperator="GreaterThanThreshold",
                        AlarmActions=[topic], TreatMissingData="ignore")
    # Start at a random point of the period, as a real crossing would.
    time.sleep((period * 0.37 + time.time() % 7) % period)
    hook.drain()
    crossing = time.time()
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "M", "Value": 99.0, "StorageResolution": 1,
                                                  "Timestamp": now()}])
    alarm_at = None
    deadline = crossing + period + 120
    while time.time() < deadline:
        if cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"] == "ALARM":
            alarm_at = time.time()
            break
        time.sleep(0.2)
    note = hook.next("Notification", timeout=max(1.0, deadline - time.time()))
    cw.delete_alarms(AlarmNames=[name])
    return {"period": period, "to_alarm_s": round(alarm_at - crossing, 2),
            "to_webhook_s": round(note["_at"] - crossing, 2), "target_s": period + 10}


def create_alarms(svc: Service, count: int, topic: str) -> None:
    cw = svc.client("cloudwatch")
    ns = "Bench/Load"
    t = now() - dt.timedelta(minutes=1)
    for start in range(0, count, 500):
        cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": name, "Dimensions": [{"Name": "Broker", "Value": str(i)}], "Value": float(i % 100),
             "Timestamp": t} for i in range(start, min(count, start + 500)) for name in ("User", "System")][:1000])
    from concurrent.futures import ThreadPoolExecutor
    local = __import__("threading").local()

    def create(i: int) -> None:
        if not hasattr(local, "cw"):
            local.cw = svc.client("cloudwatch")
        cw = local.cw
        dims = [{"Name": "Broker", "Value": str(i)}]
        if i % 2:
            cw.put_metric_alarm(AlarmName=f"load-{i:04d}", Namespace=ns, MetricName="User", Dimensions=dims,
                                Statistic="Average", Period=60, EvaluationPeriods=5, DatapointsToAlarm=3,
                                Threshold=60.0, ComparisonOperator="GreaterThanThreshold", AlarmActions=[topic])
        else:
            def q(qid, metric):
                return {"Id": qid, "ReturnData": False, "MetricStat": {"Metric": {
                    "Namespace": ns, "MetricName": metric, "Dimensions": dims}, "Period": 60, "Stat": "Average"}}
            cw.put_metric_alarm(AlarmName=f"load-{i:04d}", EvaluationPeriods=5, Threshold=60.0,
                                ComparisonOperator="GreaterThanThreshold", AlarmActions=[topic],
                                Metrics=[q("u", "User"), q("s", "System"), {"Id": "cpu", "Expression": "u + s"}])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, range(count)))


def feed(svc: Service, count: int, window: float) -> None:
    """Per-minute datapoints for every series from 6 minutes ago to past the window (future timestamps
    are allowed up to 2 h), written before the window so that PutMetricData is not in the measurement."""
    cw = svc.client("cloudwatch")
    start = now().replace(second=0, microsecond=0) - dt.timedelta(minutes=6)
    minutes = int(window // 60) + 9
    data = [{"MetricName": name, "Dimensions": [{"Name": "Broker", "Value": str(i)}], "Value": float(i % 100),
             "Timestamp": start + dt.timedelta(minutes=m)}
            for m in range(minutes) for i in range(count) for name in ("User", "System")]
    for k in range(0, len(data), 1000):
        cw.put_metric_data(Namespace="Bench/Load", MetricData=data[k:k + 1000])


def one_pass_seconds(data_dir: Path) -> float:
    """One evaluation pass over the installation's alarms, in this process (read-only copy of the dbs)."""
    import shutil
    from openmsk.control.store import Store
    from openmsk.services.cloudwatch import AlarmBackend, AlarmEvaluator
    from openmsk.telemetry.store import MetricStore
    copy = Path(tempfile.mkdtemp(prefix="alarms-pass-"))
    for name in ("openmsk.db", "metrics.db"):
        for suffix in ("", "-wal", "-shm"):
            if (data_dir / (name + suffix)).exists():
                shutil.copy(data_dir / (name + suffix), copy / (name + suffix))
    evaluator = AlarmEvaluator(MetricStore(copy / "metrics.db"), AlarmBackend(Store(copy / "openmsk.db")))
    started = time.process_time()
    evaluator.evaluate_all()
    return time.process_time() - started


def main() -> int:
    args = argparse.ArgumentParser()
    args.add_argument("--rounds-60", type=int, default=2)
    args.add_argument("--rounds-10", type=int, default=5)
    args.add_argument("--alarms", type=int, default=1000)
    args.add_argument("--window", type=float, default=120.0)
    opts = args.parse_args()
    base = Path(tempfile.mkdtemp(prefix="openmsk-bench-alarms-"))
    svc = Service(base / "data", free_port()).start()
    hook = Webhook()
    results: dict = {"machine": {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()}}
    try:
        sns = svc.client("sns")
        topic = sns.create_topic(Name="bench")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=hook.url)
        sns.confirm_subscription(TopicArn=topic, Token=hook.next("SubscriptionConfirmation")["Token"])

        runs = [latency(svc, hook, topic, 10) for _ in range(opts.rounds_10)]
        runs += [latency(svc, hook, topic, 60) for _ in range(opts.rounds_60)]
        for r in runs:
            print(f"Period {r['period']:>2} s: ALARM after {r['to_alarm_s']:6.2f} s, webhook after "
                  f"{r['to_webhook_s']:6.2f} s (target {r['target_s']} s)", flush=True)
        results["latency"] = runs

        pid = svc.proc.pid
        c0 = cpu_seconds(pid)
        time.sleep(opts.window)
        idle = (cpu_seconds(pid) - c0) / opts.window * 100
        t0 = time.time()
        create_alarms(svc, opts.alarms, topic)
        print(f"{opts.alarms} alarms created in {time.time() - t0:.0f} s", flush=True)
        feed(svc, opts.alarms, opts.window)             # every alarm finds 5 datapoints in every pass
        time.sleep(60 - time.time() % 60 + 2)         # start the window just after a pass
        c0 = cpu_seconds(pid)
        time.sleep(opts.window)
        loaded = (cpu_seconds(pid) - c0) / opts.window * 100
        per_pass = one_pass_seconds(svc.data_dir)
        cost = {"alarms": opts.alarms, "window_s": opts.window, "idle_percent_of_core": round(idle, 3),
                "with_alarms_percent_of_core": round(loaded, 3),
                "evaluation_percent_of_core": round(loaded - idle, 3),
                "ratio_to_idle": round(loaded / idle, 2) if idle else None,
                "one_pass_cpu_s_in_process": round(per_pass, 3),
                "one_pass_percent_of_core_per_minute": round(per_pass / 60 * 100, 3),
                "target_percent": COST_TARGET}
        results["cost"] = cost
        print(f"service CPU: idle {idle:.2f} % of a core, with {opts.alarms} alarms {loaded:.2f} % "
              f"(evaluation {loaded - idle:.2f} %, target < {COST_TARGET} %); one pass in-process "
              f"{per_pass:.2f} s CPU = {per_pass / 60 * 100:.2f} % of a core at one pass a minute", flush=True)
        results["machine"]["loadavg_end"] = os.getloadavg()
    finally:
        hook.close()
        svc.stop_everything()
    out = REPO / "bench" / "results" / "alarms.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
