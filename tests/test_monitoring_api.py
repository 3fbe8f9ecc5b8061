"""CloudWatch API rules, with the real aws CLI and boto3 against a real `openmsk serve` (no cluster
needed): users' own metrics through PutMetricData, CloudWatch's statistics, time-window and Period
rules, its error codes in both the JSON and the legacy query protocol, and the store's retention."""
from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path

import botocore
import botocore.session
import pytest

from openmsk.telemetry.store import HOUR, MINUTE, Bucket, MetricStore


def _minute(offset: int = 0) -> dt.datetime:
    now = int(time.time()) // 60 * 60
    return dt.datetime.fromtimestamp(now + offset * 60, dt.timezone.utc)


def _code(exc) -> str:
    return exc.value.response["Error"]["Code"]


@pytest.fixture
def cw(service):
    return service.client("cloudwatch")


def test_put_metric_data_statistics_and_window(cw):
    ns = f"Test/{uuid.uuid4().hex[:8]}"
    t0 = _minute(-10)
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "a"}], "Timestamp": t0,
         "Values": [1, 2, 3, 100], "Counts": [10, 5, 4, 1], "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "a"}],
         "Timestamp": t0 + dt.timedelta(seconds=30), "Value": 4.0, "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "a"}],
         "Timestamp": t0 + dt.timedelta(minutes=1), "StatisticValues":
             {"SampleCount": 2, "Sum": 10, "Minimum": 4, "Maximum": 6}, "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "b"}], "Timestamp": t0, "Value": 999.0},
    ])
    got = cw.get_metric_statistics(Namespace=ns, MetricName="Latency", Dimensions=[{"Name": "Service", "Value": "a"}],
                                   StartTime=t0, EndTime=t0 + dt.timedelta(minutes=2), Period=60,
                                   Statistics=["SampleCount", "Sum", "Average", "Minimum", "Maximum"])
    points = sorted(got["Datapoints"], key=lambda p: p["Timestamp"])
    assert got["Label"] == "Latency"
    assert [p["Timestamp"] for p in points] == [t0, t0 + dt.timedelta(minutes=1)]
    first, second = points
    assert first["SampleCount"] == 21 and first["Sum"] == 10 + 10 + 12 + 100 + 4
    assert first["Minimum"] == 1 and first["Maximum"] == 100 and first["Unit"] == "Milliseconds"
    assert second == {**second, "SampleCount": 2, "Sum": 10, "Average": 5, "Minimum": 4, "Maximum": 6}

    # Percentiles come from the individual values (weighted by Counts).
    pct = cw.get_metric_statistics(Namespace=ns, MetricName="Latency", Dimensions=[{"Name": "Service", "Value": "a"}],
                                   StartTime=t0, EndTime=t0 + dt.timedelta(minutes=1), Period=60,
                                   ExtendedStatistics=["p50", "p99", "p100"])["Datapoints"]
    assert pct[0]["ExtendedStatistics"] == {"p50": 2.0, "p99": 100.0, "p100": 100.0}   # 21 samples: 10x1, 5x2, 4x3, 1x4, 1x100

    # StartTime inclusive, EndTime exclusive; another dimension set is another metric.
    only_second = cw.get_metric_statistics(Namespace=ns, MetricName="Latency",
                                           Dimensions=[{"Name": "Service", "Value": "a"}],
                                           StartTime=t0 + dt.timedelta(minutes=1), EndTime=t0 + dt.timedelta(minutes=2),
                                           Period=60, Statistics=["Sum"])["Datapoints"]
    assert [p["Sum"] for p in only_second] == [10]
    none = cw.get_metric_statistics(Namespace=ns, MetricName="Latency", Dimensions=[{"Name": "Service", "Value": "a"}],
                                    StartTime=t0 - dt.timedelta(minutes=1), EndTime=t0, Period=60, Statistics=["Sum"])
    assert none["Datapoints"] == []
    # A Period over both minutes merges them; a Unit filter that does not match returns nothing.
    merged = cw.get_metric_statistics(Namespace=ns, MetricName="Latency", Dimensions=[{"Name": "Service", "Value": "a"}],
                                      StartTime=t0, EndTime=t0 + dt.timedelta(minutes=2), Period=120,
                                      Statistics=["SampleCount"])["Datapoints"]
    assert [p["SampleCount"] for p in merged] == [23]
    assert cw.get_metric_statistics(Namespace=ns, MetricName="Latency", Dimensions=[{"Name": "Service", "Value": "a"}],
                                    StartTime=t0, EndTime=t0 + dt.timedelta(minutes=2), Period=60,
                                    Statistics=["Sum"], Unit="Seconds")["Datapoints"] == []

    listed = cw.list_metrics(Namespace=ns)["Metrics"]
    assert sorted(d["Value"] for m in listed for d in m["Dimensions"]) == ["a", "b"]
    only_b = cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Service", "Value": "b"}])["Metrics"]
    assert only_b == [{"Namespace": ns, "MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "b"}]}]


def test_get_metric_data_and_math(cw):
    ns = f"Test/{uuid.uuid4().hex[:8]}"
    t0 = _minute(-5)
    data = []
    for i in range(3):
        for name, value in (("User", 10.0 + i), ("System", 5.0)):
            data.append({"MetricName": name, "Timestamp": t0 + dt.timedelta(minutes=i), "Value": value, "Unit": "Percent"})
    cw.put_metric_data(Namespace=ns, MetricData=data)

    def stat(name):
        return {"Metric": {"Namespace": ns, "MetricName": name}, "Period": 60, "Stat": "Average"}
    got = cw.get_metric_data(StartTime=t0, EndTime=t0 + dt.timedelta(minutes=3), ScanBy="TimestampAscending",
                             MetricDataQueries=[{"Id": "u", "MetricStat": stat("User"), "ReturnData": False},
                                                {"Id": "s", "MetricStat": stat("System")},
                                                {"Id": "cpu", "Expression": "u + s", "Label": "CPU"}])
    results = {r["Id"]: r for r in got["MetricDataResults"]}
    assert set(results) == {"s", "cpu"}
    assert results["cpu"]["Label"] == "CPU" and results["cpu"]["Values"] == [15.0, 16.0, 17.0]
    assert results["cpu"]["Timestamps"] == [t0 + dt.timedelta(minutes=i) for i in range(3)]
    assert results["s"]["StatusCode"] == "Complete"
    descending = cw.get_metric_data(StartTime=t0, EndTime=t0 + dt.timedelta(minutes=3),
                                    MetricDataQueries=[{"Id": "u", "MetricStat": stat("User")}])
    assert descending["MetricDataResults"][0]["Values"] == [12.0, 11.0, 10.0]


def test_put_metric_data_gzip_body(cw):
    """More than 10 KB of datums: botocore gzips the body (requestcompression); every datum arrives."""
    ns = f"Test/{uuid.uuid4().hex[:8]}"
    t0 = _minute(-3)
    data = [{"MetricName": "Big", "Dimensions": [{"Name": "Shard", "Value": f"shard-{i:04d}-" + "x" * 40}],
             "Timestamp": t0, "Value": float(i)} for i in range(200)]
    cw.put_metric_data(Namespace=ns, MetricData=data)
    assert len(cw.list_metrics(Namespace=ns)["Metrics"]) == 200


def test_high_resolution_metrics(cw):
    ns = f"Test/{uuid.uuid4().hex[:8]}"
    t0 = _minute(-2)
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Fast", "Timestamp": t0 + dt.timedelta(seconds=s), "Value": float(s), "StorageResolution": 1}
        for s in (0, 1, 10, 11)])
    ten = cw.get_metric_statistics(Namespace=ns, MetricName="Fast", StartTime=t0, EndTime=t0 + dt.timedelta(seconds=20),
                                   Period=10, Statistics=["Sum"])["Datapoints"]
    assert sorted((p["Timestamp"], p["Sum"]) for p in ten) == [(t0, 1.0), (t0 + dt.timedelta(seconds=10), 21.0)]
    minute = cw.get_metric_statistics(Namespace=ns, MetricName="Fast", StartTime=t0, EndTime=t0 + dt.timedelta(minutes=1),
                                      Period=60, Statistics=["Sum"])["Datapoints"]
    assert [p["Sum"] for p in minute] == [22.0]


