"""Metrics (charts read with CloudWatch's ListMetrics/GetMetricData, alarms with DescribeAlarms) and
broker logs (CloudWatch Logs FilterLogEvents on the cluster's log group) -- all as the signed-in user."""
from __future__ import annotations

import datetime as dt
import time

from aiohttp import web

from ..api.core import ServiceException
from .charts import line_chart
from .html import badge, button, field, link, select, table, tag
from .web import View, cluster_tabs, cluster_url

NS = "AWS/Kafka"
RANGES = {"15m": (900, 10), "1h": (3600, 60), "3h": (10800, 60), "12h": (43200, 300), "24h": (86400, 300)}
# chart id, title, unit, metric names summed into one line per series, statistic
CHARTS = [
    ("cpu", "CPU (CpuUser + CpuSystem)", "%", ("CpuUser", "CpuSystem"), "Average"),
    ("disk", "KafkaDataLogsDiskUsed", "%", ("KafkaDataLogsDiskUsed",), "Maximum"),
    ("bytesin", "BytesInPerSec", "bytes/s", ("BytesInPerSec",), "Average"),
    ("bytesout", "BytesOutPerSec", "bytes/s", ("BytesOutPerSec",), "Average"),
    ("messagesin", "MessagesInPerSec", "messages/s", ("MessagesInPerSec",), "Average"),
    ("urp", "UnderReplicatedPartitions", "partitions", ("UnderReplicatedPartitions",), "Maximum"),
    ("lag", "Consumer lag (SumOffsetLag)", "messages", ("SumOffsetLag",), "Maximum"),
]


def _dims(metric: dict) -> dict:
    return {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}


def _series_label(dims: dict) -> str:
    if "Consumer Group" in dims:
        return f"{dims['Consumer Group']} / {dims.get('Topic', '')}"
    return f"broker {dims.get('Broker ID', '?')}"


async def cluster_metrics(view: View, cluster: str) -> list[tuple[str, dict]]:
    """(metric name, dimensions) of every AWS/Kafka series of the cluster: one paginated ListMetrics."""
    listed, token = [], None
    for _ in range(50):
        params = {"Namespace": NS, "Dimensions": [{"Name": "Cluster Name", "Value": cluster}]}
        if token:
            params["NextToken"] = token
        page = await view.call("monitoring", "ListMetrics", **params)
        listed += [(m["MetricName"], _dims(m)) for m in page["Metrics"]]
        token = page.get("NextToken")
        if not token:
            break
    return listed


async def _chart_series(view: View, listed: list, names: tuple, stat: str, topic: str, start: float, end: float,
                        period: int) -> list:
    """One series per broker (or per group/topic for lag): the broker-wide series when they exist,
    else the per-topic ones summed per broker; with `topic`, only that topic's."""
    listed = [(n, d) for n, d in listed if n in names]
    if names == ("SumOffsetLag",):
        chosen = [(n, d) for n, d in listed if set(d) == {"Cluster Name", "Consumer Group", "Topic"}
                  and (not topic or d["Topic"] == topic)]
    elif topic:
        chosen = [(n, d) for n, d in listed if d.get("Topic") == topic and set(d) == {"Cluster Name", "Broker ID", "Topic"}]
    else:
        chosen = [(n, d) for n, d in listed if set(d) == {"Cluster Name", "Broker ID"}]
        if not chosen:
            chosen = [(n, d) for n, d in listed if set(d) == {"Cluster Name", "Broker ID", "Topic"}]
    if not chosen:
        return []
    queries = [{"Id": f"q{i}", "MetricStat": {"Metric": {"Namespace": NS, "MetricName": n, "Dimensions": [
        {"Name": k, "Value": v} for k, v in sorted(d.items())]}, "Period": period, "Stat": stat}}
        for i, (n, d) in enumerate(chosen[:400])]
    result = await view.call("monitoring", "GetMetricData", MetricDataQueries=queries,
                             StartTime=dt.datetime.fromtimestamp(start, dt.timezone.utc),
                             EndTime=dt.datetime.fromtimestamp(end, dt.timezone.utc))
    by_label: dict[str, dict[float, float]] = {}
    for (n, d), r in zip(chosen, result["MetricDataResults"]):
        points = by_label.setdefault(_series_label(d), {})
        for ts, value in zip(r["Timestamps"], r["Values"]):
            t = ts.timestamp()
            points[t] = points.get(t, 0.0) + value
    return [(label, sorted(points.items())) for label, points in sorted(by_label.items())]


