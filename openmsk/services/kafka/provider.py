"""KafkaProvider: the `kafka` (Amazon MSK) API, one method per operation.

Requests arrive parsed and model-validated (boto3 form); this module applies MSK's semantic rules,
writes desired state through the ControlPlane and returns at once. It never starts a process.
"""
from __future__ import annotations

import copy
import json
import uuid
from typing import Callable

from ...api.core import Provider, RequestContext, handler
from ...control import model
from ...control.layout import place_nodes
from ...control.kafka_settings import is_kraft
from ...control.plane import ControlPlane
from ..acm_pca import PrivateCertificateAuthorities
from ..common import page_result, page_window, paginate
from ..secretsmanager import SecretStore
from . import serverless, views
from .broker_changes import BrokerChangeHandlers
from .configuration_store import ConfigurationStore
from .connectivity import ConnectivityHandlers
from .configurations import ConfigurationHandlers
from .security import SecurityHandlers
from .storage import StorageHandlers
from .monitoring import MonitoringHandlers
from .policies import PolicyHandlers
from .scaling import ScalingHandlers
from .topics import TopicHandlers
from .versions import VersionHandlers
from .vpc_connections import VpcConnectionHandlers
from .validation import (bad_request, check_broker_node_group, check_cluster_name, check_kafka_version,
                         check_logging, check_security, conflict, not_found)

CREATE_STEPS = model.CREATE_STEPS
DEFAULT_VOLUME_GIB = 1000          # MSK console default; the API requires nothing


