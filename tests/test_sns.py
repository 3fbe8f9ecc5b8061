"""The embedded SNS subset against a real `openmsk serve`, with boto3 and the aws CLI: topics,
subscriptions with SNS's confirmation handshake at a local webhook, signed messages checked with
PyPI's aws-sns-message-validator and with AWS's documented algorithm, email to the maildir, the
`file` target, tags, SNS's error codes, and a dead endpoint's retries recorded in the delivery log."""
from __future__ import annotations

import email
import email.policy
import json
import time
import uuid

import botocore.exceptions
import pytest
from cryptography.exceptions import InvalidSignature

from harness import Service, free_port
from sns_helpers import Webhook, verify_documented, verify_stock


@pytest.fixture(scope="module")
def sns_service(tmp_path_factory):
    root = tmp_path_factory.mktemp("sns")
    (root / "files").mkdir()
    svc = Service(root / "data", free_port()).start(env={"OPENMSK_SNS_RETRY_SCALE": "0.01",
                                                        "OPENMSK_SNS_FILE_ROOTS": str(root / "files")})
    svc.files = root / "files"
    yield svc
    svc.stop_everything()


@pytest.fixture(scope="module")
def sns(sns_service):
    return sns_service.client("sns")


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


def _code(exc) -> str:
    return exc.value.response["Error"]["Code"]


def _subscribe_confirmed(sns, topic: str, hook: Webhook) -> str:
    assert sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=hook.url)["SubscriptionArn"] == "pending confirmation"
    confirmation = hook.next("SubscriptionConfirmation")
    return sns.confirm_subscription(TopicArn=topic, Token=confirmation["Token"])["SubscriptionArn"]


def test_http_subscription_handshake_and_signed_notification(sns_service, sns, webhook):
    topic = sns.create_topic(Name=f"ops-{uuid.uuid4().hex[:6]}")["TopicArn"]
    assert topic.startswith("arn:aws:sns:us-east-1:") and sns.create_topic(Name=topic.split(":")[-1])["TopicArn"] == topic
    assert {"TopicArn": topic} in sns.list_topics()["Topics"]
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=webhook.url)
    confirmation = webhook.next("SubscriptionConfirmation")
    assert confirmation["_headers"]["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert confirmation["TopicArn"] == topic and confirmation["SignatureVersion"] == "1"
    assert confirmation["SigningCertURL"].startswith(sns_service.endpoint + "/_openmsk/sns/SimpleNotificationService-")
    verify_stock(confirmation, sns_service.endpoint)
    verify_documented(confirmation)
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [s["SubscriptionArn"] for s in listed] == ["PendingConfirmation"]
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsPending"] == "1"

    # The SubscribeURL is an unsigned GET, as on AWS.
    import urllib.request
    with urllib.request.urlopen(confirmation["SubscribeURL"], timeout=10) as resp:
        assert b"<SubscriptionArn>" in resp.read()
    sub = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"][0]["SubscriptionArn"]
    assert sub.startswith(topic + ":")

    message_id = sns.publish(TopicArn=topic, Subject="disk", Message="broker 1 disk at 90 %")["MessageId"]
    note = webhook.next("Notification")
    assert note["MessageId"] == message_id and note["Message"] == "broker 1 disk at 90 %" and note["Subject"] == "disk"
    assert note["_headers"]["x-amz-sns-subscription-arn"] == sub
    verify_stock(note, sns_service.endpoint)
    verify_documented(note)
    tampered = {**note, "Message": "broker 1 disk at 10 %"}
    with pytest.raises(InvalidSignature):
        verify_documented(tampered)

    # SignatureVersion 2: SHA256withRSA (checked with the documented algorithm).
    sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="2")
    sns.publish(TopicArn=topic, Message="v2")
    v2 = webhook.next("Notification")
    assert v2["SignatureVersion"] == "2"
    verify_documented(v2)

    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["PendingConfirmation"] == "false" and attrs["Endpoint"] == webhook.url
    deadline = time.monotonic() + 10
    while json.loads(attrs["openmsk:DeliveryCounts"]).get("Delivered", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert json.loads(attrs["openmsk:DeliveryCounts"])["Delivered"] >= 2
    assert json.loads(attrs["openmsk:DeliveryLog"])[-1]["StatusCode"] == 200

    sns.unsubscribe(SubscriptionArn=sub)
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    sns.publish(TopicArn=topic, Message="nobody listens")
    time.sleep(1)
    assert webhook.drain() == []
    sns.delete_topic(TopicArn=topic)
    assert {"TopicArn": topic} not in sns.list_topics()["Topics"]


def test_dead_endpoint_is_retried_and_the_failure_recorded(sns):
    topic = sns.create_topic(Name=f"dead-{uuid.uuid4().hex[:6]}")["TopicArn"]
    sns.set_topic_attributes(TopicArn=topic, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(
        {"http": {"defaultHealthyRetryPolicy": {"numRetries": 4, "numNoDelayRetries": 1, "minDelayTarget": 20,
                                                "maxDelayTarget": 40, "backoffFunction": "linear"}}}))
    hook = Webhook(status=500)
    try:
        sub = _subscribe_confirmed(sns, topic, hook)
        sns.publish(TopicArn=topic, Message="will fail")
        attempts = []
        deadline = time.monotonic() + 30
        while len(attempts) < 5 and time.monotonic() < deadline:
            try:
                attempts.append(hook.next("Notification", timeout=deadline - time.monotonic())["_at"])
            except AssertionError:
                break
        assert len(attempts) == 5                     # the first attempt + numRetries
        gaps = [b - a for a, b in zip(attempts, attempts[1:])]
        assert gaps[0] < 0.15                         # the immediate retry
        assert gaps[1] >= 0.18 and gaps[-1] >= 0.35   # backoff 20 s .. 40 s at scale 0.01
    finally:
        hook.close()
    deadline = time.monotonic() + 10
    log = []
    while not any(e["Status"] == "Failed" for e in log) and time.monotonic() < deadline:
        time.sleep(0.2)
        log = json.loads(sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]["openmsk:DeliveryLog"])
    failed = [e for e in log if e["Status"] == "Failed"]
    assert failed and failed[-1]["Attempts"] == 5 and failed[-1]["StatusCode"] == 500


