"""The dynamic half of a configuration revision: keys Kafka updates without a restart
(runtime.kafka_config.DYNAMIC_CLUSTER_WIDE) are set on the cluster-wide default broker resource with
IncrementalAlterConfigs (stored by Kafka in ZooKeeper, so they survive broker restarts and reach
brokers added later), as `kafka-configs.sh --entity-type brokers --entity-default --alter` does.
Each broker picks the change up from ZooKeeper a moment later, so the step completes only once every
broker that answers reports the new values (DescribeConfigs): when the operation says UPDATE_COMPLETE,
the whole cluster runs with them.

What openmsk applied is remembered in the cluster document (`DynamicConfigsApplied`): a key a newer
revision no longer sets is deleted (the brokers fall back to their server.properties value), while
dynamic settings a user made with Kafka's own tools on keys no revision ever set are left alone.
"""
from __future__ import annotations

import asyncio
import ssl
import struct
import time

from ..runtime.broker_admin import AlterConfigsError, alter_broker_defaults, describe_broker_configs
from .layout import broker_listeners, dynamic_user_properties

APPLIED = "DynamicConfigsApplied"
REPLICATION_PORT = 9093
PROPAGATION_TIMEOUT = 120.0     # seconds for every broker to report the new values (ZooKeeper watch)
_NETWORK_ERRORS = (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ssl.SSLError, struct.error)


class DynamicConfigFailed(Exception):
    pass


def pending(cluster: dict) -> bool:
    """True when the revision's dynamic keys differ from what was last applied (a cheap check, no I/O)."""
    return dynamic_user_properties(cluster) != (cluster.get(APPLIED) or {})


async def apply_dynamic_configs(plane, cluster: dict) -> dict[str, list[str]]:
    """Completes when the cluster-wide dynamic broker defaults hold the revision's dynamic keys (sent to
    the first broker that answers, on the replication listener as the control plane's super user);
    returns {"set": [...], "deleted": [...]} and records what was applied."""
    desired = dynamic_user_properties(cluster)
    previous = cluster.get(APPLIED) or {}
    changed = sorted(k for k, v in desired.items() if previous.get(k) != v)
    deletions = sorted(k for k in previous if k not in desired)
    _, inter = broker_listeners(cluster)
    context = plane.probe_ssl_context if inter == "REPLICATION_SECURE" else None
    problems = []
    for broker in sorted(cluster["Brokers"], key=lambda b: b["BrokerId"]):
        try:
            await alter_broker_defaults(broker["Address"], REPLICATION_PORT, desired, deletions, ssl_context=context)
            break
        except AlterConfigsError as exc:          # Kafka refused the values: no other broker will take them
            raise DynamicConfigFailed(str(exc))
        except _NETWORK_ERRORS as exc:
            problems.append(f"b-{broker['BrokerId']}: {exc or type(exc).__name__}")
    else:
        raise DynamicConfigFailed("no broker answered: " + "; ".join(problems))
    if changed:
        await _every_broker_reports(cluster, {k: desired[k] for k in changed}, context)
    fresh = plane.load_cluster(cluster["ClusterArn"])
    if fresh is not None:
        fresh[APPLIED] = desired
        plane.save_cluster(fresh)
    cluster[APPLIED] = desired
    return {"set": changed, "deleted": deletions}


async def _every_broker_reports(cluster: dict, values: dict[str, str], context) -> None:
    """Completes when every broker that answers reports `values` as in effect. A broker that does not
    answer (stopped, in a cut-off zone) reads the defaults from ZooKeeper when it starts; it is not
    waited for."""
    deadline = time.monotonic() + PROPAGATION_TIMEOUT
    waiting = sorted(cluster["Brokers"], key=lambda b: b["BrokerId"])
    while True:
        stale = []
        for broker in waiting:
            try:
                seen = await describe_broker_configs(broker["Address"], REPLICATION_PORT, broker["BrokerId"],
                                                     sorted(values), ssl_context=context)
            except AlterConfigsError as exc:
                raise DynamicConfigFailed(f"b-{broker['BrokerId']}: {exc}")
            except _NETWORK_ERRORS:
                continue
            differing = {k: seen.get(k) for k, v in values.items() if seen.get(k) != v}
            if differing:
                stale.append((broker, differing))
        if not stale:
            return
        if time.monotonic() > deadline:
            raise DynamicConfigFailed("; ".join(f"b-{b['BrokerId']} still reports {d}" for b, d in stale))
        waiting = [b for b, _ in stale]
        await asyncio.sleep(0.5)
