"""Public access in the namespace layout: a broker's public address (127.254.<slot>.<id>, its "elastic
IP", runtime/addressing.py) is on the host, but its public listeners are inside its namespace, bound to
its VPC address (public_access.py). The control plane relays each public address:port to the broker's
VPC address:port (runtime/tcp_relay.py), as the EIP's NAT does on AWS. The relayed connections come
from the host's address in the default VPC, so the cluster's security groups decide on them as on
any host client (the default group admits them). The relays live as long as the control plane: with it
stopped, the public addresses do not answer (the private ones still do). A pass runs when the store
changes (relay_service.py), so an address answers or stops as soon as its cluster's document says so.
"""
from __future__ import annotations

from ..runtime.tcp_relay import Endpoint
from .layout import client_listeners
from .public_access import PUBLIC_TWINS, public_access_on, public_address
from .relay_service import RelayService


def wanted_relays(clusters: list[dict], enforced) -> dict[Endpoint, Endpoint]:
    """(public address, port) -> (VPC address, port) for every broker of a namespaced public cluster."""
    out: dict[Endpoint, Endpoint] = {}
    for cluster in clusters:
        if not public_access_on(cluster) or not enforced(cluster):
            continue
        ports = [PUBLIC_TWINS[l.name][1] for l in client_listeners(cluster) if l.name in PUBLIC_TWINS]
        for broker in cluster.get("Brokers", []):
            if broker.get("Address"):
                for port in ports:
                    out[(public_address(cluster, broker["BrokerId"]), port)] = (broker["Address"], port)
    return out


class PublicRelays(RelayService):
    """A background service of the control plane (plane.background_services)."""

    name = "public access relays"

    async def pass_once(self, plane) -> None:
        """Inputs: cluster documents (public access, brokers' addresses) and their VPCs and subnets."""
        enforced = lambda cluster: plane.vpc.enforced(plane.vpc.cluster_vpc(cluster))  # noqa: E731
        await self.relays.set(wanted_relays(plane.store.list("cluster"), enforced))
