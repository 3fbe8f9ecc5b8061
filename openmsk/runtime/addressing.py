"""Loopback addressing: every node gets its own 127.x.y.z so MSK's standard ports (9092/9094/9096,
2181/2182) are used unchanged, and the address itself says where the node lives.

  zone k (1-based index of the AZ in the region)  -> subnet 127.(10+k).0.0/16
  cluster slot s (1..250, allocated by the store) -> 127.(10+k).s.0/24 inside the zone's subnet
  broker n in zone k                              -> 127.(10+k).s.n        (n = 1..100)
  ZooKeeper node m in zone k                      -> 127.(10+k).s.(100+m)  (m = 1..3)
  broker n's public address (its "elastic IP")    -> 127.254.s.n           (outside every VPC subnet)
All of 127.0.0.0/8 routes to `lo` on Linux, so no interface configuration is needed.
"""
from __future__ import annotations

import ipaddress

MAX_CLUSTER_SLOT = 250


def zone_cidr(zone_index: int) -> str:
    return f"127.{10 + zone_index}.0.0/16"


def broker_address(zone_index: int, slot: int, broker_id: int) -> str:
    return f"127.{10 + zone_index}.{slot}.{broker_id}"


def public_address(slot: int, broker_id: int) -> str:
    """Where clients outside the VPC reach broker `broker_id` when public access is on."""
    return f"127.254.{slot}.{broker_id}"


def zookeeper_address(zone_index: int, slot: int, node_id: int) -> str:
    return f"127.{10 + zone_index}.{slot}.{100 + node_id}"


def node_address(subnet_cidr: str, slot: int, host: int) -> str:
    """Address of a node inside its subnet: the subnet's base + slot*256 + host, so in a /16 subnet
    127.a.0.0/16 the node is 127.a.<slot>.<host> (broker n -> host n, ZooKeeper m -> host 100+m)."""
    network = ipaddress.ip_network(subnet_cidr)
    if network.prefixlen > 16:
        raise ValueError(f"subnet {subnet_cidr} is smaller than a /16")
    return str(network.network_address + slot * 256 + host)
