"""Multi-VPC private connectivity, the data path in the namespace layout: one endpoint per AVAILABLE
client VPC connection, the PrivateLink endpoint MSK puts in the client's subnets.

    client VPC bridge                                             cluster VPC bridge
    instance 10.77.0.11 ─┐                                        ┌─ broker 172.31.0.10 (listener :14098)
                         ├─ endpoint ns  eth0 10.77.0.10/16       │
                         │    + 100.66.<slot>.<id>/32 per broker  │
                         │    (nftables: the connection's groups) │
                         │        relay (in the control plane) ═══╪═ service ns  eth0 172.31.0.12/16
                         │                                        │   (the relays' upstream sockets)

The endpoint namespace sits on the client VPC's bridge with an address of the connection's first client
subnet and, as /32s, the brokers' advertised multi-VPC addresses of the connection's authentication type
(control/multi_vpc.py: 100.(64+t).<slot>.<broker id>, port 14000+id); every instance namespace routes
100.64.0.0/14 on its own segment, so the endpoint answers for them there. Its nftables table is the
connection's security groups (ingress and egress rules, re-applied with every group change, as for any
instance), so a client whose group the connection's groups do not admit is dropped at the network.
The control plane listens inside it and relays each connection, bytes untouched (TLS end to end, the
brokers' multi-VPC certificates name the advertised addresses), from a second namespace on the cluster
VPC's bridge (its "service side") to the broker's multi-VPC listener. The two VPCs are never routed to
each other (the namespaces do not forward), so overlapping CIDRs would work as with PrivateLink; brokers
always admit their endpoints' service-side addresses (vpc_runtime.py), as MSK manages that side itself.

A pass runs when the store changes, when a connection's pending CREATING -> AVAILABLE is due by the
clock (`settles_in`), and every 15 s regardless (relay_service.py). A connection that leaves AVAILABLE
(rejected, deleted, its cluster deleted, its type turned off: each a write) loses its endpoint within a
pass (at most a second): the relays and the connections they carry are closed and both
namespaces are removed. The relays live as long as the control plane (like public access's relays).
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging

from ..runtime import netns
from .relay_service import RelayService
from .layout import client_listeners
from .multi_vpc import (LISTENER_OF_AUTHENTICATION, MULTI_VPC_BIND_PORTS, MULTI_VPC_TWINS, advertised_address,
                        advertised_port, vpc_connectivity_on)
from .vpc_runtime import ENDPOINT_KIND

log = logging.getLogger(__name__)


def _type_of(connection: dict) -> int | None:
    private = LISTENER_OF_AUTHENTICATION.get(connection["Authentication"])
    return MULTI_VPC_TWINS[private][1] if private else None


class VpcEndpoints(RelayService):
    """A background service of the control plane (app.py adds it when the namespace layout is on)."""

    name = "multi-VPC endpoints"

    def __init__(self, connections) -> None:
        super().__init__()
        self.connections = connections          # control/ports.py VpcConnections

    async def pass_once(self, plane) -> float | None:
        """Inputs: VPC connections (and the clock, for their pending transitions), cluster documents,
        VPCs, subnets, the endpoints' own documents and namespaces."""
        await self.sync(plane)
        return self.connections.settles_in()

    # -- one pass ----------------------------------------------------------------------------------
    def wanted(self, plane) -> dict[str, tuple[dict, dict]]:
        """connection ARN -> (connection, cluster) for every connection that must have a data path now."""
        vpc = plane.vpc
        out = {}
        for conn in self.connections.with_data_path():
            cluster = plane.load_cluster(conn["TargetClusterArn"])
            t = _type_of(conn)
            if cluster is None or t is None or cluster["State"] in ("DELETING", "FAILED", "CREATING"):
                continue
            private = LISTENER_OF_AUTHENTICATION[conn["Authentication"]]
            if not vpc_connectivity_on(cluster)[MULTI_VPC_TWINS[private][3]] \
                    or private not in {l.name for l in client_listeners(cluster)}:
                continue
            client_vpc = plane.store.get("vpc", conn["VpcId"])
            if not (vpc.enforced(vpc.cluster_vpc(cluster)) and vpc.enforced(client_vpc)):
                continue
            out[conn["VpcConnectionArn"]] = (conn, cluster)
        return out

    async def sync(self, plane) -> None:
        store, vpc = plane.store, plane.vpc
        wanted = self.wanted(plane)
        existing = {d["VpcConnectionArn"]: d for d in store.list(ENDPOINT_KIND)}
        gone = [d for arn, d in existing.items() if arn not in wanted]
        mapping = {}
        changed = bool(gone)
        for arn, (conn, cluster) in wanted.items():
            doc = existing.get(arn)
            if doc is None:
                doc = self._new_endpoint(plane, conn, cluster)
                store.put(ENDPOINT_KIND, arn, doc, region=conn["Region"], parent=cluster["ClusterArn"])
                changed = True
            t = _type_of(conn)
            brokers = [b for b in cluster["Brokers"] if b.get("Address")]
            addresses = sorted(advertised_address(cluster, b["BrokerId"], t, b["Address"]) for b in brokers)
            if doc.get("Addresses") != addresses or doc.get("SecurityGroups") != conn["SecurityGroups"] \
                    or not (netns.exists(doc["ClientNamespace"]) and netns.exists(doc["ServiceNamespace"])):
                doc.update(Addresses=addresses, SecurityGroups=list(conn["SecurityGroups"]))
                store.put(ENDPOINT_KIND, arn, doc, region=conn["Region"], parent=cluster["ClusterArn"])
                await self._wire(plane, doc)
                changed = True
            for b in brokers:
                listen = (doc["ClientNamespace"], advertised_address(cluster, b["BrokerId"], t, b["Address"]),
                          advertised_port(b["BrokerId"]))
                mapping[listen] = (doc["ServiceNamespace"], b["Address"], MULTI_VPC_BIND_PORTS[t])
        await self.relays.set(mapping)          # first: a removed endpoint's clients are cut at once
        for doc in gone:
            store.delete(ENDPOINT_KIND, doc["VpcConnectionArn"])
            for ns in (doc["ClientNamespace"], doc["ServiceNamespace"]):
                await asyncio.to_thread(netns.delete_namespace, ns)
            log.info("multi-VPC endpoint of %s removed", doc["VpcConnectionArn"])
        if changed:
            await vpc.sync()                    # groups' members and the brokers' admitted relays changed

    def _new_endpoint(self, plane, conn: dict, cluster: dict) -> dict:
        vpc = plane.vpc
        client_subnet = plane.network.subnet(conn["Region"], conn["ClientSubnets"][0])
        cluster_subnet = plane.network.subnet(cluster["Region"], cluster["Brokers"][0]["SubnetId"])
        cluster_vpc = vpc.cluster_vpc(cluster)
        client_address = vpc.allocator(conn["Region"])(client_subnet)
        service_address = vpc.allocator(conn["Region"], extra_used=vpc.used_addresses(cluster_vpc["VpcId"])
                                        | {client_address})(cluster_subnet)
        return {"VpcConnectionArn": conn["VpcConnectionArn"], "ClusterArn": cluster["ClusterArn"],
                "ClientVpcId": conn["VpcId"], "ClientAddress": client_address,
                "ClientNamespace": vpc.names.node_namespace(conn["VpcId"], client_address),
                "ClusterVpcId": cluster_vpc["VpcId"], "ServiceAddress": service_address,
                "ServiceNamespace": vpc.names.node_namespace(cluster_vpc["VpcId"], service_address),
                "SecurityGroups": list(conn["SecurityGroups"]), "Addresses": []}

    @staticmethod
    async def _wire(plane, doc: dict) -> None:
        vpc = plane.vpc                         # (the store is read on the event loop's thread only)
        client_vpc, cluster_vpc = plane.store.get("vpc", doc["ClientVpcId"]), plane.store.get("vpc", doc["ClusterVpcId"])
        vpc.ensure_vpc(client_vpc)
        vpc.ensure_vpc(cluster_vpc)
        rules = vpc.rulesets()
        await asyncio.to_thread(netns.ensure_endpoint, netns.Attachment(
            doc["ClientNamespace"], vpc.names.vpc_namespace(doc["ClientVpcId"]), doc["ClientAddress"],
            ipaddress.ip_network(client_vpc["CidrBlock"]).prefixlen, rules.get(doc["ClientNamespace"], ""),
            extra_addresses=tuple(doc["Addresses"])))
        await asyncio.to_thread(netns.ensure_endpoint, netns.Attachment(
            doc["ServiceNamespace"], vpc.names.vpc_namespace(doc["ClusterVpcId"]), doc["ServiceAddress"],
            ipaddress.ip_network(cluster_vpc["CidrBlock"]).prefixlen))
        log.info("multi-VPC endpoint of %s: %s in %s, relaying from %s in %s", doc["VpcConnectionArn"],
                 doc["ClientAddress"], doc["ClientVpcId"], doc["ServiceAddress"], doc["ClusterVpcId"])
