"""Alarm mute rules (PutAlarmMuteRule and friends, in botocore's CloudWatch model) against a real
`openmsk serve` with boto3 and the aws CLI (no cluster): statuses, filters, tags and errors; a muted
alarm changes state without notifying, and runs the actions of a state it is still in when the mute
ends (rule deleted, or expired), and none when it went back to the state already notified. The
schedule arithmetic (cron and at expressions, durations, time zones) is checked directly."""
from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import botocore.exceptions
import pytest

from harness import Service, free_port
from openmsk.services.cloudwatch import mute_schedule
from sns_helpers import Webhook, verify_documented

ENV = {"OPENMSK_METRICS_INTERVAL": "5", "OPENMSK_SNS_RETRY_SCALE": "0.01"}
UTC = dt.timezone.utc


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_schedule_windows():
    nightly = mute_schedule.Schedule("cron(0 2 * * *)", "PT2H")
    assert nightly.mute_type == "RECURRING"
    assert nightly.window_at(_t("2026-03-04T03:59:00")) == (_t("2026-03-04T02:00:00"), _t("2026-03-04T04:00:00"))
    assert nightly.window_at(_t("2026-03-04T04:00:00")) is None
    assert nightly.window_at(_t("2026-03-04T01:59:59")) is None
    weekend = mute_schedule.Schedule("cron(0 18 * * FRI)", "P2DT12H")       # Friday 18:00 to Monday 06:00
    assert weekend.window_at(_t("2026-03-09T05:59:00"))[0] == _t("2026-03-06T18:00:00")   # Monday morning
    assert weekend.window_at(_t("2026-03-09T06:00:00")) is None
    assert mute_schedule.Schedule("cron(0,30 9-10 1 JAN-MAR MON)", "PT1M").window_at(_t("2026-02-02T10:30:30"))
    ny = mute_schedule.Schedule("cron(0 9 * * MON-FRI)", "PT1H", "America/New_York")
    assert ny.window_at(_t("2026-03-04T14:30:00")) and not ny.window_at(_t("2026-03-04T09:30:00"))
    once = mute_schedule.Schedule("at(2026-05-10T14:00)", "PT4H")
    assert once.mute_type == "ONE_TIME"
    assert mute_schedule.status(once, _t("2026-05-10T13:59:00")) == "SCHEDULED"
    assert mute_schedule.status(once, _t("2026-05-10T17:59:00")) == "ACTIVE"
    assert mute_schedule.status(once, _t("2026-05-10T18:00:00")) == "EXPIRED"
    assert mute_schedule.status(nightly, _t("2026-03-04T03:00:00"), start=_t("2026-03-05T00:00:00")) == "SCHEDULED"
    assert mute_schedule.status(nightly, _t("2026-03-04T03:00:00"), expire=_t("2026-03-04T02:30:00")) == "EXPIRED"
    for expression, duration, zone in [("cron(0 2 * *)", "PT1H", None), ("cron(*/5 * * * *)", "PT1H", None),
                                       ("cron(60 * * * *)", "PT1H", None), ("at(2026-02-30T10:00)", "PT1H", None),
                                       ("rate(5 minutes)", "PT1H", None), ("cron(0 2 * * *)", "PT30S", None),
                                       ("cron(0 2 * * *)", "P16D", None), ("cron(0 2 * * *)", "4h", None),
                                       ("cron(0 2 * * *)", "PT1H", "Mars/Olympus")]:
        with pytest.raises(mute_schedule.ScheduleError):
            mute_schedule.Schedule(expression, duration, zone)


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    service = Service(tmp_path_factory.mktemp("mute") / "data", free_port()).start(env=ENV)
    yield service
    service.stop_everything()


def _minute_ago() -> str:
    return f"at({(dt.datetime.now(UTC) - dt.timedelta(minutes=1)):%Y-%m-%dT%H:%M})"


def _code(exc) -> str:
    return exc.value.response["Error"]["Code"]


