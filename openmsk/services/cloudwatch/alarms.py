"""The CloudWatch alarm API (mixed into CloudWatchProvider): metric and composite alarms, their
actions, tags and history. Evaluation is in `evaluation.py`, delivery of actions in `actions.py`,
the background loop in `evaluator.py`, the defaults every cluster gets in `defaults.py`.

Alarms are documents in the service's AlarmBackend (they survive restarts), keyed by ARN.
"""
from __future__ import annotations

import copy
import json
import re

from ...api import specs
from ...api.core import RequestContext, ServiceException, handler
from ...control.model import iso as _iso, parse_iso as _parse, utcnow as _now
from . import metric_math, rules
from .evaluation import MISSING, OPERATORS, add_history, evaluate, evaluate_composite, set_state
from .query import check_period, combination, invalid, missing, percentile

TIMESTAMPS = ("AlarmConfigurationUpdatedTimestamp", "StateUpdatedTimestamp", "StateTransitionedTimestamp")
STATE_KEYS = ("StateValue", "StateReason", "StateReasonData", "StateUpdatedTimestamp", "StateTransitionedTimestamp",
              "History", "NotifiedState", "MutedState", "Tags", "TriggeringChildren")
_ACTION = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d*:.+$")
MAX_ACTIONS = 5


def _members(shape: str) -> tuple[str, ...]:
    return tuple(specs.load_service_model("monitoring").shape_for(shape).members)


def view(doc: dict) -> dict:
    """The alarm as DescribeAlarms shows it: only the members of MetricAlarm / CompositeAlarm."""
    members = _members("CompositeAlarm" if is_composite(doc) else "MetricAlarm")
    out = {k: v for k, v in doc.items() if k in members}
    for key in TIMESTAMPS:
        if key in out:
            out[key] = _parse(out[key])
    return out


def is_composite(doc: dict) -> bool:
    return doc.get("AlarmRule") is not None


def _tags(tags: list[dict] | None) -> dict[str, str]:
    out = {}
    for t in tags or []:
        if not 1 <= len(t["Key"]) <= 128 or len(t["Value"]) > 256 or t["Key"].startswith("aws:"):
            raise invalid(f"The value {t['Key']} for parameter Tags is invalid: keys are 1-128 characters and may "
                          "not start with aws:, values at most 256 characters.")
        out[t["Key"]] = t["Value"]
    return out


def _check_actions(request: dict) -> None:
    for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
        actions = request.get(key) or []
        if len(actions) > MAX_ACTIONS:
            raise invalid(f"The collection {key} must not have a size greater than {MAX_ACTIONS}.")
        for action in actions:
            if not _ACTION.match(action):
                raise invalid(f"Invalid arn syntax: {action}")


def _new_doc(request: dict, arn: str, region: str, previous: dict | None, kind: str) -> dict:
    now = _iso(_now())
    doc = {k: copy.deepcopy(v) for k, v in request.items() if k not in ("Tags", "EvaluationCriteria")}
    doc.update(AlarmArn=arn, Region=region, AlarmConfigurationUpdatedTimestamp=now,
               ActionsEnabled=request.get("ActionsEnabled", True), OKActions=request.get("OKActions", []),
               AlarmActions=request.get("AlarmActions", []),
               InsufficientDataActions=request.get("InsufficientDataActions", []))
    if previous is None:
        doc.update(StateValue="INSUFFICIENT_DATA", StateReason="Unchecked: Initial alarm creation",
                   StateUpdatedTimestamp=now, StateTransitionedTimestamp=now, History=[],
                   NotifiedState="INSUFFICIENT_DATA", Tags={})
        add_history(doc, "ConfigurationUpdate", f"Alarm \"{request['AlarmName']}\" created")
    else:
        for key in STATE_KEYS:
            if key in previous:
                doc[key] = previous[key]
        add_history(doc, "ConfigurationUpdate", f"Alarm \"{request['AlarmName']}\" updated")
    doc["Tags"] = {**doc.get("Tags", {}), **_tags(request.get("Tags"))}
    doc["AlarmType"] = kind
    return doc


