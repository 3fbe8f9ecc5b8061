"""Test helpers: botocore as the oracle (client serializers build requests, client parsers
read responses), plus a background-thread aiohttp server."""
from __future__ import annotations

import asyncio
import socket
import threading
from urllib.parse import urlsplit

from aiohttp import web
from botocore import parsers, serialize
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HeadersDict, create_request_object, prepare_request_dict
from botocore.credentials import Credentials
from multidict import CIMultiDict

from openmsk.api import specs
from openmsk.api.protocols import get_protocol

ACCESS_KEY, SECRET_KEY = "AKIDOPENMSKTEST", "s3cr3t/openmsk+key"


def client_request(service: str, protocol: str, op_name: str, params: dict):
    """botocore-serialized request -> (method, raw path+query, headers, body bytes)."""
    model = specs.load_service_model(service)
    op = model.operation_model(op_name)
    req = serialize.create_serializer(protocol).serialize_to_request(params, op)
    prepare_request_dict(req, endpoint_url="http://127.0.0.1:1")
    prepared = create_request_object(req).prepare()
    parts = urlsplit(prepared.url)
    raw = parts.path + (f"?{parts.query}" if parts.query else "")
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    headers = CIMultiDict((k, v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items())
    return prepared.method, raw, headers, body


def server_parse(service: str, protocol: str, op_name: str, params: dict) -> dict:
    model = specs.load_service_model(service)
    method, raw, headers, body = client_request(service, protocol, op_name, params)
    op, parsed = get_protocol(protocol).parse_request(model, method, raw, headers, body)
    assert op.name == op_name
    return parsed


def client_parse(protocol: str, op, status: int, headers: dict, body: bytes, error: bool = False) -> dict:
    hd = HeadersDict()
    for k, v in headers.items():
        hd[k] = v
    shape = None if error else op.output_shape
    parsed = parsers.create_parser(protocol).parse({"status_code": status, "headers": hd, "body": body}, shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


def roundtrip_output(service: str, protocol: str, op_name: str, result: dict) -> dict:
    op = specs.load_service_model(service).operation_model(op_name)
    status, headers, body = get_protocol(protocol).serialize_response(op, result, "req-1")
    assert status < 300
    return client_parse(protocol, op, status, headers, body)


def signed_request(url: str, service: str, method: str, body: bytes, headers: dict,
                   secret: str = SECRET_KEY, region: str = "us-east-1") -> AWSRequest:
    headers = {"Host": urlsplit(url).netloc, **headers}
    req = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, secret), service, region).add_auth(req)
    return req


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """Runs an aiohttp app on 127.0.0.1:<free port> in its own event loop thread."""

    def __init__(self, app: web.Application):
        self.app, self.port = app, free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    async def _start(self):
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
