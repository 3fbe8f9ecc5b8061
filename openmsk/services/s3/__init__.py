"""S3 subset (`s3`, REST-XML): buckets and objects on disk, where broker logs land under MSK's keys."""
from .backend import ObjectStore
from .provider import S3Provider

__all__ = ["ObjectStore", "S3Provider"]
