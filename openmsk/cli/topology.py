"""A cluster's nodes as an operator sees them: broker and ZooKeeper nodes with their zone (from the API:
ListNodes, DescribeCluster, DescribeSubnets), their process state (local node files) and whether they
answer (cheap wire probes: Kafka Metadata on a client listener, ZooKeeper `srvr`)."""
from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path

from ..awscli_plugin import zookeeper_nodes
from ..control import zones
from ..runtime import probes
from .common import Api, Subnet, list_nodes, subnets, zone_of


@dataclass
class Node:
    kind: str                 # "broker" | "zookeeper"
    node_id: int
    address: str
    port: int
    zone: Subnet | None
    workdir: Path
    process: str = "unknown"  # see zones.process_state
    answer: str = ""          # probe result: "ok", "leader", "follower", "no answer", ...

    @property
    def dir_name(self) -> str:
        return self.workdir.name

    @property
    def label(self) -> str:
        return f"{'b' if self.kind == 'broker' else 'z'}-{self.node_id}"

    @property
    def zone_id(self) -> str:
        return self.zone.zone_id if self.zone else "?"


def _broker_probe_port(bootstrap: dict) -> tuple[int, bool]:
    """A client listener to probe: plaintext if the cluster has one, else TLS (server-authenticated)."""
    if bootstrap.get("BootstrapBrokerString"):
        return int(bootstrap["BootstrapBrokerString"].split(",")[0].rsplit(":", 1)[1]), False
    if bootstrap.get("BootstrapBrokerStringTls"):
        return int(bootstrap["BootstrapBrokerStringTls"].split(",")[0].rsplit(":", 1)[1]), True
    return 9092, False


def cluster_nodes(api: Api, kafka, ec2, info: dict, bootstrap: dict | None = None,
                  by_subnet: dict[str, Subnet] | None = None) -> list[Node]:
    by_subnet = by_subnet if by_subnet is not None else subnets(ec2)
    cluster_dir = api.cluster_dir(info["ClusterArn"])
    listed = list_nodes(kafka, info["ClusterArn"])
    port, _ = _broker_probe_port(bootstrap or {})
    nodes = []
    for n in listed:
        b = n.get("BrokerNodeInfo")
        if not b:
            continue
        broker_id = int(b["BrokerId"])
        nodes.append(Node("broker", broker_id, b["ClientVpcIpAddress"], port,
                          zone_of(b["ClientVpcIpAddress"], by_subnet, b.get("ClientSubnet")),
                          cluster_dir / f"broker-{broker_id}"))
    for z in zookeeper_nodes(info, listed):
        address = z.get("Endpoint") or (z.get("Endpoints") or [z.get("ClientVpcIpAddress")])[0]
        zk_port = z.get("Port") or z.get("TlsPort") or 2181
        nodes.append(Node("zookeeper", int(z["ZookeeperId"]), address, zk_port, zone_of(address, by_subnet),
                          cluster_dir / f"zookeeper-{int(z['ZookeeperId'])}"))
    nodes.sort(key=lambda n: (n.zone_id, n.kind != "broker", n.node_id))
    for node in nodes:
        node.process = zones.process_state(node.workdir)
    return nodes


async def _probe(node: Node, tls_context: ssl.SSLContext | None, controller: list) -> None:
    if node.process in ("frozen", "cut off"):
        node.answer = "no answer (zone down)"
        return
    if node.kind == "zookeeper":
        mode = await probes.zk_mode(node.address, node.port)
        node.answer = mode or "no answer"
        return
    meta = await probes.try_kafka_metadata(node.address, node.port, timeout=3.0, ssl_context=tls_context)
    if meta is None:
        node.answer = "no answer"
        return
    node.answer = "ok" if node.node_id in meta.broker_ids else "up, not registered"
    controller.append(meta.controller_id)


def probe(nodes: list[Node], bootstrap: dict, ca_path: Path) -> int | None:
    """Fill in `answer` for every node; returns the controller's broker id (if any broker answered)."""
    _, use_tls = _broker_probe_port(bootstrap)
    context = None
    if use_tls and ca_path.exists():
        context = ssl.create_default_context(cafile=str(ca_path))
    controller: list[int] = []

    async def run():
        await asyncio.gather(*(_probe(n, context, controller) for n in nodes))
    asyncio.run(run())
    return max(set(controller), key=controller.count) if controller else None
