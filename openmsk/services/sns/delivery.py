"""Delivering SNS messages: http(s) POSTs, email to a maildir or SMTP server, and openmsk's `file` target.

Every message to every subscription is its own asyncio task, so a dead or slow endpoint delays only
its own messages; at most `MAX_IN_FLIGHT` deliveries wait at once and a message beyond that is
dropped and recorded (never queued without bound, never blocking the publisher or the alarm
evaluator). Failed attempts are retried the way SNS's delivery policy describes (`retry_delays`):
immediate retries, then the pre-backoff phase at minDelayTarget, the backoff phase from
minDelayTarget to maxDelayTarget (linear, arithmetic, geometric or exponential), then the
post-backoff phase at maxDelayTarget. `OPENMSK_SNS_RETRY_SCALE` multiplies every delay (tests use
0.01: SNS's 20 s becomes 0.2 s). Each outcome (attempts, status, error) goes to the subscription's
delivery log through the `record` callback.
"""
from __future__ import annotations

import asyncio
import email.message
import email.utils
import ipaddress
import json
import logging
import os
import smtplib
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import aiohttp

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 1000
HTTP_TIMEOUT = 15.0          # SNS waits 15 s for an HTTP endpoint
DEFAULT_HTTP_POLICY = {"minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3, "numNoDelayRetries": 0,
                       "numMinDelayRetries": 0, "numMaxDelayRetries": 0, "backoffFunction": "linear"}
BACKOFF = ("linear", "arithmetic", "geometric", "exponential")


def retry_scale() -> float:
    try:
        return max(0.0, float(os.environ.get("OPENMSK_SNS_RETRY_SCALE", "1")))
    except ValueError:
        return 1.0


def remote_endpoints_allowed() -> bool:
    return os.environ.get("OPENMSK_SNS_REMOTE_ENDPOINTS", "") in ("1", "true", "yes")


def loopback_url(url: str) -> bool:
    """True for an http(s) URL whose host is a loopback address or `localhost`."""
    try:
        host = urlsplit(url).hostname or ""
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_policy(policy: dict) -> dict:
    """A healthyRetryPolicy with SNS's defaults filled in; ValueError when it breaks SNS's limits."""
    p = {**DEFAULT_HTTP_POLICY, **policy}
    for k in DEFAULT_HTTP_POLICY:
        if k != "backoffFunction" and (not isinstance(p[k], int) or isinstance(p[k], bool) or p[k] < 0):
            raise ValueError(f"{k} must be a non-negative integer")
    if p["backoffFunction"] not in BACKOFF:
        raise ValueError(f"backoffFunction must be one of {', '.join(BACKOFF)}")
    if not 1 <= p["minDelayTarget"] <= p["maxDelayTarget"] <= 3600:
        raise ValueError("minDelayTarget and maxDelayTarget must satisfy 1 <= min <= max <= 3600")
    if p["numRetries"] > 100:
        raise ValueError("numRetries must be at most 100")
    if p["numNoDelayRetries"] + p["numMinDelayRetries"] + p["numMaxDelayRetries"] > p["numRetries"]:
        raise ValueError("the phase retries exceed numRetries")
    return p


def retry_delays(policy: dict) -> list[float]:
    """Seconds to wait before each retry, phase by phase (len == numRetries)."""
    p = check_policy(policy)
    lo, hi = float(p["minDelayTarget"]), float(p["maxDelayTarget"])
    backoff = p["numRetries"] - p["numNoDelayRetries"] - p["numMinDelayRetries"] - p["numMaxDelayRetries"]
    delays = [0.0] * p["numNoDelayRetries"] + [lo] * p["numMinDelayRetries"]
    for i in range(1, backoff + 1):
        x = i / backoff
        shape = {"linear": x, "arithmetic": x * (x + 1) / 2, "geometric": x ** 2,
                 "exponential": (2 ** (x * 8) - 1) / 255}[p["backoffFunction"]]
        delays.append(lo + (hi - lo) * shape)
    return delays + [hi] * p["numMaxDelayRetries"]


@dataclass
class Job:
    subscription_arn: str
    protocol: str                 # http https email email-json file
    endpoint: str
    envelope: dict                # the signed JSON message
    body: str                     # what goes out (the envelope as JSON, or the raw message)
    policy: dict = field(default_factory=dict)
    subject: str = ""


