"""Public access (ConnectivityInfo.PublicAccess.Type = SERVICE_PROVIDED_EIPS): each broker gets extra
client listeners on MSK's public ports (9194 TLS, 9196 SASL/SCRAM, 9198 SASL/IAM), bound to the broker's "elastic IP": an address of its own outside every VPC subnet,
127.254.<slot>.<broker id> (runtime/addressing.py), which is what a client "outside the VPC" uses.

The public listeners authenticate exactly as the private ones (same SCRAM users, same client CAs,
same ACLs), and have their own certificate whose SAN is the public address (clients verify the
hostname). MSK's preconditions (DG public-access) are checked by the service before this is ever on.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path

from ..runtime import addressing
from ..runtime.kafka_config import Listener

PUBLIC_TLS_PORT, PUBLIC_SCRAM_PORT, PUBLIC_IAM_PORT = 9194, 9196, 9198
PUBLIC_KEYSTORE = "public/tls/keystore.pem"       # per broker, 0600; SAN = the public address
#: private client listener -> its public twin (name, port)
PUBLIC_TWINS = {"TLS": ("CLIENT_SECURE_PUBLIC", PUBLIC_TLS_PORT),
                "CLIENT_SASL_SCRAM": ("CLIENT_SASL_SCRAM_PUBLIC", PUBLIC_SCRAM_PORT),
                "CLIENT_IAM": ("CLIENT_IAM_PUBLIC", PUBLIC_IAM_PORT)}


def public_access_on(cluster: dict) -> bool:
    info = cluster["Spec"]["BrokerNodeGroupInfo"].get("ConnectivityInfo") or {}
    return (info.get("PublicAccess") or {}).get("Type", "DISABLED") == "SERVICE_PROVIDED_EIPS"


def public_address(cluster: dict, broker_id: int) -> str:
    return addressing.public_address(cluster["Slot"], broker_id)


def public_listeners(cluster: dict, client_listeners: list[Listener], broker_id: int,
                     node_address: str | None = None) -> list[Listener]:
    """Bound to the public address in the loopback layout; in the namespace layout (a node address outside
    127.0.0.0/8) bound to the node's own address and advertised as the public one, which the control
    plane relays there (public_relays.py)."""
    if not public_access_on(cluster):
        return []
    host = public_address(cluster, broker_id)
    bind = node_address if node_address and not ipaddress.ip_address(node_address).is_loopback else None
    return [Listener(PUBLIC_TWINS[l.name][0], l.protocol, PUBLIC_TWINS[l.name][1], host=host, bind=bind)
            for l in client_listeners if l.name in PUBLIC_TWINS]


def public_listener_properties(private_props: dict[str, str], listeners: list[Listener],
                               broker_dir: Path) -> dict[str, str]:
    """The public twins get the private listeners' authentication settings and their own keystore."""
    props = {}
    for listener in listeners:
        private = next(name for name, (twin, _) in PUBLIC_TWINS.items() if twin == listener.name)
        for key, value in private_props.items():
            prefix = f"listener.name.{private.lower()}."
            if key.startswith(prefix):
                props[f"listener.name.{listener.name.lower()}.{key[len(prefix):]}"] = value
        if private == "CLIENT_IAM" and "openmsk.iam.listeners" in private_props:   # IAM decides there too
            props["openmsk.iam.listeners"] = f"{private_props['openmsk.iam.listeners']},{listener.name}"
        props[f"listener.name.{listener.name.lower()}.ssl.keystore.type"] = "PEM"
        props[f"listener.name.{listener.name.lower()}.ssl.keystore.location"] = str(broker_dir / PUBLIC_KEYSTORE)
    return props


def public_bootstrap(cluster: dict) -> dict[str, str]:
    """GetBootstrapBrokers' BootstrapBrokerStringPublic* members."""
    if not public_access_on(cluster) or cluster["State"] == "CREATING":
        return {}
    from .layout import client_listeners
    names = {l.name for l in client_listeners(cluster)}
    brokers = sorted(cluster["Brokers"], key=lambda b: b["BrokerId"])
    out = {}
    for private, member in (("TLS", "BootstrapBrokerStringPublicTls"),
                            ("CLIENT_SASL_SCRAM", "BootstrapBrokerStringPublicSaslScram"),
                            ("CLIENT_IAM", "BootstrapBrokerStringPublicSaslIam")):
        if private in names:
            port = PUBLIC_TWINS[private][1]
            out[member] = ",".join(f"{public_address(cluster, b['BrokerId'])}:{port}" for b in brokers)
    return out
