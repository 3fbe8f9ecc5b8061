"""Client authentication for real: SASL/SCRAM from Secrets Manager (KMS-encrypted), mutual TLS from an
ACM PCA, and UpdateSecurity turning authentication on with a rolling restart under load."""
from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from harness import Service, free_port, kcat, wait_for
from kafka_clients import broker_config, consume_all, create_topic, produce, tls_config


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    """A service of its own with a cluster that has SASL/SCRAM on (TLS only, unauthenticated TLS allowed)."""
    svc = Service(tmp_path_factory.mktemp("secure") / "data", free_port()).start()
    kafka = svc.client("kafka")
    arn = kafka.create_cluster(
        ClusterName="secure", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
        BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large", "ClientSubnets": svc.default_subnets(3)},
        ClientAuthentication={"Sasl": {"Scram": {"Enabled": True}}, "Unauthenticated": {"Enabled": True}},
    )["ClusterArn"]
    svc.wait_state(arn)
    yield svc, arn
    svc.stop_everything()


def scram_args(bootstrap: str, ca: str, user: str, password: str) -> list[str]:
    return ["-b", bootstrap, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-512",
            "-X", f"sasl.username={user}", "-X", f"sasl.password={password}", "-X", f"ssl.ca.location={ca}"]


def can_list(args: list[str]) -> bool:
    return kcat("-L", *args, "-m", "10").returncode == 0


def make_secret(svc, name: str, user: str, password: str, key_id: str | None) -> str:
    cmd = ["secretsmanager", "create-secret", "--name", name,
           "--secret-string", json.dumps({"username": user, "password": password})]
    if key_id:
        cmd += ["--kms-key-id", key_id]
    result = svc.aws(*cmd)
    assert result.returncode == 0, result.stderr
    return result.json["ARN"]


def test_scram_procedure_with_the_cli(secure):
    svc, arn = secure
    key = svc.aws("kms", "create-key", "--description", "MSK SCRAM secrets")
    assert key.returncode == 0, key.stderr
    key_id = key.json["KeyMetadata"]["KeyId"]
    secret_arn = make_secret(svc, "AmazonMSK_alice", "alice", "alice-secret", key_id)
    result = svc.aws("kafka", "batch-associate-scram-secret", "--cluster-arn", arn, "--secret-arn-list", secret_arn)
    assert result.returncode == 0, result.stderr
    assert result.json["UnprocessedScramSecrets"] == []
    assert svc.aws("kafka", "list-scram-secrets", "--cluster-arn", arn).json["SecretArnList"] == [secret_arn]

    brokers = svc.client("kafka").get_bootstrap_brokers(ClusterArn=arn)
    scram = brokers["BootstrapBrokerStringSaslScram"]
    assert all(h.endswith(":9096") for h in scram.split(","))
    wait_for(lambda: can_list(scram_args(scram, svc.ca_path, "alice", "alice-secret")), timeout=120)

    topic = f"scram-{uuid.uuid4().hex[:6]}"
    create_topic(tls_config(brokers["BootstrapBrokerStringTls"], svc.ca_path), topic)
    assert kcat("-P", *scram_args(scram, svc.ca_path, "alice", "alice-secret"), "-t", topic,
                input=b"secret-data\n").returncode == 0
    out = kcat("-C", *scram_args(scram, svc.ca_path, "alice", "alice-secret"), "-t", topic, "-o", "beginning",
               "-e", "-q")
    assert out.stdout == b"secret-data\n"
    # Wrong password: authentication fails, no data.
    bad = kcat("-C", *scram_args(scram, svc.ca_path, "alice", "wrong"), "-t", topic, "-o", "beginning", "-e",
               timeout=60)
    assert bad.returncode != 0 and b"secret-data" not in bad.stdout
    assert b"Authentication failed" in bad.stderr or b"SASL authentication error" in bad.stderr

    # A changed secret value reaches the brokers.
    assert svc.aws("secretsmanager", "put-secret-value", "--secret-id", "AmazonMSK_alice", "--secret-string",
                   json.dumps({"username": "alice", "password": "rotated"})).returncode == 0
    wait_for(lambda: can_list(scram_args(scram, svc.ca_path, "alice", "rotated")), timeout=120)
    assert not can_list(scram_args(scram, svc.ca_path, "alice", "alice-secret"))

    # Deleting an associated secret takes that user's access away without breaking the other users.
    make_secret(svc, "AmazonMSK_bob", "bob", "bob-secret", key_id)
    bob = svc.client("secretsmanager").describe_secret(SecretId="AmazonMSK_bob")["ARN"]
    svc.client("kafka").batch_associate_scram_secret(ClusterArn=arn, SecretArnList=[bob])
    wait_for(lambda: can_list(scram_args(scram, svc.ca_path, "bob", "bob-secret")), timeout=120)
    svc.client("secretsmanager").delete_secret(SecretId=bob, ForceDeleteWithoutRecovery=True)
    wait_for(lambda: not can_list(scram_args(scram, svc.ca_path, "bob", "bob-secret")), timeout=120)
    assert svc.aws("secretsmanager", "put-secret-value", "--secret-id", "AmazonMSK_alice", "--secret-string",
                   json.dumps({"username": "alice", "password": "rotated-again"})).returncode == 0
    wait_for(lambda: can_list(scram_args(scram, svc.ca_path, "alice", "rotated-again")), timeout=120)
    svc.client("kafka").batch_disassociate_scram_secret(ClusterArn=arn, SecretArnList=[bob])

    # Disassociating removes the user.
    assert svc.aws("kafka", "batch-disassociate-scram-secret", "--cluster-arn", arn, "--secret-arn-list",
                   secret_arn).json["UnprocessedScramSecrets"] == []
    wait_for(lambda: not can_list(scram_args(scram, svc.ca_path, "alice", "rotated-again")), timeout=120)


