"""AWS query protocol (legacy CloudWatch): ``Action=Op&Version=...`` in, XML out.

Response: ``<OpResponse xmlns=ns><OpResult>..</OpResult><ResponseMetadata>
<RequestId>..</RequestId></ResponseMetadata></OpResponse>`` (the Result wrapper is the
output shape's ``resultWrapper``); lists as ``<member>``; timestamps ISO8601 ``Z``.
Errors: ``<ErrorResponse><Error><Type>Sender|Receiver</Type><Code>`` with the query code
(the error shape's ``error.code``, e.g. ``InvalidParameterValue``).
"""
from __future__ import annotations

from typing import Mapping
from xml.sax.saxutils import escape

from botocore.model import OperationModel, ServiceModel

from .. import specs
from ..core import ServiceException
from ._common import ProtocolParseError, decode_body
from ._form import FormDecoder, XMLEncoder, parse_form

CONTENT_TYPE = "text/xml"
DECODER = FormDecoder(ec2=False)
ENCODER = XMLEncoder("iso8601")


def parse_request(service_model: ServiceModel, method: str, raw_path: str,
                  headers: Mapping[str, str], body: bytes) -> tuple[OperationModel, dict]:
    try:
        params = parse_form(raw_path.partition("?")[2], decode_body(headers, body))
        action = params.pop("Action", "")
        params.pop("Version", None)
        if action not in service_model.operation_names:
            raise ServiceException("InvalidAction", f"Could not find operation {action or '(none)'} "
                                   f"for version {service_model.api_version}", status_code=400)
        op = service_model.operation_model(action)
        return op, DECODER.decode_input(op.input_shape, params)
    except ProtocolParseError as e:
        raise ServiceException("MalformedQueryString", str(e), status_code=400) from None


def _xmlns(model) -> str:
    ns = model.metadata.get("xmlNamespace", "") if model is not None else ""
    return f' xmlns="{escape(ns)}"' if ns else ""


def serialize_response(op: OperationModel, result: dict | None,
                       request_id: str = "") -> tuple[int, dict[str, str], bytes]:
    shape, name = op.output_shape, op.name
    inner = ""
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper", f"{name}Result")
        inner = f"<{wrapper}>{ENCODER.members(shape, result or {})}</{wrapper}>"
    xml = (f"<{name}Response{_xmlns(op.service_model)}>{inner}"
           f"<ResponseMetadata><RequestId>{escape(request_id)}</RequestId></ResponseMetadata>"
           f"</{name}Response>")
    return 200, {"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": request_id}, xml.encode("utf-8")


def serialize_error(service_model: ServiceModel | None, op: OperationModel | None,
                    exc: ServiceException, request_id: str) -> tuple[int, dict[str, str], bytes]:
    status = exc.resolve_status(service_model)
    shape = specs.find_error_shape(service_model, exc.code)
    code = shape.metadata.get("error", {}).get("code", shape.name) if shape is not None else exc.code
    kind = "Sender" if exc.sender_fault else "Receiver"
    xml = (f"<ErrorResponse{_xmlns(service_model)}><Error><Type>{kind}</Type>"
           f"<Code>{escape(code)}</Code><Message>{escape(exc.message)}</Message></Error>"
           f"<RequestId>{escape(request_id)}</RequestId></ErrorResponse>")
    return status, {"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": request_id}, xml.encode("utf-8")