class KafkaProvider(VersionHandlers, SecurityHandlers, ConfigurationHandlers, MonitoringHandlers, TopicHandlers, PolicyHandlers,
                    BrokerChangeHandlers, StorageHandlers, ConnectivityHandlers, ScalingHandlers,
                    VpcConnectionHandlers, Provider):
    service_name = "kafka"

    def __init__(self, plane: ControlPlane, configurations: ConfigurationStore, secrets: SecretStore,
                 client_cas: PrivateCertificateAuthorities) -> None:
        self.plane = plane                    # clusters and their operations (desired state)
        self.configurations = configurations  # the service's own documents
        self.secrets = secrets                # SCRAM secrets are checked, never written
        self._client_cas = client_cas
        # ListClusters(V2) over HTTP: (operation, ARN) -> (stored JSON text, cluster type, ClusterInfo in
        # wire form). A document whose text has not changed is neither decoded nor rendered nor encoded
        # again, so listing hundreds of clusters costs little more than reading their rows.
        self._list_entries: dict[tuple[str, str], tuple[str, str, dict]] = {}

    def client_ca_active(self, arn: str) -> bool:
        try:
            return self._client_cas.active(arn)
        except Exception:                     # a malformed ARN is simply not an ACTIVE CA
            return False

    # -- lookups ---------------------------------------------------------------------------------
    def _cluster(self, ctx: RequestContext, arn: str, parameter: str = "clusterArn") -> dict:
        cluster = self.plane.load_cluster(arn)
        if cluster is None or cluster["Region"] != ctx.region or cluster["AccountId"] != ctx.account_id:
            raise not_found(f"The cluster {arn} does not exist.", parameter)
        serverless.refuse_provisioned_only(cluster, ctx.operation_name)
        return cluster

    # -- clusters --------------------------------------------------------------------------------
    def _create(self, ctx: RequestContext, name: str, spec: dict, tags: dict, serverless_body: dict | None = None) -> dict:
        check_cluster_name(name)
        check_kafka_version(spec["KafkaVersion"])
        subnets = check_broker_node_group(spec["BrokerNodeGroupInfo"], spec["NumberOfBrokerNodes"],
                                                      self.plane.network, ctx.region)
        check_security(spec, self.client_ca_active, ctx.region)
        check_logging(spec.get("LoggingInfo"), self.log_destinations, ctx.region)
        server_properties = ""
        if spec.get("ConfigurationInfo"):
            server_properties = self.resolve_configuration(ctx, spec["ConfigurationInfo"], spec["KafkaVersion"])
        if any(c["ClusterName"] == name for c in self.plane.clusters(ctx.region)):
            raise conflict(f"A cluster named {name} already exists.", "clusterName")

        # MSK's cluster ids end in -<n> (provisioned) or -s<n> (serverless)
        cluster_uuid = f"{uuid.uuid4()}-{'s' if serverless_body else ''}{len(self.plane.clusters(ctx.region)) % 25 + 1}"
        volume = ((spec["BrokerNodeGroupInfo"].get("StorageInfo") or {}).get("EbsStorageInfo") or {}).get("VolumeSize")
        vpc_id = next(iter(subnets.values()))["VpcId"]
        default_sg = next(g["GroupId"] for g in self.plane.network.security_groups(ctx.region)
                          if g["GroupName"] == "default" and g["VpcId"] == vpc_id)
        arn = model.cluster_arn(ctx.region, ctx.account_id, name, cluster_uuid)
        cluster = {
            "ClusterArn": arn,
            "ClusterName": name, "Region": ctx.region, "AccountId": ctx.account_id, "Uuid": cluster_uuid,
            "Slot": self.plane.allocate_slot(arn), "State": model.CREATING, "CreationTime": model.now_iso(),
            "CurrentVersion": model.new_current_version(), "Spec": spec, "Tags": dict(tags or {}),
            "VolumeSize": volume or DEFAULT_VOLUME_GIB, "DefaultSecurityGroups": [default_sg],
            "ServerProperties": server_properties, "Events": [],
        }
        if serverless_body is not None:
            cluster.update(ClusterType=serverless.SERVERLESS, Serverless=serverless_body)
        place_nodes(cluster, subnets, cluster["Slot"], self.plane.address_allocator(ctx.region))
        for broker in cluster["Brokers"]:
            broker["NodeArn"] = model.node_arn(cluster, str(uuid.uuid4()))
            broker["EniId"] = f"eni-{uuid.uuid4().hex[:17]}"
            broker["AddedToClusterTime"] = cluster["CreationTime"]
        for controller in cluster.get("Controllers") or []:
            controller["NodeArn"] = model.node_arn(cluster, str(uuid.uuid4()))
        self.plane.create_cluster(cluster, model.steps_for(CREATE_STEPS, is_kraft(spec["KafkaVersion"])))
        return cluster

    @handler("CreateCluster")
    async def create_cluster(self, ctx: RequestContext, request: dict) -> dict:
        spec = {k: copy.deepcopy(v) for k, v in request.items() if k not in ("ClusterName", "Tags")}
        cluster = self._create(ctx, request["ClusterName"], spec, request.get("Tags") or {})
        return {"ClusterArn": cluster["ClusterArn"], "ClusterName": cluster["ClusterName"], "State": cluster["State"]}

    @handler("CreateClusterV2")
    async def create_cluster_v2(self, ctx: RequestContext, request: dict) -> dict:
        if request.get("Serverless") and request.get("Provisioned"):
            raise bad_request("Specify either Provisioned or Serverless, not both.", "provisioned")
        if request.get("Serverless"):
            spec, body = serverless.provisioned_spec(request["Serverless"], self.plane.network, ctx.region)
            cluster = self._create(ctx, request["ClusterName"], spec, request.get("Tags") or {}, serverless_body=body)
            return {"ClusterArn": cluster["ClusterArn"], "ClusterName": cluster["ClusterName"],
                    "State": cluster["State"], "ClusterType": serverless.SERVERLESS}
        if not request.get("Provisioned"):
            raise bad_request("Specify either Provisioned or Serverless.", "provisioned")
        spec = copy.deepcopy(request["Provisioned"])
        for member in ("BrokerNodeGroupInfo", "KafkaVersion", "NumberOfBrokerNodes"):
            if member not in spec:
                raise bad_request(f"Missing required parameter in input: \"{member}\"",
                                  member[0].lower() + member[1:])
        cluster = self._create(ctx, request["ClusterName"], spec, request.get("Tags") or {})
        return {"ClusterArn": cluster["ClusterArn"], "ClusterName": cluster["ClusterName"], "State": cluster["State"],
                "ClusterType": "PROVISIONED"}

    @handler("DescribeCluster")
    async def describe_cluster(self, ctx: RequestContext, request: dict) -> dict:
        return {"ClusterInfo": views.cluster_info(self._cluster(ctx, request["ClusterArn"]))}

    @handler("DescribeClusterV2")
    async def describe_cluster_v2(self, ctx: RequestContext, request: dict) -> dict:
        return {"ClusterInfo": views.cluster_v2(self._cluster(ctx, request["ClusterArn"]))}

    def _list_entries_of(self, ctx: RequestContext, rows: list[tuple[str, str]], render: Callable[[dict], dict],
                         total: int) -> list[tuple[str, dict]]:
        """(cluster type, ClusterInfo in wire form) of each (ARN, stored text) row, rendered again only
        when the stored text changed."""
        shape = ctx.operation.output_shape.members["ClusterInfoList"].member
        if len(self._list_entries) > 4 * total + 1000:      # entries of deleted clusters
            self._list_entries.clear()
        if not ctx.serialized:             # an in-process caller gets fresh dicts it may keep or change
            return [(serverless.operation_cluster_type(c), render(c)) for c in (json.loads(t) for _, t in rows)]
        out = []
        for arn, text in rows:
            key = (ctx.operation_name, arn)
            kept = self._list_entries.get(key)
            if kept is None or kept[0] != text:
                cluster = json.loads(text)
                kept = self._list_entries[key] = (text, serverless.operation_cluster_type(cluster),
                                                  ctx.wire_form(shape, render(cluster)))
            out.append((kept[1], kept[2]))
        return out

    @handler("ListClusters")
    async def list_clusters(self, ctx: RequestContext, request: dict) -> dict:
        # Only the page is read and rendered (a region may hold hundreds of clusters).
        start, limit = page_window(request, bad_token=self._bad_token)
        rows, total = self.plane.clusters_page(ctx.region, ctx.account_id, request.get("ClusterNameFilter") or "",
                                               offset=start, limit=limit)
        entries = self._list_entries_of(ctx, rows, views.cluster_info, total)
        # V1 shows provisioned clusters only (serverless ones are seen through ListClustersV2)
        return page_result([info for kind, info in entries if kind != serverless.SERVERLESS],
                           "ClusterInfoList", start, limit, total)

    @handler("ListClustersV2")
    async def list_clusters_v2(self, ctx: RequestContext, request: dict) -> dict:
        type_filter = request.get("ClusterTypeFilter")
        if type_filter and type_filter not in ("PROVISIONED", "SERVERLESS"):
            raise bad_request("ClusterTypeFilter must be PROVISIONED or SERVERLESS.", "clusterTypeFilter")
        # The type filter applies before paging, so every row is read (as text; decoded only if changed).
        rows, total = self.plane.clusters_page(ctx.region, ctx.account_id, request.get("ClusterNameFilter") or "",
                                               offset=0, limit=-1)
        entries = self._list_entries_of(ctx, rows, views.cluster_v2, total)
        return paginate([info for kind, info in entries if not type_filter or kind == type_filter], request,
                        "ClusterInfoList", bad_token=self._bad_token)

    @handler("DeleteCluster")
    async def delete_cluster(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        if request.get("CurrentVersion") and request["CurrentVersion"] != cluster["CurrentVersion"]:
            raise bad_request(f"The current version {request['CurrentVersion']} does not match the cluster's version "
                              f"{cluster['CurrentVersion']}.", "currentVersion")
        if cluster["State"] != model.DELETING:
            self.plane.delete_cluster(cluster)
            self.deactivate_vpc_connections(cluster)      # vpc_connections.py: their data path goes with it
        return {"ClusterArn": cluster["ClusterArn"], "State": model.DELETING}

    @handler("GetBootstrapBrokers")
    async def get_bootstrap_brokers(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        if cluster["State"] == model.CREATING:
            raise bad_request("The cluster is still being created; bootstrap brokers are available once it is ACTIVE.",
                              "clusterArn")
        return views.bootstrap_brokers(cluster)

    @handler("ListNodes")
    async def list_nodes(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        nodes = [views.node_info(cluster, b) for b in sorted(cluster["Brokers"], key=lambda b: b["BrokerId"])]
        nodes += [views.controller_node_info(cluster, c) for c in cluster.get("Controllers") or []]
        return paginate(nodes, request, "NodeInfoList", bad_token=self._bad_token)

    # -- operations ------------------------------------------------------------------------------
    @handler("ListClusterOperations")
    async def list_cluster_operations(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        ops = sorted(self.plane.operations(cluster["ClusterArn"]), key=lambda o: o["CreationTime"], reverse=True)
        return paginate([views.operation_info(o) for o in ops], request, "ClusterOperationInfoList",
                        bad_token=self._bad_token)

    @handler("DescribeClusterOperation")
    async def describe_cluster_operation(self, ctx: RequestContext, request: dict) -> dict:
        arn = request["ClusterOperationArn"]
        op = self.plane.get_operation(arn)
        if op is None or arn.split(":")[3] != ctx.region:
            raise not_found(f"The cluster operation {arn} does not exist.", "clusterOperationArn")
        return {"ClusterOperationInfo": views.operation_info(op)}

    # -- tags ------------------------------------------------------------------------------------
    def _taggable(self, ctx: RequestContext, arn: str) -> tuple[dict, Callable[[dict], None]]:
        """The cluster or configuration document with this ARN, and how to save it."""
        for doc, save in ((self.plane.load_cluster(arn), self.plane.save_cluster),
                          (self.configurations.get(arn), self.configurations.put)):
            if doc is not None and doc["Region"] == ctx.region:
                return doc, save
        raise not_found(f"The resource {arn} does not exist.", "resourceArn")

    @handler("TagResource")
    async def tag_resource(self, ctx: RequestContext, request: dict) -> dict:
        doc, save = self._taggable(ctx, request["ResourceArn"])
        tags = doc.setdefault("Tags", {})
        if len({**tags, **request["Tags"]}) > 50:
            raise bad_request("A resource can have at most 50 tags.", "tags")
        tags.update(request["Tags"])
        save(doc)
        return {}

    @handler("UntagResource")
    async def untag_resource(self, ctx: RequestContext, request: dict) -> dict:
        doc, save = self._taggable(ctx, request["ResourceArn"])
        for key in request["TagKeys"]:
            doc.setdefault("Tags", {}).pop(key, None)
        save(doc)
        return {}

    @handler("ListTagsForResource")
    async def list_tags_for_resource(self, ctx: RequestContext, request: dict) -> dict:
        doc, _ = self._taggable(ctx, request["ResourceArn"])
        return {"Tags": dict(doc.get("Tags") or {})}
