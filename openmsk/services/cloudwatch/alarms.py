"""CloudWatch metric alarms, evaluated for real against the stored metrics (the seed's "alarms for high
CPU usage and storage capacity": e.g. KafkaDataLogsDiskUsed >= 85, or CpuUser + CpuSystem >= 60 as
metric math).

Alarms are documents in the control plane's store (they survive restarts), keyed by ARN. The
`AlarmEvaluator` (a ControlPlane background service) evaluates every alarm each `EVALUATE_EVERY`
seconds the way CloudWatch does: the last EvaluationPeriods periods of the metric, ALARM when at
least DatapointsToAlarm of them breach, missing periods per TreatMissingData (`missing`: ignored, and
INSUFFICIENT_DATA when all are missing). Transitions are recorded as StateUpdate history items.
Actions (SNS ARNs) are kept and reported but not delivered: openmsk has no SNS.
"""
from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import logging
import time

from ...api.core import RequestContext, ServiceException, handler
from . import math as metric_math
from .query import (STATISTICS, buckets, check_period, combination, find_series, invalid, missing,
                               normalize_dims, percentile, statistic)
from ...control.model import iso as _iso, parse_iso as _parse, utcnow as _now

log = logging.getLogger(__name__)

EVALUATE_EVERY = 60.0
HISTORY_LIMIT = 100
OPERATORS = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t, "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t, "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
WORDS = {"GreaterThanOrEqualToThreshold": "greater than or equal to", "GreaterThanThreshold": "greater than",
         "LessThanThreshold": "less than", "LessThanOrEqualToThreshold": "less than or equal to"}
MISSING = ("breaching", "notBreaching", "ignore", "missing")


TIMESTAMPS = ("AlarmConfigurationUpdatedTimestamp", "StateUpdatedTimestamp", "StateTransitionedTimestamp")


def view(doc: dict) -> dict:
    out = {k: v for k, v in doc.items() if k not in ("Region", "History", "Tags")}
    for key in TIMESTAMPS:
        if key in out:
            out[key] = _parse(out[key])
    return out


def _history(doc: dict, kind: str, summary: str, data: dict | None = None) -> None:
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
        _history(doc, "StateUpdate", f"Alarm updated from {old} to {state}",
                 {"version": "1.0", "oldState": {"stateValue": old}, "newState": {"stateValue": state,
                                                                                 "stateReason": reason}})
    return changed


