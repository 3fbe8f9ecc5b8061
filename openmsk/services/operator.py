"""openmsk's own operator API (not an AWS one): what `openmsk zone down|up` asks the running service.

Routes are SigV4-signed with the installation key like every AWS call (api/gateway.py
`extra_routes`), take and return a JSON object, and change clusters only through the ControlPlane.
"""
from __future__ import annotations

from ..api.core import ServiceException
from ..control.plane import ControlPlane

ZONE_OUTAGE_PATH = "/_openmsk/v1/zone-outage"
LOG_DELIVERY_PATH = "/_openmsk/v1/log-delivery"


def _invalid(message: str) -> ServiceException:
    return ServiceException("ValidationException", message, 400)


class OperatorApi:
    def __init__(self, plane: ControlPlane, log_delivery=None) -> None:
        self.plane = plane
        self.log_delivery = log_delivery     # cluster arn -> [{Destination, Failing, Buffered*}] (LogShipper)

    def routes(self) -> list[tuple[str, str, object]]:
        from .rebalance_report import RebalanceReport      # `openmsk rebalance`
        return [("POST", ZONE_OUTAGE_PATH, self.zone_outage), ("POST", LOG_DELIVERY_PATH, self.delivery),
                *RebalanceReport(self.plane).routes()]

    def _cluster(self, region: str, arn) -> dict:
        cluster = self.plane.load_cluster(arn) if isinstance(arn, str) else None
        if cluster is None or cluster["Region"] != region:
            raise ServiceException("NotFoundException", f"The cluster {arn} does not exist.", 404)
        return cluster

    async def delivery(self, region: str, request: dict) -> dict:
        """{"ClusterArn"} -> {"Destinations": [...]}: broker-log destinations that fail or have a backlog
        (MSK shows no such thing; `openmsk status` does, so a broken log group is not silent)."""
        cluster = self._cluster(region, request.get("ClusterArn"))
        rows = self.log_delivery(cluster["ClusterArn"]) if self.log_delivery else []
        return {"Destinations": rows}

    async def zone_outage(self, region: str, request: dict) -> dict:
        """{"ClusterArn", "Zone" (zone id or AZ name), "Down": bool} -> {"ZoneId", "Nodes": [changed]}."""
        arn, zone, down = request.get("ClusterArn"), request.get("Zone"), request.get("Down")
        if not isinstance(arn, str) or not isinstance(zone, str) or not isinstance(down, bool):
            raise _invalid('Expected {"ClusterArn": string, "Zone": string, "Down": boolean}.')
        cluster = self._cluster(region, arn)
        cluster_zones = sorted({n["ZoneId"] for n in [*cluster["Brokers"], *cluster["ZooKeeperNodes"],
                                                      *(cluster.get("Controllers") or [])]})
        match = next((z for z in self.plane.network.zones(region) if zone in (z.zone_id, z.name)), None)
        if match is None or match.zone_id not in cluster_zones:
            raise _invalid(f"cluster {cluster['ClusterName']} has no nodes in zone {zone!r} "
                           f"(its zones: {', '.join(cluster_zones)})")
        nodes = await self.plane.set_zone_outage(arn, match.zone_id, down)
        return {"ZoneId": match.zone_id, "Nodes": nodes}
