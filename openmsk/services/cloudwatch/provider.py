"""CloudWatchProvider: the `monitoring` API over the telemetry MetricStore.

AWS/Kafka series come from the collector; users publish their own with PutMetricData (any namespace
not starting with `AWS/`). Reading follows CloudWatch's rules (query.py); errors use
CloudWatch's query-compatible codes (InvalidParameterValue, InvalidParameterCombination,
MissingParameter), which the gateway sends in the request's protocol (JSON 1.0 or query/XML).
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import math
import re
import time

from ...api.core import Provider, RequestContext, ServiceException, handler
from ...telemetry.store import Bucket, MetricStore
from . import metric_math
from .alarms import AlarmHandlers
from .backend import AlarmBackend
from .mute_rules import MuteRuleHandlers
from .query import (MAX_DATAPOINTS, STATISTICS, buckets, check_extended, check_period, combination,
                               SeriesCache, datapoints_requested, epoch, find_series, invalid, missing,
                               needs_values, normalize_dims, percentile, series_unit, statistic)

LIST_PAGE = 500


def alarm_interval() -> float:
    """Alarms are evaluated once a minute, or as often as metrics are collected when that is faster."""
    from ...telemetry import metrics_interval
    return min(60.0, metrics_interval())

MAX_QUERIES = 500
MAX_GMD_DATAPOINTS = 100_800
TWO_WEEKS = 14 * 86400
_QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")


def _ts(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


class CloudWatchProvider(AlarmHandlers, MuteRuleHandlers, Provider):
    service_name = "monitoring"

    def __init__(self, store: MetricStore, alarms: AlarmBackend) -> None:
        self.store = store            # the metrics
        self.alarms = alarms

    # -- GetMetricStatistics -----------------------------------------------------------------------
    # The metric reads run in a worker thread (each with its own SQLite connection): a GetMetricData over
    # hundreds of series (the console's metrics page) must not hold the event loop the API is served from.
    @handler("GetMetricStatistics")
    async def get_metric_statistics(self, ctx: RequestContext, request: dict) -> dict:
        return await asyncio.to_thread(self._get_metric_statistics, ctx, request)

    def _get_metric_statistics(self, ctx: RequestContext, request: dict) -> dict:
        stats, extended = request.get("Statistics") or [], request.get("ExtendedStatistics") or []
        if stats and extended:
            raise combination("The parameters Statistics and ExtendedStatistics are mutually exclusive; "
                              "specify one of them.")
        if not stats and not extended:
            raise missing("The parameter Statistics or ExtendedStatistics must be specified.")
        check_extended(extended)
        period = request["Period"]
        check_period(period)
        start, end = epoch(request["StartTime"]), epoch(request["EndTime"])
        if start >= end:
            raise invalid("The parameter StartTime must be less than the parameter EndTime.")
        wanted = datapoints_requested(start, end, period)
        if wanted > MAX_DATAPOINTS:
            raise combination(f"You have requested up to {wanted:,} datapoints, which exceeds the limit of "
                              f"{MAX_DATAPOINTS:,}. You may reduce the datapoints requested by increasing Period, "
                              "or decreasing the time range.")
        namespace, metric = request["Namespace"], request["MetricName"]
        dims = normalize_dims(namespace, request.get("Dimensions"))
        ids = find_series(self.store, ctx.region, namespace, metric, dims, request.get("Unit"))
        unit = request.get("Unit") or series_unit(self.store, ctx.region, namespace, metric, ids) or "None"
        points = []
        for ts, bucket in buckets(self.store, ids, start, end, period, values=bool(extended)):
            point = {"Timestamp": _ts(ts), "Unit": unit}
            for stat in stats:
                point[stat] = statistic(bucket, stat)
            if extended:
                point["ExtendedStatistics"] = {s: statistic(bucket, s) for s in extended}
            points.append(point)
        return {"Label": metric, "Datapoints": points}

    # -- GetMetricData -----------------------------------------------------------------------------
    @handler("GetMetricData")
    async def get_metric_data(self, ctx: RequestContext, request: dict) -> dict:
        return await asyncio.to_thread(self._get_metric_data, ctx, request)

    def _get_metric_data(self, ctx: RequestContext, request: dict) -> dict:
        queries = request["MetricDataQueries"]
        if len(queries) > MAX_QUERIES:
            raise invalid(f"The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}.")
        start, end = epoch(request["StartTime"]), epoch(request["EndTime"])
        if start >= end:
            raise invalid("The parameter StartTime must be less than the parameter EndTime.")
        max_points = request.get("MaxDatapoints") or MAX_GMD_DATAPOINTS
        seen: set[str] = set()
        store = SeriesCache(self.store)          # one read of each metric name's series for all queries
        values: dict[str, dict[float, float]] = {}
        labels: dict[str, str] = {}
        for i, q in enumerate(queries, 1):
            where = f"MetricDataQueries.member.{i}"
            if not _QUERY_ID.match(q["Id"]):
                raise invalid(f"The value {q['Id']} for parameter {where}.Id is not valid: it must start with a "
                              "lowercase letter and contain only letters, numbers and underscores.")
            if q["Id"] in seen:
                raise invalid(f"The value {q['Id']} for parameter {where}.Id is not unique.")
            seen.add(q["Id"])
            if bool(q.get("MetricStat")) == bool(q.get("Expression")):
                raise combination(f"Exactly one element of {where}.MetricStat and {where}.Expression "
                                  "must be specified.")
            if q.get("MetricStat"):
                values[q["Id"]] = self._metric_stat(ctx, store, q["MetricStat"], start, end, f"{where}.MetricStat")
                labels[q["Id"]] = q.get("Label") or q["MetricStat"]["Metric"]["MetricName"]
        for q in queries:
            if q.get("Expression"):
                result = metric_math.evaluate(q["Expression"], values)
                values[q["Id"]] = result if isinstance(result, dict) else {}
                labels[q["Id"]] = q.get("Label") or q["Id"]
        descending = (request.get("ScanBy") or "TimestampDescending") == "TimestampDescending"
        results, total = [], 0
        for q in queries:
            if q.get("ReturnData") is False:
                continue
            series = sorted(((t, v) for t, v in values[q["Id"]].items() if not math.isnan(v)), reverse=descending)
            room = max(0, max_points - total)
            status = "Complete" if len(series) <= room else "PartialData"
            series = series[:room]
            total += len(series)
            results.append({"Id": q["Id"], "Label": labels[q["Id"]], "Timestamps": [_ts(t) for t, _ in series],
                            "Values": [v for _, v in series], "StatusCode": status})
        return {"MetricDataResults": results, "Messages": []}

    def _metric_stat(self, ctx, store, stat: dict, start: float, end: float, where: str) -> dict[float, float]:
        metric, period, name = stat["Metric"], stat["Period"], stat["Stat"]
        check_period(period, f"{where}.Period")
        if name not in STATISTICS and percentile(name) is None:
            raise invalid(f"The value {name} for parameter {where}.Stat is not a valid statistic.")
        if not metric.get("Namespace") or not metric.get("MetricName"):
            raise missing(f"The parameters {where}.Metric.Namespace and {where}.Metric.MetricName are required.")
        dims = normalize_dims(metric["Namespace"], metric.get("Dimensions"), f"{where}.Metric.Dimensions")
        ids = find_series(store, ctx.region, metric["Namespace"], metric["MetricName"], dims, stat.get("Unit"))
        out = {}
        for ts, bucket in buckets(store, ids, start, end, period, values=needs_values(name)):
            value = statistic(bucket, name)
            if value is not None:
                out[float(ts)] = value
        return out

    # -- ListMetrics -------------------------------------------------------------------------------
    @handler("ListMetrics")
    async def list_metrics(self, ctx: RequestContext, request: dict) -> dict:
        return await asyncio.to_thread(self._list_metrics, ctx, request)

    def _list_metrics(self, ctx: RequestContext, request: dict) -> dict:
        recent = request.get("RecentlyActive")
        since = int(time.time()) - (3 * 3600 if recent == "PT3H" else TWO_WEEKS)
        namespace = request.get("Namespace")
        filters = [(f["Name"], f.get("Value")) for f in request.get("Dimensions") or []]
        aliases = {"ClusterName": "Cluster Name"} if namespace == "AWS/Kafka" else {}
        filters = [(aliases.get(n, n), v) for n, v in filters]
        found: dict[tuple, dict] = {}
        for s in self.store.series(ctx.region, namespace, request.get("MetricName"), since=since):
            if all(n in s.dims and (v is None or s.dims[n] == v) for n, v in filters):
                key = (s.namespace, s.metric, tuple(sorted(s.dims.items())))
                found.setdefault(key, {"Namespace": s.namespace, "MetricName": s.metric,
                                       "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(s.dims.items())]})
        metrics = [found[k] for k in sorted(found)]
        offset = 0
        if request.get("NextToken"):
            try:
                offset = int(json.loads(base64.urlsafe_b64decode(request["NextToken"]))["offset"])
            except (ValueError, KeyError, TypeError):
                raise ServiceException("InvalidNextToken", "The service returned an invalid NextToken.")
        page = {"Metrics": metrics[offset:offset + LIST_PAGE]}
        if offset + LIST_PAGE < len(metrics):
            page["NextToken"] = base64.urlsafe_b64encode(json.dumps({"offset": offset + LIST_PAGE}).encode()).decode()
        return page

    # -- PutMetricData -----------------------------------------------------------------------------
    @handler("PutMetricData")
    async def put_metric_data(self, ctx: RequestContext, request: dict) -> dict:
        namespace = request["Namespace"]
        if namespace.startswith("AWS/"):
            raise invalid(f"The value {namespace} for parameter Namespace is invalid: the AWS/ prefix is reserved "
                          "for AWS services.")
        data = request.get("MetricData") or []
        if not data:
            raise missing("The parameter MetricData is required.")
        if len(data) > 1000:
            raise invalid("The collection MetricData must not have a size greater than 1000.")
        now = time.time()
        entries = []
        for i, d in enumerate(data, 1):
            where = f"MetricData.member.{i}"
            ts = epoch(d["Timestamp"]) if d.get("Timestamp") is not None else now
            if ts > now + 2 * 3600:
                raise invalid(f"The parameter {where}.Timestamp must specify a time no more than two hours in the future.")
            if ts < now - TWO_WEEKS:
                raise invalid(f"The parameter {where}.Timestamp must specify a time within the past two weeks.")
            resolution = d.get("StorageResolution", 60)
            if resolution not in (1, 60):
                raise invalid(f"The value {resolution} for parameter {where}.StorageResolution is invalid: "
                              "valid values are 1 and 60.")
            entries.append((d["MetricName"], normalize_dims(namespace, d.get("Dimensions"), f"{where}.Dimensions"),
                            d.get("Unit") or "None", ts, self._datum(d, where), resolution == 1))
        await self.store.write_async(ctx.region, namespace, entries)   # off the event loop
        return {}

    @staticmethod
    def _datum(d: dict, where: str) -> Bucket:
        given = [k for k in ("Value", "Values", "StatisticValues") if d.get(k) is not None]
        if len(given) > 1:
            raise combination(f"The parameters {where}.{given[0]} and {where}.{given[1]} are mutually exclusive "
                              "and you have specified both.")
        if not given:
            raise missing(f"The parameter {where}.Value, {where}.Values or {where}.StatisticValues is required.")

        def finite(value, name):
            if not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value) or abs(value) > 2 ** 360:
                raise invalid(f"The value {value} for parameter {where}.{name} is invalid.")
            return float(value)

        bucket = Bucket()
        if given[0] == "Value":
            bucket.add(finite(d["Value"], "Value"))
        elif given[0] == "Values":
            values, counts = d["Values"], d.get("Counts")
            if counts is not None and len(counts) != len(values):
                raise invalid(f"The parameters {where}.Values and {where}.Counts must be of the same size.")
            if len(values) > 150:
                raise invalid(f"The collection {where}.Values must not have a size greater than 150.")
            for j, v in enumerate(values):
                count = finite(counts[j], "Counts") if counts is not None else 1.0
                if count > 0:
                    bucket.add(finite(v, "Values"), count)
        else:
            s = d["StatisticValues"]
            n, total, lo, hi = (finite(s[k], f"StatisticValues.{k}") for k in ("SampleCount", "Sum", "Minimum", "Maximum"))
            if n <= 0 or lo > hi:
                raise invalid(f"The parameter {where}.StatisticValues is invalid: SampleCount must be positive and "
                              "Minimum must not exceed Maximum.")
            bucket.add_set(n, total, lo, hi)
        if bucket.n <= 0:
            raise invalid(f"The parameter {where}.Counts must contain a positive count.")
        return bucket
