"""Firehose subset (`firehose`): DirectPut delivery streams buffering records into the `s3` subset."""
from .backend import Deliverer, FirehoseStore
from .provider import FirehoseProvider

__all__ = ["Deliverer", "FirehoseProvider", "FirehoseStore"]
