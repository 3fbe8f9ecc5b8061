"""Firehose subset with the real aws CLI and boto3 against a real `openmsk serve`: DirectPut streams deliver
to the embedded S3 with Firehose's buffering and key naming, GZIP, a missing bucket buffered and caught up,
and Firehose's errors."""
from __future__ import annotations

import gzip
import json
import re
import time
import uuid

import botocore.exceptions
import pytest


def _code(exc) -> str:
    return exc.value.response["Error"]["Code"]


def _objects(s3, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def _wait_objects(s3, bucket: str, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        keys = _objects(s3, bucket)
        if keys:
            return keys
        time.sleep(0.5)
    return []


def test_direct_put_to_s3_with_buffering_and_gzip(service):
    fh, s3 = service.client("firehose"), service.client("s3")
    bucket, name = f"fh-{uuid.uuid4().hex[:8]}", f"stream-{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=bucket)
    arn = fh.create_delivery_stream(DeliveryStreamName=name, DeliveryStreamType="DirectPut",
                                    ExtendedS3DestinationConfiguration={
                                        "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                                        "BucketARN": f"arn:aws:s3:::{bucket}", "Prefix": "fh/",
                                        "CompressionFormat": "GZIP",
                                        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 8}})["DeliveryStreamARN"]
    assert arn.endswith(f":deliverystream/{name}")
    desc = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    assert desc["DeliveryStreamStatus"] == "ACTIVE"
    dest = desc["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert dest["BufferingHints"] == {"SizeInMBs": 1, "IntervalInSeconds": 8} and dest["CompressionFormat"] == "GZIP"
    listed = service.aws("firehose", "list-delivery-streams")
    assert listed.returncode == 0 and name in listed.json["DeliveryStreamNames"]

    records = [f"record {i}\n".encode() for i in range(300)]
    out = fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": r} for r in records[:299]])
    assert out["FailedPutCount"] == 0 and len(out["RequestResponses"]) == 299
    assert _objects(s3, bucket) == []              # buffered: nothing before the interval
    cli = service.aws("firehose", "put-record", "--delivery-stream-name", name, "--record",
                      json.dumps({"Data": "record 299\n"}))
    assert cli.returncode == 0, cli.stderr
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        keys = _objects(s3, bucket)
        body = b"".join(gzip.decompress(s3.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in keys)
        if body.count(b"\n") >= 300:
            break
        time.sleep(1)
    pattern = re.compile(rf"^fh/\d{{4}}/\d\d/\d\d/\d\d/{name}-1-\d{{4}}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9a-f-]{{36}}\.gz$")
    assert all(pattern.match(k) for k in keys), keys
    assert sorted(body.splitlines(keepends=True)) == sorted(records)     # each record once

    fh.delete_delivery_stream(DeliveryStreamName=name)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fh.describe_delivery_stream(DeliveryStreamName=name)
    assert _code(e) == "ResourceNotFoundException"


def test_missing_bucket_is_buffered_then_delivered(service):
    fh, s3 = service.client("firehose"), service.client("s3")
    bucket, name = f"late-{uuid.uuid4().hex[:8]}", f"late-{uuid.uuid4().hex[:6]}"
    fh.create_delivery_stream(DeliveryStreamName=name, S3DestinationConfiguration={
        "RoleARN": "arn:aws:iam::123456789012:role/firehose", "BucketARN": f"arn:aws:s3:::{bucket}",
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}})
    fh.put_record(DeliveryStreamName=name, Record={"Data": b"kept while the bucket is missing\n"})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        desc = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
        if "FailureDescription" in desc:
            break
        time.sleep(0.5)
    assert f"bucket {bucket} does not exist" in desc["FailureDescription"]["Details"]
    s3.create_bucket(Bucket=bucket)
    keys = _wait_objects(s3, bucket)
    assert [s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys] == [b"kept while the bucket is missing\n"]
    assert keys[0].count("/") == 4                  # YYYY/MM/DD/HH/ without a prefix


def test_errors(service):
    fh = service.client("firehose")
    name = f"err-{uuid.uuid4().hex[:6]}"
    s3conf = {"RoleARN": "arn:aws:iam::123456789012:role/r", "BucketARN": "arn:aws:s3:::some-bucket"}
    fh.create_delivery_stream(DeliveryStreamName=name, S3DestinationConfiguration=s3conf)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName=name, S3DestinationConfiguration=s3conf)
    assert _code(e) == "ResourceInUseException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName="bad name!", S3DestinationConfiguration=s3conf)
    assert _code(e) == "InvalidArgumentException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName=f"x{name}", S3DestinationConfiguration={
            **s3conf, "CompressionFormat": "Snappy"})
    assert _code(e) == "InvalidArgumentException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fh.put_record(DeliveryStreamName="no-such-stream", Record={"Data": b"x"})
    assert _code(e) == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"x"}] * 501)
    assert _code(e) in ("InvalidArgumentException", "ValidationException")
    missing = service.aws("firehose", "delete-delivery-stream", "--delivery-stream-name", "no-such-stream")
    assert missing.returncode == 255 and "ResourceNotFoundException" in missing.stderr


def test_undeliverable_records_are_kept_24_hours(tmp_path):
    """The store behind the API (no server needed): records a missing bucket cannot take stay buffered
    for Firehose's 24 hours of retries, then are dropped, so the buffer is bounded."""
    from openmsk.services.firehose.backend import FirehoseStore
    from openmsk.services.s3 import ObjectStore
    objects = ObjectStore(tmp_path / "s3")
    store = FirehoseStore(tmp_path / "firehose.db", objects)
    store.create("us-east-1", "s", {"BucketARN": "arn:aws:s3:::later", "Prefix": "",
                                    "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}}, {})
    store.put_records("us-east-1", "s", [b"old\n"])
    store.flush_due()
    assert "bucket later does not exist" in store.stream("us-east-1", "s")["failure"]
    with store._write() as db:                                   # "old" has waited 25 hours
        db.execute("UPDATE records SET at=at-?", (25 * 3600,))
    store.put_records("us-east-1", "s", [b"new\n"])
    store.flush_due()
    assert [bytes(r[0]) for r in store._db().execute("SELECT data FROM records")] == [b"new\n"]
    objects.create_bucket("later", "us-east-1")
    assert store.flush_due() == 1
    [key] = [r["key"] for r in objects.list_objects("later", "", "", 10)]
    assert objects.read(objects.object("later", key)) == b"new\n"
    assert store.stream("us-east-1", "s")["failure"] is None
