"""The installation's private certificate authority.

One CA per data directory (`<data-dir>/pki/ca.pem`, key `ca.key` with mode 0600, never logged)
issues the certificates of brokers, ZooKeeper nodes and the control plane's own probe client. Every
leaf certificate carries the IP address it is served on as a SAN, so clients verify hostnames/IPs
(`ssl.endpoint.identification.algorithm=https`, librdkafka's default) instead of turning checks off.
Keys are PKCS#8 PEM, the one private-key form Kafka's PEM keystores accept.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..util import write_secret  # noqa: F401 -- one definition (util.py), re-exported for runtime callers

LEAF_VALIDITY = dt.timedelta(days=395)      # MSK renews broker certificates every 13 months
CA_VALIDITY = dt.timedelta(days=3650)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass
class IssuedCertificate:
    key_pem: bytes
    cert_pem: bytes
    ca_pem: bytes

    @property
    def keystore_pem(self) -> bytes:
        """Key + certificate chain in one file: Kafka's `ssl.keystore.type=PEM` / ZooKeeper's PEM keystore."""
        return self.key_pem + self.cert_pem + self.ca_pem


class CertificateAuthority:
    def __init__(self, directory: Path, common_name: str = "openmsk installation CA") -> None:
        self.directory = Path(directory)
        self.cert_path = self.directory / "ca.pem"
        self.key_path = self.directory / "ca.key"
        if not (self.cert_path.exists() and self.key_path.exists()):
            self._create(common_name)
        self._key = serialization.load_pem_private_key(self.key_path.read_bytes(), None)
        self.cert_pem = self.cert_path.read_bytes()
        self._cert = x509.load_pem_x509_certificate(self.cert_pem)

    def _create(self, common_name: str) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "openmsk"),
                          x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + CA_VALIDITY)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        self.directory.mkdir(parents=True, exist_ok=True)
        write_secret(self.key_path, _key_pem(key))
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, common_name: str, *, ips: list[str] = (), dns: list[str] = (),
              server: bool = True, client: bool = True,
              validity: dt.timedelta = LEAF_VALIDITY) -> IssuedCertificate:
        key = ec.generate_private_key(ec.SECP256R1())
        sans = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips] + [x509.DNSName(d) for d in dns]
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
        now = dt.datetime.now(dt.timezone.utc)
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "openmsk"),
                                            x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                   .issuer_name(self._cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + validity)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                                  critical=False))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return IssuedCertificate(_key_pem(key), cert.public_bytes(serialization.Encoding.PEM), self.cert_pem)

    def client_context(self, client_cert: IssuedCertificate | None, work_dir: Path) -> ssl.SSLContext:
        """An SSL context that verifies servers against this CA (hostname/IP checks on) and, if given,
        presents `client_cert` (written 0600 under work_dir because ssl needs files)."""
        context = ssl.create_default_context(cafile=str(self.cert_path))
        if client_cert is not None:
            path = Path(work_dir) / "control-plane-client.pem"
            write_secret(path, client_cert.key_pem + client_cert.cert_pem)
            context.load_cert_chain(str(path))
        return context
