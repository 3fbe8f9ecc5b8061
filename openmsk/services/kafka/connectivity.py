"""UpdateConnectivity: public access (SERVICE_PROVIDED_EIPS) on and off, with MSK's preconditions
(DG public-access): unauthenticated access off and SASL/IAM, SASL/SCRAM or mTLS on, encryption within the cluster on, no plaintext between clients and brokers, and, with
SASL/SCRAM or mTLS, `allow.everyone.if.no.acl.found=false` in the cluster's configuration (so the
public listeners are governed by ACLs). Public access cannot be set at creation (validation.py).
The public listeners themselves are control/public_access.py; turning it on or off rolls the brokers.
`VpcConnectivity` turns multi-VPC private connectivity on or off per authentication type
(vpc_connections.py has MSK's preconditions and the managed VPC connections); like MSK's, it rolls the
brokers, which get (or lose) that type's multi-VPC listener (control/multi_vpc.py).
"""
from __future__ import annotations

import copy

from ...api.core import RequestContext, handler
from ...control.layout import acls_enforced, client_auth, encryption_in_transit
from .broker_changes import require_updatable
from .validation import bad_request
from .vpc_connections import (vpc_connectivity_document, vpc_connectivity_of, vpc_connectivity_problem,
                              wanted_vpc_connectivity)

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
    if (auth["scram"] or auth["tls"]) and not acls_enforced(cluster):
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
        if "PublicAccess" not in info and "VpcConnectivity" not in info:
            raise bad_request("Specify ConnectivityInfo.PublicAccess or ConnectivityInfo.VpcConnectivity.",
                              "connectivityInfo")
        group = cluster["Spec"]["BrokerNodeGroupInfo"]
        connectivity = copy.deepcopy(group.get("ConnectivityInfo") or {})
        current = (connectivity.get("PublicAccess") or {}).get("Type", "DISABLED")
        source, target, changed = {}, {}, False
        if "PublicAccess" in info:
            wanted = (info.get("PublicAccess") or {}).get("Type")
            if wanted not in TYPES:
                raise bad_request(f"PublicAccess.Type must be one of {', '.join(TYPES)}.", "publicAccess")
            if wanted != current:
                if wanted == "SERVICE_PROVIDED_EIPS":
                    problem = public_access_problem(cluster)
                    if problem:
                        raise bad_request(problem, "connectivityInfo")
                source["PublicAccess"], target["PublicAccess"] = {"Type": current}, {"Type": wanted}
                connectivity["PublicAccess"] = {"Type": wanted}
                changed = True
            elif "VpcConnectivity" not in info:
                raise bad_request(f"Public access is already {wanted} on this cluster.", "publicAccess")
        if "VpcConnectivity" in info:
            have, want = vpc_connectivity_of(cluster), wanted_vpc_connectivity(info["VpcConnectivity"])
            if want == have and not changed:
                raise bad_request("Multi-VPC private connectivity already has these authentication settings on this "
                                  "cluster.", "vpcConnectivity")
            if want != have:
                problem = vpc_connectivity_problem(cluster, want)
                if problem:
                    raise bad_request(problem, "vpcConnectivity")
                names = {"SASL_IAM": "iam", "SASL_SCRAM": "scram", "TLS": "tls"}
                in_use = sorted({c["Authentication"] for c in self.active_vpc_connections(cluster["ClusterArn"],
                                                                                           cluster["Region"])
                                 if not want[names[c["Authentication"]]]})
                if in_use:
                    raise bad_request(f"Client VPC connections with {', '.join(in_use)} authentication use this "
                                      "cluster; reject them (RejectClientVpcConnection) or have them deleted before "
                                      "turning that authentication off for multi-VPC private connectivity.",
                                      "vpcConnectivity")
                source["VpcConnectivity"] = vpc_connectivity_document(have)
                target["VpcConnectivity"] = connectivity["VpcConnectivity"] = vpc_connectivity_document(want)
        group["ConnectivityInfo"] = connectivity
        op = self.plane.start_update(cluster, "UPDATE_CONNECTIVITY", {"ConnectivityInfo": target},
                                     {"ConnectivityInfo": source})
        return {"ClusterArn": cluster["ClusterArn"], "ClusterOperationArn": op["OperationArn"]}
