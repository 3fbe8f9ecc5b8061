"""AWS Private CA (acm-pca) certificate authorities: one real CA per ARN, separate from the
installation CA (`runtime.pki`), which only ever signs openmsk's own brokers and ZooKeeper nodes.

MSK's mutual-TLS client authentication names these CAs in `ClientAuthentication.Tls.
CertificateAuthorityArnList`; brokers then trust exactly their certificates (`ca_certificate_pem`),
and only ACTIVE ones are accepted (`active`). The lifecycle is AWS's, so AWS's documented procedure
works unchanged: CreateCertificateAuthority (-> PENDING_CERTIFICATE, a key and a CSR exist) ->
IssueCertificate with template RootCACertificate/V1 on the CA's own CSR (self-signed) or signing by
another CA -> ImportCertificateAuthorityCertificate (-> ACTIVE) -> IssueCertificate for clients.

Storage: the CA documents and the issued certificates are store documents; each CA's private key is
`<data-dir>/acm-pca/<ca-id>/key.pem`, mode 0600, never logged and never returned by any API.
Everything is synchronous and quick except key generation (RSA_4096 takes a second), which is why
`generate_private_key` is separate: callers on an event loop run it in a thread and pass the key in.
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ...control.model import utcnow as _now
from ...control.store import Store
from ...util import from_epoch as _ts, write_secret
from ..errors import BackendError

CA_KIND = "acm-pca/certificate-authority"
CERT_KIND = "acm-pca/certificate"
MAX_CAS_PER_REGION = 200                 # AWS's default quota of CAs per region
IDEMPOTENCY_WINDOW = 300.0               # AWS: tokens of Create/IssueCertificate last five minutes
DEFAULT_BACKDATE = dt.timedelta(minutes=60)   # AWS: "Not Before" = issuance time minus 60 minutes
TEMPLATE_PREFIX = "arn:aws:acm-pca:::template/"

CA_ARN_RE = re.compile(r"^arn:aws[a-z-]*:acm-pca:([a-z0-9-]+):(\d{12}):certificate-authority/"
                       r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
CERT_ARN_RE = re.compile(CA_ARN_RE.pattern[:-1] + r"/certificate/([0-9a-f]{32})$")

KEY_ALGORITHMS = {
    "RSA_2048": lambda: rsa.generate_private_key(65537, 2048),
    "RSA_3072": lambda: rsa.generate_private_key(65537, 3072),
    "RSA_4096": lambda: rsa.generate_private_key(65537, 4096),
    "EC_prime256v1": lambda: ec.generate_private_key(ec.SECP256R1()),
    "EC_secp384r1": lambda: ec.generate_private_key(ec.SECP384R1()),
    "EC_secp521r1": lambda: ec.generate_private_key(ec.SECP521R1()),
}
SIGNING_ALGORITHMS = {  # name -> (key family, hash)
    "SHA256WITHRSA": ("RSA", hashes.SHA256), "SHA384WITHRSA": ("RSA", hashes.SHA384),
    "SHA512WITHRSA": ("RSA", hashes.SHA512), "SHA256WITHECDSA": ("EC", hashes.SHA256),
    "SHA384WITHECDSA": ("EC", hashes.SHA384), "SHA512WITHECDSA": ("EC", hashes.SHA512),
}
# ASN1Subject member -> OID, in the order AWS's model lists them (the order of the RDNs written).
SUBJECT_OIDS = [
    ("Country", NameOID.COUNTRY_NAME), ("Organization", NameOID.ORGANIZATION_NAME),
    ("OrganizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME), ("DistinguishedNameQualifier", NameOID.DN_QUALIFIER),
    ("State", NameOID.STATE_OR_PROVINCE_NAME), ("CommonName", NameOID.COMMON_NAME),
    ("SerialNumber", NameOID.SERIAL_NUMBER), ("Locality", NameOID.LOCALITY_NAME), ("Title", NameOID.TITLE),
    ("Surname", NameOID.SURNAME), ("GivenName", NameOID.GIVEN_NAME), ("Initials", NameOID.INITIALS),
    ("Pseudonym", NameOID.PSEUDONYM), ("GenerationQualifier", NameOID.GENERATION_QUALIFIER),
]
_CA_KEY_USAGE = dict(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                     encipher_only=False, decipher_only=False)


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_family(key) -> str:
    return "RSA" if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)) else "EC"


def _same_key(a, b) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return a.public_bytes(*fmt) == b.public_bytes(*fmt)


def generate_private_key(key_algorithm: str):
    """A new CA key for a `KeyAlgorithm`; slow for RSA_4096 (run it off the event loop)."""
    make = KEY_ALGORITHMS.get(key_algorithm)
    if make is None:
        raise BackendError("InvalidArgsException", f"The key algorithm {key_algorithm} is not supported "
                             f"by openmsk; use one of {', '.join(KEY_ALGORITHMS)}.")
    return make()


def subject_name(subject: dict) -> x509.Name:
    """An acm-pca `ASN1Subject` as an X.509 name (custom attributes after the named ones)."""
    attrs = [x509.NameAttribute(oid, subject[member]) for member, oid in SUBJECT_OIDS if subject.get(member)]
    for custom in subject.get("CustomAttributes") or []:
        try:
            oid = x509.ObjectIdentifier(custom["ObjectIdentifier"])
        except ValueError:
            raise BackendError("InvalidArgsException",
                                 f"The object identifier {custom['ObjectIdentifier']} is not valid.") from None
        attrs.append(x509.NameAttribute(oid, custom["Value"]))
    try:
        return x509.Name(attrs)
    except ValueError as err:
        raise BackendError("InvalidArgsException", f"The subject is not valid: {err}") from None


def load_csr(data: bytes | str) -> x509.CertificateSigningRequest:
    """Parse a PEM or DER CSR, including keytool's `NEW CERTIFICATE REQUEST` header; its self-signature
    must verify (proof the requester holds the private key)."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    try:
        if b"-----BEGIN" in raw:
            raw = raw.replace(b"NEW CERTIFICATE REQUEST-----", b"CERTIFICATE REQUEST-----")
            csr = x509.load_pem_x509_csr(raw)
        else:
            csr = x509.load_der_x509_csr(raw)
        valid = csr.is_signature_valid
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise BackendError("MalformedCSRException", "The certificate signing request is malformed.") from None
    if not valid:
        raise BackendError("MalformedCSRException", "The signature of the certificate signing request is not "
                             "valid.")
    return csr


