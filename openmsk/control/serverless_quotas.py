"""MSK Serverless's throughput quotas on a serverless cluster, with Kafka's own mechanism: client quotas.

MSK Serverless limits what one partition takes in (5 MiB/s) and gives out (10 MiB/s). Kafka has no partition
quota; its byte-rate quotas (`producer_byte_rate`, `consumer_byte_rate`) apply to a (user, client id) pair on
each broker, and a client over its quota gets its responses delayed with `throttle_time_ms` set, as MSK
Serverless throttles. The cluster gets MSK Serverless's per-partition figures as the default quota of every
user and client id (`--entity-type users --entity-default --entity-type clients --entity-default`), set through
Kafka's admin API (AlterClientQuotas, with Kafka's ConfigCommand run as the control plane on the replication
listener, control/upgrade.run_tool) once the brokers are up. The quotas live in the cluster's metadata log;
`ClientQuotasApplied` on the cluster document records what was set, so a pass sets them once.

A client writing one partition (or several led by different brokers) gets exactly MSK Serverless's limit; one
writing several partitions led by the same broker shares one quota among them (stricter than MSK Serverless).
The brokers apply these quotas through plugins/msk-iam's ServerlessQuotaCallback, which adds the cluster-wide
200 MiB/s in / 400 MiB/s out on top of them (docs/serverless.md). `controller_mutation_rate` (250 partitions per
5 minutes) is enforced by the KRaft controllers, with the quota window control/layout.py gives them.
"""
from __future__ import annotations

from .layout import SERVERLESS_CLIENT_QUOTAS

TOOL = "kafka.admin.ConfigCommand"      # Kafka 3.9 (the serverless clusters' line, services/kafka/serverless.py)
ENTITY = ["--entity-type", "users", "--entity-default", "--entity-type", "clients", "--entity-default"]


def describe() -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(SERVERLESS_CLIENT_QUOTAS.items()))


def pending(cluster: dict) -> bool:
    """A serverless cluster whose brokers do not hold MSK Serverless's default client quotas yet."""
    return cluster.get("ClusterType") == "SERVERLESS" and cluster.get("ClientQuotasApplied") != describe()


async def apply(plane, cluster: dict) -> None:
    """Sets the default client quotas (idempotent: AlterClientQuotas replaces the values); raises RuntimeError
    with the tool's last line when it fails."""
    from .upgrade import node_distribution, run_tool
    dist = node_distribution(plane, cluster)
    await run_tool(plane, cluster, dist, TOOL, ["--alter", *ENTITY, "--add-config", ",".join(
        f"{k}={v}" for k, v in sorted(SERVERLESS_CLIENT_QUOTAS.items()))])
    latest = plane.load_cluster(cluster["ClusterArn"])
    if latest is None:
        return
    latest["ClientQuotasApplied"] = describe()
    plane.save_cluster(latest)
    cluster["ClientQuotasApplied"] = latest["ClientQuotasApplied"]
