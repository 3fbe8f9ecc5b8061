"""The procedures of docs/scram.md and docs/mtls.md, run end to end as documented: the real `aws` CLI,
`keytool`, and Apache Kafka's own console tools (`kafka-topics.sh`, `kafka-console-producer.sh`,
`kafka-console-consumer.sh`) with a client.properties file - no re-implementation of any step.

One cluster for the module, created with SASL/SCRAM and mutual TLS (an ACM PCA made first) and
unauthenticated access off, so both procedures run against it without a security update.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import BIN, Service, free_port, wait_for

JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required"


def sh(svc: Service, script: str, cwd: Path, input: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a documented command line with bash, as a user would, with the service's AWS environment."""
    env = {**svc.env, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "KAFKA_HEAP_OPTS": "-Xmx256m"}
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, input=input, capture_output=True, text=True,
                          timeout=timeout)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout[-3000:]}\nstderr: {result.stderr[-3000:]}"
    return result.stdout.strip()


@pytest.fixture(scope="module")
def procedures(tmp_path_factory):
    """docs/mtls.md §1 (a private CA, the five acm-pca calls), then one TLS cluster with SCRAM and mTLS."""
    tmp = tmp_path_factory.mktemp("procedures")
    svc = Service(tmp / "data", free_port()).start()
    try:
        work = tmp / "work"
        work.mkdir()
        ca_arn = ok(sh(svc, """
set -e
CA_ARN=$(aws acm-pca create-certificate-authority --certificate-authority-type ROOT \\
  --certificate-authority-configuration '{"KeyAlgorithm":"RSA_2048","SigningAlgorithm":"SHA256WITHRSA","Subject":{"CommonName":"MSK mTLS root CA"}}' \\
  --query CertificateAuthorityArn --output text)
aws acm-pca get-certificate-authority-csr --certificate-authority-arn $CA_ARN --output text > ca.csr
ROOT_CERT_ARN=$(aws acm-pca issue-certificate --certificate-authority-arn $CA_ARN --csr fileb://ca.csr \\
  --signing-algorithm SHA256WITHRSA --template-arn arn:aws:acm-pca:::template/RootCACertificate/V1 \\
  --validity Value=10,Type=YEARS --query CertificateArn --output text)
aws acm-pca get-certificate --certificate-authority-arn $CA_ARN --certificate-arn $ROOT_CERT_ARN --output text > ca-cert.pem
aws acm-pca import-certificate-authority-certificate --certificate-authority-arn $CA_ARN --certificate fileb://ca-cert.pem
echo $CA_ARN
""", work)).splitlines()[-1]
        subnets = svc.default_subnets(3)
        auth = {"Sasl": {"Scram": {"Enabled": True}},
                "Tls": {"CertificateAuthorityArnList": [ca_arn], "Enabled": True},
                "Unauthenticated": {"Enabled": False}}
        created = svc.aws("kafka", "create-cluster", "--cluster-name", "procedures", "--kafka-version", "3.9.x",
                          "--number-of-broker-nodes", "3", "--broker-node-group-info",
                          json.dumps({"InstanceType": "kafka.m5.large", "ClientSubnets": subnets}),
                          "--client-authentication", json.dumps(auth))
        assert created.returncode == 0, created.stderr
        arn = created.json["ClusterArn"]
        info = svc.wait_state(arn, timeout=900)
        assert info["ClientAuthentication"]["Tls"]["CertificateAuthorityArnList"] == [ca_arn]
        yield {"svc": svc, "arn": arn, "ca_arn": ca_arn, "work": work}
    finally:
        svc.stop_everything()


