"""CloudWatch Logs subset with the real aws CLI and boto3 against a real `openmsk serve` (no cluster needed):
groups/streams, PutLogEvents acceptance rules, GetLogEvents tokens, FilterLogEvents patterns and pagination,
retention enforced, tags, AWS error codes."""
from __future__ import annotations

import json
import time
import uuid

import botocore.exceptions
import pytest

from harness import Service, free_port


def _code(exc) -> str:
    return exc.value.response["Error"]["Code"]


@pytest.fixture
def logs(service):
    return service.client("logs")


@pytest.fixture
def group(logs):
    name = f"/test/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=name, tags={"team": "platform"})
    logs.create_log_stream(logGroupName=name, logStreamName="Broker-1")
    return name


def _now() -> int:
    return int(time.time() * 1000)


def test_groups_streams_and_errors(service, logs, group):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.create_log_group(logGroupName=group)
    assert _code(e) == "ResourceAlreadyExistsException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.create_log_group(logGroupName="bad name!")
    assert _code(e) == "InvalidParameterException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.create_log_stream(logGroupName="/missing/group", logStreamName="s")
    assert _code(e) == "ResourceNotFoundException"
    assert e.value.response["Error"]["Message"] == "The specified log group does not exist."
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.create_log_stream(logGroupName=group, logStreamName="a:b")
    assert _code(e) == "InvalidParameterException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.put_log_events(logGroupName=group, logStreamName="nope", logEvents=[{"timestamp": _now(), "message": "x"}])
    assert _code(e) == "ResourceNotFoundException"
    assert e.value.response["Error"]["Message"] == "The specified log stream does not exist."

    result = service.aws("logs", "describe-log-groups", "--log-group-name-prefix", group)
    assert result.returncode == 0, result.stderr
    [g] = result.json["logGroups"]
    assert g["logGroupName"] == group and g["arn"].endswith(f":log-group:{group}:*")
    result = service.aws("logs", "describe-log-streams", "--log-group-name", group)
    assert [s["logStreamName"] for s in result.json["logStreams"]] == ["Broker-1"]
    missing = service.aws("logs", "describe-log-streams", "--log-group-name", "/no/such")
    assert missing.returncode == 255 and "ResourceNotFoundException" in missing.stderr

    arn = g["logGroupArn"]
    logs.tag_resource(resourceArn=arn, tags={"env": "test"})
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "platform", "env": "test"}
    logs.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "test"}

    logs.delete_log_group(logGroupName=group)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.delete_log_group(logGroupName=group)
    assert _code(e) == "ResourceNotFoundException"


def test_describe_log_groups_paginates_in_the_cli(service, logs):
    prefix = f"/page/{uuid.uuid4().hex[:6]}/"
    for i in range(7):
        logs.create_log_group(logGroupName=f"{prefix}{i}")
    result = service.aws("logs", "describe-log-groups", "--log-group-name-prefix", prefix, "--page-size", "3")
    assert result.returncode == 0, result.stderr
    assert [g["logGroupName"] for g in result.json["logGroups"]] == [f"{prefix}{i}" for i in range(7)]


