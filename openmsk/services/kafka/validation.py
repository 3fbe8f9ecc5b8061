"""MSK's request rules that botocore's model cannot express (cluster-wide semantics).

Every rule raises BadRequestException (400) naming the offending member by its wire name, so the CLI
prints `An error occurred (BadRequestException) when calling the CreateCluster operation: ...` and
nothing is stored.
"""
from __future__ import annotations

import re
from typing import Callable

from ...api.core import ServiceException
from ...control.kafka_settings import SUPPORTED_VERSIONS
from ...control.layout import client_auth

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
    vpcs = sorted({d["VpcId"] for d in docs.values()})
    if len(vpcs) > 1:
        raise bad_request("The client subnets must all be in one VPC; "
                          + ", ".join(f"{s} is in {docs[s]['VpcId']}" for s in subnets) + ".", "clientSubnets")
    if len(set(zone_id.values())) != len(subnets):
        raise bad_request("The client subnets must be in different Availability Zones. Subnets "
                          + ", ".join(f"{s} ({zone_id[s]})" for s in subnets) + " share an Availability Zone.",
                          "clientSubnets")
    if number_of_broker_nodes % len(subnets):
        raise bad_request("The number of broker nodes must be a multiple of Availability Zones in the Client "
                          "Subnets parameter.", "numberOfBrokerNodes")
    for group in info.get("SecurityGroups") or []:
        doc = network.security_group(region, group)
        if doc is None:
            raise bad_request(f"The security group {group} does not exist.", "securityGroups")
        if doc["VpcId"] != vpcs[0]:
            raise bad_request(f"The security group {group} is in {doc['VpcId']}, not in the client subnets' VPC "
                              f"{vpcs[0]}.", "securityGroups")
    volume = ((info.get("StorageInfo") or {}).get("EbsStorageInfo") or {}).get("VolumeSize")
    if volume is not None and not 1 <= volume <= MAX_VOLUME_GIB:
        raise bad_request(f"The volume size must be between 1 and {MAX_VOLUME_GIB} GiB.", "volumeSize")
    public = ((info.get("ConnectivityInfo") or {}).get("PublicAccess") or {}).get("Type", "DISABLED")
    if public != "DISABLED":
        raise bad_request("Public access can only be turned on for an existing cluster.", "connectivityInfo")
    return docs


def check_security(request: dict, ca_active: Callable[[str], bool], region: str) -> None:
    """MSK's combinations: mTLS needs TLS (or TLS_PLAINTEXT) to clients, SASL needs TLS, at least one way
    to authenticate; every certificate authority must be an ACTIVE ACM PCA of this account/region
    (`ca_active(arn)`)."""
    enc = ((request.get("EncryptionInfo") or {}).get("EncryptionInTransit") or {})
    client_broker = enc.get("ClientBroker", "TLS")
    auth = client_auth({"Spec": request})
    if auth["iam"] and client_broker == "PLAINTEXT":
        raise bad_request("SASL/IAM authentication requires TLS encryption between clients and brokers.",
                          "clientAuthentication")
    scram = auth["scram"]
    if scram and client_broker == "PLAINTEXT":
        raise bad_request("SASL/SCRAM authentication requires TLS encryption between clients and brokers.",
                          "clientAuthentication")
    cas, tls_on = auth["cas"], auth["tls_requested"]
    if tls_on and not cas:
        raise bad_request("TLS client authentication needs at least one certificate authority ARN.",
                          "clientAuthentication")
    if tls_on and client_broker == "PLAINTEXT":
        raise bad_request("TLS client authentication requires TLS encryption between clients and brokers.",
                          "clientAuthentication")
    for arn in cas if tls_on else []:
        parts = arn.split(":")
        if not (len(parts) > 3 and parts[3] == region and ca_active(arn)):
            raise bad_request(f"The certificate authority {arn} does not exist or is not ACTIVE.",
                              "certificateAuthorityArnList")
    unauthenticated = auth["unauthenticated"]
    if not (unauthenticated or scram or tls_on or auth["iam"]):
        raise bad_request("At least one client authentication method must be enabled.", "clientAuthentication")
    if not unauthenticated and client_broker != "TLS":
        raise bad_request("Unauthenticated access can only be turned off when encryption between clients and "
                          "brokers is TLS only.", "clientAuthentication")


#: (BrokerLogs member, name member, sink destination, wire name, what MSK says is missing)
LOG_DESTINATIONS = (
    ("CloudWatchLogs", "LogGroup", "cloudwatch", "logGroup", "CloudWatch Logs", "a CloudWatch log group"),
    ("S3", "Bucket", "s3", "bucket", "Amazon S3", "an S3 bucket"),
    ("Firehose", "DeliveryStream", "firehose", "deliveryStream", "Kinesis Data Firehose", "a delivery stream"),
)


def check_logging(logging_info: dict | None, destinations, region: str) -> None:
    """Broker log destinations must exist before logging is configured (MSK does not create them).
    `destinations.exists(region, dest, name)` is the broker-log sink (telemetry.log_shipping)."""
    broker_logs = (logging_info or {}).get("BrokerLogs") or {}
    for member, name_key, dest, wire, service, what in LOG_DESTINATIONS:
        settings = broker_logs.get(member) or {}
        if not settings.get("Enabled"):
            continue
        name = settings.get(name_key)
        if not name:
            raise bad_request(f"To use {service} as a destination for broker logs, you must specify {what}.", wire)
        if destinations is not None and not destinations.exists(region, dest, name):
            raise bad_request(f"The {what.split(' ', 1)[1]} {name} does not exist. Create it before you configure "
                              f"broker logs to be delivered to it.", wire)
