"""`openmsk zone down|up`: simulate an Availability-Zone outage of one cluster.

`down` freezes every broker and ZooKeeper node of the zone (they stop answering, as if the zone were
unreachable); `up` thaws them and Kafka recovers by itself. The CLI only asks: the running service does
it (POST /_openmsk/v1/zone-outage, signed like an AWS call), through the control plane and its
placement driver; the mechanism and why it freezes rather than kills: openmsk/control/outages.py.
The zone is a zone id (use1-az1) or an AZ name (us-east-1a).
"""
from __future__ import annotations

import json

from ..control import zones
from ..services.operator import ZONE_OUTAGE_PATH
from .common import EXIT_OK, Api, CliError, resolve_cluster, say, subnets
from .topology import cluster_nodes


def cmd_zone(args) -> int:
    api = Api.from_args(args)
    kafka, ec2 = api.client("kafka"), api.client("ec2")
    info = resolve_cluster(kafka, args.cluster)
    nodes = cluster_nodes(api, kafka, ec2, info, by_subnet=subnets(ec2))
    in_zone = [n for n in nodes if n.zone and args.zone in (n.zone.zone_id, n.zone.zone_name)]
    cluster_zones = sorted({n.zone_id for n in nodes})
    if not in_zone:
        raise CliError(f"cluster {info['ClusterName']} has no nodes in zone {args.zone!r} "
                       f"(its zones: {', '.join(cluster_zones)})")
    zone_id = in_zone[0].zone_id
    cluster_dir = api.cluster_dir(info["ClusterArn"])
    labels = {n.dir_name: n.label for n in in_zone}
    answer = api.operator(ZONE_OUTAGE_PATH, {"ClusterArn": info["ClusterArn"], "Zone": zone_id,
                                             "Down": args.action == "down"})
    changed = answer["Nodes"]
    try:                            # the namespace layout cuts links; the loopback one freezes processes
        cut = json.loads((api.data_dir / "network.json").read_text()).get("mode") == "namespaces"
    except (OSError, ValueError):
        cut = False
    if cut:
        verb = "cut off" if args.action == "down" else "reconnected"
        say(f"zone {zone_id} of {info['ClusterName']} is {args.action}: {verb} "
            f"{', '.join(labels.get(c, c) for c in changed) or 'nothing'}")
        return EXIT_OK
    if args.action == "down":
        down = set(zones.outages(cluster_dir)) | {zone_id}
        say(f"zone {zone_id} of {info['ClusterName']} is down: froze "
            f"{', '.join(labels[c] for c in changed) or 'nothing (no running node)'}")
        zk_left = sum(1 for n in nodes if n.kind == "zookeeper" and n.zone_id not in down)
        if zk_left < 2:
            say(f"warning: only {zk_left} of 3 ZooKeeper nodes are left outside the down zones: no quorum, "
                f"the cluster cannot elect a controller until a zone is up again", err=True)
    else:
        say(f"zone {zone_id} of {info['ClusterName']} is up: thawed "
            f"{', '.join(labels.get(c, c) for c in changed) or 'nothing (no frozen node)'}")
    return EXIT_OK


def register(add) -> None:
    p = add("zone", cmd_zone, "simulate an Availability-Zone outage: freeze (down) or thaw (up) every broker "
                              "and ZooKeeper node of one zone of a cluster")
    p.add_argument("action", choices=("down", "up"))
    p.add_argument("cluster", help="cluster name or ARN")
    p.add_argument("zone", help="zone id (use1-az1) or Availability Zone name (us-east-1a)")
    p.add_argument("--region", help="AWS region (default us-east-1)")
    p.add_argument("--port", type=int, help="service port (default: the one `openmsk serve` recorded)")
