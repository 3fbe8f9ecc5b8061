"""SNS state and publishing: topics and subscriptions in the Store handed in by the composition root
(kinds `sns-topic`, `sns-subscription`), signed envelopes, jobs for `Delivery`.

`publish()` and `ensure_topic()` are the narrow interface other services use (the CloudWatch alarm
engine reaches SNS only through them, wired in the composition root).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import uuid
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from .delivery import DEFAULT_HTTP_POLICY, Delivery, Job, loopback_url, remote_endpoints_allowed  # noqa: F401
from .signing import Signer

TOPIC, SUBSCRIPTION = "sns-topic", "sns-subscription"
PROTOCOLS = ("http", "https", "email", "email-json", "file")
DELIVERY_LOG = 20
PATH = "/_openmsk/sns"


def timestamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def default_policy(arn: str, account: str) -> str:
    return json.dumps({"Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": [{
        "Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"},
        "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission",
                   "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"],
        "Resource": arn, "Condition": {"StringEquals": {"AWS:SourceOwner": account}}}]})


class SnsBackend:
    def __init__(self, store, data_dir: Path, endpoint: Callable[[], str]) -> None:
        self._store = store
        self.data_dir = Path(data_dir)
        self._endpoint = endpoint                  # "http://127.0.0.1:9700", known once the server listens
        self.signer = Signer(Path(data_dir) / "sns")
        self.delivery = Delivery(self.record_delivery, Path(data_dir) / "sns" / "mail")

    def file_allowed(self, path: str) -> bool:
        """`file` endpoints: under the data directory or a root listed in OPENMSK_SNS_FILE_ROOTS (`:`-separated)."""
        real = os.path.realpath(path)
        roots = [str(self.data_dir)] + [r for r in os.environ.get("OPENMSK_SNS_FILE_ROOTS", "").split(":") if r]
        return any(os.path.commonpath([real, os.path.realpath(r)]) == os.path.realpath(r) for r in roots)

    # -- URLs served by openmsk itself ------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"{self._endpoint()}{PATH}/{path}"

    def cert_url(self) -> str:
        return self.url(self.signer.cert_name)

    def subscribe_url(self, topic_arn: str, token: str) -> str:
        return self.url(f"confirm?Action=ConfirmSubscription&TopicArn={quote(topic_arn)}&Token={token}")

    def unsubscribe_url(self, sub_arn: str) -> str:
        return self.url(f"unsubscribe?Action=Unsubscribe&SubscriptionArn={quote(sub_arn)}")

    # -- topics ------------------------------------------------------------------------------------
    def topic(self, arn: str) -> dict | None:
        return self._store.get(TOPIC, arn)

    def topics(self, region: str) -> list[dict]:
        return sorted(self._store.list(TOPIC, region=region), key=lambda t: t["TopicArn"])

    def save_topic(self, doc: dict) -> None:
        self._store.put(TOPIC, doc["TopicArn"], doc, region=doc["Region"])

    def create_topic(self, region: str, account: str, name: str, attributes: dict | None = None,
                     tags: dict | None = None) -> str:
        arn = f"arn:aws:sns:{region}:{account}:{name}"
        if self.topic(arn) is None:
            self.save_topic({"TopicArn": arn, "Name": name, "Region": region, "Owner": account,
                             "Attributes": {"Policy": default_policy(arn, account), "DisplayName": "",
                                            "SignatureVersion": "1", **(attributes or {})},
                             "Tags": tags or {}, "Deleted": 0})
        return arn

    def ensure_topic(self, region: str, account: str, name: str) -> str:
        return self.create_topic(region, account, name)

    def delete_topic(self, arn: str) -> None:
        for sub in self.subscriptions(topic_arn=arn):
            self._store.delete(SUBSCRIPTION, sub["SubscriptionArn"])
        self._store.delete(TOPIC, arn)

    def topic_attributes(self, doc: dict) -> dict[str, str]:
        subs = self.subscriptions(topic_arn=doc["TopicArn"])
        attrs = {"TopicArn": doc["TopicArn"], "Owner": doc["Owner"], **doc["Attributes"],
                 "SubscriptionsConfirmed": str(sum(1 for s in subs if s["Confirmed"])),
                 "SubscriptionsPending": str(sum(1 for s in subs if not s["Confirmed"])),
                 "SubscriptionsDeleted": str(doc.get("Deleted", 0)),
                 "EffectiveDeliveryPolicy": json.dumps(self._topic_policy(doc))}
        return attrs

    @staticmethod
    def _topic_policy(doc: dict) -> dict:
        given = json.loads(doc["Attributes"].get("DeliveryPolicy") or "{}").get("http", {})
        return {"http": {"defaultHealthyRetryPolicy": {**DEFAULT_HTTP_POLICY,
                                                       **given.get("defaultHealthyRetryPolicy", {})},
                         "disableSubscriptionOverrides": given.get("disableSubscriptionOverrides", False)}}

    # -- subscriptions -----------------------------------------------------------------------------
    def subscription(self, arn: str) -> dict | None:
        return self._store.get(SUBSCRIPTION, arn)

    def subscriptions(self, region: str | None = None, topic_arn: str | None = None) -> list[dict]:
        return self._store.list(SUBSCRIPTION, region=region, parent=topic_arn)

    def save_subscription(self, doc: dict) -> None:
        self._store.put(SUBSCRIPTION, doc["SubscriptionArn"], doc, region=doc["Region"], parent=doc["TopicArn"])

    def subscribe(self, topic: dict, protocol: str, endpoint: str, attributes: dict) -> dict:
        for sub in self.subscriptions(topic_arn=topic["TopicArn"]):
            if sub["Protocol"] == protocol and sub["Endpoint"] == endpoint:
                if not sub["Confirmed"]:
                    self._send_confirmation(topic, sub)
                return sub
        sub = {"SubscriptionArn": f"{topic['TopicArn']}:{uuid.uuid4()}", "TopicArn": topic["TopicArn"],
               "Region": topic["Region"], "Owner": topic["Owner"], "Protocol": protocol, "Endpoint": endpoint,
               "Attributes": dict(attributes), "Confirmed": protocol == "file",   # openmsk's own target: no handshake
               "Token": secrets.token_hex(64), "Deliveries": [], "Counts": {}}
        self.save_subscription(sub)
        if not sub["Confirmed"]:
            self._send_confirmation(topic, sub)
        return sub

    def confirm(self, topic_arn: str, token: str) -> dict | None:
        for sub in self.subscriptions(topic_arn=topic_arn):
            if secrets.compare_digest(sub["Token"].encode(), token.encode("utf-8", "replace")):
                sub["Confirmed"] = True
                self.save_subscription(sub)
                return sub
        return None

    def unsubscribe(self, sub: dict) -> None:
        self._store.delete(SUBSCRIPTION, sub["SubscriptionArn"])
        topic = self.topic(sub["TopicArn"])
        if topic is not None:
            topic["Deleted"] = topic.get("Deleted", 0) + 1
            self.save_topic(topic)

    def subscription_attributes(self, sub: dict) -> dict[str, str]:
        topic = self.topic(sub["TopicArn"]) or {"Attributes": {}}
        return {"SubscriptionArn": sub["SubscriptionArn"], "TopicArn": sub["TopicArn"], "Owner": sub["Owner"],
                "Protocol": sub["Protocol"], "Endpoint": sub["Endpoint"],
                "PendingConfirmation": str(not sub["Confirmed"]).lower(),
                "ConfirmationWasAuthenticated": "false", "RawMessageDelivery": "false", **sub["Attributes"],
                "EffectiveDeliveryPolicy": json.dumps({"healthyRetryPolicy": self._retry_policy(topic, sub)}),
                "openmsk:DeliveryLog": json.dumps(sub["Deliveries"]),
                "openmsk:DeliveryCounts": json.dumps(sub["Counts"])}

    def _retry_policy(self, topic: dict, sub: dict) -> dict:
        http = self._topic_policy(topic)["http"] if "TopicArn" in topic else {"defaultHealthyRetryPolicy": DEFAULT_HTTP_POLICY}
        policy = dict(http["defaultHealthyRetryPolicy"])
        if not http.get("disableSubscriptionOverrides"):
            policy.update(json.loads(sub["Attributes"].get("DeliveryPolicy") or "{}").get("healthyRetryPolicy", {}))
        return policy

    def record_delivery(self, sub_arn: str, entry: dict) -> None:
        sub = self.subscription(sub_arn)
        if sub is None:
            return
        sub["Deliveries"] = (sub["Deliveries"] + [entry])[-DELIVERY_LOG:]
        sub["Counts"][entry["Status"]] = sub["Counts"].get(entry["Status"], 0) + 1
        self.save_subscription(sub)

    # -- messages ----------------------------------------------------------------------------------
    def _send_confirmation(self, topic: dict, sub: dict) -> None:
        env = {"Type": "SubscriptionConfirmation", "MessageId": str(uuid.uuid4()), "Token": sub["Token"],
               "TopicArn": topic["TopicArn"],
               "Message": f"You have chosen to subscribe to the topic {topic['TopicArn']}.\n"
                          "To confirm the subscription, visit the SubscribeURL included in this message.",
               "SubscribeURL": self.subscribe_url(topic["TopicArn"], sub["Token"]), "Timestamp": timestamp(),
               "SigningCertURL": self.cert_url()}
        self.signer.sign(env, topic["Attributes"].get("SignatureVersion", "1"))
        body = json.dumps(env, indent=2)
        if sub["Protocol"] == "email":
            body = (f"You have chosen to subscribe to the topic:\n{topic['TopicArn']}\n\n"
                    f"To confirm this subscription, click or visit the link below:\n{env['SubscribeURL']}\n")
        self.delivery.submit(Job(sub["SubscriptionArn"], sub["Protocol"], sub["Endpoint"], env, body,
                                 self._retry_policy(topic, sub),
                                 subject="AWS Notification - Subscription Confirmation"))

    def publish(self, topic_arn: str, message: str, subject: str | None = None, *,
                per_protocol: dict[str, str] | None = None, attributes: dict | None = None) -> str:
        """Send `message` to every confirmed subscription of the topic; returns the MessageId.
        LookupError if the topic does not exist."""
        topic = self.topic(topic_arn)
        if topic is None:
            raise LookupError(topic_arn)
        message_id = str(uuid.uuid4())
        for sub in self.subscriptions(topic_arn=topic_arn):
            if not sub["Confirmed"]:
                continue
            text = (per_protocol or {}).get(sub["Protocol"], message)
            env = {"Type": "Notification", "MessageId": message_id, "TopicArn": topic_arn}
            if subject:
                env["Subject"] = subject
            env.update(Message=text, Timestamp=timestamp(), SigningCertURL=self.cert_url(),
                       UnsubscribeURL=self.unsubscribe_url(sub["SubscriptionArn"]))
            self.signer.sign(env, topic["Attributes"].get("SignatureVersion", "1"))
            if attributes:
                env["MessageAttributes"] = attributes
            raw = sub["Attributes"].get("RawMessageDelivery") == "true"
            body = text if raw else json.dumps(env, indent=2)
            if sub["Protocol"] == "email":
                body = (f"{text}\n\n--\nIf you wish to stop receiving notifications from this topic, please click "
                        f"or visit the link below to unsubscribe:\n{env['UnsubscribeURL']}\n")
            self.delivery.submit(Job(sub["SubscriptionArn"], sub["Protocol"], sub["Endpoint"], env, body,
                                     self._retry_policy(topic, sub), subject=subject or ""))
        return message_id
