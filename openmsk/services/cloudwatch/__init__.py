"""CloudWatch (`monitoring`): metrics over the telemetry MetricStore, alarms evaluated for real.

* `provider`   -- API handlers for metrics (GetMetricStatistics, GetMetricData, ListMetrics, PutMetricData)
* `alarms`     -- alarm API handlers (metric and composite alarms, actions on/off, tags, history)
* `mute_rules` -- alarm mute rule API handlers; `mute_schedule` -- when a mute rule mutes
* `evaluation` -- CloudWatch's evaluation rules; `rules` -- composite AlarmRule; `actions` -- notifications
* `evaluator`  -- the background `AlarmEvaluator`; `defaults` -- MSK's recommended alarms per cluster
* `backend`    -- `AlarmBackend`, the alarms' store
* `query`      -- CloudWatch's rules for reading metrics; `metric_math` -- metric math
"""
from .actions import Notifier
from .backend import AlarmBackend
from .evaluator import AlarmEvaluator
from .provider import CloudWatchProvider, alarm_interval

__all__ = ["AlarmBackend", "AlarmEvaluator", "CloudWatchProvider", "Notifier", "alarm_interval"]
