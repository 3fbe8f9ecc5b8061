"""ApplicationAutoScalingProvider: the `application-autoscaling` API (JSON 1.1), the part MSK storage
auto scaling uses: a scalable target `kafka:broker-storage:VolumeSize` on a cluster ARN and a
target-tracking policy on KafkaBrokerStorageUtilization (DG msk-autoexpand: target 10-80 %, at most
16,384 GiB per broker). Other namespaces, dimensions and policy types are refused with a
ValidationException naming what is supported. The scaling itself is backend.StorageAutoScaler.
"""
from __future__ import annotations

import copy
import datetime as dt
import uuid
from typing import Callable

from ...api.core import Provider, RequestContext, ServiceException, handler
from ..common import paginate
from .backend import DIMENSION, METRIC_TYPE, NAMESPACE, ScalingStore, target_key

MAX_VOLUME_GIB = 16384
MIN_TARGET, MAX_TARGET = 10.0, 80.0


def validation(message: str) -> ServiceException:
    return ServiceException("ValidationException", message)


def _now() -> float:
    return dt.datetime.now(dt.timezone.utc).timestamp()


def _ts(value: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(value, dt.timezone.utc)


class ApplicationAutoScalingProvider(Provider):
    service_name = "application-autoscaling"

    def __init__(self, scaling: ScalingStore, clusters: Callable[[str], list[dict]], account_id: str) -> None:
        self.scaling = scaling
        self.clusters = clusters            # region -> cluster documents (read only)
        self.account_id = account_id

    # -- checks ------------------------------------------------------------------------------------
    def _supported(self, request: dict) -> None:
        if request["ServiceNamespace"] != NAMESPACE:
            raise validation(f"Unsupported service namespace {request['ServiceNamespace']}: openmsk serves "
                             f"Application Auto Scaling for the {NAMESPACE} namespace (MSK storage) only.")
        if "ScalableDimension" in request and request["ScalableDimension"] != DIMENSION:
            raise validation(f"Unsupported scalable dimension {request['ScalableDimension']} for service namespace "
                             f"{NAMESPACE}. Valid dimension: {DIMENSION}.")

    def _cluster(self, ctx: RequestContext, resource_id: str) -> dict:
        cluster = next((c for c in self.clusters(ctx.region) if c["ClusterArn"] == resource_id), None)
        if cluster is None or cluster.get("AccountId", self.account_id) != ctx.account_id:
            raise validation(f"The MSK cluster {resource_id} does not exist. The resource ID of a "
                             f"{DIMENSION} target is the cluster's ARN.")
        return cluster

    def _target(self, ctx: RequestContext, request: dict) -> dict:
        target = self.scaling.target(ctx.region, request["ResourceId"], request["ScalableDimension"])
        if target is None:
            raise ServiceException("ObjectNotFoundException", "No scalable target registered for service namespace: "
                                   f"{NAMESPACE}, resource ID: {request['ResourceId']}, scalable dimension: "
                                   f"{request['ScalableDimension']}")
        return target

    @staticmethod
    def _bad_token(token: str) -> ServiceException:
        return ServiceException("InvalidNextTokenException", "The NextToken is not valid.")

    # -- scalable targets --------------------------------------------------------------------------
    @handler("RegisterScalableTarget")
    async def register_scalable_target(self, ctx: RequestContext, r: dict) -> dict:
        self._supported(r)
        cluster = self._cluster(ctx, r["ResourceId"])
        target = self.scaling.target(ctx.region, r["ResourceId"], DIMENSION)
        if target is None:
            if "MinCapacity" not in r or "MaxCapacity" not in r:
                raise validation("MinCapacity and MaxCapacity are required to register a new scalable target.")
            target = {"ServiceNamespace": NAMESPACE, "ResourceId": r["ResourceId"], "ScalableDimension": DIMENSION,
                      "CreationTime": _now(), "SuspendedState": {},
                      "RoleARN": r.get("RoleARN") or (
                          f"arn:aws:iam::{ctx.account_id}:role/aws-service-role/kafka.application-autoscaling."
                          "amazonaws.com/AWSServiceRoleForApplicationAutoScaling_KafkaCluster"),
                      "ScalableTargetARN": f"arn:aws:application-autoscaling:{ctx.region}:{ctx.account_id}:"
                                           f"scalable-target/{uuid.uuid4().hex[:4]}{uuid.uuid4().hex}"}
        for key in ("MinCapacity", "MaxCapacity", "RoleARN"):
            if key in r:
                target[key] = r[key]
        if "SuspendedState" in r:
            target["SuspendedState"] = copy.deepcopy(r["SuspendedState"])
        if not 1 <= target["MaxCapacity"] <= MAX_VOLUME_GIB:
            raise validation(f"MaxCapacity must be between 1 and {MAX_VOLUME_GIB} GiB (MSK's largest volume).")
        if not 1 <= target["MinCapacity"] <= target["MaxCapacity"]:
            raise validation("MinCapacity must be at least 1 and not greater than MaxCapacity.")
        if target["MaxCapacity"] <= int(cluster["VolumeSize"]):
            raise validation(f"MaxCapacity ({target['MaxCapacity']} GiB) must be greater than the cluster's current "
                             f"storage ({cluster['VolumeSize']} GiB per broker).")
        self.scaling.put_target(ctx.region, target)
        return {"ScalableTargetARN": target["ScalableTargetARN"]}

    @handler("DescribeScalableTargets")
    async def describe_scalable_targets(self, ctx: RequestContext, r: dict) -> dict:
        self._supported(r)
        ids = set(r.get("ResourceIds") or [])
        found = [t for t in self.scaling.targets(ctx.region)
                 if (not ids or t["ResourceId"] in ids)
                 and ("ScalableDimension" not in r or t["ScalableDimension"] == r["ScalableDimension"])]
        views = [{**{k: v for k, v in t.items() if k != "CreationTime"}, "CreationTime": _ts(t["CreationTime"])}
                 for t in sorted(found, key=lambda t: t["CreationTime"])]
        return paginate(views, r, "ScalableTargets", default_max=50, bad_token=self._bad_token)

    @handler("DeregisterScalableTarget")
    async def deregister_scalable_target(self, ctx: RequestContext, r: dict) -> dict:
        self._supported(r)
        self._target(ctx, r)
        self.scaling.delete_target(ctx.region, r["ResourceId"], r["ScalableDimension"])
        return {}

    # -- scaling policies --------------------------------------------------------------------------
    @handler("PutScalingPolicy")
    async def put_scaling_policy(self, ctx: RequestContext, r: dict) -> dict:
        self._supported(r)
        self._target(ctx, r)
        policy_type = r.get("PolicyType", "StepScaling")
        if policy_type != "TargetTrackingScaling":
            raise validation(f"Unsupported policy type {policy_type} for {DIMENSION}: MSK storage scales with "
                             "TargetTrackingScaling policies only.")
        config = copy.deepcopy(r.get("TargetTrackingScalingPolicyConfiguration") or {})
        if "TargetValue" not in config:
            raise validation("TargetTrackingScalingPolicyConfiguration with a TargetValue is required for a "
                             "TargetTrackingScaling policy.")
        metric = (config.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
        if metric != METRIC_TYPE or config.get("CustomizedMetricSpecification"):
            raise validation(f"The predefined metric type for {DIMENSION} must be {METRIC_TYPE}.")
        if not MIN_TARGET <= config["TargetValue"] <= MAX_TARGET:
            raise validation(f"The target value for {METRIC_TYPE} must be between {MIN_TARGET:g} and "
                             f"{MAX_TARGET:g} (percent of storage used).")
        key = target_key(ctx.region, r["ResourceId"], DIMENSION)
        existing = next((p for p in self.scaling.policies(ctx.region, key) if p["PolicyName"] == r["PolicyName"]),
                        None)
        arn = existing["PolicyARN"] if existing else (
            f"arn:aws:autoscaling:{ctx.region}:{ctx.account_id}:scalingPolicy:{uuid.uuid4()}:resource/{NAMESPACE}/"
            f"{r['ResourceId']}:policyName/{r['PolicyName']}")
        policy = {"PolicyARN": arn, "PolicyName": r["PolicyName"], "ServiceNamespace": NAMESPACE,
                  "ResourceId": r["ResourceId"], "ScalableDimension": DIMENSION, "PolicyType": policy_type,
                  "TargetTrackingScalingPolicyConfiguration": config, "Alarms": [],
                  "CreationTime": existing["CreationTime"] if existing else _now()}
        self.scaling.put_policy(ctx.region, policy)
        return {"PolicyARN": arn, "Alarms": []}

    @handler("DescribeScalingPolicies")
    async def describe_scaling_policies(self, ctx: RequestContext, r: dict) -> dict:
        self._supported(r)
        names = set(r.get("PolicyNames") or [])
        found = [p for p in self.scaling.policies(ctx.region)
                 if (not names or p["PolicyName"] in names)
                 and ("ResourceId" not in r or p["ResourceId"] == r["ResourceId"])
                 and ("ScalableDimension" not in r or p["ScalableDimension"] == r["ScalableDimension"])]
        views = [{**{k: v for k, v in p.items() if k != "CreationTime"}, "CreationTime": _ts(p["CreationTime"])}
                 for p in sorted(found, key=lambda p: p["CreationTime"])]
        return paginate(views, r, "ScalingPolicies", default_max=50, bad_token=self._bad_token)

    @handler("DeleteScalingPolicy")
    async def delete_scaling_policy(self, ctx: RequestContext, r: dict) -> dict:
        self._supported(r)
        if not self.scaling.delete_policy(ctx.region, r["ResourceId"], r["ScalableDimension"], r["PolicyName"]):
            raise ServiceException("ObjectNotFoundException", f"No scaling policy found for service namespace: "
                                   f"{NAMESPACE}, resource ID: {r['ResourceId']}, scalable dimension: "
                                   f"{r['ScalableDimension']}, policy name: {r['PolicyName']}")
        return {}