async def metrics_page(view: View) -> web.Response:
    info = await view.cluster()
    q = view.request.query
    window = q.get("range") if q.get("range") in RANGES else "1h"
    seconds, period = RANGES[window]
    topic = q.get("topic", "")
    end = time.time()
    start = end - seconds
    name = info["ClusterName"]
    try:
        alarms = (await view.call("monitoring", "DescribeAlarms"))["MetricAlarms"]
    except ServiceException:
        alarms = []
    alarms = [a for a in alarms if a.get("Namespace") == NS and _dims(a).get("Cluster Name") == name]
    listed = await cluster_metrics(view, name)
    topics = sorted({d["Topic"] for _, d in listed if "Topic" in d and "Consumer Group" not in d})
    charts = []
    for chart_id, title, unit, names, stat in CHARTS:
        series = await _chart_series(view, listed, names, stat, topic, start, end, period)
        thresholds = [(a["AlarmName"], a["Threshold"], a.get("StateValue", "")) for a in alarms
                      if a.get("MetricName") in names]
        charts.append(line_chart(chart_id, title, unit, series, start, end, thresholds))
    picker = tag("form",
                 select("Time range", "range", [(k, f"last {k}") for k in RANGES], window, data_autosubmit="1"),
                 select("Topic", "topic", [("", "all topics (per broker)")] + topics, topic, data_autosubmit="1"),
                 button("Show", kind="small"), method="get", class_="filter")
    alarm_rows = [[a["AlarmName"], badge(a.get("StateValue", "")), a.get("MetricName"),
                   f"{a.get('ComparisonOperator', '')} {a.get('Threshold')}",
                   (a.get("StateReason") or "")[:160]] for a in alarms]
    body = tag("div", picker, tag("div", *charts, class_="charts"),
               tag("section", tag("h2", "Alarms"), table(["Alarm", "State", "Metric", "Condition", "Reason"], alarm_rows,
                                                        empty="No alarms on this cluster's metrics."),
                   class_="card", id="alarms", data_refresh=True))
    return view.page("Metrics", body, crumbs=[link(cluster_url(info), name), "Metrics"],
                     tabs=cluster_tabs(info, "Metrics"), live=True)


async def logs_page(view: View) -> web.Response:
    info = await view.cluster()
    q = view.request.query
    text = q.get("filter", "")
    window = q.get("range") if q.get("range") in RANGES else "1h"
    logging_info = ((info.get("Provisioned") or {}).get("LoggingInfo") or {}).get("BrokerLogs") or {}
    cw = logging_info.get("CloudWatchLogs") or {}
    crumbs = [link(cluster_url(info), info["ClusterName"]), "Broker logs"]
    if not cw.get("Enabled") or not cw.get("LogGroup"):
        body = tag("p", "This cluster does not deliver broker logs to CloudWatch Logs. Turn it on with "
                        "UpdateMonitoring (LoggingInfo.BrokerLogs.CloudWatchLogs) to read them here.", class_="empty")
        return view.page("Broker logs", body, crumbs=crumbs, tabs=cluster_tabs(info, "Broker logs"))
    params = {"logGroupName": cw["LogGroup"], "limit": 10000,          # the newest 300 of up to 10,000
              "startTime": int((time.time() - RANGES[window][0]) * 1000)}
    if text:
        params["filterPattern"] = text if text.startswith(("{", "[", '"')) else f'"{text}"'
    result = await view.call("logs", "FilterLogEvents", **params)
    rows = [[dt.datetime.fromtimestamp(e["timestamp"] / 1000, dt.timezone.utc).isoformat(timespec="seconds")[:19],
             e.get("logStreamName", ""), tag("code", e.get("message", ""))]
            for e in reversed(result.get("events", [])[-300:])]                 # newest first
    controls = tag("form", field("Filter (text or a CloudWatch Logs filter pattern)", "filter", value=text),
                   select("Time range", "range", [(k, f"last {k}") for k in RANGES], window),
                   button("Filter", kind="small"), method="get", class_="filter")
    body = tag("div", controls, tag("p", f"Log group {cw['LogGroup']}", class_="muted"),
               table(["Time (UTC)", "Stream", "Message"], rows, empty="No matching log events.", cls="grid logs",
                     caption=f"{len(rows)} events, newest first"))
    return view.page("Broker logs", body, crumbs=crumbs, tabs=cluster_tabs(info, "Broker logs"))