def test_scram_bad_inputs(secure, service, shared_cluster):
    svc, arn = secure
    key_id = svc.client("kms").create_key()["KeyMetadata"]["KeyId"]
    unnamed = make_secret(svc, "bob", "bob", "pw", key_id)
    default_key = make_secret(svc, "AmazonMSK_carol", "carol", "pw", None)
    not_json = svc.client("secretsmanager").create_secret(Name="AmazonMSK_dave", SecretString="plain",
                                                          KmsKeyId=key_id)["ARN"]
    missing = unnamed.replace(":secret:bob", ":secret:AmazonMSK_nobody")
    # A SCRAM user named like an IAM principal would be judged one by the KRaft controllers' authorizer.
    iam_like = make_secret(svc, "AmazonMSK_impostor", "arn:aws:iam::123456789012:user/admin", "pw", key_id)
    before = svc.client("kafka").list_scram_secrets(ClusterArn=arn)["SecretArnList"]
    result = svc.client("kafka").batch_associate_scram_secret(
        ClusterArn=arn, SecretArnList=[unnamed, default_key, not_json, missing, iam_like])
    problems = {u["SecretArn"]: u for u in result["UnprocessedScramSecrets"]}
    assert set(problems) == {unnamed, default_key, not_json, missing, iam_like}
    assert "'arn:'" in problems[iam_like]["ErrorMessage"]
    assert all(u["ErrorCode"] == "InvalidSecretArn" for u in problems.values())
    assert "prefix 'AmazonMSK_'" in problems[unnamed]["ErrorMessage"]
    assert "customer managed" in problems[default_key]["ErrorMessage"]
    assert svc.client("kafka").list_scram_secrets(ClusterArn=arn)["SecretArnList"] == before
    # SCRAM on a cluster without SASL: the request itself is refused.
    kafka = service.client("kafka")
    with pytest.raises(kafka.exceptions.BadRequestException) as err:
        kafka.batch_associate_scram_secret(ClusterArn=shared_cluster["ClusterArn"], SecretArnList=[unnamed])
    assert "SCRAM" in err.value.response["Error"]["Message"]


