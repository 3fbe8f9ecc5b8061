"""Multi-VPC private connectivity, the API: managed VPC connections (CreateVpcConnection,
DescribeVpcConnection, ListVpcConnections, DeleteVpcConnection on the client's side;
ListClientVpcConnections, RejectClientVpcConnection on the cluster owner's side) and the cluster side,
UpdateConnectivity's `VpcConnectivity` (connectivity.py calls `vpc_connectivity_problem`).

MSK's rules as its developer guide states them (aws-access-mult-vpc.html): Apache Kafka 2.7.1 or later;
the authentication types IAM, SASL/SCRAM and TLS only (unauthenticated clusters cannot use it), and the
type must be on in the cluster's client authentication and in its VpcConnectivity; with SASL/SCRAM or
mTLS, `allow.everyone.if.no.acl.found=false`; not on kafka.t3.small; same Region only; each connection
one authentication type; at least two client subnets in distinct zones, whose zone ids must be zones
of the cluster; a cross-account connection needs a cluster policy that lets the client's account
call kafka:CreateVpcConnection.

The connection is a document of this service (kind `vpc-connection`). Its lifecycle is MSK's:
CREATING -> AVAILABLE, REJECTING -> REJECTED, DELETING -> (gone); each transition completes
`SETTLE_SECONDS` after it began (a read computes it; the next change stores it).

The data path: the brokers' multi-VPC listeners and bootstrap strings are control/multi_vpc.py; in the
namespace layout an AVAILABLE connection gets an endpoint in its client VPC (control/vpc_endpoints.py,
which reads the connections through `with_data_path`, control/ports.py). DeleteCluster leaves the
cluster's connections INACTIVE (DEACTIVATING first); their owners delete them.
"""
from __future__ import annotations

import fnmatch
import uuid
from datetime import datetime, timezone

from ...api.core import RequestContext, ServiceException, handler
from ...control import model
from ...control.layout import acls_enforced, client_auth
from ...control.multi_vpc import vpc_connectivity_on as vpc_connectivity_of   # noqa: F401 (connectivity.py)
from ..common import paginate
from .validation import bad_request, not_found

SETTLE_SECONDS = 2.0
AUTHENTICATIONS = {"SASL_IAM": "iam", "SASL_SCRAM": "scram", "TLS": "tls"}
KIND = "vpc-connection"
MIN_KAFKA = (2, 7, 1)


def _version(text: str) -> tuple:
    parts = []
    for piece in text.replace(".x", ".999").split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def wanted_vpc_connectivity(request_info: dict) -> dict:
    auth = (request_info or {}).get("ClientAuthentication") or {}
    sasl = auth.get("Sasl") or {}
    return {"iam": bool((sasl.get("Iam") or {}).get("Enabled")),
            "scram": bool((sasl.get("Scram") or {}).get("Enabled")),
            "tls": bool((auth.get("Tls") or {}).get("Enabled"))}


def vpc_connectivity_document(wanted: dict) -> dict:
    return {"ClientAuthentication": {"Sasl": {"Scram": {"Enabled": wanted["scram"]}, "Iam": {"Enabled": wanted["iam"]}},
                                     "Tls": {"Enabled": wanted["tls"]}}}


def vpc_connectivity_problem(cluster: dict, wanted: dict) -> str | None:
    """Why the cluster cannot have multi-VPC connectivity with these authentication types (None: it can)."""
    if not any(wanted.values()):
        return None                                    # turning it off is always possible (connections aside)
    if _version(cluster["Spec"]["KafkaVersion"]) < MIN_KAFKA:
        return "Multi-VPC private connectivity requires Apache Kafka version 2.7.1 or later."
    if cluster["Spec"]["BrokerNodeGroupInfo"]["InstanceType"] == "kafka.t3.small":
        return "Multi-VPC private connectivity is not supported for the kafka.t3.small instance type."
    auth = client_auth(cluster)
    if not (auth["iam"] or auth["scram"] or auth["tls"]):
        return ("Multi-VPC private connectivity is not supported for unauthenticated clusters. Turn on SASL/IAM, "
                "SASL/SCRAM or TLS client authentication first.")
    names = {"iam": "SASL/IAM", "scram": "SASL/SCRAM", "tls": "TLS"}
    for key, on in wanted.items():
        if on and not auth[key]:
            return (f"{names[key]} client authentication is not turned on for this cluster, so it cannot be turned on "
                    "for multi-VPC private connectivity.")
    if (wanted["scram"] or wanted["tls"]) and not acls_enforced(cluster):
        return ("With SASL/SCRAM or mTLS for multi-VPC private connectivity, set Apache Kafka ACLs for the cluster and "
                "then update its configuration to set allow.everyone.if.no.acl.found to false.")
    return None


