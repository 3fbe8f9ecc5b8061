"""Ec2Provider: the VPC subset MSK leans on: availability zones, VPCs, subnets, security groups and
their rules, tags. Documents live in control/network.py and control/security_groups.py (what the
rules do on the wire: control/firewall.py); this layer parses requests, applies EC2's request rules
and answers in EC2's shapes. An unknown explicit id is an error rather than an empty answer."""
from __future__ import annotations

from typing import Callable

from ...api.core import Provider, RequestContext, ServiceException, handler
from ...control.network import Network, NetworkError
from ...control.security_groups import SecurityGroups
from ..common import paginate
from .filters import matches, tags_of

HIDDEN = ("ZoneIndex", "Region")


def _public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in HIDDEN}


def _error(exc: NetworkError) -> ServiceException:
    return ServiceException(exc.code, exc.message, 400)


def _permissions(request: dict) -> list[dict]:
    """IpPermissions (or the legacy flat CidrIp/IpProtocol/FromPort/ToPort members) -> one
    SecurityGroupRuleRequest per peer."""
    perms = list(request.get("IpPermissions") or [])
    if request.get("CidrIp") or request.get("IpProtocol"):
        perms.append({"IpProtocol": request.get("IpProtocol", "-1"), "FromPort": request.get("FromPort"),
                      "ToPort": request.get("ToPort"), "IpRanges": [{"CidrIp": request["CidrIp"]}]
                      if request.get("CidrIp") else []})
    rules = []
    for perm in perms:
        if perm.get("Ipv6Ranges"):
            raise ServiceException("InvalidParameterValue", "IPv6 rules are not supported by openmsk (its VPCs are "
                                   "IPv4 only); use IpRanges.", 400)
        if perm.get("PrefixListIds"):
            raise ServiceException("InvalidParameterValue", "Prefix lists are not supported by openmsk.", 400)
        base = {k: perm[k] for k in ("IpProtocol", "FromPort", "ToPort") if perm.get(k) is not None}
        peers = [{"CidrIpv4": r.get("CidrIp"), "Description": r.get("Description")} for r in perm.get("IpRanges") or []]
        peers += [{"ReferencedGroupId": p.get("GroupId"), "GroupName": p.get("GroupName"),
                   "Description": p.get("Description")} for p in perm.get("UserIdGroupPairs") or []]
        if not peers:
            raise ServiceException("InvalidParameterValue", "An IpPermission names at least one IpRanges or "
                                   "UserIdGroupPairs entry.", 400)
        rules += [{**base, **{k: v for k, v in peer.items() if v is not None}} for peer in peers]
    if not rules and not request.get("SecurityGroupRuleIds"):
        raise ServiceException("MissingParameter", "The request must contain the parameter ipPermissions", 400)
    return rules


