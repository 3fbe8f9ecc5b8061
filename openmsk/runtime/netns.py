"""Network namespaces, veth pairs and a bridge per VPC, with iproute2 and nftables; nothing else.

Layout of one VPC (all names carry the installation's id, so several openmsk installations share a
machine; see `Names`):

    host netns                 VPC namespace  omsk-<inst>-<vpc>           node namespace omsk-<inst>-<vpc>-<addr>
    omsk<inst>  172.31.0.4/16 ═══ host ─┐
    (only for the default VPC:          ├─ br0 (bridge, no address)
     the host as a client instance)     └─ p<hash> ═══════════════════════ eth0 172.31.0.10/16, lo

Nothing is added to the host's own nftables/iptables tables; the VPC namespace does not route (its
ip_forward stays 0) and no node namespace has a default route, so no packet of a VPC leaves the
machine. Filtering (security groups) is an nftables table `inet openmsk` inside each node namespace,
replaced atomically with `apply_ruleset`.
"""
from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass

log = logging.getLogger(__name__)

NETNS_DIR = "/run/netns"
PREFIX = "omsk-"


def _short(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


@dataclass(frozen=True)
class Names:
    """Every kernel name one installation uses (interface names: at most 15 characters)."""
    installation: str           # 6 hex digits, from the data directory's path

    @classmethod
    def for_data_dir(cls, data_dir: str) -> "Names":
        return cls(_short(os.path.realpath(data_dir), 6))

    @property
    def prefix(self) -> str:
        return f"{PREFIX}{self.installation}-"

    def vpc_namespace(self, vpc_id: str) -> str:
        return f"{self.prefix}{vpc_id.split('-')[-1][:8]}"

    def node_namespace(self, vpc_id: str, address: str) -> str:
        return f"{self.vpc_namespace(vpc_id)}-{address}"

    def host_interface(self) -> str:
        return f"omsk{self.installation}"

    @staticmethod
    def port(namespace: str) -> str:
        return f"p{_short(namespace)}"


@dataclass(frozen=True)
class Attachment:
    """Where a node (or instance) sits on the wire; built by the control plane, used by drivers."""
    namespace: str
    vpc_namespace: str
    address: str
    prefixlen: int
    ruleset: str = ""
    extra_addresses: tuple[str, ...] = ()   # more /32s on eth0 (a multi-VPC endpoint's advertised addresses)
    onlink: tuple[str, ...] = ()            # ranges routed on eth0's segment (instances: the multi-VPC range)


def capability() -> str | None:
    """None if namespaces can be used here; otherwise why not (the fallback's message)."""
    try:
        status = open("/proc/self/status").read()
        cap_eff = int(next(l.split()[1] for l in status.splitlines() if l.startswith("CapEff:")), 16)
    except (OSError, StopIteration, ValueError):
        return "cannot read this process's capabilities"
    if not cap_eff & (1 << 12):
        return "this process lacks CAP_NET_ADMIN (not root, or the capability was dropped)"
    for tool in ("ip", "nft", "nsenter"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (scripts/install installs iproute2 and nftables)"
    return None


def _run(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(args), input=input, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def namespaces() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def exists(namespace: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, namespace))


def link_exists(name: str) -> bool:
    """An interface of the host's namespace (read from sysfs: no process)."""
    return os.path.exists(f"/sys/class/net/{name}")


def _link_exists(namespace: str | None, name: str) -> bool:
    args = ["ip"] + (["-n", namespace] if namespace else []) + ["link", "show", "dev", name]
    return _run(*args, check=False).returncode == 0


def _ensure_namespace(namespace: str) -> None:
    if not exists(namespace):
        _run("ip", "netns", "add", namespace)
    _run("ip", "-n", namespace, "link", "set", "lo", "up")


def ensure_vpc(vpc_namespace: str, cidr: str | None = None, host_address: str | None = None,
               host_interface: str | None = None) -> None:
    """The VPC's bridge namespace; with `host_address`, the host's own interface into it (the host is then
    a client instance with that address: the kernel routes the VPC's CIDR to it)."""
    _ensure_namespace(vpc_namespace)
    if not _link_exists(vpc_namespace, "br0"):
        _run("ip", "-n", vpc_namespace, "link", "add", "br0", "type", "bridge")
    _run("ip", "-n", vpc_namespace, "link", "set", "br0", "up")
    if host_address and host_interface:
        if not _link_exists(None, host_interface):
            _run("ip", "link", "add", host_interface, "type", "veth", "peer", "name", "host", "netns", vpc_namespace)
        _run("ip", "-n", vpc_namespace, "link", "set", "host", "master", "br0", "up")
        prefix = ipaddress.ip_network(cidr).prefixlen
        current = _run("ip", "-j", "addr", "show", "dev", host_interface).stdout
        if f'"{host_address}"' not in current:
            _run("ip", "addr", "add", f"{host_address}/{prefix}", "dev", host_interface)
        _run("ip", "link", "set", host_interface, "up")


def mac_for(address: str) -> str:
    """A node's MAC address, derived from its IPv4 address (locally administered, 02:00:a:b:c:d), as Docker
    does. Addresses are reused (a deleted cluster's go to the next one): with a random MAC per veth, the
    host kept the old node's MAC in its neighbour cache for up to ~45 s and sent the new node's first
    packets nowhere, which added 7-19 s to a create that reused addresses (bench/create_cluster.py)."""
    return "02:00:" + ":".join(f"{int(octet):02x}" for octet in address.split("."))


def ensure_endpoint(attachment: Attachment) -> None:
    """The node's namespace, wired to its VPC's bridge with its address; its ruleset (if any) is in
    place before this returns, so a process started afterwards never runs unfiltered."""
    ns, vpc_ns = attachment.namespace, attachment.vpc_namespace
    fresh = not exists(ns)
    _ensure_namespace(ns)
    if attachment.ruleset and fresh:
        apply_ruleset(ns, attachment.ruleset)
    port = Names.port(ns)
    if not _link_exists(ns, "eth0"):
        if _link_exists(vpc_ns, port):
            _run("ip", "-n", vpc_ns, "link", "del", port)
        _run("ip", "-n", vpc_ns, "link", "add", port, "type", "veth", "peer", "name", "eth0",
             "address", mac_for(attachment.address), "netns", ns)
    _run("ip", "-n", vpc_ns, "link", "set", port, "master", "br0", "up")
    current = _run("ip", "-n", ns, "-j", "addr", "show", "dev", "eth0").stdout
    if f'"{attachment.address}"' not in current:
        _run("ip", "-n", ns, "addr", "add", f"{attachment.address}/{attachment.prefixlen}", "dev", "eth0")
    for extra in attachment.extra_addresses:
        if f'"{extra}"' not in current:
            _run("ip", "-n", ns, "addr", "add", f"{extra}/32", "dev", "eth0")
    _run("ip", "-n", ns, "link", "set", "eth0", "up")
    for cidr in attachment.onlink:
        _run("ip", "-n", ns, "route", "replace", cidr, "dev", "eth0", "scope", "link")
    if attachment.ruleset and not fresh:
        apply_ruleset(ns, attachment.ruleset)


def delete_namespace(namespace: str) -> None:
    """Remove a namespace (its veth goes with it; processes still inside keep it alive until they exit)."""
    if exists(namespace):
        _run("ip", "netns", "del", namespace, check=False)


def delete_host_interface(name: str) -> None:
    if _link_exists(None, name):
        _run("ip", "link", "del", name, check=False)


def set_port(vpc_namespace: str, namespace: str, up: bool) -> bool:
    """Bring a node's port on its VPC bridge down (the node is cut off: nothing reaches it, it reaches
    nothing, no connection is closed) or up again. False if there is no such port."""
    port = Names.port(namespace)
    if not exists(vpc_namespace) or not _link_exists(vpc_namespace, port):
        return False
    _run("ip", "-n", vpc_namespace, "link", "set", port, "up" if up else "down")
    return True


def apply_ruleset(namespace: str, ruleset: str) -> None:
    """Replace the namespace's `inet openmsk` table in one nft transaction."""
    _run("nsenter", f"--net={NETNS_DIR}/{namespace}", "--", "nft", "-f", "-", input=ruleset)


async def apply_rulesets(rulesets: dict[str, str]) -> dict[str, str]:
    """Apply several in parallel; namespace -> error for those that failed."""
    async def one(ns: str, text: str) -> tuple[str, str | None]:
        if not exists(ns):
            return ns, None
        proc = await asyncio.create_subprocess_exec("nsenter", f"--net={NETNS_DIR}/{ns}", "--", "nft", "-f", "-",
                                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                    stderr=subprocess.PIPE)
        _, err = await proc.communicate(text.encode())
        return ns, (err.decode().strip() or f"nft exited {proc.returncode}") if proc.returncode else None
    results = await asyncio.gather(*(one(ns, text) for ns, text in rulesets.items()))
    return {ns: err for ns, err in results if err}


def host_conflict(cidr: str, ignore_interface: str | None = None) -> str | None:
    """A route or address of the host that overlaps `cidr` (ignoring our own interface), described."""
    network = ipaddress.ip_network(cidr)
    routes = json.loads(_run("ip", "-j", "route", "show", "table", "all", check=False).stdout or "[]")
    for route in routes:
        dst = route.get("dst")
        if not dst or dst == "default" or route.get("dev") == ignore_interface or ":" in dst:
            continue
        if route.get("type") in ("broadcast", "local") and route.get("table") == "local":
            if route.get("dev") == "lo":
                continue
        try:
            other = ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
        except ValueError:
            continue
        if other.version == 4 and other.overlaps(network) and not other.subnet_of(ipaddress.ip_network("127.0.0.0/8")):
            return f"the route {dst} (dev {route.get('dev', '?')})"
    addrs = json.loads(_run("ip", "-j", "addr", check=False).stdout or "[]")
    for link in addrs:
        if link.get("ifname") == ignore_interface:
            continue
        for info in link.get("addr_info", []):
            if info.get("family") != "inet":
                continue
            iface = ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}")
            if iface.network.overlaps(network) and not iface.ip.is_loopback:
                return f"the address {iface} (dev {link['ifname']})"
    return None
