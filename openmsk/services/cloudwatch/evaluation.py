"""Evaluating alarms the way CloudWatch does.

Metric alarms: the last EvaluationPeriods periods of the metric (or metric-math expression); ALARM
when at least DatapointsToAlarm of them breach; missing periods per TreatMissingData (`missing`:
INSUFFICIENT_DATA when all are missing, `ignore`: keep the state, `breaching`/`notBreaching`); a
percentile alarm whose periods hold too few samples for the percentile (fewer than 10/(1-p)) keeps
its state when EvaluateLowSampleCountPercentile is `ignore`. Composite alarms: ALARM when their
AlarmRule holds over the children's current states, else OK. Every transition is a StateUpdate
history item with CloudWatch's reason text.
"""
from __future__ import annotations

import datetime as dt
import json
import time

from ...control.model import iso as _iso, utcnow as _now
from . import metric_math, rules
from .query import buckets, find_series, normalize_dims, percentile, statistic

HISTORY_LIMIT = 100
OPERATORS = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t, "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t, "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
WORDS = {"GreaterThanOrEqualToThreshold": "greater than or equal to", "GreaterThanThreshold": "greater than",
         "LessThanThreshold": "less than", "LessThanOrEqualToThreshold": "less than or equal to"}
MISSING = ("breaching", "notBreaching", "ignore", "missing")


def add_history(doc: dict, kind: str, summary: str, data: dict | None = None) -> None:
    doc.setdefault("History", []).append({"Timestamp": _iso(_now()), "HistoryItemType": kind,
                                          "HistorySummary": summary[:255],
                                          "HistoryData": json.dumps(data or {})[:4095]})
    del doc["History"][:-HISTORY_LIMIT]


def set_state(doc: dict, state: str, reason: str, data: dict | None = None) -> bool:
    now = _iso(_now())
    changed = doc.get("StateValue") != state
    old = doc.get("StateValue", "INSUFFICIENT_DATA")
    doc.update(StateValue=state, StateReason=reason[:1023], StateUpdatedTimestamp=now)
    if data is not None:
        doc["StateReasonData"] = json.dumps(data)[:4000]
    if changed:
        doc["StateTransitionedTimestamp"] = now
        add_history(doc, "StateUpdate", f"Alarm updated from {old} to {state}",
                    {"version": "1.0", "oldState": {"stateValue": old}, "newState": {"stateValue": state,
                                                                                    "stateReason": reason}})
    return changed


def period_of(doc: dict) -> int:
    return doc.get("Period") or next((q["MetricStat"]["Period"] for q in doc.get("Metrics", [])
                                      if q.get("MetricStat")), 60)


def _series(store, region: str, doc: dict, start: float, end: float) -> tuple[dict[float, float], dict[float, float]]:
    """The alarm's datapoints (timestamp -> value) over [start, end), and the sample counts behind them."""
    if doc.get("Metrics"):
        values = {}
        for m in doc["Metrics"]:
            if m.get("MetricStat"):
                stat = m["MetricStat"]
                metric = stat["Metric"]
                ids = find_series(store, region, metric["Namespace"], metric["MetricName"],
                                  normalize_dims(metric["Namespace"], metric.get("Dimensions")), stat.get("Unit"))
                values[m["Id"]] = {float(t): v for t, b in buckets(store, ids, start, end, stat["Period"])
                                   if (v := statistic(b, stat["Stat"])) is not None}
        for m in doc["Metrics"]:
            if m.get("Expression"):
                result = metric_math.evaluate(m["Expression"], values)
                values[m["Id"]] = result if isinstance(result, dict) else {}
        returned = next(m for m in doc["Metrics"] if m.get("ReturnData", True))
        return values.get(returned["Id"], {}), {}
    ids = find_series(store, region, doc["Namespace"], doc["MetricName"],
                      normalize_dims(doc["Namespace"], doc.get("Dimensions")), doc.get("Unit"))
    stat = doc.get("Statistic") or doc.get("ExtendedStatistic")
    values, counts = {}, {}
    for t, b in buckets(store, ids, start, end, doc["Period"]):
        v = statistic(b, stat)
        if v is not None:
            values[float(t)], counts[float(t)] = v, b.n
    return values, counts


