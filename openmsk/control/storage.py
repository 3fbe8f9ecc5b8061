"""Broker storage: which clusters get real volumes, how large, and when they grow.

Decided once per cluster at creation (`StorageVolumes`: "loop" when the placement host can make real
volumes, runtime/volumes.py; "directory" otherwise, and for clusters created before volumes existed,
whose data lives in plain directories a volume must not hide). The size is the cluster's desired
`VolumeSize`; a broker whose volume is smaller is grown online by the GROW_BROKER_VOLUMES step, with
no restart, as on MSK where "the additional storage is made available right away".
"""
from __future__ import annotations

import logging
from pathlib import Path

from ..runtime.volumes import GIB, VolumeError
from . import model

log = logging.getLogger(__name__)

LOOP, DIRECTORY = "loop", "directory"


class StorageFailed(Exception):
    pass


def uses_volumes(cluster: dict) -> bool:
    return cluster.get("StorageVolumes") == LOOP


def decide(plane, cluster: dict) -> None:
    """At creation: real volumes if the host allows (recorded in the cluster document, never changed)."""
    if "StorageVolumes" in cluster:
        return
    choice = LOOP if cluster["State"] == model.CREATING and plane.volumes.available else DIRECTORY
    fresh = plane.load_cluster(cluster["ClusterArn"])
    if fresh is not None:
        fresh["StorageVolumes"] = choice
        plane.save_cluster(fresh)
    cluster["StorageVolumes"] = choice


def image_path(plane, cluster: dict, broker) -> Path:
    return plane.cluster_dir(cluster) / "volumes" / f"{broker.workdir.name}.xfs"


def data_dir(broker) -> Path:
    return broker.workdir / "data"


async def volume_ready(plane, cluster: dict, broker) -> None:
    """Completes when the broker's data directory is its volume (before the broker starts)."""
    if not uses_volumes(cluster):
        return
    try:
        await plane.volumes.ensure(image_path(plane, cluster, broker), data_dir(broker), int(cluster["VolumeSize"]))
    except (VolumeError, OSError) as exc:
        raise StorageFailed(f"the volume of {broker.workdir.name} could not be attached: {exc}")


def undersized(plane, cluster: dict, brokers: list) -> list:
    if not uses_volumes(cluster):
        return []
    want = int(cluster["VolumeSize"]) * GIB
    return [b for b in brokers if 0 < plane.volumes.size_bytes(image_path(plane, cluster, b)) < want]


async def volumes_grown(plane, cluster: dict, brokers: list) -> list[str]:
    """Completes when every broker's volume has the cluster's VolumeSize (grown online)."""
    grown = []
    for broker in brokers:
        try:
            if await plane.volumes.grow(image_path(plane, cluster, broker), data_dir(broker),
                                        int(cluster["VolumeSize"])):
                grown.append(broker.workdir.name)
        except (VolumeError, OSError) as exc:
            raise StorageFailed(f"the volume of {broker.workdir.name} could not be grown: {exc}")
    return grown


async def release_volume(plane, cluster: dict, broker, *, purge: bool) -> None:
    """Unmount and detach a stopped broker's volume (`openmsk down`, deletion); errors are logged."""
    if not uses_volumes(cluster):
        return
    try:
        await plane.volumes.release(image_path(plane, cluster, broker), data_dir(broker), purge=purge)
    except (VolumeError, OSError) as exc:
        log.warning("cluster %s: volume of %s not released: %s", cluster["ClusterName"], broker.workdir.name, exc)


async def release_all(plane, cluster: dict, *, purge: bool) -> None:
    """Every volume image of the cluster (current brokers and any left by a removed one), once their
    brokers are stopped: `openmsk down` and deletion."""
    if not uses_volumes(cluster):
        return
    cluster_dir = plane.cluster_dir(cluster)
    for image in sorted((cluster_dir / "volumes").glob("*.xfs")):
        try:
            await plane.volumes.release(image, cluster_dir / image.stem / "data", purge=purge)
        except (VolumeError, OSError) as exc:
            log.warning("cluster %s: volume %s not released: %s", cluster["ClusterName"], image.name, exc)
