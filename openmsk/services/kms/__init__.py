"""KMS: customer keys (backend.py: key material in 0600 files, AES-256-GCM) and their API (provider.py)."""
from .backend import KeyStore
from .provider import KmsProvider

__all__ = ["KeyStore", "KmsProvider"]
