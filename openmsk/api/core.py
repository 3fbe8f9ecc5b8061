"""Provider-facing core types: errors, request context, the ``@handler`` registry.

Pattern (after LocalStack ASF's ``aws/api/core.py`` + ``aws/skeleton.py``):

    botocore ServiceModel -> protocols.<p>.parse_request -> validate
        -> Provider.<op method>(ctx, request) -> protocols.<p>.serialize_response

* ``ServiceException`` -- the one exception type providers raise. ``code`` is the error
  shape name from the service model (e.g. ``NotFoundException``; for CloudWatch the
  shape name ``InvalidParameterValueException`` or its query code
  ``InvalidParameterValue``). The protocol serializers turn it into the spec-shaped
  error body; ``fields`` holds extra error members by their PascalCase member name.
* ``RequestContext`` -- everything known about the request besides its parameters.
* ``Provider`` -- base class; one ``@handler("OpName")`` async method per operation,
  taking and returning boto3-shaped dicts (PascalCase, datetime, bytes).
"""
from __future__ import annotations

import contextvars
import dataclasses
import inspect
from typing import Any, Callable, Mapping

from botocore.model import OperationModel, ServiceModel

from . import specs

#: Service model of the request being handled; lets ``ServiceException`` find the
#: HTTP status of its error shape without the provider passing the model around.
current_service_model: contextvars.ContextVar[ServiceModel | None] = contextvars.ContextVar(
    "openmsk_current_service_model", default=None
)


def error_status(model: ServiceModel | None, code: str, default: int = 400) -> int:
    shape = specs.find_error_shape(model, code)
    if shape is not None:
        return int(shape.metadata.get("error", {}).get("httpStatusCode", default))
    return default


class ServiceException(Exception):
    """An AWS error response. ``status_code=None`` -> taken from the model's error shape."""

    def __init__(self, code: str, message: str = "", status_code: int | None = None,
                 sender_fault: bool = True, **fields: Any):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.sender_fault = sender_fault
        self.fields: dict[str, Any] = fields
        self._status_explicit = status_code is not None
        self.status_code = status_code if status_code is not None else error_status(
            current_service_model.get(), code)

    def resolve_status(self, model: ServiceModel | None) -> int:
        """Status for ``model`` (used by serializers; explicit status always wins)."""
        if not self._status_explicit and model is not None:
            self.status_code = error_status(model, self.code, self.status_code)
        return self.status_code

    def __repr__(self) -> str:
        return f"ServiceException({self.code!r}, {self.message!r}, status_code={self.status_code})"


def not_implemented(operation_name: str, protocol: str) -> ServiceException:
    code = "NotImplemented" if protocol in ("query", "ec2") else "NotImplementedException"
    return ServiceException(code, f"The operation {operation_name} is not implemented by openmsk",
                            status_code=501, sender_fault=False)


@dataclasses.dataclass
class RequestContext:
    service: str                   # SigV4 signing name: kafka, ec2, monitoring, logs, ...
    operation_name: str            # e.g. "DescribeCluster"
    operation: OperationModel
    region: str                    # from the credential scope
    account_id: str
    access_key_id: str
    request_id: str
    protocol: str                  # rest-json | json | query | ec2 (of *this* request)
    headers: Mapping[str, str]     # case-insensitive (aiohttp CIMultiDictProxy)
    host: str
    service_model: ServiceModel | None = None
    source_ip: str = ""           # the peer address (IAM's aws:SourceIp)
    serialized: bool = True        # False: an in-process caller (the console) reads the result as is

    def wire_form(self, shape, value: dict):
        """`value`, a structure of `shape`, already in this request's wire form: a provider may keep it
        and put it in later results unchanged (the encoders pass it through). rest-json only; other
        protocols and in-process callers get `value` back."""
        if not self.serialized:
            return value
        from .output_check import check_value, strict_output_from_env   # both import this module's package
        from .protocols import get_protocol
        if strict_output_from_env():
            check_value(shape, value)
        encode = getattr(get_protocol(self.protocol), "wire_form", None)
        return encode(shape, value) if encode else value


HANDLER_ATTR = "_openmsk_operation"


def handler(operation_name: str) -> Callable:
    """Mark ``async def op(self, ctx, request) -> dict`` as the handler of an operation."""
    def deco(fn: Callable) -> Callable:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"@handler({operation_name!r}) needs an async def, got {fn!r}")
        setattr(fn, HANDLER_ATTR, operation_name)
        return fn
    return deco


class Provider:
    """Base class of service implementations; subclasses set ``service_name`` (signing name)."""

    service_name: str = ""

    @property
    def service_model(self) -> ServiceModel:
        return specs.load_service_model(self.service_name)

    def dispatch_table(self) -> dict[str, Callable]:
        """Operation name -> bound handler, from every ``@handler`` in the class hierarchy."""
        table: dict[str, Callable] = {}
        for cls in reversed(type(self).__mro__):
            for attr, value in vars(cls).items():
                op = getattr(value, HANDLER_ATTR, None)
                if op is not None:
                    table[op] = getattr(self, attr)
        return table

    def check_operations(self) -> None:
        """Raise ValueError if a handler names an operation the model does not have."""
        known = set(self.service_model.operation_names)
        unknown = sorted(set(self.dispatch_table()) - known)
        if unknown:
            raise ValueError(f"{type(self).__name__}: operations not in the {self.service_name} "
                             f"model: {', '.join(unknown)}")
