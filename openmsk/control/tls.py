"""Certificates for a cluster's nodes, issued by the installation CA and kept in each node's directory
(0600, written atomically), so a node's spec (and therefore its hash) is stable across reconciles.

A certificate is renewed when less than two thirds of its lifetime (at most 30 days) remain: the new one
changes the node's spec hash, and the reconciler's convergence rolls the node onto it, one node at a
time. Leaf certificates live `LEAF_VALIDITY` (395 days, as MSK's); `OPENMSK_CERT_VALIDITY_SECONDS`
issues short-lived ones instead, so a renewal can be watched (tests, demos).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

from cryptography import x509

from ..runtime.pki import LEAF_VALIDITY, CertificateAuthority, IssuedCertificate, write_secret
from .layout import KEYSTORE

log = logging.getLogger(__name__)

RENEW_BEFORE_MAX = dt.timedelta(days=30)
# Renewal is due once a third of the lifetime has passed (at the latest 30 days before expiry): a
# short-lived certificate leaves its cluster two thirds of its life to roll onto the new one.
RENEW_MARGIN = 2 / 3


def cert_validity() -> dt.timedelta:
    """Lifetime of broker and ZooKeeper certificates: `OPENMSK_CERT_VALIDITY_SECONDS` or 395 days."""
    raw = os.environ.get("OPENMSK_CERT_VALIDITY_SECONDS")
    if not raw:
        return LEAF_VALIDITY
    try:
        return dt.timedelta(seconds=max(60.0, float(raw)))
    except ValueError:
        log.warning("OPENMSK_CERT_VALIDITY_SECONDS=%r is not a number; using %s", raw, LEAF_VALIDITY)
        return LEAF_VALIDITY


def renewal_due(pem: bytes, now: dt.datetime | None = None, *, margin: float = RENEW_MARGIN) -> bool:
    """True when the keystore's leaf certificate expires within min(validity * margin, 30 days)."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return True
    now = now or dt.datetime.now(dt.timezone.utc)
    renew_before = min(cert_validity() * margin, RENEW_BEFORE_MAX)
    return cert.not_valid_after_utc - now < renew_before


# A renewal pass also renews certificates that would be due soon (within this share of their
# lifetime), so one roll covers a cluster whose nodes got their certificates moments apart.
RENEW_TOGETHER_MARGIN = 0.75


def node_certificate(ca: CertificateAuthority, workdir: Path, common_name: str, address: str,
                     extra_ips: list[str] = (), *, renew: bool = False) -> bytes:
    """The node's keystore (key + certificate + CA). Issued once; issued again only when `renew` and
    the current one is (nearly) due, so computing a spec never changes it behind the reconciler's back."""
    path = workdir / KEYSTORE
    if path.exists():
        current = path.read_bytes()
        if not (renew and renewal_due(current, margin=RENEW_TOGETHER_MARGIN)):
            return current
        log.info("renewing the certificate of %s (%s)", common_name, address)
    issued = ca.issue(common_name, ips=[address, *extra_ips], validity=cert_validity())
    write_secret(path, issued.keystore_pem)
    return issued.keystore_pem


def certificate_due(workdir: Path) -> bool:
    path = workdir / KEYSTORE
    return path.exists() and renewal_due(path.read_bytes())


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
