"""Helpers shared by the service providers: pagination tokens and ARN parsing."""
from __future__ import annotations

import base64
import json
from typing import Callable, Sequence

from ..api.core import ServiceException


def page_window(request: dict, *, default_max: int = 100,
                bad_token: Callable[[str], ServiceException]) -> tuple[int, int]:
    """(offset, limit) a MaxResults/NextToken request asks for."""
    start = 0
    token = request.get("NextToken")
    if token:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(token.encode()).decode())["offset"])
            if start < 0:
                raise ValueError
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError):
            raise bad_token(token)
    return start, request.get("MaxResults") or default_max


def page_result(page: list, key: str, start: int, limit: int, total: int) -> dict:
    """The response of one page; NextToken only when more remain (the CLI follows it and aborts on a
    repeated token)."""
    result = {key: page}
    if start + limit < total:
        result["NextToken"] = base64.urlsafe_b64encode(json.dumps({"offset": start + limit}).encode()).decode()
    return result


def paginate(items: Sequence, request: dict, key: str, *, default_max: int = 100,
             bad_token: Callable[[str], ServiceException]) -> dict:
    """Slice `items` by MaxResults/NextToken."""
    start, limit = page_window(request, default_max=default_max, bad_token=bad_token)
    return page_result(list(items[start:start + limit]), key, start, limit, len(items))


def arn_region(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" else None
