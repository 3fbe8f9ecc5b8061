"""The web console (issue 16) in a real browser -- Debian's headless chromium driven by Selenium through
Debian's chromedriver: sign in, create a cluster from the form and watch it become ACTIVE without
reloading, create a topic, produce with confluent-kafka and see the bytes-in chart move, browse the
messages, reset a group's offsets (previewed first) and see the lag change, page through the broker logs
newest first, see broken log destinations (CloudWatch Logs, S3, Firehose) on the cluster's and the logs
page, and an IAM user refused exactly as the same API call would be."""
from __future__ import annotations

import datetime as dt
import json
import re
import time

import pytest

import browser
from harness import Service, free_port


@pytest.fixture(scope="module")
def console_service(tmp_path_factory):
    # Metrics every 5 s so a chart moves within the test (MSK's 60 s otherwise); S3 log objects every 3 s
    # (MSK batches for minutes) so a deleted bucket is noticed within the test.
    svc = Service(tmp_path_factory.mktemp("console-browser") / "data", free_port()).start(
        env={"OPENMSK_METRICS_INTERVAL": "5", "OPENMSK_LOG_S3_INTERVAL": "3"})
    yield svc
    svc.stop_everything()


def _heading(driver) -> str:
    """The page's h1, and its error message if it shows one (so a failed step says why)."""
    from selenium.webdriver.common.by import By
    errors = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".flash.error")]
    title = driver.find_element(By.TAG_NAME, "h1").text
    return f"{title} [{'; '.join(errors)}]" if errors else title


def _wait(driver, predicate, timeout: float, what: str, reload_every: float | None = None):
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except pytest.fail.Exception:
            raise
        except Exception:                  # an element replaced by the live refresh mid-read
            pass
        if reload_every and time.monotonic() - last > reload_every:
            driver.refresh()
            last = time.monotonic()
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}; page: {driver.title} {driver.current_url}")


UNLABELLED = """return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
  .map(e => e.outerHTML.slice(0, 160));"""


def _audit(driver, found: dict) -> None:
    """Note the page's form controls that have no label (screen readers could not name them)."""
    missing = driver.execute_script(UNLABELLED)
    if missing:
        found[driver.current_url] = missing


def _delete_bucket(s3, bucket: str) -> None:
    """Empty and delete a bucket the log shipper may still be writing to (an object can land between)."""
    deadline = time.monotonic() + 60
    while True:
        for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
        try:
            s3.delete_bucket(Bucket=bucket)
            return
        except s3.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] != "BucketNotEmpty" or time.monotonic() > deadline:
                raise
        time.sleep(0.5)


# -- the message browser's modes ------------------------------------------------------------------------
BROWSE_TOPIC = "e2e-browse"
BINARY = b"\x00\x01\x7f\xff"


def _produce_known(bootstrap: str, base_ms: int) -> None:
    """Eleven messages in one partition, each at a known offset and timestamp (a minute apart from
    base_ms): keys k0..k9 with JSON values and two headers, then a keyless binary value at offset 10."""
    from confluent_kafka import Producer
    # One request in flight: the messages land in the order sent even if one is retried.
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "max.in.flight.requests.per.connection": 1})
    for i in range(10):
        producer.produce(BROWSE_TOPIC, key=f"k{i}".encode(), value=json.dumps({"n": i, "label": f"message {i}"}).encode(),
                         headers=[("trace", f"t-{i}".encode()), ("bin", bytes([0xca, 0xfe, i]))],
                         timestamp=base_ms + i * 60_000)
    producer.produce(BROWSE_TOPIC, value=BINARY, timestamp=base_ms + 10 * 60_000)
    assert producer.flush(300) == 0


def _value(i: int) -> bytes:
    return json.dumps({"n": i, "label": f"message {i}"}).encode()


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(timespec="milliseconds")[:23]