class AlarmHandlers:
    """Mixed into CloudWatchProvider (needs `self.alarms`, an AlarmBackend, and `self.store`, the metrics)."""

    def _alarm_arn(self, ctx: RequestContext, name: str) -> str:
        return f"arn:aws:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:{name}"

    def _alarms(self, ctx: RequestContext) -> list[dict]:
        return sorted(self.alarms.list(ctx.region), key=lambda a: a["AlarmName"])

    @handler("PutMetricAlarm")
    async def put_metric_alarm(self, ctx: RequestContext, request: dict) -> dict:
        for member in ("EvaluationPeriods", "ComparisonOperator"):
            if member not in request:
                raise missing(f"The parameter {member} is required.")
        if request["ComparisonOperator"] not in OPERATORS:
            raise invalid(f"The value {request['ComparisonOperator']} for parameter ComparisonOperator is not supported "
                          "by openmsk (anomaly detection bands are not).")
        if "Threshold" not in request:
            raise missing("The parameter Threshold is required.")
        single = any(k in request for k in ("MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Period"))
        if single and request.get("Metrics"):
            raise combination("The parameters MetricName and Metrics are mutually exclusive.")
        if single:
            for member in ("MetricName", "Namespace", "Period"):
                if member not in request:
                    raise missing(f"The parameter {member} is required.")
            if bool(request.get("Statistic")) == bool(request.get("ExtendedStatistic")):
                raise combination("Exactly one of the parameters Statistic and ExtendedStatistic must be specified.")
            if request.get("ExtendedStatistic") and percentile(request["ExtendedStatistic"]) is None:
                raise invalid(f"The value {request['ExtendedStatistic']} for parameter ExtendedStatistic is not valid.")
            check_period(request["Period"])
        elif request.get("Metrics"):
            returned = [m for m in request["Metrics"] if m.get("ReturnData", True)]
            if len(returned) != 1:
                raise invalid("Exactly one element of the Metrics list must have ReturnData set to true.")
            for m in request["Metrics"]:
                if m.get("MetricStat"):
                    check_period(m["MetricStat"]["Period"])
        else:
            raise missing("The parameters MetricName, Namespace, Period and Statistic (or Metrics) are required.")
        if request.get("DatapointsToAlarm", 1) > request["EvaluationPeriods"]:
            raise invalid("DatapointsToAlarm must be less than or equal to EvaluationPeriods.")
        if request.get("TreatMissingData", "missing") not in MISSING:
            raise invalid(f"The value {request['TreatMissingData']} for parameter TreatMissingData is not valid; "
                          f"valid values: {', '.join(MISSING)}.")
        arn = self._alarm_arn(ctx, request["AlarmName"])
        previous = self.alarms.get(arn)
        now = _iso(_now())
        doc = {k: copy.deepcopy(v) for k, v in request.items() if k not in ("Tags", "EvaluationCriteria")}
        doc.update(AlarmArn=arn, Region=ctx.region, AlarmConfigurationUpdatedTimestamp=now,
                   ActionsEnabled=request.get("ActionsEnabled", True), OKActions=request.get("OKActions", []),
                   AlarmActions=request.get("AlarmActions", []),
                   InsufficientDataActions=request.get("InsufficientDataActions", []))
        if request.get("Dimensions") is not None:
            doc["Dimensions"] = request["Dimensions"]
        if previous is None:
            doc.update(StateValue="INSUFFICIENT_DATA", StateReason="Unchecked: Initial alarm creation",
                       StateUpdatedTimestamp=now, StateTransitionedTimestamp=now, History=[])
            _history(doc, "ConfigurationUpdate", f"Alarm \"{request['AlarmName']}\" created")
        else:
            for key in ("StateValue", "StateReason", "StateReasonData", "StateUpdatedTimestamp",
                        "StateTransitionedTimestamp", "History"):
                if key in previous:
                    doc[key] = previous[key]
            _history(doc, "ConfigurationUpdate", f"Alarm \"{request['AlarmName']}\" updated")
        evaluate(self.store, doc)                # a first evaluation right away, as CloudWatch does soon after
        self.alarms.put(doc)
        return {}

    @handler("DescribeAlarms")
    async def describe_alarms(self, ctx: RequestContext, request: dict) -> dict:
        alarms = self._alarms(ctx)
        if request.get("AlarmNames"):
            alarms = [a for a in alarms if a["AlarmName"] in request["AlarmNames"]]
        if request.get("AlarmNamePrefix"):
            alarms = [a for a in alarms if a["AlarmName"].startswith(request["AlarmNamePrefix"])]
        if request.get("StateValue"):
            alarms = [a for a in alarms if a["StateValue"] == request["StateValue"]]
        if request.get("ActionPrefix"):
            alarms = [a for a in alarms if any(x.startswith(request["ActionPrefix"]) for x in
                                               a["AlarmActions"] + a["OKActions"] + a["InsufficientDataActions"])]
        types = request.get("AlarmTypes") or ["MetricAlarm"]
        if "MetricAlarm" not in types:
            alarms = []
        start = 0
        if request.get("NextToken"):
            try:
                start = int(request["NextToken"])
            except ValueError:
                raise ServiceException("InvalidNextToken", "The service returned an invalid NextToken.")
        limit = request.get("MaxRecords") or 50
        out = {"MetricAlarms": [view(a) for a in alarms[start:start + limit]], "CompositeAlarms": []}
        if start + limit < len(alarms):
            out["NextToken"] = str(start + limit)
        return out

    @handler("DescribeAlarmsForMetric")
    async def describe_alarms_for_metric(self, ctx: RequestContext, request: dict) -> dict:
        dims = normalize_dims(request["Namespace"], request.get("Dimensions"))
        out = []
        for a in self._alarms(ctx):
            if a.get("MetricName") != request["MetricName"] or a.get("Namespace") != request["Namespace"]:
                continue
            if request.get("Dimensions") is not None and normalize_dims(a["Namespace"], a.get("Dimensions")) != dims:
                continue
            if any(request.get(k) is not None and a.get(k) != request[k]
                   for k in ("Statistic", "ExtendedStatistic", "Period", "Unit")):
                continue
            out.append(view(a))
        return {"MetricAlarms": out}

    @handler("DeleteAlarms")
    async def delete_alarms(self, ctx: RequestContext, request: dict) -> dict:
        arns = [self._alarm_arn(ctx, n) for n in request["AlarmNames"]]
        unknown = [n for n, arn in zip(request["AlarmNames"], arns) if self.alarms.get(arn) is None]
        if unknown:
            raise ServiceException("ResourceNotFound", f"Alarm(s) not found: {', '.join(unknown)}")
        for arn in arns:
            self.alarms.delete(arn)
        return {}

    @handler("SetAlarmState")
    async def set_alarm_state(self, ctx: RequestContext, request: dict) -> dict:
        arn = self._alarm_arn(ctx, request["AlarmName"])
        doc = self.alarms.get(arn)
        if doc is None:
            raise ServiceException("ResourceNotFound", f"Alarm {request['AlarmName']} not found")
        data = None
        if request.get("StateReasonData"):
            try:
                data = json.loads(request["StateReasonData"])
            except ValueError:
                raise ServiceException("InvalidFormat", "StateReasonData is not valid JSON.")
        set_state(doc, request["StateValue"], request["StateReason"], data)
        self.alarms.put(doc)
        return {}

    @handler("DescribeAlarmHistory")
    async def describe_alarm_history(self, ctx: RequestContext, request: dict) -> dict:
        items = []
        for a in self._alarms(ctx):
            if request.get("AlarmName") and a["AlarmName"] != request["AlarmName"]:
                continue
            for h in a.get("History", []):
                ts = _parse(h["Timestamp"])
                if request.get("HistoryItemType") and h["HistoryItemType"] != request["HistoryItemType"]:
                    continue
                if request.get("StartDate") and ts < request["StartDate"]:
                    continue
                if request.get("EndDate") and ts > request["EndDate"]:
                    continue
                items.append({"AlarmName": a["AlarmName"], "AlarmType": "MetricAlarm", **h, "Timestamp": ts})
        items.sort(key=lambda h: h["Timestamp"], reverse=(request.get("ScanBy") or "TimestampDescending")
                   == "TimestampDescending")
        return {"AlarmHistoryItems": items[:request.get("MaxRecords") or 100]}


