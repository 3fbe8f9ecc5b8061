"""Client authentication and encryption on live clusters: UpdateSecurity (rolling restart) and the
SASL/SCRAM secret association APIs, with MSK's rules and error shapes.

Per-secret problems in Batch(Dis)associateScramSecret are not request errors on MSK: the call
succeeds and lists them in UnprocessedScramSecrets (ErrorCode `InvalidSecretArn`).
"""
from __future__ import annotations

import copy
import json

from ...api.core import RequestContext, handler
from ...control import model
from ...control.layout import client_auth
from ...control.multi_vpc import vpc_connectivity_on
from ...control.scram import reserved_scram_username
from ..common import paginate
from .validation import bad_request, check_security

MAX_SECRETS_PER_CALL = 10
MAX_USERS = 1000


def _mutable_security(cluster: dict) -> dict:
    from . import views
    return {"ClientAuthentication": views.client_authentication(cluster),
            "EncryptionInfo": views.encryption_info(cluster)}


class SecurityHandlers:
    plane = None       # set by KafkaProvider
    secrets = None     # the Secrets Manager backend (SCRAM secrets are read, never written, by MSK)

    def _require_active(self, cluster: dict, current_version: str | None) -> None:
        if cluster["State"] != model.ACTIVE:
            raise bad_request(f"The cluster is in state {cluster['State']}; it can only be updated when ACTIVE.",
                              "clusterArn")
        if current_version is not None and current_version != cluster["CurrentVersion"]:
            raise bad_request(f"The current version {current_version} does not match the cluster's version "
                              f"{cluster['CurrentVersion']}.", "currentVersion")

    @handler("UpdateSecurity")
    async def update_security(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        self._require_active(cluster, request["CurrentVersion"])
        if not request.get("ClientAuthentication") and not request.get("EncryptionInfo"):
            raise bad_request("Specify ClientAuthentication or EncryptionInfo.", "clientAuthentication")
        spec = copy.deepcopy(cluster["Spec"])
        if request.get("EncryptionInfo"):
            enc = request["EncryptionInfo"]
            if enc.get("EncryptionAtRest"):
                raise bad_request("Encryption at rest cannot be changed after the cluster is created.",
                                  "encryptionInfo")
            transit = enc.get("EncryptionInTransit") or {}
            current = (spec.get("EncryptionInfo") or {}).get("EncryptionInTransit") or {}
            if "InCluster" in transit and transit["InCluster"] != current.get("InCluster", True):
                raise bad_request("In-cluster encryption cannot be changed after the cluster is created.",
                                  "encryptionInfo")
            if "ClientBroker" in transit:
                spec.setdefault("EncryptionInfo", {}).setdefault("EncryptionInTransit", {})["ClientBroker"] = \
                    transit["ClientBroker"]
        if request.get("ClientAuthentication"):
            merged = copy.deepcopy(spec.get("ClientAuthentication") or {})
            for key, value in request["ClientAuthentication"].items():
                if key == "Sasl":
                    merged.setdefault("Sasl", {}).update(copy.deepcopy(value))
                else:
                    merged[key] = copy.deepcopy(value)
            spec["ClientAuthentication"] = merged
        check_security(spec, self.client_ca_active, ctx.region)
        if not client_auth({"Spec": spec})["scram"] and cluster.get("ScramSecrets"):
            raise bad_request("Disassociate the cluster's SCRAM secrets before turning SASL/SCRAM off.",
                              "clientAuthentication")
        self._check_vpc_connectivity_kept(cluster, spec)
        source = _mutable_security(cluster)
        cluster["Spec"] = spec
        op = self.plane.start_update(cluster, "UPDATE_SECURITY", _mutable_security(cluster), source)
        return {"ClusterArn": cluster["ClusterArn"], "ClusterOperationArn": op["OperationArn"]}

    @staticmethod
    def _check_vpc_connectivity_kept(cluster: dict, spec: dict) -> None:
        """An authentication type multi-VPC private connectivity uses cannot be turned off for the cluster: its
        multi-VPC listeners and the clients' VPC connections depend on it (turn it off there first)."""
        after = client_auth({"Spec": spec})
        names = {"iam": "SASL/IAM", "scram": "SASL/SCRAM", "tls": "TLS"}
        for key, on in vpc_connectivity_on(cluster).items():
            if on and not after[key]:
                raise bad_request(f"{names[key]} client authentication is turned on for multi-VPC private connectivity "
                                  f"on this cluster, so it cannot be turned off. Turn it off for multi-VPC private "
                                  "connectivity first (UpdateConnectivity, ConnectivityInfo.VpcConnectivity).",
                                  "clientAuthentication")

    # -- SASL/SCRAM secrets ---------------------------------------------------------------------
    def _secret_problem(self, ctx: RequestContext, arn: str) -> str | None:
        secrets = self.secrets
        try:
            name = secrets.describe(ctx.region, arn)["Name"]
        except Exception:
            return "Amazon MSK wasn't able to access the provided secret."
        if not name.startswith("AmazonMSK_"):
            return "The provided secret arn cannot be used with Amazon MSK. Secret names must have the prefix 'AmazonMSK_'"
        if secrets.kms_key_manager(ctx.region, arn) != "CUSTOMER":
            return ("The provided secret is encrypted with the default AWS managed key. Secrets used with Amazon MSK "
                    "must be encrypted with a customer managed KMS key.")
        try:
            doc = json.loads(secrets.value(ctx.region, arn))
            if not isinstance(doc.get("username"), str) or not isinstance(doc.get("password"), str) \
                    or not doc["username"]:
                raise ValueError
        except Exception:
            return 'The secret value must be JSON with string fields "username" and "password".'
        if reserved_scram_username(doc["username"]):
            return (f"The SCRAM username '{doc['username']}' is not allowed: usernames starting with 'arn:' name IAM "
                    "principals on Amazon MSK clusters.")
        return None

    @handler("BatchAssociateScramSecret")
    async def batch_associate_scram_secret(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        if not client_auth(cluster)["scram"]:
            raise bad_request("SASL/SCRAM authentication is not enabled on this cluster.", "clusterArn")
        self._require_active(cluster, None)
        arns = request["SecretArnList"]
        if len(arns) > MAX_SECRETS_PER_CALL:
            raise bad_request(f"At most {MAX_SECRETS_PER_CALL} secrets can be associated in one call.",
                              "secretArnList")
        associated = list(cluster.get("ScramSecrets") or [])
        unprocessed = []
        for arn in arns:
            problem = self._secret_problem(ctx, arn)
            if problem:
                unprocessed.append({"ErrorCode": "InvalidSecretArn", "ErrorMessage": problem, "SecretArn": arn})
            elif arn not in associated:
                associated.append(arn)
        if len(associated) > MAX_USERS:
            raise bad_request(f"A cluster can have at most {MAX_USERS} SCRAM users.", "secretArnList")
        if associated != list(cluster.get("ScramSecrets") or []):
            cluster["ScramSecrets"] = associated
            self.plane.save_cluster(cluster)
            self.plane.submit(cluster["ClusterArn"])
        return {"ClusterArn": cluster["ClusterArn"], "UnprocessedScramSecrets": unprocessed}

    @handler("BatchDisassociateScramSecret")
    async def batch_disassociate_scram_secret(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        associated = list(cluster.get("ScramSecrets") or [])
        unprocessed = []
        for arn in request["SecretArnList"]:
            if arn in associated:
                associated.remove(arn)
            else:
                unprocessed.append({"ErrorCode": "InvalidSecretArn", "SecretArn": arn,
                                    "ErrorMessage": "The provided secret is not associated with this cluster."})
        if associated != list(cluster.get("ScramSecrets") or []):
            cluster["ScramSecrets"] = associated
            self.plane.save_cluster(cluster)
            self.plane.submit(cluster["ClusterArn"])
        return {"ClusterArn": cluster["ClusterArn"], "UnprocessedScramSecrets": unprocessed}

    @handler("ListScramSecrets")
    async def list_scram_secrets(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        return paginate(list(cluster.get("ScramSecrets") or []), request, "SecretArnList", bad_token=self._bad_token)