def test_email_file_and_cli(sns_service):
    env = sns_service.env
    topic = sns_service.aws("sns", "create-topic", "--name", "mail-test", env=env).json["TopicArn"]
    out = sns_service.files / "alarms.jsonl"
    sub = sns_service.aws("sns", "subscribe", "--topic-arn", topic, "--protocol", "file", "--notification-endpoint",
                          str(out), env=env)
    assert sub.returncode == 0 and sub.json["SubscriptionArn"].startswith(topic)     # no handshake for `file`
    mail = sns_service.aws("sns", "subscribe", "--topic-arn", topic, "--protocol", "email",
                           "--notification-endpoint", "ops@example.org", env=env)
    assert mail.json["SubscriptionArn"] == "pending confirmation"
    box = sns_service.data_dir / "sns" / "mail" / "ops@example.org" / "new"
    deadline = time.monotonic() + 10
    while not (box.exists() and list(box.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.1)
    confirm = email.message_from_bytes(next(box.iterdir()).read_bytes(), policy=email.policy.default)
    assert confirm["Subject"] == "AWS Notification - Subscription Confirmation"
    link = next(line for line in confirm.get_content().splitlines() if "/_openmsk/sns/confirm" in line)
    import urllib.request
    urllib.request.urlopen(link, timeout=10).read()
    # email-json: the signed JSON envelope is the mail body, the confirmation's too.
    sns_service.aws("sns", "subscribe", "--topic-arn", topic, "--protocol", "email-json",
                    "--notification-endpoint", "json@example.org", env=env)
    json_box = sns_service.data_dir / "sns" / "mail" / "json@example.org" / "new"
    deadline = time.monotonic() + 10
    while not (json_box.exists() and list(json_box.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.1)
    confirmation = json.loads(email.message_from_bytes(next(json_box.iterdir()).read_bytes(),
                                                       policy=email.policy.default).get_content())
    assert confirmation["Type"] == "SubscriptionConfirmation"
    verify_documented(confirmation)
    urllib.request.urlopen(confirmation["SubscribeURL"], timeout=10).read()
    published = sns_service.aws("sns", "publish", "--topic-arn", topic, "--subject", "hello", "--message", "first",
                                env=env)
    assert published.returncode == 0, published.stderr
    deadline = time.monotonic() + 10
    while len(list(box.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    bodies = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in box.iterdir()]
    note = next(m for m in bodies if m["Subject"] == "hello")
    assert note.get_content().startswith("first")
    deadline = time.monotonic() + 10
    while len(list(json_box.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    envelopes = [json.loads(email.message_from_bytes(p.read_bytes(), policy=email.policy.default).get_content())
                 for p in json_box.iterdir()]
    envelope = next(e for e in envelopes if e["Type"] == "Notification")
    assert envelope["Message"] == "first" and envelope["Subject"] == "hello"
    verify_documented(envelope)
    line = json.loads(out.read_text().splitlines()[0])
    assert line["Message"] == "first" and line["Type"] == "Notification"
    verify_documented(line)
    listed = sns_service.aws("sns", "list-subscriptions", env=env).json["Subscriptions"]
    assert {s["Protocol"] for s in listed if s["TopicArn"] == topic} == {"file", "email", "email-json"}


def test_tags_and_errors(sns_service, sns):
    topic = sns.create_topic(Name=f"tags-{uuid.uuid4().hex[:6]}", Tags=[{"Key": "team", "Value": "kafka"}])["TopicArn"]
    sns.tag_resource(ResourceArn=topic, Tags=[{"Key": "env", "Value": "test"}])
    assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == [{"Key": "env", "Value": "test"},
                                                                      {"Key": "team", "Value": "kafka"}]
    sns.untag_resource(ResourceArn=topic, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == [{"Key": "env", "Value": "test"}]
    missing = topic + "-gone"
    cases = [
        (lambda: sns.publish(TopicArn=missing, Message="x"), "NotFound", 404),
        (lambda: sns.publish(TopicArn="not-an-arn", Message="x"), "InvalidParameter", 400),
        (lambda: sns.create_topic(Name="bad name!"), "InvalidParameter", 400),
        (lambda: sns.subscribe(TopicArn=topic, Protocol="carrier-pigeon", Endpoint="x"), "InvalidParameter", 400),
        (lambda: sns.subscribe(TopicArn=topic, Protocol="http", Endpoint="ftp://x"), "InvalidParameter", 400),
        # openmsk sends only to loopback endpoints, and writes `file` targets only under allowed roots.
        (lambda: sns.subscribe(TopicArn=topic, Protocol="https", Endpoint="https://example.com/hook"),
         "InvalidParameter", 400),
        (lambda: sns.subscribe(TopicArn=topic, Protocol="file", Endpoint="/etc/passwd"), "InvalidParameter", 400),
        (lambda: sns.subscribe(TopicArn=topic, Protocol="file", Endpoint=str(sns_service.files / ".." / "escape")),
         "InvalidParameter", 400),
        (lambda: sns.confirm_subscription(TopicArn=topic, Token="nope"), "InvalidParameter", 400),
        (lambda: sns.set_topic_attributes(TopicArn=topic, AttributeName="DeliveryPolicy",
                                          AttributeValue='{"http": {"defaultHealthyRetryPolicy": {"numRetries": -1}}}'),
         "InvalidParameter", 400),
        (lambda: sns.publish(TopicArn=topic, Message="x", MessageStructure="json"), "InvalidParameter", 400),
        (lambda: sns.list_tags_for_resource(ResourceArn=missing), "ResourceNotFound", 404),
    ]
    for call, code, status in cases:
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            call()
        assert _code(exc) == code, exc.value.response
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.get_topic_attributes(TopicArn=missing)


def test_email_through_a_configured_smtp_server(tmp_path):
    """OPENMSK_SMTP_SERVER: mail goes to that server instead of the maildir (a minimal SMTP server on
    127.0.0.1 here, speaking just enough of RFC 5321 for smtplib)."""
    import asyncio
    import socketserver
    import threading

    from openmsk.services.sns.delivery import Delivery, Job

    received = []

    class Smtp(socketserver.StreamRequestHandler):
        def handle(self):
            self.wfile.write(b"220 test ESMTP\r\n")
            data = None
            while line := self.rfile.readline():
                if data is not None:
                    if line == b".\r\n":
                        received.append(b"".join(data))
                        data = None
                        self.wfile.write(b"250 queued\r\n")
                    else:
                        data.append(line)
                    continue
                verb = line[:4].upper()
                if verb == b"DATA":
                    data = []
                    self.wfile.write(b"354 go ahead\r\n")
                elif verb == b"QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:
                    self.wfile.write(b"250 ok\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Smtp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    log = []
    try:
        async def run():
            delivery = Delivery(lambda arn, entry: log.append(entry), tmp_path / "mail",
                                smtp=f"127.0.0.1:{server.server_address[1]}")
            envelope = {"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:1:t"}
            delivery.submit(Job("arn:aws:sns:us-east-1:1:t:s", "email", "ops@example.org", envelope,
                                "disk at 90 %", subject="ALARM: disk"))
            for _ in range(100):
                if log:
                    break
                await asyncio.sleep(0.05)
            await delivery.stop()
        asyncio.run(run())
    finally:
        server.shutdown()
        server.server_close()
    assert log and log[0]["Status"] == "Delivered"
    mail = email.message_from_bytes(received[0], policy=email.policy.default)
    assert mail["Subject"] == "ALARM: disk" and mail["To"] == "ops@example.org"
    assert mail.get_content().startswith("disk at 90 %")
    assert not (tmp_path / "mail").exists()            # nothing went to the maildir
