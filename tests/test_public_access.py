"""UpdateConnectivity: MSK's preconditions for public access, and public listeners that really serve a
SASL/SCRAM client on the public bootstrap string (9196 on each broker's own public address), under an
acks=all producer that loses nothing while the brokers roll onto them; the same cluster's SASL/IAM public
listener (9198) serves an AWS-signer client."""
from __future__ import annotations

import json
import uuid

import pytest
from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient, ResourcePatternType,
                                   ResourceType)

from confluent_kafka import Producer

from harness import kcat, wait_for
from kafka_clients import consume_all, iam_config
from openmsk.services.kafka.connectivity import public_access_problem
from verifying_load import VerifyingLoad


def doc(client_auth: dict, transit: dict | None = None, props: str = "") -> dict:
    return {"Spec": {"ClientAuthentication": client_auth,
                     "EncryptionInfo": {"EncryptionInTransit": transit or {"ClientBroker": "TLS", "InCluster": True}}},
            "ServerProperties": props}


SCRAM = {"Sasl": {"Scram": {"Enabled": True}}, "Unauthenticated": {"Enabled": False}}


def test_preconditions():
    assert "unauthenticated access control to be off" in public_access_problem(doc({}))
    assert "unauthenticated" in public_access_problem(doc({**SCRAM, "Unauthenticated": {"Enabled": True}}))
    assert "within the cluster" in public_access_problem(
        doc(SCRAM, {"ClientBroker": "TLS", "InCluster": False}, "allow.everyone.if.no.acl.found=false"))
    assert "plaintext" in public_access_problem(
        doc(SCRAM, {"ClientBroker": "TLS_PLAINTEXT", "InCluster": True}, "allow.everyone.if.no.acl.found=false"))
    assert "allow.everyone.if.no.acl.found to false" in public_access_problem(doc(SCRAM))
    assert public_access_problem(doc(SCRAM, props="allow.everyone.if.no.acl.found=false\n")) is None


def scram(bootstrap: str, ca: str, password: str = "alice-pw") -> dict:
    return {"bootstrap.servers": bootstrap, "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": "alice", "sasl.password": password, "ssl.ca.location": ca}


