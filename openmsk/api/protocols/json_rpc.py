"""awsJson 1.0 / 1.1 (CloudWatch today, logs, kms, secretsmanager, acm-pca).

``POST /`` with ``X-Amz-Target: <targetPrefix>.<Operation>``; the body is a JSON object
keyed by member (location)names; timestamps are epoch seconds; gzip bodies are accepted.
Errors are ``{"__type": <ShapeName>, "message": ...}`` plus ``x-amzn-ErrorType``; for
``awsQueryCompatible`` services (CloudWatch) also ``x-amzn-query-error: <QueryCode>;Sender``
because boto3 keys CloudWatch's modeled exceptions by the query code.
"""
from __future__ import annotations

from typing import Mapping

from botocore.model import OperationModel, ServiceModel

from .. import specs
from ..core import ServiceException
from ._common import ProtocolParseError, decode_body, error_fields_to_wire, message_key
from ._jsoncodec import JSONCodec, dumps, loads_object

CODEC = JSONCodec("unixtimestamp")


def content_type(model: ServiceModel | None) -> str:
    version = (model.metadata.get("jsonVersion") if model is not None else None) or "1.0"
    return f"application/x-amz-json-{version}"


def parse_request(service_model: ServiceModel, method: str, raw_path: str,
                  headers: Mapping[str, str], body: bytes) -> tuple[OperationModel, dict]:
    target = headers.get("X-Amz-Target") or ""
    prefix, _, name = target.rpartition(".")
    if prefix != service_model.metadata.get("targetPrefix") or name not in service_model.operation_names:
        raise ServiceException("UnknownOperationException",
                               f"Unknown operation {target or '(missing X-Amz-Target)'}", status_code=400)
    op = service_model.operation_model(name)
    try:
        obj = loads_object(decode_body(headers, body))
        params = CODEC.decode_members(op.input_shape, obj) if op.input_shape is not None else {}
    except ProtocolParseError as e:
        raise ServiceException("SerializationException", str(e), status_code=400) from None
    return op, params


def serialize_response(op: OperationModel, result: dict | None,
                       request_id: str = "") -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": content_type(op.service_model)}
    if request_id:
        headers["x-amzn-RequestId"] = request_id
    shape = op.output_shape
    body = CODEC.encode_members(shape, result or {}) if shape is not None else {}
    return 200, headers, dumps(body)


def serialize_error(service_model: ServiceModel | None, op: OperationModel | None,
                    exc: ServiceException, request_id: str) -> tuple[int, dict[str, str], bytes]:
    status = exc.resolve_status(service_model)
    shape = specs.find_error_shape(service_model, exc.code)
    type_name = shape.name if shape is not None else exc.code
    body = {"__type": type_name, message_key(shape): exc.message}
    body.update(error_fields_to_wire(shape, exc.fields, lower_first=False))
    headers = {"Content-Type": content_type(service_model), "x-amzn-ErrorType": type_name}
    if service_model is not None and "awsQueryCompatible" in service_model.metadata:
        code = shape.metadata.get("error", {}).get("code", shape.name) if shape is not None else exc.code
        headers["x-amzn-query-error"] = f"{code};{'Sender' if exc.sender_fault else 'Receiver'}"
    if request_id:
        headers["x-amzn-RequestId"] = request_id
    return status, headers, dumps(body)
