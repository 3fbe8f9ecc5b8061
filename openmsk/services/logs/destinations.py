"""The broker-log sink (telemetry.log_shipping.BrokerLogSink) over openmsk's own destination services.

The composition root builds one with the embedded backends; the shipper only sees the sink interface.
CloudWatch Logs: the broker's stream is created on first delivery (as MSK does), the group must exist.
"""
from __future__ import annotations

from ...telemetry.log_shipping import DeliveryError
from .backend import LogStore


class EmbeddedDestinations:
    def __init__(self, logs: LogStore, s3=None, firehose=None) -> None:
        self.logs, self.s3, self.firehose = logs, s3, firehose

    def exists(self, region: str, dest: str, name: str) -> bool:
        if dest == "cloudwatch":
            return self.logs.group(region, name) is not None
        if dest == "s3":
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
        if self.s3 is None or self.s3.bucket(bucket) is None:
            raise DeliveryError(f"The bucket {bucket} does not exist")
        self.s3.put_object(bucket, key, body, content_type="application/x-gzip")

    def put_firehose(self, region: str, delivery_stream: str, records: list[bytes], batch_key: str) -> None:
        if self.firehose is None or self.firehose.stream(region, delivery_stream) is None:
            raise DeliveryError(f"The delivery stream {delivery_stream} does not exist")
        self.firehose.put_records(region, delivery_stream, records, batch_key=batch_key)
