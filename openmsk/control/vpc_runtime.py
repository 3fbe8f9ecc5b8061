"""VPCs on the wire: which layout this installation uses, and everything that keeps the kernel's
namespaces, bridges and rulesets equal to the store's VPCs, subnets, security groups and nodes.

`OPENMSK_NETWORK=namespaces|loopback|auto` (default auto): `namespaces` (or `auto` with the
privilege) gives every VPC a bridge and every node its own namespace (runtime/netns.py), with
security groups enforced by nftables (control/firewall.py); without CAP_NET_ADMIN it falls back to
the loopback layout and says so (security groups recorded, not enforced). A VPC whose CIDR is inside
127.0.0.0/8 is a loopback VPC whatever the mode, so a store keeps its layout across restarts.

The default VPC is 172.31.0.0/16 unless the host already routes (part of) it, or another live
installation on this machine has claimed it: then the next free /16 of 172.16-30 or 10.x is used and
the choice is logged. Claims are files `<cache>/vpc-cidrs/<cidr>` naming the data directory (as
control/slots.py does for loopback slots). The host is a client instance of the default VPC (the
default subnet of the first zone, address .4) in its default security group.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
from pathlib import Path

from ..runtime import netns
from ..runtime.distribution import cache_dir
from ..runtime.placement import NodeSpec
from . import firewall
from .multi_vpc import ENDPOINT_RANGE
from .network import LOOPBACK_VPC_CIDR, Network, NetworkError, is_loopback_cidr, new_id
from .security_groups import SecurityGroups

log = logging.getLogger(__name__)

ENDPOINT_KIND = "vpc-endpoint"   # control/vpc_endpoints.py: one per client VPC connection with a data path
HOST_OFFSET = 4          # the host instance: .4 of the first zone's default subnet (.1-.3 reserved, as AWS)
FIRST_NODE_OFFSET = 10
CANDIDATE_CIDRS = ([f"172.{n}.0.0/16" for n in range(31, 15, -1)]
                   + [f"10.{n}.0.0/16" for n in range(200, 250)])


def requested_mode(data_dir: Path) -> str:
    """OPENMSK_NETWORK; unset, the mode this installation last ran in (so `openmsk down` run without the
    variable still finds the namespaces), else auto: the namespace layout wherever the privilege allows it."""
    mode = os.environ.get("OPENMSK_NETWORK", "").strip().lower()
    if not mode:
        try:
            mode = json.loads((data_dir / "network.json").read_text()).get("mode", "")
        except (OSError, ValueError):
            mode = ""
    return mode if mode in ("namespaces", "loopback", "auto") else "auto"


def _claims() -> Path:
    path = cache_dir() / "vpc-cidrs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _claim_path(cidr: str) -> Path:
    return _claims() / cidr.replace("/", "_")


def _claim_owner(cidr: str) -> str | None:
    try:
        return json.loads(_claim_path(cidr).read_text()).get("data_dir")
    except (OSError, ValueError):
        return None


def _claimed_by_other(cidr: str, owner: str) -> bool:
    other = _claim_owner(cidr)
    return other is not None and other != owner and (Path(other) / "openmsk.db").exists()


def _owner_is_up(data_dir: str) -> bool:
    """Whether an installation has kernel objects now (its host interface or a namespace): it is running,
    or crashed without `openmsk down`. One that is merely stopped has none."""
    names = netns.Names.for_data_dir(data_dir)
    return netns.link_exists(names.host_interface()) or any(ns.startswith(names.prefix) for ns in netns.namespaces())


class VpcRuntime:
    def __init__(self, data_dir: Path, network: Network) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.network = network
        self.groups = SecurityGroups(network)
        self.store = network.store
        self.names = netns.Names.for_data_dir(str(self.data_dir))
        requested = requested_mode(self.data_dir)
        reason = netns.capability() if requested != "loopback" else "OPENMSK_NETWORK=loopback"
        self.enabled = requested != "loopback" and reason is None
        self.reason = None if self.enabled else reason
        if requested == "namespaces" and not self.enabled:
            log.warning("network namespaces unavailable (%s): loopback layout; security groups are recorded but "
                        "NOT enforced", reason)
        network.default_vpc_cidr = self.choose_default_cidr
        network.host_conflict = self.host_conflict if self.enabled else (lambda cidr: None)
        network.listeners.append(self.request_sync)
        self._sync_task: asyncio.Task | None = None
        self._again = False
        self.last_sync: dict = {}

    # -- status ------------------------------------------------------------------------------------
    def describe(self) -> dict:
        if self.enabled:
            return {"mode": "namespaces", "enforced": True, "installation": self.names.installation}
        return {"mode": "loopback", "enforced": False, "reason": self.reason,
                "message": f"security groups are recorded but not enforced ({self.reason})"}

    def write_status(self) -> None:
        path = self.data_dir / "network.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.describe()))
        tmp.replace(path)

    # -- CIDRs -----------------------------------------------------------------------------------
    def host_conflict(self, cidr: str) -> str | None:
        return netns.host_conflict(cidr, ignore_interface=self.names.host_interface())

    def choose_default_cidr(self, region: str) -> str:
        """A /16 no other installation claims and the host does not use. Claims outlive their service as
        long as its data directory does (it may start again, its VPC's block stored); when every candidate
        is claimed (a test suite leaves dozens of data directories behind), the oldest claim of an
        installation that is down is taken over, rather than failing."""
        if not self.enabled:
            return LOOPBACK_VPC_CIDR
        owner = str(self.data_dir)
        for cidr in CANDIDATE_CIDRS:
            if not _claimed_by_other(cidr, owner) and self._claim(cidr, owner, region):
                return cidr
        stale = [c for c in CANDIDATE_CIDRS if not _owner_is_up(_claim_owner(c) or owner)]
        for cidr in sorted(stale, key=lambda c: _claim_path(c).stat().st_mtime if _claim_path(c).exists() else 0):
            log.warning("default VPC: every candidate /16 is claimed; taking over %s from %s (stopped)",
                        cidr, _claim_owner(cidr))
            if self._claim(cidr, owner, region, take_over=True):
                return cidr
        raise RuntimeError("no free /16 for a default VPC on this host")

    def _claim(self, cidr: str, owner: str, region: str, take_over: bool = False) -> bool:
        conflict = self.host_conflict(cidr)
        if conflict:
            log.info("default VPC: %s overlaps %s on this host; trying the next range", cidr, conflict)
            return False
        try:
            fd = os.open(_claim_path(cidr), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError:
            return False
        with os.fdopen(fd, "w") as fh:
            json.dump({"data_dir": owner, "region": region}, fh)
        if (_claim_owner(cidr) != owner) if take_over else _claimed_by_other(cidr, owner):
            return False                        # (another installation wrote its claim at the same moment)
        if cidr != CANDIDATE_CIDRS[0]:
            log.warning("default VPC of %s uses %s: 172.31.0.0/16 is in use on this host", region, cidr)
        return True

    # -- addresses -------------------------------------------------------------------------------
    def vpc_of_subnet(self, subnet: dict) -> dict:
        return self.store.get("vpc", subnet["VpcId"])

    def enforced(self, vpc: dict | None) -> bool:
        return bool(self.enabled and vpc and not is_loopback_cidr(vpc["CidrBlock"]))

    def host_address(self, region: str) -> str | None:
        vpc = self.network.default_vpc(region)
        if not self.enforced(vpc):
            return None
        first = next((s for s in self.network.subnets(region) if s["VpcId"] == vpc["VpcId"] and s["DefaultForAz"]
                      and s["AvailabilityZoneId"] == self.network.zones(region)[0].zone_id), None)
        return str(ipaddress.ip_network(first["CidrBlock"]).network_address + HOST_OFFSET) if first else None

    def used_addresses(self, vpc_id: str) -> set[str]:
        used = set()
        for cluster in self.store.list("cluster"):
            for node in [*cluster.get("Brokers", []), *cluster.get("ZooKeeperNodes", []),
                         *cluster.get("Controllers", [])]:
                used.add(node.get("Address"))
        used |= {i["Address"] for i in self.store.list("instance") if i.get("VpcId") == vpc_id}
        for endpoint in self.store.list(ENDPOINT_KIND):        # multi-VPC endpoints: both sides
            used |= {endpoint["ClientAddress"], endpoint["ServiceAddress"]}
        return used

    def allocator(self, region: str, extra_used: set[str] | None = None):
        """subnet document -> next free address of it (None: the loopback layout decides)."""
        taken = set(extra_used or ())
        host = self.host_address(region)

        def allocate(subnet: dict) -> str | None:
            vpc = self.vpc_of_subnet(subnet)
            if not self.enforced(vpc):
                return None
            if not taken:
                taken.update(self.used_addresses(vpc["VpcId"]))
            network = ipaddress.ip_network(subnet["CidrBlock"])
            for offset in range(FIRST_NODE_OFFSET, network.num_addresses - 1):
                address = str(network.network_address + offset)
                if address not in taken and address != host:
                    taken.add(address)
                    return address
            raise NetworkError("InsufficientFreeAddressesInSubnet",
                               f"The subnet {subnet['SubnetId']} has no free addresses.")
        return allocate

    # -- endpoints -------------------------------------------------------------------------------
    def _cluster_by_uuid(self, uuid: str) -> dict | None:
        return next((c for c in self.store.list("cluster") if c.get("Uuid") == uuid), None)

    def cluster_vpc(self, cluster: dict) -> dict | None:
        subnets = cluster["Spec"]["BrokerNodeGroupInfo"]["ClientSubnets"]
        subnet = self.store.get("subnet", subnets[0]) if subnets else None
        return self.store.get("vpc", subnet["VpcId"]) if subnet else None

    def cluster_groups(self, cluster: dict) -> list[str]:
        return list(cluster["Spec"]["BrokerNodeGroupInfo"].get("SecurityGroups")
                    or cluster.get("DefaultSecurityGroups") or [])

    def cluster_addresses(self, cluster: dict) -> set[str]:
        return {n["Address"] for n in [*cluster.get("Brokers", []), *cluster.get("ZooKeeperNodes", []),
                                       *cluster.get("Controllers", [])] if n.get("Address")}

    def attach(self, spec: NodeSpec) -> netns.Attachment | None:
        """The Placement hook: where a cluster's node sits (None: loopback, no namespace)."""
        cluster = self._cluster_by_uuid(spec.name.split("/")[0])
        vpc = self.cluster_vpc(cluster) if cluster else None
        if not self.enforced(vpc) or not spec.address \
                or ipaddress.ip_address(spec.address) not in ipaddress.ip_network(vpc["CidrBlock"]):
            return None                         # (an address outside the VPC: the node runs on the host)
        self.ensure_vpc(vpc)
        namespace = self.names.node_namespace(vpc["VpcId"], spec.address)
        endpoints, rules, members = self._model()
        endpoint = next((e for e in endpoints if e.namespace == namespace), None)
        text = firewall.ruleset(endpoint, rules.get(namespace, []), members, self.host_address(cluster["Region"])) \
            if endpoint else ""
        return netns.Attachment(namespace, self.names.vpc_namespace(vpc["VpcId"]), spec.address,
                                ipaddress.ip_network(vpc["CidrBlock"]).prefixlen, text)

    def ensure_vpc(self, vpc: dict) -> None:
        region = vpc.get("Region") or vpc.get("VpcArnRegion") or "us-east-1"
        host = self.host_address(region) if vpc.get("IsDefault") else None
        netns.ensure_vpc(self.names.vpc_namespace(vpc["VpcId"]), vpc["CidrBlock"], host,
                         self.names.host_interface() if host else None)

    # -- the model the rulesets come from ----------------------------------------------------------
    def _model(self) -> tuple[list[firewall.Endpoint], dict[str, list[dict]], dict[str, set[str]]]:
        endpoints: list[firewall.Endpoint] = []
        members: dict[str, set[str]] = {}
        vpc_endpoints = self.store.list(ENDPOINT_KIND)
        for cluster in self.store.list("cluster"):
            vpc = self.cluster_vpc(cluster)
            if not self.enforced(vpc):
                continue
            addresses, groups = self.cluster_addresses(cluster), self.cluster_groups(cluster)
            # multi-VPC endpoints' relays reach the brokers from their service side, whatever the groups (as MSK's)
            relays = {e["ServiceAddress"] for e in vpc_endpoints if e["ClusterArn"] == cluster["ClusterArn"]}
            for address in addresses:
                endpoints.append(firewall.Endpoint(self.names.node_namespace(vpc["VpcId"], address), address,
                                                   groups, addresses | relays))
            for group in groups:
                members.setdefault(group, set()).update(addresses)
        for endpoint in vpc_endpoints:        # a connection's endpoint, behind the connection's groups
            endpoints.append(firewall.Endpoint(endpoint["ClientNamespace"], endpoint["ClientAddress"],
                                               endpoint["SecurityGroups"], managed=False))
            for group in endpoint["SecurityGroups"]:
                members.setdefault(group, set()).add(endpoint["ClientAddress"])
        for instance in self.store.list("instance"):
            endpoints.append(firewall.Endpoint(instance["Namespace"], instance["Address"], instance["SecurityGroups"],
                                               managed=False))
            for group in instance["SecurityGroups"]:
                members.setdefault(group, set()).add(instance["Address"])
        for vpc in self.store.list("vpc"):
            if vpc.get("IsDefault") and self.enforced(vpc):
                host = self.host_address(vpc.get("Region", "us-east-1"))
                default = next((g for g in self.store.list("security-group", parent=vpc["VpcId"])
                                if g["GroupName"] == "default"), None)
                if host and default:
                    members.setdefault(default["GroupId"], set()).add(host)
        rules: dict[str, list[dict]] = {}
        for endpoint in endpoints:
            rules[endpoint.namespace] = [r for g in endpoint.groups for r in self.store.list("sg-rule", parent=g)]
        return endpoints, rules, members

    def rulesets(self) -> dict[str, str]:
        endpoints, rules, members = self._model()
        hosts = {v.get("Region", "us-east-1"): self.host_address(v.get("Region", "us-east-1"))
                 for v in self.store.list("vpc") if v.get("IsDefault") and self.enforced(v)}
        control_plane = next(iter(hosts.values()), None)
        return {e.namespace: firewall.ruleset(e, rules[e.namespace], members, control_plane) for e in endpoints}

    # -- sync ------------------------------------------------------------------------------------
    def request_sync(self) -> None:
        """After any change of groups, rules or membership: re-apply every ruleset (coalesced)."""
        if not self.enabled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._sync_task is not None and not self._sync_task.done():
            self._again = True
            return
        self._sync_task = loop.create_task(self.sync(), name="firewall-sync")

    async def sync(self) -> dict[str, str]:
        while True:
            self._again = False
            started = asyncio.get_running_loop().time()
            errors = await netns.apply_rulesets(self.rulesets())
            for ns, err in errors.items():
                log.warning("firewall: %s: %s", ns, err)
            self.last_sync = {"seconds": asyncio.get_running_loop().time() - started, "errors": errors}
            if not self._again:
                return errors

    # -- lifecycle -------------------------------------------------------------------------------
    def wanted_namespaces(self) -> set[str]:
        wanted = {i["Namespace"] for i in self.store.list("instance")}
        for endpoint in self.store.list(ENDPOINT_KIND):
            wanted |= {endpoint["ClientNamespace"], endpoint["ServiceNamespace"]}
        for vpc in self.store.list("vpc"):
            if self.enforced(vpc):
                wanted.add(self.names.vpc_namespace(vpc["VpcId"]))
        for cluster in self.store.list("cluster"):
            vpc = self.cluster_vpc(cluster)
            if self.enforced(vpc):
                wanted |= {self.names.node_namespace(vpc["VpcId"], a) for a in self.cluster_addresses(cluster)}
        return wanted

    async def start(self) -> None:
        self.write_status()
        if not self.enabled:
            log.warning("network: loopback layout; security groups are recorded but not enforced (%s)", self.reason)
            return
        await asyncio.to_thread(self._start)
        await self.sync()

    def _start(self) -> None:
        registry = cache_dir() / "netns"
        registry.mkdir(parents=True, exist_ok=True)
        (registry / self.names.installation).write_text(json.dumps({"data_dir": str(self.data_dir)}))
        for other in registry.iterdir():        # installations whose data directory is gone: clean up after them
            try:
                owner = json.loads(other.read_text()).get("data_dir", "/nonexistent")
            except (OSError, ValueError):
                continue
            if other.name != self.names.installation and not (Path(owner) / "openmsk.db").exists():
                gone = netns.Names(other.name)
                for ns in netns.namespaces():
                    if ns.startswith(gone.prefix):
                        netns.delete_namespace(ns)
                netns.delete_host_interface(gone.host_interface())
                other.unlink(missing_ok=True)
        wanted = self.wanted_namespaces()
        for ns in netns.namespaces():           # ours, but of deleted clusters or instances
            if ns.startswith(self.names.prefix) and ns not in wanted:
                netns.delete_namespace(ns)
        for vpc in self.store.list("vpc"):
            if self.enforced(vpc):
                self.ensure_vpc(vpc)

    def teardown(self) -> None:
        """`openmsk down`: every namespace and interface of this installation (after the nodes stopped)."""
        for ns in netns.namespaces():
            if ns.startswith(self.names.prefix):
                netns.delete_namespace(ns)
        netns.delete_host_interface(self.names.host_interface())

    # -- instances (openmsk exec) -------------------------------------------------------------------
    async def launch_instance(self, region: str, subnet_id: str, group_ids: list[str]) -> dict:
        subnet = self.network.subnet(region, subnet_id)
        if subnet is None:
            raise NetworkError("InvalidSubnetID.NotFound", f"The subnet ID '{subnet_id}' does not exist")
        vpc = self.vpc_of_subnet(subnet)
        if not self.enforced(vpc):
            raise NetworkError("UnsupportedOperation", "openmsk exec needs the namespace layout "
                               f"({self.reason or 'the subnet is a loopback subnet'})")
        default = next(g for g in self.store.list("security-group", parent=vpc["VpcId"]) if g["GroupName"] == "default")
        group_ids = group_ids or [default["GroupId"]]
        for group_id in group_ids:
            group = self.groups.require(region, group_id)
            if group["VpcId"] != vpc["VpcId"]:
                raise NetworkError("InvalidGroup.NotFound", f"The security group '{group_id}' is not in "
                                   f"{vpc['VpcId']}, the subnet's VPC")
        address = self.allocator(region)(subnet)
        instance_id = new_id("i")
        namespace = self.names.node_namespace(vpc["VpcId"], address)
        doc = {"InstanceId": instance_id, "SubnetId": subnet_id, "VpcId": vpc["VpcId"], "Address": address,
               "SecurityGroups": group_ids, "Namespace": namespace, "Region": region}
        self.store.put("instance", instance_id, doc, region=region, parent=vpc["VpcId"])
        self.ensure_vpc(vpc)
        rules = self.rulesets()
        await asyncio.to_thread(netns.ensure_endpoint, netns.Attachment(
            namespace, self.names.vpc_namespace(vpc["VpcId"]), address,
            ipaddress.ip_network(vpc["CidrBlock"]).prefixlen, rules.get(namespace, ""),
            onlink=(ENDPOINT_RANGE,)))       # multi-VPC endpoints' addresses are on the instance's segment
        await self.sync()                        # the others now see it as a member of its groups
        return doc

    async def terminate_instance(self, instance_id: str) -> bool:
        doc = self.store.get("instance", instance_id)
        if doc is None:
            return False
        self.store.delete("instance", instance_id)
        await asyncio.to_thread(netns.delete_namespace, doc["Namespace"])
        await self.sync()
        return True

    # -- zone outages ----------------------------------------------------------------------------
    async def cut(self, cluster: dict, addresses: list[str], down: bool) -> list[str]:
        """Links of these nodes down (or up); returns the addresses changed. [] for a loopback cluster."""
        vpc = self.cluster_vpc(cluster)
        if not self.enforced(vpc):
            return []
        vpc_ns = self.names.vpc_namespace(vpc["VpcId"])
        return [a for a in addresses
                if await asyncio.to_thread(netns.set_port, vpc_ns, self.names.node_namespace(vpc["VpcId"], a), not down)]
