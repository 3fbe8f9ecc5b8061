"""LogsProvider: the CloudWatch Logs (`logs`, JSON 1.1) subset openmsk's broker logs are read with.

Groups, streams, PutLogEvents with CloudWatch's acceptance rules (chronological batches, 24 h span, too
new/too old/expired events rejected by index), GetLogEvents with forward/backward tokens, FilterLogEvents
with filter patterns (patterns.py) and pagination, retention enforced (a background sweep plus a cut-off
on every read), tags. The store is services/logs/backend.py; every store call runs in a worker thread so
a long scan never blocks the event loop.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import re

from ...api.core import Provider, RequestContext, ServiceException, handler
from ...api.eventstream import EventStream
from ..periodic import PeriodicWork
from . import live_tail
from .backend import DAY_MS, LogStore, now_ms
from .patterns import PatternError, compile_pattern

log = logging.getLogger(__name__)

RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
GROUP_NAME = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_EVENTS = 10_000
MAX_TAGS = 50
TOO_NEW_MS = 2 * 3600 * 1000
TOO_OLD_MS = 14 * DAY_MS
FAR_FUTURE = 2 ** 62
_TOKEN = re.compile(r"^([fb])/(\d{13})(\d{20})$")


def invalid(message: str) -> ServiceException:
    return ServiceException("InvalidParameterException", message, 400)


def not_found(message: str) -> ServiceException:
    return ServiceException("ResourceNotFoundException", message, 400)


def filter_scan_events() -> int:
    """Events one FilterLogEvents call with a pattern looks at before it answers with a nextToken."""
    try:
        return max(1, int(os.environ.get("OPENMSK_LOGS_FILTER_SCAN_EVENTS", "250000")))
    except ValueError:
        return 250_000


def retention_interval() -> float:
    try:
        return max(1.0, float(os.environ.get("OPENMSK_LOGS_RETENTION_INTERVAL", "60")))
    except ValueError:
        return 60.0


class RetentionSweeper(PeriodicWork):
    """Background service: removes expired events every `interval` seconds."""

    def __init__(self, store: LogStore, interval: float) -> None:
        super().__init__("logs retention", store.expire, interval, report=_report_expired)
        self.store = store


def _report_expired(removed: int) -> None:
    if removed:
        log.info("logs retention removed %d expired events", removed)


def group_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:logs:{region}:{account}:log-group:{name}"


def _position_token(kind: str, ts: int, event_id: int) -> str:
    return f"{kind}/{max(0, min(ts, 10 ** 13 - 1)):013d}{event_id:020d}"


def _encode(ts: int, event_id: int) -> str:
    return base64.urlsafe_b64encode(f"{ts}:{event_id}".encode()).decode()


def _decode(token: str) -> tuple[int, int]:
    try:
        ts, event_id = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        return int(ts), int(event_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid("The specified nextToken is invalid.") from None


class LogsProvider(Provider):
    service_name = "logs"

    def __init__(self, store: LogStore) -> None:
        self.store = store
        self._expiring: set[asyncio.Task] = set()        # PutRetentionPolicy's removals still running

    async def _run(self, fn, *args, **kw):
        return await asyncio.to_thread(fn, *args, **kw)

    # -- groups --------------------------------------------------------------------------------------
    def _check_group_name(self, name: str) -> None:
        if not GROUP_NAME.match(name):
            raise invalid(f"1 validation error detected: Value '{name}' at 'logGroupName' failed to satisfy "
                          "constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+")

    async def _group(self, ctx: RequestContext, request: dict, required: bool = True):
        name, ident = request.get("logGroupName"), request.get("logGroupIdentifier")
        if name and ident:
            raise invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
        if ident:
            name = ident.split(":log-group:", 1)[1].removesuffix(":*") if ident.startswith("arn:") and \
                ":log-group:" in ident else ident
        if not name:
            raise invalid("Either logGroupName or logGroupIdentifier must be specified.")
        group = await self._run(self.store.group, ctx.region, name)
        if group is None and required:
            raise not_found("The specified log group does not exist.")
        return group

    def _group_view(self, ctx: RequestContext, g, stored: int) -> dict:
        arn = group_arn(ctx.region, ctx.account_id, g["name"])
        out = {"logGroupName": g["name"], "creationTime": g["created"], "metricFilterCount": 0,
               "arn": arn + ":*", "logGroupArn": arn, "storedBytes": stored, "logGroupClass": g["class"]}
        if g["retention"] is not None:
            out["retentionInDays"] = g["retention"]
        if g["kms"]:
            out["kmsKeyId"] = g["kms"]
        return out

    @handler("CreateLogGroup")
    async def create_log_group(self, ctx: RequestContext, request: dict) -> dict:
        name = request["logGroupName"]
        self._check_group_name(name)
        tags = request.get("tags") or {}
        if len(tags) > MAX_TAGS:
            raise invalid(f"A log group can have at most {MAX_TAGS} tags.")
        created = await self._run(self.store.create_group, ctx.region, name, kms=request.get("kmsKeyId"),
                                  cls=request.get("logGroupClass") or "STANDARD", tags=tags)
        if not created:
            raise ServiceException("ResourceAlreadyExistsException", "The specified log group already exists", 400)
        return {}

    @handler("DeleteLogGroup")
    async def delete_log_group(self, ctx: RequestContext, request: dict) -> dict:
        group = await self._group(ctx, request)
        await self._run(self.store.delete_group, group["id"])
        return {}

    @handler("DescribeLogGroups")
    async def describe_log_groups(self, ctx: RequestContext, request: dict) -> dict:
        prefix, pattern = request.get("logGroupNamePrefix") or "", request.get("logGroupNamePattern") or ""
        if prefix and pattern:
            raise invalid("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
        rows = await self._run(self.store.groups, ctx.region, prefix, pattern)
        idents = request.get("logGroupIdentifiers")
        if idents:
            names = {i.split(":log-group:", 1)[1].removesuffix(":*") if ":log-group:" in i else i for i in idents}
            rows = [r for r in rows if r["name"] in names]
        if request.get("logGroupClass"):
            rows = [r for r in rows if r["class"] == request["logGroupClass"]]
        limit = request.get("limit") or 50
        if limit > 50:
            raise invalid("1 validation error detected: Value at 'limit' failed to satisfy constraint: Member must "
                          "have value less than or equal to 50")
        after = request.get("nextToken")
        if after:
            after = _decode_name(after)
            rows = [r for r in rows if r["name"] > after]
        page = rows[:limit]
        out = {"logGroups": [self._group_view(ctx, g, await self._run(self.store.group_stored_bytes, g["id"]))
                             for g in page]}
        if len(rows) > limit:
            out["nextToken"] = _encode_name(page[-1]["name"])
        return out

    @handler("PutRetentionPolicy")
    async def put_retention_policy(self, ctx: RequestContext, request: dict) -> dict:
        days = request["retentionInDays"]
        if days not in RETENTION_DAYS:
            raise invalid(f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy "
                          f"constraint: Member must satisfy enum value set: [{', '.join(map(str, RETENTION_DAYS))}]")
        group = await self._group(ctx, request)
        await self._run(self.store.update_group, group["id"], retention=days)
        # Reads cut at the retention at once (_window); removing what expired can take a while on a
        # week of a busy broker's log, so it runs on after the answer, as CloudWatch's does.
        task = asyncio.create_task(self._run(self.store.expire, None, group["id"]))
        self._expiring.add(task)
        task.add_done_callback(self._expired)
        return {}

    def _expired(self, task: asyncio.Task) -> None:
        self._expiring.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("removing expired log events failed", exc_info=task.exception())

    @handler("DeleteRetentionPolicy")
    async def delete_retention_policy(self, ctx: RequestContext, request: dict) -> dict:
        group = await self._group(ctx, request)
        await self._run(self.store.update_group, group["id"], retention=None)
        return {}

    # -- tags ----------------------------------------------------------------------------------------
    async def _tagged_group(self, ctx: RequestContext, arn: str):
        m = re.match(r"^arn:aws[\w-]*:logs:([^:]*):(\d{12}):log-group:([^:]+)(:\*)?$", arn or "")
        if m is None:
            raise invalid(f"Invalid resource ARN: {arn}")
        if m.group(1) != ctx.region or m.group(2) != ctx.account_id:
            raise not_found(f"The specified resource {arn} does not exist.")
        group = await self._run(self.store.group, ctx.region, m.group(3))
        if group is None:
            raise not_found("The specified log group does not exist.")
        return group

    @handler("TagResource")
    async def tag_resource(self, ctx: RequestContext, request: dict) -> dict:
        group = await self._tagged_group(ctx, request["resourceArn"])
        tags = {**json.loads(group["tags"]), **(request.get("tags") or {})}
        if len(tags) > MAX_TAGS:
            raise ServiceException("TooManyTagsException", f"A resource can have at most {MAX_TAGS} tags.", 400,
                                   resourceName=request["resourceArn"])
        await self._run(self.store.update_group, group["id"], tags=tags)
        return {}

    @handler("UntagResource")
    async def untag_resource(self, ctx: RequestContext, request: dict) -> dict:
        group = await self._tagged_group(ctx, request["resourceArn"])
        tags = {k: v for k, v in json.loads(group["tags"]).items() if k not in set(request.get("tagKeys") or [])}
        await self._run(self.store.update_group, group["id"], tags=tags)
        return {}

    @handler("ListTagsForResource")
    async def list_tags_for_resource(self, ctx: RequestContext, request: dict) -> dict:
        group = await self._tagged_group(ctx, request["resourceArn"])
        return {"tags": json.loads(group["tags"])}

    # -- streams -------------------------------------------------------------------------------------
    @handler("CreateLogStream")
    async def create_log_stream(self, ctx: RequestContext, request: dict) -> dict:
        name = request["logStreamName"]
        if ":" in name or "*" in name:
            raise invalid(f"1 validation error detected: Value '{name}' at 'logStreamName' failed to satisfy "
                          "constraint: Member must satisfy regular expression pattern: [^:*]*")
        group = await self._group(ctx, request)
        if not await self._run(self.store.create_stream, group["id"], name):
            raise ServiceException("ResourceAlreadyExistsException", "The specified log stream already exists", 400)
        return {}

    @handler("DeleteLogStream")
    async def delete_log_stream(self, ctx: RequestContext, request: dict) -> dict:
        group = await self._group(ctx, request)
        stream = await self._run(self.store.stream, group["id"], request["logStreamName"])
        if stream is None:
            raise not_found("The specified log stream does not exist.")
        await self._run(self.store.delete_stream, stream["id"])
        return {}

    @handler("DescribeLogStreams")
    async def describe_log_streams(self, ctx: RequestContext, request: dict) -> dict:
        group = await self._group(ctx, request)
        by_time = request.get("orderBy") == "LastEventTime"
        prefix = request.get("logStreamNamePrefix") or ""
        if by_time and prefix:
            raise invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        limit = request.get("limit") or 50
        if limit > 50:
            raise invalid("1 validation error detected: Value at 'limit' failed to satisfy constraint: Member must "
                          "have value less than or equal to 50")
        rows = await self._run(self.store.streams, group["id"], prefix, by_time, bool(request.get("descending")))
        start = 0
        if request.get("nextToken"):
            start = _decode_offset(request["nextToken"])
        page = rows[start:start + limit]
        arn = group_arn(ctx.region, ctx.account_id, group["name"])
        out = {"logStreams": [_stream_view(arn, s) for s in page]}
        if start + limit < len(rows):
            out["nextToken"] = _encode_name(str(start + limit))
        return out

    async def _stream(self, ctx: RequestContext, request: dict):
        group = await self._group(ctx, request)
        stream = await self._run(self.store.stream, group["id"], request["logStreamName"])
        if stream is None:
            raise not_found("The specified log stream does not exist.")
        return group, stream

    # -- events --------------------------------------------------------------------------------------
    @handler("PutLogEvents")
    async def put_log_events(self, ctx: RequestContext, request: dict) -> dict:
        events = request["logEvents"]
        if len(events) > MAX_EVENTS:
            raise invalid(f"The batch of log events in a single PutLogEvents request cannot contain more than "
                          f"{MAX_EVENTS} events.")
        size = sum(len(e["message"].encode("utf-8", "replace")) + EVENT_OVERHEAD for e in events)
        if size > MAX_BATCH_BYTES:
            raise invalid(f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}")
        stamps = [e["timestamp"] for e in events]
        if any(b < a for a, b in zip(stamps, stamps[1:])):
            raise invalid("Log events in a single PutLogEvents request must be in chronological order.")
        if stamps and stamps[-1] - stamps[0] > DAY_MS:
            raise invalid("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
        group, stream = await self._stream(ctx, request)
        now = now_ms()
        rejected, accepted = {}, []
        retention_cutoff = now - group["retention"] * DAY_MS if group["retention"] is not None else None
        for i, e in enumerate(events):
            ts = e["timestamp"]
            if ts > now + TOO_NEW_MS:
                rejected.setdefault("tooNewLogEventStartIndex", i)
            elif ts < now - TOO_OLD_MS:
                rejected["tooOldLogEventEndIndex"] = i
            elif retention_cutoff is not None and ts < retention_cutoff:
                rejected["expiredLogEventEndIndex"] = i
            else:
                accepted.append((ts, e["message"]))
        await self._run(self.store.ingest, group["id"], stream["id"], accepted)
        out = {"nextSequenceToken": f"{now:056d}"}
        if rejected:
            out["rejectedLogEventsInfo"] = rejected
        return out

    def _window(self, group, request: dict) -> tuple[int, int]:
        start = request.get("startTime") or 0
        end = request.get("endTime") if request.get("endTime") is not None else FAR_FUTURE
        if group["retention"] is not None:
            start = max(start, now_ms() - group["retention"] * DAY_MS)
        return start, end

    @handler("GetLogEvents")
    async def get_log_events(self, ctx: RequestContext, request: dict) -> dict:
        group, stream = await self._stream(ctx, request)
        limit = request.get("limit") or 10_000
        if limit > 10_000:
            raise invalid("1 validation error detected: Value at 'limit' failed to satisfy constraint: Member must "
                          "have value less than or equal to 10000")
        start, end = self._window(group, request)
        after = before = None
        token = request.get("nextToken")
        if token:
            m = _TOKEN.match(token)
            if m is None:
                raise invalid("The specified nextToken is invalid.")
            pos = (int(m.group(2)), int(m.group(3)))
            after, before = (pos, None) if m.group(1) == "f" else (None, pos)
        newest = not token and not request.get("startFromHead")
        rows = await self._run(self.store.read_stream, stream["id"], start, end, after=after, before=before,
                               limit=limit, newest=newest)
        if rows:
            fwd, back = (rows[-1]["ts"], rows[-1]["id"]), (rows[0]["ts"], rows[0]["id"])
        else:
            fwd = after or before or (start, 0)
            back = before or after or (start, 0)
        return {"events": [{"timestamp": r["ts"], "message": r["message"], "ingestionTime": r["ingest"]} for r in rows],
                "nextForwardToken": _position_token("f", *fwd), "nextBackwardToken": _position_token("b", *back)}

    @handler("FilterLogEvents")
    async def filter_log_events(self, ctx: RequestContext, request: dict) -> dict:
        group = await self._group(ctx, request)
        names, prefix = request.get("logStreamNames"), request.get("logStreamNamePrefix")
        if names and prefix:
            raise invalid("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
        limit = request.get("limit") or 10_000
        if limit > 10_000:
            raise invalid("1 validation error detected: Value at 'limit' failed to satisfy constraint: Member must "
                          "have value less than or equal to 10000")
        try:
            where, args = compile_pattern(request.get("filterPattern"))
        except PatternError as e:
            raise invalid(f"Invalid filter pattern: {e}") from None
        streams = await self._run(self.store.streams, group["id"], prefix or "")
        if names:
            streams = [s for s in streams if s["name"] in set(names)]
            if not streams:
                raise not_found("The specified log stream does not exist.")
        stream_ids = [s["id"] for s in streams] if (names or prefix) else None
        start, end = self._window(group, request)
        after = _decode(request["nextToken"]) if request.get("nextToken") else None
        rows, bound = [], None
        if stream_ids != []:
            # A pattern that matches rarely would scan a week of events in one call, holding a worker thread
            # (shared by every service) for minutes. As CloudWatch does, one call searches a bounded slice
            # and returns a nextToken (with few or no events) to go on from; the CLI and boto3's paginator
            # follow it.
            if where:
                bound = await self._run(self.store.scan_bound, group["id"], stream_ids, start, end, after,
                                        filter_scan_events())
            rows = await self._run(self.store.filter_events, group["id"], stream_ids, start, end, after, where, args,
                                   limit + 1, upto=bound)
        more = len(rows) > limit
        rows = rows[:limit]
        out = {"events": [{"logStreamName": r["stream"], "timestamp": r["ts"], "message": r["message"],
                           "ingestionTime": r["ingest"], "eventId": f"{r['ts']:013d}{r['id']:020d}"} for r in rows],
               "searchedLogStreams": [{"logStreamName": s["name"], "searchedCompletely": not more and bound is None}
                                      for s in streams]}
        if more:
            out["nextToken"] = _encode(rows[-1]["ts"], rows[-1]["id"])
        elif bound is not None:
            out["nextToken"] = _encode(*bound)
        return out

    @handler("StartLiveTail")
    async def start_live_tail(self, ctx: RequestContext, request: dict) -> dict:
        """A live tail session (live_tail.py); checked up front so a bad request is an error response,
        not a stream that ends at once."""
        idents = request["logGroupIdentifiers"]
        names, prefixes = request.get("logStreamNames"), request.get("logStreamNamePrefixes")
        if names and prefixes:
            raise invalid("logStreamNames and logStreamNamePrefixes are mutually exclusive parameters.")
        if (names or prefixes) and len(idents) != 1:
            raise invalid("If you specify logStreamNames or logStreamNamePrefixes, you must specify exactly "
                          "one log group in logGroupIdentifiers.")
        groups = {}
        for ident in idents:
            if ident.startswith("arn:") and f":{ctx.region}:" not in ident.split(":log-group:", 1)[0] + ":":
                raise invalid(f"The log group {ident} is not in the region {ctx.region}.")
            group = await self._group(ctx, {"logGroupIdentifier": ident})
            groups[group["id"]] = ident
        try:
            where, args = compile_pattern(request.get("logEventFilterPattern"))
        except PatternError as e:
            raise invalid(f"Invalid filter pattern: {e}") from None
        streams_of = None
        if names or prefixes:          # looked up on every update: a stream created later is tailed too
            group_id = next(iter(groups))

            def tailed_streams() -> list[int]:
                return [st["id"] for st in self.store.streams(group_id) if (names and st["name"] in names)
                        or (prefixes and st["name"].startswith(tuple(prefixes)))]
            streams_of = tailed_streams
        events = live_tail.session(self.store, ctx.request_id, request, groups, streams_of, where, args)
        return {"responseStream": EventStream(events)}


def _stream_view(group_arn_: str, s) -> dict:
    out = {"logStreamName": s["name"], "creationTime": s["created"], "arn": f"{group_arn_}:log-stream:{s['name']}",
           "storedBytes": s["stored"]}
    for key, col in (("firstEventTimestamp", "first_ts"), ("lastEventTimestamp", "last_ts"),
                     ("lastIngestionTime", "last_ingest")):
        if s[col] is not None:
            out[key] = s[col]
    return out


def _encode_name(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _decode_name(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid("The specified nextToken is invalid.") from None


def _decode_offset(token: str) -> int:
    try:
        value = int(_decode_name(token))
    except ValueError:
        raise invalid("The specified nextToken is invalid.") from None
    if value < 0:
        raise invalid("The specified nextToken is invalid.")
    return value

