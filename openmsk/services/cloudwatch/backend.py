"""The alarms' own store: alarm documents (metric and composite) and alarm mute rules, keyed by ARN.

It wraps the SQLite `Store` the composition root hands in (the same database file as the control
plane's, kinds `alarm` and `alarm-mute-rule`), so the CloudWatch service never reaches into another
layer's state. `commit()` is the one way a changed alarm is saved: it first runs the actions of a new
state (actions.deliver, exactly once per transition thanks to the persisted `NotifiedState`), or
holds them back while a mute rule mutes the alarm; `release()` runs held-back actions once no rule
mutes the alarm any more.
"""
from __future__ import annotations

from typing import Any

from . import actions
from .evaluation import add_history, period_of
from .mute_rules import rule_status

KIND = "alarm"
RULE_KIND = "alarm-mute-rule"


class AlarmBackend:
    def __init__(self, store, notifier: actions.Notifier | None = None) -> None:
        self._store = store
        self.notifier = notifier
        self.high_resolution = True     # whether any alarm has Period < 60 (the evaluator's 10 s ticks)
        self._rules: list[dict] | None = None   # mute rules, cached: only this backend writes them

    def get(self, arn: str) -> dict[str, Any] | None:
        return self._store.get(KIND, arn)

    def put(self, doc: dict[str, Any]) -> None:
        self._store.put(KIND, doc["AlarmArn"], doc, region=doc["Region"])
        if doc.get("AlarmRule") is None and period_of(doc) < 60:
            self.high_resolution = True

    def commit(self, doc: dict[str, Any]) -> None:
        actions.deliver(doc, self.notifier, add_history, self.muted_by(doc))
        self.put(doc)

    def delete(self, arn: str) -> None:
        self._store.delete(KIND, arn)

    def list(self, region: str | None = None) -> list[dict[str, Any]]:
        return self._store.list(KIND, region=region)

    # -- mute rules --------------------------------------------------------------------------------
    def get_rule(self, arn: str) -> dict[str, Any] | None:
        return self._store.get(RULE_KIND, arn)

    def put_rule(self, doc: dict[str, Any]) -> None:
        self._store.put(RULE_KIND, doc["AlarmMuteRuleArn"], doc, region=doc["Region"])
        self._rules = None

    def delete_rule(self, arn: str) -> None:
        self._store.delete(RULE_KIND, arn)
        self._rules = None

    def rules(self, region: str | None = None) -> list[dict[str, Any]]:
        if self._rules is None:
            self._rules = self._store.list(RULE_KIND)
        return [r for r in self._rules if region is None or r["Region"] == region]

    def muted_by(self, doc: dict[str, Any]) -> str | None:
        """The name of an ACTIVE mute rule that targets this alarm, or None."""
        for rule in self.rules(doc["Region"]):
            if doc["AlarmName"] in rule["MuteTargets"]["AlarmNames"] and rule_status(rule) == "ACTIVE":
                return rule["Name"]
        return None

    def held_back(self, doc: dict[str, Any]) -> bool:
        """Whether the alarm's current state still has actions to run (held back by a mute rule)."""
        return doc.get("NotifiedState", doc["StateValue"]) != doc["StateValue"]

    def release(self, region: str, names: list[str]) -> int:
        """Run the held-back actions of these alarms if no rule mutes them any more; how many ran."""
        released = 0
        for doc in self.list(region):
            if doc["AlarmName"] in names and self.held_back(doc) and self.muted_by(doc) is None:
                self.commit(doc)
                released += 1
        return released
