"""acm-pca: AWS's documented private-CA activation and MSK mTLS client-certificate procedure, run
with the real aws CLI, keytool and openssl against openmsk; the certificates are checked by openssl,
not by openmsk's own code."""
from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from openmsk.services.acm_pca.backend import PrivateCertificateAuthorities
from openmsk.control.store import Store

KEYTOOL = "/usr/bin/keytool"
ROOT_TEMPLATE = "arn:aws:acm-pca:::template/RootCACertificate/V1"
UNKNOWN_CA = "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/00000000-0000-0000-0000-000000000000"
STOREPASS = "Your-Store-Pass"


def ok(result):
    assert result.returncode == 0, result.stderr
    return result


def cli_error(result, code: str, operation: str) -> str:
    """The CLI's one error line: `An error occurred (<Code>) when calling the <Op> operation: <message>`."""
    assert result.returncode == 255, (result.stdout, result.stderr)
    line = result.stderr.strip().splitlines()[-1]
    prefix = f"An error occurred ({code}) when calling the {operation} operation: "
    assert line.startswith(prefix), line
    return line[len(prefix):]


def run(*cmd: str, input: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, input=input, cwd=cwd, timeout=120)
    assert proc.returncode == 0, (cmd, proc.stdout, proc.stderr)
    return proc


def create_ca(service, ca_type: str = "ROOT", key: str = "RSA_2048", signing: str = "SHA256WITHRSA",
              cn: str = "openmsk test CA") -> str:
    config = {"KeyAlgorithm": key, "SigningAlgorithm": signing,
              "Subject": {"Country": "US", "Organization": "Example Corp", "CommonName": cn}}
    result = ok(service.aws("acm-pca", "create-certificate-authority", "--certificate-authority-configuration",
                            json.dumps(config), "--certificate-authority-type", ca_type))
    return result.json["CertificateAuthorityArn"]


def status(service, arn: str) -> str:
    return service.client("acm-pca").describe_certificate_authority(
        CertificateAuthorityArn=arn)["CertificateAuthority"]["Status"]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("acm-pca")


@pytest.fixture(scope="module")
def root_ca(service, work) -> str:
    """A root CA activated exactly as AWS documents it for the CLI (create -> CSR -> self-sign with the
    RootCACertificate/V1 template -> get-certificate -> import)."""
    arn = create_ca(service, cn="MSK mTLS root CA")
    assert status(service, arn) == "PENDING_CERTIFICATE"
    csr = ok(service.aws("acm-pca", "get-certificate-authority-csr", "--certificate-authority-arn", arn,
                         "--output", "text"))
    (work / "ca.csr").write_text(csr.stdout)
    issued = ok(service.aws("acm-pca", "issue-certificate", "--certificate-authority-arn", arn,
                            "--csr", f"fileb://{work / 'ca.csr'}", "--signing-algorithm", "SHA256WITHRSA",
                            "--template-arn", ROOT_TEMPLATE, "--validity", "Value=10,Type=YEARS"))
    cert_arn = issued.json["CertificateArn"]
    assert cert_arn.startswith(arn + "/certificate/")
    ok(service.aws("acm-pca", "wait", "certificate-issued", "--certificate-authority-arn", arn,
                   "--certificate-arn", cert_arn))
    cert = ok(service.aws("acm-pca", "get-certificate", "--certificate-authority-arn", arn,
                          "--certificate-arn", cert_arn, "--output", "text"))
    (work / "ca-cert.pem").write_text(cert.stdout)
    imported = ok(service.aws("acm-pca", "import-certificate-authority-certificate", "--certificate-authority-arn",
                              arn, "--certificate", f"fileb://{work / 'ca-cert.pem'}"))
    assert imported.stdout.strip() == ""
    return arn


