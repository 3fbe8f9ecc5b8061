"""openmsk's own instance routes (not an AWS API): what `openmsk exec` asks the running service.

POST /_openmsk/v1/instances {"SubnetId", "SecurityGroupIds": [..]} -> {"InstanceId", "Address", "Namespace"}
places an "instance" (a network namespace on the subnet's VPC bridge, a member of the groups, its
own egress/ingress rules applied) that the CLI then runs a command in; POST .../instances/terminate
{"InstanceId"} removes it. Signed with the installation key, like services/operator.py's routes.
"""
from __future__ import annotations

from ..api.core import ServiceException
from ..control.network import NetworkError

INSTANCES_PATH = "/_openmsk/v1/instances"
TERMINATE_PATH = "/_openmsk/v1/instances/terminate"


class InstanceApi:
    def __init__(self, plane) -> None:
        self.plane = plane

    def routes(self) -> list[tuple[str, str, object]]:
        return [("POST", INSTANCES_PATH, self.launch), ("POST", TERMINATE_PATH, self.terminate)]

    async def launch(self, region: str, request: dict) -> dict:
        subnet, groups = request.get("SubnetId"), request.get("SecurityGroupIds") or []
        if not isinstance(subnet, str) or not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise ServiceException("ValidationException", 'Expected {"SubnetId": string, "SecurityGroupIds": [string]}.', 400)
        try:
            doc = await self.plane.vpc.launch_instance(region, subnet, groups)
        except NetworkError as exc:
            raise ServiceException(exc.code, exc.message, 400)
        return {k: doc[k] for k in ("InstanceId", "Address", "Namespace", "VpcId", "SubnetId", "SecurityGroups")}

    async def terminate(self, region: str, request: dict) -> dict:
        instance = request.get("InstanceId")
        if not isinstance(instance, str):
            raise ServiceException("ValidationException", 'Expected {"InstanceId": string}.', 400)
        if not await self.plane.vpc.terminate_instance(instance):
            raise ServiceException("InvalidInstanceID.NotFound", f"The instance ID '{instance}' does not exist", 400)
        return {"InstanceId": instance}