class Delivery:
    """A ControlPlane background service (start/stop) that the SNS backend submits jobs to."""

    def __init__(self, record: Callable[[str, dict], None], mail_dir: Path, smtp: str | None = None) -> None:
        self.record = record
        self.mail_dir = mail_dir
        self.smtp = smtp if smtp is not None else os.environ.get("OPENMSK_SMTP_SERVER")
        self._tasks: set[asyncio.Task] = set()
        self._session: aiohttp.ClientSession | None = None

    async def start(self, plane=None) -> None:
        pass

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def submit(self, job: Job) -> bool:
        if len(self._tasks) >= MAX_IN_FLIGHT:
            self._log(job, "Dropped", 0, error=f"more than {MAX_IN_FLIGHT} deliveries in flight")
            return False
        task = asyncio.get_running_loop().create_task(self._deliver(job), name=f"sns delivery {job.envelope['MessageId']}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def _log(self, job: Job, status: str, attempts: int, *, code: int | None = None, error: str | None = None) -> None:
        entry = {"MessageId": job.envelope["MessageId"], "Type": job.envelope["Type"], "Status": status,
                 "Attempts": attempts, "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if code is not None:
            entry["StatusCode"] = code
        if error:
            entry["Error"] = error[:300]
        try:
            self.record(job.subscription_arn, entry)
        except Exception:
            log.exception("could not record a delivery to %s", job.subscription_arn)

    async def _deliver(self, job: Job) -> None:
        try:
            delays = retry_delays(job.policy)
        except ValueError:
            delays = retry_delays({})
        scale, error, code = retry_scale(), "", None
        for attempt, delay in enumerate([0.0] + delays, 1):
            if delay:
                await asyncio.sleep(delay * scale)
            try:
                code = await self._send(job)
                if code is None or 200 <= code < 300:
                    self._log(job, "Delivered", attempt, code=code)
                    return
                error = f"HTTP {code}"
            except asyncio.CancelledError:
                raise
            except Exception as exc:             # connection refused, timeout, SMTP or file error
                error, code = f"{type(exc).__name__}: {exc}", None
            log.info("delivery of %s to %s failed (attempt %d): %s", job.envelope["MessageId"], job.endpoint,
                     attempt, error)
        self._log(job, "Failed", len(delays) + 1, code=code, error=error)

    async def _send(self, job: Job) -> int | None:
        if job.protocol in ("http", "https"):
            return await self._post(job)
        if job.protocol in ("email", "email-json"):
            await asyncio.to_thread(self._mail, job)
        elif job.protocol == "file":
            await asyncio.to_thread(self._append, job)
        else:
            raise ValueError(f"no delivery for protocol {job.protocol}")
        return None

    async def _post(self, job: Job) -> int:
        if not (loopback_url(job.endpoint) or remote_endpoints_allowed()):
            raise PermissionError("not a loopback endpoint (OPENMSK_SNS_REMOTE_ENDPOINTS is not set)")
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT))
        env = job.envelope
        headers = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": env["Type"],
                   "x-amz-sns-message-id": env["MessageId"], "x-amz-sns-topic-arn": env["TopicArn"],
                   "User-Agent": "Amazon Simple Notification Service Agent"}
        if env["Type"] == "Notification":
            headers["x-amz-sns-subscription-arn"] = job.subscription_arn
        async with self._session.post(job.endpoint, data=job.body.encode("utf-8"), headers=headers) as resp:
            await resp.read()
            return resp.status

    def _mail(self, job: Job) -> None:
        msg = email.message.EmailMessage()
        msg["From"] = "AWS Notifications <no-reply@sns.openmsk.local>"
        msg["To"] = job.endpoint
        msg["Subject"] = job.subject or "AWS Notification Message"
        msg["Date"] = email.utils.formatdate()
        msg["Message-ID"] = email.utils.make_msgid(domain="sns.openmsk.local")
        msg.set_content(job.body)
        if self.smtp:
            host, _, port = self.smtp.rpartition(":")
            with smtplib.SMTP(host or "127.0.0.1", int(port or 25), timeout=HTTP_TIMEOUT) as smtp:
                smtp.send_message(msg)
            return
        box = self.mail_dir / job.endpoint.replace("/", "_")
        for sub in ("tmp", "new", "cur"):
            (box / sub).mkdir(parents=True, exist_ok=True)
        name = f"{time.time():.6f}.{uuid.uuid4().hex}.openmsk"
        (box / "tmp" / name).write_bytes(msg.as_bytes())
        os.replace(box / "tmp" / name, box / "new" / name)       # maildir: tmp then rename into new

    @staticmethod
    def _append(job: Job) -> None:
        line = (json.dumps(job.envelope) + "\n").encode("utf-8")
        fd = os.open(job.endpoint, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
