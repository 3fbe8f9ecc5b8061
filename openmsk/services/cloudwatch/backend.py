"""The alarms' own store: alarm documents (metric and composite) keyed by ARN.

It wraps the SQLite `Store` the composition root hands in (the same database file as the control
plane's, kind `alarm`), so the CloudWatch service never reaches into another layer's state.
Each document also carries `NotifiedState`: the last state whose actions were delivered, so a
restart between a transition and its notification neither loses nor repeats it.
"""
from __future__ import annotations

from typing import Any

KIND = "alarm"


class AlarmBackend:
    def __init__(self, store) -> None:
        self._store = store

    def get(self, arn: str) -> dict[str, Any] | None:
        return self._store.get(KIND, arn)

    def put(self, doc: dict[str, Any]) -> None:
        self._store.put(KIND, doc["AlarmArn"], doc, region=doc["Region"])

    def delete(self, arn: str) -> None:
        self._store.delete(KIND, arn)

    def list(self, region: str | None = None) -> list[dict[str, Any]]:
        return self._store.list(KIND, region=region)
