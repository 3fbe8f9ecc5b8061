"""StartLiveTail: a CloudWatch Logs live tail session as an event stream (api/eventstream.py).

As CloudWatch does: a `sessionStart` event echoing the session's filters, then about once a second a
`sessionUpdate` with the events ingested since the last one that match (at most 500; beyond that the
update is marked `sampled` and the surplus skipped, so a tail never falls behind a busy broker), until
the client closes the stream or the session reaches its maximum length (3 hours; a
`SessionTimeoutException` event then ends it). Events are read by ingestion order (the store's event
ids), so a late-timestamped batch still shows, once. Store reads run in a worker thread.
"""
from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import AsyncIterator

from ...api.core import ServiceException

UPDATE_INTERVAL = 1.0
MAX_EVENTS_PER_UPDATE = 500
READ_LIMIT = MAX_EVENTS_PER_UPDATE + 1


def session_seconds() -> float:
    try:
        return float(os.environ.get("OPENMSK_LIVE_TAIL_SECONDS", 3 * 3600))
    except ValueError:
        return 3 * 3600.0


async def session(store, request_id: str, request: dict, groups: dict[int, str], streams_of,
                  where: str, where_args: list) -> AsyncIterator[tuple[str, dict]]:
    """``groups``: store group id -> the identifier the caller used (echoed in every event);
    ``streams_of()``: the stream ids to tail (None: every stream of the groups)."""
    cursor = await asyncio.to_thread(store.last_event_id)      # only what arrives from now on
    start = {"requestId": request_id, "sessionId": str(uuid.uuid4()),
             "logGroupIdentifiers": request["logGroupIdentifiers"]}
    for key in ("logStreamNames", "logStreamNamePrefixes", "logEventFilterPattern"):
        if request.get(key):
            start[key] = request[key]
    yield "sessionStart", start
    ends = time.monotonic() + session_seconds()
    while time.monotonic() < ends:
        await asyncio.sleep(UPDATE_INTERVAL)
        rows, top = await asyncio.to_thread(_read, store, cursor, list(groups), streams_of, where, where_args)
        sampled = len(rows) > MAX_EVENTS_PER_UPDATE
        # Past everything looked at: a non-matching row is not scanned again, and beyond 500 a burst is
        # skipped (sampled), so a tail shows the present, not a backlog.
        cursor = top
        results = [{"logStreamName": r["stream"], "logGroupIdentifier": groups[r["group_id"]],
                    "message": r["message"], "timestamp": r["ts"], "ingestionTime": r["ingest"]}
                   for r in rows[:MAX_EVENTS_PER_UPDATE]]
        yield "sessionUpdate", {"sessionMetadata": {"sampled": sampled}, "sessionResults": results}
    raise ServiceException("SessionTimeoutException", "Live tail session has reached its maximum duration.")


def _read(store, cursor: int, group_ids: list[int], streams_of, where: str, where_args: list) -> tuple[list, int]:
    """(matching rows after ``cursor`` up to READ_LIMIT, the last event id when the read began)."""
    top = store.last_event_id()
    stream_ids = streams_of() if streams_of is not None else None
    if stream_ids == []:
        return [], top
    rows = store.events_after(cursor, group_ids, stream_ids, where, where_args, READ_LIMIT, upto=top)
    return rows, top