@pytest.mark.parametrize("kwargs, code, words", [
    ({"Period": 61, "Statistics": ["Average"]}, "InvalidParameterValue", "multiple of 60"),
    ({"Period": 60, "Statistics": ["Average"], "days": 2}, "InvalidParameterCombination", "1,440"),
    ({"Period": 60, "Statistics": ["Median"]}, "InvalidParameterValue", "Median"),
    ({"Period": 60, "ExtendedStatistics": ["p101"]}, "InvalidParameterValue", "p101"),
    ({"Period": 60, "ExtendedStatistics": ["median"]}, "InvalidParameterValue", "median"),
    ({"Period": 60, "Statistics": ["Average"], "ExtendedStatistics": ["p99"]}, "InvalidParameterCombination", "Statistics"),
    ({"Period": 60}, "MissingParameter", "Statistics"),
    ({"Period": 60, "Statistics": ["Average"], "days": -1}, "InvalidParameterValue", "StartTime"),
])
def test_get_metric_statistics_errors_boto3(cw, kwargs, code, words):
    kwargs = dict(kwargs)
    days = kwargs.pop("days", 0)
    end = _minute()
    start = end - dt.timedelta(days=days) if days > 0 else end - dt.timedelta(minutes=10)
    if days < 0:
        start = end + dt.timedelta(minutes=5)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        cw.get_metric_statistics(Namespace="AWS/Kafka", MetricName="CpuUser", StartTime=start, EndTime=end, **kwargs)
    assert _code(exc) == code
    assert words in exc.value.response["Error"]["Message"]
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_modeled_exceptions_and_put_errors(cw):
    with pytest.raises(cw.exceptions.InvalidParameterValueException):
        cw.get_metric_statistics(Namespace="AWS/Kafka", MetricName="CpuUser", StartTime=_minute(-5), EndTime=_minute(),
                                 Period=90, Statistics=["Average"])
    with pytest.raises(cw.exceptions.InvalidParameterCombinationException):
        cw.get_metric_statistics(Namespace="AWS/Kafka", MetricName="CpuUser", StartTime=_minute(-60 * 24 * 2),
                                 EndTime=_minute(), Period=60, Statistics=["Average"])
    with pytest.raises(cw.exceptions.InvalidParameterValueException):
        cw.put_metric_data(Namespace="AWS/Kafka", MetricData=[{"MetricName": "CpuUser", "Value": 1.0}])
    with pytest.raises(cw.exceptions.InvalidParameterCombinationException):
        cw.put_metric_data(Namespace="Mine", MetricData=[{"MetricName": "x", "Value": 1.0, "Values": [1.0]}])
    with pytest.raises(cw.exceptions.InvalidParameterValueException):
        cw.put_metric_data(Namespace="Mine", MetricData=[{"MetricName": "x", "Values": [1.0, 2.0], "Counts": [1.0]}])
    with pytest.raises(cw.exceptions.InvalidParameterValueException):
        cw.put_metric_data(Namespace="Mine", MetricData=[{"MetricName": "x", "Value": 1.0,
                                                          "Timestamp": dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=3)}])