def _load_certificates(data: bytes | str | None, what: str) -> list[x509.Certificate]:
    raw = (data.encode() if isinstance(data, str) else bytes(data or b"")).strip()
    try:
        certs = x509.load_pem_x509_certificates(raw) if b"-----BEGIN" in raw else [x509.load_der_x509_certificate(raw)]
    except ValueError:
        raise BackendError("MalformedCertificateException", f"The {what} is not a valid X.509 certificate in "
                             "PEM format.") from None
    return certs


def _add_months(when: dt.datetime, months: int) -> dt.datetime:
    month = when.month - 1 + months
    year, month = when.year + month // 12, month % 12 + 1
    if year > 9999:
        raise BackendError("InvalidArgsException", "The validity period is too long.")
    return when.replace(year=year, month=month, day=min(when.day, calendar.monthrange(year, month)[1]))


def _end_date(value: int) -> dt.datetime:
    """END_DATE: GeneralizedTime YYYYMMDDHHMMSS or UTCTime YYMMDDHHMMSS (YY >= 50 -> 19YY)."""
    text = str(value)
    try:
        if len(text) == 14:
            return dt.datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=dt.timezone.utc)
        if len(text) in (11, 12):
            text = text.zfill(12)
            century = "19" if int(text[:2]) >= 50 else "20"
            return dt.datetime.strptime(century + text, "%Y%m%d%H%M%S").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        pass
    raise BackendError("InvalidArgsException", f"The END_DATE validity value {value} is not a date in "
                         "YYYYMMDDHHMMSS or YYMMDDHHMMSS format.")