def _active_pca(svc) -> tuple[str, bytes]:
    pca = svc.client("acm-pca")
    ca_arn = pca.create_certificate_authority(
        CertificateAuthorityType="ROOT",
        CertificateAuthorityConfiguration={"KeyAlgorithm": "RSA_2048", "SigningAlgorithm": "SHA256WITHRSA",
                                           "Subject": {"CommonName": "clients"}})["CertificateAuthorityArn"]
    csr = pca.get_certificate_authority_csr(CertificateAuthorityArn=ca_arn)["Csr"]
    cert_arn = pca.issue_certificate(CertificateAuthorityArn=ca_arn, Csr=csr.encode(), SigningAlgorithm="SHA256WITHRSA",
                                     TemplateArn="arn:aws:acm-pca:::template/RootCACertificate/V1",
                                     Validity={"Value": 5, "Type": "YEARS"})["CertificateArn"]
    cert = pca.get_certificate(CertificateAuthorityArn=ca_arn, CertificateArn=cert_arn)["Certificate"]
    pca.import_certificate_authority_certificate(CertificateAuthorityArn=ca_arn, Certificate=cert.encode())
    return ca_arn, cert.encode()


def _client_cert(svc, ca_arn: str, tmp_path) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "orders-service")]))
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    pca = svc.client("acm-pca")
    cert_arn = pca.issue_certificate(CertificateAuthorityArn=ca_arn, Csr=csr, SigningAlgorithm="SHA256WITHRSA",
                                     Validity={"Value": 30, "Type": "DAYS"})["CertificateArn"]
    got = pca.get_certificate(CertificateAuthorityArn=ca_arn, CertificateArn=cert_arn)
    key_path, cert_path = tmp_path / "client.key", tmp_path / "client.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    cert_path.write_text(got["Certificate"] + "\n" + (got.get("CertificateChain") or ""))
    return str(key_path), str(cert_path)


def foreign_certificate_refused(svc, bootstrap: str, tmp_path) -> bool:
    """Whether kcat presenting a client certificate of a CA the cluster does not trust is refused."""
    from openmsk.runtime.pki import CertificateAuthority, write_secret
    other = CertificateAuthority(tmp_path / "other").issue("intruder", server=False)
    write_secret(tmp_path / "other.key", other.key_pem)
    (tmp_path / "other.pem").write_bytes(other.cert_pem)
    intruder = kcat("-L", "-b", bootstrap, "-X", "security.protocol=ssl", "-X", f"ssl.ca.location={svc.ca_path}",
                    "-X", f"ssl.key.location={tmp_path / 'other.key'}",
                    "-X", f"ssl.certificate.location={tmp_path / 'other.pem'}", "-m", "10")
    return intruder.returncode != 0


