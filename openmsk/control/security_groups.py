"""Security groups and their rules, as EC2 keeps them.

A group is a document of kind `security-group` (parent: its VPC); each rule is a document of kind
`sg-rule` (parent: its group) in DescribeSecurityGroupRules' shape: one protocol, one port range, one
source or destination (`CidrIpv4` or `ReferencedGroupInfo`). The `IpPermissions` views of
DescribeSecurityGroups are built from the rules. What the rules *do* on the wire is
control/firewall.py's business; every change here calls `network.changed()` so it follows within a
second. Errors are NetworkError with EC2's codes.
"""
from __future__ import annotations

from .network import Network, NetworkError, new_id, stable_id

PROTOCOLS = {"-1": "-1", "all": "-1", "tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp"}


def rule_key(rule: dict) -> tuple:
    peer = rule.get("CidrIpv4") or (rule.get("ReferencedGroupInfo") or {}).get("GroupId")
    return (rule["IsEgress"], rule["IpProtocol"], rule.get("FromPort", -1), rule.get("ToPort", -1), peer)


def describe_rule(rule: dict) -> str:
    peer = rule.get("CidrIpv4") or (rule.get("ReferencedGroupInfo") or {}).get("GroupId")
    proto = {"-1": "ALL", "tcp": "TCP", "udp": "UDP", "icmp": "ICMP"}[rule["IpProtocol"]]
    return f'peer: {peer}, {proto}, from port: {rule.get("FromPort", -1)}, to port: {rule.get("ToPort", -1)}, ALLOW'


