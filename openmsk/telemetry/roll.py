"""Fallback for UpdateMonitoring when the control plane has no update machinery of its own
(`ControlPlane.start_update` + the reconciler's ROLL_BROKERS step, which is preferred): record the
operation, then restart the brokers whose process spec changed (the JMX exporter's port moved) one at
a time, each only after the previous one is registered again.
"""
from __future__ import annotations

import asyncio
import logging
import time

from ..control import model
from ..control.reconciler import ClusterReconciler

log = logging.getLogger(__name__)

READY_TIMEOUT = 240.0
STEPS = ["PREPARE", "ROLL_BROKERS"]


def start_update(plane, cluster: dict, operation_type: str, target: dict, source: dict) -> dict:
    op = model.new_operation(cluster, operation_type, STEPS, source=source, target=target)
    cluster.update(State=model.UPDATING, ActiveOperationArn=op["OperationArn"],
                   CurrentVersion=model.new_current_version())
    plane.store.put("operation", op["OperationArn"], op, region=cluster["Region"], parent=cluster["ClusterArn"])
    plane.save_cluster(cluster)
    asyncio.get_running_loop().create_task(_roll(plane, cluster["ClusterArn"]), name=f"monitoring roll {cluster['ClusterArn']}")
    return op


async def _roll(plane, arn: str) -> None:
    cluster = plane.load_cluster(arn)
    reconciler = ClusterReconciler(plane, arn)
    try:
        plane.set_operation_step(cluster, "PREPARE", model.STEP_COMPLETE)
        plane.set_operation_step(cluster, "ROLL_BROKERS", model.STEP_IN_PROGRESS)
        for broker in reconciler.configured_brokers(cluster, reconciler.layout(cluster)):
            spec = broker.spec(plane.distribution, **reconciler.spec_kwargs(cluster, broker))
            if (await plane.placement.observe(broker.name)).spec_hash == spec.spec_hash():
                continue
            log.info("cluster %s: restarting broker %d for new monitoring settings", cluster["ClusterName"],
                     broker.config.broker_id)
            await plane.placement.replace(spec, grace=120.0)
            deadline = time.monotonic() + READY_TIMEOUT
            while not await broker.ready():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"broker {broker.config.broker_id} not ready after {READY_TIMEOUT:.0f}s")
                await asyncio.sleep(0.5)
        plane.set_operation_step(cluster, "ROLL_BROKERS", model.STEP_COMPLETE)
        plane.finish_operation(cluster, ok=True, state=model.ACTIVE)
    except Exception as exc:
        log.exception("cluster %s: monitoring update failed", cluster["ClusterName"])
        plane.set_operation_step(cluster, "ROLL_BROKERS", model.STEP_FAILED)
        plane.finish_operation(cluster, ok=False, state=model.ACTIVE, error=("ROLLING_UPDATE_FAILED", str(exc)))