def test_errors_with_the_cli(service):
    end = _minute()
    base = ["cloudwatch", "get-metric-statistics", "--namespace", "AWS/Kafka", "--metric-name", "CpuUser",
            "--dimensions", "Name=ClusterName,Value=x", "--end-time", end.isoformat()]
    bad_period = service.aws(*base, "--start-time", (end - dt.timedelta(minutes=5)).isoformat(), "--period", "90",
                             "--statistics", "Average")
    assert bad_period.returncode == 255
    assert "(InvalidParameterValue)" in bad_period.stderr and "multiple of 60" in bad_period.stderr
    too_many = service.aws(*base, "--start-time", (end - dt.timedelta(days=2)).isoformat(), "--period", "60",
                           "--statistics", "Average")
    assert "(InvalidParameterCombination)" in too_many.stderr and "1,440" in too_many.stderr
    unknown = service.aws(*base, "--start-time", (end - dt.timedelta(minutes=5)).isoformat(), "--period", "60",
                          "--statistics", "Mode")
    assert "(InvalidParameterValue)" in unknown.stderr and "Mode" in unknown.stderr
    ok = service.aws(*base, "--start-time", (end - dt.timedelta(minutes=5)).isoformat(), "--period", "60",
                     "--statistics", "Average")
    assert ok.returncode == 0, ok.stderr
    assert ok.json == {"Label": "CpuUser", "Datapoints": []}