class SecurityGroups:
    def __init__(self, network: Network) -> None:
        self.network = network
        self.store = network.store
        self.account_id = network.account_id

    # -- groups ----------------------------------------------------------------------------------
    def ensure_default(self, region: str, vpc_id: str) -> dict:
        """The VPC's `default` group: all traffic from its own members in, everything out (as AWS)."""
        existing = next((g for g in self.store.list("security-group", parent=vpc_id) if g["GroupName"] == "default"), None)
        if existing and "IpPermissions" in existing:           # a store from before rules were documents
            for key in ("IpPermissions", "IpPermissionsEgress"):
                existing.pop(key, None)
            self.store.put("security-group", existing["GroupId"], existing, region=region, parent=vpc_id)
            self._add(region, existing, False, [{"IpProtocol": "-1", "ReferencedGroupId": existing["GroupId"]}])
            self._add(region, existing, True, [{"IpProtocol": "-1", "CidrIpv4": "0.0.0.0/0"}])
        if existing:
            return existing
        vpc = self.store.get("vpc", vpc_id)
        group_id = stable_id("sg", self.account_id, region, "default") if vpc.get("IsDefault") \
            else stable_id("sg", self.account_id, vpc_id, "default")
        doc = self._group_doc(region, group_id, "default", "default VPC security group", vpc_id, [])
        self.store.put("security-group", group_id, doc, region=region, parent=vpc_id)
        self._add(region, doc, False, [{"IpProtocol": "-1", "ReferencedGroupId": group_id}])
        self._add(region, doc, True, [{"IpProtocol": "-1", "CidrIpv4": "0.0.0.0/0"}])
        return doc

    def _group_doc(self, region, group_id, name, description, vpc_id, tags) -> dict:
        return {"GroupId": group_id, "GroupName": name, "Description": description, "VpcId": vpc_id,
                "OwnerId": self.account_id, "Tags": tags,
                "SecurityGroupArn": f"arn:aws:ec2:{region}:{self.account_id}:security-group/{group_id}"}

    def groups(self, region: str) -> list[dict]:
        self.network.ensure_region(region)
        return self.store.list("security-group", region=region)

    def group(self, region: str, group_id: str) -> dict | None:
        self.network.ensure_region(region)
        doc = self.store.get("security-group", group_id)
        return doc if doc and doc["SecurityGroupArn"].split(":")[3] == region else None

    def require(self, region: str, group_id: str) -> dict:
        doc = self.group(region, group_id)
        if doc is None:
            raise NetworkError("InvalidGroup.NotFound", f"The security group '{group_id}' does not exist")
        return doc

    def by_name(self, region: str, name: str, vpc_id: str | None = None) -> dict:
        vpc_id = vpc_id or self.network.default_vpc(region)["VpcId"]
        doc = next((g for g in self.store.list("security-group", parent=vpc_id) if g["GroupName"] == name), None)
        if doc is None:
            raise NetworkError("InvalidGroup.NotFound",
                               f"The security group '{name}' does not exist in default VPC '{vpc_id}'")
        return doc

    def create(self, region: str, name: str, description: str, vpc_id: str | None, tags: list[dict]) -> dict:
        vpc = self.network.vpc(region, vpc_id) if vpc_id else self.network.default_vpc(region)
        if vpc is None:
            raise NetworkError("InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist")
        if not name or len(name) > 255 or name.lower().startswith("sg-"):
            raise NetworkError("InvalidParameterValue", f"Value ({name}) for parameter GroupName is invalid. "
                               "Group names may not be empty, longer than 255 characters or start with sg-.")
        if any(g["GroupName"] == name for g in self.store.list("security-group", parent=vpc["VpcId"])):
            raise NetworkError("InvalidGroup.Duplicate",
                               f"The security group '{name}' already exists for VPC '{vpc['VpcId']}'")
        group_id = new_id("sg")
        doc = self._group_doc(region, group_id, name, description, vpc["VpcId"], tags)
        self.store.put("security-group", group_id, doc, region=region, parent=vpc["VpcId"])
        self._add(region, doc, True, [{"IpProtocol": "-1", "CidrIpv4": "0.0.0.0/0"}])   # AWS's default egress
        return doc

    def delete(self, region: str, group_id: str, in_use_by: list[str]) -> None:
        doc = self.require(region, group_id)
        if doc["GroupName"] == "default":
            raise NetworkError("CannotDelete", f"the specified group: \"{group_id}\" name: \"default\" cannot be "
                               "deleted by a user")
        referencing = sorted({r["GroupId"] for r in self.store.list("sg-rule", region=region)
                              if (r.get("ReferencedGroupInfo") or {}).get("GroupId") == group_id
                              and r["GroupId"] != group_id})
        users = in_use_by + referencing
        if users:
            raise NetworkError("DependencyViolation", f"resource {group_id} has a dependent object "
                               f"({', '.join(users)})")
        for rule in self.store.list("sg-rule", parent=group_id):
            self.store.delete("sg-rule", rule["SecurityGroupRuleId"])
        self.store.delete("security-group", group_id)
        self.network.changed()

    # -- rules -----------------------------------------------------------------------------------
    def rules(self, region: str, group_id: str | None = None) -> list[dict]:
        self.network.ensure_region(region)
        if group_id is not None:
            return self.store.list("sg-rule", parent=group_id)
        return self.store.list("sg-rule", region=region)

    def view(self, group: dict) -> dict:
        """DescribeSecurityGroups' shape: rules grouped into IpPermissions by protocol and ports."""
        doc = {k: v for k, v in group.items()}
        for egress, key in ((False, "IpPermissions"), (True, "IpPermissionsEgress")):
            perms: dict[tuple, dict] = {}
            for rule in self.store.list("sg-rule", parent=group["GroupId"]):
                if rule["IsEgress"] != egress:
                    continue
                ident = (rule["IpProtocol"], rule.get("FromPort"), rule.get("ToPort"))
                perm = perms.setdefault(ident, {"IpProtocol": rule["IpProtocol"], "IpRanges": [], "Ipv6Ranges": [],
                                                "PrefixListIds": [], "UserIdGroupPairs": [],
                                                **({"FromPort": rule["FromPort"], "ToPort": rule["ToPort"]}
                                                   if rule["IpProtocol"] != "-1" else {})})
                described = {"Description": rule["Description"]} if rule.get("Description") else {}
                if rule.get("CidrIpv4"):
                    perm["IpRanges"].append({"CidrIp": rule["CidrIpv4"], **described})
                else:
                    perm["UserIdGroupPairs"].append({"GroupId": rule["ReferencedGroupInfo"]["GroupId"],
                                                     "UserId": self.account_id, **described})
            doc[key] = list(perms.values())
        return doc

    def _check(self, region: str, group: dict, request: dict) -> dict:
        """A SecurityGroupRuleRequest -> a normalised rule body (protocol, ports, one peer)."""
        proto = PROTOCOLS.get(str(request.get("IpProtocol", "")).lower())
        if proto is None:
            raise NetworkError("InvalidParameterValue", f"Invalid value '{request.get('IpProtocol')}' for IP "
                               "protocol. Unknown protocol.")
        if request.get("CidrIpv6"):
            raise NetworkError("InvalidParameterValue", "IPv6 rules are not supported by openmsk (its VPCs are "
                               "IPv4 only); use CidrIp / CidrIpv4.")
        if request.get("PrefixListId"):
            raise NetworkError("InvalidParameterValue", "Prefix lists are not supported by openmsk.")
        body = {"IpProtocol": proto}
        if proto == "-1":
            body.update(FromPort=-1, ToPort=-1)
        else:
            low, high = request.get("FromPort"), request.get("ToPort")
            if low is None or high is None:
                raise NetworkError("MissingParameter", f"The request must contain the parameters FromPort and "
                                   f"ToPort for protocol {proto}.")
            limit = 255 if proto == "icmp" else 65535
            if proto == "icmp" and low == -1:
                high = -1
            elif not (0 <= low <= limit and 0 <= high <= limit) or (proto != "icmp" and low > high):
                raise NetworkError("InvalidParameterValue", f"Invalid port range {low}-{high} for {proto}.")
            body.update(FromPort=low, ToPort=high)
        cidr, ref = request.get("CidrIpv4"), request.get("ReferencedGroupId")
        if bool(cidr) == bool(ref):
            raise NetworkError("InvalidParameterValue", "A rule names exactly one of a CIDR or a security group.")
        if cidr:
            from .network import parse_cidr
            try:
                body["CidrIpv4"] = str(parse_cidr(cidr, "cidrIp"))
            except NetworkError:
                import ipaddress
                try:
                    body["CidrIpv4"] = str(ipaddress.ip_network(cidr, strict=False))
                except ValueError:
                    raise NetworkError("InvalidParameterValue", f"Value ({cidr}) for parameter cidrIp is invalid. "
                                       "This is not a valid CIDR block.")
        else:
            other = self.require(region, ref)
            if other["VpcId"] != group["VpcId"]:
                raise NetworkError("InvalidGroup.NotFound", f"You have specified two resources that belong to "
                                   f"different networks: {ref} is in {other['VpcId']}, {group['GroupId']} in "
                                   f"{group['VpcId']}.")
            body["ReferencedGroupInfo"] = {"GroupId": ref, "UserId": self.account_id}
        if request.get("Description"):
            body["Description"] = request["Description"]
        return body

    def _add(self, region: str, group: dict, egress: bool, requests: list[dict], tags: list[dict] = ()) -> list[dict]:
        existing = {rule_key(r) for r in self.store.list("sg-rule", parent=group["GroupId"])}
        new = []
        for request in requests:
            rule = {"SecurityGroupRuleId": new_id("sgr"), "GroupId": group["GroupId"], "GroupOwnerId": self.account_id,
                    "IsEgress": egress, **self._check(region, group, request), "Tags": list(tags), "Region": region}
            rule["SecurityGroupRuleArn"] = (f"arn:aws:ec2:{region}:{self.account_id}:security-group-rule/"
                                            f"{rule['SecurityGroupRuleId']}")
            if rule_key(rule) in existing or rule_key(rule) in {rule_key(r) for r in new}:
                raise NetworkError("InvalidPermission.Duplicate",
                                   f'the specified rule "{describe_rule(rule)}" already exists')
            new.append(rule)
        for rule in new:
            self.store.put("sg-rule", rule["SecurityGroupRuleId"], rule, region=region, parent=group["GroupId"])
        return new

    def authorize(self, region: str, group_id: str, egress: bool, requests: list[dict], tags: list[dict]) -> list[dict]:
        rules = self._add(region, self.require(region, group_id), egress, requests, tags)
        self.network.changed()
        return rules

    def revoke(self, region: str, group_id: str, egress: bool, requests: list[dict],
               rule_ids: list[str]) -> list[dict]:
        group = self.require(region, group_id)
        current = [r for r in self.store.list("sg-rule", parent=group_id) if r["IsEgress"] == egress]
        by_key = {rule_key(r): r for r in current}
        doomed = []
        for request in requests:
            body = self._check(region, group, request)
            rule = by_key.get(rule_key({"IsEgress": egress, **body}))
            if rule is None:
                raise NetworkError("InvalidPermission.NotFound", "The specified rule does not exist in this "
                                   f"security group: {describe_rule({'IsEgress': egress, **body})}.")
            doomed.append(rule)
        for rule_id in rule_ids:
            rule = next((r for r in current if r["SecurityGroupRuleId"] == rule_id), None)
            if rule is None:
                raise NetworkError("InvalidSecurityGroupRuleId.NotFound",
                                   f"The security group rule ID '{rule_id}' does not exist")
            doomed.append(rule)
        for rule in doomed:
            self.store.delete("sg-rule", rule["SecurityGroupRuleId"])
        self.network.changed()
        return doomed

    def modify(self, region: str, group_id: str, updates: list[dict]) -> None:
        group = self.require(region, group_id)
        current = {r["SecurityGroupRuleId"]: r for r in self.store.list("sg-rule", parent=group_id)}
        changed = []
        for update in updates:
            rule = current.get(update["SecurityGroupRuleId"])
            if rule is None:
                raise NetworkError("InvalidSecurityGroupRuleId.NotFound",
                                   f"The security group rule ID '{update['SecurityGroupRuleId']}' does not exist")
            body = self._check(region, group, update.get("SecurityGroupRule") or {})
            for key in ("CidrIpv4", "ReferencedGroupInfo", "Description"):
                rule.pop(key, None)
            rule.update(body)
            changed.append(rule)
        keys = [rule_key(r) for r in current.values()]
        if len(keys) != len(set(keys)):
            raise NetworkError("InvalidPermission.Duplicate", "the modified rules would duplicate an existing rule")
        for rule in changed:
            self.store.put("sg-rule", rule["SecurityGroupRuleId"], rule, region=region, parent=group_id)
        self.network.changed()
