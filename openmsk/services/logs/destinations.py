"""The broker-log sink (telemetry.log_shipping.BrokerLogSink) over openmsk's own destination services.

The composition root builds one with the embedded backends; the shipper only sees the sink interface.
CloudWatch Logs: the broker's stream is created on first delivery (as MSK does), the group must exist.
S3: buckets listed in <data>/log-destinations.json live on another S3-compatible endpoint (ExternalS3);
every other bucket is the embedded `s3` service's.
"""
from __future__ import annotations

import json
from pathlib import Path

from ...telemetry.log_shipping import DeliveryError
from .backend import LogStore

CONFIG_NAME = "log-destinations.json"


class ExternalS3:
    """Buckets on an S3-compatible server elsewhere, from the installation's log-destinations.json:

        {"s3": {"endpoint_url": "http://127.0.0.1:9000", "region": "us-east-1",
                "access_key_id": "...", "secret_access_key": "...", "buckets": ["archive-logs"]}}
    """

    def __init__(self, endpoint_url: str, buckets: list[str], region: str = "us-east-1",
                 access_key_id: str = "", secret_access_key: str = "") -> None:
        import boto3
        from botocore.config import Config
        self.buckets = set(buckets)
        self.client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region,
                                   aws_access_key_id=access_key_id or "external", aws_secret_access_key=secret_access_key
                                   or "external", config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                                                                connect_timeout=5, read_timeout=30))
        # The destination check runs while CreateCluster/UpdateMonitoring answers: one quick try.
        self.check_client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region,
                                         aws_access_key_id=access_key_id or "external",
                                         aws_secret_access_key=secret_access_key or "external",
                                         config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                                       connect_timeout=2, read_timeout=3))

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> "ExternalS3 | None":
        path = Path(data_dir) / CONFIG_NAME
        if not path.exists():
            return None
        doc = json.loads(path.read_text()).get("s3")
        if not doc:
            return None
        return cls(doc["endpoint_url"], doc.get("buckets") or [], doc.get("region", "us-east-1"),
                   doc.get("access_key_id", ""), doc.get("secret_access_key", ""))

    def exists(self, bucket: str) -> bool:
        try:
            self.check_client.head_bucket(Bucket=bucket)
            return True
        except Exception:
            return False

    def put(self, bucket: str, key: str, body: bytes) -> None:
        try:
            self.client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-gzip")
        except Exception as e:                 # endpoint down, bucket gone: an outage, buffered
            raise DeliveryError(f"S3 endpoint: {e}") from None


class EmbeddedDestinations:
    def __init__(self, logs: LogStore, s3=None, firehose=None, external_s3: ExternalS3 | None = None) -> None:
        self.logs, self.s3, self.firehose, self.external_s3 = logs, s3, firehose, external_s3

    def _external(self, bucket: str) -> ExternalS3 | None:
        ext = self.external_s3
        return ext if ext is not None and bucket in ext.buckets else None

    def exists(self, region: str, dest: str, name: str) -> bool:
        if dest == "cloudwatch":
            return self.logs.group(region, name) is not None
        if dest == "s3":
            if self._external(name) is not None:
                return self._external(name).exists(name)
            return self.s3 is not None and self.s3.bucket(name) is not None
        if dest == "firehose":
            return self.firehose is not None and self.firehose.stream(region, name) is not None
        return False

    def put_cloudwatch(self, region: str, log_group: str, stream: str, events: list[tuple[int, str]],
                       batch_key: str) -> None:
        group = self.logs.group(region, log_group)
        if group is None:
            raise DeliveryError(f"The log group {log_group} does not exist")
        row = self.logs.stream(group["id"], stream)
        if row is None:
            self.logs.create_stream(group["id"], stream)
            row = self.logs.stream(group["id"], stream)
        self.logs.ingest(group["id"], row["id"], events, batch_key=batch_key)

    def put_s3(self, region: str, bucket: str, key: str, body: bytes) -> None:
        if self._external(bucket) is not None:
            return self._external(bucket).put(bucket, key, body)
        if self.s3 is None or self.s3.bucket(bucket) is None:
            raise DeliveryError(f"The bucket {bucket} does not exist")
        self.s3.put_object(bucket, key, body, content_type="application/x-gzip")

    def put_firehose(self, region: str, delivery_stream: str, records: list[bytes], batch_key: str) -> None:
        if self.firehose is None or self.firehose.stream(region, delivery_stream) is None:
            raise DeliveryError(f"The delivery stream {delivery_stream} does not exist")
        self.firehose.put_records(region, delivery_stream, records, batch_key=batch_key)
