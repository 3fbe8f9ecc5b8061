"""SnsProvider: the `sns` API subset (query protocol) over SnsBackend, plus the unsigned pages SNS
serves itself (signing certificate, SubscribeURL, UnsubscribeURL) under `/_openmsk/sns/`.

Errors use SNS's codes: InvalidParameter (400), NotFound (404), ResourceNotFound (404 for tags).
"""
from __future__ import annotations

import base64
import json
import re

from aiohttp import web

from ...api.core import Provider, RequestContext, ServiceException, handler
from .backend import PATH, PROTOCOLS, SnsBackend, loopback_url, remote_endpoints_allowed
from .delivery import check_policy

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_TOPIC_ARN = re.compile(r"^arn:aws:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,256})$")
PAGE = 100
TOPIC_ATTRIBUTES = ("DisplayName", "Policy", "DeliveryPolicy", "SignatureVersion", "TracingConfig")
SUBSCRIPTION_ATTRIBUTES = ("DeliveryPolicy", "RawMessageDelivery")
MAX_MESSAGE = 256 * 1024


def invalid(message: str) -> ServiceException:
    return ServiceException("InvalidParameter", f"Invalid parameter: {message}")


def not_found(message: str) -> ServiceException:
    return ServiceException("NotFound", message)


def _page(items: list, request: dict, key: str) -> dict:
    token = request.get("NextToken") or "0"
    if not token.isdigit() or int(token) > len(items):
        raise invalid("NextToken")
    start = int(token)
    out = {key: items[start:start + PAGE]}
    if start + PAGE < len(items):
        out["NextToken"] = str(start + PAGE)
    return out


