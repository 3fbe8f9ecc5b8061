"""Security groups as nftables rulesets, one per node or instance namespace (pure: text in, text out).

Each namespace gets a table `inet openmsk` with an input and an output chain, policy drop, stateful
(replies of an allowed connection pass both ways; a denied SYN is dropped, so the peer times out as
on AWS, while an allowed port nobody listens on answers with a reset). Always allowed, whatever the
user's rules, as on MSK: loopback, traffic among the nodes of one cluster (replication, ZooKeeper
quorum, broker-ZooKeeper), and the control plane (the host) on the ports it manages nodes through.
Everything else is what the namespace's security groups allow: a rule's peer is a CIDR or the
current addresses of a group's members, its protocol -1/tcp/udp/icmp with a port range.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..runtime.kraft import CONTROLLER_PORT

# The control plane's own ports: replication listener (probes, admin), KRaft controller listener (the
# readiness probe), ZooKeeper (mode probes, rolls), JMX exporter scrapes and Open Monitoring. Reached
# from the host's address only. Without 9097 a KRaft cluster whose groups do not admit the host (MSK
# Serverless with its own group) never became ready: "KRaft controller quorum not ready after 420s".
CONTROL_PLANE_PORTS = (9093, CONTROLLER_PORT, 2181, 2182, 11001, 11002, 11011)


@dataclass
class Endpoint:
    namespace: str
    address: str
    groups: list[str]
    peers: set[str] = field(default_factory=set)   # always-allowed addresses (the rest of its cluster)
    managed: bool = True                            # the control plane reaches it (cluster nodes)


def _match(rule: dict) -> str:
    proto, low, high = rule["IpProtocol"], rule.get("FromPort", -1), rule.get("ToPort", -1)
    if proto == "-1":
        return ""
    if proto == "icmp":
        return "ip protocol icmp"
    ports = f"{low}" if low == high else f"{low}-{high}"
    return f"{proto} dport {ports}"


def _peer(rule: dict, direction: str, members: dict[str, set[str]]) -> str | None:
    if rule.get("CidrIpv4"):
        return f"ip {direction} {rule['CidrIpv4']}"
    addresses = members.get(rule["ReferencedGroupInfo"]["GroupId"], set())
    if not addresses:
        return None                                # a group with no members matches nothing
    return f"ip {direction} {{ {', '.join(sorted(addresses))} }}"


def ruleset(endpoint: Endpoint, rules: list[dict], members: dict[str, set[str]], control_plane: str | None) -> str:
    """`rules`: the sg-rule documents of the endpoint's groups; `members`: group id -> addresses."""
    ingress, egress = [], []
    for rule in rules:
        chain, direction = (egress, "daddr") if rule["IsEgress"] else (ingress, "saddr")
        peer = _peer(rule, direction, members)
        if peer is not None:
            chain.append(f"{peer} {_match(rule)} accept".replace("  ", " "))
    peers = sorted(endpoint.peers - {endpoint.address})
    always_in = [f"ip saddr {{ {', '.join(peers)} }} accept"] if peers else []
    always_out = [f"ip daddr {{ {', '.join(peers)} }} accept"] if peers else []
    if endpoint.managed and control_plane:
        ports = ", ".join(str(p) for p in CONTROL_PLANE_PORTS)
        always_in.append(f"ip saddr {control_plane} tcp dport {{ {ports} }} accept")
    lines = ["table inet openmsk {}", "delete table inet openmsk", "table inet openmsk {",
             "  chain input {", "    type filter hook input priority 0; policy drop;",
             "    iif lo accept", "    ct state established,related accept", "    ct state invalid drop",
             *(f"    {r}" for r in always_in + ingress), "  }",
             "  chain output {", "    type filter hook output priority 0; policy drop;",
             "    oif lo accept", "    ct state established,related accept",
             *(f"    {r}" for r in always_out + egress), "  }", "}"]
    return "\n".join(lines) + "\n"