def test_put_log_events_rules(logs, group):
    now = _now()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.put_log_events(logGroupName=group, logStreamName="Broker-1",
                            logEvents=[{"timestamp": now, "message": "b"}, {"timestamp": now - 5, "message": "a"}])
    assert _code(e) == "InvalidParameterException" and "chronological" in str(e.value)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.put_log_events(logGroupName=group, logStreamName="Broker-1", logEvents=[
            {"timestamp": now - 25 * 3600_000, "message": "a"}, {"timestamp": now, "message": "b"}])
    assert _code(e) == "InvalidParameterException" and "24 hours" in str(e.value)
    out = logs.put_log_events(logGroupName=group, logStreamName="Broker-1",
                              logEvents=[{"timestamp": now - 15 * 86400_000, "message": "too old"}])
    assert out["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0}
    out = logs.put_log_events(logGroupName=group, logStreamName="Broker-1", logEvents=[
        {"timestamp": now, "message": "fine"}, {"timestamp": now + 3 * 3600_000, "message": "too new"}])
    assert out["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    got = logs.get_log_events(logGroupName=group, logStreamName="Broker-1", startFromHead=True)
    assert [e["message"] for e in got["events"]] == ["fine"]


def test_get_log_events_tokens(service, logs, group):
    now = _now() - 60_000
    logs.put_log_events(logGroupName=group, logStreamName="Broker-1",
                        logEvents=[{"timestamp": now + i, "message": f"line {i}"} for i in range(25)])
    # Newest first page (as the console/CLI default), then walk backward and forward with the CLI.
    last = service.aws("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "Broker-1",
                       "--limit", "10")
    assert last.returncode == 0, last.stderr
    assert [e["message"] for e in last.json["events"]] == [f"line {i}" for i in range(15, 25)]
    back = service.aws("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "Broker-1",
                       "--limit", "10", "--next-token", last.json["nextBackwardToken"])
    assert [e["message"] for e in back.json["events"]] == [f"line {i}" for i in range(5, 15)]
    seen, token = [], None
    for _ in range(10):
        args = ["--start-from-head", "--limit", "10"] + (["--next-token", token] if token else [])
        page = service.aws("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "Broker-1", *args)
        assert page.returncode == 0, page.stderr
        seen += [e["message"] for e in page.json["events"]]
        if page.json["nextForwardToken"] == token:          # the end: AWS repeats the token
            break
        token = page.json["nextForwardToken"]
    assert seen == [f"line {i}" for i in range(25)]
    # A new event appears after the end token (how `--follow`-style readers poll).
    logs.put_log_events(logGroupName=group, logStreamName="Broker-1", logEvents=[{"timestamp": _now(), "message": "new"}])
    more = logs.get_log_events(logGroupName=group, logStreamName="Broker-1", nextToken=token)
    assert [e["message"] for e in more["events"]] == ["new"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.get_log_events(logGroupName=group, logStreamName="Broker-1", nextToken="garbage")
    assert _code(e) == "InvalidParameterException"


def test_filter_log_events_patterns_and_pagination(service, logs, group):
    logs.create_log_stream(logGroupName=group, logStreamName="Broker-2")
    now = _now() - 60_000
    lines = ["[x] INFO [KafkaServer id=1] started (kafka.server.KafkaServer)",
             "[x] WARN connection lost", "[x] ERROR disk failure (kafka.log.LogManager)",
             "[x] INFO Exiting Kafka", "[x] ERROR Exiting because of fatal error"]
    for stream in ("Broker-1", "Broker-2"):
        logs.put_log_events(logGroupName=group, logStreamName=stream,
                            logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(lines)])

    def messages(pattern, *extra):
        result = service.aws("logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", pattern,
                             *extra)
        assert result.returncode == 0, result.stderr
        return [(e["logStreamName"], e["message"]) for e in result.json["events"]]

    assert {m for _, m in messages('"started (kafka.server.KafkaServer)"')} == {lines[0]}
    assert len(messages('"started (kafka.server.KafkaServer)"')) == 2
    assert {m for _, m in messages("ERROR")} == {lines[2], lines[4]}
    assert {m for _, m in messages("ERROR -Exiting")} == {lines[2]}
    assert {m for _, m in messages("?WARN ?disk")} == {lines[1], lines[2]}
    assert {m for _, m in messages("warn")} == set()                       # case-sensitive
    assert messages("ERROR", "--log-stream-names", "Broker-2") == [("Broker-2", lines[2]), ("Broker-2", lines[4])]
    # The CLI follows nextToken: 10 events in pages of 3.
    assert len(messages("", "--page-size", "3")) == 10
    page = logs.filter_log_events(logGroupName=group, limit=3)
    assert len(page["events"]) == 3 and page["nextToken"]
    assert all(not s["searchedCompletely"] for s in page["searchedLogStreams"])
    rest = logs.filter_log_events(logGroupName=group, nextToken=page["nextToken"])
    assert len(rest["events"]) == 7 and "nextToken" not in rest
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.filter_log_events(logGroupName=group, filterPattern="{ $.level = ERROR }")
    assert _code(e) == "InvalidParameterException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.filter_log_events(logGroupName=group, nextToken="!!!")
    assert _code(e) == "InvalidParameterException"


def test_retention_removes_expired_events(logs, group):
    now = _now()
    for ts, message in ((now - 3 * 86400_000, "three days old"), (now - 1000, "fresh")):
        logs.put_log_events(logGroupName=group, logStreamName="Broker-1",
                            logEvents=[{"timestamp": ts, "message": message}])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.put_retention_policy(logGroupName=group, retentionInDays=2)
    assert _code(e) == "InvalidParameterException"
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    got = logs.get_log_events(logGroupName=group, logStreamName="Broker-1", startFromHead=True)
    assert [e["message"] for e in got["events"]] == ["fresh"]
    # The expired event is removed after the answer: the stream's stored bytes and first event follow.
    deadline = time.monotonic() + 30
    while True:
        [s] = logs.describe_log_streams(logGroupName=group)["logStreams"]
        if s["storedBytes"] == len("fresh") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert s["storedBytes"] == len("fresh") and s["firstEventTimestamp"] == now - 1000
    [g] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert g["retentionInDays"] == 1
    out = logs.put_log_events(logGroupName=group, logStreamName="Broker-1",
                              logEvents=[{"timestamp": now - 2 * 86400_000, "message": "expired"}])
    assert out["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}


def test_cli_output_shape(service, group):
    put = service.aws("logs", "put-log-events", "--log-group-name", group, "--log-stream-name", "Broker-1",
                      "--log-events", json.dumps([{"timestamp": _now(), "message": "hello from the cli"}]))
    assert put.returncode == 0, put.stderr
    got = service.aws("logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", "hello")
    [event] = got.json["events"]
    assert event["logStreamName"] == "Broker-1" and event["message"] == "hello from the cli"
    assert set(event) == {"logStreamName", "timestamp", "message", "ingestionTime", "eventId"}


def test_start_live_tail_streams_new_matching_events(service, logs, group):
    """StartLiveTail with boto3's own event-stream decoder (CRCs checked): sessionStart, then updates with
    only events ingested after the start that match the filter; bad requests are errors, not streams.
    (StartLiveTail's endpoint has the host prefix `stream-`: with an IP endpoint it is turned off.)"""
    from botocore.config import Config
    tail = service.client("logs", config=Config(inject_host_prefix=False, read_timeout=30))
    arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["logGroupArn"]
    logs.put_log_events(logGroupName=group, logStreamName="Broker-1",
                        logEvents=[{"timestamp": _now(), "message": "ERROR before the session"}])
    response = tail.start_live_tail(logGroupIdentifiers=[arn], logEventFilterPattern="ERROR -ignored")
    stream = response["responseStream"]
    events = iter(stream)
    first = next(events)
    assert first["sessionStart"]["logGroupIdentifiers"] == [arn]
    assert first["sessionStart"]["logEventFilterPattern"] == "ERROR -ignored"
    logs.create_log_stream(logGroupName=group, logStreamName="Broker-2")
    now = _now()
    logs.put_log_events(logGroupName=group, logStreamName="Broker-2", logEvents=[
        {"timestamp": now, "message": "ERROR disk full"}, {"timestamp": now, "message": "INFO fine"},
        {"timestamp": now, "message": "ERROR ignored"}])
    seen = []
    deadline = time.monotonic() + 30
    for event in events:
        update = event["sessionUpdate"]
        assert update["sessionMetadata"] == {"sampled": False}
        seen += update["sessionResults"]
        if seen or time.monotonic() > deadline:
            break
    stream.close()
    assert [(e["message"], e["logStreamName"], e["logGroupIdentifier"]) for e in seen] == \
        [("ERROR disk full", "Broker-2", arn)]
    assert seen[0]["timestamp"] == now and seen[0]["ingestionTime"] >= now

    for kw, code in (({"logGroupIdentifiers": [arn + "-missing"]}, "ResourceNotFoundException"),
                     ({"logGroupIdentifiers": [arn, arn], "logStreamNames": ["Broker-1"]}, "InvalidParameterException"),
                     ({"logGroupIdentifiers": [arn], "logEventFilterPattern": '"unterminated'},
                      "InvalidParameterException")):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            tail.start_live_tail(**kw)
        assert _code(e) == code, kw


def test_filter_log_events_searches_a_bounded_slice_per_call(tmp_path):
    """With a pattern, one FilterLogEvents call looks at a bounded number of events (here 4, set on a
    service of the test's own) and answers with a nextToken to go on from, as CloudWatch does: a rare
    pattern over a week of a busy broker never holds a worker thread for minutes. The CLI and boto3's
    paginator follow the tokens and find every match."""
    svc = Service(tmp_path / "data", free_port()).start(env={"OPENMSK_LOGS_FILTER_SCAN_EVENTS": "4"})
    try:
        logs = svc.client("logs")
        logs.create_log_group(logGroupName="/scan")
        logs.create_log_stream(logGroupName="/scan", logStreamName="Broker-1")
        now = _now() - 60_000
        messages = [f"{'ERROR' if i in (2, 17) else 'INFO'} line {i}" for i in range(20)]
        logs.put_log_events(logGroupName="/scan", logStreamName="Broker-1",
                            logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(messages)])
        first = logs.filter_log_events(logGroupName="/scan", filterPattern="ERROR")
        assert [e["message"] for e in first["events"]] == ["ERROR line 2"] and first["nextToken"]
        assert first["searchedLogStreams"] == [{"logStreamName": "Broker-1", "searchedCompletely": False}]
        second = logs.filter_log_events(logGroupName="/scan", filterPattern="ERROR", nextToken=first["nextToken"])
        assert second["events"] == [] and second["nextToken"]          # events 4-7 searched, none matched
        paged = [e["message"] for page in logs.get_paginator("filter_log_events").paginate(
            logGroupName="/scan", filterPattern="ERROR") for e in page["events"]]
        assert paged == ["ERROR line 2", "ERROR line 17"]
        cli = svc.aws("logs", "filter-log-events", "--log-group-name", "/scan", "--filter-pattern", "?ERROR ?WARN")
        assert cli.returncode == 0, cli.stderr
        assert [e["message"] for e in cli.json["events"]] == ["ERROR line 2", "ERROR line 17"]
        everything = logs.filter_log_events(logGroupName="/scan")       # no pattern: a page is all matches
        assert len(everything["events"]) == 20 and "nextToken" not in everything
    finally:
        svc.stop_everything()


def test_store_removes_expired_events_in_batches(tmp_path, monkeypatch):
    """The store behind the API (no server needed): retention and deletions remove events a batch per
    write transaction and keep each stream's stored bytes and first timestamp without rescanning the
    events that stay (what keeps a week of a busy broker's log cheap to expire every minute)."""
    from openmsk.services.logs import backend
    monkeypatch.setattr(backend, "PURGE_BATCH", 3)
    store = backend.LogStore(tmp_path / "logs.db")
    store.create_group("us-east-1", "/g", kms=None, cls="STANDARD", tags={})
    group = store.group("us-east-1", "/g")
    store.create_stream(group["id"], "Broker-1")
    store.create_stream(group["id"], "Broker-2")
    one, two = store.stream(group["id"], "Broker-1"), store.stream(group["id"], "Broker-2")
    now = _now()
    old = now - 3 * 86400_000
    store.ingest(group["id"], one["id"], [(old + i, f"old {i}") for i in range(7)] + [(now, "fresh one")])
    store.ingest(group["id"], two["id"], [(old + i, f"old {i}") for i in range(4)] + [(now + 1, "fresh two")])
    store.update_group(group["id"], retention=1)
    assert store.expire(now) == 11
    for stream, message, ts in ((one, "fresh one", now), (two, "fresh two", now + 1)):
        row = store.stream(group["id"], stream["name"])
        assert row["stored"] == len(message) and row["first_ts"] == ts
    assert store.expire(now) == 0
    store.ingest(group["id"], one["id"], [(now + i, f"more {i}") for i in range(10)])
    store.delete_stream(one["id"])
    assert store._db().execute("SELECT COUNT(*) FROM events WHERE stream_id=?", (one["id"],)).fetchone()[0] == 0
    store.delete_group(group["id"])
    assert store._db().execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
    assert store.group("us-east-1", "/g") is None


def test_cli_start_live_tail_follows_a_group(service, logs, group):
    """`aws logs start-live-tail` (the v1 CLI's follow; `aws logs tail --follow` is CLI v2) prints matching
    events as they arrive. AWS serves it on a `stream-` host prefix that cannot go in front of an IP
    endpoint: AWS_DISABLE_HOST_PREFIX_INJECTION turns that off, as docs/logging.md says."""
    import subprocess
    from harness import AWS
    arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["logGroupArn"]
    tail = subprocess.Popen([AWS, "logs", "start-live-tail", "--log-group-identifiers", arn,
                             "--log-event-filter-pattern", "followed"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**service.env, "AWS_DISABLE_HOST_PREFIX_INJECTION": "true"})
    try:
        for i in range(8):               # the session starts at some point: keep logging for a while
            logs.put_log_events(logGroupName=group, logStreamName="Broker-1", logEvents=[
                {"timestamp": _now(), "message": f"followed {i}"}, {"timestamp": _now(), "message": f"other {i}"}])
            time.sleep(1)
        time.sleep(2)
    finally:
        tail.terminate()
        out, err = tail.communicate(timeout=30)
    printed = [line for line in out.splitlines() if line.strip()]
    assert printed, err
    assert all(line.startswith("followed ") for line in printed), printed
    numbers = [int(line.split()[1]) for line in printed]
    assert numbers == list(range(numbers[0], 8)), printed           # from the session's start on, each once
