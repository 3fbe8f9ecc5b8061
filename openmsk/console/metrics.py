"""Metrics (charts read with CloudWatch's ListMetrics/GetMetricData, alarms with DescribeAlarms) and
broker logs (CloudWatch Logs FilterLogEvents on the cluster's log group) -- all as the signed-in user."""
from __future__ import annotations

import asyncio

import datetime as dt
import time
from urllib.parse import urlencode

from aiohttp import web

from ..api.core import ServiceException
from .charts import line_chart
from .html import Markup, badge, button, field, link, select, table, tag
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


def alarm_metrics(alarm: dict) -> list[tuple[str, dict]]:
    """(metric name, dimensions) of the AWS/Kafka metrics an alarm reads: its one metric, or those of its
    metric math (MSK's recommended CPU alarm is CpuUser + CpuSystem, services/cloudwatch/defaults.py)."""
    if alarm.get("MetricName"):
        return [(alarm["MetricName"], _dims(alarm))] if alarm.get("Namespace") == NS else []
    metrics = [((m.get("MetricStat") or {}).get("Metric") or {}) for m in alarm.get("Metrics") or []]
    return [(m["MetricName"], _dims(m)) for m in metrics if m.get("Namespace") == NS and m.get("MetricName")]


def alarm_metric_label(alarm: dict) -> str:
    """What the alarm watches: its metric, or its metric math's returned expression (label or formula)."""
    if alarm.get("MetricName"):
        return alarm["MetricName"]
    shown = next((m for m in alarm.get("Metrics") or [] if m.get("ReturnData", True) and m.get("Expression")), {})
    return shown.get("Label") or shown.get("Expression") or " + ".join(n for n, _ in alarm_metrics(alarm))


