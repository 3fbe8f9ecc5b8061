"""S3Provider: the S3 subset `aws s3 cp/ls/sync` and boto3 need (REST-XML, api/protocols/rest_xml.py).

Buckets (create/head/list/delete/location), objects (put/get with ranges/head/delete/delete many),
ListObjectsV2 with prefix, delimiter, continuation and url encoding, multipart uploads (create, upload
part, complete with S3's part rules, abort, list parts/uploads). S3's error codes and statuses.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import urllib.parse

from ...api.core import Provider, RequestContext, ServiceException, handler
from .backend import ObjectStore

OWNER = {"DisplayName": "openmsk", "ID": "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a"}
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MIN_PART = 5 * 1024 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _ts(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(seconds), dt.timezone.utc)


def no_such_bucket(name: str) -> ServiceException:
    return ServiceException("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=name)


def no_such_key(key: str) -> ServiceException:
    return ServiceException("NoSuchKey", "The specified key does not exist.", 404, Key=key)


def no_such_upload(upload_id: str) -> ServiceException:
    return ServiceException("NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or "
                            "the upload may have been aborted or completed.", 404, UploadId=upload_id)


def invalid_argument(message: str, name: str | None = None, value=None) -> ServiceException:
    fields = {"ArgumentName": name, "ArgumentValue": value} if name else {}
    return ServiceException("InvalidArgument", message, 400, **fields)


class S3Provider(Provider):
    service_name = "s3"

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def _run(self, fn, *args, **kw):
        return await asyncio.to_thread(fn, *args, **kw)

    async def _bucket(self, name: str):
        row = await self._run(self.store.bucket, name)
        if row is None:
            raise no_such_bucket(name)
        return row

    # -- buckets -------------------------------------------------------------------------------------
    @handler("ListBuckets")
    async def list_buckets(self, ctx: RequestContext, request: dict) -> dict:
        rows = await self._run(self.store.buckets)
        prefix = request.get("Prefix") or ""
        return {"Buckets": [{"Name": r["name"], "CreationDate": _ts(r["created"]), "BucketRegion": r["region"]}
                            for r in rows if r["name"].startswith(prefix)], "Owner": OWNER}

    @handler("CreateBucket")
    async def create_bucket(self, ctx: RequestContext, request: dict) -> dict:
        name = request["Bucket"]
        if not BUCKET_NAME.match(name) or ".." in name or re.match(r"^\d+\.\d+\.\d+\.\d+$", name):
            raise ServiceException("InvalidBucketName", "The specified bucket is not valid.", 400, BucketName=name)
        constraint = (request.get("CreateBucketConfiguration") or {}).get("LocationConstraint")
        if constraint and constraint != ctx.region:
            raise ServiceException("IllegalLocationConstraintException",
                                   f"The {constraint} location constraint is incompatible for the region specific "
                                   "endpoint this request was sent to.", 400)
        if not await self._run(self.store.create_bucket, name, ctx.region):
            raise ServiceException("BucketAlreadyOwnedByYou", "Your previous request to create the named bucket "
                                   "succeeded and you already own it.", 409, BucketName=name)
        return {"Location": f"/{name}"}

    @handler("HeadBucket")
    async def head_bucket(self, ctx: RequestContext, request: dict) -> dict:
        row = await self._bucket(request["Bucket"])
        return {"BucketRegion": row["region"]}

    @handler("GetBucketLocation")
    async def get_bucket_location(self, ctx: RequestContext, request: dict) -> dict:
        row = await self._bucket(request["Bucket"])
        return {} if row["region"] == "us-east-1" else {"LocationConstraint": row["region"]}   # us-east-1: empty

    @handler("DeleteBucket")
    async def delete_bucket(self, ctx: RequestContext, request: dict) -> dict:
        name = request["Bucket"]
        await self._bucket(name)
        if not await self._run(self.store.bucket_empty, name):
            raise ServiceException("BucketNotEmpty", "The bucket you tried to delete is not empty", 409, BucketName=name)
        await self._run(self.store.delete_bucket, name)
        return {}

    # -- objects -------------------------------------------------------------------------------------
    @handler("PutObject")
    async def put_object(self, ctx: RequestContext, request: dict) -> dict:
        await self._bucket(request["Bucket"])
        body = request.get("Body") or b""
        if isinstance(body, str):
            body = body.encode()
        _check_md5(request.get("ContentMD5"), body)
        out = await self._run(self.store.put_object, request["Bucket"], request["Key"], body,
                              request.get("ContentType"), request.get("Metadata"))
        return {"ETag": out["etag"]}

    async def _object(self, request: dict):
        await self._bucket(request["Bucket"])
        row = await self._run(self.store.object, request["Bucket"], request["Key"])
        if row is None:
            raise no_such_key(request["Key"])
        return row

    def _object_headers(self, row) -> dict:
        out = {"ETag": row["etag"], "LastModified": _ts(row["modified"]), "ContentLength": row["size"],
               "ContentType": row["content_type"] or "binary/octet-stream", "AcceptRanges": "bytes"}
        meta = json.loads(row["metadata"])
        if meta:
            out["Metadata"] = meta
        return out

    @handler("HeadObject")
    async def head_object(self, ctx: RequestContext, request: dict) -> dict:
        row = await self._object(request)
        out = self._object_headers(row)
        _check_conditions(request, row)
        return out

    @handler("GetObject")
    async def get_object(self, ctx: RequestContext, request: dict) -> dict:
        row = await self._object(request)
        _check_conditions(request, row)
        out = self._object_headers(row)
        size = row["size"]
        spec = request.get("Range")
        if spec:
            start, end = _parse_range(spec, size)
            out.update(ContentRange=f"bytes {start}-{end}/{size}", ContentLength=end - start + 1)
            out["Body"] = await self._run(self.store.read, row, start, end)
        else:
            out["Body"] = await self._run(self.store.read, row)
        if request.get("ResponseContentType"):
            out["ContentType"] = request["ResponseContentType"]
        return out

    @handler("CopyObject")
    async def copy_object(self, ctx: RequestContext, request: dict) -> dict:
        source = urllib.parse.unquote(request["CopySource"].partition("?")[0]).lstrip("/")
        src_bucket, _, src_key = source.partition("/")
        if not src_bucket or not src_key:
            raise invalid_argument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
                                   "x-amz-copy-source", request["CopySource"])
        await self._bucket(request["Bucket"])
        row = await self._object({"Bucket": src_bucket, "Key": src_key})
        data = await self._run(self.store.read, row)
        replace = request.get("MetadataDirective") == "REPLACE"
        if src_bucket == request["Bucket"] and src_key == request["Key"] and not replace:
            raise ServiceException("InvalidRequest", "This copy request is illegal because it is trying to copy an "
                                   "object to itself without changing the object's metadata, storage class, website "
                                   "redirect location or encryption attributes.", 400)
        out = await self._run(self.store.put_object, request["Bucket"], request["Key"], data,
                              request.get("ContentType") if replace else row["content_type"],
                              request.get("Metadata") if replace else json.loads(row["metadata"]))
        return {"CopyObjectResult": {"ETag": out["etag"], "LastModified": _ts(out["modified"])}}

    @handler("DeleteObject")
    async def delete_object(self, ctx: RequestContext, request: dict) -> dict:
        await self._bucket(request["Bucket"])
        await self._run(self.store.delete_object, request["Bucket"], request["Key"])
        return {}

    @handler("DeleteObjects")
    async def delete_objects(self, ctx: RequestContext, request: dict) -> dict:
        await self._bucket(request["Bucket"])
        objects = request["Delete"].get("Objects") or []
        if len(objects) > 1000:
            raise ServiceException("MalformedXML", "The XML you provided was not well-formed or did not validate "
                                   "against our published schema", 400)
        deleted = []
        for obj in objects:
            await self._run(self.store.delete_object, request["Bucket"], obj["Key"])
            deleted.append({"Key": obj["Key"]})
        return {} if request["Delete"].get("Quiet") else {"Deleted": deleted}

    @handler("ListObjects")
    async def list_objects(self, ctx: RequestContext, request: dict) -> dict:
        """Version 1 (older tools): Marker/NextMarker instead of continuation tokens."""
        v2 = {k: request[k] for k in ("Bucket", "Prefix", "Delimiter", "MaxKeys", "EncodingType") if k in request}
        if request.get("Marker"):
            v2["StartAfter"] = request["Marker"]
        out = await self.list_objects_v2(ctx, v2)
        out.pop("KeyCount", None)
        out.pop("StartAfter", None)
        token = out.pop("NextContinuationToken", None)
        out["Marker"] = request.get("Marker") or ""
        if token and request.get("Delimiter"):
            out["NextMarker"] = base64.urlsafe_b64decode(token.encode()).decode()
        return out

    @handler("ListObjectsV2")
    async def list_objects_v2(self, ctx: RequestContext, request: dict) -> dict:
        bucket = request["Bucket"]
        await self._bucket(bucket)
        prefix, delimiter = request.get("Prefix") or "", request.get("Delimiter") or ""
        max_keys = request.get("MaxKeys", 1000)
        if max_keys < 0:
            raise invalid_argument("maxKeys should be non-negative", "max-keys", max_keys)
        max_keys = min(max_keys, 1000)
        after = request.get("StartAfter") or ""
        token = request.get("ContinuationToken")
        if token:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except (ValueError, binascii.Error, UnicodeDecodeError):
                raise invalid_argument("The continuation token provided is incorrect", "continuation-token",
                                       token) from None
        contents, prefixes, last, truncated = [], [], None, False
        cursor = after
        while not truncated:
            rows = await self._run(self.store.list_objects, bucket, prefix, cursor, 1000)
            if not rows:
                break
            for r in rows:
                cursor = r["key"]
                rest = r["key"][len(prefix):]
                common = prefix + rest[:rest.index(delimiter) + len(delimiter)] if delimiter and delimiter in rest \
                    else None
                if common is not None and (common == after or (prefixes and prefixes[-1] == common)):
                    continue                     # a common prefix already returned (this page or the last)
                if len(contents) + len(prefixes) >= max_keys:
                    truncated = True
                    break
                if common is not None:
                    prefixes.append(common)
                    last = common
                else:
                    contents.append(r)
                    last = r["key"]
            if len(rows) < 1000:
                break
        encode = request.get("EncodingType") == "url"
        enc = (lambda s: urllib.parse.quote(s, safe="/")) if encode else (lambda s: s)
        out = {"Name": bucket, "Prefix": enc(prefix), "MaxKeys": max_keys, "KeyCount": len(contents) + len(prefixes),
               "IsTruncated": truncated,
               "Contents": [{"Key": enc(r["key"]), "LastModified": _ts(r["modified"]), "ETag": r["etag"],
                             "Size": r["size"], "StorageClass": "STANDARD"} for r in contents],
               "CommonPrefixes": [{"Prefix": enc(p)} for p in prefixes]}
        if not out["Contents"]:
            del out["Contents"]
        if not out["CommonPrefixes"]:
            del out["CommonPrefixes"]
        if delimiter:
            out["Delimiter"] = enc(delimiter)
        if encode:
            out["EncodingType"] = "url"
        if token:
            out["ContinuationToken"] = token
        if request.get("StartAfter"):
            out["StartAfter"] = enc(request["StartAfter"])
        if truncated and last is not None:
            out["NextContinuationToken"] = base64.urlsafe_b64encode(last.encode()).decode()
        return out

    # -- multipart -----------------------------------------------------------------------------------
    @handler("CreateMultipartUpload")
    async def create_multipart_upload(self, ctx: RequestContext, request: dict) -> dict:
        await self._bucket(request["Bucket"])
        upload_id = await self._run(self.store.create_upload, request["Bucket"], request["Key"],
                                    request.get("ContentType"), request.get("Metadata"))
        return {"Bucket": request["Bucket"], "Key": request["Key"], "UploadId": upload_id}

    async def _upload(self, request: dict):
        await self._bucket(request["Bucket"])
        upload = await self._run(self.store.upload, request["UploadId"], request["Bucket"], request["Key"])
        if upload is None:
            raise no_such_upload(request["UploadId"])
        return upload

    @handler("UploadPart")
    async def upload_part(self, ctx: RequestContext, request: dict) -> dict:
        number = request["PartNumber"]
        if not isinstance(number, int) or not 1 <= number <= 10000:
            raise invalid_argument("Part number must be an integer between 1 and 10000, inclusive", "partNumber",
                                   number)
        upload = await self._upload(request)
        body = request.get("Body") or b""
        _check_md5(request.get("ContentMD5"), body)
        etag = await self._run(self.store.put_part, upload["id"], number, body)
        return {"ETag": etag}

    @handler("CompleteMultipartUpload")
    async def complete_multipart_upload(self, ctx: RequestContext, request: dict) -> dict:
        upload = await self._upload(request)
        wanted = (request.get("MultipartUpload") or {}).get("Parts") or []
        if not wanted:
            raise ServiceException("MalformedXML", "The XML you provided was not well-formed or did not validate "
                                   "against our published schema", 400)
        numbers = [p.get("PartNumber") for p in wanted]
        if any(n is None for n in numbers) or numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
            raise ServiceException("InvalidPartOrder", "The list of parts was not in ascending order. Parts must be "
                                   "ordered by part number.", 400)
        stored = {p["number"]: p for p in await self._run(self.store.parts, upload["id"])}
        chosen = []
        for p in wanted:
            part = stored.get(p["PartNumber"])
            if part is None or (p.get("ETag") and p["ETag"].strip('"') != part["etag"].strip('"')):
                raise ServiceException("InvalidPart", "One or more of the specified parts could not be found. The part "
                                       "may not have been uploaded, or the specified entity tag may not match the "
                                       "part's entity tag.", 400, PartNumber=p["PartNumber"], ETag=p.get("ETag"))
            chosen.append(part)
        for part in chosen[:-1]:
            if part["size"] < MIN_PART:
                raise ServiceException("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed "
                                       "object size.", 400, ProposedSize=part["size"], MinSizeAllowed=MIN_PART,
                                       PartNumber=part["number"])
        result = await self._run(self.store.complete_upload, upload, chosen)
        return {"Location": f"/{request['Bucket']}/{urllib.parse.quote(request['Key'])}", "Bucket": request["Bucket"],
                "Key": request["Key"], "ETag": result["etag"]}

    @handler("AbortMultipartUpload")
    async def abort_multipart_upload(self, ctx: RequestContext, request: dict) -> dict:
        upload = await self._upload(request)
        await self._run(self.store.abort_upload, upload["id"])
        return {}

    @handler("ListParts")
    async def list_parts(self, ctx: RequestContext, request: dict) -> dict:
        upload = await self._upload(request)
        marker = request.get("PartNumberMarker") or 0
        limit = min(request.get("MaxParts") or 1000, 1000)
        parts = [p for p in await self._run(self.store.parts, upload["id"]) if p["number"] > int(marker)]
        page = parts[:limit]
        out = {"Bucket": request["Bucket"], "Key": request["Key"], "UploadId": upload["id"], "MaxParts": limit,
               "IsTruncated": len(parts) > limit, "PartNumberMarker": int(marker), "StorageClass": "STANDARD",
               "Owner": OWNER, "Initiator": OWNER,
               "Parts": [{"PartNumber": p["number"], "LastModified": _ts(p["modified"]), "ETag": p["etag"],
                          "Size": p["size"]} for p in page]}
        if page:
            out["NextPartNumberMarker"] = page[-1]["number"]
        return out

    @handler("ListMultipartUploads")
    async def list_multipart_uploads(self, ctx: RequestContext, request: dict) -> dict:
        await self._bucket(request["Bucket"])
        prefix = request.get("Prefix") or ""
        rows = [u for u in await self._run(self.store.uploads, request["Bucket"]) if u["key"].startswith(prefix)]
        return {"Bucket": request["Bucket"], "MaxUploads": 1000, "IsTruncated": False,
                "Uploads": [{"UploadId": u["id"], "Key": u["key"], "Initiated": _ts(u["created"]),
                             "StorageClass": "STANDARD", "Owner": OWNER, "Initiator": OWNER} for u in rows]}


def _check_md5(value: str | None, body: bytes) -> None:
    if not value:
        return
    try:
        given = base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise ServiceException("InvalidDigest", "The Content-MD5 you specified was invalid.", 400) from None
    if given != hashlib.md5(body).digest():
        raise ServiceException("BadDigest", "The Content-MD5 you specified did not match what we received.", 400)


def _check_conditions(request: dict, row) -> None:
    if request.get("IfMatch") and request["IfMatch"].strip('"') not in ("*", row["etag"].strip('"')):
        raise ServiceException("PreconditionFailed", "At least one of the pre-conditions you specified did not hold",
                               412)
    if request.get("IfNoneMatch") and request["IfNoneMatch"].strip('"') in ("*", row["etag"].strip('"')):
        raise ServiceException("NotModified", "Not Modified", 304)


def _parse_range(spec: str, size: int) -> tuple[int, int]:
    m = _RANGE.match(spec.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        raise ServiceException("InvalidArgument", "Invalid Range header", 400)   # S3 ignores; we refuse clearly
    first, last = m.group(1), m.group(2)
    if not first:                                   # bytes=-N: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise ServiceException("InvalidRange", "The requested range is not satisfiable", 416,
                                   RangeRequested=spec, ActualObjectSize=size)
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise ServiceException("InvalidRange", "The requested range is not satisfiable", 416,
                               RangeRequested=spec, ActualObjectSize=size)
    return start, end
