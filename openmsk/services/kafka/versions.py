"""Kafka versions on the MSK API: ListKafkaVersions, GetCompatibleKafkaVersions, UpdateClusterKafkaVersion.

Versions are what openmsk can run (control/kafka_settings.py, from the pinned table in
runtime/versions.py), with MSK's statuses; upgrade paths follow MSK's rules: newer versions only, and
a cluster keeps its metadata mode (ZooKeeper clusters move to ZooKeeper versions, `.kraft` clusters
to `.kraft` versions; MSK moves a ZooKeeper cluster to KRaft only by migrating its data to a new
cluster). The upgrade itself is control/upgrade.py's.
"""
from __future__ import annotations

from ...api.core import RequestContext, handler
from ...control import upgrade
from ...control.kafka_settings import BY_VERSION, sorted_versions, upgrade_targets
from ..common import paginate
from .validation import bad_request, check_kafka_version

OPERATION_TYPE = "UPDATE_CLUSTER_KAFKA_VERSION"


class VersionHandlers:
    plane = None       # set by KafkaProvider

    @handler("ListKafkaVersions")
    async def list_kafka_versions(self, ctx: RequestContext, request: dict) -> dict:
        versions = [{"Version": v, "Status": BY_VERSION[v].status} for v in sorted_versions()]
        return paginate(versions, request, "KafkaVersions", bad_token=self._bad_token)

    @handler("GetCompatibleKafkaVersions")
    async def get_compatible_kafka_versions(self, ctx: RequestContext, request: dict) -> dict:
        if request.get("ClusterArn"):
            cluster = self._cluster(ctx, request["ClusterArn"])
            source = cluster["Spec"]["KafkaVersion"]
            return {"CompatibleKafkaVersions": [{"SourceVersion": source, "TargetVersions": upgrade_targets(source)}]}
        return {"CompatibleKafkaVersions": [{"SourceVersion": v, "TargetVersions": upgrade_targets(v)}
                                            for v in sorted_versions()]}

    @handler("UpdateClusterKafkaVersion")
    async def update_cluster_kafka_version(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        self._require_active(cluster, request["CurrentVersion"])
        source, target = cluster["Spec"]["KafkaVersion"], request["TargetKafkaVersion"]
        check_kafka_version(target, "targetKafkaVersion")
        if target == source:
            raise bad_request(f"The cluster is already on Kafka version {source}.", "targetKafkaVersion")
        if target not in upgrade_targets(source):
            allowed = ", ".join(upgrade_targets(source)) or "none"
            raise bad_request(f"Kafka version {source} cannot be updated to {target}. Compatible target versions: "
                              f"{allowed}.", "targetKafkaVersion")
        server_properties = None
        if request.get("ConfigurationInfo"):
            server_properties = self.resolve_configuration(ctx, request["ConfigurationInfo"], target)
        elif (cluster["Spec"].get("ConfigurationInfo") or {}).get("Arn"):
            # The cluster's configuration must support the target version (MSK checks KafkaVersions).
            conf = self.configurations.get(cluster["Spec"]["ConfigurationInfo"]["Arn"])
            if conf and conf.get("KafkaVersions") and target not in conf["KafkaVersions"]:
                raise bad_request(f"The cluster's configuration {conf['Name']} does not support Kafka version "
                                  f"{target}; pass a ConfigurationInfo that does.", "configurationInfo")
        source_info = {"KafkaVersion": source}
        if cluster["Spec"].get("ConfigurationInfo"):
            source_info["ConfigurationInfo"] = dict(cluster["Spec"]["ConfigurationInfo"])
        upgrade.start(cluster, target)
        target_info = {"KafkaVersion": target}
        if request.get("ConfigurationInfo"):
            cluster["Spec"]["ConfigurationInfo"] = dict(request["ConfigurationInfo"])
            cluster["ServerProperties"] = server_properties
            target_info["ConfigurationInfo"] = dict(request["ConfigurationInfo"])
        op = self.plane.start_update(cluster, OPERATION_TYPE, target_info, source_info)
        return {"ClusterArn": cluster["ClusterArn"], "ClusterOperationArn": op["OperationArn"]}