def check_metric_alarm(request: dict) -> None:
    """CloudWatch's validation of a PutMetricAlarm request (raises its error codes)."""
    for member in ("EvaluationPeriods", "ComparisonOperator"):
        if member not in request:
            raise missing(f"The parameter {member} is required.")
    if request["ComparisonOperator"] not in OPERATORS:
        raise invalid(f"The value {request['ComparisonOperator']} for parameter ComparisonOperator is not supported "
                      "by openmsk (anomaly detection bands are not).")
    if "Threshold" not in request:
        raise missing("The parameter Threshold is required.")
    if request["EvaluationPeriods"] < 1:
        raise invalid("The parameter EvaluationPeriods must be greater than or equal to 1.")
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
        period = request["Period"]
    elif request.get("Metrics"):
        returned = [m for m in request["Metrics"] if m.get("ReturnData", True)]
        if len(returned) != 1:
            raise invalid("Exactly one element of the Metrics list must have ReturnData set to true.")
        ids = [m["Id"] for m in request["Metrics"]]
        if len(set(ids)) != len(ids):
            raise invalid("The Id of every element of the Metrics list must be unique.")
        periods = set()
        for m in request["Metrics"]:
            if bool(m.get("MetricStat")) == bool(m.get("Expression")):
                raise invalid(f"Exactly one of MetricStat and Expression must be specified for the metric {m['Id']}.")
            if m.get("MetricStat"):
                check_period(m["MetricStat"]["Period"])
                periods.add(m["MetricStat"]["Period"])
        known = {m["Id"]: {} for m in request["Metrics"] if m.get("MetricStat")}
        for m in request["Metrics"]:
            if m.get("Expression"):
                metric_math.evaluate(m["Expression"], known)      # syntax and identifiers (ValidationError)
                known[m["Id"]] = {}
        period = min(periods) if periods else 60
    else:
        raise missing("The parameters MetricName, Namespace, Period and Statistic (or Metrics) are required.")
    if request["EvaluationPeriods"] * period > 86400 * 7:
        raise invalid("The evaluation period (EvaluationPeriods x Period) must not exceed one week.")
    if request.get("DatapointsToAlarm", 1) > request["EvaluationPeriods"] or request.get("DatapointsToAlarm", 1) < 1:
        raise invalid("DatapointsToAlarm must be between 1 and EvaluationPeriods.")
    if request.get("TreatMissingData", "missing") not in MISSING:
        raise invalid(f"The value {request['TreatMissingData']} for parameter TreatMissingData is not valid; "
                      f"valid values: {', '.join(MISSING)}.")
    if request.get("EvaluateLowSampleCountPercentile") not in (None, "", "evaluate", "ignore"):
        raise invalid(f"The value {request['EvaluateLowSampleCountPercentile']} for parameter "
                      "EvaluateLowSampleCountPercentile is not valid; valid values: evaluate, ignore.")
    _check_actions(request)


def put_metric_alarm(alarms, metrics, request: dict, region: str, account: str, extra: dict | None = None) -> dict:
    """Validate, store and evaluate a metric alarm (used by the API and by the default alarms)."""
    check_metric_alarm(request)
    arn = f"arn:aws:cloudwatch:{region}:{account}:alarm:{request['AlarmName']}"
    previous = alarms.get(arn)
    if previous is not None and is_composite(previous):
        raise invalid(f"The alarm {request['AlarmName']} already exists as a composite alarm.")
    doc = _new_doc(request, arn, region, previous, "MetricAlarm")
    doc.update(extra or {})
    evaluate(metrics, doc)                # a first evaluation right away, as CloudWatch does soon after
    alarms.commit(doc)
    return doc


