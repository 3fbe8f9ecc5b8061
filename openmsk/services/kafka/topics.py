"""MSK's topic APIs (CreateTopic, DescribeTopic, DescribeTopicPartitions, ListTopics, UpdateTopic,
DeleteTopic) on the cluster's real Kafka topics.

Nothing is stored: every call asks the brokers through `topic_admin` (control/topic_admin.py, an
AdminClient in a child process). `Configs` travels as MSK documents it, a Base64 string; its content
here is a JSON object of topic configs (`{"retention.ms": "86400000"}`), and a Java-properties text
is accepted too. Kafka's refusals become MSK's error shapes: a bad partition count, replication factor
or config is a BadRequestException with Kafka's own message, an existing topic a TopicExistsException,
an unknown one a NotFoundException.
"""
from __future__ import annotations

import base64
import binascii
import json
import re

from ...api.core import RequestContext, ServiceException, handler
from ...control import model
from ...control.topic_admin import AdminUnavailable, KafkaAdminError
from ..common import paginate
from .validation import bad_request, not_found

TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
# Brokers are not (yet, or any more) running in these states.
NO_BROKERS = (model.CREATING, model.DELETING, model.FAILED)
INTERNAL_TOPICS = ("__consumer_offsets", "__transaction_state")

BAD_REQUEST_CODES = {"INVALID_PARTITIONS", "INVALID_REPLICATION_FACTOR", "INVALID_CONFIG", "INVALID_TOPIC_EXCEPTION",
                     "INVALID_REQUEST", "POLICY_VIOLATION", "TOPIC_DELETION_DISABLED", "INVALID_REPLICA_ASSIGNMENT",
                     "_INVALID_ARG", "UNSUPPORTED_VERSION"}
PASSED_THROUGH = {"TOPIC_ALREADY_EXISTS": ("TopicExistsException", 409),
                  "NOT_CONTROLLER": ("NotControllerException", 409),
                  "REASSIGNMENT_IN_PROGRESS": ("ReassignmentInProgressException", 409),
                  "GROUP_SUBSCRIBED_TO_TOPIC": ("GroupSubscribedToTopicException", 409),
                  "REQUEST_TIMED_OUT": ("KafkaTimeoutException", 409),
                  "_TIMED_OUT": ("KafkaTimeoutException", 409)}


# MSK's maximum partition replicas per broker (leaders and followers) by broker size (best-practices guide).
MAX_REPLICAS_PER_BROKER = {"small": 300, "large": 1000, "xlarge": 1000, "2xlarge": 2000}
MAX_REPLICAS_PER_BROKER_DEFAULT = 4000         # 4xlarge and up


def check_partition_replicas(cluster: dict, partitions: int, replication: int) -> None:
    """A request for more partition replicas than the whole cluster may hold is refused before Kafka
    sees it (Kafka would otherwise try to place millions of partitions)."""
    instance = cluster["Spec"]["BrokerNodeGroupInfo"]["InstanceType"]
    per_broker = MAX_REPLICAS_PER_BROKER.get(instance.rsplit(".", 1)[-1], MAX_REPLICAS_PER_BROKER_DEFAULT)
    brokers = len(cluster["Brokers"])
    if partitions * replication > per_broker * brokers:
        raise bad_request(f"The topic would have {partitions * replication} partition replicas; {brokers} {instance} "
                          f"brokers hold at most {per_broker * brokers} ({per_broker} per broker).", "partitionCount")


def topic_arn(cluster: dict, name: str) -> str:
    return (f"arn:aws:kafka:{cluster['Region']}:{cluster['AccountId']}:topic/{cluster['ClusterName']}/"
            f"{cluster['Uuid']}/{name}")


