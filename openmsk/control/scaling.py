"""A running cluster's broker count and single-broker reboots: UpdateBrokerCount (up and down),
UpdateRebalancing and RebootBroker, as the reconciler carries them out.

The service decides and records (desired state): new broker entries (`add_brokers`, round robin over
the cluster's zones, ids after the highest, each on its own address in its zone's subnet, like
`layout.place_nodes` at creation) or the brokers to remove (`choose_leaving`: one per zone, marked
`Leaving`), and which steps the operation lists. The reconciler's ordinary steps start new brokers
(certificates, SCRAM users and ACLs live in ZooKeeper, sidecars follow `cluster["Brokers"]`); the steps
here run when the active operation lists them:

  REBALANCE_PARTITIONS  replicas onto new brokers / off leaving ones (control/rebalance.py)
  REMOVE_BROKERS        leaving brokers that hold no replica are stopped, their storage deleted and
                        they leave the document; one that holds replicas fails the operation (MSK's
                        rule: only brokers without partitions can go) and the cluster keeps it
  REBOOT_BROKER         one broker restarted with its own spec by the roller (availability rule,
                        back in ISR before the operation completes)
"""
from __future__ import annotations

import logging
import uuid

from . import model, storage
from .layout import dynamic_user_properties, node_address
from .rebalance import RebalanceFailed, Rebalancer, partitions_on
from .roller import BrokerRoller, RollError

log = logging.getLogger(__name__)

MAX_NAMED_PARTITIONS = 10
MAX_BROKER_ID = 100            # broker n listens on 127.x.<slot>.n (runtime/addressing.py)


def zone_of_subnets(cluster: dict) -> list[str]:
    return list(cluster["Spec"]["BrokerNodeGroupInfo"]["ClientSubnets"])


def add_brokers(cluster: dict, subnets_by_id: dict[str, dict], target: int, allocate=None) -> list[int]:
    """Append broker entries up to `target` brokers (round robin over the client subnets, ids after the
    highest), addressed as at creation (`allocate`: plane.address_allocator, the namespace layout's
    addresses of the subnet); returns the new ids."""
    subnets = zone_of_subnets(cluster)
    next_id = max(b["BrokerId"] for b in cluster["Brokers"]) + 1
    created = []
    for i in range(target - len(cluster["Brokers"])):
        subnet = subnets_by_id[subnets[i % len(subnets)]]
        broker_id = next_id + i
        if broker_id > MAX_BROKER_ID:
            raise ValueError("no broker address left in the cluster's subnet slot")
        cluster["Brokers"].append({
            "BrokerId": broker_id, "SubnetId": subnet["SubnetId"], "ZoneId": subnet["AvailabilityZoneId"],
            "Address": node_address(subnet, cluster["Slot"], broker_id, allocate),
            "NodeArn": model.node_arn(cluster, str(uuid.uuid4())), "EniId": f"eni-{uuid.uuid4().hex[:17]}",
            "AddedToClusterTime": model.now_iso()})
        created.append(broker_id)
    return created


def choose_leaving(cluster: dict, partitions: list[tuple[str, int, list[int]]] | None,
                   drain: bool) -> tuple[list[int], dict[int, list[str]]]:
    """One broker per zone to remove. Without `drain` only a broker holding no replica qualifies (MSK's
    rule); with it (rebalancing ACTIVE) the least-loaded one, whose replicas move first.
    -> (broker ids, {broker: partitions in the way} for the zones with no candidate)."""
    by_zone: dict[str, list[int]] = {}
    for b in cluster["Brokers"]:
        by_zone.setdefault(b["ZoneId"], []).append(b["BrokerId"])
    held = partitions_on(partitions or [], {b["BrokerId"] for b in cluster["Brokers"]})
    chosen, blocked = [], {}
    for zone, ids in sorted(by_zone.items()):
        ranked = sorted(ids, key=lambda b: (len(held[b]), -b))
        best = ranked[0]
        if held[best] and not drain:
            blocked[best] = held[best]
        else:
            chosen.append(best)
    return sorted(chosen), blocked


def describe_blocked(blocked: dict[int, list[str]]) -> str:
    parts = []
    for broker, held in sorted(blocked.items()):
        # The user's topics first: those are the ones to move (internal topics follow with them).
        names = ", ".join(sorted(held, key=lambda n: (n.startswith("__"), n))[:MAX_NAMED_PARTITIONS])
        more = f" and {len(held) - MAX_NAMED_PARTITIONS} more" if len(held) > MAX_NAMED_PARTITIONS else ""
        parts.append(f"broker {broker} holds {len(held)} partition replicas ({names}{more})")
    return "; ".join(parts)


