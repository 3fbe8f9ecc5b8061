"""The brokers' channel to the control plane in the namespace layout. The MSK IAM plugin on a broker asks
the control plane at the address in `endpoint.json` (openmsk serve's, 127.0.0.1:<port>;
runtime/msk_iam_config.py), which inside a node's own network namespace is that namespace's loopback,
not the host's. So the control plane listens on the same address:port inside every namespaced broker and
KRaft controller and relays to itself (runtime/tcp_relay.py with runtime/netns_sockets.py): loopback
traffic, which no security group filters, reaching nothing but the service's own endpoint, where the
channel token authenticates the broker as before (control/iam_channel.py). A pass runs when the store
changes or a node's namespace is made ready (relay_service.py), so the relay is listening before the
node's process, started right after, can ask.
"""
from __future__ import annotations

from .. import config
from ..runtime import netns
from .relay_service import RelayService


class ControlPlaneChannelRelays(RelayService):
    """A background service of the control plane (app.py adds it when the namespace layout is on)."""

    name = "control plane channel relays"

    def wanted(self, plane) -> dict:
        try:
            host, port = config.read_endpoint(plane.data_dir)
        except (OSError, ValueError, KeyError):
            return {}
        vpc, out = plane.vpc, {}
        for cluster in plane.store.list("cluster"):
            cluster_vpc = vpc.cluster_vpc(cluster)
            if not vpc.enforced(cluster_vpc):
                continue
            for node in [*cluster.get("Brokers", []), *cluster.get("Controllers", [])]:
                namespace = vpc.names.node_namespace(cluster_vpc["VpcId"], node["Address"]) \
                    if node.get("Address") else None
                if namespace and netns.exists(namespace):
                    out[(namespace, host, port)] = (host, port)
        return out

    async def pass_once(self, plane) -> None:
        """Inputs: endpoint.json (written before the plane starts), cluster documents and their VPCs,
        the nodes' namespaces (NamespacedPlacement.on_namespace)."""
        await self.relays.set(self.wanted(plane))