def test_mute_rule_api(svc):
    cw = svc.client("cloudwatch")
    name = f"target-{uuid.uuid4().hex[:6]}"
    cw.put_metric_alarm(AlarmName=name, Namespace="Test/Mute", MetricName="M", Statistic="Maximum", Period=60,
                        EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
    cw.put_alarm_mute_rule(Name="nightly", Description="backups", Rule={"Schedule": {
        "Expression": "cron(0 2 * * *)", "Duration": "PT2H", "Timezone": "Europe/London"}},
        MuteTargets={"AlarmNames": [name]}, Tags=[{"Key": "team", "Value": "kafka"}])
    cw.put_alarm_mute_rule(Name="now", Rule={"Schedule": {"Expression": _minute_ago(), "Duration": "PT1H"}},
                           MuteTargets={"AlarmNames": [name]})
    cw.put_alarm_mute_rule(Name="later", Rule={"Schedule": {"Expression": "at(2099-01-01T00:00)", "Duration": "PT1H"}})
    cw.put_alarm_mute_rule(Name="over", Rule={"Schedule": {"Expression": "cron(* * * * *)", "Duration": "PT1H"}},
                           ExpireDate=dt.datetime.now(UTC) - dt.timedelta(minutes=1))
    rule = cw.get_alarm_mute_rule(AlarmMuteRuleName="nightly")
    assert rule["AlarmMuteRuleArn"] == "arn:aws:cloudwatch:us-east-1:123456789012:alarm-mute-rule:nightly"
    assert rule["Rule"]["Schedule"] == {"Expression": "cron(0 2 * * *)", "Duration": "PT2H", "Timezone": "Europe/London"}
    assert rule["MuteTargets"] == {"AlarmNames": [name]} and rule["Description"] == "backups"
    assert rule["MuteType"] == "RECURRING" and rule["Status"] in ("SCHEDULED", "ACTIVE")
    statuses = {r["AlarmMuteRuleArn"].rsplit(":", 1)[1]: (r["Status"], r["MuteType"])
                for r in cw.list_alarm_mute_rules()["AlarmMuteRuleSummaries"]}
    assert {k: statuses[k] for k in ("now", "later", "over")} == {
        "now": ("ACTIVE", "ONE_TIME"), "later": ("SCHEDULED", "ONE_TIME"), "over": ("EXPIRED", "RECURRING")}
    targeting = cw.list_alarm_mute_rules(AlarmName=name)["AlarmMuteRuleSummaries"]
    assert sorted(r["AlarmMuteRuleArn"].rsplit(":", 1)[1] for r in targeting) == ["nightly", "now"]
    expired = cw.list_alarm_mute_rules(Statuses=["EXPIRED"])["AlarmMuteRuleSummaries"]
    assert [r["AlarmMuteRuleArn"].rsplit(":", 1)[1] for r in expired] == ["over"]
    first = cw.list_alarm_mute_rules(MaxRecords=3)
    assert len(first["AlarmMuteRuleSummaries"]) == 3
    assert len(cw.list_alarm_mute_rules(NextToken=first["NextToken"])["AlarmMuteRuleSummaries"]) == 1
    assert cw.list_tags_for_resource(ResourceARN=rule["AlarmMuteRuleArn"])["Tags"] == [{"Key": "team", "Value": "kafka"}]
    cw.untag_resource(ResourceARN=rule["AlarmMuteRuleArn"], TagKeys=["team"])
    assert cw.list_tags_for_resource(ResourceARN=rule["AlarmMuteRuleArn"])["Tags"] == []
    alarm_arn = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]     # alarms' own tags
    cw.tag_resource(ResourceARN=alarm_arn, Tags=[{"Key": "owner", "Value": "ops"}])
    assert cw.list_tags_for_resource(ResourceARN=alarm_arn)["Tags"] == [{"Key": "owner", "Value": "ops"}]

    # The aws CLI sees the same rules.
    listed = svc.aws("cloudwatch", "list-alarm-mute-rules", "--statuses", "ACTIVE", env=svc.env)
    assert listed.returncode == 0, listed.stderr
    # "nightly" (02:00-04:00 Europe/London) is ACTIVE too when the test runs in that window.
    active = ["now"] + (["nightly"] if statuses["nightly"][0] == "ACTIVE" else [])
    assert sorted(r["AlarmMuteRuleArn"].rsplit(":", 1)[1] for r in listed.json["AlarmMuteRuleSummaries"]) == sorted(active)

    bad = [dict(Name="x", Rule={"Schedule": {"Expression": "cron(0 2 * *)", "Duration": "PT1H"}}),
           dict(Name="x", Rule={"Schedule": {"Expression": "cron(0 2 * * *)", "Duration": "PT10S"}}),
           dict(Name="x", Rule={"Schedule": {"Expression": "cron(0 2 * * *)", "Duration": "PT1H", "Timezone": "Nowhere"}}),
           dict(Name="x", Rule={"Schedule": {"Expression": "cron(0 2 * * *)", "Duration": "PT1H"}},
                MuteTargets={"AlarmNames": ["no-such-alarm"]}),
           dict(Name="x", Rule={"Schedule": {"Expression": "cron(0 2 * * *)", "Duration": "PT1H"}},
                StartDate=dt.datetime(2030, 1, 2, tzinfo=UTC), ExpireDate=dt.datetime(2030, 1, 1, tzinfo=UTC))]
    for kwargs in bad:
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            cw.put_alarm_mute_rule(**kwargs)
        assert _code(exc) == "InvalidParameterValue", kwargs
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        cw.get_alarm_mute_rule(AlarmMuteRuleName="no-such-rule")
    assert _code(exc) == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        cw.list_alarm_mute_rules(NextToken="garbage")
    assert _code(exc) == "InvalidNextToken"
    cw.delete_alarm_mute_rule(AlarmMuteRuleName="no-such-rule")            # idempotent
    for rule_name in ("nightly", "now", "later", "over"):
        cw.delete_alarm_mute_rule(AlarmMuteRuleName=rule_name)
    assert cw.list_alarm_mute_rules()["AlarmMuteRuleSummaries"] == []
    cw.delete_alarms(AlarmNames=[name])