def validity_end(validity: dict, now: dt.datetime) -> dt.datetime:
    """The "Not After" of an acm-pca `Validity` (Type DAYS/MONTHS/YEARS/ABSOLUTE/END_DATE)."""
    kind, value = validity.get("Type"), int(validity.get("Value") or 0)
    if value <= 0:
        raise BackendError("InvalidArgsException", "The validity value must be a positive number.")
    try:
        if kind == "DAYS":
            return now + dt.timedelta(days=value)
        if kind == "MONTHS":
            return _add_months(now, value)
        if kind == "YEARS":
            return _add_months(now, 12 * value)
        if kind == "ABSOLUTE":
            return dt.datetime.fromtimestamp(value, dt.timezone.utc)
        if kind == "END_DATE":
            return _end_date(value)
    except (OverflowError, ValueError, OSError):
        raise BackendError("InvalidArgsException", "The validity period is too long.") from None
    raise BackendError("InvalidArgsException", f"The validity type {kind} is not valid.")


def validity_start(validity: dict | None, now: dt.datetime) -> dt.datetime:
    if not validity:
        return now - DEFAULT_BACKDATE
    if validity.get("Type") not in ("ABSOLUTE", "END_DATE"):
        raise BackendError("InvalidArgsException", "ValidityNotBefore must be of type ABSOLUTE or END_DATE.")
    return validity_end(validity, now)


class Template:
    """An acm-pca certificate template: which extensions an issued certificate gets."""

    def __init__(self, arn: str | None) -> None:
        self.arn = arn or TEMPLATE_PREFIX + "EndEntityCertificate/V1"
        match = re.fullmatch(re.escape(TEMPLATE_PREFIX) + r"([A-Za-z0-9_]+)/V(\d+)", self.arn)
        name = match.group(1) if match else ""
        path = re.fullmatch(r"SubordinateCACertificate_PathLen(\d)", name)
        self.root = name == "RootCACertificate"
        self.ca = self.root or path is not None
        self.path_length = int(path.group(1)) if path else None
        self.usages = {"EndEntityCertificate": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
                       "EndEntityClientAuthCertificate": [ExtendedKeyUsageOID.CLIENT_AUTH],
                       "EndEntityServerAuthCertificate": [ExtendedKeyUsageOID.SERVER_AUTH],
                       "CodeSigningCertificate": [ExtendedKeyUsageOID.CODE_SIGNING],
                       "OCSPSigningCertificate": [ExtendedKeyUsageOID.OCSP_SIGNING]}.get(name)
        if not match or match.group(2) != "1" or (not self.ca and self.usages is None):
            raise BackendError("InvalidArgsException", f"The template ARN {self.arn} is not a template openmsk "
                                 "supports (RootCACertificate/V1, SubordinateCACertificate_PathLen0..3/V1, "
                                 "EndEntityCertificate/V1, EndEntityClientAuthCertificate/V1, "
                                 "EndEntityServerAuthCertificate/V1, CodeSigningCertificate/V1, "
                                 "OCSPSigningCertificate/V1).")
        self.name = name

    def extend(self, builder: x509.CertificateBuilder, csr: x509.CertificateSigningRequest,
               issuer_key) -> x509.CertificateBuilder:
        public = csr.public_key()
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                        critical=False)
        if self.ca:
            return (builder.add_extension(x509.BasicConstraints(ca=True, path_length=self.path_length), critical=True)
                    .add_extension(x509.KeyUsage(**_CA_KEY_USAGE), critical=True))
        client_only = self.usages == [ExtendedKeyUsageOID.CLIENT_AUTH]
        usage = dict(_CA_KEY_USAGE, key_cert_sign=False, crl_sign=False,
                     key_encipherment=not client_only and self.name.startswith("EndEntity"))
        builder = (builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(**usage), critical=True)
                   .add_extension(x509.ExtendedKeyUsage(self.usages), critical=False))
        try:  # SANs requested in the CSR pass through, as with AWS's end-entity templates
            sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            builder = builder.add_extension(sans, critical=False)
        except x509.ExtensionNotFound:
            pass
        return builder


