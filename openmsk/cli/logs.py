"""`openmsk logs`: show (or follow) a broker's or ZooKeeper node's log file.

Brokers write server.log, controller.log and state-change.log (Kafka's log4j layout) and their JVM
output to stdout.log, all under <data-dir>/clusters/<cluster-uuid>/broker-<id>/logs; ZooKeeper nodes
write zookeeper.log. The cluster is resolved through the API; the files are read locally with tail(1).
"""
from __future__ import annotations

import os
import shutil

from .common import Api, CliError, EXIT_USAGE, resolve_cluster

FILES = ("server", "controller", "state-change", "stdout", "zookeeper")


def log_path(api: Api, info: dict, args):
    if (args.broker is None) == (args.zookeeper is None):
        raise CliError("say which node: --broker ID or --zookeeper ID", EXIT_USAGE)
    cluster_dir = api.cluster_dir(info["ClusterArn"])
    kind, node_id = ("broker", args.broker) if args.broker is not None else ("zookeeper", args.zookeeper)
    workdir = cluster_dir / f"{kind}-{node_id}"
    if not workdir.exists():
        present = sorted(p.name for p in cluster_dir.glob(f"{kind}-*")) if cluster_dir.exists() else []
        raise CliError(f"cluster {info['ClusterName']} has no {kind} {node_id} on this machine"
                       f" ({', '.join(present) or 'no node directories'} in {cluster_dir})")
    name = args.file or ("server" if kind == "broker" else "zookeeper")
    if kind == "zookeeper" and name not in ("zookeeper", "stdout"):
        raise CliError("ZooKeeper nodes have --file zookeeper or stdout", EXIT_USAGE)
    if kind == "broker" and name == "zookeeper":
        raise CliError("brokers have --file server, controller, state-change or stdout", EXIT_USAGE)
    return workdir / "logs" / f"{name}.log"


def cmd_logs(args) -> int:
    api = Api.from_args(args)
    info = resolve_cluster(api.client("kafka"), args.cluster)
    path = log_path(api, info, args)
    if not path.exists() and not args.follow:
        raise CliError(f"{path} does not exist (yet)")
    tail = shutil.which("tail")
    if tail is None:
        raise CliError("tail(1) is not installed")
    argv = [tail, "-n", str(args.lines)] + (["-F"] if args.follow else []) + [str(path)]
    os.execv(tail, argv)


def register(add) -> None:
    p = add("logs", cmd_logs, "show or follow (-f) the log of a broker (server.log) or ZooKeeper node")
    p.add_argument("cluster", help="cluster name or ARN")
    p.add_argument("--broker", "-b", type=int, metavar="ID", help="broker id (1..N)")
    p.add_argument("--zookeeper", "-z", type=int, metavar="ID", help="ZooKeeper node id (1..3)")
    p.add_argument("--file", choices=FILES, help="which log (default server for brokers, zookeeper for ZooKeeper)")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines (Ctrl-C to stop)")
    p.add_argument("--lines", "-n", type=int, default=50, help="how many last lines to show (default 50)")
    p.add_argument("--region", help="AWS region (default us-east-1)")
    p.add_argument("--port", type=int, help="service port (default: the one `openmsk serve` recorded)")
