"""Test helpers for SNS deliveries: a local webhook (http.server on 127.0.0.1) and signature checks."""
from __future__ import annotations

import base64
import json
import queue
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding


class Webhook:
    """Records every POST (headers, JSON body); answers `status` (200 unless changed)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: "queue.Queue[dict]" = queue.Queue()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.received.put({"headers": dict(self.headers), "body": body.decode(), "at": time.time()})
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, kind: str | None = None, timeout: float = 60) -> dict:
        """The next message (its JSON envelope) of the given Type, skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind or 'message'} within {timeout} s")
            try:
                item = self.received.get(timeout=left)
            except queue.Empty:
                continue
            message = json.loads(item["body"])
            message["_headers"], message["_at"] = item["headers"], item["at"]
            if kind is None or message["Type"] == kind:
                return message

    def alarm(self, name: str, state: str, timeout: float = 60) -> dict:
        """The next CloudWatch alarm notification of alarm `name` going to `state`, skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            note = self.next("Notification", timeout=max(0.1, deadline - time.monotonic()))
            body = json.loads(note["Message"])
            if body.get("AlarmName") == name and body.get("NewStateValue") == state:
                note["_body"] = body
                return note

    def drain(self) -> list[dict]:
        out = []
        while not self.received.empty():
            out.append(json.loads(self.received.get()["body"]))
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def string_to_sign(message: dict) -> bytes:
    """AWS's documented algorithm ("Verifying the signatures of Amazon SNS messages")."""
    if message["Type"] == "Notification":
        keys = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
    else:
        keys = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
    return "".join(f"{k}\n{message[k]}\n" for k in keys if k in message).encode()


def verify_documented(message: dict) -> None:
    """Fetch SigningCertURL and check Signature with SHA1 (v1) or SHA256 (v2); raises if invalid."""
    with urllib.request.urlopen(message["SigningCertURL"], timeout=10) as resp:
        cert = x509.load_pem_x509_certificate(resp.read())
    digest = {"1": hashes.SHA1(), "2": hashes.SHA256()}[message["SignatureVersion"]]
    cert.public_key().verify(base64.b64decode(message["Signature"]), string_to_sign(message), padding.PKCS1v15(),
                             digest)


def verify_stock(message: dict, endpoint: str) -> None:
    """PyPI's aws-sns-message-validator (SignatureVersion 1), its certificate host pointed at openmsk."""
    import re
    from sns_message_validator import SNSMessageValidator
    SNSMessageValidator(cert_url_regex="^" + re.escape(endpoint) + "/_openmsk/sns/").validate_message(
        {k: v for k, v in message.items() if not k.startswith("_")})
