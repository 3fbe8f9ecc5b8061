"""zoo.cfg for one node of a cluster's ZooKeeper ensemble (ZooKeeper 3.8, as MSK's z-1..z-3 nodes).

Each node binds only its own loopback address: clientPortAddress for 2181 and the server.N entries
for the quorum (2888) and election (3888) ports; `quorumListenOnAllIPs` stays false and the admin
server (Jetty on 0.0.0.0:8080 by default) is disabled, so nothing listens on a wildcard address.
"""
from __future__ import annotations

from dataclasses import dataclass, field

FOUR_LETTER_WORDS = "ruok,srvr,mntr,stat,isro,conf,envi"


@dataclass
class ZooKeeperConfig:
    node_id: int
    host: str
    data_dir: str
    ensemble: dict[int, str]            # node id -> address
    client_port: int = 2181
    extra: dict[str, str] = field(default_factory=dict)   # TLS settings from the encryption step

    def properties(self) -> dict[str, str]:
        props = {
            "tickTime": "2000",
            "initLimit": "10",
            "syncLimit": "5",
            "dataDir": self.data_dir,
            "clientPortAddress": self.host,
            "clientPort": str(self.client_port),
            "maxClientCnxns": "0",
            "4lw.commands.whitelist": FOUR_LETTER_WORDS,
            "admin.enableServer": "false",
            "autopurge.snapRetainCount": "3",
            "autopurge.purgeInterval": "1",
            "standaloneEnabled": "false" if len(self.ensemble) > 1 else "true",
        }
        for node_id, address in sorted(self.ensemble.items()):
            props[f"server.{node_id}"] = f"{address}:2888:3888"
        props.update(self.extra)
        return props

    def connect_string(self) -> str:
        return ",".join(f"{a}:{self.client_port}" for _, a in sorted(self.ensemble.items()))