class PrivateCertificateAuthorities:
    """The acm-pca CAs of one installation (all regions)."""

    def __init__(self, store: Store, data_dir: Path, account_id: str) -> None:
        self.store = store
        self.directory = Path(data_dir) / "acm-pca"
        self.account_id = account_id

    # -- for the MSK side --------------------------------------------------------------------------
    def ca_certificate_pem(self, arn: str) -> bytes:
        """The CA's own certificate (PEM) followed by its chain (subordinate CAs): what a broker's
        client-CA truststore needs. Raises BackendError if unknown or without a certificate."""
        doc = self.get(arn)
        if not doc.get("_certificate"):
            raise BackendError("InvalidStateException", f"The certificate authority {arn} has no certificate "
                                 f"yet (status {doc['Status']}).")
        return (doc["_certificate"] + (doc.get("_chain") or "")).encode()

    def active(self, arn: str) -> bool:
        """True if `arn` names an existing CA in status ACTIVE (never raises)."""
        try:
            return self.get(arn)["Status"] == "ACTIVE"
        except BackendError:
            return False

    # -- lookup --------------------------------------------------------------------------------------
    def get(self, arn: str) -> dict[str, Any]:
        """The CA document (internal fields start with `_`); InvalidArnException / ResourceNotFoundException."""
        if not isinstance(arn, str) or not CA_ARN_RE.match(arn):
            raise BackendError("InvalidArnException", f"The certificate authority ARN {arn} is not valid.")
        doc = self.store.get(CA_KIND, arn)
        if doc is None or (doc["Status"] == "DELETED" and doc.get("RestorableUntil", 0) < time.time()):
            if doc is not None:
                self._purge(doc)
            raise BackendError("ResourceNotFoundException", f"Could not find certificate authority {arn}.")
        if doc["Status"] == "ACTIVE" and doc.get("NotAfter") and doc["NotAfter"] < time.time():
            self._set_status(doc, "EXPIRED")
        return doc

    def list(self, region: str | None = None) -> list[dict[str, Any]]:
        docs = []
        for doc in self.store.list(CA_KIND, region=region):
            try:
                docs.append(self.get(doc["Arn"]))
            except BackendError:
                pass
        return docs

    @staticmethod
    def describe(doc: dict[str, Any]) -> dict[str, Any]:
        """A CA document as the acm-pca `CertificateAuthority` shape."""
        out = {k: v for k, v in doc.items() if not k.startswith("_") and k != "Tags"}
        for key in ("CreatedAt", "LastStateChangeAt", "NotBefore", "NotAfter", "RestorableUntil"):
            if out.get(key) is not None:
                out[key] = _ts(out[key])
        return out

    def _key(self, doc: dict):
        path = self.directory / doc["_id"] / "key.pem"
        return serialization.load_pem_private_key(path.read_bytes(), None)

    def _save(self, doc: dict) -> None:
        self.store.put(CA_KIND, doc["Arn"], doc, region=doc["_region"])

    def _set_status(self, doc: dict, status: str) -> None:
        doc["Status"], doc["LastStateChangeAt"] = status, time.time()
        self._save(doc)

    def _purge(self, doc: dict) -> None:
        for cert in self.store.list(CERT_KIND, parent=doc["Arn"]):
            self.store.delete(CERT_KIND, cert["CertificateArn"])
        self.store.delete(CA_KIND, doc["Arn"])
        for name in ("key.pem",):
            (self.directory / doc["_id"] / name).unlink(missing_ok=True)
        try:
            (self.directory / doc["_id"]).rmdir()
        except OSError:
            pass

    # -- lifecycle -----------------------------------------------------------------------------------
    def create(self, region: str, ca_type: str, configuration: dict, *, private_key=None,
               revocation: dict | None = None, tags: list[dict] | None = None,
               idempotency_token: str | None = None, key_storage: str | None = None,
               usage_mode: str | None = None) -> str:
        """Create a CA in PENDING_CERTIFICATE with a fresh key and a CSR; returns its ARN.
        `private_key` (from `generate_private_key`) lets async callers generate the key in a thread."""
        if idempotency_token:
            for doc in self.store.list(CA_KIND, region=region):
                if (doc.get("_idempotency_token") == idempotency_token
                        and time.time() - doc["CreatedAt"] < IDEMPOTENCY_WINDOW):
                    return doc["Arn"]
        if ca_type not in ("ROOT", "SUBORDINATE"):
            raise BackendError("InvalidArgsException", f"The certificate authority type {ca_type} is not valid.")
        key_algorithm = configuration.get("KeyAlgorithm")
        signing = SIGNING_ALGORITHMS.get(configuration.get("SigningAlgorithm"))
        if key_algorithm not in KEY_ALGORITHMS or signing is None:
            generate_private_key(key_algorithm)                     # raises the unsupported-algorithm error
            raise BackendError("InvalidArgsException", f"The signing algorithm "
                                 f"{configuration.get('SigningAlgorithm')} is not supported by openmsk.")
        if signing[0] != key_algorithm.split("_")[0]:
            raise BackendError("InvalidArgsException", f"The signing algorithm {configuration['SigningAlgorithm']} "
                                 f"is not compatible with the key algorithm {key_algorithm}.")
        name = subject_name(configuration.get("Subject") or {})
        if not len(name):
            raise BackendError("InvalidArgsException", "The subject of the certificate authority must have at "
                                 "least one attribute.")
        if sum(1 for d in self.store.list(CA_KIND, region=region) if d["Status"] != "DELETED") >= MAX_CAS_PER_REGION:
            raise BackendError("LimitExceededException", f"You have reached the limit of {MAX_CAS_PER_REGION} "
                                 f"certificate authorities in {region}.")
        key = private_key if private_key is not None else generate_private_key(key_algorithm)
        if _key_family(key) != signing[0]:
            raise BackendError("InvalidArgsException", "The private key does not match the key algorithm.")
        csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, signing[1]())
        ca_id = str(uuid.uuid4())
        arn = f"arn:aws:acm-pca:{region}:{self.account_id}:certificate-authority/{ca_id}"
        write_secret(self.directory / ca_id / "key.pem", key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        now = time.time()
        doc = {"Arn": arn, "OwnerAccount": self.account_id, "CreatedAt": now, "LastStateChangeAt": now,
               "Type": ca_type, "Status": "PENDING_CERTIFICATE",
               "CertificateAuthorityConfiguration": configuration,
               "RevocationConfiguration": revocation or {"CrlConfiguration": {"Enabled": False},
                                                         "OcspConfiguration": {"Enabled": False}},
               "KeyStorageSecurityStandard": key_storage or "FIPS_140_2_LEVEL_3_OR_HIGHER",
               "UsageMode": usage_mode or "GENERAL_PURPOSE", "Tags": list(tags or []),
               "_id": ca_id, "_region": region, "_idempotency_token": idempotency_token,
               "_csr": csr.public_bytes(serialization.Encoding.PEM).decode()}
        self._save(doc)
        return arn

    def csr_pem(self, arn: str) -> str:
        doc = self.get(arn)
        if doc["Status"] in ("DELETED", "FAILED", "CREATING"):
            raise BackendError("InvalidStateException", f"The certificate authority {arn} is not in the correct "
                                 "state to have a certificate signing request.")
        return doc["_csr"]

    def certificate(self, arn: str) -> tuple[str, str | None]:
        """(certificate PEM, chain PEM or None for a root CA) of the CA itself."""
        doc = self.get(arn)
        if not doc.get("_certificate") or doc["Status"] in ("DELETED", "FAILED", "CREATING"):
            raise BackendError("InvalidStateException", f"The certificate authority {arn} is not in the correct "
                                 f"state to have a certificate ({doc['Status']}).")
        return doc["_certificate"], doc.get("_chain") or None

    def import_certificate(self, arn: str, certificate: bytes | str, chain: bytes | str | None = None) -> None:
        """Install the CA's signed certificate: PENDING_CERTIFICATE/EXPIRED -> ACTIVE (a DISABLED CA stays
        DISABLED). A root CA's certificate must be self-signed; a subordinate's needs the chain to its root."""
        doc = self.get(arn)
        if doc["Status"] not in ("PENDING_CERTIFICATE", "ACTIVE", "EXPIRED", "DISABLED"):
            raise BackendError("InvalidStateException", f"The certificate authority {arn} is not in the correct "
                                 f"state to import a certificate ({doc['Status']}).")
        certs = _load_certificates(certificate, "certificate")
        if len(certs) != 1:
            raise BackendError("MalformedCertificateException", "The certificate must contain exactly one "
                                 "X.509 certificate.")
        cert = certs[0]
        key = self._key(doc)
        if not _same_key(cert.public_key(), key.public_key()):
            raise BackendError("CertificateMismatchException", "The certificate does not match the certificate "
                                 f"authority's key (it was not issued for the CSR of {arn}).")
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is None or not constraints.ca:
            raise BackendError("InvalidRequestException", "The certificate is not a CA certificate "
                                 "(basicConstraints CA:TRUE is required).")
        chain_certs = _load_certificates(chain, "certificate chain") if chain and bytes(
            chain if isinstance(chain, bytes) else chain.encode()).strip() else []
        if doc["Type"] == "ROOT":
            if not self._issued_by(cert, cert):
                raise BackendError("InvalidRequestException", "The certificate of a ROOT certificate authority "
                                     "must be self-signed.")
            chain_certs = []
        else:
            if not chain_certs:
                raise BackendError("InvalidRequestException", "A certificate chain is required to import the "
                                     "certificate of a SUBORDINATE certificate authority.")
            for child, parent in zip([cert] + chain_certs, chain_certs):
                if not self._issued_by(child, parent):
                    raise BackendError("InvalidRequestException", "The certificate chain does not validate: "
                                         f"{child.subject.rfc4514_string()} is not signed by "
                                         f"{parent.subject.rfc4514_string()}.")
        doc["_certificate"] = _pem(cert)
        doc["_chain"] = "".join(_pem(c) for c in chain_certs)
        doc["Serial"] = format(cert.serial_number, "x")
        doc["NotBefore"] = cert.not_valid_before_utc.timestamp()
        doc["NotAfter"] = cert.not_valid_after_utc.timestamp()
        self._set_status(doc, "DISABLED" if doc["Status"] == "DISABLED" else "ACTIVE")

    @staticmethod
    def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
        try:
            child.verify_directly_issued_by(parent)
            return True
        except (ValueError, TypeError, InvalidSignature):
            return False

    def update(self, arn: str, *, status: str | None = None, revocation: dict | None = None) -> None:
        doc = self.get(arn)
        if doc["Status"] in ("DELETED", "CREATING", "FAILED"):
            raise BackendError("InvalidStateException", f"The certificate authority {arn} is not in a valid state "
                                 f"for update ({doc['Status']}).")
        if revocation is not None:
            doc["RevocationConfiguration"] = revocation
        if status is not None and status != doc["Status"]:
            if status not in ("ACTIVE", "DISABLED"):
                raise BackendError("InvalidArgsException", f"The status {status} cannot be set; use ACTIVE or "
                                     "DISABLED.")
            if doc["Status"] not in ("ACTIVE", "DISABLED"):
                raise BackendError("InvalidStateException", f"The certificate authority {arn} is in status "
                                     f"{doc['Status']} and cannot be set to {status}.")
            self._set_status(doc, status)
        else:
            self._save(doc)

    def delete(self, arn: str, permanent_deletion_days: int | None = None) -> None:
        """ACTIVE CAs must be disabled first (AWS); the CA stays restorable for 7-30 days (default 30).
        A CA that never had a certificate is removed at once, as AWS does."""
        doc = self.get(arn)
        if doc["Status"] in ("ACTIVE", "DELETED"):
            raise BackendError("InvalidStateException", "The certificate authority is not in a valid state for "
                                 "deletion.")
        days = 30 if permanent_deletion_days is None else permanent_deletion_days
        if not 7 <= days <= 30:
            raise BackendError("InvalidArgsException", "PermanentDeletionTimeInDays must be between 7 and 30.")
        if doc["Status"] in ("PENDING_CERTIFICATE", "CREATING", "FAILED"):
            self._purge(doc)
            return
        doc["_prior_status"] = doc["Status"]
        doc["RestorableUntil"] = time.time() + days * 86400
        self._set_status(doc, "DELETED")

    def restore(self, arn: str) -> None:
        doc = self.get(arn)
        if doc["Status"] != "DELETED":
            raise BackendError("InvalidStateException", f"The certificate authority {arn} is not in DELETED "
                                 "state.")
        doc.pop("RestorableUntil", None)
        self._set_status(doc, "DISABLED" if doc.get("_certificate") else "PENDING_CERTIFICATE")

    def set_tags(self, arn: str, tags: list[dict], *, remove: bool = False) -> None:
        doc = self.get(arn)
        if doc["Status"] == "DELETED":
            raise BackendError("InvalidStateException", f"The certificate authority {arn} is deleted.")
        current = {t["Key"]: t.get("Value") for t in doc.get("Tags") or []}
        for tag in tags:
            if remove:
                if tag["Key"] in current and ("Value" not in tag or tag.get("Value") == current[tag["Key"]]):
                    del current[tag["Key"]]
            else:
                current[tag["Key"]] = tag.get("Value")
        if len(current) > 50:
            raise BackendError("TooManyTagsException", "A certificate authority can have at most 50 tags.")
        doc["Tags"] = [{"Key": k, **({"Value": v} if v is not None else {})} for k, v in current.items()]
        self._save(doc)

    # -- issuing -------------------------------------------------------------------------------------
    def issue(self, arn: str, csr: bytes | str, signing_algorithm: str, validity: dict, *,
              template_arn: str | None = None, validity_not_before: dict | None = None,
              idempotency_token: str | None = None) -> str:
        """Sign a CSR; returns the certificate ARN (`<ca-arn>/certificate/<serial hex>`)."""
        doc = self.get(arn)
        template = Template(template_arn)
        if idempotency_token:
            for cert in self.store.list(CERT_KIND, parent=arn):
                if (cert.get("IdempotencyToken") == idempotency_token
                        and time.time() - cert["IssuedAt"] < IDEMPOTENCY_WINDOW):
                    return cert["CertificateArn"]
        if template.root:
            if doc["Type"] != "ROOT":
                raise BackendError("InvalidArgsException", f"The template {template.arn} can only be used by a "
                                     "ROOT certificate authority.")
            allowed = ("PENDING_CERTIFICATE", "ACTIVE", "EXPIRED")
        else:
            allowed = ("ACTIVE",)
        if doc["Status"] not in allowed:
            raise BackendError("InvalidStateException", f"The certificate authority {arn} is not in the correct "
                                 f"state to issue certificates ({doc['Status']}).")
        request = load_csr(csr)
        key = self._key(doc)
        signing = SIGNING_ALGORITHMS.get(signing_algorithm)
        if signing is None or signing[0] != _key_family(key):
            raise BackendError("InvalidArgsException", f"The signing algorithm {signing_algorithm} is not "
                                 "compatible with the certificate authority's key algorithm "
                                 f"{doc['CertificateAuthorityConfiguration']['KeyAlgorithm']}.")
        now = _now()
        not_before = validity_start(validity_not_before, now)
        not_after = validity_end(validity, now)
        if not_after <= max(now, not_before):
            raise BackendError("InvalidArgsException", "The validity period must end in the future and after "
                                 "its start.")
        if template.root:
            if not _same_key(request.public_key(), key.public_key()):
                raise BackendError("InvalidArgsException", f"The template {template.arn} signs the certificate "
                                     "authority's own CSR (from GetCertificateAuthorityCsr) only.")
            issuer = request.subject
        else:
            ca_cert = x509.load_pem_x509_certificate(doc["_certificate"].encode())
            if not_after > ca_cert.not_valid_after_utc:
                raise BackendError("InvalidArgsException", "The validity period of the requested certificate "
                                     "exceeds the validity period of the issuing certificate authority (ends "
                                     f"{ca_cert.not_valid_after_utc.isoformat()}).")
            issuer = ca_cert.subject
        serial = secrets.randbits(127) | 1 << 120       # 16 bytes, positive, never short
        builder = (x509.CertificateBuilder().subject_name(request.subject).issuer_name(issuer)
                   .public_key(request.public_key()).serial_number(serial)
                   .not_valid_before(not_before).not_valid_after(not_after))
        cert = template.extend(builder, request, key).sign(key, signing[1]())
        serial_hex = format(serial, "032x")
        cert_arn = f"{arn}/certificate/{serial_hex}"
        chain = "" if template.root else doc["_certificate"] + (doc.get("_chain") or "")
        self.store.put(CERT_KIND, cert_arn, {
            "CertificateArn": cert_arn, "Serial": serial_hex, "Certificate": _pem(cert), "Chain": chain,
            "Template": template.arn, "IssuedAt": time.time(), "IdempotencyToken": idempotency_token,
            "Revoked": None}, region=doc["_region"], parent=arn)
        return cert_arn

    def get_certificate(self, arn: str, certificate_arn: str) -> tuple[str, str | None]:
        """(certificate PEM, chain PEM or None for a self-signed root certificate)."""
        doc = self.get(arn)
        match = CERT_ARN_RE.match(certificate_arn or "")
        if not match:
            raise BackendError("InvalidArnException", f"The certificate ARN {certificate_arn} is not valid.")
        cert = self.store.get(CERT_KIND, certificate_arn)
        if cert is None or not certificate_arn.startswith(arn + "/"):
            raise BackendError("ResourceNotFoundException", f"Could not find certificate {certificate_arn}.")
        if doc["Status"] in ("DELETED", "FAILED"):
            raise BackendError("InvalidStateException", f"The certificate authority {arn} is not in the correct "
                                 "state to have issued certificates.")
        return cert["Certificate"], cert["Chain"] or None

    def revoke(self, arn: str, serial: str, reason: str) -> None:
        doc = self.get(arn)
        if doc["Status"] not in ("ACTIVE", "DISABLED", "EXPIRED"):
            raise BackendError("InvalidStateException", f"The certificate authority {arn} is not in the correct "
                                 f"state to revoke certificates ({doc['Status']}).")
        try:
            wanted = int(serial.replace(":", ""), 16)
        except ValueError:
            raise BackendError("InvalidRequestException", f"The serial number {serial} is not valid.") from None
        cert = self.store.get(CERT_KIND, f"{arn}/certificate/{wanted:032x}")
        if cert is None:
            raise BackendError("ResourceNotFoundException", f"Could not find a certificate with serial {serial} "
                                 f"issued by {arn}.")
        if cert["Revoked"]:
            raise BackendError("RequestAlreadyProcessedException", f"The certificate {serial} is already revoked.")
        cert["Revoked"] = {"Reason": reason, "At": time.time()}
        self.store.put(CERT_KIND, cert["CertificateArn"], cert, region=doc["_region"], parent=arn)

    def crl_pem(self, arn: str, *, next_update: dt.timedelta = dt.timedelta(days=7)) -> bytes:
        """A CRL of the certificates revoked by RevokeCertificate, signed by the CA (for brokers that check
        revocation; acm-pca itself would publish it to S3)."""
        doc = self.get(arn)
        ca_cert_pem, _ = self.certificate(arn)
        ca_cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
        key = self._key(doc)
        now = _now()
        builder = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
                   .last_update(now).next_update(now + next_update))
        for cert in self.store.list(CERT_KIND, parent=arn):
            if cert["Revoked"]:
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder().serial_number(int(cert["Serial"], 16))
                    .revocation_date(_ts(cert["Revoked"]["At"])).build())
        signing = SIGNING_ALGORITHMS[doc["CertificateAuthorityConfiguration"]["SigningAlgorithm"]]
        return builder.sign(key, signing[1]()).public_bytes(serialization.Encoding.PEM)

    # -- shortcut ------------------------------------------------------------------------------------
    def create_active_root(self, region: str, common_name: str, *, key_algorithm: str = "RSA_2048",
                           validity_years: int = 10, private_key=None) -> str:
        """What AWS's five-call activation does, in one call: a ROOT CA with a self-signed certificate,
        ACTIVE. For helpers that want "just give me a CA" (the API path stays the documented one)."""
        signing = "SHA256WITHRSA" if key_algorithm.startswith("RSA") else "SHA256WITHECDSA"
        arn = self.create(region, "ROOT", {"KeyAlgorithm": key_algorithm, "SigningAlgorithm": signing,
                                           "Subject": {"CommonName": common_name}}, private_key=private_key)
        cert_arn = self.issue(arn, self.csr_pem(arn), signing, {"Type": "YEARS", "Value": validity_years},
                              template_arn=TEMPLATE_PREFIX + "RootCACertificate/V1")
        self.import_certificate(arn, self.get_certificate(arn, cert_arn)[0])
        return arn
