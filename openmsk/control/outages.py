"""Simulated Availability-Zone outages: freeze every node of one zone of a cluster, thaw them again.

An AZ outage, seen from the rest of a cluster, is a set of nodes that stop answering without saying
goodbye: no FIN, no controlled shutdown, connections that hang. The placement driver's `pause` does
exactly that (LocalProcessPlacement: SIGSTOP to the node's process group) and `resume` undoes it.
Kafka's own consequences follow: the frozen brokers' ZooKeeper sessions expire (18 s), leadership
moves, ISRs shrink after replica.lag.time.max.ms (30 s), a frozen ZooKeeper node leaves the quorum;
after the thaw the nodes re-register and catch up.

With network namespaces (control/vpc_runtime.py) the outage is real instead: the zone's nodes' links
to the VPC bridge go down (`_cut_links`); the processes keep running, unreachable.

Freezing rather than stopping is deliberate: a paused node still counts as running, so the supervisor
does not "heal" the outage away (as MSK would not replace brokers of a zone that is merely
unreachable). Which nodes are down is recorded in the cluster directory (control/zones.py), so
`openmsk status` can say why they do not answer and `up` thaws exactly what `down` froze.
"""
from __future__ import annotations

from . import zones
from .layout import ClusterLayout


def zone_node_names(cluster: dict, layout: ClusterLayout, zone_id: str) -> list[str]:
    """Placement names ("<cluster-uuid>/broker-1", ...) of the cluster's nodes in one zone."""
    zk_zone = {z["ZookeeperId"]: z["ZoneId"] for z in cluster["ZooKeeperNodes"]}
    zk_zone.update({c["NodeId"]: c["ZoneId"] for c in cluster.get("Controllers") or []})    # KRaft
    broker_zone = {b["BrokerId"]: b["ZoneId"] for b in cluster["Brokers"]}
    # Brokers first: a broker frozen after its ZooKeeper node would first lose its session.
    return ([n.name for n in layout.brokers() if broker_zone.get(n.config.broker_id) == zone_id]
            + [n.name for n in layout.quorum_nodes() if zk_zone.get(n.config.node_id) == zone_id])


async def set_zone_outage(plane, cluster: dict, zone_id: str, down: bool) -> list[str]:
    """Freeze (down) or thaw (up) the nodes of `zone_id`; returns the node directory names changed
    ("broker-1", "zookeeper-1"): for `down` those frozen, for `up` those a `down` had frozen."""
    cluster_dir = plane.cluster_dir(cluster)
    names = zone_node_names(cluster, ClusterLayout(cluster, cluster_dir), zone_id)
    short = {name: name.split("/")[-1] for name in names}
    if plane.vpc.enforced(plane.vpc.cluster_vpc(cluster)):
        return await _cut_links(plane, cluster, names, zone_id, down)
    if down:
        frozen = [short[n] for n in names if await plane.placement.pause(n)]
        zones.record_down(cluster_dir, zone_id, frozen)
        return frozen
    recorded = zones.record_up(cluster_dir, zone_id)
    thawed = [short[n] for n in names if await plane.placement.resume(n)]
    return [n for n in thawed if n in recorded]


async def _cut_links(plane, cluster: dict, names: list[str], zone_id: str, down: bool) -> list[str]:
    """The namespace layout: the zone's nodes lose their links to the VPC's bridge (nothing reaches them,
    they reach nothing, connections hang) and get them back; the processes run on untouched."""
    cluster_dir = plane.cluster_dir(cluster)
    by_name = {f"{cluster['Uuid']}/broker-{b['BrokerId']}": b["Address"] for b in cluster["Brokers"]}
    by_name.update({f"{cluster['Uuid']}/zookeeper-{z['ZookeeperId']}": z["Address"] for z in cluster["ZooKeeperNodes"]})
    by_name.update({f"{cluster['Uuid']}/controller-{c['NodeId']}": c["Address"] for c in cluster.get("Controllers") or []})
    wanted = [n for n in names if n in by_name]
    changed = set(await plane.vpc.cut(cluster, [by_name[n] for n in wanted], down))
    short = [n.split("/")[-1] for n in wanted if by_name[n] in changed]
    if down:
        zones.record_down(cluster_dir, zone_id, short, mechanism="links")
        return short
    recorded = zones.record_up(cluster_dir, zone_id)
    return [n for n in short if n in recorded]
