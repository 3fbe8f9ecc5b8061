"""Alarm actions delivered through the embedded SNS, against a real `openmsk serve` (no cluster:
alarms over PutMetricData series). A local webhook confirms its subscription, receives CloudWatch's
alarm notification signed by openmsk (verified), an OK notification on recovery, none while actions
are disabled, none again after a restart; composite alarms; CloudWatch's errors for bad definitions;
a dead webhook is retried and its failure recorded while other alarms keep being evaluated."""
from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import botocore.exceptions
import pytest

from harness import Service, free_port
from sns_helpers import Webhook, verify_documented, verify_stock

ENV = {"OPENMSK_METRICS_INTERVAL": "5", "OPENMSK_SNS_RETRY_SCALE": "0.01"}


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    service = Service(tmp_path_factory.mktemp("alarms") / "data", free_port()).start(env=ENV)
    yield service
    service.stop_everything()


@pytest.fixture
def hook():
    h = Webhook()
    yield h
    h.close()


def _topic(svc, hook: Webhook | None = None, name: str | None = None) -> str:
    sns = svc.client("sns")
    topic = sns.create_topic(Name=name or f"alarms-{uuid.uuid4().hex[:6]}")["TopicArn"]
    if hook is not None:
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=hook.url)
        sns.confirm_subscription(TopicArn=topic, Token=hook.next("SubscriptionConfirmation")["Token"])
    return topic


def _put(cw, ns: str, metric: str, value: float, when: dt.datetime | None = None) -> None:
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": metric, "Value": value, "StorageResolution": 1,
                                                  "Timestamp": when or dt.datetime.now(dt.timezone.utc)}])


def _alarm(cw, name: str, ns: str, metric: str, topic: str, **kw) -> None:
    cw.put_metric_alarm(AlarmName=name, Namespace=ns, MetricName=metric, Statistic="Maximum", Period=10,
                        EvaluationPeriods=1, Threshold=60.0, ComparisonOperator="GreaterThanThreshold",
                        AlarmActions=[topic], OKActions=[topic], **kw)


def _state(cw, name: str) -> str:
    found = cw.describe_alarms(AlarmNames=[name], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    return (found["MetricAlarms"] + found["CompositeAlarms"])[0]["StateValue"]


def _wait_state(cw, name: str, state: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _state(cw, name) != state:
        assert time.monotonic() < deadline, f"{name} did not reach {state}"
        time.sleep(0.5)


def test_alarm_and_ok_notifications_are_signed_and_sent_once(svc, hook, tmp_path):
    cw = svc.client("cloudwatch")
    topic = _topic(svc, hook)
    ns, name = f"Test/{uuid.uuid4().hex[:6]}", f"cpu-{uuid.uuid4().hex[:6]}"
    _put(cw, ns, "Cpu", 90.0)
    _alarm(cw, name, ns, "Cpu", topic, AlarmDescription="CPU over 60")
    note = hook.next("Notification")
    verify_stock(note, svc.endpoint)
    verify_documented(note)
    body = json.loads(note["Message"])
    assert note["Subject"] == f'ALARM: "{name}" in US East (N. Virginia)'
    assert body["AlarmName"] == name and body["AlarmDescription"] == "CPU over 60"
    assert (body["NewStateValue"], body["OldStateValue"]) == ("ALARM", "INSUFFICIENT_DATA")
    assert body["AWSAccountId"] == "123456789012" and body["AlarmArn"].endswith(f":alarm:{name}")
    assert body["NewStateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [90.0")
    assert body["Trigger"]["MetricName"] == "Cpu" and body["Trigger"]["Period"] == 10
    assert body["Trigger"]["Statistic"] == "MAXIMUM" and body["Trigger"]["Threshold"] == 60.0
    history = cw.describe_alarm_history(AlarmName=name, HistoryItemType="Action")["AlarmHistoryItems"]
    assert history and history[0]["HistorySummary"] == f"Successfully executed action {topic}"

    # Recovery: a low value in the next 10-second period -> OK, and the OK notification.
    time.sleep(10 - time.time() % 10 + 0.5)
    _put(cw, ns, "Cpu", 5.0)
    ok = hook.next("Notification", timeout=60)
    verify_documented(ok)
    assert json.loads(ok["Message"])["NewStateValue"] == "OK" and ok["Subject"].startswith("OK: ")

    # Actions disabled: transitions happen, nothing is sent.
    cw.disable_alarm_actions(AlarmNames=[name])
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["ActionsEnabled"] is False
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="testing while disabled")
    _wait_state(cw, name, "OK")                     # the evaluator puts it back from the data
    time.sleep(2)
    assert hook.drain() == []
    cw.enable_alarm_actions(AlarmNames=[name])
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="testing the actions")
    forced = json.loads(hook.next("Notification")["Message"])
    assert forced["NewStateValue"] == "ALARM" and forced["NewStateReason"] == "testing the actions"
    back = json.loads(hook.next("Notification", timeout=60)["Message"])      # evaluation: back to OK
    assert back["NewStateValue"] == "OK"
    cw.delete_alarms(AlarmNames=[name])