def test_public_access_serves_scram_clients_on_public_addresses(service):
    svc = service
    kafka = svc.client("kafka")
    name = f"public-{uuid.uuid4().hex[:4]}"
    key = svc.client("kms").create_key(Description="msk scram")["KeyMetadata"]["KeyId"]
    secret = svc.client("secretsmanager").create_secret(
        Name=f"AmazonMSK_{name}", KmsKeyId=key,
        SecretString=json.dumps({"username": "alice", "password": "alice-pw"}))["ARN"]
    conf = kafka.create_configuration(Name=name, ServerProperties=b"allow.everyone.if.no.acl.found=false\n")
    arn = kafka.create_cluster(ClusterName=name, KafkaVersion="3.9.x", NumberOfBrokerNodes=2,
                               BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                    "ClientSubnets": svc.default_subnets(2)},
                               ClientAuthentication={**SCRAM, "Sasl": {**SCRAM["Sasl"], "Iam": {"Enabled": True}}},
                               ConfigurationInfo={"Arn": conf["Arn"], "Revision": 1})["ClusterArn"]
    try:
        info = svc.wait_state(arn, states=("ACTIVE", "FAILED"), timeout=400)
        assert info["State"] == "ACTIVE", info.get("StateInfo")
        kafka.batch_associate_scram_secret(ClusterArn=arn, SecretArnList=[secret])
        private = kafka.get_bootstrap_brokers(ClusterArn=arn)
        assert "BootstrapBrokerStringPublicSaslScram" not in private
        config = scram(private["BootstrapBrokerStringSaslScram"], svc.ca_path)
        topic = f"public-{uuid.uuid4().hex[:6]}"
        wait_for(lambda: kcat("-L", "-b", config["bootstrap.servers"], "-X", "security.protocol=SASL_SSL",
                              "-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username=alice",
                              "-X", "sasl.password=alice-pw", "-X", f"ssl.ca.location={svc.ca_path}",
                              "-m", "10").returncode == 0, 120, "alice's SCRAM credentials")
        # ACLs for alice (allow.everyone.if.no.acl.found=false), made as the control plane's super user
        pki = svc.data_dir / "pki"      # the control plane's admin certificate exists once SCRAM users synced
        wait_for(lambda: (pki / "control-plane-admin.crt").exists(), 60, "the control plane's admin certificate")
        admin = AdminClient({"bootstrap.servers": ",".join(h.replace(":9096", ":9093") for h in
                                                           private["BootstrapBrokerStringSaslScram"].split(",")),
                             "security.protocol": "SSL", "ssl.ca.location": svc.ca_path,
                             "ssl.certificate.location": str(pki / "control-plane-admin.crt"),
                             "ssl.key.location": str(pki / "control-plane-admin.key")})
        bindings = [AclBinding(kind, "*", ResourcePatternType.LITERAL, "User:alice", "*", AclOperation.ALL,
                               AclPermissionType.ALLOW) for kind in (ResourceType.TOPIC, ResourceType.GROUP)]
        for future in admin.create_acls(bindings).values():
            future.result(60)
        from confluent_kafka.admin import NewTopic
        creator = AdminClient(config)       # keep a reference: a destroyed handle fails its futures
        creator.create_topics([NewTopic(topic, 2, 2)])[topic].result(60)

        with VerifyingLoad(config, topic) as load:
            # refused, and nothing started: multi-VPC mTLS on a cluster without TLS client authentication
            with pytest.raises(kafka.exceptions.BadRequestException, match="TLS client authentication is not"):
                kafka.update_connectivity(ClusterArn=arn, CurrentVersion=info["CurrentVersion"], ConnectivityInfo={
                    "VpcConnectivity": {"ClientAuthentication": {"Tls": {"Enabled": True}}}})
            op_arn = kafka.update_connectivity(ClusterArn=arn, CurrentVersion=info["CurrentVersion"],
                                               ConnectivityInfo={"PublicAccess": {"Type": "SERVICE_PROVIDED_EIPS"}}
                                               )["ClusterOperationArn"]

            def done():
                op = kafka.describe_cluster_operation(ClusterOperationArn=op_arn)["ClusterOperationInfo"]
                return op if op["OperationState"] in ("UPDATE_COMPLETE", "UPDATE_FAILED") else None
            op = wait_for(done, 900, "UPDATE_CONNECTIVITY")
            assert op["OperationState"] == "UPDATE_COMPLETE", op
            assert op["TargetClusterInfo"]["ConnectivityInfo"]["PublicAccess"]["Type"] == "SERVICE_PROVIDED_EIPS"
        assert load.errors == [] and len(load.acked) > 20
        assert load.lost() == set()

        brokers = kafka.get_bootstrap_brokers(ClusterArn=arn)
        public = brokers["BootstrapBrokerStringPublicSaslScram"]
        hosts = public.split(",")
        assert len(hosts) == 2 and all(h.startswith("127.254.") and h.endswith(":9196") for h in hosts), public
        assert brokers["BootstrapBrokerStringSaslScram"] == private["BootstrapBrokerStringSaslScram"]
        public_iam = brokers["BootstrapBrokerStringPublicSaslIam"].split(",")
        assert [h.rsplit(":", 1)[0] for h in public_iam] == [h.rsplit(":", 1)[0] for h in hosts]
        assert all(h.endswith(":9198") for h in public_iam), public_iam
        described = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
        assert described["BrokerNodeGroupInfo"]["ConnectivityInfo"]["PublicAccess"]["Type"] == "SERVICE_PROVIDED_EIPS"
        # a client "outside the VPC": the public listener, hostname-verified against the public address
        args = ["-b", public, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-512",
                "-X", "sasl.username=alice", "-X", f"ssl.ca.location={svc.ca_path}"]
        listed = kcat("-L", *args, "-X", "sasl.password=alice-pw", "-m", "15")
        assert listed.returncode == 0, listed.stderr
        assert b"127.254." in listed.stdout and topic.encode() in listed.stdout
        assert kcat("-L", *args, "-X", "sasl.password=wrong", "-m", "10").returncode != 0
        produced = kcat("-P", *args, "-X", "sasl.password=alice-pw", "-t", topic, input=b"from-outside\n")
        assert produced.returncode == 0, produced.stderr
        # SASL/IAM from outside: the AWS signer's OAUTHBEARER tokens on 9198, hostname-verified, as the
        # installation's key (an administrator; per-identity decisions are tests/test_msk_iam.py's)
        outside = iam_config(",".join(public_iam), svc.ca_path, svc.credentials["access_key_id"],
                             svc.credentials["secret_access_key"])
        acked: list = []
        producer = Producer({**outside, "acks": "all"})
        producer.produce(topic, b"iam-from-outside", on_delivery=lambda err, msg: acked.append(err))
        assert producer.flush(120) == 0 and acked == [None], acked
        assert b"iam-from-outside" in consume_all(outside, topic, len(load.acked) + 2, timeout=180)
        info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
        with pytest.raises(kafka.exceptions.BadRequestException, match="already"):
            kafka.update_connectivity(ClusterArn=arn, CurrentVersion=info["CurrentVersion"],
                                      ConnectivityInfo={"PublicAccess": {"Type": "SERVICE_PROVIDED_EIPS"}})
    finally:
        kafka.delete_cluster(ClusterArn=arn)
        svc.wait_state(arn, states=("GONE",), timeout=300)
