"""CloudWatch (`monitoring`): metrics over the telemetry MetricStore, alarms evaluated for real.

* `provider` -- the API handlers for metrics (GetMetricStatistics, GetMetricData, ListMetrics, PutMetricData)
* `alarms`   -- alarm API handlers, evaluation, the background `AlarmEvaluator`
* `backend`  -- `AlarmBackend`, the alarms' store
* `query`    -- CloudWatch's rules for reading metrics; `math` -- metric math
"""
from .backend import AlarmBackend
from .provider import CloudWatchProvider, alarm_interval
from .alarms import AlarmEvaluator

__all__ = ["AlarmBackend", "AlarmEvaluator", "CloudWatchProvider", "alarm_interval"]
