"""The region's network as the ec2 API shows it: availability zones, VPCs, subnets (security groups:
control/security_groups.py), created on first use of a region and kept in the store.

Two layouts (decided by control/vpc_runtime.py, see docs/networking.md):
* namespaces: the default VPC looks like AWS's (172.31.0.0/16, one /20 per zone, or another free
  /16 when the host already uses that range); nodes get addresses from their subnet's CIDR and run
  in network namespaces on the VPC's bridge.
* loopback (no privilege): the default VPC is 127.0.0.0/8 with one loopback /16 per zone
  (`runtime.addressing.zone_cidr`), and nodes listen on loopback addresses in that subnet.
Errors are `NetworkError(code, message)` with EC2's error codes.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
import uuid
from dataclasses import dataclass
from typing import Callable

from ..runtime import addressing
from .store import Store

DEFAULT_ZONE_COUNT = 3
LOOPBACK_VPC_CIDR = "127.0.0.0/8"
_COMPASS = {"north": "n", "south": "s", "east": "e", "west": "w", "central": "c",
            "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw"}


class NetworkError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code, self.message = code, message


def zone_id_prefix(region: str) -> str:
    """AWS AZ-ID prefix: us-east-1 -> use1, ap-northeast-1 -> apne1, eu-central-1 -> euc1."""
    match = re.fullmatch(r"([a-z]+)-([a-z]+)-(\d+)", region)
    if not match:
        return re.sub(r"[^a-z0-9]", "", region)[:6]
    area, direction, number = match.groups()
    return f"{area}{_COMPASS.get(direction, direction[:2])}{number}"


def stable_id(prefix: str, *parts: str, length: int = 17) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return f"{prefix}-{digest[:length]}"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:17]}"


def is_loopback_cidr(cidr: str) -> bool:
    return ipaddress.ip_network(cidr).subnet_of(ipaddress.ip_network(LOOPBACK_VPC_CIDR))


@dataclass(frozen=True)
class Zone:
    index: int          # 1-based
    name: str           # us-east-1a
    zone_id: str        # use1-az1
    region: str


def zones(region: str, count: int = DEFAULT_ZONE_COUNT) -> list[Zone]:
    return [Zone(i, f"{region}{chr(ord('a') + i - 1)}", f"{zone_id_prefix(region)}-az{i}", region)
            for i in range(1, count + 1)]


def parse_cidr(cidr: str, parameter: str = "cidrBlock") -> ipaddress.IPv4Network:
    try:
        network = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        raise NetworkError("InvalidParameterValue", f"Value ({cidr}) for parameter {parameter} is invalid. "
                           "This is not a valid CIDR block.")
    if network.version != 4:
        raise NetworkError("InvalidParameterValue", f"Value ({cidr}) for parameter {parameter} is invalid: "
                           "openmsk VPCs are IPv4 only.")
    return network


class Network:
    """`default_vpc_cidr()` picks the CIDR of a region's default VPC when it is first created;
    `host_conflict(cidr)` names a host route/address a new VPC would overlap (or None); `changed()` is
    called after every change that can alter what the wire allows (security groups, membership)."""

    def __init__(self, store: Store, account_id: str, zone_count: int = DEFAULT_ZONE_COUNT, *,
                 default_vpc_cidr: Callable[[str], str] = lambda region: LOOPBACK_VPC_CIDR,
                 host_conflict: Callable[[str], str | None] = lambda cidr: None) -> None:
        self.store = store
        self.account_id = account_id
        self.zone_count = zone_count
        self.default_vpc_cidr = default_vpc_cidr
        self.host_conflict = host_conflict
        self.listeners: list[Callable[[], None]] = []
        self._ready: set[str] = set()           # regions whose default VPC exists

    def changed(self) -> None:
        for listener in self.listeners:
            listener()

    # -- zones -----------------------------------------------------------------------------------
    def zones(self, region: str) -> list[Zone]:
        return zones(region, self.zone_count)

    def zone_by_id(self, region: str, zone_id: str) -> Zone | None:
        return next((z for z in self.zones(region) if z.zone_id == zone_id), None)

    # -- the default VPC ---------------------------------------------------------------------------
    def ensure_region(self, region: str) -> None:
        if region in self._ready:
            return
        vpc_id = stable_id("vpc", self.account_id, region)
        if self.store.get("vpc", vpc_id):
            from .security_groups import SecurityGroups
            SecurityGroups(self).ensure_default(region, vpc_id)      # (converts a store from before sg-rules)
            self._ready.add(region)
            return
        cidr = self.default_vpc_cidr(region)
        vpc = self._vpc_doc(region, vpc_id, cidr, [], default=True)
        self.store.put("vpc", vpc_id, vpc, region=region)
        self._ready.add(region)
        loopback = is_loopback_cidr(cidr)
        per_zone = ipaddress.ip_network(cidr).subnets(new_prefix=20) if not loopback else None
        for zone in self.zones(region):
            subnet_cidr = addressing.zone_cidr(zone.index) if loopback else str(next(per_zone))
            subnet_id = stable_id("subnet", self.account_id, region, zone.zone_id)
            self.store.put("subnet", subnet_id, self._subnet_doc(region, subnet_id, vpc_id, zone, subnet_cidr, [],
                                                                 default=True), region=region, parent=vpc_id)
        from .security_groups import SecurityGroups     # one module each; they share the store
        SecurityGroups(self).ensure_default(region, vpc_id)
        self._ready.add(region)

    def default_vpc(self, region: str) -> dict:
        self.ensure_region(region)
        return self.store.get("vpc", stable_id("vpc", self.account_id, region))

    # -- VPCs ------------------------------------------------------------------------------------
    def _vpc_doc(self, region: str, vpc_id: str, cidr: str, tags: list[dict], default: bool) -> dict:
        return {"VpcId": vpc_id, "CidrBlock": cidr, "State": "available", "IsDefault": default,
                "OwnerId": self.account_id, "InstanceTenancy": "default", "DhcpOptionsId": "dopt-openmsk",
                "CidrBlockAssociationSet": [{"AssociationId": stable_id("vpc-cidr-assoc", vpc_id), "CidrBlock": cidr,
                                             "CidrBlockState": {"State": "associated"}}],
                "Tags": tags, "Region": region}

    def vpcs(self, region: str) -> list[dict]:
        self.ensure_region(region)
        return self.store.list("vpc", region=region)

    def vpc(self, region: str, vpc_id: str) -> dict | None:
        self.ensure_region(region)
        doc = self.store.get("vpc", vpc_id)
        return doc if doc and doc.get("Region", region) == region else None

    def create_vpc(self, region: str, cidr: str, tags: list[dict]) -> dict:
        network = parse_cidr(cidr)
        if not 16 <= network.prefixlen <= 28:
            raise NetworkError("InvalidVpc.Range", f"The CIDR '{cidr}' is invalid: a VPC's block must be "
                               "between /16 and /28.")
        conflict = self.host_conflict(str(network))
        if conflict:
            raise NetworkError("InvalidVpc.Range", f"The CIDR '{cidr}' overlaps {conflict} on this host; "
                               "openmsk never shadows the host's own networks. Choose another range.")
        self.ensure_region(region)
        vpc_id = new_id("vpc")
        doc = self._vpc_doc(region, vpc_id, str(network), tags, default=False)
        self.store.put("vpc", vpc_id, doc, region=region)
        from .security_groups import SecurityGroups
        SecurityGroups(self).ensure_default(region, vpc_id)
        return doc

    def delete_vpc(self, region: str, vpc_id: str) -> None:
        vpc = self.vpc(region, vpc_id)
        if vpc is None:
            raise NetworkError("InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist")
        subnets = [s["SubnetId"] for s in self.store.list("subnet", parent=vpc_id)]
        groups = [g["GroupId"] for g in self.store.list("security-group", parent=vpc_id) if g["GroupName"] != "default"]
        if subnets or groups:
            raise NetworkError("DependencyViolation", f"The vpc '{vpc_id}' has dependencies and cannot be deleted "
                               f"({', '.join(subnets + groups)}).")
        for group in self.store.list("security-group", parent=vpc_id):
            for rule in self.store.list("sg-rule", parent=group["GroupId"]):
                self.store.delete("sg-rule", rule["SecurityGroupRuleId"])
            self.store.delete("security-group", group["GroupId"])
        self.store.delete("vpc", vpc_id)
        self.changed()

    # -- subnets ---------------------------------------------------------------------------------
    def _subnet_doc(self, region: str, subnet_id: str, vpc_id: str, zone: Zone, cidr: str, tags: list[dict],
                    default: bool) -> dict:
        size = ipaddress.ip_network(cidr).num_addresses
        return {"SubnetId": subnet_id, "VpcId": vpc_id, "CidrBlock": cidr, "AvailabilityZone": zone.name,
                "AvailabilityZoneId": zone.zone_id, "State": "available",
                "AvailableIpAddressCount": max(size - 5, 0), "DefaultForAz": default, "MapPublicIpOnLaunch": False,
                "OwnerId": self.account_id, "AssignIpv6AddressOnCreation": False, "Ipv6Native": False,
                "SubnetArn": f"arn:aws:ec2:{region}:{self.account_id}:subnet/{subnet_id}", "Tags": tags}

    def subnets(self, region: str) -> list[dict]:
        self.ensure_region(region)
        return self.store.list("subnet", region=region)

    def subnet(self, region: str, subnet_id: str) -> dict | None:
        self.ensure_region(region)
        doc = self.store.get("subnet", subnet_id)
        return doc if doc and doc["SubnetArn"].split(":")[3] == region else None

    def create_subnet(self, region: str, vpc_id: str, zone: Zone, cidr: str, tags: list[dict]) -> dict:
        """A subnet inside its VPC's block, overlapping no other subnet of the VPC. In the loopback
        layout nodes listen on addresses of their subnet when it is a loopback /16 or larger, and on
        their zone's loopback range otherwise (docs/networking.md)."""
        vpc = self.vpc(region, vpc_id)
        if vpc is None:
            raise NetworkError("InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist")
        network = parse_cidr(cidr)
        if not network.subnet_of(ipaddress.ip_network(vpc["CidrBlock"])):
            raise NetworkError("InvalidSubnet.Range", f"The CIDR '{cidr}' is invalid: it is not inside the VPC's "
                               f"block {vpc['CidrBlock']}.")
        if network.prefixlen > 28 or (not is_loopback_cidr(vpc["CidrBlock"]) and network.prefixlen < 16):
            raise NetworkError("InvalidSubnet.Range", f"The CIDR '{cidr}' is invalid: a subnet must be between "
                               "/16 and /28.")
        for other in self.store.list("subnet", parent=vpc_id):
            if network.overlaps(ipaddress.ip_network(other["CidrBlock"])):
                raise NetworkError("InvalidSubnet.Conflict", f"The CIDR '{cidr}' conflicts with another subnet")
        subnet_id = new_id("subnet")
        doc = self._subnet_doc(region, subnet_id, vpc_id, zone, str(network), tags, default=False)
        self.store.put("subnet", subnet_id, doc, region=region, parent=vpc_id)
        return doc

    def delete_subnet(self, region: str, subnet_id: str) -> None:
        """Forget a subnet (the caller has checked that no cluster uses it)."""
        if self.subnet(region, subnet_id) is not None:
            self.store.delete("subnet", subnet_id)

    # -- security groups (control/security_groups.py) -------------------------------------------------
    def security_groups(self, region: str) -> list[dict]:
        from .security_groups import SecurityGroups
        return SecurityGroups(self).groups(region)

    def security_group(self, region: str, group_id: str) -> dict | None:
        from .security_groups import SecurityGroups
        return SecurityGroups(self).group(region, group_id)

    # -- tags ------------------------------------------------------------------------------------
    _TAGGABLE = {"vpc": "vpc", "subnet": "subnet", "sg": "security-group", "sgr": "sg-rule"}

    def _tag_target(self, region: str, resource_id: str) -> tuple[str, dict]:
        self.ensure_region(region)
        kind = self._TAGGABLE.get(resource_id.split("-", 1)[0])
        doc = self.store.get(kind, resource_id) if kind else None
        if doc is None:
            noun = {"vpc": "VpcID", "subnet": "SubnetID", "security-group": "GroupId", "sg-rule": "SecurityGroupRuleId"}
            code = f"Invalid{noun.get(kind, 'ID')}.NotFound" if kind else "InvalidID"
            raise NetworkError(code if kind != "security-group" else "InvalidGroup.NotFound",
                               f"The ID '{resource_id}' does not exist" if kind else
                               f"The ID '{resource_id}' is not valid")
        return kind, doc

    def tag(self, region: str, resource_ids: list[str], tags: list[dict], remove: bool = False) -> None:
        targets = [(rid, *self._tag_target(region, rid)) for rid in resource_ids]   # all exist, or nothing changes
        for rid, kind, doc in targets:
            current = {t["Key"]: t.get("Value", "") for t in doc.get("Tags") or []}
            if remove and not tags:
                current = {}                    # DeleteTags without Tags: every tag of the resource
            for t in tags:
                if not remove:
                    current[t["Key"]] = t.get("Value", "")
                elif t["Key"] in current and ("Value" not in t or t["Value"] == current[t["Key"]]):
                    del current[t["Key"]]
            doc["Tags"] = [{"Key": k, "Value": v} for k, v in current.items()]
            parent = doc.get("VpcId", "") if kind != "sg-rule" else doc["GroupId"]
            self.store.put(kind, rid, doc, region=region, parent=parent if kind != "vpc" else "")
