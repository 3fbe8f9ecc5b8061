"""EC2's Describe* filters: values within one filter are ORed, filters are ANDed; `tag:<key>` and
`tag-key` filter on tags; values may use `*` and `?` wildcards, as EC2 allows."""
from __future__ import annotations

import fnmatch
from typing import Callable

from ...api.core import ServiceException


def _tags(doc: dict) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in doc.get("Tags") or []}


def matches(doc: dict, filters: list[dict] | None, fields: dict[str, Callable[[dict], object]]) -> bool:
    for flt in filters or []:
        name, values = flt.get("Name") or "", flt.get("Values") or []
        if name.startswith("tag:"):
            tags = _tags(doc)
            actual = [tags[name[4:]]] if name[4:] in tags else []
        elif name == "tag-key":
            actual = list(_tags(doc))
        elif name == "tag-value":
            actual = list(_tags(doc).values())
        elif name in fields:
            actual = fields[name](doc)
        else:
            raise ServiceException("InvalidParameterValue", f"The filter '{name}' is invalid", 400)
        actual = actual if isinstance(actual, list) else [actual]
        actual = [str(a).lower() if isinstance(a, bool) else "" if a is None else str(a) for a in actual]
        if not any(fnmatch.fnmatchcase(a, v) for a in actual for v in values):
            return False
    return True


def tags_of(request: dict, resource_type: str) -> list[dict]:
    """Tags of TagSpecifications for one resource type (EC2 ignores none: other types are an error)."""
    tags = []
    for spec in request.get("TagSpecifications") or []:
        if spec.get("ResourceType") != resource_type:
            raise ServiceException("InvalidParameterValue", f"'{spec.get('ResourceType')}' is not a valid taggable "
                                   f"resource type for this operation.", 400)
        tags.extend({"Key": t["Key"], "Value": t.get("Value", "")} for t in spec.get("Tags") or [])
    return tags
