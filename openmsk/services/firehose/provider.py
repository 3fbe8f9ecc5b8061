"""FirehoseProvider: the Firehose (`firehose`, JSON 1.1) subset broker logs can be delivered through:
DirectPut delivery streams with an S3 destination (buffering hints, prefix, GZIP or no compression),
Describe/List/Delete, PutRecord and PutRecordBatch. Delivery is backend.Deliverer's job."""
from __future__ import annotations

import asyncio
import base64
import json
import re

from ...api.core import Provider, RequestContext, ServiceException, handler
from .backend import FirehoseStore

NAME = re.compile(r"^[a-zA-Z0-9_.-]{1,64}$")
MAX_RECORD = 1000 * 1024
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
COMPRESSIONS = ("UNCOMPRESSED", "GZIP")


def invalid(message: str) -> ServiceException:
    return ServiceException("InvalidArgumentException", message, 400)


def stream_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:firehose:{region}:{account}:deliverystream/{name}"


class FirehoseProvider(Provider):
    service_name = "firehose"

    def __init__(self, store: FirehoseStore) -> None:
        self.store = store

    async def _run(self, fn, *args, **kw):
        return await asyncio.to_thread(fn, *args, **kw)

    async def _stream(self, ctx: RequestContext, name: str):
        row = await self._run(self.store.stream, ctx.region, name)
        if row is None:
            raise ServiceException("ResourceNotFoundException",
                                   f"Firehose {name} under account {ctx.account_id} not found.", 400)
        return row

    @handler("CreateDeliveryStream")
    async def create_delivery_stream(self, ctx: RequestContext, request: dict) -> dict:
        name = request["DeliveryStreamName"]
        if not NAME.match(name):
            raise invalid(f"1 validation error detected: Value '{name}' at 'deliveryStreamName' failed to satisfy "
                          "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
        if request.get("DeliveryStreamType", "DirectPut") != "DirectPut":
            raise invalid("openmsk supports DirectPut delivery streams only.")
        others = [k for k in request if k.endswith("DestinationConfiguration") and k not in
                  ("S3DestinationConfiguration", "ExtendedS3DestinationConfiguration")]
        s3 = [k for k in ("S3DestinationConfiguration", "ExtendedS3DestinationConfiguration") if k in request]
        if others:
            raise invalid(f"openmsk supports S3 destinations only ({others[0]} given).")
        if len(s3) != 1:
            raise invalid("Exactly one destination configuration must be specified.")
        dest = request[s3[0]]
        if not dest["BucketARN"].startswith("arn:aws:s3:::") or len(dest["BucketARN"]) <= len("arn:aws:s3:::"):
            raise invalid(f"Invalid BucketARN: {dest['BucketARN']}")
        compression = dest.get("CompressionFormat", "UNCOMPRESSED")
        if compression not in COMPRESSIONS:
            raise invalid(f"openmsk supports CompressionFormat {' and '.join(COMPRESSIONS)} only.")
        hints = {"SizeInMBs": 5, "IntervalInSeconds": 300, **(dest.get("BufferingHints") or {})}
        if not 1 <= hints["SizeInMBs"] <= 128 or not 0 <= hints["IntervalInSeconds"] <= 900:
            raise invalid("BufferingHints: SizeInMBs must be 1-128 and IntervalInSeconds 0-900.")
        config = {"Kind": s3[0], "RoleARN": dest.get("RoleARN"), "BucketARN": dest["BucketARN"],
                  "Prefix": dest.get("Prefix") or "", "BufferingHints": hints, "CompressionFormat": compression}
        tags = {t["Key"]: t.get("Value", "") for t in request.get("Tags") or []}
        if not await self._run(self.store.create, ctx.region, name, config, tags):
            raise ServiceException("ResourceInUseException",
                                   f"Firehose {name} under accountId {ctx.account_id} already exists", 400)
        return {"DeliveryStreamARN": stream_arn(ctx.region, ctx.account_id, name)}

    @handler("DescribeDeliveryStream")
    async def describe_delivery_stream(self, ctx: RequestContext, request: dict) -> dict:
        row = await self._stream(ctx, request["DeliveryStreamName"])
        config = json.loads(row["config"])
        s3 = {"RoleARN": config.get("RoleARN") or f"arn:aws:iam::{ctx.account_id}:role/firehose",
              "BucketARN": config["BucketARN"], "Prefix": config["Prefix"], "BufferingHints": config["BufferingHints"],
              "CompressionFormat": config["CompressionFormat"],
              "EncryptionConfiguration": {"NoEncryptionConfig": "NoEncryption"}}
        destination = {"DestinationId": "destinationId-000000000001", "S3DestinationDescription": s3}
        if config["Kind"] == "ExtendedS3DestinationConfiguration":
            destination["ExtendedS3DestinationDescription"] = s3
        desc = {"DeliveryStreamName": row["name"], "DeliveryStreamARN": stream_arn(ctx.region, ctx.account_id, row["name"]),
                "DeliveryStreamStatus": "ACTIVE", "DeliveryStreamType": "DirectPut", "VersionId": "1",
                "CreateTimestamp": row["created"], "Destinations": [destination], "HasMoreDestinations": False}
        if row["failure"]:
            desc["FailureDescription"] = {"Type": "UNKNOWN_ERROR", "Details": row["failure"]}
        return {"DeliveryStreamDescription": desc}

    @handler("ListDeliveryStreams")
    async def list_delivery_streams(self, ctx: RequestContext, request: dict) -> dict:
        names = [r["name"] for r in await self._run(self.store.streams, ctx.region)]
        if request.get("DeliveryStreamType") not in (None, "DirectPut"):
            names = []
        start = request.get("ExclusiveStartDeliveryStreamName")
        if start:
            names = [n for n in names if n > start]
        limit = request.get("Limit") or 10
        return {"DeliveryStreamNames": names[:limit], "HasMoreDeliveryStreams": len(names) > limit}

    @handler("DeleteDeliveryStream")
    async def delete_delivery_stream(self, ctx: RequestContext, request: dict) -> dict:
        await self._stream(ctx, request["DeliveryStreamName"])
        await self._run(self.store.delete, ctx.region, request["DeliveryStreamName"])
        return {}

    @handler("PutRecord")
    async def put_record(self, ctx: RequestContext, request: dict) -> dict:
        data = request["Record"]["Data"]
        if len(data) > MAX_RECORD:
            raise invalid(f"1 validation error detected: Value at 'record.data' failed to satisfy constraint: Member "
                          f"must have length less than or equal to {MAX_RECORD}")
        await self._stream(ctx, request["DeliveryStreamName"])
        [rid] = await self._run(self.store.put_records, ctx.region, request["DeliveryStreamName"], [data])
        return {"RecordId": _record_id(rid), "Encrypted": False}

    @handler("PutRecordBatch")
    async def put_record_batch(self, ctx: RequestContext, request: dict) -> dict:
        records = [r["Data"] for r in request["Records"]]
        if len(records) > MAX_BATCH_RECORDS:
            raise invalid(f"1 validation error detected: Value at 'records' failed to satisfy constraint: Member must "
                          f"have length less than or equal to {MAX_BATCH_RECORDS}")
        if sum(len(r) for r in records) > MAX_BATCH_BYTES:
            raise invalid(f"Records size exceeds {MAX_BATCH_BYTES} bytes limit.")
        await self._stream(ctx, request["DeliveryStreamName"])
        entries = []
        ok = [r for r in records if len(r) <= MAX_RECORD]
        ids = iter(await self._run(self.store.put_records, ctx.region, request["DeliveryStreamName"], ok))
        for r in records:
            if len(r) > MAX_RECORD:
                entries.append({"ErrorCode": "ServiceUnavailableException",
                                "ErrorMessage": f"Record size exceeds {MAX_RECORD} bytes."})
            else:
                entries.append({"RecordId": _record_id(next(ids))})
        return {"FailedPutCount": sum(1 for e in entries if "ErrorCode" in e), "Encrypted": False,
                "RequestResponses": entries}


def _record_id(rid: int) -> str:
    return base64.b16encode(rid.to_bytes(8, "big")).decode().lower() * 3 + "0" * 8