def draws_on(alarm: dict, names: tuple) -> bool:
    """An alarm's threshold belongs on a chart of `names` when it watches one of them, or is metric math
    over exactly the chart's metrics (the CPU chart sums CpuUser and CpuSystem, as the CPU alarm does)."""
    if alarm.get("MetricName"):
        return alarm["MetricName"] in names
    read = {n for n, _ in alarm_metrics(alarm)}
    return bool(read) and read == set(names)


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
    async def cluster_alarms() -> list:
        try:
            return (await view.call("monitoring", "DescribeAlarms"))["MetricAlarms"]
        except ServiceException:
            return []

    async def read_charts() -> tuple:
        listed = await cluster_metrics(view, name)
        topics = sorted({d["Topic"] for _, d in listed if "Topic" in d and "Consumer Group" not in d})
        every_series = await asyncio.gather(*[_chart_series(view, listed, names, stat, topic, start, end, period)
                                              for _, _, _, names, stat in CHARTS])
        return topics, every_series, start, end

    # The chart data is kept until the metric store is written again (collection, PutMetricData, pruning)
    # or the range moves on by a period: a page in that time would read the same points. The IAM decisions
    # of ListMetrics and GetMetricData are made for every request; the alarms are read every time.
    generation = getattr(view.console.installation.metrics, "generation", None)
    view.check("monitoring:ListMetrics")       # cloudwatch:ListMetrics, as the API call
    view.check("monitoring:GetMetricData")
    key = ("metrics", info["ClusterArn"], window, topic, generation, int(end // period))
    charted = view.console.memo.get(key, period if generation is not None else 0.0, read_charts,
                                    fresh=view.fresh or generation is None)
    # The reads run side by side: the metric reads run in the CloudWatch provider's worker threads.
    alarms, ((topics, every_series, start, end), _) = await asyncio.gather(cluster_alarms(), charted)
    alarms = [a for a in alarms if any(d.get("Cluster Name") == name for _, d in alarm_metrics(a))]
    charts = []
    for (chart_id, title, unit, names, stat), series in zip(CHARTS, every_series):
        thresholds = [(a["AlarmName"], a["Threshold"], a.get("StateValue", "")) for a in alarms
                      if draws_on(a, names) and a.get("Threshold") is not None]
        charts.append(line_chart(chart_id, title, unit, series, start, end, thresholds))
    picker = tag("form",
                 select("Time range", "range", [(k, f"last {k}") for k in RANGES], window, data_autosubmit="1"),
                 select("Topic", "topic", [("", "all topics (per broker)")] + topics, topic, data_autosubmit="1"),
                 button("Show", kind="small"), method="get", class_="filter")
    alarm_rows = [[a["AlarmName"], badge(a.get("StateValue", "")), alarm_metric_label(a),
                   f"{a.get('ComparisonOperator', '')} {a.get('Threshold')}",
                   (a.get("StateReason") or "")[:160]] for a in alarms]
    body = tag("div", picker, tag("div", *charts, class_="charts"),
               tag("section", tag("h2", "Alarms"), table(["Alarm", "State", "Metric", "Condition", "Reason"], alarm_rows,
                                                        empty="No alarms on this cluster's metrics."),
                   class_="card", id="alarms", data_refresh=True))
    return view.page("Metrics", body, crumbs=[link(cluster_url(info), name), "Metrics"],
                     tabs=cluster_tabs(info, "Metrics"), live=True)


LOG_PAGE = 300           # events per page of the broker logs
LOG_CALLS = 60           # FilterLogEvents calls one page may make (a rare pattern over a long range)


async def _window_events(view: View, params: dict, lo: int, hi: int, room: int, budget: list) -> list | None:
    """Every event of [lo, hi) (oldest first, following nextToken), or None when there are more than
    `room` or the page's call budget ran out before the window was read to its end."""
    got, token = [], None
    while True:
        if budget[0] <= 0:
            return None
        budget[0] -= 1
        call = {**params, "startTime": lo, "endTime": hi, "limit": min(10_000, room + 1 - len(got))}
        if token:
            call["nextToken"] = token
        result = await view.call("logs", "FilterLogEvents", **call)
        got += result.get("events", [])
        if len(got) > room:
            return None
        token = result.get("nextToken")
        if not token:
            return got


async def newest_events(view: View, params: dict, oldest: int, before: int) -> tuple[list, int | None]:
    """The newest LOG_PAGE events in [oldest, before), newest first, and where the next (older) page
    ends (None when the range is read to its start). FilterLogEvents reads forward in time, so the page
    reads back from `before` in windows: one that holds more than the page has room for is narrowed, one
    that fits is taken whole and the next, older one is wider. Pages therefore meet exactly: a page
    covers [its last window's start, before)."""
    events: list = []
    hi, width, budget = before, 60_000, [LOG_CALLS]
    while len(events) < LOG_PAGE and hi > oldest:
        lo = max(oldest, hi - width)
        got = await _window_events(view, params, lo, hi, LOG_PAGE - len(events), budget)
        if got is None and budget[0] <= 0:
            break                                   # out of calls: this page ends at hi
        if got is None and hi - lo > 1:
            width = max(1, (hi - lo) // 8)          # too many for the page: a narrower window
            continue
        if got is None:                             # one millisecond holds more than the room: take it whole
            got = (await view.call("logs", "FilterLogEvents", **params, startTime=lo, endTime=hi,
                                   limit=10_000)).get("events", [])
        events = got + events
        hi, width = lo, width * 4
    return list(reversed(events)), (hi if hi > oldest else None)


def _utc(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(timespec="milliseconds")[:23]


async def delivery_problems(view: View, info: dict) -> list[dict]:
    """The cluster's broker-log destinations that fail or hold a backlog: what `openmsk status` shows,
    read through the same operator route code (services/operator.py), for a user who may describe the
    cluster (the caller has already made DescribeClusterV2 as that user)."""
    return (await view.console.operator.delivery(view.region, {"ClusterArn": info["ClusterArn"]}))["Destinations"]


def delivery_note(rows: list[dict]) -> Markup | str:
    """A visible alert per failing destination (and the backlog it keeps until it works again)."""
    failing = [r for r in rows if r.get("Failing")]
    if not failing:
        return ""
    return tag("div", tag("strong", "Broker log delivery is failing"),
               tag("ul", *[tag("li", f"{r['Destination']}: {r['Failing']} ({r['BufferedBatches']} batches, "
                                     f"{r['BufferedBytes']} bytes kept to deliver when it works again)")
                           for r in failing]),
               class_="flash error", role="alert", id="log-delivery-problem")


async def logs_page(view: View) -> web.Response:
    info = await view.cluster()
    q = view.request.query
    text = q.get("filter", "")
    window = q.get("range") if q.get("range") in RANGES else "1h"
    logging_info = ((info.get("Provisioned") or {}).get("LoggingInfo") or {}).get("BrokerLogs") or {}
    cw = logging_info.get("CloudWatchLogs") or {}
    crumbs = [link(cluster_url(info), info["ClusterName"]), "Broker logs"]
    problem = delivery_note(await delivery_problems(view, info))
    if not cw.get("Enabled") or not cw.get("LogGroup"):
        body = tag("div", problem,
                   tag("p", "This cluster does not deliver broker logs to CloudWatch Logs. Turn it on with "
                            "UpdateMonitoring (LoggingInfo.BrokerLogs.CloudWatchLogs) to read them here.",
                       class_="empty"))
        return view.page("Broker logs", body, crumbs=crumbs, tabs=cluster_tabs(info, "Broker logs"))
    now = int(time.time() * 1000)
    oldest = now - RANGES[window][0] * 1000
    try:
        before = min(int(q.get("before", "")), now + 1)
    except ValueError:
        before = now + 1
    params = {"logGroupName": cw["LogGroup"]}
    if text:
        params["filterPattern"] = text if text.startswith(("{", "[", '"')) else f'"{text}"'
    try:
        events, older = await newest_events(view, params, oldest, before)
    except ServiceException as exc:
        if exc.code != "ResourceNotFoundException":
            raise
        body = tag("div", problem, tag("p", f"The log group {cw['LogGroup']} does not exist: {exc.message}",
                                       class_="empty", id="log-group-missing"))
        return view.page("Broker logs", body, crumbs=crumbs, tabs=cluster_tabs(info, "Broker logs"))
    rows = [[_utc(e["timestamp"]), e.get("logStreamName", ""), tag("code", e.get("message", ""))] for e in events]
    controls = tag("form", field("Filter (text or a CloudWatch Logs filter pattern)", "filter", value=text),
                   select("Time range", "range", [(k, f"last {k}") for k in RANGES], window),
                   button("Filter", kind="small"), method="get", class_="filter")
    here = cluster_url(info, "/logs")
    keep = {"filter": text, "range": window}
    paging = [link(f"{here}?{urlencode({**keep, 'before': older})}", "Older events", id="older-events",
                   class_="btn small")] if older is not None else [
        tag("span", f"Start of the range (last {window}).", class_="muted", id="range-start")]
    if before <= now:
        paging.insert(0, link(f"{here}?{urlencode(keep)}", "Newest events", id="newest-events", class_="btn small"))
    span = (f"events before {_utc(before)} UTC" if before <= now else "events up to now")
    body = tag("div", problem, controls, tag("p", f"Log group {cw['LogGroup']}; {span}, newest first.", class_="muted"),
               table(["Time (UTC)", "Stream", "Message"], rows, empty="No matching log events.", cls="grid logs",
                     caption=f"{len(rows)} events, newest first"),
               tag("nav", *paging, class_="paging", aria_label="Older and newer log events"))
    return view.page("Broker logs", body, crumbs=crumbs, tabs=cluster_tabs(info, "Broker logs"))
