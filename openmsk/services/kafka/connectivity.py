"""UpdateConnectivity: public access (SERVICE_PROVIDED_EIPS) on and off, with MSK's preconditions
(DG public-access): unauthenticated access off and SASL/IAM, SASL/SCRAM or mTLS on, encryption within the cluster on, no plaintext between clients and brokers, and, with
SASL/SCRAM or mTLS, `allow.everyone.if.no.acl.found=false` in the cluster's configuration (so the
public listeners are governed by ACLs). Public access cannot be set at creation (validation.py).
The public listeners themselves are control/public_access.py; turning it on or off rolls the brokers.
Multi-VPC private connectivity (VpcConnectivity) is not served.
"""
from __future__ import annotations

import copy

from ...api.core import RequestContext, handler
from ...control.layout import all_user_properties, client_auth, encryption_in_transit
from .broker_changes import require_updatable
from .validation import bad_request

TYPES = ("DISABLED", "SERVICE_PROVIDED_EIPS")


def public_access_problem(cluster: dict) -> str | None:
    """Why public access cannot be turned on for this cluster (None: it can)."""
    auth = client_auth(cluster)
    transit = encryption_in_transit(cluster)
    if auth["unauthenticated"] or not (auth["scram"] or auth["tls"] or auth["iam"]):
        return ("Public access requires unauthenticated access control to be off and at least one of SASL/IAM, "
                "SASL/SCRAM or mTLS access control to be on. Update the cluster's security settings first.")
    if not transit["InCluster"]:
        return ("Public access requires encryption within the cluster, which cannot be turned on for a cluster "
                "created without it.")
    if transit["ClientBroker"] != "TLS":
        return ("Public access requires plaintext traffic between clients and brokers to be off "
                "(EncryptionInTransit.ClientBroker must be TLS).")
    if (auth["scram"] or auth["tls"]) and \
            all_user_properties(cluster).get("allow.everyone.if.no.acl.found", "true").strip().lower() != "false":
        return ("With SASL/SCRAM or mTLS access control, set Apache Kafka ACLs for the cluster and then update its "
                "configuration to set allow.everyone.if.no.acl.found to false before turning on public access.")
    return None


class ConnectivityHandlers:
    plane = None           # set by KafkaProvider

    @handler("UpdateConnectivity")
    async def update_connectivity(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        require_updatable(cluster, request["CurrentVersion"])
        info = request["ConnectivityInfo"]
        if info.get("VpcConnectivity"):
            raise bad_request("Multi-VPC private connectivity (VpcConnectivity) is not supported by openmsk.",
                              "vpcConnectivity")
        wanted = (info.get("PublicAccess") or {}).get("Type")
        if wanted not in TYPES:
            raise bad_request(f"PublicAccess.Type must be one of {', '.join(TYPES)}.", "publicAccess")
        group = cluster["Spec"]["BrokerNodeGroupInfo"]
        current = ((group.get("ConnectivityInfo") or {}).get("PublicAccess") or {}).get("Type", "DISABLED")
        if wanted == current:
            raise bad_request(f"Public access is already {wanted} on this cluster.", "publicAccess")
        if wanted == "SERVICE_PROVIDED_EIPS":
            problem = public_access_problem(cluster)
            if problem:
                raise bad_request(problem, "connectivityInfo")
        source = {"ConnectivityInfo": {"PublicAccess": {"Type": current}}}
        group["ConnectivityInfo"] = {**copy.deepcopy(group.get("ConnectivityInfo") or {}),
                                     "PublicAccess": {"Type": wanted}}
        op = self.plane.start_update(cluster, "UPDATE_CONNECTIVITY", {"ConnectivityInfo": {"PublicAccess": {
            "Type": wanted}}}, source)
        return {"ClusterArn": cluster["ClusterArn"], "ClusterOperationArn": op["OperationArn"]}