def _browse(driver, messages_url: str, *, mode: str, as_: str, count: int, offset: str = "", timestamp: str = "",
            partition: str = "all") -> list[list]:
    """Fill the message browser's form as a user would and press Browse: the table's cells, per row."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    if not driver.current_url.startswith(messages_url):
        browser.get(driver, messages_url)
    Select(driver.find_element(By.ID, "f-partition")).select_by_value(partition)
    Select(driver.find_element(By.ID, "f-mode")).select_by_value(mode)
    for name, value in (("count", str(count)), ("offset", offset), ("timestamp", timestamp)):
        box = driver.find_element(By.ID, f"f-{name}")
        box.clear()
        box.send_keys(value)
    Select(driver.find_element(By.ID, "f-as")).select_by_value(as_)
    browser.click_and_wait(driver, driver.find_element(By.XPATH, "//button[.='Browse']"))
    assert driver.find_element(By.TAG_NAME, "h1").text.startswith("Messages of"), driver.page_source[:2000]
    return [[c for c in row.find_elements(By.TAG_NAME, "td")]
            for row in driver.find_elements(By.CSS_SELECTOR, "table.messages tbody tr")]


def _browse_modes(driver, kafka, arn: str, bootstrap: str, cluster_url: str) -> int:
    """From an offset, from a timestamp (of one partition, or all), keys, headers and values as text,
    JSON and hex: what confluent-kafka produced at known offsets and timestamps, read in the browser."""
    from confluent_kafka import Consumer, TopicPartition
    from selenium.webdriver.common.by import By
    kafka.create_topic(ClusterArn=arn, TopicName=BROWSE_TOPIC, PartitionCount=1, ReplicationFactor=3)
    base = (int(time.time()) // 60 - 120) * 60_000          # two hours ago, on a minute
    _produce_known(bootstrap, base)
    url = cluster_url + f"/topics/{BROWSE_TOPIC}/messages"

    # From offset 3, two messages, as text: offsets 3 and 4, their keys, headers, values and timestamps.
    rows = _browse(driver, url, mode="offset", offset="3", count=2, as_="text")
    assert [(r[0].text, r[1].text) for r in rows] == [("0", "3"), ("0", "4")], [[c.text for c in r] for r in rows]
    assert [r[2].text for r in rows] == [_iso(base + 3 * 60_000), _iso(base + 4 * 60_000)]
    assert [r[3].text for r in rows] == ["k3", "k4"]
    assert [r[5].text for r in rows] == [_value(3).decode(), _value(4).decode()]
    assert "trace: t-3" in rows[0][4].text and "bin:" in rows[0][4].text
    # The same as hex: every byte of key, header and value.
    rows = _browse(driver, url, mode="offset", offset="3", count=2, as_="hex")
    assert rows[0][3].text == b"k3".hex(" ") and rows[0][5].text == _value(3).hex(" ")
    assert "trace: " + b"t-3".hex(" ") in rows[0][4].text and "bin: ca fe 03" in rows[0][4].text
    # As JSON: the value parsed and indented (a <pre>), the key shown as text (it is not JSON).
    rows = _browse(driver, url, mode="offset", offset="3", count=1, as_="json")
    assert len(rows) == 1
    assert rows[0][5].find_element(By.TAG_NAME, "pre").text == json.dumps(json.loads(_value(3)), indent=2)
    assert rows[0][3].find_element(By.TAG_NAME, "code").get_attribute("title") == "not JSON"
    # From a timestamp between the 6th and 7th message: the browse starts at offset 6.
    rows = _browse(driver, url, mode="timestamp", timestamp=_iso(base + 5 * 60_000 + 30_000)[:19], count=3, as_="text")
    assert [r[1].text for r in rows] == ["6", "7", "8"], [[c.text for c in r] for r in rows]
    assert [r[3].text for r in rows] == ["k6", "k7", "k8"]
    # The binary message (offset 10, no key): hex shows its bytes; as JSON it is shown as text, marked so.
    rows = _browse(driver, url, mode="offset", offset="10", count=5, as_="hex")
    assert [(r[1].text, r[3].text, r[5].text) for r in rows] == [("10", "null", "00 01 7f ff")]
    rows = _browse(driver, url, mode="offset", offset="10", count=5, as_="json")
    assert rows[0][5].find_element(By.TAG_NAME, "code").get_attribute("title") == "not JSON"
    # One partition of a three-partition topic, from an offset: only that partition's messages, in order.
    orders = cluster_url + "/topics/e2e-orders/messages"
    rows = _browse(driver, orders, mode="offset", offset="5", count=3, as_="text", partition="1")
    assert [(r[0].text, r[1].text) for r in rows] == [("1", "5"), ("1", "6"), ("1", "7")], \
        [[c.text for c in r] for r in rows]
    assert all("origin: console-test" in r[4].text for r in rows)
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "e2e-browse-check", "enable.auto.commit": False})
    reader.assign([TopicPartition("e2e-orders", 1, 5)])
    keys, deadline = [], time.monotonic() + 60
    while len(keys) < 3 and time.monotonic() < deadline:
        msg = reader.poll(1)
        if msg is not None and not msg.error():
            keys.append(msg.key().decode())
    reader.close()
    assert [r[3].text for r in rows] == keys                 # what a real consumer reads at those offsets
    return base


# -- consumer group resets: latest and a timestamp ------------------------------------------------------
def _preview_and_apply(driver, group_url: str, to: str, timestamp: str = "", topic: str = "") -> list[list[str]]:
    """Preview a reset in the group's form, return the preview's rows, check nothing moved, then apply it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    browser.get(driver, group_url)
    before = driver.find_element(By.ID, "total-lag").text
    Select(driver.find_element(By.ID, "f-topic")).select_by_value(topic)
    Select(driver.find_element(By.ID, "f-to")).select_by_value(to)
    box = driver.find_element(By.ID, "f-timestamp")
    box.clear()
    box.send_keys(timestamp)
    browser.click_and_wait(driver, driver.find_element(By.XPATH, "//button[.='Preview reset']"))
    rows = [[c.text for c in r.find_elements(By.TAG_NAME, "td")]
            for r in driver.find_elements(By.CSS_SELECTOR, "#preview tbody tr")]
    assert driver.find_element(By.ID, "total-lag").text == before          # a preview moves nothing
    browser.click_and_wait(driver, driver.find_element(By.XPATH, "//button[.='Apply this reset']"))
    flash = driver.find_element(By.CSS_SELECTOR, ".flash.ok").text
    assert f"partition offsets of" in flash and f"to {to}" in flash, flash
    return rows