@pytest.fixture
def query_protocol_env(service, tmp_path):
    """An aws CLI whose CloudWatch model speaks only the legacy query protocol (as botocore < 1.42.7)."""
    loader = botocore.session.get_session().get_component("data_loader")
    version = loader.list_api_versions("cloudwatch", "service-2")[-1]
    model = loader.load_service_model("cloudwatch", "service-2", version)
    model["metadata"]["protocol"] = "query"
    model["metadata"]["protocols"] = ["query"]
    target = tmp_path / "models" / "cloudwatch" / version
    target.mkdir(parents=True)
    (target / "service-2.json").write_text(json.dumps(model))
    (target / "paginators-1.json").write_text(json.dumps(loader.load_service_model("cloudwatch", "paginators-1", version)))
    return {**service.env, "AWS_DATA_PATH": str(tmp_path / "models")}


def test_query_protocol(service, query_protocol_env):
    ns = f"Test/{uuid.uuid4().hex[:8]}"
    t0 = _minute(-4)
    put = service.aws("cloudwatch", "put-metric-data", "--namespace", ns, "--metric-name", "Q", "--value", "7",
                      "--timestamp", t0.isoformat(), "--dimensions", "Cluster Name=q",   # put-metric-data's shorthand
                      env=query_protocol_env)
    assert put.returncode == 0, put.stderr
    got = service.aws("cloudwatch", "get-metric-statistics", "--namespace", ns, "--metric-name", "Q",
                      "--dimensions", "Name=Cluster Name,Value=q", "--start-time", t0.isoformat(),
                      "--end-time", (t0 + dt.timedelta(minutes=1)).isoformat(), "--period", "60",
                      "--statistics", "Sum", env=query_protocol_env)
    assert got.returncode == 0, got.stderr
    assert got.json["Datapoints"][0]["Sum"] == 7.0
    assert got.json["Datapoints"][0]["Timestamp"] == t0.strftime("%Y-%m-%dT%H:%M:%SZ")   # XML timestamps
    bad = service.aws("cloudwatch", "get-metric-statistics", "--namespace", ns, "--metric-name", "Q",
                      "--start-time", t0.isoformat(), "--end-time", (t0 + dt.timedelta(minutes=1)).isoformat(),
                      "--period", "61", "--statistics", "Sum", env=query_protocol_env)
    assert "(InvalidParameterValue)" in bad.stderr


