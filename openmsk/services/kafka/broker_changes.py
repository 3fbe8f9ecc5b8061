"""Changes to a running cluster's brokers, each a ClusterOperation: UpdateClusterConfiguration and
UpdateBrokerType (storage is in storage.py, public access in connectivity.py), and the V2 views of
cluster operations.

MSK's rules for all of them: one operation at a time (a second one while the cluster is UPDATING is
a ConflictException), only an ACTIVE cluster, only with its CurrentVersion. What happens underneath:
a configuration revision's dynamic keys are set live through Kafka's admin API (no restart; the
reconciler's APPLY_DYNAMIC_BROKER_CONFIGS step), its static keys and a new broker type change the
brokers' desired spec, which the reconciler rolls one broker at a time (ROLL_BROKERS).
"""
from __future__ import annotations

from ...api.core import RequestContext, handler
from ...control import model
from ..common import paginate
from . import serverless
from .validation import INSTANCE_TYPES, bad_request, conflict, not_found

CONFIGURATION_STEPS = [*model.CREATE_STEPS, model.APPLY_DYNAMIC_CONFIGS, model.ROLL_BROKERS]
#: MSK's message for a stale CurrentVersion (quoted in hashicorp/terraform-provider-aws#25061)
STALE_VERSION = "The version of the cluster isn’t current. Check the current version and try again."


def require_updatable(cluster: dict, current_version: str) -> None:
    """MSK's preconditions of every update: no operation running, ACTIVE, the current version."""
    if cluster.get("ActiveOperationArn") or cluster["State"] in (model.UPDATING, model.REBOOTING_BROKER,
                                                                   model.MAINTENANCE):
        raise conflict(f"The cluster {cluster['ClusterArn']} has an operation in progress "
                       f"({cluster.get('ActiveOperationArn', cluster['State'])}). Only one operation can run on a "
                       "cluster at a time; retry when it has completed.", "clusterArn")
    if cluster["State"] != model.ACTIVE:
        raise bad_request(f"The cluster {cluster['ClusterArn']} is in {cluster['State']} state. You can update it "
                          "only when it is ACTIVE.", "clusterArn")
    if current_version != cluster["CurrentVersion"]:
        raise bad_request(STALE_VERSION, "currentVersion")


def operation_v2(op: dict, summary: bool = False, cluster_type: str = serverless.PROVISIONED) -> dict:
    """A stored ClusterOperationInfo as ClusterOperationV2 (or its summary for the list). `cluster_type`: the
    cluster's (ClusterOperationV2[Summary].ClusterType); a serverless cluster's operation has no `Provisioned`
    member (its steps and broker-level source/target are provisioned-cluster details)."""
    out = {"ClusterArn": op["ClusterArn"], "ClusterType": cluster_type,
           "StartTime": model.parse_iso(op["CreationTime"]), "OperationArn": op["OperationArn"],
           "OperationState": op["OperationState"], "OperationType": op["OperationType"]}
    if op.get("EndTime"):
        out["EndTime"] = model.parse_iso(op["EndTime"])
    if summary:
        return out
    if op.get("ErrorInfo"):
        out["ErrorInfo"] = dict(op["ErrorInfo"])
    if cluster_type == serverless.SERVERLESS:
        return out
    provisioned = {"OperationSteps": list(op.get("OperationSteps") or [])}
    for key in ("SourceClusterInfo", "TargetClusterInfo"):
        if op.get(key) is not None:
            provisioned[key] = op[key]
    out["Provisioned"] = provisioned
    return out


class BrokerChangeHandlers:
    plane = None           # set by KafkaProvider

    @handler("UpdateClusterConfiguration")
    async def update_cluster_configuration(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        require_updatable(cluster, request["CurrentVersion"])
        info = {"Arn": request["ConfigurationInfo"]["Arn"], "Revision": request["ConfigurationInfo"]["Revision"]}
        text = self.resolve_configuration(ctx, info, cluster["Spec"]["KafkaVersion"])
        current = cluster["Spec"].get("ConfigurationInfo")
        if current and current["Arn"] == info["Arn"] and current["Revision"] == info["Revision"]:
            raise bad_request(f"The cluster already uses revision {info['Revision']} of configuration "
                              f"{info['Arn']}.", "configurationInfo")
        source = {"ConfigurationInfo": dict(current)} if current else {}
        cluster["Spec"]["ConfigurationInfo"] = info
        cluster["ServerProperties"] = text
        op = self.plane.start_update(cluster, "UPDATE_CLUSTER_CONFIGURATION", {"ConfigurationInfo": dict(info)},
                                     source, CONFIGURATION_STEPS)
        return {"ClusterArn": cluster["ClusterArn"], "ClusterOperationArn": op["OperationArn"]}

    @handler("UpdateBrokerType")
    async def update_broker_type(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        require_updatable(cluster, request["CurrentVersion"])
        target = request["TargetInstanceType"]
        if target not in INSTANCE_TYPES:
            raise bad_request(f"The instance type {target} is not supported. Specify one of: "
                              + ", ".join(sorted(INSTANCE_TYPES)) + ".", "targetInstanceType")
        group = cluster["Spec"]["BrokerNodeGroupInfo"]
        if group["InstanceType"] == target:
            raise bad_request(f"The cluster's brokers are already of type {target}.", "targetInstanceType")
        source = {"InstanceType": group["InstanceType"]}
        group["InstanceType"] = target
        op = self.plane.start_update(cluster, "UPDATE_BROKER_TYPE", {"InstanceType": target}, source)
        return {"ClusterArn": cluster["ClusterArn"], "ClusterOperationArn": op["OperationArn"]}

    # -- operations, V2 --------------------------------------------------------------------------
    @handler("ListClusterOperationsV2")
    async def list_cluster_operations_v2(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        ops = sorted(self.plane.operations(cluster["ClusterArn"]), key=lambda o: o["CreationTime"], reverse=True)
        kind = serverless.operation_cluster_type(cluster)
        return paginate([operation_v2(o, summary=True, cluster_type=o.get("ClusterType") or kind) for o in ops], request,
                        "ClusterOperationInfoList",
                        bad_token=self._bad_token)

    @handler("DescribeClusterOperationV2")
    async def describe_cluster_operation_v2(self, ctx: RequestContext, request: dict) -> dict:
        arn = request["ClusterOperationArn"]
        op = self.plane.get_operation(arn)
        if op is None or arn.split(":")[3] != ctx.region:
            raise not_found(f"The cluster operation {arn} does not exist.", "clusterOperationArn")
        # the type stored with the operation (it outlives the cluster); operations stored before it was kept
        # there take the cluster's, while it exists
        kind = op.get("ClusterType") or serverless.operation_cluster_type(self.plane.load_cluster(op["ClusterArn"]))
        return {"ClusterOperationInfo": operation_v2(op, cluster_type=kind)}

