"""SNS message signatures, as AWS documents them ("Verifying the signatures of Amazon SNS messages").

The string to sign is the message's fields `Name\\nvalue\\n` in a fixed order (Notification: Message,
MessageId, Subject if present, Timestamp, TopicArn, Type; (Un)SubscriptionConfirmation: Message,
MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type). SignatureVersion 1 signs it with
SHA1withRSA, 2 with SHA256withRSA; `Signature` is base64. The key is the installation's own RSA 2048
key and self-signed certificate under `<data dir>/sns/` (key 0600, written atomically); openmsk serves
the certificate at SigningCertURL on its endpoint, `/_openmsk/sns/SimpleNotificationService-<id>.pem`.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}


def string_to_sign(message: dict) -> bytes:
    keys = NOTIFICATION_KEYS if message["Type"] == "Notification" else CONFIRMATION_KEYS
    return "".join(f"{k}\n{message[k]}\n" for k in keys if k in message).encode("utf-8")


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class Signer:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        key_path, cert_path = directory / "signing-key.pem", directory / "signing-cert.pem"
        if not (key_path.exists() and cert_path.exists()):
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.openmsk.local")])
            now = dt.datetime.now(dt.timezone.utc)
            cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                    .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                    .not_valid_after(now + dt.timedelta(days=3650)).sign(key, hashes.SHA256()))
            _write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
            _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
            os.chmod(cert_path, 0o644)
        self._key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        self.cert_pem = cert_path.read_bytes()
        self.cert_name = f"SimpleNotificationService-{hashlib.sha256(self.cert_pem).hexdigest()[:32]}.pem"

    def sign(self, message: dict, version: str = "1") -> dict:
        """Adds SignatureVersion and Signature to `message` (SigningCertURL must already be set)."""
        message["SignatureVersion"] = version
        signature = self._key.sign(string_to_sign(message), padding.PKCS1v15(), HASHES[version]())
        message["Signature"] = base64.b64encode(signature).decode()
        return message


def verify(message: dict, cert_pem: bytes) -> None:
    """The documented check (raises cryptography's InvalidSignature); used by tests and `openmsk`'s docs."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    cert.public_key().verify(base64.b64decode(message["Signature"]), string_to_sign(message), padding.PKCS1v15(),
                             HASHES[message["SignatureVersion"]]())