def test_buckets_summed_in_sqlite_match_the_merged_points(tmp_path):
    """GetMetricData/GetMetricStatistics without percentiles sum the buckets in SQLite (store.aggregate):
    the same n/sum/min/max, per period, over one or several series, as merging the stored points; read
    from a worker thread (the provider's handlers run there) as well as the main one."""
    import random
    import threading

    from openmsk.services.cloudwatch.query import buckets
    store = MetricStore(tmp_path / "metrics.db")
    now = time.time()
    rng = random.Random(7)
    entries = []
    for t in range(0, 3600, 20):
        for d in ("1", "2", "3"):
            sample = Bucket()
            sample.add(rng.uniform(-5, 100))
            entries.append(("M", {"D": d}, "Count", now - 3600 + t, sample, True))
    store.write("us-east-1", "Test", entries)
    ids = [s.id for s in store.series("us-east-1", "Test", "M")]
    for chosen in ([ids[0]], ids):
        for period, start in ((60, now - 3600), (300, now - 3000), (10, now - 600)):
            merged = buckets(store, chosen, start, now, period)
            summed = buckets(store, chosen, start, now, period, values=False)
            in_thread = []
            worker = threading.Thread(target=lambda: in_thread.append(
                buckets(store, chosen, start, now, period, values=False)))
            worker.start()
            worker.join()
            assert merged and [t for t, _ in merged] == [t for t, _ in summed] == [t for t, _ in in_thread[0]]
            for (_, a), (_, b), (_, c) in zip(merged, summed, in_thread[0]):
                assert (a.n, round(a.sum, 6), a.min, a.max) == (b.n, round(b.sum, 6), b.min, b.max) \
                    == (c.n, round(c.sum, 6), c.min, c.max)
    store.close()


def test_store_retention_and_rollups(tmp_path):
    """1-minute points live 15 days, 5-minute 63 days, 1-hour 455 days; series idle longer are dropped."""
    store = MetricStore(tmp_path / "metrics.db")
    now = time.time()
    old = now - 20 * 86400
    sample = Bucket()
    sample.add(5.0)
    store.write("us-east-1", "Test", [("M", {"D": "1"}, "Count", old, sample, False),
                                      ("M", {"D": "1"}, "Count", old + 30, sample, False)])
    store.prune(now)
    sid = store.series("us-east-1", "Test", "M")[0].id
    assert store.points([sid], MINUTE, 0, int(now)) == []             # beyond 15 days
    (ts, bucket), = store.points([sid], HOUR, 0, int(now))              # still there, rolled up
    assert bucket.n == 2 and bucket.sum == 10.0 and ts == int(old) // 3600 * 3600
    store.prune(now + 456 * 86400)
    assert store.series("us-east-1", "Test") == []
    store.close()
    assert (tmp_path / "metrics.db").stat().st_size < 1_000_000