def test_scram_procedure_with_the_console_tools(procedures, tmp_path):
    svc, arn = procedures["svc"], procedures["arn"]
    # docs/scram.md steps 1-3: a customer managed key, a secret named AmazonMSK_*, associate it.
    key_id = ok(sh(svc, 'aws kms create-key --description "MSK SCRAM secrets" --query KeyMetadata.KeyId --output text',
                   tmp_path))
    secret_arn = ok(sh(svc, "aws secretsmanager create-secret --name AmazonMSK_alice "
                            """--secret-string '{"username":"alice","password":"alice-secret"}' """
                            f"--kms-key-id {key_id} --query ARN --output text", tmp_path))
    assert ":secret:AmazonMSK_alice-" in secret_arn
    associated = json.loads(ok(sh(svc, f"aws kafka batch-associate-scram-secret --cluster-arn {arn} "
                                       f"--secret-arn-list {secret_arn}", tmp_path)))
    assert associated["UnprocessedScramSecrets"] == []
    # Step 4: the SASL/SCRAM bootstrap string (9096).
    bootstrap = ok(sh(svc, f"aws kafka get-bootstrap-brokers --cluster-arn {arn} "
                           "--query BootstrapBrokerStringSaslScram --output text", tmp_path))
    assert bootstrap.count(":9096") == 3
    # Step 5: client properties with the JAAS line; the truststore is the installation CA (PEM).
    props = ("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
             f'sasl.jaas.config={JAAS} username="alice" password="alice-secret";\n'
             f"ssl.truststore.type=PEM\nssl.truststore.location={svc.ca_path}\n")
    (tmp_path / "client_sasl.properties").write_text(props)
    (tmp_path / "wrong.properties").write_text(props.replace('password="alice-secret"', 'password="wrong"'))
    (tmp_path / "rotated.properties").write_text(props.replace('password="alice-secret"', 'password="rotated-secret"'))

    def lists(cfg: str) -> bool:
        return sh(svc, f"kafka-topics.sh --bootstrap-server {bootstrap} --command-config {cfg} --list",
                  tmp_path).returncode == 0

    # The user reaches the brokers shortly after the association.
    wait_for(lambda: lists("client_sasl.properties"), 300, "the SCRAM user to list topics", poll=2)
    # Step 6: create a topic, produce and consume with the console tools.
    ok(sh(svc, f"kafka-topics.sh --bootstrap-server {bootstrap} --command-config client_sasl.properties "
               "--create --topic orders --partitions 3 --replication-factor 3", tmp_path))
    ok(sh(svc, f"kafka-console-producer.sh --bootstrap-server {bootstrap} --producer.config client_sasl.properties "
               "--topic orders", tmp_path, input="order-1\norder-2\norder-3\n"))
    consumed = ok(sh(svc, f"kafka-console-consumer.sh --bootstrap-server {bootstrap} "
                          "--consumer.config client_sasl.properties --topic orders --from-beginning "
                          "--max-messages 3 --timeout-ms 180000", tmp_path))
    assert sorted(consumed.splitlines()) == ["order-1", "order-2", "order-3"]

    # A wrong password: authentication fails and nothing is read. (The console consumer logs the
    # SaslAuthenticationException and exits 0 - Kafka's behaviour - so the check is on what it says and reads.)
    bad = sh(svc, f"kafka-console-consumer.sh --bootstrap-server {bootstrap} --consumer.config wrong.properties "
                  "--topic orders --from-beginning --max-messages 3 --timeout-ms 60000", tmp_path)
    assert "order-" not in bad.stdout
    assert "SaslAuthenticationException" in bad.stderr and "invalid credentials" in bad.stderr, bad.stderr[-2000:]
    bad_topics = sh(svc, f"kafka-topics.sh --bootstrap-server {bootstrap} --command-config wrong.properties --list",
                    tmp_path)
    assert bad_topics.returncode != 0 and "Authentication failed" in bad_topics.stderr + bad_topics.stdout

    # Rotation: a new secret value reaches the brokers; the old password stops working.
    ok(sh(svc, "aws secretsmanager put-secret-value --secret-id AmazonMSK_alice "
               """--secret-string '{"username":"alice","password":"rotated-secret"}'""", tmp_path))
    wait_for(lambda: lists("rotated.properties"), 300, "the rotated password to list topics", poll=2)
    assert not lists("client_sasl.properties")
    consumed = ok(sh(svc, f"kafka-console-consumer.sh --bootstrap-server {bootstrap} "
                          "--consumer.config rotated.properties --topic orders --from-beginning "
                          "--max-messages 3 --timeout-ms 180000", tmp_path))
    assert sorted(consumed.splitlines()) == ["order-1", "order-2", "order-3"]