def _account_matches(principal, account: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    values = principal.get("AWS")
    values = [values] if isinstance(values, str) else (values or [])
    return any(v == "*" or v == account or v.startswith(f"arn:aws:iam::{account}:") for v in values)


def policy_allows(policy: dict | None, account: str, action: str, resource: str) -> bool:
    """Whether a cluster policy lets principals of `account` call `action` on `resource` (an explicit
    Deny wins)."""
    if not policy:
        return False
    statements = policy.get("Statement")
    statements = [statements] if isinstance(statements, dict) else (statements or [])
    allowed = False
    for st in statements:
        if not _account_matches(st.get("Principal"), account):
            continue
        actions = st.get("Action")
        actions = [actions] if isinstance(actions, str) else (actions or [])
        resources = st.get("Resource", "*")
        resources = [resources] if isinstance(resources, str) else resources
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in resources):
            continue
        if st.get("Effect") == "Deny":
            return False
        allowed = True
    return allowed


class VpcConnectionStore:
    """The service's own documents (kind `vpc-connection`, keyed by ARN, parent = the target cluster) in
    the store it is handed by the composition root."""

    def __init__(self, store) -> None:
        self.store = store

    def get(self, arn: str) -> dict | None:
        return self.store.get(KIND, arn)

    def put(self, doc: dict) -> None:
        self.store.put(KIND, doc["VpcConnectionArn"], doc, region=doc["Region"], parent=doc["TargetClusterArn"])

    def delete(self, arn: str) -> None:
        self.store.delete(KIND, arn)

    def list(self, region: str, cluster_arn: str | None = None) -> list[dict]:
        return self.store.list(KIND, region=region, parent=cluster_arn)

    def with_data_path(self) -> list[dict]:
        """control/ports.py VpcConnections: the connections that are AVAILABLE now (their endpoints,
        control/vpc_endpoints.py, exist exactly while they are)."""
        return [d for d in self.store.list(KIND) if settled(d)["State"] == "AVAILABLE"]

    def settles_in(self) -> float | None:
        """control/ports.py VpcConnections: seconds until the next pending transition completes (a read
        computes it, nothing is written then), so the endpoints' service wakes for it."""
        left = [SETTLE_SECONDS - _elapsed(d["Since"]) for d in self.store.list(KIND) if d.get("Pending")]
        left = [s for s in left if s > 0]         # a transition already due is seen by the pass that asks
        return min(left) + 0.05 if left else None


def _elapsed(since: str) -> float:
    return (datetime.now(timezone.utc) - model.parse_iso(since)).total_seconds()


def settled(doc: dict) -> dict:
    """The connection as it is now: a pending transition whose time has come applied to the copy returned
    (State None: deleted)."""
    pending = doc.get("Pending")
    if pending and _elapsed(doc["Since"]) >= SETTLE_SECONDS:
        doc = {**doc, "State": None if pending == "DELETED" else pending, "Pending": None}
    return doc


