"""UpdateBrokerStorage and UpdateStorage: grow the brokers' EBS-style volumes, with MSK's rules.

* Only growth, up to 16,384 GiB per broker; MSK's UpdateBrokerStorage takes one entry for "All" brokers.
* A cool-down after every storage change: at least 6 hours on MSK ("This period can range from a
  minimum of 6 hours to over 24 hours", DG msk-update-storage); `OPENMSK_STORAGE_COOLDOWN_SECONDS`
  shortens it for tests. Auto scaling goes through the same path, so it obeys it too.
* Provisioned storage throughput (DG msk-provision-throughput-management): only for kafka.m5.4xlarge
  or larger / kafka.m7g.2xlarge or larger, only on volumes of 10 GiB or more, from 250 MiB/s up to
  the broker size's maximum.
The volumes grow online in the reconciler's GROW_BROKER_VOLUMES step (control/storage.py).
"""
from __future__ import annotations

import copy
import datetime as dt
import os

from ...api.core import RequestContext, handler
from ...control import model
from .broker_changes import require_updatable
from .validation import MAX_VOLUME_GIB, bad_request

DEFAULT_COOLDOWN_SECONDS = 6 * 3600
MIN_THROUGHPUT_VOLUME_GIB = 10
MIN_THROUGHPUT = 250
MAX_THROUGHPUT = {"kafka.m5.4xlarge": 593, "kafka.m5.8xlarge": 850, "kafka.m5.12xlarge": 1000,
                  "kafka.m5.16xlarge": 1000, "kafka.m5.24xlarge": 1000, "kafka.m7g.2xlarge": 312,
                  "kafka.m7g.4xlarge": 625, "kafka.m7g.8xlarge": 1000, "kafka.m7g.12xlarge": 1000,
                  "kafka.m7g.16xlarge": 1000}
STEPS = [*model.CREATE_STEPS, model.GROW_VOLUMES]


def cooldown_seconds() -> float:
    return float(os.environ.get("OPENMSK_STORAGE_COOLDOWN_SECONDS", DEFAULT_COOLDOWN_SECONDS))


def storage_info(cluster: dict) -> dict:
    """The storage part of a cluster's MutableClusterInfo (operation source/target)."""
    volume = {"KafkaBrokerNodeId": "All", "VolumeSizeGB": int(cluster["VolumeSize"])}
    if cluster.get("ProvisionedThroughput"):
        volume["ProvisionedThroughput"] = dict(cluster["ProvisionedThroughput"])
    return {"BrokerEBSVolumeInfo": [volume]}


def check_throughput(cluster: dict, throughput: dict, volume_gib: int) -> dict:
    instance = cluster["Spec"]["BrokerNodeGroupInfo"]["InstanceType"]
    if not throughput.get("Enabled"):
        return {"Enabled": False}
    if instance not in MAX_THROUGHPUT:
        raise bad_request(f"Provisioned storage throughput requires broker size kafka.m5.4xlarge or larger, or "
                          f"kafka.m7g.2xlarge or larger; the cluster's brokers are {instance}.",
                          "provisionedThroughput")
    if volume_gib < MIN_THROUGHPUT_VOLUME_GIB:
        raise bad_request(f"Provisioned storage throughput requires a volume of at least "
                          f"{MIN_THROUGHPUT_VOLUME_GIB} GiB.", "provisionedThroughput")
    rate = throughput.get("VolumeThroughput", MIN_THROUGHPUT)
    if not MIN_THROUGHPUT <= rate <= MAX_THROUGHPUT[instance]:
        raise bad_request(f"The volume throughput must be between {MIN_THROUGHPUT} and {MAX_THROUGHPUT[instance]} "
                          f"MiB/s for {instance}.", "volumeThroughput")
    return {"Enabled": True, "VolumeThroughput": rate}


def check_cooldown(cluster: dict) -> None:
    last = cluster.get("LastStorageUpdateTime")
    if not last:
        return
    ready = model.parse_iso(last) + dt.timedelta(seconds=cooldown_seconds())
    if model.utcnow() < ready:
        raise bad_request("The cluster's storage was updated less than "
                          f"{_duration(cooldown_seconds())} ago. Storage can be scaled again after the cool-down "
                          f"period, at {model.iso(ready)}.", "targetBrokerEBSVolumeInfo")


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:g} hours" if seconds >= 3600 else f"{seconds:g} seconds"


class StorageHandlers:
    plane = None           # set by KafkaProvider

    def grow_storage(self, cluster: dict, current_version: str, size: int | None, throughput: dict | None,
                     parameter: str) -> dict:
        """Start an UPDATE_BROKER_STORAGE operation (also what storage auto scaling calls)."""
        require_updatable(cluster, current_version)
        if size is None and throughput is None:
            raise bad_request("Specify a target volume size or provisioned throughput.", parameter)
        current = int(cluster["VolumeSize"])
        if size is not None:
            if size < current or (size == current and throughput is None):
                raise bad_request(f"The target volume size {size} GiB must be greater than the current volume size "
                                  f"of {current} GiB. Storage can only be increased.", parameter)
            if size > MAX_VOLUME_GIB:
                raise bad_request(f"The volume size must be between 1 and {MAX_VOLUME_GIB} GiB.", parameter)
        check_cooldown(cluster)
        target_size = size if size is not None else current
        new_throughput = check_throughput(cluster, throughput, target_size) if throughput is not None else None
        source = storage_info(cluster)
        cluster["VolumeSize"] = target_size
        if new_throughput is not None:
            cluster["ProvisionedThroughput"] = new_throughput
        cluster["LastStorageUpdateTime"] = model.now_iso()
        op = self.plane.start_update(cluster, "UPDATE_BROKER_STORAGE", storage_info(cluster), source, STEPS)
        return {"ClusterArn": cluster["ClusterArn"], "ClusterOperationArn": op["OperationArn"]}

    @handler("UpdateBrokerStorage")
    async def update_broker_storage(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        targets = request["TargetBrokerEBSVolumeInfo"]
        if len(targets) != 1 or targets[0].get("KafkaBrokerNodeId") != "All":
            raise bad_request('Specify exactly one entry, with KafkaBrokerNodeId "All": storage is updated for all '
                              'brokers of the cluster.', "targetBrokerEBSVolumeInfo")
        target = targets[0]
        return self.grow_storage(cluster, request["CurrentVersion"], target.get("VolumeSizeGB"),
                                 copy.deepcopy(target.get("ProvisionedThroughput")), "targetBrokerEBSVolumeInfo")

    @handler("UpdateStorage")
    async def update_storage(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        if request.get("StorageMode") == "TIERED":
            raise bad_request("Tiered storage is not supported by openmsk; StorageMode must be LOCAL.", "storageMode")
        return self.grow_storage(cluster, request["CurrentVersion"], request.get("VolumeSizeGB"),
                                 copy.deepcopy(request.get("ProvisionedThroughput")), "volumeSizeGB")


class StorageScaling(StorageHandlers):
    """UpdateBrokerStorage for storage auto scaling (application-autoscaling): the same rules and
    operation as a user's call, with the cluster's own CurrentVersion."""

    def __init__(self, plane) -> None:
        self.plane = plane

    def grow(self, cluster: dict, size_gib: int) -> str:
        result = self.grow_storage(cluster, cluster["CurrentVersion"], size_gib, None, "volumeSizeGB")
        return result["ClusterOperationArn"]
