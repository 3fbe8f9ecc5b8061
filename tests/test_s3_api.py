"""S3 subset with the real aws CLI (`aws s3 cp/ls/sync`, `aws s3api`) and boto3 against a real `openmsk serve`:
buckets, objects, ranges, ListObjectsV2 (prefix, delimiter, continuation, url encoding), multipart (a 100 MB
file byte-exact through `aws s3 cp`), S3's error codes, virtual-hosted addressing and chunked payload
signing (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, as other SDKs send it)."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import os
import time
import uuid

import botocore.exceptions
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def _code(exc) -> str:
    return exc.value.response["Error"]["Code"]


@pytest.fixture
def s3(service):
    return service.client("s3")


@pytest.fixture
def bucket(s3):
    name = f"test-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    return name


def test_buckets_and_errors(service, s3, bucket):
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=bucket)
    for bad in ("ab", "Upper-Case", "a_b_c", "-dash-first"):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.create_bucket(Bucket=bad)
        assert _code(e) == "InvalidBucketName"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.create_bucket(Bucket=bucket)
    assert _code(e) == "BucketAlreadyOwnedByYou" and e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_bucket(Bucket="no-such-bucket-here")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_objects_v2(Bucket="no-such-bucket-here")
    assert _code(e) == "NoSuchBucket"
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert _code(e) == "BucketNotEmpty"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="missing")
    assert _code(e) == "NoSuchKey"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")
    assert _code(e) == "BadDigest"
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_object(Bucket=bucket, Key="k")          # deleting a missing key is fine, as on S3
    s3.delete_bucket(Bucket=bucket)
    cli = service.aws("s3api", "head-bucket", "--bucket", bucket)
    assert cli.returncode == 255 and "404" in cli.stderr


def test_objects_metadata_ranges(s3, bucket):
    body = bytes(range(256)) * 40
    put = s3.put_object(Bucket=bucket, Key="dir/ünï code+plus.bin", Body=body, ContentType="application/x-test",
                        Metadata={"origin": "openmsk"})
    assert put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    head = s3.head_object(Bucket=bucket, Key="dir/ünï code+plus.bin")
    assert head["ContentLength"] == len(body) and head["ContentType"] == "application/x-test"
    assert head["Metadata"] == {"origin": "openmsk"} and head["ETag"] == put["ETag"]
    got = s3.get_object(Bucket=bucket, Key="dir/ünï code+plus.bin", Range="bytes=100-199")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206 and got["ContentRange"] == f"bytes 100-199/{len(body)}"
    assert got["Body"].read() == body[100:200]
    assert s3.get_object(Bucket=bucket, Key="dir/ünï code+plus.bin", Range="bytes=-10")["Body"].read() == body[-10:]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="dir/ünï code+plus.bin", Range=f"bytes={len(body)}-")
    assert _code(e) == "InvalidRange"
    copied = s3.copy_object(Bucket=bucket, Key="copy.bin", CopySource={"Bucket": bucket, "Key": "dir/ünï code+plus.bin"})
    assert copied["CopyObjectResult"]["ETag"] == put["ETag"]
    assert s3.head_object(Bucket=bucket, Key="copy.bin")["Metadata"] == {"origin": "openmsk"}
    s3.delete_object(Bucket=bucket, Key="copy.bin")
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None          # us-east-1
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "dir/ünï code+plus.bin"}, {"Key": "nope"}]})
    assert sorted(d["Key"] for d in out["Deleted"]) == ["dir/ünï code+plus.bin", "nope"]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_list_objects_v2_prefix_delimiter_continuation(service, s3, bucket):
    keys = [f"logs/2026-12-0{d}/broker-{b}.log" for d in (1, 2, 3) for b in (1, 2)] + ["top.txt", "logs/readme"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [c["Key"] for c in top["Contents"]] == ["top.txt"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["logs/"]
    days = s3.list_objects_v2(Bucket=bucket, Prefix="logs/", Delimiter="/")
    assert [p["Prefix"] for p in days["CommonPrefixes"]] == [f"logs/2026-12-0{d}/" for d in (1, 2, 3)]
    assert [c["Key"] for c in days["Contents"]] == ["logs/readme"]
    # Pages of 2 with a delimiter: prefixes are never repeated across pages.
    seen, token = [], None
    for _ in range(10):
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, Prefix="logs/", Delimiter="/", MaxKeys=2, **kw)
        seen += [p["Prefix"] for p in page.get("CommonPrefixes", [])] + [c["Key"] for c in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert sorted(seen) == sorted([f"logs/2026-12-0{d}/" for d in (1, 2, 3)] + ["logs/readme"])
    # The CLI paginates (page size 3) and url-encodes keys on the wire (EncodingType=url).
    listed = service.aws("s3api", "list-objects-v2", "--bucket", bucket, "--page-size", "3")
    assert listed.returncode == 0, listed.stderr
    assert sorted(o["Key"] for o in listed.json["Contents"]) == sorted(keys)
    v1 = service.aws("s3api", "list-objects", "--bucket", bucket, "--page-size", "3")     # ListObjects (v1), paged
    assert v1.returncode == 0, v1.stderr
    assert sorted(o["Key"] for o in v1.json["Contents"]) == sorted(keys)
    ls = service.aws("s3", "ls", f"s3://{bucket}/logs/")
    assert ls.returncode == 0, ls.stderr
    assert "PRE 2026-12-01/" in ls.stdout and "readme" in ls.stdout


def test_cli_cp_100mb_multipart_round_trip_and_sync(service, s3, bucket, tmp_path):
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        for _ in range(100):
            f.write(os.urandom(1024 * 1024))
    up = service.aws("s3", "cp", str(src), f"s3://{bucket}/big.bin", timeout=600)
    assert up.returncode == 0, up.stderr
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == 100 * 1024 * 1024
    assert head["ETag"].endswith('-13"')                 # 8 MiB parts: a multipart ETag
    back = tmp_path / "back.bin"
    down = service.aws("s3", "cp", f"s3://{bucket}/big.bin", str(back), timeout=600)
    assert down.returncode == 0, down.stderr
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()
    back.unlink()
    src.unlink()

    tree = tmp_path / "tree"
    for rel in ("a.txt", "sub/b.txt", "sub/deeper/c.txt"):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(rel * 100)
        # S3's LastModified has whole seconds: a file written in the second of its upload looks newer
        # than its copy to `aws s3 sync` (on AWS too). Files made a little earlier do not.
        os.utime(tree / rel, (time.time() - 10, time.time() - 10))
    sync = service.aws("s3", "sync", str(tree), f"s3://{bucket}/tree")
    assert sync.returncode == 0, sync.stderr
    again = service.aws("s3", "sync", str(tree), f"s3://{bucket}/tree")
    assert again.returncode == 0 and again.stdout.strip() == ""      # nothing changed, nothing copied
    out = tmp_path / "out"
    pulled = service.aws("s3", "sync", f"s3://{bucket}/tree", str(out))
    assert pulled.returncode == 0, pulled.stderr
    assert (out / "sub/deeper/c.txt").read_text() == "sub/deeper/c.txt" * 100


def test_multipart_rules(s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    small = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"a" * 100)
    last = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=2, Body=b"b" * 100)
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)["Parts"]] == [1, 2]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": small["ETag"]}, {"PartNumber": 2, "ETag": last["ETag"]}]})
    assert _code(e) == "EntityTooSmall"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": [
            {"PartNumber": 2, "ETag": last["ETag"]}, {"PartNumber": 1, "ETag": small["ETag"]}]})
    assert _code(e) == "InvalidPartOrder"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": [
            {"PartNumber": 3, "ETag": last["ETag"]}]})
    assert _code(e) == "InvalidPart"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                        MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": last["ETag"]}]})
    assert done["ETag"].endswith('-1"')
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"b" * 100
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload)
    assert _code(e) == "NoSuchUpload"


def _signed(service, method, host, path, headers, body=b""):
    creds = service.credentials
    request = AWSRequest(method=method, url=f"http://{host}{path}", headers=headers, data=body)
    S3SigV4Auth(Credentials(creds["access_key_id"], creds["secret_access_key"]), "s3", service.region).add_auth(request)
    return request


def _send(service, request, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
    conn.request(request.method, "/" + request.url.split("/", 3)[3], body=request.body if body is None else body,
                 headers={**dict(request.headers), "Host": request.url.split("/", 3)[2]})
    resp = conn.getresponse()
    return resp.status, resp.read()


def test_virtual_hosted_addressing(service, s3, bucket):
    host = f"{bucket}.s3.localhost:{service.port}"
    status, _ = _send(service, _signed(service, "PUT", host, "/hello.txt", {"x-amz-content-sha256": hashlib.sha256(
        b"virtual").hexdigest()}, b"virtual"))
    assert status == 200
    assert s3.get_object(Bucket=bucket, Key="hello.txt")["Body"].read() == b"virtual"
    status, body = _send(service, _signed(service, "GET", host, "/?list-type=2", {"x-amz-content-sha256":
                                                                                 hashlib.sha256(b"").hexdigest()}))
    assert status == 200 and b"<Key>hello.txt</Key>" in body
    # A bucket name with dots is everything before `.s3.localhost` (or `.localhost`).
    dotted = f"logs.{bucket}.archive"
    s3.create_bucket(Bucket=dotted)
    for host in (f"{dotted}.s3.localhost:{service.port}", f"{dotted}.localhost:{service.port}"):
        status, _ = _send(service, _signed(service, "PUT", host, "/k.txt", {"x-amz-content-sha256": hashlib.sha256(
            host.encode()).hexdigest()}, host.encode()))
        assert status == 200
        assert s3.get_object(Bucket=dotted, Key="k.txt")["Body"].read() == host.encode()


def _chunked(service, host, path, data: bytes, chunk: int, tamper: bool = False):
    """An upload signed chunk by chunk as the AWS docs describe (SigV4 streaming)."""
    creds = service.credentials
    now = dt.datetime.now(dt.timezone.utc)
    amz_date, date = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = {"x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "Content-Encoding": "aws-chunked",
               "x-amz-decoded-content-length": str(len(data)), "X-Amz-Date": amz_date}
    request = AWSRequest(method="PUT", url=f"http://{host}{path}", headers=headers)
    request.context["timestamp"] = amz_date
    signer = S3SigV4Auth(Credentials(creds["access_key_id"], creds["secret_access_key"]), "s3", service.region)
    signer._modify_request_before_signing = lambda r: None
    signer.add_auth(request)
    seed = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    k = hmac.new(("AWS4" + creds["secret_access_key"]).encode(), date.encode(), hashlib.sha256).digest()
    for part in (service.region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    scope = f"{date}/{service.region}/s3/aws4_request"
    body, previous = b"", seed
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    for piece in pieces:
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, hashlib.sha256(b"").hexdigest(),
                         hashlib.sha256(piece).hexdigest()])
        sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        previous = sig
        if tamper and piece:
            piece = piece[:-1] + b"!"
        body += f"{len(piece):x};chunk-signature={sig}\r\n".encode() + piece + b"\r\n"
    request.headers["Content-Length"] = str(len(body))
    return _send(service, request, body)


def test_chunked_payload_signing(service, s3, bucket):
    data = os.urandom(200_000)
    status, body = _chunked(service, f"127.0.0.1:{service.port}", f"/{bucket}/chunked.bin", data, 65536)
    assert status == 200, body
    assert s3.get_object(Bucket=bucket, Key="chunked.bin")["Body"].read() == data
    status, body = _chunked(service, f"127.0.0.1:{service.port}", f"/{bucket}/tampered.bin", data, 65536, tamper=True)
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="tampered.bin")


def test_wrong_payload_hash_is_refused(service, bucket):
    request = _signed(service, "PUT", f"127.0.0.1:{service.port}", f"/{bucket}/k",
                      {"x-amz-content-sha256": hashlib.sha256(b"one body").hexdigest()}, b"one body")
    status, body = _send(service, request, b"another!")
    assert status == 400 and b"XAmzContentSHA256Mismatch" in body


def test_flexible_checksums_are_verified(service, s3, bucket):
    """A checksum the client sends (boto3's ChecksumAlgorithm as a header; an aws-chunked trailer as SDKs
    send it over HTTPS) must match the data, or the upload is refused with S3's BadDigest."""
    import base64
    import zlib
    data = os.urandom(100_000)
    put = s3.put_object(Bucket=bucket, Key="crc.bin", Body=data, ChecksumAlgorithm="SHA256")
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object(Bucket=bucket, Key="crc.bin")["Body"].read() == data
    host = f"127.0.0.1:{service.port}"
    wrong = base64.b64encode(zlib.crc32(b"other").to_bytes(4, "big")).decode()
    status, body = _send(service, _signed(service, "PUT", host, f"/{bucket}/bad-header.bin", {
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "x-amz-checksum-crc32": wrong}, data))
    assert status == 400 and b"<Code>BadDigest</Code>" in body, body

    def trailer_upload(key: str, checksum: str):
        chunked = (f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n"
                   + f"x-amz-checksum-crc32:{checksum}\r\n\r\n".encode())
        creds = service.credentials
        amz_date = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        request = AWSRequest(method="PUT", url=f"http://{host}/{bucket}/{key}", headers={
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "Content-Encoding": "aws-chunked",
            "x-amz-trailer": "x-amz-checksum-crc32", "x-amz-decoded-content-length": str(len(data)),
            "X-Amz-Date": amz_date})
        request.context["timestamp"] = amz_date
        signer = S3SigV4Auth(Credentials(creds["access_key_id"], creds["secret_access_key"]), "s3", service.region)
        signer._modify_request_before_signing = lambda r: None       # keep the streaming claim as signed
        signer.add_auth(request)
        request.headers["Content-Length"] = str(len(chunked))
        return _send(service, request, chunked)

    right = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    status, body = trailer_upload("trailer.bin", right)
    assert status == 200, body
    assert s3.get_object(Bucket=bucket, Key="trailer.bin")["Body"].read() == data
    status, body = trailer_upload("bad-trailer.bin", wrong)
    assert status == 400 and b"<Code>BadDigest</Code>" in body, body
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="bad-trailer.bin")
