"""Alarm actions: on a state transition, CloudWatch's alarm notification goes to every SNS topic in the
new state's actions (AlarmActions / OKActions / InsufficientDataActions), unless ActionsEnabled is false.

The alarm engine reaches SNS only through `Notifier` (a Protocol; the composition root wires the SNS
backend in). Exactly-once per transition across restarts: a document's `NotifiedState` is the last
state whose actions ran; `deliver()` runs them only when StateValue differs from it, then records the
new NotifiedState in the same document write (a transition made while actions were disabled is
marked as notified without sending, as CloudWatch does not replay it when actions are re-enabled).
A transition while a mute rule mutes the alarm is held back instead (NotifiedState stays behind),
so its actions run when the mute ends if the alarm is still in that state.
"""
from __future__ import annotations

import json
import logging
from typing import Protocol

from ...control.model import parse_iso

log = logging.getLogger(__name__)

ACTION_KEYS = {"ALARM": "AlarmActions", "OK": "OKActions", "INSUFFICIENT_DATA": "InsufficientDataActions"}
REGION_NAMES = {"us-east-1": "US East (N. Virginia)", "us-east-2": "US East (Ohio)", "us-west-1": "US West (N. California)",
                "us-west-2": "US West (Oregon)", "eu-west-1": "EU (Ireland)", "eu-central-1": "EU (Frankfurt)",
                "eu-west-2": "EU (London)", "ap-southeast-1": "Asia Pacific (Singapore)",
                "ap-northeast-1": "Asia Pacific (Tokyo)", "ap-southeast-2": "Asia Pacific (Sydney)"}


class Notifier(Protocol):
    def publish(self, topic_arn: str, message: str, subject: str | None = None) -> str:
        """Publish to an SNS topic; returns the MessageId; LookupError if there is no such topic."""

    def ensure_topic(self, region: str, account: str, name: str) -> str:
        """The ARN of the topic `name`, created if needed."""


def _change_time(doc: dict) -> str:
    ts = parse_iso(doc["StateUpdatedTimestamp"])
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _dims(dims: list[dict] | None) -> list[dict]:
    return [{"value": d["Value"], "name": d["Name"]} for d in dims or []]


def _trigger(doc: dict) -> dict:
    trigger = {"Period": doc.get("Period"), "EvaluationPeriods": doc["EvaluationPeriods"],
               "DatapointsToAlarm": doc.get("DatapointsToAlarm") or doc["EvaluationPeriods"],
               "ComparisonOperator": doc["ComparisonOperator"], "Threshold": float(doc["Threshold"]),
               "TreatMissingData": doc.get("TreatMissingData", "missing"),
               "EvaluateLowSampleCountPercentile": doc.get("EvaluateLowSampleCountPercentile", "")}
    if doc.get("Metrics"):
        trigger.pop("Period")
        trigger["Metrics"] = []
        for m in doc["Metrics"]:
            item = {k: m[k] for k in ("Id", "Expression", "Label") if k in m}
            item["ReturnData"] = m.get("ReturnData", True)
            if m.get("MetricStat"):
                s = m["MetricStat"]
                item["MetricStat"] = {"Metric": {"Dimensions": _dims(s["Metric"].get("Dimensions")),
                                                 "MetricName": s["Metric"]["MetricName"],
                                                 "Namespace": s["Metric"]["Namespace"]},
                                      "Period": s["Period"], "Stat": s["Stat"]}
            trigger["Metrics"].append(item)
        return trigger
    stat = doc.get("Statistic")
    return {"MetricName": doc["MetricName"], "Namespace": doc["Namespace"],
            "StatisticType": "Statistic" if stat else "ExtendedStatistic",
            "Statistic": stat.upper() if stat else None, "ExtendedStatistic": doc.get("ExtendedStatistic"),
            "Unit": doc.get("Unit"), "Dimensions": _dims(doc.get("Dimensions")), **trigger}


def notification(doc: dict, old_state: str, account: str) -> tuple[str, str]:
    """(subject, message): CloudWatch's alarm notification for the transition to doc's state."""
    region = REGION_NAMES.get(doc["Region"], doc["Region"])
    body = {"AlarmName": doc["AlarmName"], "AlarmDescription": doc.get("AlarmDescription"),
            "AWSAccountId": account, "AlarmConfigurationUpdatedTimestamp": _change_time(
                {"StateUpdatedTimestamp": doc["AlarmConfigurationUpdatedTimestamp"]}),
            "NewStateValue": doc["StateValue"], "NewStateReason": doc["StateReason"],
            "StateChangeTime": _change_time(doc), "Region": region, "AlarmArn": doc["AlarmArn"],
            "OldStateValue": old_state, "OKActions": doc.get("OKActions", []),
            "AlarmActions": doc.get("AlarmActions", []),
            "InsufficientDataActions": doc.get("InsufficientDataActions", [])}
    if doc.get("AlarmRule") is not None:
        body["AlarmRule"] = doc["AlarmRule"]
        body["TriggeringChildren"] = doc.get("TriggeringChildren", [])
    else:
        body["Trigger"] = _trigger(doc)
    subject = f'{doc["StateValue"]}: "{doc["AlarmName"]}" in {region}'
    return subject[:100], json.dumps(body)


def deliver(doc: dict, notifier: Notifier | None, history, muted_by: str | None = None) -> bool:
    """Run the actions of doc's current state if not yet run; True if `doc` changed (to be saved).
    `muted_by`: the active mute rule muting this alarm; its actions are then held back (NotifiedState
    stays behind) and run by a later call once no rule mutes it, if it is still in a held-back state."""
    state = doc["StateValue"]
    notified = doc.get("NotifiedState", state)       # alarms stored before actions were delivered: no replay
    if state == notified:
        doc.pop("MutedState", None)
        return False
    enabled = doc.get("ActionsEnabled", True) and notifier is not None
    if enabled and muted_by is not None:
        if doc.get("MutedState") != state:           # one history item per muted transition
            doc["MutedState"] = state
            history(doc, "Action", f"Actions for {state} muted by alarm mute rule {muted_by}",
                    {"actionState": "Muted", "alarmMuteRule": muted_by})
        return True
    doc["NotifiedState"] = state
    doc.pop("MutedState", None)
    if not enabled:
        return True
    account = doc["AlarmArn"].split(":")[4]
    subject, message = notification(doc, notified, account)
    for action in doc.get(ACTION_KEYS.get(state, ""), []):
        if not action.startswith("arn:aws:sns:"):
            history(doc, "Action", f"Failed to execute action {action}. openmsk delivers only SNS topic actions")
            continue
        try:
            message_id = notifier.publish(action, message, subject)
            history(doc, "Action", f"Successfully executed action {action}",
                    {"actionState": "Succeeded", "notificationResource": action,
                     "stateUpdateTimestamp": int(parse_iso(doc["StateUpdatedTimestamp"]).timestamp() * 1000),
                     "publishedMessage": {"messageId": message_id}})
        except LookupError:
            history(doc, "Action", f"Failed to execute action {action}. Received error: \"Topic does not exist\"",
                    {"actionState": "Failed", "notificationResource": action})
        except Exception as exc:
            log.exception("alarm %s: action %s failed", doc["AlarmName"], action)
            history(doc, "Action", f"Failed to execute action {action}. Received error: \"{exc}\"",
                    {"actionState": "Failed", "notificationResource": action})
    return True