def test_root_ca_activation_via_cli(service, root_ca, work):
    described = ok(service.aws("acm-pca", "describe-certificate-authority", "--certificate-authority-arn",
                               root_ca)).json["CertificateAuthority"]
    assert described["Status"] == "ACTIVE" and described["Type"] == "ROOT"
    assert described["CertificateAuthorityConfiguration"]["Subject"]["CommonName"] == "MSK mTLS root CA"
    got = ok(service.aws("acm-pca", "get-certificate-authority-certificate", "--certificate-authority-arn",
                         root_ca)).json
    assert "CertificateChain" not in got                     # a root CA has no chain
    cert = x509.load_pem_x509_certificate(got["Certificate"].encode())
    assert cert.subject == cert.issuer and format(cert.serial_number, "x") == described["Serial"]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert 9.9 < (cert.not_valid_after_utc - cert.not_valid_before_utc).days / 365 < 10.1
    run("openssl", "verify", "-CAfile", str(work / "ca-cert.pem"), str(work / "ca-cert.pem"))
    listed = ok(service.aws("acm-pca", "list-certificate-authorities")).json["CertificateAuthorities"]
    assert root_ca in [ca["Arn"] for ca in listed]


def test_msk_mtls_client_certificate_with_keytool(service, root_ca, work):
    """AWS MSK developer guide, "Mutual TLS client authentication", steps with keytool and the CLI."""
    keystore = work / "kafka.client.keystore.jks"
    run(KEYTOOL, "-genkey", "-keystore", str(keystore), "-validity", "300", "-storepass", STOREPASS,
        "-keypass", STOREPASS, "-dname", "CN=client.example.com", "-alias", "Example-Alias",
        "-storetype", "pkcs12", "-keyalg", "rsa")
    run(KEYTOOL, "-keystore", str(keystore), "-certreq", "-file", str(work / "client-cert-sign-request.csr"),
        "-alias", "Example-Alias", "-storepass", STOREPASS, "-keypass", STOREPASS)
    # keytool writes the non-standard header; AWS's guide has users edit it, openmsk accepts both.
    assert "BEGIN NEW CERTIFICATE REQUEST" in (work / "client-cert-sign-request.csr").read_text()
    issued = ok(service.aws("acm-pca", "issue-certificate", "--certificate-authority-arn", root_ca,
                            "--csr", f"fileb://{work / 'client-cert-sign-request.csr'}",
                            "--signing-algorithm", "SHA256WITHRSA", "--validity", "Value=300,Type=DAYS"))
    cert_arn = issued.json["CertificateArn"]
    got = ok(service.aws("acm-pca", "get-certificate", "--certificate-authority-arn", root_ca,
                         "--certificate-arn", cert_arn)).json
    assert set(got) == {"Certificate", "CertificateChain"}
    (work / "signed-certificate-from-acm").write_text(got["Certificate"] + got["CertificateChain"])
    (work / "client.pem").write_text(got["Certificate"])

    # The chain is the CA's certificate and verifies the client certificate (openssl, not openmsk).
    assert got["CertificateChain"].strip() == (work / "ca-cert.pem").read_text().strip()
    verified = run("openssl", "verify", "-CAfile", str(work / "ca-cert.pem"), "-purpose", "sslclient",
                   str(work / "client.pem"))
    assert verified.stdout.strip().endswith(": OK")
    cert = x509.load_pem_x509_certificate(got["Certificate"].encode())
    assert cert.subject.rfc4514_string() == "CN=client.example.com"
    assert cert.issuer.rfc4514_string() == "CN=MSK mTLS root CA,O=Example Corp,C=US"
    assert ExtendedKeyUsageOID.CLIENT_AUTH in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    lifetime = cert.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=299) < lifetime <= dt.timedelta(days=300)
    assert cert_arn.endswith(format(cert.serial_number, "032x"))

    # Import the signed chain into the keystore, as the guide does; the key entry now has a 2-cert chain.
    run(KEYTOOL, "-keystore", str(keystore), "-import", "-file", str(work / "signed-certificate-from-acm"),
        "-alias", "Example-Alias", "-storepass", STOREPASS, "-keypass", STOREPASS, "-noprompt")
    listing = run(KEYTOOL, "-list", "-v", "-keystore", str(keystore), "-storepass", STOREPASS,
                  "-alias", "Example-Alias").stdout
    assert "Entry type: PrivateKeyEntry" in listing and "Certificate chain length: 2" in listing
    assert "Issuer: CN=MSK mTLS root CA, O=Example Corp, C=US" in listing


