"""`openmsk zk ruok|srvr|mntr|stat`: ZooKeeper four-letter words against a cluster's ZooKeeper nodes.

The port is the one DescribeCluster publishes (ZookeeperConnectString's 2181, else
ZookeeperConnectStringTls's 2182, where port unification still answers plain four-letter words), so
this is the runbook's `echo ruok | nc <zk> 2182` for every node at once. Exit 0 when every node
answered (`imok` for ruok), 1 otherwise.
"""
from __future__ import annotations

import asyncio

from ..runtime import probes
from .common import EXIT_FAILED, EXIT_OK, Api, CliError, resolve_cluster, say, subnets
from .topology import cluster_nodes

WORDS = ("ruok", "srvr", "mntr", "stat", "conf", "isro", "envi")


async def _ask(address: str, port: int, word: str) -> str | None:
    try:
        return await probes.zk_four_letter(address, port, word, timeout=3.0)
    except (OSError, asyncio.TimeoutError):
        return None


def cmd_zk(args) -> int:
    api = Api.from_args(args)
    kafka, ec2 = api.client("kafka"), api.client("ec2")
    info = resolve_cluster(kafka, args.cluster)
    if (info.get("CurrentBrokerSoftwareInfo") or {}).get("KafkaVersion", "").endswith(".kraft"):
        # As on MSK: a KRaft cluster has no ZooKeeper (and no connect string); its metadata quorum is
        # managed, reached only through the brokers (kafka-metadata-quorum --bootstrap-server ...).
        raise CliError(f"cluster {info['ClusterName']} runs in KRaft mode ({info['CurrentBrokerSoftwareInfo']['KafkaVersion']}): "
                       f"it has no ZooKeeper; use `kafka-metadata-quorum.sh --bootstrap-server <brokers> describe --status`")
    nodes = [n for n in cluster_nodes(api, kafka, ec2, info, by_subnet=subnets(ec2)) if n.kind == "zookeeper"]
    if args.node is not None:
        nodes = [n for n in nodes if n.node_id == args.node]
        if not nodes:
            raise CliError(f"cluster {info['ClusterName']} has no ZooKeeper node {args.node} (nodes are 1-3)")
    if not nodes:
        raise CliError(f"cluster {info['ClusterName']} publishes no ZooKeeper connect string yet ({info['State']})")

    async def run():
        return await asyncio.gather(*(_ask(n.address, n.port, args.word) for n in nodes))
    answers = asyncio.run(run())
    ok = True
    for node, answer in zip(nodes, answers):
        where = f"{node.label} {node.address}:{node.port} ({node.zone_id})"
        text = (answer or "").strip()
        good = answer is not None and (text == "imok" if args.word == "ruok" else bool(text))
        ok &= good
        if not text:
            text = "no answer" if node.process not in ("frozen", "cut off") else "no answer (zone down)"
        if "\n" in text:
            say(f"{where}:")
            for line in text.splitlines():
                say(f"  {line}")
        else:
            say(f"{where}: {text}")
    return EXIT_OK if ok else EXIT_FAILED


def register(add) -> None:
    p = add("zk", cmd_zk, "ask a cluster's ZooKeeper nodes a four-letter word (ruok -> imok, srvr, mntr, ...)")
    p.add_argument("word", choices=WORDS, help="ruok: are you ok; srvr/stat: mode and counters; mntr: metrics")
    p.add_argument("cluster", help="cluster name or ARN")
    p.add_argument("--node", type=int, help="only this ZooKeeper node (1-3)")
    p.add_argument("--region", help="AWS region (default us-east-1)")
    p.add_argument("--port", type=int, help="service port (default: the one `openmsk serve` recorded)")