def _committed(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    from confluent_kafka import Consumer, TopicPartition
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        return [tp.offset for tp in consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=60)]
    finally:
        consumer.close()


def _reset_modes(driver, bootstrap: str, cluster_url: str, base: int) -> None:
    """e2e-group (reset to earliest, lag 2000) back to latest: preview says lag 0 after, applied lag 0.
    A group that read all of e2e-browse, reset to a timestamp between its 6th and 7th message: offset 6."""
    from confluent_kafka import Consumer
    from selenium.webdriver.common.by import By
    rows = _preview_and_apply(driver, cluster_url + "/groups/e2e-group", "latest")
    assert len(rows) == 3 and all(r[0] == "e2e-orders" and r[5] == "0" for r in rows), rows
    assert sum(int(r[3]) - int(r[2]) for r in rows) == 2000, rows          # every message skipped again
    assert driver.find_element(By.ID, "total-lag").text == "0"
    assert sum(_committed(bootstrap, "e2e-group", "e2e-orders", 3)) == 2000

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "e2e-browse-group",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([BROWSE_TOPIC])
    seen, deadline = 0, time.monotonic() + 120
    while seen < 11 and time.monotonic() < deadline:
        msg = consumer.poll(1)
        if msg is not None and not msg.error():
            seen += 1
    consumer.commit(asynchronous=False)
    consumer.close()
    assert seen == 11
    group_url = cluster_url + "/groups/e2e-browse-group"
    browser.get(driver, group_url)
    assert driver.find_element(By.ID, "total-lag").text == "0"
    rows = _preview_and_apply(driver, group_url, "timestamp", _iso(base + 5 * 60_000 + 30_000)[:19], BROWSE_TOPIC)
    # topic, partition, current, new, moves by, lag after
    assert rows == [[BROWSE_TOPIC, "0", "11", "6", "-5", "5"]], rows
    assert driver.find_element(By.ID, "total-lag").text == "5"
    assert _committed(bootstrap, "e2e-browse-group", BROWSE_TOPIC, 1) == [6]


# -- metrics: the time-range picker, alarm thresholds and states ----------------------------------------
CHART_SNAPSHOT = """const svg = document.getElementById(arguments[0] + '-svg');
return {times: Array.from(svg.querySelectorAll('text[text-anchor=middle]')).map(t => t.textContent),
        grid: Array.from(svg.querySelectorAll('line.grid')).map(l => parseFloat(l.getAttribute('y1'))),
        maxes: Array.from(svg.querySelectorAll('polyline')).map(p => parseFloat(p.getAttribute('data-max'))),
        thresholds: Array.from(svg.querySelectorAll('line.threshold')).map(l => ({
            y1: parseFloat(l.getAttribute('y1')), y2: parseFloat(l.getAttribute('y2')),
            title: l.querySelector('title').textContent, cls: l.getAttribute('class')})),
        labels: Array.from(svg.querySelectorAll('text.threshold-label')).map(t => t.textContent)};"""


def _chart(driver, chart: str) -> dict:
    """One chart's axis, lines and thresholds, read at once (the live refresh may swap the chart between
    two separate element reads)."""
    return driver.execute_script(CHART_SNAPSHOT, chart)


def _time_span_minutes(snapshot: dict) -> int:
    """Minutes between the chart's first and last time label (both HH:MM of the same second)."""
    (h0, m0), (h1, m1) = (map(int, snapshot["times"][0].split(":")), map(int, snapshot["times"][-1].split(":")))
    return ((h1 * 60 + m1) - (h0 * 60 + m0)) % 1440


