"""Alarm mute rules (PutAlarmMuteRule, GetAlarmMuteRule, ListAlarmMuteRules, DeleteAlarmMuteRule),
mixed into CloudWatchProvider.

While a rule is ACTIVE (mute_schedule.status), the alarms it targets keep evaluating and changing
state, but their actions are held back (actions.deliver, asked through AlarmBackend.muted_by). When
no rule mutes an alarm any more, an alarm still in a state whose actions were held back runs them
then, as CloudWatch documents ("How alarm mute rules work"); an alarm that went back to the state
already notified runs nothing. The evaluator checks held-back alarms on every pass; deleting or
changing a rule releases its alarms at once.
"""
from __future__ import annotations

import copy
import datetime as dt

from ...api.core import RequestContext, ServiceException, handler
from ...control.model import iso as _iso, parse_iso as _parse, utcnow as _now
from . import mute_schedule
from .alarms import _tags
from .query import invalid

MAX_TARGETS = 100
PAGE = 50
SHOWN_TIMESTAMPS = ("StartDate", "ExpireDate", "LastUpdatedTimestamp")


def _stored(value: dt.datetime) -> str:
    """A request timestamp as stored documents keep them (model.iso's form, but with 4-digit years
    for any year: strftime writes year 1 as `1`)."""
    utc = value.astimezone(dt.timezone.utc) if value.tzinfo else value
    return utc.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def rule_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:cloudwatch:{region}:{account}:alarm-mute-rule:{name}"


def schedule_of(doc: dict) -> mute_schedule.Schedule:
    s = doc["Rule"]["Schedule"]
    return mute_schedule.Schedule(s["Expression"], s["Duration"], s.get("Timezone"))


def rule_status(doc: dict, now=None) -> str:
    return mute_schedule.status(schedule_of(doc), now or _now(),
                                _parse(doc["StartDate"]) if doc.get("StartDate") else None,
                                _parse(doc["ExpireDate"]) if doc.get("ExpireDate") else None)


def _shown(doc: dict, now=None) -> dict:
    out = {k: copy.deepcopy(v) for k, v in doc.items() if k not in ("Region", "Tags")}
    for key in SHOWN_TIMESTAMPS:
        if out.get(key):
            out[key] = _parse(out[key])
    out["Status"] = rule_status(doc, now)
    out["MuteType"] = schedule_of(doc).mute_type
    return out


class MuteRuleHandlers:
    """Needs `self.alarms` (an AlarmBackend) and `self._alarm_arn` (AlarmHandlers)."""

    def _rule(self, ctx: RequestContext, name: str) -> dict:
        doc = self.alarms.get_rule(rule_arn(ctx.region, ctx.account_id, name))
        if doc is None:
            raise ServiceException("ResourceNotFoundException", f"Alarm mute rule {name} does not exist.",
                                   ResourceType="AlarmMuteRule", ResourceId=name)
        return doc

    @handler("PutAlarmMuteRule")
    async def put_alarm_mute_rule(self, ctx: RequestContext, request: dict) -> dict:
        schedule = request["Rule"]["Schedule"]
        try:
            mute_schedule.Schedule(schedule["Expression"], schedule["Duration"], schedule.get("Timezone"))
        except mute_schedule.ScheduleError as e:
            raise invalid(f"Invalid Rule.Schedule: {e}.")
        start, expire = request.get("StartDate"), request.get("ExpireDate")
        if start is not None and expire is not None and expire <= start:
            raise invalid("ExpireDate must be later than StartDate.")
        targets = list(dict.fromkeys((request.get("MuteTargets") or {}).get("AlarmNames") or []))
        if len(targets) > MAX_TARGETS:
            raise invalid(f"A mute rule can target at most {MAX_TARGETS} alarms.")
        unknown = [n for n in targets if self.alarms.get(self._alarm_arn(ctx, n)) is None]
        if unknown:
            raise invalid(f"MuteTargets.AlarmNames: alarm(s) not found: {', '.join(unknown)}.")
        arn = rule_arn(ctx.region, ctx.account_id, request["Name"])
        previous = self.alarms.get_rule(arn)
        doc = {"Name": request["Name"], "AlarmMuteRuleArn": arn, "Region": ctx.region,
               "Rule": {"Schedule": {k: schedule[k] for k in ("Expression", "Duration", "Timezone") if k in schedule}},
               "MuteTargets": {"AlarmNames": targets}, "LastUpdatedTimestamp": _iso(_now()),
               "Tags": {**(previous or {}).get("Tags", {}), **_tags(request.get("Tags"))}}
        if request.get("Description") is not None:
            doc["Description"] = request["Description"]
        for key, value in (("StartDate", start), ("ExpireDate", expire)):
            if value is not None:
                doc[key] = _stored(value)
        self.alarms.put_rule(doc)
        self.alarms.release(ctx.region, (previous or {}).get("MuteTargets", {}).get("AlarmNames", []))
        return {}

    @handler("GetAlarmMuteRule")
    async def get_alarm_mute_rule(self, ctx: RequestContext, request: dict) -> dict:
        return _shown(self._rule(ctx, request["AlarmMuteRuleName"]))

    @handler("ListAlarmMuteRules")
    async def list_alarm_mute_rules(self, ctx: RequestContext, request: dict) -> dict:
        now = _now()
        rules = sorted(self.alarms.rules(ctx.region), key=lambda r: r["Name"])
        if request.get("AlarmName"):
            rules = [r for r in rules if request["AlarmName"] in r["MuteTargets"]["AlarmNames"]]
        shown = [_shown(r, now) for r in rules]
        if request.get("Statuses"):
            shown = [r for r in shown if r["Status"] in request["Statuses"]]
        token = request.get("NextToken") or "0"
        if not token.isdigit() or int(token) > len(shown):
            raise ServiceException("InvalidNextToken", "The service returned an invalid NextToken.")
        start, limit = int(token), request.get("MaxRecords") or PAGE
        page = [{k: r[k] for k in ("AlarmMuteRuleArn", "ExpireDate", "Status", "MuteType", "LastUpdatedTimestamp")
                 if k in r} for r in shown[start:start + limit]]
        out = {"AlarmMuteRuleSummaries": page}
        if start + limit < len(shown):
            out["NextToken"] = str(start + limit)
        return out

    @handler("DeleteAlarmMuteRule")
    async def delete_alarm_mute_rule(self, ctx: RequestContext, request: dict) -> dict:
        arn = rule_arn(ctx.region, ctx.account_id, request["AlarmMuteRuleName"])
        doc = self.alarms.get_rule(arn)
        if doc is not None:                          # idempotent, as on AWS
            self.alarms.delete_rule(arn)
            self.alarms.release(ctx.region, doc["MuteTargets"]["AlarmNames"])
        return {}
