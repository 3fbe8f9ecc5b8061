"""The alarms MSK's best-practices guide recommends, created for every cluster unless it opts out.

| name                                        | metric (AWS/Kafka)                     | alarm when                  |
|---------------------------------------------|----------------------------------------|-----------------------------|
| openmsk-<cluster>-broker-<id>-cpu           | CpuUser + CpuSystem (metric math)      | > 60 % for 5 periods        |
| openmsk-<cluster>-broker-<id>-disk          | KafkaDataLogsDiskUsed, Maximum         | > 85 % for 1 period         |
| openmsk-<cluster>-broker-<id>-under-replicated | UnderReplicatedPartitions, Maximum  | > 0 for 15 periods (15 min) |
| openmsk-<cluster>-active-controller         | (ActiveControllerCount - 1)^2          | > 0 for 3 periods           |
| openmsk-<cluster>-offline-partitions        | OfflinePartitionsCount, Maximum        | > 0 for 1 period            |

Periods are 60 s; `OPENMSK_DEFAULT_ALARM_PERIOD` (10, 30 or 60; tests use 10) replaces them, keeping
the number of periods; `OPENMSK_DEFAULT_ALARM_CPU_THRESHOLD` replaces 60 (see cpu_threshold).
Actions: the per-installation SNS topic `openmsk-alarms` of the cluster's region (created on
demand) for ALARM and OK. Opt out per cluster with the tag
`openmsk:default-alarms=false` (at CreateCluster or later with TagResource), or for the whole
installation with `OPENMSK_DEFAULT_ALARMS=off`.

`reconcile()` runs on every evaluation pass and reads clusters only through `Clusters` (a read-only
callable wired in the composition root): it creates missing default alarms (a broker added to the
cluster gets its own), rewrites those whose definition drifted, and deletes those of clusters (or
brokers) that no longer exist. The defaults are marked with the document field `DefaultFor`.
"""
from __future__ import annotations

import logging
import os
from typing import Callable

from . import alarms as alarm_api

log = logging.getLogger(__name__)

TOPIC = "openmsk-alarms"
OPT_OUT_TAG = "openmsk:default-alarms"
NAMESPACE = "AWS/Kafka"
SKIPPED_STATES = ("DELETING", "FAILED")
DEFINITION = ("Metrics", "MetricName", "Namespace", "Statistic", "Dimensions", "Period", "EvaluationPeriods",
              "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData", "AlarmActions",
              "OKActions", "AlarmDescription")

Clusters = Callable[[], list[dict]]         # cluster documents: ClusterArn, ClusterName, Region, Brokers, Tags, State


def enabled() -> bool:
    return os.environ.get("OPENMSK_DEFAULT_ALARMS", "on").lower() not in ("off", "false", "0", "no")


def period() -> int:
    try:
        value = int(os.environ.get("OPENMSK_DEFAULT_ALARM_PERIOD", "60"))
    except ValueError:
        return 60
    return value if value in (10, 30, 60) else 60


def cpu_threshold() -> float:
    """MSK's 60 %; `OPENMSK_DEFAULT_ALARM_CPU_THRESHOLD` changes it. A broker's CPU is its share of the
    whole host here, so on a small shared host (2 cores: one busy core = 50 %) tests lower it."""
    try:
        return float(os.environ.get("OPENMSK_DEFAULT_ALARM_CPU_THRESHOLD", "60"))
    except ValueError:
        return 60.0


def _dims(cluster: str, broker: str | None = None) -> list[dict]:
    dims = [{"Name": "Cluster Name", "Value": cluster}]
    if broker is not None:
        dims.append({"Name": "Broker ID", "Value": broker})
    return dims


def _stat(qid: str, metric: str, dims: list[dict], p: int, stat: str = "Average") -> dict:
    return {"Id": qid, "ReturnData": False, "MetricStat": {"Metric": {"Namespace": NAMESPACE, "MetricName": metric,
                                                                      "Dimensions": dims}, "Period": p, "Stat": stat}}