def _metrics_range_and_alarms(driver, svc, cluster_name: str, cluster_url: str) -> None:
    """The range picker redraws the charts over the chosen range; an alarm put with boto3 on the cluster's
    BytesInPerSec is drawn on that chart at its threshold (and on no other) and listed with the state
    CloudWatch gives it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    cloudwatch = svc.client("cloudwatch")
    alarm = "e2e-bytes-in-high"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm, Namespace="AWS/Kafka", MetricName="BytesInPerSec", Statistic="Average", Period=60,
        EvaluationPeriods=1, Threshold=5_000_000.0, ComparisonOperator="GreaterThanThreshold",
        Dimensions=[{"Name": "Cluster Name", "Value": cluster_name}, {"Name": "Broker ID", "Value": "1"}])
    browser.get(driver, cluster_url + "/metrics?range=15m")
    assert _time_span_minutes(_chart(driver, "cpu")) == 15
    # The picker submits itself on change (console.js): the page is replaced by the 3-hour one.
    old = driver.find_element(By.TAG_NAME, "html")
    Select(driver.find_element(By.ID, "f-range")).select_by_value("3h")
    browser.wait_left(driver, old, 60)
    assert "range=3h" in driver.current_url
    assert Select(driver.find_element(By.ID, "f-range")).first_selected_option.get_attribute("value") == "3h"
    assert _time_span_minutes(_chart(driver, "cpu")) == 180
    chart = _chart(driver, "bytesin")
    assert _time_span_minutes(chart) == 180

    # The threshold: a dashed horizontal line across the bytes-in chart at 5M on its axis (whose top is
    # 1.1 x the larger of the data and the thresholds), named with its state; on no other chart.
    ours = [t for t in chart["thresholds"] if t["title"].startswith(alarm + ":")]
    assert len(ours) == 1 and ours[0]["title"] == f"{alarm}: 5M" and ours[0]["y1"] == ours[0]["y2"], chart
    assert "threshold" in ours[0]["cls"].split()
    axis_bottom, axis_top = chart["grid"][0], chart["grid"][-1]
    assert len(chart["thresholds"]) == 1, chart       # no other alarm watches BytesInPerSec here
    top = 1.1 * max(chart["maxes"] + [5_000_000.0])
    expected_y = axis_bottom - (axis_bottom - axis_top) * 5_000_000.0 / top
    assert abs(ours[0]["y1"] - expected_y) < 0.2, (ours[0], expected_y, chart)
    assert not [t for t in _chart(driver, "cpu")["thresholds"] if t["title"].startswith(alarm + ":")]

    # The alarm's state as listed is CloudWatch's own (it moves from INSUFFICIENT_DATA once evaluated).
    def listed_as_cloudwatch_says():
        state = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]
        row = driver.find_element(By.XPATH, f"//section[@id='alarms']//tr[td[1][.='{alarm}']]")
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        labels = _chart(driver, "bytesin")["labels"]
        return (cells[1] == state and cells[2] == "BytesInPerSec" and cells[3] == "GreaterThanThreshold 5000000.0"
                and f"{alarm} ({state})" in labels)
    _wait(driver, listed_as_cloudwatch_says, 120, "the alarm listed with CloudWatch's state", reload_every=5)
    cloudwatch.delete_alarms(AlarmNames=[alarm])

    # MSK's recommended CPU alarm (metric math: CpuUser + CpuSystem, created for the cluster by default) is
    # listed too, and drawn on the CPU chart, which sums the same two metrics.
    cpu_alarm = f"openmsk-{cluster_name}-broker-1-cpu"

    def default_cpu_alarm_shown():
        found = cloudwatch.describe_alarms(AlarmNames=[cpu_alarm])["MetricAlarms"]
        if not found:
            return False                    # created by the alarm evaluator's next pass
        row = driver.find_element(By.XPATH, f"//section[@id='alarms']//tr[td[1][.='{cpu_alarm}']]")
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        drawn = [t["title"] for t in _chart(driver, "cpu")["thresholds"]]
        return (cells[1] == found[0]["StateValue"] and cells[2] == "CpuUser + CpuSystem"
                and f"{cpu_alarm}: {found[0]['Threshold']:.3g}" in drawn)
    _wait(driver, default_cpu_alarm_shown, 180, "the default CPU alarm listed and drawn", reload_every=5)


# -- cluster actions: MSK's operations from the cluster page ---------------------------------------------
def _start_action(driver, cluster_url: str, action: str, fill) -> str:
    """Fill one action form of the cluster page (fresh, so it carries the current CurrentVersion) and
    submit it: the answer is the cluster page saying which operation started; its ARN."""
    from selenium.webdriver.common.by import By
    browser.get(driver, cluster_url)
    form = driver.find_element(By.CSS_SELECTOR, f"#actions form[action$='/action/{action}']")
    fill(form)
    browser.click_and_wait(driver, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    flashes = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".flash")]
    started = re.search(r"Started (arn:aws:kafka:\S+?)\.?$", " ".join(flashes))
    assert started, flashes
    return started.group(1)


def _finished(svc, arn: str, op_arn: str, timeout: float) -> dict:
    """The operation once it ended (it must have succeeded), with the cluster back to ACTIVE."""
    kafka = svc.client("kafka")
    deadline = time.monotonic() + timeout
    while True:
        op = kafka.describe_cluster_operation_v2(ClusterOperationArn=op_arn)["ClusterOperationInfo"]
        if op["OperationState"] in ("UPDATE_COMPLETE", "REBOOT_COMPLETE", "UPDATE_FAILED", "REBOOT_FAILED"):
            break
        assert time.monotonic() < deadline, f"{op['OperationType']} still {op['OperationState']} after {timeout} s"
        time.sleep(3)
    assert op["OperationState"] in ("UPDATE_COMPLETE", "REBOOT_COMPLETE"), op
    svc.wait_state(arn, timeout=600)
    return op


def _cluster_actions(driver, svc, arn: str, bootstrap: str, cluster_url: str) -> dict[str, float]:
    """Storage, configuration, reboot, Kafka version and broker count, each from its form on the cluster
    page, in one cluster one after the other: the operation MSK's API lists, the cluster's final state
    through DescribeCluster and on the page. Returns each action's seconds (form to ACTIVE)."""
    from confluent_kafka.admin import AdminClient, ConfigResource
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    kafka = svc.client("kafka")
    seconds: dict[str, float] = {}

    def typed(name: str, value: str):
        def fill(form):
            box = form.find_element(By.NAME, name)
            box.clear()
            box.send_keys(value)
        return fill

    def chosen(name: str, value: str):
        return lambda form: Select(form.find_element(By.NAME, name)).select_by_value(value)

    def run(action: str, fill, operation_type: str, timeout: float) -> dict:
        started = time.monotonic()
        op_arn = _start_action(driver, cluster_url, action, fill)
        op = _finished(svc, arn, op_arn, timeout)
        assert op["OperationType"] == operation_type, op
        listed = {o["OperationArn"]: o for o in kafka.list_cluster_operations_v2(ClusterArn=arn)["ClusterOperationInfoList"]}
        assert listed[op_arn]["OperationType"] == operation_type, listed[op_arn]
        assert listed[op_arn]["OperationState"] == op["OperationState"]
        seconds[action] = round(time.monotonic() - started, 1)
        return op

    # Storage: 10 -> 12 GiB per broker (the real volumes grow, no restart).
    run("storage", typed("size", "12"), "UPDATE_BROKER_STORAGE", 900)
    info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
    assert info["BrokerNodeGroupInfo"]["StorageInfo"]["EbsStorageInfo"]["VolumeSize"] == 12

    # Configuration: a revision whose key is dynamic (applied to the running brokers, no roll).
    config = kafka.create_configuration(Name="e2e-retention", KafkaVersions=["3.8.x", "3.9.x"],
                                        ServerProperties=b"log.retention.ms=172800000\n")
    run("configuration", chosen("configuration", f"{config['Arn']}|1"), "UPDATE_CLUSTER_CONFIGURATION", 900)
    software = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["CurrentBrokerSoftwareInfo"]
    assert (software["ConfigurationArn"], software["ConfigurationRevision"]) == (config["Arn"], 1), software
    admin = AdminClient({"bootstrap.servers": bootstrap})
    described = admin.describe_configs([ConfigResource("BROKER", "1")])
    live = next(iter(described.values())).result(60)
    assert live["log.retention.ms"].value == "172800000"

    # Reboot broker 2 (MSK's REBOOT_NODE, states REBOOT_*).
    run("reboot", chosen("broker", "2"), "REBOOT_NODE", 900)

    # Kafka version 3.8.x -> 3.9.x (the only target GetCompatibleKafkaVersions offers; every node rolled).
    run("version", chosen("version", "3.9.x"), "UPDATE_CLUSTER_KAFKA_VERSION", 2400)
    assert kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["CurrentBrokerSoftwareInfo"]["KafkaVersion"] == "3.9.x"

    # Broker count 3 -> 6 (one more per zone).
    run("broker-count", typed("count", "6"), "INCREASE_BROKER_COUNT", 1200)
    assert kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["NumberOfBrokerNodes"] == 6
    nodes = kafka.list_nodes(ClusterArn=arn)["NodeInfoList"]
    assert sorted(int(n["BrokerNodeInfo"]["BrokerId"]) for n in nodes) == [1, 2, 3, 4, 5, 6]

    # The page shows the final state: six brokers registered on 3.9.x, 12 GiB, the revision, the operations.
    browser.get(driver, cluster_url)

    def page_final():
        summary = driver.find_element(By.ID, "summary").text
        rows = [[c.text for c in r.find_elements(By.TAG_NAME, "td")]
                for r in driver.find_elements(By.CSS_SELECTOR, "#brokers tbody tr")]
        operations = driver.find_element(By.ID, "operations").text
        return (len(rows) == 6 and all("OK" in r and r[-1] == "3.9.x" for r in rows)
                and "12 GiB" in summary and "revision 1" in summary and "3.9.x" in summary
                and all(t in operations for t in ("UPDATE_BROKER_STORAGE", "UPDATE_CLUSTER_CONFIGURATION",
                                                  "REBOOT_NODE", "UPDATE_CLUSTER_KAFKA_VERSION",
                                                  "INCREASE_BROKER_COUNT")))
    _wait(driver, page_final, 240, "the cluster page showing the actions' final state", reload_every=10)
    return seconds