def test_no_second_notification_after_a_restart(tmp_path, hook):
    service = Service(tmp_path / "data", free_port()).start(env=ENV)
    try:
        cw = service.client("cloudwatch")
        topic = _topic(service, hook)
        ns, name = f"Test/{uuid.uuid4().hex[:6]}", "restart"
        for i in range(12):                       # breaching for the next two minutes
            _put(cw, ns, "Cpu", 95.0, dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=10 * i))
        _alarm(cw, name, ns, "Cpu", topic)
        assert json.loads(hook.next("Notification")["Message"])["NewStateValue"] == "ALARM"
        service.kill()                            # SIGKILL: no clean shutdown
        service.start(env=ENV)
        time.sleep(12)                            # two evaluation passes
        assert _state(cw, name) == "ALARM"
        assert hook.drain() == []
    finally:
        service.stop_everything()


def test_composite_alarm_over_two(svc, hook):
    cw = svc.client("cloudwatch")
    topic = _topic(svc, hook)
    ns = f"Test/{uuid.uuid4().hex[:6]}"
    cpu, disk, both = (f"{k}-{uuid.uuid4().hex[:6]}" for k in ("cpu", "disk", "both"))
    _put(cw, ns, "Cpu", 90.0)
    _put(cw, ns, "Disk", 10.0)
    _alarm(cw, cpu, ns, "Cpu", "arn:aws:sns:us-east-1:123456789012:nobody", ActionsEnabled=False)
    _alarm(cw, disk, ns, "Disk", "arn:aws:sns:us-east-1:123456789012:nobody", ActionsEnabled=False)
    assert (_state(cw, cpu), _state(cw, disk)) == ("ALARM", "OK")
    cw.put_composite_alarm(AlarmName=both, AlarmRule=f'ALARM("{cpu}") AND ALARM({disk})', AlarmActions=[topic],
                           OKActions=[topic], Tags=[{"Key": "team", "Value": "kafka"}])
    composite = cw.describe_alarms(AlarmNames=[both], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"][0]
    assert composite["StateValue"] == "OK" and composite["AlarmRule"].startswith("ALARM(")
    assert json.loads(hook.next("Notification")["Message"])["NewStateValue"] == "OK"
    assert cw.describe_alarms(AlarmNames=[both])["CompositeAlarms"] == []        # default AlarmTypes: metric only
    children = cw.describe_alarms(ChildrenOfAlarmName=both, AlarmTypes=["MetricAlarm"])["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in children) == sorted([cpu, disk])
    parents = cw.describe_alarms(ParentsOfAlarmName=cpu, AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert [a["AlarmName"] for a in parents] == [both]
    assert cw.list_tags_for_resource(ResourceARN=composite["AlarmArn"])["Tags"] == [{"Key": "team", "Value": "kafka"}]

    time.sleep(10 - time.time() % 10 + 0.5)
    _put(cw, ns, "Cpu", 91.0)
    _put(cw, ns, "Disk", 95.0)                      # both children breach -> the composite goes to ALARM
    note = hook.next("Notification", timeout=60)
    verify_documented(note)
    body = json.loads(note["Message"])
    assert body["AlarmName"] == both and body["NewStateValue"] == "ALARM"
    assert body["AlarmRule"] == composite["AlarmRule"]
    assert {c["Arn"].split(":alarm:")[1] for c in body["TriggeringChildren"]} == {cpu, disk}
    assert [a["AlarmName"] for a in cw.describe_alarms(StateValue="ALARM", AlarmNamePrefix="both-",
                                                       AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]] == [both]
    assert cw.describe_alarms(ActionPrefix=topic, AlarmTypes=["CompositeAlarm", "MetricAlarm"])["CompositeAlarms"]
    cw.delete_alarms(AlarmNames=[both, cpu, disk])


@pytest.mark.parametrize("call, code", [
    (lambda cw: cw.put_composite_alarm(AlarmName="c", AlarmRule="ALARM(no-such-alarm)"), "InvalidParameterValue"),
    (lambda cw: cw.put_composite_alarm(AlarmName="c", AlarmRule="ALARM(x) AND"), "InvalidParameterValue"),
    (lambda cw: cw.put_composite_alarm(AlarmName="c", AlarmRule="SOMETIMES(x)"), "InvalidParameterValue"),
    (lambda cw: cw.put_metric_alarm(AlarmName="m", EvaluationPeriods=1, Threshold=1.0,
                                    ComparisonOperator="GreaterThanThreshold",
                                    Metrics=[{"Id": "e", "Expression": "m1 +", "ReturnData": True}]), "ValidationError"),
    (lambda cw: cw.put_metric_alarm(AlarmName="m", Namespace="N", MetricName="M", Statistic="Average", Period=60,
                                    EvaluationPeriods=1, DatapointsToAlarm=2, Threshold=1.0,
                                    ComparisonOperator="GreaterThanThreshold"), "InvalidParameterValue"),
    (lambda cw: cw.put_metric_alarm(AlarmName="m", Namespace="N", MetricName="M", Statistic="Average", Period=60,
                                    EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold",
                                    AlarmActions=["not an arn"]), "InvalidParameterValue"),
    (lambda cw: cw.put_metric_alarm(AlarmName="m", Namespace="N", MetricName="M", Statistic="Average", Period=60,
                                    EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold",
                                    TreatMissingData="sometimes"), "InvalidParameterValue"),
    (lambda cw: cw.put_metric_alarm(AlarmName="m", Namespace="N", MetricName="M", ExtendedStatistic="p90",
                                    Period=60, EvaluationPeriods=1, Threshold=1.0,
                                    ComparisonOperator="GreaterThanThreshold",
                                    EvaluateLowSampleCountPercentile="perhaps"), "InvalidParameterValue"),
    (lambda cw: cw.list_tags_for_resource(ResourceARN="arn:aws:cloudwatch:us-east-1:123456789012:alarm:none"),
     "ResourceNotFoundException"),
    (lambda cw: cw.enable_alarm_actions(AlarmNames=["none"]), "ResourceNotFound"),
    (lambda cw: cw.set_alarm_state(AlarmName="none", StateValue="BROKEN", StateReason="x"), "InvalidParameterValue"),
    (lambda cw: cw.put_composite_alarm(AlarmName="c", AlarmRule="NOT " * 3000 + "TRUE"), "InvalidParameterValue"),
    (lambda cw: cw.describe_alarms(AlarmNames=["a"], AlarmNamePrefix="a"), "InvalidParameterCombination"),
])
def test_bad_definitions_get_cloudwatchs_errors(svc, call, code):
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        call(svc.client("cloudwatch"))
    assert exc.value.response["Error"]["Code"] == code
    assert 400 <= exc.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500


def test_dead_webhook_is_retried_and_evaluation_goes_on(svc, hook):
    cw, sns = svc.client("cloudwatch"), svc.client("sns")
    dead = Webhook()
    dead_topic = _topic(svc, dead)
    dead.close()                                  # its port now refuses connections
    sns.set_topic_attributes(TopicArn=dead_topic, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(
        {"http": {"defaultHealthyRetryPolicy": {"numRetries": 3, "minDelayTarget": 300, "maxDelayTarget": 300}}}))
    live_topic = _topic(svc, hook)
    ns = f"Test/{uuid.uuid4().hex[:6]}"
    _put(cw, ns, "Dead", 99.0)
    _alarm(cw, "to-dead", ns, "Dead", dead_topic)  # its notification is now being retried (3 s apart)
    started = time.monotonic()
    _put(cw, ns, "Live", 99.0)
    _alarm(cw, "to-live", ns, "Live", live_topic)
    assert json.loads(hook.next("Notification", timeout=30)["Message"])["AlarmName"] == "to-live"
    assert time.monotonic() - started < 8          # not behind the dead endpoint's retries
    time.sleep(10 - time.time() % 10 + 0.5)
    _put(cw, ns, "Live", 1.0)                     # the evaluator keeps going: OK arrives
    assert json.loads(hook.next("Notification", timeout=60)["Message"])["NewStateValue"] == "OK"
    sub = sns.list_subscriptions_by_topic(TopicArn=dead_topic)["Subscriptions"][0]["SubscriptionArn"]
    deadline = time.monotonic() + 60
    failed = []
    while not failed and time.monotonic() < deadline:
        log = json.loads(sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]["openmsk:DeliveryLog"])
        failed = [e for e in log if e["Status"] == "Failed" and e["Type"] == "Notification"]
        time.sleep(1)
    assert failed and failed[0]["Attempts"] == 4 and "Connect" in failed[0]["Error"]
    cw.delete_alarms(AlarmNames=["to-dead", "to-live"])
