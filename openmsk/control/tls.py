"""Certificates for a cluster's nodes, issued once by the installation CA and kept in each node's
directory (0600), so a node's spec (and therefore its hash) is stable across reconciles."""
from __future__ import annotations

from pathlib import Path

from ..runtime.pki import CertificateAuthority, IssuedCertificate, write_secret

KEYSTORE = "tls/keystore.pem"


def node_certificate(ca: CertificateAuthority, workdir: Path, common_name: str, address: str,
                     extra_ips: list[str] = ()) -> bytes:
    path = workdir / KEYSTORE
    if path.exists():
        return path.read_bytes()
    issued = ca.issue(common_name, ips=[address, *extra_ips])
    write_secret(path, issued.keystore_pem)
    return issued.keystore_pem


def broker_tls_properties(ca: CertificateAuthority, workdir: Path, inter_broker_listener: str) -> dict[str, str]:
    props = {
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(workdir / KEYSTORE),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(ca.cert_path),
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.enabled.protocols": "TLSv1.2,TLSv1.3",
    }
    if inter_broker_listener == "REPLICATION_SECURE":
        # Only holders of an installation-CA certificate (brokers, the control plane) may replicate.
        props["listener.name.replication_secure.ssl.client.auth"] = "required"
    return props


def control_plane_client(ca: CertificateAuthority, pki_dir: Path) -> IssuedCertificate:
    return ca.issue("openmsk-control-plane", server=False, client=True)