def evaluate(store, doc: dict, now: float | None = None) -> bool:
    """Evaluate one metric alarm; returns True if its state changed."""
    now = time.time() if now is None else now
    m = doc["EvaluationPeriods"]
    n = doc.get("DatapointsToAlarm") or m
    period = period_of(doc)
    # The last M periods, counting the period in progress only once it has data (a collection pass
    # lands some seconds into each period; CloudWatch likewise waits for late datapoints).
    end = (int(now) // period + 1) * period
    values, counts = _series(store, doc["Region"], doc, end - (m + 1) * period, end)
    if end - period not in values:
        end -= period
    start = end - m * period
    op, threshold = OPERATORS[doc["ComparisonOperator"]], doc["Threshold"]
    treat = doc.get("TreatMissingData", "missing")
    slots = [start + i * period for i in range(m)]
    present = [(t, values[t]) for t in slots if t in values]
    if not present and treat in ("missing", "ignore"):
        if treat == "ignore":
            return False
        return set_state(doc, "INSUFFICIENT_DATA", f"Insufficient Data: {m} datapoints were unknown.",
                         {"version": "1.0", "queryDate": _iso(_now()), "evaluatedDatapoints": []})
    p = percentile(doc["ExtendedStatistic"]) if doc.get("ExtendedStatistic") else None
    if p is not None and p < 100 and doc.get("EvaluateLowSampleCountPercentile") == "ignore":
        needed = 10.0 / (1.0 - p / 100.0)
        if any(counts.get(t, 0) < needed for t, _ in present):
            return False           # too few samples for this percentile: CloudWatch keeps the state
    breaching = sum(1 for _, v in present if op(v, threshold))
    if treat == "breaching":
        breaching += m - len(present)
    shown = ", ".join(f"{v} ({dt.datetime.fromtimestamp(t, dt.timezone.utc):%d/%m/%y %H:%M:%S})"
                      for t, v in sorted(present, reverse=True))
    data = {"version": "1.0", "queryDate": _iso(_now()), "statistic": doc.get("Statistic") or doc.get("ExtendedStatistic"),
            "period": period, "threshold": threshold, "recentDatapoints": [v for _, v in sorted(present)],
            "evaluatedDatapoints": [{"timestamp": _iso(dt.datetime.fromtimestamp(t, dt.timezone.utc)), "value": v}
                                    for t, v in sorted(present, reverse=True)]}
    state = "ALARM" if breaching >= n else "OK"
    word = WORDS[doc["ComparisonOperator"]]
    if state == "ALARM":
        reason = (f"Threshold Crossed: {breaching} out of the last {m} datapoints [{shown}] was {word} the threshold "
                  f"({threshold}) (minimum {n} datapoint{'s' if n > 1 else ''} for OK -> ALARM transition).")
    else:
        reason = (f"Threshold Crossed: {breaching} out of the last {m} datapoints were {word} the threshold "
                  f"({threshold}); [{shown}] (minimum {n} datapoint{'s' if n > 1 else ''} for ALARM -> OK transition).")
    if doc.get("StateValue") == state:
        return False
    return set_state(doc, state, reason, data)


def evaluate_composite(doc: dict, states: dict[str, str], arns: dict[str, str]) -> bool:
    """Evaluate one composite alarm over `states` (alarm name -> state); True if its state changed."""
    tree = rules.parse(doc["AlarmRule"])
    state = "ALARM" if rules.holds(tree, states) else "OK"
    if doc.get("StateValue") == state:
        return False
    triggering = [{"arn": arns[c], "state": {"value": states[c]}} for c in sorted(rules.children(tree))
                  if c in arns and states.get(c) == "ALARM"]
    doc["TriggeringChildren"] = [{"Arn": t["arn"], "State": {"Value": t["state"]["value"]}} for t in triggering]
    names = ", ".join(t["arn"].split(":alarm:")[-1] for t in triggering)
    if state == "ALARM" and names:
        reason = f"{names} transitioned to ALARM"
    else:
        reason = f"AlarmRule {'holds' if state == 'ALARM' else 'does not hold'} over the children's states"
    return set_state(doc, state, reason, {"triggeringAlarms": triggering})