def test_mtls_procedure_with_keytool_and_the_console_tools(procedures, tmp_path):
    svc, arn, ca_arn = procedures["svc"], procedures["arn"], procedures["ca_arn"]
    cacerts = Path(os.path.realpath(shutil.which("java"))).parents[1] / "lib" / "security" / "cacerts"
    assert cacerts.exists(), cacerts
    # docs/mtls.md §2: truststore (JDK CAs + the installation CA), keystore and CSR with keytool,
    # the certificate from the private CA, imported back into the keystore.
    ok(sh(svc, f"""
set -e
cp {cacerts} kafka.client.truststore.jks
chmod u+w kafka.client.truststore.jks
keytool -import -noprompt -alias openmsk-ca -file {svc.ca_path} -keystore kafka.client.truststore.jks -storepass changeit
keytool -genkey -keystore kafka.client.keystore.jks -validity 300 -storepass Your-Store-Pass -keypass Your-Key-Pass -dname "CN=client.example.com" -alias Example-Alias -storetype pkcs12 -keyalg rsa
keytool -keystore kafka.client.keystore.jks -certreq -file client-cert-sign-request -alias Example-Alias -storepass Your-Store-Pass -keypass Your-Key-Pass
CERT_ARN=$(aws acm-pca issue-certificate --certificate-authority-arn {ca_arn} --csr fileb://client-cert-sign-request --signing-algorithm "SHA256WITHRSA" --validity Value=300,Type="DAYS" --query CertificateArn --output text)
aws acm-pca get-certificate --certificate-authority-arn {ca_arn} --certificate-arn $CERT_ARN --query '[Certificate,CertificateChain]' --output text | tr '\\t' '\\n' > signed-certificate-from-acm
keytool -keystore kafka.client.keystore.jks -import -file signed-certificate-from-acm -alias Example-Alias -storepass Your-Store-Pass -keypass Your-Key-Pass -noprompt
""", tmp_path))
    listing = ok(sh(svc, "keytool -list -v -keystore kafka.client.keystore.jks -storepass Your-Store-Pass "
                         "-alias Example-Alias", tmp_path))
    assert "Certificate chain length: 2" in listing and "Issuer: CN=MSK mTLS root CA" in listing
    (tmp_path / "client.properties").write_text(
        "security.protocol=SSL\n"
        f"ssl.truststore.location={tmp_path}/kafka.client.truststore.jks\n"
        f"ssl.keystore.location={tmp_path}/kafka.client.keystore.jks\n"
        # keytool ignored -keypass for the PKCS12 store (its warning says so): the key password is the store's.
        "ssl.keystore.password=Your-Store-Pass\nssl.key.password=Your-Store-Pass\n")
    # The same truststore, no keystore: a client without a certificate.
    (tmp_path / "no-cert.properties").write_text(
        f"security.protocol=SSL\nssl.truststore.location={tmp_path}/kafka.client.truststore.jks\n")

    bootstrap = ok(sh(svc, f"aws kafka get-bootstrap-brokers --cluster-arn {arn} "
                           "--query BootstrapBrokerStringTls --output text", tmp_path))
    assert bootstrap.count(":9094") == 3
    ok(sh(svc, f"kafka-topics.sh --bootstrap-server {bootstrap} --command-config client.properties "
               "--create --topic payments --partitions 3 --replication-factor 3", tmp_path))
    ok(sh(svc, f"kafka-console-producer.sh --bootstrap-server {bootstrap} --producer.config client.properties "
               "--topic payments", tmp_path, input="payment-1\npayment-2\npayment-3\n"))
    consumed = ok(sh(svc, f"kafka-console-consumer.sh --bootstrap-server {bootstrap} --consumer.config client.properties "
                          "--topic payments --from-beginning --max-messages 3 --timeout-ms 180000", tmp_path))
    assert sorted(consumed.splitlines()) == ["payment-1", "payment-2", "payment-3"]

    # No certificate: the TLS handshake is refused and nothing is read.
    bad = sh(svc, f"kafka-console-consumer.sh --bootstrap-server {bootstrap} --consumer.config no-cert.properties "
                  "--topic payments --from-beginning --max-messages 3 --timeout-ms 60000", tmp_path)
    assert "payment-" not in bad.stdout
    assert "SslAuthenticationException" in bad.stderr or "SSL handshake failed" in bad.stderr, bad.stderr[-2000:]
    bad_topics = sh(svc, f"kafka-topics.sh --bootstrap-server {bootstrap} --command-config no-cert.properties --list",
                    tmp_path)
    assert bad_topics.returncode != 0