class AlarmHandlers:
    """Mixed into CloudWatchProvider (needs `self.alarms`, an AlarmBackend, and `self.store`, the metrics)."""

    def _alarm_arn(self, ctx: RequestContext, name: str) -> str:
        return f"arn:aws:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:{name}"

    def _alarms(self, ctx: RequestContext) -> list[dict]:
        return sorted(self.alarms.list(ctx.region), key=lambda a: a["AlarmName"])

    def _named(self, ctx: RequestContext, names: list[str]) -> list[dict]:
        docs = [self.alarms.get(self._alarm_arn(ctx, n)) for n in names]
        unknown = [n for n, d in zip(names, docs) if d is None]
        if unknown:
            raise ServiceException("ResourceNotFound", f"Alarm(s) not found: {', '.join(unknown)}")
        return docs

    @handler("PutMetricAlarm")
    async def put_metric_alarm(self, ctx: RequestContext, request: dict) -> dict:
        put_metric_alarm(self.alarms, self.store, request, ctx.region, ctx.account_id)
        return {}

    @handler("PutCompositeAlarm")
    async def put_composite_alarm(self, ctx: RequestContext, request: dict) -> dict:
        name = request["AlarmName"]
        try:
            tree = rules.parse(request["AlarmRule"])
        except rules.RuleError as e:
            raise invalid(f"Error in AlarmRule: {e}.")
        _check_actions(request)
        if request.get("ActionsSuppressor"):
            raise invalid("ActionsSuppressor is not supported by openmsk.")
        states = {a["AlarmName"]: a for a in self.alarms.list(ctx.region)}
        for child in rules.children(tree):
            if child == name:
                raise invalid("Error in AlarmRule: an alarm cannot refer to itself.")
            if child not in states:
                raise invalid(f"Error in AlarmRule: the alarm {child} does not exist.")
            if name in self._descendants(child, states):
                raise invalid(f"Error in AlarmRule: {child} refers back to {name} (a cycle).")
        arn = self._alarm_arn(ctx, name)
        previous = self.alarms.get(arn)
        if previous is not None and not is_composite(previous):
            raise invalid(f"The alarm {name} already exists as a metric alarm.")
        doc = _new_doc(request, arn, ctx.region, previous, "CompositeAlarm")
        evaluate_composite(doc, {n: a["StateValue"] for n, a in states.items()},
                           {n: a["AlarmArn"] for n, a in states.items()})
        self.alarms.commit(doc)
        return {}

    @staticmethod
    def _descendants(name: str, alarms: dict[str, dict]) -> set[str]:
        seen, todo = set(), [name]
        while todo:
            doc = alarms.get(todo.pop())
            if doc is None or not is_composite(doc):
                continue
            for child in rules.children(rules.parse(doc["AlarmRule"])):
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        return seen

    @handler("DescribeAlarms")
    async def describe_alarms(self, ctx: RequestContext, request: dict) -> dict:
        alarms = self._alarms(ctx)
        by_name = {a["AlarmName"]: a for a in alarms}
        if request.get("ChildrenOfAlarmName") or request.get("ParentsOfAlarmName"):
            if request.get("AlarmNames") or request.get("AlarmNamePrefix"):
                raise combination("ChildrenOfAlarmName and ParentsOfAlarmName cannot be combined with AlarmNames "
                                  "or AlarmNamePrefix.")
        if request.get("AlarmNames") and request.get("AlarmNamePrefix"):
            raise combination("The parameters AlarmNames and AlarmNamePrefix are mutually exclusive.")
        if request.get("ChildrenOfAlarmName"):
            parent = by_name.get(request["ChildrenOfAlarmName"])
            names = rules.children(rules.parse(parent["AlarmRule"])) if parent and is_composite(parent) else set()
            alarms = [a for a in alarms if a["AlarmName"] in names]
        if request.get("ParentsOfAlarmName"):
            child = request["ParentsOfAlarmName"]
            alarms = [a for a in alarms if is_composite(a) and child in rules.children(rules.parse(a["AlarmRule"]))]
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
        alarms = [a for a in alarms if ("CompositeAlarm" if is_composite(a) else "MetricAlarm") in types]
        start = 0
        if request.get("NextToken"):
            try:
                start = int(request["NextToken"])
                if start < 0:
                    raise ValueError
            except ValueError:
                raise ServiceException("InvalidNextToken", "The service returned an invalid NextToken.")
        limit = request.get("MaxRecords") or 50
        if not 1 <= limit <= 100:
            raise invalid("The parameter MaxRecords must be between 1 and 100.")
        page = alarms[start:start + limit]
        out = {"MetricAlarms": [view(a) for a in page if not is_composite(a)],
               "CompositeAlarms": [view(a) for a in page if is_composite(a)]}
        if start + limit < len(alarms):
            out["NextToken"] = str(start + limit)
        return out

    @handler("DescribeAlarmsForMetric")
    async def describe_alarms_for_metric(self, ctx: RequestContext, request: dict) -> dict:
        from .query import normalize_dims
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
        for doc in self._named(ctx, request["AlarmNames"]):
            self.alarms.delete(doc["AlarmArn"])
        return {}

    @handler("SetAlarmState")
    async def set_alarm_state(self, ctx: RequestContext, request: dict) -> dict:
        if request["StateValue"] not in ("OK", "ALARM", "INSUFFICIENT_DATA"):
            raise invalid(f"The value {request['StateValue']} for parameter StateValue is not valid; "
                          "valid values: OK, ALARM, INSUFFICIENT_DATA.")
        doc, = self._named(ctx, [request["AlarmName"]])
        data = None
        if request.get("StateReasonData"):
            try:
                data = json.loads(request["StateReasonData"])
            except ValueError:
                raise ServiceException("InvalidFormat", "StateReasonData is not valid JSON.")
        set_state(doc, request["StateValue"], request["StateReason"], data)
        self.alarms.commit(doc)                # actions run, as they do for SetAlarmState on AWS
        return {}

    @handler("EnableAlarmActions")
    async def enable_alarm_actions(self, ctx: RequestContext, request: dict) -> dict:
        for doc in self._named(ctx, request["AlarmNames"]):
            doc["ActionsEnabled"], doc["NotifiedState"] = True, doc["StateValue"]   # no replay of the past
            self.alarms.put(doc)
        return {}

    @handler("DisableAlarmActions")
    async def disable_alarm_actions(self, ctx: RequestContext, request: dict) -> dict:
        for doc in self._named(ctx, request["AlarmNames"]):
            doc["ActionsEnabled"] = False
            self.alarms.put(doc)
        return {}

    @handler("DescribeAlarmHistory")
    async def describe_alarm_history(self, ctx: RequestContext, request: dict) -> dict:
        types = request.get("AlarmTypes") or ["MetricAlarm", "CompositeAlarm"]
        items = []
        for a in self._alarms(ctx):
            kind = "CompositeAlarm" if is_composite(a) else "MetricAlarm"
            if request.get("AlarmName") and a["AlarmName"] != request["AlarmName"] or kind not in types:
                continue
            for h in a.get("History", []):
                ts = _parse(h["Timestamp"])
                if request.get("HistoryItemType") and h["HistoryItemType"] != request["HistoryItemType"]:
                    continue
                if request.get("StartDate") and ts < request["StartDate"]:
                    continue
                if request.get("EndDate") and ts > request["EndDate"]:
                    continue
                items.append({"AlarmName": a["AlarmName"], "AlarmType": kind, **h, "Timestamp": ts})
        items.sort(key=lambda h: h["Timestamp"], reverse=(request.get("ScanBy") or "TimestampDescending")
                   == "TimestampDescending")
        return {"AlarmHistoryItems": items[:request.get("MaxRecords") or 100]}

    # -- tags --------------------------------------------------------------------------------------
    def _tagged(self, ctx: RequestContext, arn: str) -> dict:
        """An alarm or an alarm mute rule, by ARN."""
        doc = None
        if arn.startswith(f"arn:aws:cloudwatch:{ctx.region}:"):
            doc = self.alarms.get_rule(arn) if ":alarm-mute-rule:" in arn else self.alarms.get(arn)
        if doc is None:
            raise ServiceException("ResourceNotFoundException", f"Resource {arn} not found.",
                                   ResourceType="alarm", ResourceId=arn)
        return doc

    def _save_tagged(self, doc: dict) -> None:
        (self.alarms.put_rule if "AlarmMuteRuleArn" in doc else self.alarms.put)(doc)

    @handler("TagResource")
    async def tag_resource(self, ctx: RequestContext, request: dict) -> dict:
        doc = self._tagged(ctx, request["ResourceARN"])
        doc["Tags"] = {**doc.get("Tags", {}), **_tags(request["Tags"])}
        if len(doc["Tags"]) > 50:
            raise ServiceException("LimitExceededFault", "An alarm can have at most 50 tags.")
        self._save_tagged(doc)
        return {}

    @handler("UntagResource")
    async def untag_resource(self, ctx: RequestContext, request: dict) -> dict:
        doc = self._tagged(ctx, request["ResourceARN"])
        for key in request["TagKeys"]:
            doc.get("Tags", {}).pop(key, None)
        self._save_tagged(doc)
        return {}

    @handler("ListTagsForResource")
    async def list_tags_for_resource(self, ctx: RequestContext, request: dict) -> dict:
        doc = self._tagged(ctx, request["ResourceARN"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(doc.get("Tags", {}).items())]}