def test_standard_csr_header_ec_client_and_client_auth_template(service, root_ca, work):
    key = work / "ec-client.key"
    run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(key), "-subj", "/CN=ec-client", "-addext", "subjectAltName=DNS:ec-client.example.com",
        "-out", str(work / "ec-client.csr"))
    pca = service.client("acm-pca")
    arn = pca.issue_certificate(CertificateAuthorityArn=root_ca, Csr=(work / "ec-client.csr").read_bytes(),
                                SigningAlgorithm="SHA384WITHRSA", Validity={"Type": "MONTHS", "Value": 6},
                                TemplateArn="arn:aws:acm-pca:::template/EndEntityClientAuthCertificate/V1",
                                )["CertificateArn"]
    got = pca.get_certificate(CertificateAuthorityArn=root_ca, CertificateArn=arn)
    cert = x509.load_pem_x509_certificate(got["Certificate"].encode())
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == ["ec-client.example.com"]
    (work / "ec-client.pem").write_text(got["Certificate"])
    run("openssl", "verify", "-CAfile", str(work / "ca-cert.pem"), str(work / "ec-client.pem"))


def test_subordinate_ca_chain_and_msk_side_interface(service, root_ca, work):
    """An EC subordinate CA signed by the root (PathLen0 template), imported with its chain; its client
    certificates verify up to the root; `ca_certificate_pem`/`active` as the MSK side will use them."""
    pca = service.client("acm-pca")
    sub = create_ca(service, "SUBORDINATE", "EC_prime256v1", "SHA256WITHECDSA", cn="MSK subordinate CA")
    csr = pca.get_certificate_authority_csr(CertificateAuthorityArn=sub)["Csr"]
    signed = pca.issue_certificate(CertificateAuthorityArn=root_ca, Csr=csr.encode(), SigningAlgorithm="SHA256WITHRSA",
                                   TemplateArn="arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1",
                                   Validity={"Type": "YEARS", "Value": 5})["CertificateArn"]
    sub_cert = pca.get_certificate(CertificateAuthorityArn=root_ca, CertificateArn=signed)
    with pytest.raises(pca.exceptions.InvalidRequestException):     # a subordinate needs its chain
        pca.import_certificate_authority_certificate(CertificateAuthorityArn=sub,
                                                     Certificate=sub_cert["Certificate"].encode())
    pca.import_certificate_authority_certificate(CertificateAuthorityArn=sub, Certificate=sub_cert["Certificate"].encode(),
                                                 CertificateChain=sub_cert["CertificateChain"].encode())
    assert status(service, sub) == "ACTIVE"
    run("openssl", "genrsa", "-out", str(work / "sub-client.key"), "2048")
    run("openssl", "req", "-new", "-key", str(work / "sub-client.key"), "-subj", "/CN=sub-client",
        "-out", str(work / "sub-client.csr"))
    with pytest.raises(pca.exceptions.InvalidArgsException):        # RSA signing with an EC CA key
        pca.issue_certificate(CertificateAuthorityArn=sub, Csr=(work / "sub-client.csr").read_bytes(),
                              SigningAlgorithm="SHA256WITHRSA", Validity={"Type": "DAYS", "Value": 30})
    leaf = pca.issue_certificate(CertificateAuthorityArn=sub, Csr=(work / "sub-client.csr").read_bytes(),
                                 SigningAlgorithm="SHA256WITHECDSA", Validity={"Type": "DAYS", "Value": 30})
    got = pca.get_certificate(CertificateAuthorityArn=sub, CertificateArn=leaf["CertificateArn"])
    (work / "sub-client.pem").write_text(got["Certificate"])
    (work / "sub-chain.pem").write_text(got["CertificateChain"])
    assert len(x509.load_pem_x509_certificates(got["CertificateChain"].encode())) == 2
    run("openssl", "verify", "-CAfile", str(work / "ca-cert.pem"), "-untrusted", str(work / "sub-chain.pem"),
        str(work / "sub-client.pem"))
    ca_cert = pca.get_certificate_authority_certificate(CertificateAuthorityArn=sub)
    assert ca_cert["CertificateChain"].strip() == (work / "ca-cert.pem").read_text().strip()

    cas = PrivateCertificateAuthorities(Store(service.data_dir / "openmsk.db"), service.data_dir, "123456789012")
    assert cas.active(sub) and cas.active(root_ca) and not cas.active(UNKNOWN_CA) and not cas.active("nonsense")
    assert cas.ca_certificate_pem(sub) == (ca_cert["Certificate"] + ca_cert["CertificateChain"]).encode()
    assert cas.ca_certificate_pem(root_ca).decode().strip() == (work / "ca-cert.pem").read_text().strip()
    pending = create_ca(service, cn="never activated")
    assert not cas.active(pending)


