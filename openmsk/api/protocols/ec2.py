"""EC2 protocol: ``Action=Op&Version=2016-11-15`` form input (flattened ``Key.N`` lists),
XML output ``<OpResponse xmlns=...><requestId>..</requestId>..members..</OpResponse>``.

Output children use lowerCamel ``locationName``s; lists are ``<xSet><item>..</item></xSet>``
(the item name comes from the model). The ec2 model has no error shapes; errors are
``<Response><Errors><Error><Code>..</Code><Message>..</Message></Error></Errors>
<RequestID>..</RequestID></Response>``, HTTP 400 unless said otherwise. Never an empty body.
"""
from __future__ import annotations

from typing import Mapping
from xml.sax.saxutils import escape

from botocore.model import OperationModel, ServiceModel

from ..core import ServiceException
from ._common import ProtocolParseError, decode_body
from ._form import FormDecoder, XMLEncoder, parse_form

CONTENT_TYPE = "text/xml;charset=UTF-8"
DECODER = FormDecoder(ec2=True)
ENCODER = XMLEncoder("iso8601")
XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'


def parse_request(service_model: ServiceModel, method: str, raw_path: str,
                  headers: Mapping[str, str], body: bytes) -> tuple[OperationModel, dict]:
    try:
        params = parse_form(raw_path.partition("?")[2], decode_body(headers, body))
        action = params.pop("Action", "")
        params.pop("Version", None)
        if action not in service_model.operation_names:
            raise ServiceException("InvalidAction", f"The action {action or '(none)'} is not valid "
                                   "for this web service.", status_code=400)
        op = service_model.operation_model(action)
        return op, DECODER.decode_input(op.input_shape, params)
    except ProtocolParseError as e:
        raise ServiceException("InvalidParameterValue", str(e), status_code=400) from None


def serialize_response(op: OperationModel, result: dict | None,
                       request_id: str = "") -> tuple[int, dict[str, str], bytes]:
    ns = op.service_model.metadata.get("xmlNamespace", "http://ec2.amazonaws.com/doc/2016-11-15")
    ns = ns if ns.endswith("/") else ns + "/"
    members = ENCODER.members(op.output_shape, result or {}) if op.output_shape is not None else ""
    xml = (f'{XML_DECL}<{op.name}Response xmlns="{escape(ns)}">'
           f"<requestId>{escape(request_id)}</requestId>{members}</{op.name}Response>")
    return 200, {"Content-Type": CONTENT_TYPE}, xml.encode("utf-8")


def serialize_error(service_model: ServiceModel | None, op: OperationModel | None,
                    exc: ServiceException, request_id: str) -> tuple[int, dict[str, str], bytes]:
    status = exc.resolve_status(service_model)
    xml = (f"{XML_DECL}<Response><Errors><Error><Code>{escape(exc.code)}</Code>"
           f"<Message>{escape(exc.message)}</Message></Error></Errors>"
           f"<RequestID>{escape(request_id)}</RequestID></Response>")
    return status, {"Content-Type": CONTENT_TYPE}, xml.encode("utf-8")