class VpcConnectionHandlers:
    plane = None                   # set by KafkaProvider
    cluster_policies = None        # policies.ClusterPolicyStore, handed in by the composition root
    vpc_connection_docs: VpcConnectionStore | None = None

    def with_vpc_connections(self, docs: VpcConnectionStore):
        """Hand the provider its VPC connection documents; called by the composition root."""
        self.vpc_connection_docs = docs
        return self

    def _docs(self) -> VpcConnectionStore:
        if self.vpc_connection_docs is None:
            raise ServiceException("ServiceUnavailableException", "VPC connections are not available.", 503)
        return self.vpc_connection_docs

    # -- documents -------------------------------------------------------------------------------
    def _connection(self, arn: str) -> dict | None:
        """The connection as it is now: a pending transition whose time has come is applied to the copy
        returned (reads never write; a refused request changes nothing)."""
        doc = self._docs().get(arn)
        if doc is None:
            return None
        doc = settled(doc)
        return doc if doc["State"] is not None else None

    def _purge_deleted(self, region: str) -> None:
        for doc in self._docs().list(region):
            if doc.get("Pending") == "DELETED" and self._connection(doc["VpcConnectionArn"]) is None:
                self._docs().delete(doc["VpcConnectionArn"])

    def _save_connection(self, doc: dict, state: str, pending: str | None) -> None:
        doc.update(State=state, Pending=pending, Since=model.now_iso())
        self._docs().put(doc)

    def _connections(self, region: str, cluster_arn: str | None = None) -> list[dict]:
        docs = self._docs().list(region, cluster_arn)
        out = [self._connection(d["VpcConnectionArn"]) for d in docs]
        return sorted((d for d in out if d is not None), key=lambda d: d["CreationTime"])

    def deactivate_vpc_connections(self, cluster: dict) -> None:
        """DeleteCluster: the cluster's client connections lose their data path and become INACTIVE
        (DEACTIVATING first), as MSK's connections do when their authentication type is turned off on the
        cluster; their owners delete them."""
        if self.vpc_connection_docs is None:
            return
        for doc in self.active_vpc_connections(cluster["ClusterArn"], cluster["Region"]):
            self._save_connection(doc, "DEACTIVATING", "INACTIVE")

    def active_vpc_connections(self, cluster_arn: str, region: str) -> list[dict]:
        """Connections to a cluster that are not rejected or going away."""
        return [c for c in self._connections(region, cluster_arn) if c["State"] in ("CREATING", "AVAILABLE")]

    # -- client side -----------------------------------------------------------------------------
    @handler("CreateVpcConnection")
    async def create_vpc_connection(self, ctx: RequestContext, request: dict) -> dict:
        arn = request["TargetClusterArn"]
        cluster = self.plane.load_cluster(arn)
        if cluster is None or cluster["Region"] != ctx.region:
            raise bad_request(f"The cluster {arn} does not exist in {ctx.region}. Multi-VPC private connectivity "
                              "connects to a cluster of the same Region.", "targetClusterArn")
        if cluster["AccountId"] != ctx.account_id:
            policy = self._policies().policy_document(arn) if self.cluster_policies else None
            if not policy_allows(policy, ctx.account_id, "kafka:CreateVpcConnection", arn):
                raise bad_request(f"The cluster {arn} has no cluster policy that allows account {ctx.account_id} "
                                  "to call kafka:CreateVpcConnection. Ask the cluster owner to attach one "
                                  "(PutClusterPolicy).", "targetClusterArn")
        if cluster["State"] != model.ACTIVE:
            raise bad_request(f"The cluster is {cluster['State']}; a VPC connection can be created when it is ACTIVE.",
                              "targetClusterArn")
        authentication = request["Authentication"]
        key = AUTHENTICATIONS.get(authentication)
        if key is None:
            raise bad_request(f"Authentication must be one of {', '.join(AUTHENTICATIONS)}.", "authentication")
        if not vpc_connectivity_of(cluster)[key]:
            raise bad_request(f"{authentication} is not turned on for multi-VPC private connectivity on the cluster "
                              f"{arn}. The cluster owner turns it on with UpdateConnectivity "
                              "(ConnectivityInfo.VpcConnectivity).", "authentication")
        network = self.plane.network
        vpc_id = request["VpcId"]
        if network.vpc(ctx.region, vpc_id) is None:
            raise bad_request(f"The VPC {vpc_id} does not exist.", "vpcId")
        cluster_zones = {b["ZoneId"] for b in cluster["Brokers"]}
        zones = set()
        for subnet_id in request["ClientSubnets"]:
            subnet = network.subnet(ctx.region, subnet_id)
            if subnet is None:
                raise bad_request(f"The subnet {subnet_id} does not exist.", "clientSubnets")
            if subnet["VpcId"] != vpc_id:
                raise bad_request(f"The subnet {subnet_id} is in {subnet['VpcId']}, not in {vpc_id}.", "clientSubnets")
            if subnet["AvailabilityZoneId"] not in cluster_zones:
                raise bad_request(f"The subnet {subnet_id} is in zone {subnet['AvailabilityZoneId']}, which is not a "
                                  f"zone of the cluster ({', '.join(sorted(cluster_zones))}).", "clientSubnets")
            if subnet["AvailabilityZoneId"] in zones:
                raise bad_request(f"Specify at most one client subnet per Availability Zone "
                                  f"({subnet['AvailabilityZoneId']} appears twice).", "clientSubnets")
            zones.add(subnet["AvailabilityZoneId"])
        if len(zones) < 2:
            raise bad_request("Specify client subnets in at least two Availability Zones.", "clientSubnets")
        if not request["SecurityGroups"]:
            raise bad_request("Specify at least one security group.", "securityGroups")
        for group_id in request["SecurityGroups"]:
            group = network.security_group(ctx.region, group_id)
            if group is None:
                raise bad_request(f"The security group {group_id} does not exist.", "securityGroups")
            if group["VpcId"] != vpc_id:
                raise bad_request(f"The security group {group_id} is in {group['VpcId']}, not in {vpc_id}.",
                                  "securityGroups")
        if any(c["VpcId"] == vpc_id and c["Authentication"] == authentication and c["OwnerAccount"] == ctx.account_id
               for c in self.active_vpc_connections(arn, ctx.region)):
            raise bad_request(f"The VPC {vpc_id} already has a {authentication} connection to the cluster {arn}.",
                              "vpcId")
        conn_arn = (f"arn:aws:kafka:{ctx.region}:{ctx.account_id}:vpc-connection/{cluster['AccountId']}/"
                    f"{cluster['ClusterName']}/{uuid.uuid4()}-{len(self._connections(ctx.region)) % 25 + 1}")
        doc = {"VpcConnectionArn": conn_arn, "TargetClusterArn": arn, "Region": ctx.region,
               "OwnerAccount": ctx.account_id, "Authentication": authentication, "VpcId": vpc_id,
               "ClientSubnets": list(request["ClientSubnets"]), "SecurityGroups": list(request["SecurityGroups"]),
               "Tags": dict(request.get("Tags") or {}), "CreationTime": model.now_iso()}
        self._purge_deleted(ctx.region)
        self._save_connection(doc, "CREATING", "AVAILABLE")
        return {"VpcConnectionArn": conn_arn, "State": "CREATING", "Authentication": authentication, "VpcId": vpc_id,
                "ClientSubnets": doc["ClientSubnets"], "SecurityGroups": doc["SecurityGroups"],
                "CreationTime": model.parse_iso(doc["CreationTime"]), "Tags": doc["Tags"]}

    def _owned_connection(self, ctx: RequestContext, arn: str) -> dict:
        doc = self._connection(arn)
        if doc is None or doc["Region"] != ctx.region or doc["OwnerAccount"] != ctx.account_id:
            raise not_found(f"The VPC connection {arn} does not exist.", "arn")
        return doc

    @handler("DescribeVpcConnection")
    async def describe_vpc_connection(self, ctx: RequestContext, request: dict) -> dict:
        doc = self._owned_connection(ctx, request["Arn"])
        return {"VpcConnectionArn": doc["VpcConnectionArn"], "TargetClusterArn": doc["TargetClusterArn"],
                "State": doc["State"], "Authentication": doc["Authentication"], "VpcId": doc["VpcId"],
                "Subnets": doc["ClientSubnets"], "SecurityGroups": doc["SecurityGroups"],
                "CreationTime": model.parse_iso(doc["CreationTime"]), "Tags": doc["Tags"]}

    @handler("ListVpcConnections")
    async def list_vpc_connections(self, ctx: RequestContext, request: dict) -> dict:
        items = [{"VpcConnectionArn": c["VpcConnectionArn"], "TargetClusterArn": c["TargetClusterArn"],
                  "CreationTime": model.parse_iso(c["CreationTime"]), "Authentication": c["Authentication"],
                  "VpcId": c["VpcId"], "State": c["State"]}
                 for c in self._connections(ctx.region) if c["OwnerAccount"] == ctx.account_id]
        return paginate(items, request, "VpcConnections", bad_token=self._bad_token)

    @handler("DeleteVpcConnection")
    async def delete_vpc_connection(self, ctx: RequestContext, request: dict) -> dict:
        doc = self._owned_connection(ctx, request["Arn"])
        if doc["State"] in ("CREATING", "DELETING", "DEACTIVATING", "REJECTING"):
            raise bad_request(f"The VPC connection is {doc['State']}; it can be deleted when it is AVAILABLE, "
                              "INACTIVE, REJECTED or FAILED.", "arn")
        self._save_connection(doc, "DELETING", "DELETED")
        return {"VpcConnectionArn": doc["VpcConnectionArn"], "State": "DELETING"}

    # -- cluster owner's side --------------------------------------------------------------------
    @handler("ListClientVpcConnections")
    async def list_client_vpc_connections(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        items = [{"Authentication": c["Authentication"], "CreationTime": model.parse_iso(c["CreationTime"]),
                  "State": c["State"], "VpcConnectionArn": c["VpcConnectionArn"], "Owner": c["OwnerAccount"]}
                 for c in self._connections(ctx.region, cluster["ClusterArn"])]
        return paginate(items, request, "ClientVpcConnections", bad_token=self._bad_token)

    @handler("RejectClientVpcConnection")
    async def reject_client_vpc_connection(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        arn = request["VpcConnectionArn"]
        doc = self._connection(arn)
        if doc is None or doc["TargetClusterArn"] != cluster["ClusterArn"]:
            raise bad_request(f"The VPC connection {arn} is not a client VPC connection of the cluster "
                              f"{cluster['ClusterArn']}.", "vpcConnectionArn")
        if doc["State"] != "AVAILABLE":
            raise bad_request(f"The VPC connection is {doc['State']}; only an AVAILABLE connection can be rejected.",
                              "vpcConnectionArn")
        self._save_connection(doc, "REJECTING", "REJECTED")
        return {}