class Ec2Provider(Provider):
    service_name = "ec2"

    def __init__(self, network: Network, clusters: Callable[[str], list[dict]]) -> None:
        self.network = network
        self.groups = SecurityGroups(network)
        self.clusters = clusters          # region -> cluster documents (a subnet/group in use is not deleted)

    def _page(self, items: list, request: dict, key: str) -> dict:
        if request.get("MaxResults") is not None and not 5 <= request["MaxResults"] <= 1000:
            raise ServiceException("InvalidParameterValue", "Value for parameter MaxResults is invalid. "
                                   "Expecting a value between 5 and 1000.", 400)
        return paginate(items, request, key, default_max=1000, bad_token=lambda t: ServiceException(
            "InvalidPaginationToken", f"The pagination token '{t}' is invalid.", 400))

    def _group_id(self, ctx: RequestContext, request: dict) -> str:
        try:
            if request.get("GroupId"):
                return self.groups.require(ctx.region, request["GroupId"])["GroupId"]
            if request.get("GroupName"):
                return self.groups.by_name(ctx.region, request["GroupName"])["GroupId"]
        except NetworkError as exc:
            raise _error(exc)
        raise ServiceException("MissingParameter", "The request must contain the parameter groupId", 400)

    def _users(self, region: str, attribute: Callable[[dict], list[str]], resource: str) -> list[str]:
        users = [f"cluster {c['ClusterName']}" for c in self.clusters(region) if resource in attribute(c)]
        users += [f"instance {i['InstanceId']}" for i in self.network.store.list("instance", region=region)
                  if resource in (i.get("SubnetId"), *i.get("SecurityGroups", []))]
        return users

    # -- zones -----------------------------------------------------------------------------------
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
        return {"AvailabilityZones": [z for z in zones if matches(z, request.get("Filters"), fields)]}

    # -- VPCs ------------------------------------------------------------------------------------
    @handler("DescribeVpcs")
    async def describe_vpcs(self, ctx: RequestContext, request: dict) -> dict:
        vpcs = self.network.vpcs(ctx.region)
        wanted = request.get("VpcIds") or []
        for vpc_id in wanted:
            if vpc_id not in {v["VpcId"] for v in vpcs}:
                raise ServiceException("InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist", 400)
        fields = {"vpc-id": lambda v: v["VpcId"], "cidr": lambda v: v["CidrBlock"], "cidr-block": lambda v: v["CidrBlock"],
                  "cidr-block-association.cidr-block": lambda v: v["CidrBlock"],
                  "is-default": lambda v: v["IsDefault"], "state": lambda v: v["State"],
                  "owner-id": lambda v: v["OwnerId"], "dhcp-options-id": lambda v: v["DhcpOptionsId"]}
        vpcs = [_public(v) for v in vpcs if (not wanted or v["VpcId"] in wanted)
                and matches(v, request.get("Filters"), fields)]
        return self._page(vpcs, request, "Vpcs")

    @handler("CreateVpc")
    async def create_vpc(self, ctx: RequestContext, request: dict) -> dict:
        if not request.get("CidrBlock"):
            raise ServiceException("MissingParameter", "The request must contain the parameter cidrBlock "
                                   "(openmsk VPCs are IPv4; IPAM pools are not supported)", 400)
        if request.get("AmazonProvidedIpv6CidrBlock") or request.get("Ipv6CidrBlock"):
            raise ServiceException("InvalidParameterValue", "IPv6 VPC blocks are not supported by openmsk.", 400)
        try:
            vpc = self.network.create_vpc(ctx.region, request["CidrBlock"], tags_of(request, "vpc"))
        except NetworkError as exc:
            raise _error(exc)
        return {"Vpc": {**_public(vpc), "State": "pending"}}

    @handler("DeleteVpc")
    async def delete_vpc(self, ctx: RequestContext, request: dict) -> dict:
        try:
            self.network.delete_vpc(ctx.region, request["VpcId"])
        except NetworkError as exc:
            raise _error(exc)
        return {}

    # -- subnets ---------------------------------------------------------------------------------
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
                  "cidr": lambda s: s["CidrBlock"], "cidrBlock": lambda s: s["CidrBlock"],
                  "default-for-az": lambda s: s["DefaultForAz"], "state": lambda s: s["State"],
                  "owner-id": lambda s: s["OwnerId"], "subnet-arn": lambda s: s["SubnetArn"]}
        subnets = [_public(s) for s in subnets if (not wanted or s["SubnetId"] in wanted)
                   and matches(s, request.get("Filters"), fields)]
        return self._page(subnets, request, "Subnets")

    @handler("CreateSubnet")
    async def create_subnet(self, ctx: RequestContext, request: dict) -> dict:
        network = self.network
        if not request.get("CidrBlock"):
            raise ServiceException("MissingParameter", "The request must contain the parameter cidrBlock", 400)
        if network.vpc(ctx.region, request["VpcId"]) is None:
            raise ServiceException("InvalidVpcID.NotFound", f"The vpc ID '{request['VpcId']}' does not exist", 400)
        zones = network.zones(ctx.region)
        wanted = request.get("AvailabilityZone") or request.get("AvailabilityZoneId")
        zone = next((z for z in zones if z.name == request.get("AvailabilityZone")
                     or z.zone_id == request.get("AvailabilityZoneId")), None)
        if zone is None:
            if wanted:
                raise ServiceException("InvalidParameterValue",
                                       f"Value ({wanted}) for parameter availabilityZone is invalid. "
                                       f"Subnets can currently only be created in the following availability zones: "
                                       + ", ".join(z.name for z in zones) + ".", 400)
            zone = zones[0]
        try:
            doc = network.create_subnet(ctx.region, request["VpcId"], zone, request["CidrBlock"],
                                        tags_of(request, "subnet"))
        except NetworkError as exc:
            raise _error(exc)
        return {"Subnet": _public(doc)}

    @handler("DeleteSubnet")
    async def delete_subnet(self, ctx: RequestContext, request: dict) -> dict:
        subnet = self.network.subnet(ctx.region, request["SubnetId"])
        if subnet is None:
            raise ServiceException("InvalidSubnetID.NotFound", f"The subnet ID '{request['SubnetId']}' does not exist", 400)
        users = self._users(ctx.region, lambda c: c["Spec"]["BrokerNodeGroupInfo"]["ClientSubnets"], subnet["SubnetId"])
        if users:
            raise ServiceException("DependencyViolation", f"The subnet '{subnet['SubnetId']}' has dependencies and "
                                   f"cannot be deleted (used by {', '.join(users)}).", 400)
        self.network.delete_subnet(ctx.region, subnet["SubnetId"])
        return {}

    # -- security groups ----------------------------------------------------------------------------
    @handler("DescribeSecurityGroups")
    async def describe_security_groups(self, ctx: RequestContext, request: dict) -> dict:
        groups = self.groups.groups(ctx.region)
        ids, names = request.get("GroupIds") or [], request.get("GroupNames") or []
        for group_id in ids:
            if group_id not in {g["GroupId"] for g in groups}:
                raise ServiceException("InvalidGroup.NotFound", f"The security group '{group_id}' does not exist", 400)
        default_vpc = self.network.default_vpc(ctx.region)["VpcId"]
        for name in names:
            if name not in {g["GroupName"] for g in groups if g["VpcId"] == default_vpc}:
                raise ServiceException("InvalidGroup.NotFound",
                                       f"The security group '{name}' does not exist in default VPC '{default_vpc}'", 400)
        views = [self.groups.view(g) for g in groups if (not ids or g["GroupId"] in ids)
                 and (not names or (g["GroupName"] in names and g["VpcId"] == default_vpc))]

        def peers(egress: bool, kind: str):
            def get(g):
                perms = g["IpPermissionsEgress" if egress else "IpPermissions"]
                if kind == "cidr":
                    return [r["CidrIp"] for p in perms for r in p["IpRanges"]]
                if kind == "group":
                    return [u["GroupId"] for p in perms for u in p["UserIdGroupPairs"]]
                if kind == "protocol":
                    return [p["IpProtocol"] for p in perms]
                return [p.get(kind, -1) for p in perms]
            return get
        fields = {"group-id": lambda g: g["GroupId"], "group-name": lambda g: g["GroupName"],
                  "vpc-id": lambda g: g["VpcId"], "description": lambda g: g["Description"],
                  "owner-id": lambda g: g["OwnerId"],
                  "ip-permission.cidr": peers(False, "cidr"), "ip-permission.group-id": peers(False, "group"),
                  "ip-permission.protocol": peers(False, "protocol"), "ip-permission.from-port": peers(False, "FromPort"),
                  "ip-permission.to-port": peers(False, "ToPort"), "egress.ip-permission.cidr": peers(True, "cidr"),
                  "egress.ip-permission.group-id": peers(True, "group"),
                  "egress.ip-permission.protocol": peers(True, "protocol")}
        views = [v for v in views if matches(v, request.get("Filters"), fields)]
        return self._page(views, request, "SecurityGroups")

    @handler("CreateSecurityGroup")
    async def create_security_group(self, ctx: RequestContext, request: dict) -> dict:
        if not request.get("Description"):
            raise ServiceException("MissingParameter", "The request must contain the parameter GroupDescription", 400)
        try:
            group = self.groups.create(ctx.region, request["GroupName"], request["Description"],
                                       request.get("VpcId"), tags_of(request, "security-group"))
        except NetworkError as exc:
            raise _error(exc)
        return {"GroupId": group["GroupId"], "Tags": group["Tags"], "SecurityGroupArn": group["SecurityGroupArn"]}

    @handler("DeleteSecurityGroup")
    async def delete_security_group(self, ctx: RequestContext, request: dict) -> dict:
        group_id = self._group_id(ctx, request)
        users = self._users(ctx.region, lambda c: c["Spec"]["BrokerNodeGroupInfo"].get("SecurityGroups")
                            or c.get("DefaultSecurityGroups") or [], group_id)
        try:
            self.groups.delete(ctx.region, group_id, users)
        except NetworkError as exc:
            raise _error(exc)
        return {"Return": True, "GroupId": group_id}

    @staticmethod
    def _rule_view(rule: dict) -> dict:
        return _public(rule)

    async def _authorize(self, ctx: RequestContext, request: dict, egress: bool) -> dict:
        group_id = self._group_id(ctx, request)
        rules = _permissions(request)
        try:
            for rule in rules:
                if "GroupName" in rule and not rule.get("ReferencedGroupId"):
                    rule["ReferencedGroupId"] = self.groups.by_name(ctx.region, rule["GroupName"])["GroupId"]
                rule.pop("GroupName", None)
            added = self.groups.authorize(ctx.region, group_id, egress, rules,
                                          tags_of(request, "security-group-rule"))
        except NetworkError as exc:
            raise _error(exc)
        return {"Return": True, "SecurityGroupRules": [self._rule_view(r) for r in added]}

    async def _revoke(self, ctx: RequestContext, request: dict, egress: bool) -> dict:
        group_id = self._group_id(ctx, request)
        rules = _permissions(request) if (request.get("IpPermissions") or request.get("CidrIp")
                                          or request.get("IpProtocol")) else []
        try:
            for rule in rules:
                if "GroupName" in rule and not rule.get("ReferencedGroupId"):
                    rule["ReferencedGroupId"] = self.groups.by_name(ctx.region, rule["GroupName"])["GroupId"]
                rule.pop("GroupName", None)
                rule.pop("Description", None)
            revoked = self.groups.revoke(ctx.region, group_id, egress, rules, request.get("SecurityGroupRuleIds") or [])
        except NetworkError as exc:
            raise _error(exc)
        return {"Return": True, "RevokedSecurityGroupRules": [
            {**{k: r[k] for k in ("SecurityGroupRuleId", "GroupId", "IsEgress", "IpProtocol", "FromPort", "ToPort",
                                  "CidrIpv4", "Description") if k in r},
             **({"ReferencedGroupId": r["ReferencedGroupInfo"]["GroupId"]} if r.get("ReferencedGroupInfo") else {})}
            for r in revoked]}

    @handler("AuthorizeSecurityGroupIngress")
    async def authorize_ingress(self, ctx: RequestContext, request: dict) -> dict:
        return await self._authorize(ctx, request, False)

    @handler("AuthorizeSecurityGroupEgress")
    async def authorize_egress(self, ctx: RequestContext, request: dict) -> dict:
        return await self._authorize(ctx, request, True)

    @handler("RevokeSecurityGroupIngress")
    async def revoke_ingress(self, ctx: RequestContext, request: dict) -> dict:
        return await self._revoke(ctx, request, False)

    @handler("RevokeSecurityGroupEgress")
    async def revoke_egress(self, ctx: RequestContext, request: dict) -> dict:
        return await self._revoke(ctx, request, True)

    @handler("ModifySecurityGroupRules")
    async def modify_security_group_rules(self, ctx: RequestContext, request: dict) -> dict:
        group_id = self._group_id(ctx, request)
        try:
            self.groups.modify(ctx.region, group_id, request.get("SecurityGroupRules") or [])
        except NetworkError as exc:
            raise _error(exc)
        return {"Return": True}

    @handler("DescribeSecurityGroupRules")
    async def describe_security_group_rules(self, ctx: RequestContext, request: dict) -> dict:
        rules = self.groups.rules(ctx.region)
        wanted = request.get("SecurityGroupRuleIds") or []
        for rule_id in wanted:
            if rule_id not in {r["SecurityGroupRuleId"] for r in rules}:
                raise ServiceException("InvalidSecurityGroupRuleId.NotFound",
                                       f"The security group rule ID '{rule_id}' does not exist", 400)
        fields = {"group-id": lambda r: r["GroupId"], "security-group-rule-id": lambda r: r["SecurityGroupRuleId"],
                  "is-egress": lambda r: r["IsEgress"]}
        rules = [self._rule_view(r) for r in rules if (not wanted or r["SecurityGroupRuleId"] in wanted)
                 and matches(r, request.get("Filters"), fields)]
        return self._page(rules, request, "SecurityGroupRules")

    # -- tags ------------------------------------------------------------------------------------
    @handler("CreateTags")
    async def create_tags(self, ctx: RequestContext, request: dict) -> dict:
        try:
            self.network.tag(ctx.region, request["Resources"], request["Tags"])
        except NetworkError as exc:
            raise _error(exc)
        return {}

    @handler("DeleteTags")
    async def delete_tags(self, ctx: RequestContext, request: dict) -> dict:
        try:
            self.network.tag(ctx.region, request["Resources"], request.get("Tags") or [], remove=True)
        except NetworkError as exc:
            raise _error(exc)
        return {}
