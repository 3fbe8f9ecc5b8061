"""`openmsk rebalance CLUSTER`: a cluster's partition rebalancing - its status (UpdateRebalancing), the
last or running rebalance with its progress (partitions moved / planned, throttle), and the plan a
rebalance would carry out now, with each broker's replica count. `--json` prints the service's
document (POST /_openmsk/v1/rebalance). It only shows: a rebalance is started with
`aws kafka update-rebalancing --rebalancing Status=ACTIVE` or happens within `update-broker-count`."""
from __future__ import annotations

import json

from ..services.rebalance_report import REBALANCE_PATH
from .common import EXIT_OK, Api, resolve_cluster, say

SHOWN_MOVES = 20


def _moves(moves: list[dict]) -> None:
    for move in moves[:SHOWN_MOVES]:
        say(f"    {move['Partition']:<40} {move['From']} -> {move['To']}")
    if len(moves) > SHOWN_MOVES:
        say(f"    ... and {len(moves) - SHOWN_MOVES} more")


def cmd_rebalance(args) -> int:
    api = Api.from_args(args)
    info = resolve_cluster(api.client("kafka"), args.cluster)
    doc = api.operator(REBALANCE_PATH, {"ClusterArn": info["ClusterArn"]})
    if args.json:
        say(json.dumps(doc, indent=2, default=str))
        return EXIT_OK
    say(f"{info['ClusterName']}  rebalancing {doc['Status']}  cluster {info['State']}")
    last = doc.get("Last")
    if last:
        say(f"  last rebalance ({last.get('Reason')}): {last.get('State')}, {last.get('Done', 0)}/{last.get('Total', 0)} "
            f"partitions moved, throttle {last.get('Throttle', 0) // (1024 * 1024)} MiB/s, started "
            f"{last.get('StartTime')}" + (f", ended {last['EndTime']}" if last.get("EndTime") else ""))
        if last.get("Leaving"):
            say(f"  draining brokers {', '.join(map(str, last['Leaving']))}")
        if last.get("Error"):
            say(f"  error: {last['Error']}")
        if last.get("State") == "RUNNING":
            _moves(last.get("Moves") or [])
    else:
        say("  no rebalance has run on this cluster")
    plan = doc.get("Plan")
    if plan is not None:
        counts = ", ".join(f"b-{b}: {n}" for b, n in plan["ReplicaCounts"].items())
        say(f"  replicas per broker: {counts}")
        if plan["Moves"]:
            say(f"  a rebalance now would move {len(plan['Moves'])} partitions:")
            _moves(plan["Moves"])
        else:
            say("  balanced: a rebalance now would move nothing")
    elif doc.get("PlanError"):
        say(f"  plan not available: {doc['PlanError']}")
    return EXIT_OK


def register(add) -> None:
    p = add("rebalance", cmd_rebalance, "show a cluster's partition rebalancing: status, progress of the last "
                                        "rebalance, and what a rebalance would move now")
    p.add_argument("cluster", help="cluster name or ARN")
    p.add_argument("--json", action="store_true", help="print the document instead of a summary")
