"""The region's network as the ec2 API shows it: availability zones, a default VPC, one default
subnet per zone and a default security group, created on first use of a region and kept in the store.

A zone's subnet is a real loopback range (`runtime.addressing.zone_cidr`): a broker placed in zone k
listens on an address inside that subnet, so "which AZ is this broker in" is visible in its address.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
import uuid
from dataclasses import dataclass

from ..runtime import addressing
from .store import Store

DEFAULT_ZONE_COUNT = 3
_COMPASS = {"north": "n", "south": "s", "east": "e", "west": "w", "central": "c",
            "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw"}


def zone_id_prefix(region: str) -> str:
    """AWS AZ-ID prefix: us-east-1 -> use1, ap-northeast-1 -> apne1, eu-central-1 -> euc1."""
    match = re.fullmatch(r"([a-z]+)-([a-z]+)-(\d+)", region)
    if not match:
        return re.sub(r"[^a-z0-9]", "", region)[:6]
    area, direction, number = match.groups()
    return f"{area}{_COMPASS.get(direction, direction[:2])}{number}"


def _stable_id(prefix: str, *parts: str, length: int = 17) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return f"{prefix}-{digest[:length]}"


@dataclass(frozen=True)
class Zone:
    index: int          # 1-based
    name: str           # us-east-1a
    zone_id: str        # use1-az1
    region: str


def zones(region: str, count: int = DEFAULT_ZONE_COUNT) -> list[Zone]:
    return [Zone(i, f"{region}{chr(ord('a') + i - 1)}", f"{zone_id_prefix(region)}-az{i}", region)
            for i in range(1, count + 1)]


class Network:
    def __init__(self, store: Store, account_id: str, zone_count: int = DEFAULT_ZONE_COUNT) -> None:
        self.store = store
        self.account_id = account_id
        self.zone_count = zone_count

    def zones(self, region: str) -> list[Zone]:
        return zones(region, self.zone_count)

    def zone_by_id(self, region: str, zone_id: str) -> Zone | None:
        return next((z for z in self.zones(region) if z.zone_id == zone_id), None)

    def ensure_region(self, region: str) -> None:
        if self.store.get("vpc", _stable_id("vpc", self.account_id, region)):
            return
        vpc_id = _stable_id("vpc", self.account_id, region)
        self.store.put("vpc", vpc_id, {
            "VpcId": vpc_id, "CidrBlock": "127.0.0.0/8", "State": "available", "IsDefault": True,
            "OwnerId": self.account_id, "InstanceTenancy": "default", "DhcpOptionsId": "dopt-openmsk",
            "CidrBlockAssociationSet": [{"AssociationId": _stable_id("vpc-cidr-assoc", vpc_id), "CidrBlock": "127.0.0.0/8",
                                         "CidrBlockState": {"State": "associated"}}],
            "Tags": []}, region=region)
        for zone in self.zones(region):
            subnet_id = _stable_id("subnet", self.account_id, region, zone.zone_id)
            self.store.put("subnet", subnet_id, {
                "SubnetId": subnet_id, "VpcId": vpc_id, "CidrBlock": addressing.zone_cidr(zone.index),
                "AvailabilityZone": zone.name, "AvailabilityZoneId": zone.zone_id, "State": "available",
                "AvailableIpAddressCount": 65531, "DefaultForAz": True, "MapPublicIpOnLaunch": False,
                "OwnerId": self.account_id, "AssignIpv6AddressOnCreation": False, "Ipv6Native": False,
                "SubnetArn": f"arn:aws:ec2:{region}:{self.account_id}:subnet/{subnet_id}", "Tags": []},
                region=region, parent=vpc_id)
        sg_id = _stable_id("sg", self.account_id, region, "default")
        self.store.put("security-group", sg_id, {
            "GroupId": sg_id, "GroupName": "default", "Description": "default VPC security group",
            "VpcId": vpc_id, "OwnerId": self.account_id,
            "IpPermissions": [{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": sg_id, "UserId": self.account_id}],
                               "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": []}],
            "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "UserIdGroupPairs": [],
                                     "Ipv6Ranges": [], "PrefixListIds": []}],
            "Tags": [], "SecurityGroupArn": f"arn:aws:ec2:{region}:{self.account_id}:security-group/{sg_id}"},
            region=region, parent=vpc_id)

    def vpcs(self, region: str) -> list[dict]:
        self.ensure_region(region)
        return self.store.list("vpc", region=region)

    def subnets(self, region: str) -> list[dict]:
        self.ensure_region(region)
        return self.store.list("subnet", region=region)

    def security_groups(self, region: str) -> list[dict]:
        self.ensure_region(region)
        return self.store.list("security-group", region=region)

    def subnet(self, region: str, subnet_id: str) -> dict | None:
        self.ensure_region(region)
        doc = self.store.get("subnet", subnet_id)
        return doc if doc and doc["SubnetArn"].split(":")[3] == region else None

    def security_group(self, region: str, group_id: str) -> dict | None:
        self.ensure_region(region)
        doc = self.store.get("security-group", group_id)
        return doc if doc and doc["SecurityGroupArn"].split(":")[3] == region else None

    def create_subnet(self, region: str, vpc_id: str, zone: Zone, cidr: str, tags: list[dict]) -> dict:
        """A further subnet of the default VPC. Its CIDR must be a loopback range of at least /16 that
        overlaps no other subnet, because nodes placed in it get addresses from it. Raises ValueError
        with an EC2 error code as its first argument."""
        try:
            network = ipaddress.ip_network(cidr)
        except ValueError:
            raise ValueError("InvalidParameterValue", f"Value ({cidr}) for parameter cidrBlock is invalid. "
                             "This is not a valid CIDR block.")
        if not network.subnet_of(ipaddress.ip_network("127.0.0.0/8")) or network.prefixlen > 16 \
                or network.prefixlen < 9:
            raise ValueError("InvalidSubnet.Range", f"The CIDR '{cidr}' is invalid: openmsk subnets are loopback "
                             "ranges between /9 and /16 inside the VPC's 127.0.0.0/8 (e.g. 127.21.0.0/16).")
        for other in self.subnets(region):
            if network.overlaps(ipaddress.ip_network(other["CidrBlock"])):
                raise ValueError("InvalidSubnet.Conflict", f"The CIDR '{cidr}' conflicts with another subnet")
        subnet_id = f"subnet-{uuid.uuid4().hex[:17]}"
        doc = {"SubnetId": subnet_id, "VpcId": vpc_id, "CidrBlock": str(network), "AvailabilityZone": zone.name,
               "AvailabilityZoneId": zone.zone_id, "State": "available",
               "AvailableIpAddressCount": network.num_addresses - 5, "DefaultForAz": False,
               "MapPublicIpOnLaunch": False, "OwnerId": self.account_id, "AssignIpv6AddressOnCreation": False,
               "Ipv6Native": False, "SubnetArn": f"arn:aws:ec2:{region}:{self.account_id}:subnet/{subnet_id}",
               "Tags": tags}
        self.store.put("subnet", subnet_id, doc, region=region, parent=vpc_id)
        return doc

    def delete_subnet(self, region: str, subnet_id: str) -> None:
        """Forget a subnet (the caller has checked that no cluster uses it)."""
        if self.subnet(region, subnet_id) is not None:
            self.store.delete("subnet", subnet_id)
