"""CloudWatch's rules for reading metrics, over the telemetry MetricStore.

* Which series a query means: exactly its dimension set (CloudWatch treats every combination as its
  own metric). For AWS/Kafka, `ClusterName` is accepted as an alias of MSK's `Cluster Name` (the seed
  runbook's form), and a query by `Cluster Name` alone for a per-broker metric (CpuUser ...) aggregates
  the brokers' series, as CloudWatch aggregates EC2 instances when the instance dimension is left out.
* Which stored resolution answers: by the age of StartTime, as CloudWatch keeps data (1 s for 3 h,
  1 min for 15 days, 5 min for 63 days, 1 h for 455 days); StartTime is rounded down to that
  resolution; a Period that is not a multiple of it returns no datapoints (CloudWatch does the same).
* StartTime inclusive, EndTime exclusive; at most 1,440 datapoints per GetMetricStatistics call.
"""
from __future__ import annotations

import math
import re
import time

from ...api.core import ServiceException
from ...telemetry.store import FIVE_MINUTES, HIGH_RES, HOUR, MINUTE, RETENTION, Bucket, MetricStore

KAFKA = "AWS/Kafka"
ALIASES = {KAFKA: {"ClusterName": "Cluster Name"}}
AGGREGATABLE = {KAFKA: {"Broker ID"}}
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
MAX_DATAPOINTS = 1440
_PERCENTILE = re.compile(r"^p(\d{1,3}(?:\.\d{1,10})?)$")


def invalid(message: str) -> ServiceException:
    return ServiceException("InvalidParameterValue", message)


def combination(message: str) -> ServiceException:
    return ServiceException("InvalidParameterCombination", message)


def missing(message: str) -> ServiceException:
    return ServiceException("MissingParameter", message)


def normalize_dims(namespace: str, dims: list[dict] | None, parameter: str = "Dimensions") -> dict[str, str]:
    out: dict[str, str] = {}
    aliases = ALIASES.get(namespace, {})
    for d in dims or []:
        name = aliases.get(d["Name"], d["Name"])
        if name in out:
            raise invalid(f"The collection {parameter} must not contain duplicate dimension names: {d['Name']}")
        out[name] = d["Value"]
    return out


def percentile(stat: str) -> float | None:
    """`p99.9` -> 99.9; None if `stat` is not a percentile; error if out of range."""
    m = _PERCENTILE.match(stat)
    if not m:
        return None
    value = float(m.group(1))
    if value > 100:
        raise invalid(f"The value {stat} for parameter ExtendedStatistics is not a valid percentile; "
                      "use p0.0 through p100.")
    return value


def check_extended(stats: list[str], parameter: str = "ExtendedStatistics") -> None:
    for i, stat in enumerate(stats, 1):
        if percentile(stat) is None:
            raise invalid(f"The value {stat} for parameter {parameter}.member.{i} is not a valid extended "
                          "statistic; use a percentile such as p99 or p99.9.")


def check_period(period: int, parameter: str = "Period") -> None:
    if period <= 0:
        raise invalid(f"The parameter {parameter} must be greater than 0.")
    if period not in (1, 5, 10, 30) and period % 60:
        raise invalid(f"The parameter {parameter} must be a multiple of 60.")


def epoch(value) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def resolution(start: float, period: int, now: float) -> int:
    age = now - start
    if period < 60:
        return HIGH_RES
    if age <= RETENTION[MINUTE]:
        return MINUTE
    if age <= RETENTION[FIVE_MINUTES]:
        return FIVE_MINUTES
    return HOUR


class SeriesCache:
    """The metric store as one request or one alarm pass sees it: the series list of a metric name is
    read once (a GetMetricData of 500 queries over one metric, or 1,000 alarms over it, would otherwise
    re-read and re-parse it each time)."""

    def __init__(self, store) -> None:
        self._store = store
        self._series: dict[tuple, list] = {}

    def series(self, region, namespace=None, metric=None, since=None):
        key = (region, namespace, metric, since)
        if key not in self._series:
            self._series[key] = self._store.series(region, namespace, metric, since=since)
        return self._series[key]

    def points(self, *args, **kwargs):
        return self._store.points(*args, **kwargs)

    def aggregate(self, *args, **kwargs):
        return self._store.aggregate(*args, **kwargs)


def needs_values(stat: str) -> bool:
    """Whether a statistic reads the samples' values (percentiles) rather than n/sum/min/max."""
    return stat not in STATISTICS


def find_series(store: MetricStore, region: str, namespace: str, metric: str, dims: dict[str, str],
                unit: str | None) -> list[int]:
    candidates = [s for s in store.series(region, namespace, metric) if unit is None or s.unit == unit]
    exact = [s.id for s in candidates if s.dims == dims]
    if exact or namespace not in AGGREGATABLE or not dims:
        return exact
    extra_ok = AGGREGATABLE[namespace]
    return [s.id for s in candidates
            if all(s.dims.get(k) == v for k, v in dims.items()) and set(s.dims) - set(dims) <= extra_ok
            and set(s.dims) != set(dims)]


def series_unit(store: MetricStore, region: str, namespace: str, metric: str, ids: list[int]) -> str | None:
    units = {s.unit for s in store.series(region, namespace, metric) if s.id in ids}
    return units.pop() if len(units) == 1 else None


def buckets(store: MetricStore, ids: list[int], start: float, end: float, period: int,
            now: float | None = None, values: bool = True) -> list[tuple[int, Bucket]]:
    """Aggregate the stored points of `ids` into `period`-long buckets from the rounded StartTime
    (`values`: keep the sample values, which only percentile statistics read)."""
    now = time.time() if now is None else now
    res = resolution(start, period, now)
    if period % res:
        return []
    first = int(start) // res * res
    if period < 60:
        first = int(start) // period * period
    if not ids:
        return []
    if not values:
        return store.aggregate(ids, res, first, int(math.ceil(end)), period)
    grouped: dict[int, Bucket] = {}
    for ts, bucket in store.points(ids, res, first, int(math.ceil(end))):
        key = first + (ts - first) // period * period
        grouped.setdefault(key, Bucket()).merge(bucket)
    return sorted(grouped.items())


def statistic(bucket: Bucket, stat: str) -> float | None:
    if stat == "SampleCount":
        return bucket.n
    if stat == "Average":
        return bucket.sum / bucket.n if bucket.n else None
    if stat == "Sum":
        return bucket.sum
    if stat == "Minimum":
        return bucket.min
    if stat == "Maximum":
        return bucket.max
    p = percentile(stat)
    return bucket.percentile(p) if p is not None else None


def datapoints_requested(start: float, end: float, period: int) -> int:
    return int(math.ceil((end - start) / period))
