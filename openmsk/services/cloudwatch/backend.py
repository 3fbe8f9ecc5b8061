"""The alarms' own store: alarm documents (metric and composite) keyed by ARN.

It wraps the SQLite `Store` the composition root hands in (the same database file as the control
plane's, kind `alarm`), so the CloudWatch service never reaches into another layer's state.
`commit()` is the one way a changed alarm is saved: it first runs the actions of a new state
(actions.deliver, exactly once per transition thanks to the persisted `NotifiedState`).
"""
from __future__ import annotations

from typing import Any

from . import actions
from .evaluation import add_history, period_of

KIND = "alarm"


class AlarmBackend:
    def __init__(self, store, notifier: actions.Notifier | None = None) -> None:
        self._store = store
        self.notifier = notifier
        self.high_resolution = True     # whether any alarm has Period < 60 (the evaluator's 10 s ticks)

    def get(self, arn: str) -> dict[str, Any] | None:
        return self._store.get(KIND, arn)

    def put(self, doc: dict[str, Any]) -> None:
        self._store.put(KIND, doc["AlarmArn"], doc, region=doc["Region"])
        if doc.get("AlarmRule") is None and period_of(doc) < 60:
            self.high_resolution = True

    def commit(self, doc: dict[str, Any]) -> None:
        actions.deliver(doc, self.notifier, add_history)
        self.put(doc)

    def delete(self, arn: str) -> None:
        self._store.delete(KIND, arn)

    def list(self, region: str | None = None) -> list[dict[str, Any]]:
        return self._store.list(KIND, region=region)