def decode_configs(blob: str | None) -> dict[str, str]:
    """MSK's Base64 `Configs` -> {name: value}; BadRequestException when it is not one."""
    if not blob:
        return {}
    try:
        text = base64.b64decode(blob.encode(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad_request("Configs must be a Base64-encoded JSON object of topic configurations.", "configs")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = _properties(text)
    if not isinstance(doc, dict) or not all(isinstance(v, (str, int, float, bool)) for v in doc.values()):
        raise bad_request("Configs must be a Base64-encoded JSON object of topic configurations.", "configs")
    return {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in doc.items()}


def _properties(text: str) -> dict | None:
    props = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            return None
        props[key.strip()] = value.strip()
    return props or None


def encode_configs(configs: dict[str, str]) -> str:
    return base64.b64encode(json.dumps(dict(sorted(configs.items()))).encode()).decode()


def check_topic_name(name: str) -> None:
    if name in (".", "..") or not TOPIC_NAME.match(name):
        raise bad_request(f"Invalid topic name '{name}': a topic name has 1 to 249 characters, each a letter, "
                          "digit, '.', '_' or '-', and is not '.' or '..'.", "topicName")


def _status(partitions: list) -> str:
    return "ACTIVE" if partitions and all(leader >= 0 for _, leader, _, _ in partitions) else "CREATING"


class TopicHandlers:
    plane = None         # set by KafkaProvider
    topic_admin = None   # control.topic_admin.TopicAdmin, handed in by the composition root

    def with_topics(self, topic_admin, cluster_policies):
        """Hand the provider its topic admin (control/topic_admin.py) and its cluster-policy documents
        (policies.ClusterPolicyStore); called by the composition root."""
        self.topic_admin, self.cluster_policies = topic_admin, cluster_policies
        return self

    def _topic_cluster(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        if cluster["State"] in NO_BROKERS:
            raise bad_request(f"The cluster {cluster['ClusterArn']} is in the {cluster['State']} state; topics can be "
                              "managed once it is ACTIVE.", "clusterArn")
        if self.topic_admin is None:
            raise ServiceException("ServiceUnavailableException", "Topic administration is not available.", 503)
        return cluster

    async def _admin(self, call, *args, topic: str | None = None, **kw):
        """Run a TopicAdmin call; Kafka's refusals and connectivity problems become MSK's errors."""
        try:
            return await call(*args, **kw)
        except KafkaAdminError as err:
            raise self._kafka_error(err, topic) from None
        except AdminUnavailable as err:
            code = "KafkaTimeoutException" if err.timed_out else "ClusterConnectivityException"
            raise ServiceException(code, f"Could not reach the cluster's brokers: {err}", 409) from None

    @staticmethod
    def _kafka_error(err: KafkaAdminError, topic: str | None) -> ServiceException:
        if err.code == "UNKNOWN_TOPIC_OR_PART":
            return not_found(f"Topic {topic} does not exist.", "topicName")
        if err.code in BAD_REQUEST_CODES:
            return bad_request(err.args[0], "topicName" if err.code == "INVALID_TOPIC_EXCEPTION" else None)
        if err.code in PASSED_THROUGH:
            code, status = PASSED_THROUGH[err.code]
            return ServiceException(code, err.args[0], status)
        if err.code.startswith("_"):       # librdkafka's local errors: transport, all brokers down, ...
            return ServiceException("ClusterConnectivityException", err.args[0], 409)
        return ServiceException("KafkaRequestException", f"{err.code}: {err.args[0]}", 400)

    # -- handlers ----------------------------------------------------------------------------------
    @handler("CreateTopic")
    async def create_topic(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._topic_cluster(ctx, request)
        name = request["TopicName"]
        check_topic_name(name)
        configs = decode_configs(request.get("Configs"))
        check_partition_replicas(cluster, request["PartitionCount"], request["ReplicationFactor"])
        await self._admin(self.topic_admin.create_topic, cluster, name, request["PartitionCount"],
                          request["ReplicationFactor"], configs, topic=name)
        return {"TopicArn": topic_arn(cluster, name), "TopicName": name, "Status": "CREATING"}

    @handler("ListTopics")
    async def list_topics(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._topic_cluster(ctx, request)
        listing = await self._admin(self.topic_admin.list_topics, cluster)
        prefix = request.get("TopicNameFilter") or ""
        infos = [{"TopicArn": topic_arn(cluster, name), "TopicName": name,
                  "ReplicationFactor": max((len(r) for _, _, r, _ in parts), default=0),
                  "PartitionCount": len(parts),
                  "OutOfSyncReplicaCount": sum(len(set(r) - set(isr)) for _, _, r, isr in parts)}
                 for name, parts in sorted(listing["topics"].items()) if name.startswith(prefix)]
        return paginate(infos, request, "Topics", bad_token=self._bad_token)

    @handler("DescribeTopic")
    async def describe_topic(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._topic_cluster(ctx, request)
        name = request["TopicName"]
        described = await self._admin(self.topic_admin.describe_topic, cluster, name, topic=name)
        parts = described["partitions"]
        return {"TopicArn": topic_arn(cluster, name), "TopicName": name,
                "ReplicationFactor": max((len(r) for _, _, r, _ in parts), default=0), "PartitionCount": len(parts),
                "Configs": encode_configs(described["configs"]), "Status": _status(parts)}

    @handler("DescribeTopicPartitions")
    async def describe_topic_partitions(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._topic_cluster(ctx, request)
        name = request["TopicName"]
        described = await self._admin(self.topic_admin.describe_topic, cluster, name, topic=name)
        infos = [{"Partition": p, "Leader": leader, "Replicas": replicas, "Isr": isr}
                 for p, leader, replicas, isr in described["partitions"]]
        return paginate(infos, request, "Partitions", bad_token=self._bad_token)

    @handler("UpdateTopic")
    async def update_topic(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._topic_cluster(ctx, request)
        name = request["TopicName"]
        configs = decode_configs(request.get("Configs"))
        partitions = request.get("PartitionCount")
        if partitions is None and not configs:
            raise bad_request("Specify PartitionCount, Configs or both.", "partitionCount")
        if partitions is not None and partitions < 1:
            raise bad_request("PartitionCount must be at least 1.", "partitionCount")
        if partitions is not None:
            check_partition_replicas(cluster, partitions, 1)
        await self._admin(self.topic_admin.update_topic, cluster, name, partitions, configs or None, topic=name)
        return {"TopicArn": topic_arn(cluster, name), "TopicName": name, "Status": "UPDATING"}

    @handler("DeleteTopic")
    async def delete_topic(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._topic_cluster(ctx, request)
        name = request["TopicName"]
        if name in INTERNAL_TOPICS:
            raise bad_request(f"Topic {name} is an internal Kafka topic and cannot be deleted.", "topicName")
        await self._admin(self.topic_admin.delete_topic, cluster, name, topic=name)
        return {"TopicArn": topic_arn(cluster, name), "TopicName": name, "Status": "DELETING"}
