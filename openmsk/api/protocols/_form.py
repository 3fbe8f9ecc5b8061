"""Form-urlencoded input and XML output, shared by the query and ec2 protocols.

Input keys (``FormDecoder``):
  query: member ``locationName`` else name; lists ``Key.member.N`` (``Key.N`` if flattened),
         maps ``Key.entry.N.key/value``; an empty list is sent as ``Key=``.
  ec2:   ``queryName`` else capitalised ``locationName`` else name; lists always ``Key.N``.
Output (``XMLEncoder``): elements named by ``locationName``; lists wrap children named by
the list member's ``locationName`` (``member`` for query, ``item`` in the ec2 model).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from ._common import (ProtocolParseError, ec2_query_name, scalar_from_text, scalar_to_text,
                      wire_name)


def parse_form(raw_query: str, body: bytes) -> dict[str, str]:
    try:
        text = body.decode("utf-8") if body else ""
    except UnicodeDecodeError as e:
        raise ProtocolParseError(f"Request body is not valid UTF-8: {e}") from e
    params: dict[str, str] = {}
    for part in (raw_query, text):
        if part:
            for key, value in parse_qsl(part, keep_blank_values=True):
                if key in params:
                    # Which of the two values did the caller mean? AWS refuses rather than guesses.
                    raise ProtocolParseError(f"The parameter {key[:64]} is given more than once")
                params[key] = value
    return params


class FormDecoder:
    def __init__(self, ec2: bool):
        self.ec2 = ec2

    def decode_input(self, shape, params: dict[str, str]) -> dict:
        if shape is None:
            return {}
        prefixes = set()
        for key in params:
            parts = key.split(".")
            prefixes.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        self._params, self._prefixes = params, prefixes
        return self._struct(shape, "")

    def _key(self, name, member):
        return ec2_query_name(name, member) if self.ec2 else wire_name(name, member)

    def _struct(self, shape, prefix):
        out = {}
        for name, member in shape.members.items():
            key = self._key(name, member)
            key = f"{prefix}.{key}" if prefix else key
            if key in self._prefixes:
                value = self._value(member, key)
                if value is not None:
                    out[name] = value
        return out

    def _value(self, shape, key) -> Any:
        t = shape.type_name
        if t == "structure":
            return self._struct(shape, key)
        if t == "list":
            if self._params.get(key) == "":
                return []
            if self.ec2 or shape.serialization.get("flattened"):
                base = key
            else:
                base = f"{key}.{shape.member.serialization.get('name', 'member')}"
            return [self._value(shape.member, k) for k in self._indexed(base)]
        if t == "map":
            if self._params.get(key) == "":
                return {}
            base = key if shape.serialization.get("flattened") else f"{key}.entry"
            kname = shape.key.serialization.get("name", "key")
            vname = shape.value.serialization.get("name", "value")
            return {self._params.get(f"{k}.{kname}", ""): self._value(shape.value, f"{k}.{vname}")
                    for k in self._indexed(base)}
        if key not in self._params:
            return None
        return scalar_from_text(shape, self._params[key])

    def _indexed(self, base):
        i, keys = 1, []
        while f"{base}.{i}" in self._prefixes:
            keys.append(f"{base}.{i}")
            i += 1
        return keys


class XMLEncoder:
    def __init__(self, timestamp_format: str = "iso8601"):
        self.timestamp_format = timestamp_format

    def members(self, shape, value: dict) -> str:
        out = []
        for name, member in shape.members.items():
            v = value.get(name)
            if v is not None and not member.serialization.get("xmlAttribute"):
                out.append(self.element(member, v, self._tag(name, member)))
        return "".join(out)

    @staticmethod
    def _tag(name, member):
        if member.type_name == "list" and member.serialization.get("flattened"):
            return member.member.serialization.get("name", wire_name(name, member))
        return wire_name(name, member)

    def element(self, shape, value, tag: str) -> str:
        t = shape.type_name
        if t == "structure":
            return f"<{tag}>{self.members(shape, value)}</{tag}>"
        if t == "list":
            if shape.serialization.get("flattened"):
                return "".join(self.element(shape.member, v, tag) for v in value)
            inner = shape.member.serialization.get("name", "member")
            return f"<{tag}>{''.join(self.element(shape.member, v, inner) for v in value)}</{tag}>"
        if t == "map":
            kname = shape.key.serialization.get("name", "key")
            vname = shape.value.serialization.get("name", "value")
            pairs = [self.element(shape.key, k, kname) + self.element(shape.value, v, vname)
                     for k, v in value.items()]
            if shape.serialization.get("flattened"):
                return "".join(f"<{tag}>{p}</{tag}>" for p in pairs)
            return f"<{tag}>{''.join(f'<entry>{p}</entry>' for p in pairs)}</{tag}>"
        return f"<{tag}>{escape(scalar_to_text(shape, value, self.timestamp_format))}</{tag}>"