def test_alarms_evaluate_against_metrics(cw):
    ns = f"Test/{uuid.uuid4().hex[:8]}"
    now = dt.datetime.now(dt.timezone.utc)
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": name, "Dimensions": [{"Name": "Cluster Name", "Value": "c"}],
         "Timestamp": now - dt.timedelta(minutes=m), "Value": value, "Unit": "Percent"}
        for m in range(3) for name, value in (("CpuUser", 50.0), ("CpuSystem", 20.0))])
    dims = [{"Name": "Cluster Name", "Value": "c"}]
    name = f"cpu-{uuid.uuid4().hex[:6]}"
    cw.put_metric_alarm(AlarmName=name, Namespace=ns, MetricName="CpuUser", Dimensions=dims, Statistic="Average",
                        Period=60, EvaluationPeriods=2, Threshold=40.0, ComparisonOperator="GreaterThanThreshold",
                        AlarmActions=["arn:aws:sns:us-east-1:123456789012:ops"])
    alarm = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM" and "greater than the threshold (40.0)" in alarm["StateReason"]
    assert alarm["AlarmArn"].endswith(f":alarm:{name}") and alarm["AlarmActions"] == ["arn:aws:sns:us-east-1:123456789012:ops"]
    assert json.loads(alarm["StateReasonData"])["threshold"] == 40.0

    quiet = f"quiet-{uuid.uuid4().hex[:6]}"
    cw.put_metric_alarm(AlarmName=quiet, Namespace=ns, MetricName="CpuUser", Dimensions=dims, Statistic="Maximum",
                        Period=60, EvaluationPeriods=1, Threshold=60.0, ComparisonOperator="GreaterThanOrEqualToThreshold")
    nodata = f"nodata-{uuid.uuid4().hex[:6]}"
    cw.put_metric_alarm(AlarmName=nodata, Namespace=ns, MetricName="Nothing", Statistic="Average",
                        Period=60, EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
    # MSK's recommended CPU alarm: CpuUser + CpuSystem >= 60 (metric math).
    math = f"math-{uuid.uuid4().hex[:6]}"

    def q(i, metric):
        return {"Id": i, "ReturnData": False, "MetricStat": {"Metric": {"Namespace": ns, "MetricName": metric,
                                                                         "Dimensions": dims}, "Period": 60, "Stat": "Average"}}
    cw.put_metric_alarm(AlarmName=math, EvaluationPeriods=1, Threshold=60.0,
                        ComparisonOperator="GreaterThanOrEqualToThreshold",
                        Metrics=[q("u", "CpuUser"), q("s", "CpuSystem"), {"Id": "cpu", "Expression": "u + s"}])
    states = {a["AlarmName"]: a["StateValue"] for a in cw.describe_alarms(AlarmNames=[quiet, nodata, math])["MetricAlarms"]}
    assert states[quiet] == "OK" and states[nodata] == "INSUFFICIENT_DATA" and states[math] == "ALARM"
    assert [a["AlarmName"] for a in cw.describe_alarms(StateValue="ALARM", AlarmNames=[name, quiet, math])["MetricAlarms"]] \
        == sorted([name, math])
    assert cw.describe_alarms_for_metric(Namespace=ns, MetricName="CpuUser", Dimensions=dims)["MetricAlarms"]

    cw.set_alarm_state(AlarmName=quiet, StateValue="ALARM", StateReason="testing")
    assert cw.describe_alarms(AlarmNames=[quiet])["MetricAlarms"][0]["StateValue"] == "ALARM"
    history = cw.describe_alarm_history(AlarmName=quiet, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert history and "to ALARM" in history[0]["HistorySummary"]

    with pytest.raises(cw.exceptions.ResourceNotFound):
        cw.delete_alarms(AlarmNames=[name, "no-such-alarm"])
    cw.delete_alarms(AlarmNames=[name, quiet, nodata, math])
    assert cw.describe_alarms(AlarmNames=[name, quiet, nodata, math])["MetricAlarms"] == []
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        cw.put_metric_alarm(AlarmName="bad", Namespace=ns, MetricName="CpuUser", Statistic="Average",
                            ExtendedStatistic="p99", Period=60, EvaluationPeriods=1, Threshold=1.0,
                            ComparisonOperator="GreaterThanThreshold")
    assert _code(exc) == "InvalidParameterCombination"


def test_tls_only_cluster_is_measured_at_the_default_interval(service, shared_cluster):
    """The session's shared cluster (TLS only, collected every 60 s): OS and JMX metrics, and the
    AdminClient path over TLS with the installation CA (ZooKeeperSessionState comes from it)."""
    cw = service.client("cloudwatch")
    dims = [{"Name": "Cluster Name", "Value": "shared"}, {"Name": "Broker ID", "Value": "1"}]

    def points(metric):
        end = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)
        return cw.get_metric_statistics(Namespace="AWS/Kafka", MetricName=metric, Dimensions=dims,
                                        StartTime=end - dt.timedelta(minutes=30), EndTime=end, Period=60,
                                        Statistics=["Maximum"])["Datapoints"]
    deadline = time.monotonic() + 240
    while not (points("ZooKeeperSessionState") and points("CpuUser")) and time.monotonic() < deadline:
        time.sleep(5)
    assert [p["Maximum"] for p in points("ZooKeeperSessionState")][-1] == 1.0
    assert points("CpuUser") and points("LeaderCount")
