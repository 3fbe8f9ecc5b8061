"""`openmsk status`: every cluster, its brokers and ZooKeeper nodes by zone, and whether each answers.

Exit code 0 when the service answers and every cluster is ACTIVE with every node answering, 1 when
something is not healthy (a cluster CREATING/HEALING/FAILED, a node down or frozen), 3 when the
service is unreachable - so `openmsk status && ...` works in scripts.
"""
from __future__ import annotations

import json

from ..control import zones
from ..services.operator import LOG_DELIVERY_PATH
from .common import EXIT_FAILED, EXIT_OK, Api, CliError, all_clusters, api_call, say, subnets
from .topology import cluster_nodes, probe

HEALTHY_ANSWERS = ("ok", "leader", "follower", "standalone")


def _bootstrap(kafka, info: dict) -> dict:
    if info["State"] in ("CREATING", "DELETING", "FAILED"):
        return {}
    from botocore.exceptions import ClientError
    try:
        return kafka.get_bootstrap_brokers(ClusterArn=info["ClusterArn"])
    except ClientError:
        return {}


def _encryption(info: dict) -> str:
    transit = (info.get("EncryptionInfo") or {}).get("EncryptionInTransit") or {}
    return transit.get("ClientBroker", "TLS")


def _log_delivery(api: Api, info: dict) -> list[dict]:
    """Broker-log destinations that fail or lag (the service's log shipper), for clusters that log."""
    broker_logs = (info.get("LoggingInfo") or {}).get("BrokerLogs") or {}
    if not any((target or {}).get("Enabled") for target in broker_logs.values()):
        return []
    try:
        return api.operator(LOG_DELIVERY_PATH, {"ClusterArn": info["ClusterArn"]})["Destinations"]
    except CliError as exc:
        return [{"Destination": "broker logs", "Failing": f"delivery state unknown: {exc}"}]


def cluster_report(api: Api, kafka, ec2, info: dict, by_subnet) -> dict:
    bootstrap = _bootstrap(kafka, info)
    nodes = []
    controller = None
    if info["State"] not in ("DELETING",):
        nodes = cluster_nodes(api, kafka, ec2, info, bootstrap, by_subnet)
        controller = probe(nodes, bootstrap, api.ca_path) if info["State"] != "CREATING" else None
    outages = sorted(zones.outages(api.cluster_dir(info["ClusterArn"])))
    healthy = (info["State"] == "ACTIVE" and not outages
               and all(n.process == "running" and n.answer in HEALTHY_ANSWERS for n in nodes))
    return {
        "ClusterName": info["ClusterName"], "ClusterArn": info["ClusterArn"], "State": info["State"],
        "KafkaVersion": info["CurrentBrokerSoftwareInfo"]["KafkaVersion"], "ClientBroker": _encryption(info),
        "Zones": sorted({n.zone_id for n in nodes}), "ZonesDown": outages, "Healthy": healthy,
        "Controller": controller, "StateInfo": info.get("StateInfo"), "LogDelivery": _log_delivery(api, info),
        "Nodes": [{"Node": n.label, "Kind": n.kind, "Id": n.node_id, "Zone": n.zone_id,
                   "Address": f"{n.address}:{n.port}", "Process": n.process, "Answer": n.answer} for n in nodes],
    }


def _print(report: dict, endpoint: str) -> None:
    brokers = [n for n in report["Nodes"] if n["Kind"] == "broker"]
    health = "healthy" if report["Healthy"] else "NOT HEALTHY"
    say(f"{report['ClusterName']}  {report['State']}  Kafka {report['KafkaVersion']}  "
        f"{len(brokers)} brokers in {len(report['Zones'])} zones  client-broker {report['ClientBroker']}  {health}")
    say(f"  {report['ClusterArn']}")
    if report.get("StateInfo"):
        say(f"  {report['StateInfo'].get('Code')}: {report['StateInfo'].get('Message')}")
    for dest in report.get("LogDelivery") or []:
        backlog = f"{dest.get('BufferedBytes', 0):,} bytes buffered"
        if dest.get("Failing"):
            say(f"  broker logs to the {dest['Destination']}: FAILING ({dest['Failing']}); {backlog}")
        else:
            say(f"  broker logs to the {dest['Destination']}: delivering, {backlog}")
    for zone in report["ZonesDown"]:
        say(f"  zone {zone} is DOWN (simulated outage; `openmsk zone up {report['ClusterName']} {zone}`)")
    if not report["Nodes"]:
        return
    say(f"  {'ZONE':<10} {'NODE':<6} {'ADDRESS':<21} {'PROCESS':<9} ANSWER")
    for n in report["Nodes"]:
        answer = n["Answer"] + (" (controller)" if n["Kind"] == "broker" and n["Id"] == report["Controller"] else "")
        say(f"  {n['Zone']:<10} {n['Node']:<6} {n['Address']:<21} {n['Process']:<9} {answer}")


def _network(api) -> dict:
    """What the service wrote at start-up (control/vpc_runtime.py): layout, and why SGs are not enforced."""
    try:
        return json.loads((api.data_dir / "network.json").read_text())
    except (OSError, ValueError):
        return {}


def cmd_status(args) -> int:
    api = Api.from_args(args)
    kafka, ec2 = api.client("kafka"), api.client("ec2")
    clusters = all_clusters(kafka)
    if args.cluster:
        clusters = [c for c in clusters if args.cluster in (c["ClusterName"], c["ClusterArn"])]
    by_subnet = subnets(ec2) if clusters else {}
    reports = [cluster_report(api, kafka, ec2, c, by_subnet) for c in clusters]
    network = _network(api)
    if args.json:
        say(json.dumps({"Endpoint": api.endpoint, "Region": api.region, "Network": network, "Clusters": reports},
                       indent=2))
    else:
        say(f"openmsk at {api.endpoint} ({api.region}): {len(reports)} cluster{'s' if len(reports) != 1 else ''}")
        if network.get("mode") == "namespaces":
            say("network: namespaces (VPC bridges; security groups enforced by nftables)")
        elif network:
            say(f"network: loopback layout: {network.get('message')}")
        for report in reports:
            say()
            _print(report, api.endpoint)
    if args.cluster and not clusters:
        say(f"openmsk status: no cluster {args.cluster!r}", err=True)
        return EXIT_FAILED
    return EXIT_OK if all(r["Healthy"] for r in reports) else EXIT_FAILED


def register(add) -> None:
    p = add("status", cmd_status, "clusters, brokers and ZooKeeper nodes by zone, and whether each answers "
                                  "(exit 0 when everything is healthy, 1 when not)")
    p.add_argument("cluster", nargs="?", help="only this cluster (name or ARN)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--region", help="AWS region (default us-east-1)")
    p.add_argument("--port", type=int, help="service port (default: the one `openmsk serve` recorded)")
