"""openmsk AWS wire-protocol layer (spec-driven, after LocalStack ASF).

    botocore service model (specs) -> protocols.<p>.parse_request -> validate
      -> Provider @handler method (boto3-shaped dicts) -> protocols.<p>.serialize_response
    gateway.create_app() wires SigV4 (sigv4), protocol detection and the providers into aiohttp.
"""
from .core import Provider, RequestContext, ServiceException, handler
from .specs import load_service_model

__all__ = ["Provider", "RequestContext", "ServiceException", "handler", "load_service_model", "create_app"]


def create_app(*args, **kwargs):
    """Lazy alias of ``openmsk.api.gateway.create_app`` (keeps ``import openmsk.api`` light)."""
    from .gateway import create_app as _create_app
    return _create_app(*args, **kwargs)