@pytest.mark.skipif(not browser.available(), reason="chromium + chromedriver (scripts/install) are needed")
def test_console_journey_in_a_real_browser(console_service):
    from confluent_kafka import Consumer, Producer
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    svc, creds = console_service, console_service.credentials
    driver = browser.chrome()
    try:
        # Sign in and create a cluster from the form.
        browser.sign_in(driver, svc.endpoint, creds["access_key_id"], creds["secret_access_key"])
        assert _heading(driver) == "Clusters"
        # Keyboard: the first Tab reaches the skip link (to the page's main content).
        unlabelled: dict = {}
        _audit(driver, unlabelled)
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        assert driver.execute_script("return document.activeElement.getAttribute('href')") == "#main"
        browser.click_and_wait(driver, driver.find_element(By.LINK_TEXT, "Create cluster"))
        _audit(driver, unlabelled)
        driver.find_element(By.ID, "f-name").send_keys("console-e2e")
        # The recommended version is preselected; this cluster takes 3.8.x, so that the version action
        # below has an upgrade to make (3.8.x -> 3.9.x).
        version = Select(driver.find_element(By.ID, "f-version"))
        assert version.first_selected_option.get_attribute("value") == "3.9.x"
        version.select_by_value("3.8.x")
        Select(driver.find_element(By.ID, "f-client_broker")).select_by_value("TLS_PLAINTEXT")
        storage = driver.find_element(By.ID, "f-storage")
        storage.clear()
        storage.send_keys("10")
        browser.click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form.create button[type=submit]"))
        assert _heading(driver) == "console-e2e"
        # The page refreshes itself (console.js): no reload while the cluster is created.
        def active():
            state = driver.find_element(By.CSS_SELECTOR, "#summary .badge").text
            if state == "FAILED":          # the brokers' own error, not a console problem
                info = svc.client("kafka").list_clusters_v2(ClusterNameFilter="console-e2e")["ClusterInfoList"][0]
                pytest.fail(f"cluster creation failed: {info.get('StateInfo')}")
            return state == "ACTIVE"
        _wait(driver, active, 600, "the cluster to become ACTIVE")
        arn = svc.client("kafka").list_clusters_v2(ClusterNameFilter="console-e2e")["ClusterInfoList"][0]["ClusterArn"]
        bootstrap = svc.client("kafka").get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerString"]
        cluster_url = driver.current_url.split("#")[0]
        _audit(driver, unlabelled)

        # Create a topic from the topics tab: the answer is the topics list with the new topic (CREATING until
        # the brokers list it), which refreshes itself -- no reload -- until the name links to its page.
        browser.click_and_wait(driver, driver.find_element(By.LINK_TEXT, "Topics"))
        driver.find_element(By.ID, "f-name").send_keys("e2e-orders")
        browser.click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form.inline button[type=submit]"))
        assert _heading(driver) == "Topics"
        _audit(driver, unlabelled)
        assert "Created topic e2e-orders" in driver.find_element(By.CSS_SELECTOR, ".flash.ok").text
        assert "e2e-orders" in driver.find_element(By.ID, "topic-list").text
        listed = _wait(driver, lambda: driver.find_elements(By.CSS_SELECTOR, "#topic-list a[href$='/topics/e2e-orders']"),
                       120, "the new topic listed (the page's own refresh)")
        browser.click_and_wait(driver, listed[0])
        assert _heading(driver) == "e2e-orders"
        _audit(driver, unlabelled)
        partitions = _wait(driver, lambda: driver.find_elements(By.XPATH, "//caption[.='Partitions']/../tbody/tr"),
                           60, "the partition table", reload_every=5)
        assert len(partitions) == 3

        # Produce with a real client (acks=all), then watch the bytes-in chart.
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
        for i in range(2000):
            producer.produce("e2e-orders", key=f"key-{i}", value=json.dumps({"order": i, "total": i * 3}),
                             headers=[("origin", b"console-test")])
            if i % 200 == 0:
                producer.poll(0)
        assert producer.flush(60) == 0
        driver.get(cluster_url + "/metrics?range=15m")

        def bytes_in_moved():
            lines = driver.find_elements(By.CSS_SELECTOR, "#bytesin-svg polyline")
            return any(float(line.get_attribute("data-max")) > 0 for line in lines)
        _wait(driver, bytes_in_moved, 120, "BytesInPerSec above 0 on the chart", reload_every=6)
        _audit(driver, unlabelled)
        took = {"metrics range and alarms": time.monotonic()}
        _metrics_range_and_alarms(driver, svc, "console-e2e", cluster_url)
        took["metrics range and alarms"] = round(time.monotonic() - took["metrics range and alarms"], 1)

        # Browse: the latest 10 messages, as JSON, with keys and headers.
        driver.get(cluster_url + "/topics/e2e-orders/messages?count=10&as=json")
        _audit(driver, unlabelled)
        rows = driver.find_elements(By.CSS_SELECTOR, "table.messages tbody tr")
        assert len(rows) == 10
        text = driver.find_element(By.CSS_SELECTOR, "table.messages").text
        assert "key-1999" in text and "origin" in text and '"order": 1999' in text
        took["browse modes"] = time.monotonic()
        base = _browse_modes(driver, svc.client("kafka"), arn, bootstrap, cluster_url)
        took["browse modes"] = round(time.monotonic() - took["browse modes"], 1)

        # A consumer group reads everything: lag 0; reset to earliest (previewed first): lag 2000.
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "e2e-group", "auto.offset.reset": "earliest",
                             "enable.auto.commit": False})
        consumer.subscribe(["e2e-orders"])
        seen, deadline = 0, time.monotonic() + 90
        while seen < 2000 and time.monotonic() < deadline:
            msg = consumer.poll(1)
            if msg is not None and not msg.error():
                seen += 1
        consumer.commit(asynchronous=False)
        consumer.close()
        assert seen == 2000
        # The groups list (kept up to 5 s between loads) says lag 0; after the reset below it says 2000.
        group_lag = "//tr[td/a[.='e2e-group']]/td[5]"
        driver.get(cluster_url + "/groups")
        assert driver.find_element(By.XPATH, group_lag).text == "0"
        assert "As read from the brokers at" in driver.find_element(By.ID, "groups-as-of").text
        _audit(driver, unlabelled)
        driver.get(cluster_url + "/groups/e2e-group")
        assert driver.find_element(By.ID, "total-lag").text == "0"
        Select(driver.find_element(By.ID, "f-to")).select_by_value("earliest")
        browser.click_and_wait(driver, driver.find_element(By.XPATH, "//button[.='Preview reset']"))
        preview = driver.find_element(By.ID, "preview").text
        assert "Lag after" in preview
        _audit(driver, unlabelled)
        assert driver.find_element(By.ID, "total-lag").text == "0"          # a preview moves nothing
        browser.click_and_wait(driver, driver.find_element(By.XPATH, "//button[.='Apply this reset']"))
        assert "Reset 3 partition offsets" in driver.find_element(By.CSS_SELECTOR, ".flash.ok").text
        assert driver.find_element(By.ID, "total-lag").text == "2000"
        driver.get(cluster_url + "/groups")                   # the reset dropped the kept list: read afresh
        assert driver.find_element(By.XPATH, group_lag).text == "2000"
        took["resets"] = time.monotonic()
        _reset_modes(driver, bootstrap, cluster_url, base)
        took["resets"] = round(time.monotonic() - took["resets"], 1)
        print("seconds of the browse, reset and metrics checks:", took)

        # MSK's operations from the cluster page's action forms, one after the other on this cluster.
        print("cluster actions (seconds, form to ACTIVE):", _cluster_actions(driver, svc, arn, bootstrap, cluster_url))

        # Broker logs: newest first, older pages through the link, the filter box; 450 events of our own
        # in one stream among the brokers' (pages of 300).
        logs, kafka = svc.client("logs"), svc.client("kafka")
        group = "/console-e2e/brokers"
        logs.create_log_group(logGroupName=group)
        current = kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]
        s3, firehose = svc.client("s3"), svc.client("firehose")
        s3.create_bucket(Bucket="console-e2e-logs")
        s3.create_bucket(Bucket="console-e2e-firehose")
        firehose.create_delivery_stream(DeliveryStreamName="console-e2e", S3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose", "BucketARN": "arn:aws:s3:::console-e2e-firehose",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}})
        kafka.update_monitoring(ClusterArn=arn, CurrentVersion=current, LoggingInfo={"BrokerLogs": {
            "CloudWatchLogs": {"Enabled": True, "LogGroup": group},
            "S3": {"Enabled": True, "Bucket": "console-e2e-logs"},
            "Firehose": {"Enabled": True, "DeliveryStream": "console-e2e"}}})
        svc.wait_state(arn, timeout=600)
        logs.create_log_stream(logGroupName=group, logStreamName="console-paging")
        first = int(time.time() * 1000) - 600_000
        logs.put_log_events(logGroupName=group, logStreamName="console-paging", logEvents=[
            {"timestamp": first + i * 1000, "message": f"paging event {i:03d}"} for i in range(450)])
        driver.get(cluster_url + "/logs")
        driver.find_element(By.ID, "f-filter").send_keys("paging event")
        browser.click_and_wait(driver, driver.find_element(By.XPATH, "//button[.='Filter']"))

        def log_messages() -> list[str]:
            return [c.text for c in driver.find_elements(By.CSS_SELECTOR, "table.logs tbody tr td:nth-child(3)")]
        newest = log_messages()
        _audit(driver, unlabelled)
        assert len(newest) == 300 and newest[0] == "paging event 449" and newest[-1] == "paging event 150", newest[:3]
        browser.click_and_wait(driver, driver.find_element(By.ID, "older-events"))
        older = log_messages()
        assert len(older) == 150 and older[0] == "paging event 149" and older[-1] == "paging event 000", older[:3]
        assert driver.find_elements(By.ID, "range-start") and not driver.find_elements(By.ID, "older-events")
        assert driver.find_element(By.ID, "f-filter").get_attribute("value") == "paging event"

        # Destinations that break show on the cluster's page and the logs page: the log group, the S3 bucket
        # and the Firehose delivery stream deleted under the shipper.
        assert not driver.find_elements(By.ID, "log-delivery-problem")
        logs.delete_log_group(logGroupName=group)
        firehose.delete_delivery_stream(DeliveryStreamName="console-e2e")
        _delete_bucket(s3, "console-e2e-logs")
        kafka.create_topic(ClusterArn=arn, TopicName="e2e-while-missing", PartitionCount=2, ReplicationFactor=2)
        driver.get(cluster_url)

        def every_problem() -> str:
            text = driver.find_element(By.ID, "log-delivery-problem").text
            return text if all(d in text for d in ("CloudWatch Logs log group", "S3 bucket",
                                                   "Firehose delivery stream")) else ""
        problem = _wait(driver, every_problem, 240, "the three log delivery problems on the cluster page",
                        reload_every=15)
        assert group in problem and "console-e2e-logs does not exist" in problem, problem
        assert "delivery stream console-e2e does not exist" in problem, problem
        assert "FAILING" in driver.find_element(By.ID, "logging").text
        driver.get(cluster_url + "/logs")
        on_logs = driver.find_element(By.ID, "log-delivery-problem").text
        assert all(d in on_logs for d in ("CloudWatch Logs log group", "S3 bucket", "Firehose delivery stream")), on_logs
        assert group in driver.find_element(By.ID, "log-group-missing").text

        assert not unlabelled, unlabelled            # every form control of every page has a label

        # An IAM user allowed to read MSK, but not to create topics nor read data, sees the refusals.
        iam = svc.client("iam")
        iam.create_user(UserName="console-reader")
        iam.put_user_policy(UserName="console-reader", PolicyName="read-only", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
                "kafka:List*", "kafka:Describe*", "kafka:Get*", "ec2:Describe*", "cloudwatch:*"]}]}))
        key = iam.create_access_key(UserName="console-reader")["AccessKey"]
        driver.delete_all_cookies()
        browser.sign_in(driver, svc.endpoint, key["AccessKeyId"], key["SecretAccessKey"])
        assert "console-e2e" in driver.find_element(By.TAG_NAME, "main").text        # ListClustersV2 allowed
        driver.get(cluster_url + "/topics")
        driver.find_element(By.ID, "f-name").send_keys("not-allowed")
        browser.click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form.inline button[type=submit]"))
        refusal = driver.find_element(By.CSS_SELECTOR, ".flash.error").text
        assert "AccessDeniedException" in refusal and "kafka:CreateTopic" in refusal
        driver.get(cluster_url + "/topics/e2e-orders/messages")
        assert driver.find_element(By.TAG_NAME, "h1").text == "Request refused"
        assert "kafka-cluster:" in driver.find_element(By.CSS_SELECTOR, ".flash.error").text
        names = [t["TopicName"] for t in svc.client("kafka").list_topics(ClusterArn=arn)["Topics"]]
        assert "not-allowed" not in names
    finally:
        driver.quit()
