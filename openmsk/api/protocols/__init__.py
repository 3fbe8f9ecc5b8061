"""Server-side AWS wire protocols: the counterpart of botocore's serialize/parsers modules.

One module per protocol, each exposing the same three functions::

    parse_request(service_model, method, raw_path, headers, body) -> (OperationModel, params)
    serialize_response(op, result, request_id="") -> (status, headers, body_bytes)
    serialize_error(service_model, op_or_None, exc, request_id) -> (status, headers, body_bytes)

``params``/``result`` are boto3-shaped dicts (PascalCase member names, datetime, bytes).

Module hierarchy (shared shape walks live in private helpers, protocols stay small)::

    _common      timestamps, gzip bodies, wire names, ProtocolParseError
    _jsoncodec   JSON <-> Python shape walk       <- rest_json (kafka), json_rpc (awsJson 1.0/1.1)
    _form        form-urlencoded input + XML out  <- query (legacy CloudWatch), ec2
"""
from __future__ import annotations

from types import ModuleType

from . import ec2, json_rpc, query, rest_json, rest_xml

PROTOCOLS: dict[str, ModuleType] = {
    "rest-json": rest_json,
    "json": json_rpc,
    "query": query,
    "ec2": ec2,
    "rest-xml": rest_xml,          # s3
}


def get_protocol(name: str) -> ModuleType:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise LookupError(f"wire protocol {name!r} is not supported by openmsk") from None