def test_errors_in_the_cli_format(service, root_ca, work):
    message = cli_error(service.aws("acm-pca", "describe-certificate-authority", "--certificate-authority-arn",
                                    UNKNOWN_CA), "ResourceNotFoundException", "DescribeCertificateAuthority")
    assert UNKNOWN_CA in message
    cli_error(service.aws("acm-pca", "issue-certificate", "--certificate-authority-arn", UNKNOWN_CA,
                          "--csr", f"fileb://{work / 'ca.csr'}", "--signing-algorithm", "SHA256WITHRSA",
                          "--validity", "Value=300,Type=DAYS"), "ResourceNotFoundException", "IssueCertificate")
    cli_error(service.aws("acm-pca", "get-certificate-authority-certificate", "--certificate-authority-arn",
                          "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/not-a-uuid"),
              "InvalidArnException", "GetCertificateAuthorityCertificate")
    cli_error(service.aws("acm-pca", "get-certificate", "--certificate-authority-arn", root_ca,
                          "--certificate-arn", root_ca + "/certificate/" + "0" * 32),
              "ResourceNotFoundException", "GetCertificate")

    (work / "garbage.csr").write_text("-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n"
                                      "-----END CERTIFICATE REQUEST-----\n")
    cli_error(service.aws("acm-pca", "issue-certificate", "--certificate-authority-arn", root_ca,
                          "--csr", f"fileb://{work / 'garbage.csr'}", "--signing-algorithm", "SHA256WITHRSA",
                          "--validity", "Value=300,Type=DAYS"), "MalformedCSRException", "IssueCertificate")
    cli_error(service.aws("acm-pca", "issue-certificate", "--certificate-authority-arn", root_ca,
                          "--csr", f"fileb://{work / 'ca.csr'}", "--signing-algorithm", "SHA256WITHECDSA",
                          "--validity", "Value=300,Type=DAYS"), "InvalidArgsException", "IssueCertificate")
    cli_error(service.aws("acm-pca", "issue-certificate", "--certificate-authority-arn", root_ca,
                          "--csr", f"fileb://{work / 'ca.csr'}", "--signing-algorithm", "SHA256WITHRSA",
                          "--validity", "Value=50,Type=YEARS"), "InvalidArgsException", "IssueCertificate")

    pending = create_ca(service, cn="pending CA")
    before = len(service.client("acm-pca").list_certificate_authorities()["CertificateAuthorities"])
    message = cli_error(service.aws("acm-pca", "issue-certificate", "--certificate-authority-arn", pending,
                                    "--csr", f"fileb://{work / 'client-cert-sign-request.csr'}",
                                    "--signing-algorithm", "SHA256WITHRSA", "--validity", "Value=300,Type=DAYS"),
                        "InvalidStateException", "IssueCertificate")
    assert pending in message and "PENDING_CERTIFICATE" in message
    cli_error(service.aws("acm-pca", "get-certificate-authority-certificate", "--certificate-authority-arn", pending),
              "InvalidStateException", "GetCertificateAuthorityCertificate")
    # Someone else's certificate cannot activate this CA.
    cli_error(service.aws("acm-pca", "import-certificate-authority-certificate", "--certificate-authority-arn",
                          pending, "--certificate", f"fileb://{work / 'ca-cert.pem'}"),
              "CertificateMismatchException", "ImportCertificateAuthorityCertificate")
    cli_error(service.aws("acm-pca", "import-certificate-authority-certificate", "--certificate-authority-arn",
                          pending, "--certificate", f"fileb://{work / 'garbage.csr'}"),
              "MalformedCertificateException", "ImportCertificateAuthorityCertificate")
    assert status(service, pending) == "PENDING_CERTIFICATE"
    assert len(service.client("acm-pca").list_certificate_authorities()["CertificateAuthorities"]) == before
    bad = {"KeyAlgorithm": "RSA_2048", "SigningAlgorithm": "SHA256WITHECDSA", "Subject": {"CommonName": "x"}}
    cli_error(service.aws("acm-pca", "create-certificate-authority", "--certificate-authority-configuration",
                          json.dumps(bad), "--certificate-authority-type", "ROOT"),
              "InvalidArgsException", "CreateCertificateAuthority")