def _state(cw, name: str) -> str:
    return cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]


def _wait_state(cw, name: str, state: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _state(cw, name) != state:
        assert time.monotonic() < deadline, f"{name} did not reach {state}"
        time.sleep(0.5)


def test_muted_actions_run_when_the_mute_ends_if_the_state_holds(svc):
    cw, sns = svc.client("cloudwatch"), svc.client("sns")
    hook = Webhook()
    try:
        topic = sns.create_topic(Name=f"mute-{uuid.uuid4().hex[:6]}")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=hook.url)
        sns.confirm_subscription(TopicArn=topic, Token=hook.next("SubscriptionConfirmation")["Token"])
        ns = f"Test/{uuid.uuid4().hex[:6]}"
        held, expiring, back = (f"{k}-{uuid.uuid4().hex[:6]}" for k in ("held", "expiring", "back"))
        for name in (held, expiring, back):          # no data yet: INSUFFICIENT_DATA, nothing to notify
            cw.put_metric_alarm(AlarmName=name, Namespace=ns, MetricName=name, Statistic="Maximum", Period=10,
                                EvaluationPeriods=1, Threshold=60.0, ComparisonOperator="GreaterThanThreshold",
                                AlarmActions=[topic], OKActions=[topic], InsufficientDataActions=[topic])
        schedule = {"Expression": _minute_ago(), "Duration": "PT1H"}
        cw.put_alarm_mute_rule(Name="maintenance", Rule={"Schedule": schedule},
                               MuteTargets={"AlarmNames": [held, back]})
        cw.put_alarm_mute_rule(Name="short", Rule={"Schedule": schedule}, MuteTargets={"AlarmNames": [expiring]},
                               ExpireDate=dt.datetime.now(UTC) + dt.timedelta(seconds=25))
        now = dt.datetime.now(UTC)
        for name in (held, expiring):                 # breaching for the next two minutes
            cw.put_metric_data(Namespace=ns, MetricData=[
                {"MetricName": name, "Value": 95.0, "StorageResolution": 1, "Timestamp": now + dt.timedelta(seconds=10 * i)}
                for i in range(12)])
        cw.set_alarm_state(AlarmName=back, StateValue="ALARM", StateReason="muted, then back")
        _wait_state(cw, held, "ALARM")
        _wait_state(cw, expiring, "ALARM")
        cw.set_alarm_state(AlarmName=back, StateValue="INSUFFICIENT_DATA", StateReason="back to the notified state")
        time.sleep(3)
        assert [m for m in hook.drain() if m["Type"] == "Notification"] == []           # muted
        summaries = [h["HistorySummary"] for h in cw.describe_alarm_history(
            AlarmName=held, HistoryItemType="Action")["AlarmHistoryItems"]]
        assert summaries == ["Actions for ALARM muted by alarm mute rule maintenance"]

        # Deleting the rule releases `held` at once: still in ALARM, its ALARM actions run now.
        cw.delete_alarm_mute_rule(AlarmMuteRuleName="maintenance")
        note = hook.next("Notification", timeout=10)
        verify_documented(note)
        body = json.loads(note["Message"])
        assert (body["AlarmName"], body["NewStateValue"], body["OldStateValue"]) == (held, "ALARM", "INSUFFICIENT_DATA")
        # `short` expires on its own: the evaluator runs `expiring`'s ALARM actions after it.
        body = json.loads(hook.next("Notification", timeout=60)["Message"])
        assert (body["AlarmName"], body["NewStateValue"]) == (expiring, "ALARM")
        assert cw.get_alarm_mute_rule(AlarmMuteRuleName="short")["Status"] == "EXPIRED"
        time.sleep(3)
        assert [json.loads(m["Message"])["AlarmName"] for m in hook.drain() if m["Type"] == "Notification"] == []
        assert _state(cw, back) == "INSUFFICIENT_DATA"         # went back while muted: nothing to run
        cw.delete_alarm_mute_rule(AlarmMuteRuleName="short")
        cw.delete_alarms(AlarmNames=[held, expiring, back])
    finally:
        hook.close()