def test_update_security_turns_on_mtls_with_a_rolling_restart(secure, tmp_path):
    svc, arn = secure
    kafka = svc.client("kafka")
    ca_arn, _ = _active_pca(svc)
    # Bad input first: an unknown CA, and in-cluster encryption cannot change — nothing is started.
    version = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]
    bogus = ca_arn.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    for bad in ({"ClientAuthentication": {"Tls": {"CertificateAuthorityArnList": [bogus]}}},
                {"EncryptionInfo": {"EncryptionInTransit": {"InCluster": False}}}):
        with pytest.raises(kafka.exceptions.BadRequestException):
            kafka.update_security(ClusterArn=arn, CurrentVersion=version, **bad)
    assert kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["State"] == "ACTIVE"
    with pytest.raises(kafka.exceptions.BadRequestException):
        kafka.update_security(ClusterArn=arn, CurrentVersion="K0000000000000",
                              ClientAuthentication={"Unauthenticated": {"Enabled": True}})

    tls = kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"]
    config = tls_config(tls, svc.ca_path)
    topic = f"rolling-{uuid.uuid4().hex[:6]}"
    create_topic(config, topic, partitions=3, replication=3)

    # A producer with acks=all keeps writing through the whole roll, over SCRAM (unaffected by mTLS).
    svc.client("kms")
    key_id = svc.client("kms").create_key()["KeyMetadata"]["KeyId"]
    secret = make_secret(svc, "AmazonMSK_writer", "writer", "writer-pw", key_id)
    kafka.batch_associate_scram_secret(ClusterArn=arn, SecretArnList=[secret])
    scram = kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringSaslScram"]
    wait_for(lambda: can_list(scram_args(scram, svc.ca_path, "writer", "writer-pw")), timeout=120)
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": scram, "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
                         "sasl.username": "writer", "sasl.password": "writer-pw", "ssl.ca.location": svc.ca_path,
                         "acks": "all", "enable.idempotence": True, "message.timeout.ms": 300000})
    errors, sent, stop = [], [], threading.Event()

    def keep_producing():
        i = 0
        while not stop.is_set():
            value = f"v{i}".encode()
            producer.produce(topic, value, on_delivery=lambda err, msg: errors.append(err) if err else None)
            sent.append(value)
            producer.poll(0)
            i += 1
            time.sleep(0.02)
        producer.flush(300)

    thread = threading.Thread(target=keep_producing)
    thread.start()
    try:
        version = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]
        op_arn = kafka.update_security(ClusterArn=arn, CurrentVersion=version, ClientAuthentication={
            "Tls": {"CertificateAuthorityArnList": [ca_arn], "Enabled": True},
            "Unauthenticated": {"Enabled": False}})["ClusterOperationArn"]
        assert kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["State"] == "UPDATING"
        with pytest.raises(kafka.exceptions.BadRequestException):      # updates are refused outside ACTIVE
            kafka.update_security(ClusterArn=arn, CurrentVersion=version,
                                  ClientAuthentication={"Unauthenticated": {"Enabled": True}})
        info = svc.wait_state(arn, states=("ACTIVE",), timeout=900)
    finally:
        stop.set()
        thread.join()
    op = kafka.describe_cluster_operation(ClusterOperationArn=op_arn)["ClusterOperationInfo"]
    assert op["OperationType"] == "UPDATE_SECURITY" and op["OperationState"] == "UPDATE_COMPLETE", op
    assert info["ClientAuthentication"]["Tls"]["CertificateAuthorityArnList"] == [ca_arn]
    assert info["ClientAuthentication"]["Unauthenticated"]["Enabled"] is False
    assert errors == [] and len(sent) > 50
    got = consume_all({"bootstrap.servers": scram, "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
                       "sasl.username": "writer", "sasl.password": "writer-pw", "ssl.ca.location": svc.ca_path},
                      topic, len(sent), timeout=120)
    assert set(got) == set(sent)

    # mTLS now: no client certificate -> refused at the handshake; a PCA-issued certificate -> works.
    assert broker_config({"bootstrap.servers": scram, "security.protocol": "SASL_SSL",
                          "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "writer", "sasl.password": "writer-pw",
                          "ssl.ca.location": svc.ca_path}, 1)["listener.name.tls.ssl.client.auth"] == "required"
    no_cert = kcat("-L", "-b", tls, "-X", "security.protocol=ssl", "-X", f"ssl.ca.location={svc.ca_path}", "-m", "10")
    assert no_cert.returncode != 0
    key, cert = _client_cert(svc, ca_arn, tmp_path)
    with_cert = kcat("-C", "-b", tls, "-X", "security.protocol=ssl", "-X", f"ssl.ca.location={svc.ca_path}",
                     "-X", f"ssl.key.location={key}", "-X", f"ssl.certificate.location={cert}",
                     "-t", topic, "-o", "beginning", "-c", "5", "-e", "-q")
    assert with_cert.returncode == 0 and with_cert.stdout.count(b"\n") == 5
    # A certificate from another CA (the installation CA) is not a client identity here.
    assert foreign_certificate_refused(svc, tls, tmp_path)