def test_ca_private_keys_are_0600_and_never_returned(service, root_ca):
    keys = list((service.data_dir / "acm-pca").glob("*/key.pem"))
    assert keys
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ca_id = root_ca.rsplit("/", 1)[1]
    assert (service.data_dir / "acm-pca" / ca_id / "key.pem") in keys
    described = json.dumps(service.client("acm-pca").describe_certificate_authority(
        CertificateAuthorityArn=root_ca), default=str)
    assert "PRIVATE KEY" not in described and "_id" not in described
    log = service.log_path.read_text() if service.log_path and service.log_path.exists() else ""
    assert "PRIVATE KEY" not in log


def test_lifecycle_tags_revocation_idempotency(service, root_ca, work):
    pca = service.client("acm-pca")
    config = {"KeyAlgorithm": "EC_secp384r1", "SigningAlgorithm": "SHA384WITHECDSA",
              "Subject": {"CommonName": "lifecycle CA"}}
    first = pca.create_certificate_authority(CertificateAuthorityConfiguration=config, CertificateAuthorityType="ROOT",
                                             IdempotencyToken="tok-1", Tags=[{"Key": "team", "Value": "a"}])
    again = pca.create_certificate_authority(CertificateAuthorityConfiguration=config, CertificateAuthorityType="ROOT",
                                             IdempotencyToken="tok-1")
    arn = first["CertificateAuthorityArn"]
    assert again["CertificateAuthorityArn"] == arn
    pca.tag_certificate_authority(CertificateAuthorityArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    pca.untag_certificate_authority(CertificateAuthorityArn=arn, Tags=[{"Key": "team"}])
    assert pca.list_tags(CertificateAuthorityArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]

    csr = pca.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"]
    root_cert = pca.issue_certificate(CertificateAuthorityArn=arn, Csr=csr.encode(), SigningAlgorithm="SHA384WITHECDSA",
                                      TemplateArn=ROOT_TEMPLATE, Validity={"Type": "END_DATE", "Value": 20401231235959})
    cert = pca.get_certificate(CertificateAuthorityArn=arn, CertificateArn=root_cert["CertificateArn"])["Certificate"]
    assert x509.load_pem_x509_certificate(cert.encode()).not_valid_after_utc.year == 2040
    pca.import_certificate_authority_certificate(CertificateAuthorityArn=arn, Certificate=cert.encode())
    described = pca.describe_certificate_authority(CertificateAuthorityArn=arn)["CertificateAuthority"]
    assert described["Status"] == "ACTIVE" and described["NotAfter"].year == 2040

    leaf_csr = (work / "ec-client.csr").read_bytes()
    leaf = pca.issue_certificate(CertificateAuthorityArn=arn, Csr=leaf_csr, SigningAlgorithm="SHA256WITHECDSA",
                                 Validity={"Type": "ABSOLUTE", "Value": 2000000000}, IdempotencyToken="leaf-1")
    same = pca.issue_certificate(CertificateAuthorityArn=arn, Csr=leaf_csr, SigningAlgorithm="SHA256WITHECDSA",
                                 Validity={"Type": "ABSOLUTE", "Value": 2000000000}, IdempotencyToken="leaf-1")
    assert same["CertificateArn"] == leaf["CertificateArn"]
    serial = leaf["CertificateArn"].rsplit("/", 1)[1]
    colons = ":".join(serial[i:i + 2] for i in range(0, 32, 2))
    pca.revoke_certificate(CertificateAuthorityArn=arn, CertificateSerial=colons, RevocationReason="KEY_COMPROMISE")
    with pytest.raises(pca.exceptions.RequestAlreadyProcessedException):
        pca.revoke_certificate(CertificateAuthorityArn=arn, CertificateSerial=colons, RevocationReason="KEY_COMPROMISE")
    cas = PrivateCertificateAuthorities(Store(service.data_dir / "openmsk.db"), service.data_dir, "123456789012")
    crl = x509.load_pem_x509_crl(cas.crl_pem(arn))
    assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None

    with pytest.raises(pca.exceptions.InvalidStateException):       # ACTIVE CAs are disabled first
        pca.delete_certificate_authority(CertificateAuthorityArn=arn)
    pca.update_certificate_authority(CertificateAuthorityArn=arn, Status="DISABLED")
    with pytest.raises(pca.exceptions.InvalidStateException):
        pca.issue_certificate(CertificateAuthorityArn=arn, Csr=leaf_csr, SigningAlgorithm="SHA256WITHECDSA",
                              Validity={"Type": "DAYS", "Value": 1})
    pca.delete_certificate_authority(CertificateAuthorityArn=arn, PermanentDeletionTimeInDays=7)
    deleted = pca.describe_certificate_authority(CertificateAuthorityArn=arn)["CertificateAuthority"]
    assert deleted["Status"] == "DELETED" and "RestorableUntil" in deleted
    assert not cas.active(arn)
    pca.restore_certificate_authority(CertificateAuthorityArn=arn)
    pca.update_certificate_authority(CertificateAuthorityArn=arn, Status="ACTIVE")
    assert cas.active(arn)

    pending = pca.create_certificate_authority(CertificateAuthorityConfiguration=config,
                                               CertificateAuthorityType="ROOT")["CertificateAuthorityArn"]
    pca.delete_certificate_authority(CertificateAuthorityArn=pending)   # never activated: gone at once
    with pytest.raises(pca.exceptions.ResourceNotFoundException):
        pca.describe_certificate_authority(CertificateAuthorityArn=pending)
    assert not (service.data_dir / "acm-pca" / pending.rsplit("/", 1)[1] / "key.pem").exists()
    other_region = service.client("acm-pca", region="eu-west-1")
    assert other_region.list_certificate_authorities()["CertificateAuthorities"] == []
    with pytest.raises(other_region.exceptions.ResourceNotFoundException):
        other_region.describe_certificate_authority(CertificateAuthorityArn=arn)
