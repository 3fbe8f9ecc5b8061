"""Secrets Manager: secrets encrypted under KMS keys (backend.py) and their API (provider.py)."""
from .backend import SecretStore
from .provider import SecretsManagerProvider

__all__ = ["SecretStore", "SecretsManagerProvider"]