class SnsProvider(Provider):
    service_name = "sns"

    def __init__(self, backend: SnsBackend) -> None:
        self.backend = backend

    # -- unsigned pages: certificate, confirm and unsubscribe links -------------------------------
    def public_routes(self) -> list[tuple[str, str, object]]:
        return [("GET", f"{PATH}/confirm", self._confirm_link), ("GET", f"{PATH}/unsubscribe", self._unsubscribe_link),
                ("GET", f"{PATH}/{{name}}", self._certificate)]

    async def _certificate(self, request: web.Request) -> web.Response:
        if request.match_info["name"] != self.backend.signer.cert_name:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=self.backend.signer.cert_pem, content_type="application/x-pem-file")

    async def _confirm_link(self, request: web.Request) -> web.Response:
        sub = self.backend.confirm(request.query.get("TopicArn", ""), request.query.get("Token", ""))
        if sub is None:
            return web.Response(status=404, text="<ErrorResponse><Error><Type>Sender</Type><Code>NotFound</Code>"
                                                  "<Message>Subscription not found</Message></Error></ErrorResponse>",
                                content_type="text/xml")
        return web.Response(text=f"<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>"
                                 f"{sub['SubscriptionArn']}</SubscriptionArn></ConfirmSubscriptionResult>"
                                 "</ConfirmSubscriptionResponse>", content_type="text/xml")

    async def _unsubscribe_link(self, request: web.Request) -> web.Response:
        sub = self.backend.subscription(request.query.get("SubscriptionArn", ""))
        if sub is not None:
            self.backend.unsubscribe(sub)
        return web.Response(text="<UnsubscribeResponse><ResponseMetadata/></UnsubscribeResponse>",
                            content_type="text/xml")

    # -- helpers -----------------------------------------------------------------------------------
    def _topic(self, ctx: RequestContext, arn: str, parameter: str = "TopicArn") -> dict:
        m = _TOPIC_ARN.match(arn or "")
        if not m:
            raise invalid(parameter)
        topic = self.backend.topic(arn)
        if topic is None or m.group(1) != ctx.region:
            raise not_found("Topic does not exist")
        return topic

    def _subscription(self, ctx: RequestContext, arn: str) -> dict:
        if not (arn or "").startswith("arn:aws:sns:") or arn.count(":") != 6:
            raise invalid("SubscriptionArn")
        sub = self.backend.subscription(arn)
        if sub is None or sub["Region"] != ctx.region:
            raise not_found("Subscription does not exist")
        return sub

    @staticmethod
    def _check_attribute(name: str, value: str, allowed: tuple[str, ...]) -> None:
        if name not in allowed:
            raise invalid(f"AttributeName{'' if name else ' (empty)'}: {name} is not supported by openmsk")
        if name == "DeliveryPolicy" and value:
            try:
                policy = json.loads(value)
                retry = policy.get("healthyRetryPolicy") or policy.get("http", {}).get("defaultHealthyRetryPolicy") or {}
                check_policy(retry)
            except (ValueError, AttributeError, TypeError) as e:
                raise invalid(f"DeliveryPolicy: {e}")
        if name == "SignatureVersion" and value not in ("1", "2"):
            raise invalid("SignatureVersion: valid values are 1 and 2")
        if name == "RawMessageDelivery" and value not in ("true", "false"):
            raise invalid("RawMessageDelivery: valid values are true and false")
        if name == "Policy" and value:
            try:
                json.loads(value)
            except ValueError:
                raise invalid("Policy: not valid JSON")

    @staticmethod
    def _tags(tags: list[dict] | None) -> dict[str, str]:
        out = {}
        for t in tags or []:
            if not 1 <= len(t["Key"]) <= 128 or len(t["Value"]) > 256 or t["Key"].startswith("aws:"):
                raise invalid("Tags: keys are 1-128 characters, not starting with aws:; values at most 256")
            out[t["Key"]] = t["Value"]
        if len(out) > 50:
            raise ServiceException("TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded")
        return out

    # -- topics ------------------------------------------------------------------------------------
    @handler("CreateTopic")
    async def create_topic(self, ctx: RequestContext, request: dict) -> dict:
        name = request["Name"]
        if name.endswith(".fifo") or (request.get("Attributes") or {}).get("FifoTopic") == "true":
            raise invalid("FIFO topics are not supported by openmsk")
        if not _NAME.match(name):
            raise invalid("Topic Name")
        attributes = request.get("Attributes") or {}
        for k, v in attributes.items():
            self._check_attribute(k, v, TOPIC_ATTRIBUTES)
        tags = self._tags(request.get("Tags"))
        arn = self.backend.create_topic(ctx.region, ctx.account_id, name, attributes, tags)
        if tags:
            topic = self.backend.topic(arn)
            topic["Tags"].update(tags)
            self.backend.save_topic(topic)
        return {"TopicArn": arn}

    @handler("DeleteTopic")
    async def delete_topic(self, ctx: RequestContext, request: dict) -> dict:
        topic = self._topic(ctx, request["TopicArn"])
        self.backend.delete_topic(topic["TopicArn"])
        return {}

    @handler("ListTopics")
    async def list_topics(self, ctx: RequestContext, request: dict) -> dict:
        return _page([{"TopicArn": t["TopicArn"]} for t in self.backend.topics(ctx.region)], request, "Topics")

    @handler("GetTopicAttributes")
    async def get_topic_attributes(self, ctx: RequestContext, request: dict) -> dict:
        return {"Attributes": self.backend.topic_attributes(self._topic(ctx, request["TopicArn"]))}

    @handler("SetTopicAttributes")
    async def set_topic_attributes(self, ctx: RequestContext, request: dict) -> dict:
        topic = self._topic(ctx, request["TopicArn"])
        name, value = request["AttributeName"], request.get("AttributeValue") or ""
        self._check_attribute(name, value, TOPIC_ATTRIBUTES)
        topic["Attributes"][name] = value
        self.backend.save_topic(topic)
        return {}

    # -- subscriptions -----------------------------------------------------------------------------
    @handler("Subscribe")
    async def subscribe(self, ctx: RequestContext, request: dict) -> dict:
        topic = self._topic(ctx, request["TopicArn"])
        protocol, endpoint = request["Protocol"], request.get("Endpoint") or ""
        if protocol not in PROTOCOLS:
            raise invalid(f"Amazon SNS does not support this protocol string: {protocol}"
                          if protocol not in ("sqs", "lambda", "sms", "application", "firehose")
                          else f"Protocol {protocol} is not delivered by openmsk (http, https, email, email-json, file)")
        ok = {"http": endpoint.startswith("http://"), "https": endpoint.startswith("https://"),
              "email": re.match(r"^[^@\s]+@[^@\s]+$", endpoint) is not None,
              "email-json": re.match(r"^[^@\s]+@[^@\s]+$", endpoint) is not None,
              "file": endpoint.startswith("/")}[protocol]
        if not ok:
            raise invalid(f"Invalid {protocol} endpoint" if protocol != "file" else "file endpoints are absolute paths")
        if protocol in ("http", "https") and not (loopback_url(endpoint) or remote_endpoints_allowed()):
            raise invalid("Endpoint: openmsk delivers only to loopback addresses unless "
                          "OPENMSK_SNS_REMOTE_ENDPOINTS=1 is set")
        if protocol == "file" and not self.backend.file_allowed(endpoint):
            raise invalid("Endpoint: file endpoints must be under the data directory or a root in "
                          "OPENMSK_SNS_FILE_ROOTS")
        attributes = request.get("Attributes") or {}
        for k, v in attributes.items():
            self._check_attribute(k, v, SUBSCRIPTION_ATTRIBUTES)
        sub = self.backend.subscribe(topic, protocol, endpoint, attributes)
        if sub["Confirmed"] or request.get("ReturnSubscriptionArn"):
            return {"SubscriptionArn": sub["SubscriptionArn"]}
        return {"SubscriptionArn": "pending confirmation"}

    @handler("ConfirmSubscription")
    async def confirm_subscription(self, ctx: RequestContext, request: dict) -> dict:
        topic = self._topic(ctx, request["TopicArn"])
        sub = self.backend.confirm(topic["TopicArn"], request["Token"])
        if sub is None:
            raise invalid("Token")
        return {"SubscriptionArn": sub["SubscriptionArn"]}

    @handler("Unsubscribe")
    async def unsubscribe(self, ctx: RequestContext, request: dict) -> dict:
        self.backend.unsubscribe(self._subscription(ctx, request["SubscriptionArn"]))
        return {}

    @staticmethod
    def _listed(sub: dict) -> dict:
        return {"SubscriptionArn": sub["SubscriptionArn"] if sub["Confirmed"] else "PendingConfirmation",
                "Owner": sub["Owner"], "Protocol": sub["Protocol"], "Endpoint": sub["Endpoint"],
                "TopicArn": sub["TopicArn"]}

    @handler("ListSubscriptions")
    async def list_subscriptions(self, ctx: RequestContext, request: dict) -> dict:
        return _page([self._listed(s) for s in self.backend.subscriptions(region=ctx.region)], request,
                     "Subscriptions")

    @handler("ListSubscriptionsByTopic")
    async def list_subscriptions_by_topic(self, ctx: RequestContext, request: dict) -> dict:
        topic = self._topic(ctx, request["TopicArn"])
        return _page([self._listed(s) for s in self.backend.subscriptions(topic_arn=topic["TopicArn"])], request,
                     "Subscriptions")

    @handler("GetSubscriptionAttributes")
    async def get_subscription_attributes(self, ctx: RequestContext, request: dict) -> dict:
        return {"Attributes": self.backend.subscription_attributes(self._subscription(ctx, request["SubscriptionArn"]))}

    @handler("SetSubscriptionAttributes")
    async def set_subscription_attributes(self, ctx: RequestContext, request: dict) -> dict:
        sub = self._subscription(ctx, request["SubscriptionArn"])
        name, value = request["AttributeName"], request.get("AttributeValue") or ""
        self._check_attribute(name, value, SUBSCRIPTION_ATTRIBUTES)
        sub["Attributes"][name] = value
        self.backend.save_subscription(sub)
        return {}

    # -- publishing --------------------------------------------------------------------------------
    @handler("Publish")
    async def publish(self, ctx: RequestContext, request: dict) -> dict:
        if request.get("PhoneNumber"):
            raise invalid("PhoneNumber: SMS is not delivered by openmsk")
        arn = request.get("TopicArn") or request.get("TargetArn")
        if not arn:
            raise invalid("TopicArn or TargetArn Reason: no value for required parameter")
        topic = self._topic(ctx, arn, "TopicArn" if request.get("TopicArn") else "TargetArn")
        message, subject = request["Message"], request.get("Subject")
        if not message:
            raise invalid("Empty message")
        if len(message.encode("utf-8")) > MAX_MESSAGE:
            raise invalid("Message too long")
        if subject is not None and (not subject or len(subject) > 100 or not subject.isprintable()
                                    or not subject.isascii()):
            raise invalid("Subject")
        per_protocol = None
        if request.get("MessageStructure") is not None:
            if request["MessageStructure"] != "json":
                raise invalid("MessageStructure")
            try:
                per_protocol = json.loads(message)
                if not isinstance(per_protocol, dict) or not isinstance(per_protocol.get("default"), str):
                    raise ValueError
                per_protocol = {k: v for k, v in per_protocol.items() if isinstance(v, str)}
            except ValueError:
                raise invalid("Message Structure - No default entry in JSON message body")
            message = per_protocol["default"]
        attributes = {}
        for name, value in (request.get("MessageAttributes") or {}).items():
            kind = value.get("DataType", "")
            if kind.split(".")[0] not in ("String", "Number", "Binary"):
                raise ServiceException("ParameterValueInvalid",
                                       f"The message attribute '{name}' has an invalid message attribute type")
            attributes[name] = {"Type": kind, "Value": value.get("StringValue") if kind.split(".")[0] != "Binary"
                                else base64.b64encode(value.get("BinaryValue") or b"").decode()}
        message_id = self.backend.publish(topic["TopicArn"], message, subject, per_protocol=per_protocol,
                                          attributes=attributes or None)
        return {"MessageId": message_id}

    # -- tags --------------------------------------------------------------------------------------
    def _tagged(self, ctx: RequestContext, arn: str) -> dict:
        topic = self.backend.topic(arn or "")
        if topic is None or topic["Region"] != ctx.region:
            raise ServiceException("ResourceNotFound", "Resource does not exist")
        return topic

    @handler("TagResource")
    async def tag_resource(self, ctx: RequestContext, request: dict) -> dict:
        topic = self._tagged(ctx, request["ResourceArn"])
        topic["Tags"].update(self._tags(request["Tags"]))
        if len(topic["Tags"]) > 50:
            raise ServiceException("TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded")
        self.backend.save_topic(topic)
        return {}

    @handler("UntagResource")
    async def untag_resource(self, ctx: RequestContext, request: dict) -> dict:
        topic = self._tagged(ctx, request["ResourceArn"])
        for key in request["TagKeys"]:
            topic["Tags"].pop(key, None)
        self.backend.save_topic(topic)
        return {}

    @handler("ListTagsForResource")
    async def list_tags_for_resource(self, ctx: RequestContext, request: dict) -> dict:
        topic = self._tagged(ctx, request["ResourceArn"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(topic["Tags"].items())]}
