"""CloudWatch Logs subset (`logs`): where openmsk ships broker logs, readable with `aws logs` and boto3.

The composition root creates the LogStore (logs.db), the provider, and registers the RetentionSweeper as a
control-plane background service."""
from .backend import LogStore
from .provider import LogsProvider, RetentionSweeper, group_arn, retention_interval

__all__ = ["LogStore", "LogsProvider", "RetentionSweeper", "group_arn", "retention_interval"]
