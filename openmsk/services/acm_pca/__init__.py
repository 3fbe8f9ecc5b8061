"""AWS Private CA: certificate authorities for mTLS clients (backend.py) and their API (provider.py)."""
from .backend import PrivateCertificateAuthorities
from .provider import AcmPcaProvider

__all__ = ["AcmPcaProvider", "PrivateCertificateAuthorities"]
