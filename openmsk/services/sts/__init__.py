"""An embedded `sts` subset: GetCallerIdentity and AssumeRole over the IAM backend's identities."""
from .provider import StsProvider

__all__ = ["StsProvider"]
