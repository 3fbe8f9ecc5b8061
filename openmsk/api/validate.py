"""Server-side input validation.

1. ``botocore.validate.ParamValidator`` -- the checks clients already run (required, type,
   ``min``); a server must repeat them because not every client is botocore.
2. Server-only checks botocore skips: ``max`` (length/range) and enum values. ``pattern``
   is deliberately not enforced (model patterns are loose/partial in practice).

Errors are raised as ``ServiceException`` in the service's own vocabulary:
  kafka (rest-json with BadRequestException)  -> BadRequestException + InvalidParameter=<wire path>
  ec2                                         -> MissingParameter / InvalidParameterValue
  models with MissingRequiredParameter/InvalidParameterValue exceptions (CloudWatch) -> those
  other json services                         -> ValidationException
Messages name members by their *wire* names (``clusterName``; ``GroupId`` for ec2).
"""
from __future__ import annotations

import math
import re
from typing import Any

from botocore.model import OperationModel, ServiceModel
from botocore.validate import ParamValidator

from . import specs
from .core import ServiceException
from .protocols._common import ec2_query_name, wire_name

_TOKEN = re.compile(r"\.?([A-Za-z0-9_\-]+)|\[(\d+)\]")


def validate(op: OperationModel, params: dict) -> None:
    shape = op.input_shape
    if shape is None:
        return
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        reason, name, extra = report._errors[0]    # first problem is enough for a 400
        raise _from_botocore(op.service_model, shape, reason, name, extra)
    _Walker(op.service_model).walk(shape, params, "")


# ---------------------------------------------------------------- error vocabulary
def _codes(model: ServiceModel) -> tuple[str, str, bool]:
    """(missing code, invalid code, sets InvalidParameter field)."""
    if model.protocol == "rest-json" and specs.find_error_shape(model, "BadRequestException"):
        return "BadRequestException", "BadRequestException", True
    if model.protocol == "ec2":
        return "MissingParameter", "InvalidParameterValue", False
    if (specs.find_error_shape(model, "MissingRequiredParameterException")
            and specs.find_error_shape(model, "InvalidParameterValueException")):
        return "MissingRequiredParameterException", "InvalidParameterValueException", False
    return "ValidationException", "ValidationException", False


def _raise(model: ServiceModel, missing: bool, param: str, message: str) -> ServiceException:
    missing_code, invalid_code, with_field = _codes(model)
    fields = {"InvalidParameter": param} if with_field else {}
    return ServiceException(missing_code if missing else invalid_code, message, status_code=400, **fields)


def _member_wire(model: ServiceModel, name: str, member) -> str:
    return ec2_query_name(name, member) if model.protocol == "ec2" else wire_name(name, member)


def _join(model: ServiceModel, path: str, part: str, index: int | None = None) -> str:
    if index is not None:
        return f"{path}.{index + 1}" if model.protocol == "ec2" else f"{path}[{index}]"
    return f"{path}.{part}" if path else part


def _wire_path(model: ServiceModel, shape, name: str) -> tuple[str, Any]:
    """botocore's Python path (``.A.B[0].C``) -> wire path, plus the shape it ends at."""
    path = ""
    for member_name, index in _TOKEN.findall(name or ""):
        if index and shape is not None and shape.type_name == "list":
            path, shape = _join(model, path, "", int(index)), shape.member
        elif member_name and shape is not None and shape.type_name == "structure" \
                and member_name in shape.members:
            member = shape.members[member_name]
            path, shape = _join(model, path, _member_wire(model, member_name, member)), member
        else:
            return _join(model, path, member_name or index), None
    return path, shape


def _from_botocore(model, shape, reason, name, extra) -> ServiceException:
    path, end = _wire_path(model, shape, name)
    if reason == "missing required field":
        req = extra["required_name"]
        member = end.members.get(req) if end is not None and end.type_name == "structure" else None
        req_wire = _member_wire(model, req, member) if member is not None else req
        return _raise(model, True, _join(model, path, req_wire),
                      f'Missing required parameter in {path or "input"}: "{req_wire}"')
    if reason == "invalid type":
        valid = ", ".join(extra.get("valid_types", []))
        return _raise(model, False, path, f"Invalid type for parameter {path}, value: {extra.get('param')!r}, "
                                          f"type: {type(extra.get('param')).__name__}, valid types: {valid}")
    if reason == "invalid range":
        return _raise(model, False, path, f"Invalid value for parameter {path}, value: {extra['param']}, "
                                          f"valid min value: {extra['min_allowed']}")
    if reason == "invalid length":
        return _raise(model, False, path, f"Invalid length for parameter {path}, value: {extra['param']}, "
                                          f"valid min length: {extra['min_allowed']}")
    if reason == "unknown field":
        bad = _join(model, path, extra.get("unknown_param", ""))
        return _raise(model, False, bad, f"Unknown parameter in {path or 'input'}: "
                                         f"\"{extra.get('unknown_param')}\"")
    return _raise(model, False, path, f"Invalid parameter {path or 'input'}: {reason}")


class _Walker:
    """max length / max value / enum checks, reporting the first violation."""

    def __init__(self, model: ServiceModel):
        self.model = model

    def walk(self, shape, value, path: str) -> None:
        if value is None:
            return
        t, md = shape.type_name, shape.metadata
        if t == "structure" and isinstance(value, dict):
            for name, v in value.items():
                member = shape.members.get(name)
                if member is not None:
                    self.walk(member, v, _join(self.model, path, _member_wire(self.model, name, member)))
        elif t == "list" and isinstance(value, (list, tuple)):
            self._max_len(md, len(value), path)
            for i, v in enumerate(value):
                self.walk(shape.member, v, _join(self.model, path, "", i))
        elif t == "map" and isinstance(value, dict):
            self._max_len(md, len(value), path)
            for k, v in value.items():
                self.walk(shape.key, k, f"{path} (key)")
                self.walk(shape.value, v, f"{path}.{k}")
        elif t in ("string", "blob") and isinstance(value, (str, bytes, bytearray)):
            self._max_len(md, len(value), path)
            enum = shape.enum if t == "string" else None
            if enum and value not in enum:
                raise _raise(self.model, False, path, f"Invalid value for parameter {path}, value: {value}, "
                                                      f"valid values: {', '.join(enum)}")
        elif t in ("integer", "long", "float", "double") and isinstance(value, bool):
            # botocore's validator lets True pass as an int (bool subclasses int); AWS does not.
            raise _raise(self.model, False, path, f"Invalid type for parameter {path}, value: {value}, "
                                                  f"type: bool, valid types: number")
        elif t in ("float", "double") and isinstance(value, float) and not math.isfinite(value):
            raise _raise(self.model, False, path, f"The value {value} for parameter {path} is invalid.")
        elif t in ("integer", "long", "float", "double"):
            if "max" in md and isinstance(value, (int, float)) and value > md["max"]:
                raise _raise(self.model, False, path, f"Invalid value for parameter {path}, value: {value}, "
                                                      f"valid max value: {md['max']}")

    def _max_len(self, md, length, path):
        if "max" in md and length > md["max"]:
            raise _raise(self.model, False, path, f"Invalid length for parameter {path}, value: {length}, "
                                                  f"valid max length: {md['max']}")
