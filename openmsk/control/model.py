"""Shapes of the stored documents and the identifiers MSK hands out.

A cluster document keeps the user's desired state (`Spec`, the CreateCluster request in boto3 form)
apart from what the control plane decided (`Brokers`, `ZooKeeperNodes`: ids, zones, addresses) and
what it observed (`State`, `StateInfo`, `Events`). Operation documents are ClusterOperationInfo in
boto3 form. Timestamps are stored as ISO-8601 strings with a `Z`.
"""
from __future__ import annotations

import datetime as dt
import random
import string
import uuid

from ..util import current_request_id

# Cluster states (botocore ClusterState) and which of them accept update APIs.
CREATING, ACTIVE, DELETING, FAILED, HEALING, UPDATING = "CREATING", "ACTIVE", "DELETING", "FAILED", "HEALING", "UPDATING"
MAINTENANCE, REBOOTING_BROKER = "MAINTENANCE", "REBOOTING_BROKER"

# Operation states as MSK reports them (and as Terraform's waiters expect).
OP_PENDING, OP_IN_PROGRESS, OP_COMPLETE, OP_FAILED = "PENDING", "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE", "UPDATE_FAILED"
# RebootBroker's operation (REBOOT_NODE) has states of its own: MSK's developer guide ("Reboot a broker")
# shows REBOOT_IN_PROGRESS and "When the reboot operation is complete, the OperationState is
# REBOOT_COMPLETE". REBOOT_FAILED is not documented; it is the failure state by the same pattern.
_OWN_OP_STATES = {"REBOOT_NODE": ("REBOOT_IN_PROGRESS", "REBOOT_COMPLETE", "REBOOT_FAILED")}
RUNNING_OP_STATES = (OP_PENDING, OP_IN_PROGRESS, "REBOOT_IN_PROGRESS")


def op_states(operation_type: str) -> tuple[str, str, str]:
    """(in progress, complete, failed) as MSK names them for operations of `operation_type`."""
    return _OWN_OP_STATES.get(operation_type, (OP_IN_PROGRESS, OP_COMPLETE, OP_FAILED))


def op_running(op: dict) -> bool:
    return op.get("OperationState") in RUNNING_OP_STATES

STEP_PENDING, STEP_IN_PROGRESS, STEP_COMPLETE, STEP_FAILED = "PENDING", "IN_PROGRESS", "COMPLETED", "FAILED"

# Operation step names: the reconciler's steps, in its order (reconciler.reconcile() is the table of
# contents). Defined once here; services list them on the operations they start.
PREPARE = "PREPARE"
START_ZOOKEEPER = "START_ZOOKEEPER"
ZOOKEEPER_QUORUM = "ZOOKEEPER_QUORUM"
START_BROKERS = "START_BROKERS"
BROKERS_REGISTERED = "BROKERS_REGISTERED"
APPLY_DYNAMIC_CONFIGS = "APPLY_DYNAMIC_BROKER_CONFIGS"
GROW_VOLUMES = "GROW_BROKER_VOLUMES"
RENEW_CERTIFICATES = "RENEW_CERTIFICATES"
ROLL_ZOOKEEPER = "ROLL_ZOOKEEPER"
ROLL_BROKERS = "ROLL_BROKERS"
SYNC_SCRAM_USERS = "SYNC_SCRAM_USERS"
UPGRADE_FINALIZE = "FINALIZE_KAFKA_VERSION"
# KRaft clusters: the same steps on the controller quorum.
_KRAFT_STEP = {"START_ZOOKEEPER": "START_CONTROLLERS", "ZOOKEEPER_QUORUM": "CONTROLLER_QUORUM",
               "ROLL_ZOOKEEPER": "ROLL_CONTROLLERS"}


def quorum_step(name: str, kraft: bool) -> str:
    return _KRAFT_STEP.get(name, name) if kraft else name


def steps_for(steps: list[str], kraft: bool) -> list[str]:
    return [quorum_step(s, kraft) for s in steps]


STOP_NODES = "STOP_NODES"
REBALANCE_PARTITIONS = "REBALANCE_PARTITIONS"      # control/scaling.py, control/rebalance.py
REMOVE_BROKERS = "REMOVE_BROKERS"
REBOOT_BROKER = "REBOOT_BROKER"
CREATE_STEPS = [PREPARE, START_ZOOKEEPER, ZOOKEEPER_QUORUM, START_BROKERS, BROKERS_REGISTERED]
UPDATE_STEPS = [*CREATE_STEPS, ROLL_BROKERS]
DELETE_STEPS = [STOP_NODES]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(value: dt.datetime) -> str:
    """The one timestamp form stored documents use: ISO-8601, milliseconds, `Z`."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def now_iso() -> str:
    return iso(utcnow())


def parse_iso(value: str) -> dt.datetime:
    # fromisoformat is C code (strptime is Python regexes, ~10x slower, on every Describe*).
    if value[-1:] != "Z" or "." not in value:
        raise ValueError(f"not an openmsk timestamp: {value!r}")
    return dt.datetime.fromisoformat(value[:-1]).replace(tzinfo=dt.timezone.utc)


def new_current_version() -> str:
    return "K" + "".join(random.choices(string.ascii_uppercase + string.digits, k=13))


def cluster_arn(region: str, account: str, name: str, cluster_uuid: str) -> str:
    return f"arn:aws:kafka:{region}:{account}:cluster/{name}/{cluster_uuid}"


def configuration_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:kafka:{region}:{account}:configuration/{name}/{uuid.uuid4()}-{random.randint(1, 25)}"


def operation_arn(cluster: dict) -> str:
    return (f"arn:aws:kafka:{cluster['Region']}:{cluster['AccountId']}:cluster-operation/"
            f"{cluster['ClusterName']}/{cluster['Uuid']}/{uuid.uuid4()}")


def node_arn(cluster: dict, node_uuid: str) -> str:
    return f"arn:aws:kafka:{cluster['Region']}:{cluster['AccountId']}:broker/{cluster['ClusterName']}/{cluster['Uuid']}/{node_uuid}"


def new_operation(cluster: dict, operation_type: str, steps: list[str], *, source: dict | None = None,
                  target: dict | None = None) -> dict:
    op = {
        "ClusterArn": cluster["ClusterArn"],
        "OperationArn": operation_arn(cluster),
        "CreationTime": now_iso(),
        "OperationState": OP_PENDING,
        "OperationType": operation_type,
        "OperationSteps": [{"StepName": s, "StepInfo": {"StepStatus": STEP_PENDING}} for s in steps],
        # the cluster's type is the operation's (ClusterOperationV2.ClusterType): kept with it, so that it
        # outlives the cluster (DescribeClusterOperationV2 after DeleteCluster)
        "ClusterType": cluster.get("ClusterType") or "PROVISIONED",
    }
    request_id = current_request_id.get()
    if request_id:                      # started by an API call (not by the control plane itself)
        op["ClientRequestId"] = request_id
    if source is not None:
        op["SourceClusterInfo"] = source
    if target is not None:
        op["TargetClusterInfo"] = target
    return op


def add_event(cluster: dict, message: str, limit: int = 50) -> None:
    """Keep the last `limit` notable events (crashes, healing, failures) for `openmsk status`."""
    events = cluster.setdefault("Events", [])
    events.append({"Time": now_iso(), "Message": message})
    del events[:-limit]
