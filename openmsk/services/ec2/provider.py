"""Ec2Provider: the read-only VPC subset the kafka API leans on (availability zones, the default VPC,
its per-zone subnets and security groups). Filters follow EC2's semantics: values within one filter
are ORed, filters are ANDed, and an unknown explicit id is an error rather than an empty answer."""
from __future__ import annotations

from typing import Callable

from ...api.core import Provider, RequestContext, ServiceException, handler
from ...control.network import Network
from ..common import paginate


def _filter_match(doc: dict, filters: list[dict], fields: dict[str, callable]) -> bool:
    for flt in filters or []:
        name, values = flt.get("Name"), flt.get("Values") or []
        getter = fields.get(name)
        if getter is None:
            raise ServiceException("InvalidParameterValue", f"The filter '{name}' is invalid", 400)
        actual = getter(doc)
        actual = actual if isinstance(actual, list) else [actual]
        if not any(str(a).lower() == str(v).lower() if isinstance(a, bool) else str(a) == v
                   for a in actual for v in values):
            return False
    return True


def _tag_getters(doc: dict) -> list[str]:
    return [t["Key"] for t in doc.get("Tags") or []]


def _public(doc: dict, hidden=("ZoneIndex",)) -> dict:
    return {k: v for k, v in doc.items() if k not in hidden}