def desired(cluster: dict, topic_arn: str) -> list[dict]:
    """PutMetricAlarm requests for one cluster's default alarms."""
    name, p = cluster["ClusterName"], period()
    common = {"AlarmActions": [topic_arn], "OKActions": [topic_arn], "TreatMissingData": "missing"}
    out = []
    for broker in sorted(str(b["BrokerId"]) for b in cluster.get("Brokers", [])):
        prefix, dims = f"openmsk-{name}-broker-{broker}", _dims(name, broker)
        out.append({"AlarmName": f"{prefix}-cpu", **common, "EvaluationPeriods": 5, "DatapointsToAlarm": 5,
                    "AlarmDescription": f"MSK best practice: CpuUser + CpuSystem of broker {broker} of {name} "
                                        f"above {cpu_threshold():g} %",
                    "Threshold": cpu_threshold(), "ComparisonOperator": "GreaterThanThreshold",
                    "Metrics": [_stat("user", "CpuUser", dims, p), _stat("system", "CpuSystem", dims, p),
                                {"Id": "cpu", "Expression": "user + system", "Label": "CpuUser + CpuSystem",
                                 "ReturnData": True}]})
        out.append({"AlarmName": f"{prefix}-disk", **common, "Namespace": NAMESPACE,
                    "MetricName": "KafkaDataLogsDiskUsed", "Dimensions": dims, "Statistic": "Maximum", "Period": p,
                    "EvaluationPeriods": 1, "Threshold": 85.0, "ComparisonOperator": "GreaterThanThreshold",
                    "AlarmDescription": f"MSK best practice: data log disk of broker {broker} of {name} above 85 %"})
        out.append({"AlarmName": f"{prefix}-under-replicated", **common, "Namespace": NAMESPACE,
                    "MetricName": "UnderReplicatedPartitions", "Dimensions": dims, "Statistic": "Maximum",
                    "Period": p, "EvaluationPeriods": 15, "Threshold": 0.0,
                    "ComparisonOperator": "GreaterThanThreshold",
                    "AlarmDescription": f"MSK best practice: under-replicated partitions on broker {broker} of {name} "
                                        "for 15 periods"})
    dims = _dims(name)
    out.append({"AlarmName": f"openmsk-{name}-active-controller", **common, "EvaluationPeriods": 3,
                "Threshold": 0.0, "ComparisonOperator": "GreaterThanThreshold",
                "AlarmDescription": f"MSK best practice: ActiveControllerCount of {name} is not 1",
                "Metrics": [_stat("controllers", "ActiveControllerCount", dims, p),
                            {"Id": "offset", "Expression": "(controllers - 1) * (controllers - 1)",
                             "Label": "(ActiveControllerCount - 1)^2", "ReturnData": True}]})
    out.append({"AlarmName": f"openmsk-{name}-offline-partitions", **common, "Namespace": NAMESPACE,
                "MetricName": "OfflinePartitionsCount", "Dimensions": dims, "Statistic": "Maximum", "Period": p,
                "EvaluationPeriods": 1, "Threshold": 0.0, "ComparisonOperator": "GreaterThanThreshold",
                "AlarmDescription": f"MSK best practice: offline partitions in {name}"})
    return out


def _opted_out(cluster: dict) -> bool:
    return str((cluster.get("Tags") or {}).get(OPT_OUT_TAG, "true")).lower() in ("false", "off", "no", "0")


def reconcile(alarms, metrics, clusters: Clusters, notifier) -> int:
    """One pass; returns how many alarms it created, changed or deleted."""
    changes, wanted = 0, {}
    if enabled():
        for cluster in clusters():
            if cluster.get("State") in SKIPPED_STATES or _opted_out(cluster):
                continue
            account = cluster["ClusterArn"].split(":")[4]
            topic = (notifier.ensure_topic(cluster["Region"], account, TOPIC) if notifier is not None
                     else f"arn:aws:sns:{cluster['Region']}:{account}:{TOPIC}")
            for request in desired(cluster, topic):
                arn = f"arn:aws:cloudwatch:{cluster['Region']}:{account}:alarm:{request['AlarmName']}"
                wanted[arn] = (cluster, account, request)
    existing = {a["AlarmArn"]: a for a in alarms.list() if a.get("DefaultFor")}
    for arn, doc in existing.items():
        if arn not in wanted:
            alarms.delete(arn)
            changes += 1
    for arn, (cluster, account, request) in wanted.items():
        doc = existing.get(arn) or alarms.get(arn)
        if doc is not None and all(doc.get(k) == request.get(k) for k in DEFINITION) \
                and doc.get("DefaultFor") == cluster["ClusterArn"]:
            continue
        try:
            alarm_api.put_metric_alarm(alarms, metrics, request, cluster["Region"], account,
                                       extra={"DefaultFor": cluster["ClusterArn"]})
            changes += 1
        except Exception:
            log.exception("default alarm %s could not be created", request["AlarmName"])
    return changes
