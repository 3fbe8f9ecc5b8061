"""control/firewall.py renders security groups as nftables rulesets (pure); the namespace tests
(test_vpc_enforcement, test_multi_vpc) show them acting on real connections."""
from __future__ import annotations

from openmsk.control.firewall import Endpoint, ruleset


def test_control_plane_reaches_every_management_port_whatever_the_groups():
    """A node whose groups admit nobody (a new group has no ingress rule) still answers the control
    plane's probes: brokers' replication listener, KRaft controllers' listener, ZooKeeper, JMX, Open
    Monitoring; and nothing else of the host's."""
    node = Endpoint(namespace="n1", address="10.0.0.11", groups=["sg-1"], peers={"10.0.0.11", "10.0.0.12"})
    text = ruleset(node, rules=[], members={"sg-1": {"10.0.0.11"}}, control_plane="10.0.0.4")
    host_lines = [line.strip() for line in text.splitlines() if "10.0.0.4" in line]
    assert host_lines == ["ip saddr 10.0.0.4 tcp dport { 9093, 9097, 2181, 2182, 11001, 11002, 11011 } accept"]
    assert "ip saddr { 10.0.0.12 } accept" in text              # the rest of its cluster
    assert "9092" not in text and "9094" not in text and "9098" not in text   # client ports: the groups' say
