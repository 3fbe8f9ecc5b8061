"""The web console (issue 16) in a real browser -- Debian's headless chromium driven by Selenium through
Debian's chromedriver: sign in, create a cluster from the form and watch it become ACTIVE without
reloading, create a topic, produce with confluent-kafka and see the bytes-in chart move, browse the
messages, reset a group's offsets (previewed first) and see the lag change, page through the broker logs
newest first, see broken log destinations (CloudWatch Logs, S3, Firehose) on the cluster's and the logs
page, and an IAM user refused exactly as the same API call would be."""
from __future__ import annotations

import json
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

        # Browse: the latest 10 messages, as JSON, with keys and headers.
        driver.get(cluster_url + "/topics/e2e-orders/messages?count=10&as=json")
        _audit(driver, unlabelled)
        rows = driver.find_elements(By.CSS_SELECTOR, "table.messages tbody tr")
        assert len(rows) == 10
        text = driver.find_element(By.CSS_SELECTOR, "table.messages").text
        assert "key-1999" in text and "origin" in text and '"order": 1999' in text

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
