"""Multi-VPC private connectivity, the brokers' side: with ConnectivityInfo.VpcConnectivity on for an
authentication type, every broker gets a twin of that type's client listener (its "multi-VPC listener"),
and GetBootstrapBrokers returns BootstrapBrokerStringVpcConnectivity{Tls,SaslScram,SaslIam}.

Addresses and ports. MSK's multi-VPC bootstrap strings name one port per broker (broker n on 14000+n,
through the connection's PrivateLink endpoint); openmsk uses that port plan, and gives each broker and
authentication type an address of its own that is the same in every client VPC (MSK's are DNS names a
private hosted zone resolves in each client VPC; openmsk has no DNS):

  layout      advertised (the bootstrap string)                   bound by the broker
  loopback    127.(251+t).<slot>.<broker id> : 14000+id            the same address and port
  namespaces  100.(64+t).<slot>.<broker id>  : 14000+id            its VPC address : MULTI_VPC_BIND_PORTS[t]

(t = 0 TLS, 1 SASL/SCRAM, 2 SASL/IAM.) In the namespace layout the advertised addresses exist only in
the endpoint namespace of each AVAILABLE client VPC connection, on the client VPC's bridge, behind the
connection's security groups; the control plane relays them to the brokers (control/vpc_endpoints.py).
In the loopback layout the brokers bind the advertised addresses themselves: every process on the host
reaches them, with or without a connection (security groups are recorded, not enforced there).

The twins authenticate exactly as the private listeners (same SCRAM users, client CAs, ACLs, IAM
policies) and have their own certificate, whose SANs are the broker's three multi-VPC addresses.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path

from ..runtime.kafka_config import Listener

#: private client listener -> (twin's name, t, GetBootstrapBrokers member, VpcConnectivity key, Authentication)
MULTI_VPC_TWINS = {
    "TLS": ("CLIENT_SECURE_VPCE", 0, "BootstrapBrokerStringVpcConnectivityTls", "tls", "TLS"),
    "CLIENT_SASL_SCRAM": ("CLIENT_SASL_SCRAM_VPCE", 1, "BootstrapBrokerStringVpcConnectivitySaslScram", "scram",
                          "SASL_SCRAM"),
    "CLIENT_IAM": ("CLIENT_IAM_VPCE", 2, "BootstrapBrokerStringVpcConnectivitySaslIam", "iam", "SASL_IAM"),
}
TWIN_NAMES = {twin: private for private, (twin, *_rest) in MULTI_VPC_TWINS.items()}
#: a connection's Authentication -> the private listener it reaches
LISTENER_OF_AUTHENTICATION = {auth: private for private, (*_r, auth) in MULTI_VPC_TWINS.items()}
MULTI_VPC_PORT_BASE = 14000                           # broker n: 14001 ...
MULTI_VPC_BIND_PORTS = {0: 14094, 1: 14096, 2: 14098}  # namespace layout: where the relays reach the twins
MULTI_VPC_KEYSTORE = "vpc/tls/keystore.pem"           # per broker, 0600; SANs: its three multi-VPC addresses
#: the namespace layout's advertised range; every instance namespace routes it on its own segment
ENDPOINT_RANGE = "100.64.0.0/14"


def vpc_connectivity_on(cluster: dict) -> dict:
    """{'iam', 'scram', 'tls': bool}: the cluster's ConnectivityInfo.VpcConnectivity client authentication."""
    info = ((cluster["Spec"]["BrokerNodeGroupInfo"].get("ConnectivityInfo") or {}).get("VpcConnectivity") or {})
    auth = info.get("ClientAuthentication") or {}
    sasl = auth.get("Sasl") or {}
    return {"iam": bool((sasl.get("Iam") or {}).get("Enabled")),
            "scram": bool((sasl.get("Scram") or {}).get("Enabled")),
            "tls": bool((auth.get("Tls") or {}).get("Enabled"))}


def namespaced(node_address: str | None) -> bool:
    return bool(node_address) and not ipaddress.ip_address(node_address).is_loopback


def advertised_address(cluster: dict, broker_id: int, t: int, node_address: str | None) -> str:
    if namespaced(node_address):
        return f"100.{64 + t}.{cluster['Slot']}.{broker_id}"
    return f"127.{251 + t}.{cluster['Slot']}.{broker_id}"


def advertised_port(broker_id: int) -> int:
    return MULTI_VPC_PORT_BASE + broker_id


def all_addresses(cluster: dict, broker_id: int, node_address: str | None) -> list[str]:
    return [advertised_address(cluster, broker_id, t, node_address) for t in range(3)]


def multi_vpc_listeners(cluster: dict, client_listeners: list[Listener], broker_id: int,
                        node_address: str | None) -> list[Listener]:
    on = vpc_connectivity_on(cluster)
    out = []
    for listener in client_listeners:
        if listener.name not in MULTI_VPC_TWINS:
            continue
        twin, t, _member, key, _auth = MULTI_VPC_TWINS[listener.name]
        if not on[key]:
            continue
        host = advertised_address(cluster, broker_id, t, node_address)
        if namespaced(node_address):
            out.append(Listener(twin, listener.protocol, MULTI_VPC_BIND_PORTS[t], host=host, bind=node_address,
                                advertised_port=advertised_port(broker_id)))
        else:
            out.append(Listener(twin, listener.protocol, advertised_port(broker_id), host=host))
    return out


def multi_vpc_listener_properties(private_props: dict[str, str], listeners: list[Listener],
                                  broker_dir: Path) -> dict[str, str]:
    """The twins get their private listener's authentication settings and their own keystore."""
    props = {}
    for listener in listeners:
        private = TWIN_NAMES[listener.name]
        prefix = f"listener.name.{private.lower()}."
        for key, value in private_props.items():
            if key.startswith(prefix):
                props[f"listener.name.{listener.name.lower()}.{key[len(prefix):]}"] = value
        if private == "CLIENT_IAM" and "openmsk.iam.listeners" in private_props:   # IAM decides there too
            props["openmsk.iam.listeners"] = f"{private_props['openmsk.iam.listeners']},{listener.name}"
        props[f"listener.name.{listener.name.lower()}.ssl.keystore.type"] = "PEM"
        props[f"listener.name.{listener.name.lower()}.ssl.keystore.location"] = str(broker_dir / MULTI_VPC_KEYSTORE)
    return props


def multi_vpc_bootstrap(cluster: dict) -> dict[str, str]:
    """GetBootstrapBrokers' BootstrapBrokerStringVpcConnectivity* members."""
    if cluster["State"] == "CREATING" or not any(vpc_connectivity_on(cluster).values()):
        return {}
    from .layout import client_listeners
    on = vpc_connectivity_on(cluster)
    brokers = sorted(cluster["Brokers"], key=lambda b: b["BrokerId"])
    out = {}
    for listener in client_listeners(cluster):
        if listener.name not in MULTI_VPC_TWINS:
            continue
        _twin, t, member, key, _auth = MULTI_VPC_TWINS[listener.name]
        if on[key]:
            out[member] = ",".join(f"{advertised_address(cluster, b['BrokerId'], t, b.get('Address'))}:"
                                   f"{advertised_port(b['BrokerId'])}" for b in brokers)
    return out