class Ec2Provider(Provider):
    service_name = "ec2"

    def __init__(self, network: Network, clusters: Callable[[str], list[dict]]) -> None:
        self.network = network
        self.clusters = clusters          # region -> cluster documents (a subnet in use is not deleted)

    def _page(self, items: list, request: dict, key: str) -> dict:
        if request.get("MaxResults") is not None and not 5 <= request["MaxResults"] <= 1000:
            raise ServiceException("InvalidParameterValue", "Value for parameter MaxResults is invalid. "
                                   "Expecting a value between 5 and 1000.", 400)
        return paginate(items, request, key, default_max=1000, bad_token=lambda t: ServiceException(
            "InvalidPaginationToken", f"The pagination token '{t}' is invalid.", 400))

    @handler("DescribeAvailabilityZones")
    async def describe_availability_zones(self, ctx: RequestContext, request: dict) -> dict:
        zones = [{"ZoneName": z.name, "ZoneId": z.zone_id, "State": "available", "RegionName": z.region,
                  "ZoneType": "availability-zone", "OptInStatus": "opt-in-not-required",
                  "GroupName": f"{z.region}-zg-1", "NetworkBorderGroup": z.region, "Messages": []}
                 for z in self.network.zones(ctx.region)]
        for name_key, param in (("ZoneName", "ZoneNames"), ("ZoneId", "ZoneIds")):
            wanted = request.get(param) or []
            unknown = [w for w in wanted if w not in {z[name_key] for z in zones}]
            if unknown:
                raise ServiceException("InvalidParameterValue",
                                       f"The zone '{unknown[0]}' does not exist in the region {ctx.region}", 400)
            if wanted:
                zones = [z for z in zones if z[name_key] in wanted]
        fields = {"zone-name": lambda z: z["ZoneName"], "zone-id": lambda z: z["ZoneId"],
                  "state": lambda z: z["State"], "region-name": lambda z: z["RegionName"],
                  "zone-type": lambda z: z["ZoneType"], "group-name": lambda z: z["GroupName"],
                  "opt-in-status": lambda z: z["OptInStatus"]}
        return {"AvailabilityZones": [z for z in zones if _filter_match(z, request.get("Filters"), fields)]}

    @handler("DescribeVpcs")
    async def describe_vpcs(self, ctx: RequestContext, request: dict) -> dict:
        vpcs = self.network.vpcs(ctx.region)
        wanted = request.get("VpcIds") or []
        for vpc_id in wanted:
            if vpc_id not in {v["VpcId"] for v in vpcs}:
                raise ServiceException("InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist", 400)
        fields = {"vpc-id": lambda v: v["VpcId"], "cidr": lambda v: v["CidrBlock"], "cidr-block": lambda v: v["CidrBlock"],
                  "is-default": lambda v: v["IsDefault"], "state": lambda v: v["State"],
                  "owner-id": lambda v: v["OwnerId"], "tag-key": _tag_getters}
        vpcs = [_public(v) for v in vpcs if (not wanted or v["VpcId"] in wanted)
                and _filter_match(v, request.get("Filters"), fields)]
        return self._page(vpcs, request, "Vpcs")

    @handler("DescribeSubnets")
    async def describe_subnets(self, ctx: RequestContext, request: dict) -> dict:
        subnets = self.network.subnets(ctx.region)
        wanted = request.get("SubnetIds") or []
        for subnet_id in wanted:
            if subnet_id not in {s["SubnetId"] for s in subnets}:
                raise ServiceException("InvalidSubnetID.NotFound", f"The subnet ID '{subnet_id}' does not exist", 400)
        fields = {"subnet-id": lambda s: s["SubnetId"], "vpc-id": lambda s: s["VpcId"],
                  "availability-zone": lambda s: s["AvailabilityZone"],
                  "availability-zone-id": lambda s: s["AvailabilityZoneId"], "cidr-block": lambda s: s["CidrBlock"],
                  "default-for-az": lambda s: s["DefaultForAz"], "state": lambda s: s["State"],
                  "owner-id": lambda s: s["OwnerId"], "tag-key": _tag_getters}
        subnets = [_public(s) for s in subnets if (not wanted or s["SubnetId"] in wanted)
                   and _filter_match(s, request.get("Filters"), fields)]
        return self._page(subnets, request, "Subnets")

    @handler("DescribeSecurityGroups")
    async def describe_security_groups(self, ctx: RequestContext, request: dict) -> dict:
        groups = self.network.security_groups(ctx.region)
        ids, names = request.get("GroupIds") or [], request.get("GroupNames") or []
        for group_id in ids:
            if group_id not in {g["GroupId"] for g in groups}:
                raise ServiceException("InvalidGroup.NotFound", f"The security group '{group_id}' does not exist", 400)
        for name in names:
            if name not in {g["GroupName"] for g in groups}:
                raise ServiceException("InvalidGroup.NotFound",
                                       f"The security group '{name}' does not exist in default VPC", 400)
        fields = {"group-id": lambda g: g["GroupId"], "group-name": lambda g: g["GroupName"],
                  "vpc-id": lambda g: g["VpcId"], "description": lambda g: g["Description"],
                  "owner-id": lambda g: g["OwnerId"], "tag-key": _tag_getters}
        groups = [g for g in groups if (not ids or g["GroupId"] in ids) and (not names or g["GroupName"] in names)
                  and _filter_match(g, request.get("Filters"), fields)]
        return self._page(groups, request, "SecurityGroups")

    @handler("CreateSubnet")
    async def create_subnet(self, ctx: RequestContext, request: dict) -> dict:
        network = self.network
        if not any(v["VpcId"] == request["VpcId"] for v in network.vpcs(ctx.region)):
            raise ServiceException("InvalidVpcID.NotFound", f"The vpc ID '{request['VpcId']}' does not exist", 400)
        if not request.get("CidrBlock"):
            raise ServiceException("MissingParameter", "The request must contain the parameter cidrBlock", 400)
        zones = network.zones(ctx.region)
        zone = next((z for z in zones if z.name == request.get("AvailabilityZone")
                     or z.zone_id == request.get("AvailabilityZoneId")), None)
        if zone is None:
            if request.get("AvailabilityZone") or request.get("AvailabilityZoneId"):
                wanted = request.get("AvailabilityZone") or request.get("AvailabilityZoneId")
                raise ServiceException("InvalidParameterValue",
                                       f"Value ({wanted}) for parameter availabilityZone is invalid. "
                                       f"Subnets can currently only be created in the following availability zones: "
                                       + ", ".join(z.name for z in zones) + ".", 400)
            zone = zones[0]
        tags = [t for spec in request.get("TagSpecifications") or [] if spec.get("ResourceType") == "subnet"
                for t in spec.get("Tags") or []]
        try:
            doc = network.create_subnet(ctx.region, request["VpcId"], zone, request["CidrBlock"], tags)
        except ValueError as exc:
            raise ServiceException(exc.args[0], exc.args[1], 400)
        return {"Subnet": _public(doc)}

    @handler("DeleteSubnet")
    async def delete_subnet(self, ctx: RequestContext, request: dict) -> dict:
        subnet = self.network.subnet(ctx.region, request["SubnetId"])
        if subnet is None:
            raise ServiceException("InvalidSubnetID.NotFound", f"The subnet ID '{request['SubnetId']}' does not exist", 400)
        users = [c["ClusterName"] for c in self.clusters(ctx.region)
                 if subnet["SubnetId"] in c["Spec"]["BrokerNodeGroupInfo"]["ClientSubnets"]]
        if users:
            raise ServiceException("DependencyViolation", f"The subnet '{subnet['SubnetId']}' has dependencies and "
                                   f"cannot be deleted (used by cluster {', '.join(users)}).", 400)
        self.network.delete_subnet(ctx.region, subnet["SubnetId"])
        return {}