# -- reconciler steps ------------------------------------------------------------------------------
async def operation_steps(reconciler, cluster: dict) -> None:
    """The scaling/reboot steps of the active operation (each runs only when the operation lists it)."""
    from .reconciler import ReconcileFailed

    async def rebalanced(c: dict, _work) -> None:
        leaving = {b["BrokerId"] for b in c["Brokers"] if b.get("Leaving")}
        op = reconciler.plane._active_operation(c)
        try:
            await Rebalancer(reconciler, c).run(leaving, op["OperationType"] if op else "rebalance")
        except RebalanceFailed as exc:
            if leaving:
                restore_leaving(reconciler.plane, c)
            raise ReconcileFailed("REBALANCE_FAILED", f"Partition rebalancing failed: {exc}", retryable=True)

    async def removed(c: dict, _work) -> None:
        await remove_leaving(reconciler, c)

    async def rebooted(c: dict, _work) -> None:
        await reboot(reconciler, c)

    await reconciler.optional_step(cluster, model.REBALANCE_PARTITIONS, rebalanced, [])
    await reconciler.optional_step(cluster, model.REMOVE_BROKERS, removed, [])
    await reconciler.optional_step(cluster, model.REBOOT_BROKER, rebooted, [])


def restore_leaving(plane, cluster: dict) -> None:
    """A scale-in that cannot finish: the brokers stay, the count is the source count again."""
    fresh = plane.load_cluster(cluster["ClusterArn"])
    if fresh is None:
        return
    for b in fresh["Brokers"]:
        b.pop("Leaving", None)
    fresh["Spec"]["NumberOfBrokerNodes"] = len(fresh["Brokers"])
    plane.save_cluster(fresh)
    cluster.update(Brokers=fresh["Brokers"], Spec=fresh["Spec"])


async def remove_leaving(reconciler, cluster: dict) -> None:
    """Completes when no leaving broker remains: each is checked to hold no replica, stopped (controlled
    shutdown), its sidecars and storage deleted, and it leaves the cluster document."""
    from .reconciler import ReconcileFailed
    plane = reconciler.plane
    leaving = {b["BrokerId"] for b in cluster["Brokers"] if b.get("Leaving")}
    if not leaving:
        return
    meta = await Rebalancer(reconciler, cluster).metadata()
    if meta is None:
        raise ReconcileFailed("BROKER_REMOVAL_FAILED", "no broker answers metadata requests", retryable=True)
    held = {b: p for b, p in partitions_on([(p.topic, p.partition, p.replicas) for p in meta.partitions or []],
                                           leaving).items() if p}
    if held:
        restore_leaving(plane, cluster)
        raise ReconcileFailed("BROKER_REMOVAL_BLOCKED",
                              "Only brokers that hold no partitions can be removed: " + describe_blocked(held),
                              retryable=False)
    layout = reconciler.layout(cluster)
    going = [b for b in layout.brokers() if b.config.broker_id in leaving]
    sidecars_before = set(reconciler.sidecar_specs(cluster))
    remaining = [b for b in cluster["Brokers"] if b["BrokerId"] not in leaving]
    sidecars_after = set(reconciler.sidecar_specs({**cluster, "Brokers": remaining}))
    for name in sorted(sidecars_before - sidecars_after):
        await plane.placement.delete(name, grace=5.0, purge=True)
    for broker in going:
        reconciler.progress(cluster, f"removing broker {broker.config.broker_id}")
        await plane.placement.delete(broker.name, grace=120.0)
        await storage.release_volume(plane, cluster, broker, purge=True)     # its volume, if it has one
        await plane.placement.delete(broker.name, grace=120.0, purge=True)
    fresh = plane.load_cluster(cluster["ClusterArn"])
    fresh["Brokers"] = [b for b in fresh["Brokers"] if b["BrokerId"] not in leaving]
    plane.save_cluster(fresh)
    plane.vpc.request_sync()                # their addresses are no longer the cluster's
    cluster["Brokers"] = fresh["Brokers"]
    reconciler.progress(cluster, f"brokers {', '.join(map(str, sorted(leaving)))} removed")


async def reboot(reconciler, cluster: dict) -> None:
    """Completes when the brokers asked for were restarted (gracefully, one at a time, each only when no
    partition would drop below its min.insync.replicas) and every partition is back in sync."""
    from .reconciler import ReconcileFailed
    from .scram import admin_config
    from .topic_configs import min_insync_replicas
    ids = set(cluster.get("RebootBrokerIds") or [])
    brokers = reconciler.configured_brokers(cluster, reconciler.layout(cluster))
    specs = {b.name: reconciler.spec(cluster, b) for b in brokers if b.config.broker_id in ids}
    effective = {**brokers[0].config.properties(), **dynamic_user_properties(cluster)}
    default_min_isr = int(effective.get("min.insync.replicas", "1"))
    roller = BrokerRoller(reconciler.plane.placement, default_min_isr,
                          topic_min_isr=lambda: min_insync_replicas(admin_config(reconciler.plane, cluster)),
                          on_progress=lambda m: reconciler.progress(cluster, m.replace("(spec changed)", "(reboot)")))
    try:
        await roller.roll(brokers, specs)
    except RollError as exc:
        raise ReconcileFailed("REBOOT_FAILED", str(exc), retryable=exc.retryable)
    finally:
        fresh = reconciler.plane.load_cluster(cluster["ClusterArn"])
        if fresh is not None:
            fresh.pop("RebootBrokerIds", None)
            reconciler.plane.save_cluster(fresh)
