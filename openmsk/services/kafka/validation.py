"""MSK's request rules that botocore's model cannot express (cluster-wide semantics).

Every rule raises BadRequestException (400) naming the offending member by its wire name, so the CLI
prints `An error occurred (BadRequestException) when calling the CreateCluster operation: ...` and
nothing is stored.
"""
from __future__ import annotations

import re

from ...api.core import ServiceException
from ...runtime.versions import SUPPORTED_VERSIONS

INSTANCE_TYPES = frozenset(
    [f"kafka.m5.{s}" for s in ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge")]
    + [f"kafka.m7g.{s}" for s in ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")]
    + ["kafka.t3.small"])
NAME_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{0,63}$")
MAX_VOLUME_GIB = 16384


def bad_request(message: str, parameter: str | None = None) -> ServiceException:
    fields = {"InvalidParameter": parameter} if parameter else {}
    return ServiceException("BadRequestException", message, 400, **fields)


def not_found(message: str, parameter: str | None = None) -> ServiceException:
    fields = {"InvalidParameter": parameter} if parameter else {}
    return ServiceException("NotFoundException", message, 404, **fields)


def conflict(message: str, parameter: str | None = None) -> ServiceException:
    fields = {"InvalidParameter": parameter} if parameter else {}
    return ServiceException("ConflictException", message, 409, **fields)


def check_cluster_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise bad_request("The cluster name must start with a letter or digit and contain only letters, digits "
                          "and hyphens (1-64 characters).", "clusterName")


def check_kafka_version(version: str, parameter: str = "kafkaVersion") -> None:
    if version not in SUPPORTED_VERSIONS:
        supported = ", ".join(sorted(SUPPORTED_VERSIONS))
        raise bad_request(f"Unsupported Kafka version {version}. Supported versions: {supported}.", parameter)


def check_broker_node_group(info: dict, number_of_broker_nodes: int, network, region: str) -> tuple[dict, dict]:
    """Returns subnet id -> subnet document after checking MSK's placement rules."""
    if info["InstanceType"] not in INSTANCE_TYPES:
        raise bad_request(f"The instance type {info['InstanceType']} is not supported. Specify one of: "
                          + ", ".join(sorted(INSTANCE_TYPES)) + ".", "instanceType")
    subnets = info["ClientSubnets"]
    if len(subnets) not in (2, 3):
        raise bad_request("Specify either two or three client subnets, each in a different Availability Zone.",
                          "clientSubnets")
    if len(set(subnets)) != len(subnets):
        raise bad_request("The client subnets must be distinct.", "clientSubnets")
    docs, zone_id = {}, {}
    for subnet_id in subnets:
        subnet = network.subnet(region, subnet_id)
        if subnet is None:
            raise bad_request(f"The subnet {subnet_id} does not exist.", "clientSubnets")
        docs[subnet_id], zone_id[subnet_id] = subnet, subnet["AvailabilityZoneId"]
    if len(set(zone_id.values())) != len(subnets):
        raise bad_request("The client subnets must be in different Availability Zones. Subnets "
                          + ", ".join(f"{s} ({zone_id[s]})" for s in subnets) + " share an Availability Zone.",
                          "clientSubnets")
    if number_of_broker_nodes % len(subnets):
        raise bad_request("The number of broker nodes must be a multiple of Availability Zones in the Client "
                          "Subnets parameter.", "numberOfBrokerNodes")
    for group in info.get("SecurityGroups") or []:
        if network.security_group(region, group) is None:
            raise bad_request(f"The security group {group} does not exist.", "securityGroups")
    volume = ((info.get("StorageInfo") or {}).get("EbsStorageInfo") or {}).get("VolumeSize")
    if volume is not None and not 1 <= volume <= MAX_VOLUME_GIB:
        raise bad_request(f"The volume size must be between 1 and {MAX_VOLUME_GIB} GiB.", "volumeSize")
    public = ((info.get("ConnectivityInfo") or {}).get("PublicAccess") or {}).get("Type", "DISABLED")
    if public != "DISABLED":
        raise bad_request("Public access can only be turned on for an existing cluster.", "connectivityInfo")
    return docs


def check_security(request: dict, plane=None, region: str = "") -> None:
    """MSK's combinations: mTLS needs TLS (or TLS_PLAINTEXT) to clients, SASL needs TLS, at least one way
    to authenticate; every certificate authority must be an ACTIVE ACM PCA of this account/region."""
    enc = ((request.get("EncryptionInfo") or {}).get("EncryptionInTransit") or {})
    client_broker = enc.get("ClientBroker", "TLS")
    auth = request.get("ClientAuthentication") or {}
    sasl = auth.get("Sasl") or {}
    if (sasl.get("Iam") or {}).get("Enabled"):
        raise bad_request("IAM access control is not supported by openmsk; use SASL/SCRAM or TLS client "
                          "authentication.", "clientAuthentication")
    scram = (sasl.get("Scram") or {}).get("Enabled")
    if scram and client_broker == "PLAINTEXT":
        raise bad_request("SASL/SCRAM authentication requires TLS encryption between clients and brokers.",
                          "clientAuthentication")
    tls = auth.get("Tls") or {}
    cas = tls.get("CertificateAuthorityArnList") or []
    tls_on = tls.get("Enabled", bool(cas))
    if tls_on and not cas:
        raise bad_request("TLS client authentication needs at least one certificate authority ARN.",
                          "clientAuthentication")
    if tls_on and client_broker == "PLAINTEXT":
        raise bad_request("TLS client authentication requires TLS encryption between clients and brokers.",
                          "clientAuthentication")
    for arn in cas if tls_on else []:
        pcas = getattr(plane, "private_cas", None)
        try:
            active = pcas is not None and arn.split(":")[3] == region and pcas.active(arn)
        except Exception:
            active = False
        if not active:
            raise bad_request(f"The certificate authority {arn} does not exist or is not ACTIVE.",
                              "certificateAuthorityArnList")
    unauth = auth.get("Unauthenticated")
    unauthenticated = unauth.get("Enabled") if unauth and "Enabled" in unauth else not (scram or tls_on)
    if not (unauthenticated or scram or tls_on):
        raise bad_request("At least one client authentication method must be enabled.", "clientAuthentication")
    if not unauthenticated and client_broker != "TLS":
        raise bad_request("Unauthenticated access can only be turned off when encryption between clients and "
                          "brokers is TLS only.", "clientAuthentication")
