"""`openmsk rebalance CLUSTER`: the operator route that shows a cluster's partition rebalancing - the
last (or running) rebalance with its progress, and what a rebalance would move now (computed from
live metadata, nothing is changed). Signed like every openmsk route (services/operator.py)."""
from __future__ import annotations

from ..api.core import ServiceException
from ..control.plane import ControlPlane
from ..control.rebalance import RebalanceFailed, current_plan

REBALANCE_PATH = "/_openmsk/v1/rebalance"


class RebalanceReport:
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    def routes(self) -> list[tuple[str, str, object]]:
        return [("POST", REBALANCE_PATH, self.report)]

    async def report(self, region: str, request: dict) -> dict:
        """{"ClusterArn"} -> {"Status", "Last": {...} | None, "Plan": {"Moves", "ReplicaCounts"} | None, "PlanError"}"""
        arn = request.get("ClusterArn")
        if not isinstance(arn, str):
            raise ServiceException("ValidationException", 'Expected {"ClusterArn": string}.', 400)
        cluster = self.plane.load_cluster(arn)
        if cluster is None or cluster["Region"] != region:
            raise ServiceException("NotFoundException", f"The cluster {arn} does not exist.", 404)
        out = {"Status": ((cluster["Spec"].get("Rebalancing") or {}).get("Status")) or "PAUSED",
               "Last": cluster.get("Rebalance") or None, "Plan": None}
        if cluster["State"] in ("ACTIVE", "UPDATING", "HEALING", "REBOOTING_BROKER"):
            try:
                out["Plan"] = await current_plan(self.plane, cluster)
            except RebalanceFailed as exc:
                out["PlanError"] = str(exc)
        return out
