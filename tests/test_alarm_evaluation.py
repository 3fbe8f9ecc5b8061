"""CloudWatch's evaluation rules, on the alarm engine itself over a real MetricStore (no service, no
cluster): M of N (DatapointsToAlarm of EvaluationPeriods), TreatMissingData when every period is
missing and when missing periods must be filled, EvaluateLowSampleCountPercentile, and the
StateUpdate history with CloudWatch's reason text."""
from __future__ import annotations

import json
import time

import pytest

from openmsk.services.cloudwatch.evaluation import evaluate
from openmsk.telemetry.store import Bucket, MetricStore

NS, REGION = "Test/Eval", "us-east-1"


@pytest.fixture
def store(tmp_path):
    s = MetricStore(tmp_path / "metrics.db")
    yield s
    s.close()


def _now() -> float:
    return time.time() // 60 * 60 + 30          # half-way through the current minute


def _write(store, metric: str, values: list[float | None], now: float, samples: int = 1) -> None:
    """values[-1] lands in the current minute, values[-2] in the one before, ...; None = no datum."""
    entries = []
    for back, value in enumerate(reversed(values)):
        if value is None:
            continue
        bucket = Bucket()
        for i in range(samples):
            bucket.add(value + i * 1e-6)
        entries.append((metric, {}, "Percent", now - back * 60, bucket, False))
    store.write(REGION, NS, entries)


def _alarm(metric: str, m: int, n: int | None = None, treat: str = "missing", state: str = "OK", **kw) -> dict:
    doc = {"AlarmName": metric, "Region": REGION, "Namespace": NS, "MetricName": metric, "Dimensions": [],
           "Statistic": "Maximum", "Period": 60, "EvaluationPeriods": m, "Threshold": 60.0,
           "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": treat, "StateValue": state, **kw}
    if n is not None:
        doc["DatapointsToAlarm"] = n
    return doc


def test_m_of_n(store):
    now = _now()
    _write(store, "two-of-three", [70, 10, 70], now)
    _write(store, "one-of-three", [10, 10, 70], now)
    alarm = _alarm("two-of-three", 3, 2)
    assert evaluate(store, alarm, now) and alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"].startswith("Threshold Crossed: 2 out of the last 3 datapoints [70.0")
    assert alarm["StateReason"].endswith("(minimum 2 datapoints for OK -> ALARM transition).")
    assert json.loads(alarm["StateReasonData"])["recentDatapoints"] == [70.0, 10.0, 70.0]
    item = alarm["History"][-1]
    assert item["HistoryItemType"] == "StateUpdate" and item["HistorySummary"] == "Alarm updated from OK to ALARM"
    assert json.loads(item["HistoryData"])["newState"]["stateReason"] == alarm["StateReason"]
    assert not evaluate(store, alarm, now)            # no change: no second history item
    assert len(alarm["History"]) == 1

    alarm = _alarm("one-of-three", 3, 2, state="ALARM")
    assert evaluate(store, alarm, now) and alarm["StateValue"] == "OK"
    assert "1 out of the last 3 datapoints were greater than the threshold (60.0)" in alarm["StateReason"]
    alarm = _alarm("one-of-three", 3)                 # DatapointsToAlarm defaults to EvaluationPeriods
    assert not evaluate(store, alarm, now) and alarm["StateValue"] == "OK"


@pytest.mark.parametrize("treat, state", [("missing", "INSUFFICIENT_DATA"), ("ignore", "ALARM"),
                                          ("breaching", "ALARM"), ("notBreaching", "OK")])
def test_treat_missing_data_when_every_period_is_missing(store, treat, state):
    alarm = _alarm("nothing", 3, treat=treat, state="ALARM" if treat == "ignore" else "OK")
    evaluate(store, alarm, _now())
    assert alarm["StateValue"] == state
    if treat == "missing":
        assert alarm["StateReason"] == "Insufficient Data: 3 datapoints were unknown."


@pytest.mark.parametrize("treat, state", [("breaching", "ALARM"), ("notBreaching", "OK")])
def test_missing_periods_are_filled_per_treat_missing_data(store, treat, state):
    now = _now()
    _write(store, "gappy", [70, None, 70], now)       # 3 of 3: the gap decides
    alarm = _alarm("gappy", 3, treat=treat)
    evaluate(store, alarm, now)
    assert alarm["StateValue"] == state


def test_evaluate_low_sample_count_percentile(store):
    now = _now()
    _write(store, "few", [90], now, samples=5)        # p90 needs 10 / (1 - 0.9) = 100 samples
    _write(store, "many", [90], now, samples=120)
    common = {"Statistic": None, "ExtendedStatistic": "p90"}
    alarm = _alarm("few", 1, state="OK", EvaluateLowSampleCountPercentile="ignore", **common)
    assert not evaluate(store, alarm, now) and alarm["StateValue"] == "OK"       # too few samples: kept
    alarm = _alarm("few", 1, state="OK", EvaluateLowSampleCountPercentile="evaluate", **common)
    assert evaluate(store, alarm, now) and alarm["StateValue"] == "ALARM"
    alarm = _alarm("many", 1, state="OK", EvaluateLowSampleCountPercentile="ignore", **common)
    assert evaluate(store, alarm, now) and alarm["StateValue"] == "ALARM"        # enough samples