# -- evaluation ----------------------------------------------------------------------------------
def _series(store, region: str, doc: dict, start: float, end: float) -> tuple[dict[float, float], int]:
    """The alarm's datapoints (timestamp -> value) over [start, end) and its period."""
    if doc.get("Metrics"):
        values, period = {}, 60
        for m in doc["Metrics"]:
            if m.get("MetricStat"):
                stat = m["MetricStat"]
                period = stat["Period"]
                metric = stat["Metric"]
                ids = find_series(store, region, metric["Namespace"], metric["MetricName"],
                                  normalize_dims(metric["Namespace"], metric.get("Dimensions")), stat.get("Unit"))
                values[m["Id"]] = {float(t): v for t, b in buckets(store, ids, start, end, period)
                                   if (v := statistic(b, stat["Stat"])) is not None}
        for m in doc["Metrics"]:
            if m.get("Expression"):
                result = metric_math.evaluate(m["Expression"], values)
                values[m["Id"]] = result if isinstance(result, dict) else {}
        returned = next(m for m in doc["Metrics"] if m.get("ReturnData", True))
        return values.get(returned["Id"], {}), period
    ids = find_series(store, region, doc["Namespace"], doc["MetricName"],
                      normalize_dims(doc["Namespace"], doc.get("Dimensions")), doc.get("Unit"))
    stat = doc.get("Statistic") or doc.get("ExtendedStatistic")
    return {float(t): v for t, b in buckets(store, ids, start, end, doc["Period"])
            if (v := statistic(b, stat)) is not None}, doc["Period"]


def evaluate(store, doc: dict, now: float | None = None) -> bool:
    """Evaluate one alarm; returns True if its state changed."""
    now = time.time() if now is None else now
    m = doc["EvaluationPeriods"]
    n = doc.get("DatapointsToAlarm") or m
    period = doc.get("Period") or next((q["MetricStat"]["Period"] for q in doc.get("Metrics", []) if q.get("MetricStat")), 60)
    # The last M periods, counting the period in progress only once it has data (a collection pass
    # lands some seconds into each minute; CloudWatch likewise waits for late datapoints).
    end = (int(now) // period + 1) * period
    values, period = _series(store, doc["Region"], doc, end - (m + 1) * period, end)
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
    breaching = sum(1 for _, v in present if op(v, threshold))
    missing_count = m - len(present)
    if treat == "breaching":
        breaching += missing_count
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


class AlarmEvaluator:
    """ControlPlane background service: evaluates every alarm periodically."""

    def __init__(self, store, alarms, interval: float = EVALUATE_EVERY) -> None:
        self.store = store
        self.alarms = alarms
        self.interval = interval
        self._task: asyncio.Task | None = None

    async def start(self, plane) -> None:
        self._task = asyncio.create_task(self._run(), name="alarm evaluator")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.evaluate_all()
            except Exception:
                log.exception("alarm evaluation failed")

    def evaluate_all(self) -> None:
        for doc in self.alarms.list():
            try:
                if evaluate(self.store, doc):
                    self.alarms.put(doc)
                    log.info("alarm %s -> %s", doc["AlarmName"], doc["StateValue"])
            except Exception:
                log.exception("alarm %s could not be evaluated", doc.get("AlarmName"))
