"""The process that talks to the brokers with confluent-kafka's AdminClient for the collector.

Protocol: one JSON request per line on stdin, `{"key": <cluster arn>, "config": {librdkafka config}}`,
one JSON reply per line on stdout, `{"ok": {...lag.raw_offsets...}}` or `{"error": "..."}`. One
AdminClient per cluster, kept while its config is unchanged. If librdkafka aborts, only this process
dies; `LagWorker` starts a new one for the next pass.
"""
from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import signal
import sys

log = logging.getLogger(__name__)

REPLY_TIMEOUT = 75.0


def main() -> None:
    from .lag import admin_client, raw_offsets
    clients: dict[str, tuple[str, object]] = {}
    for line in sys.stdin:
        try:
            request = json.loads(line)
            key, config = request["key"], request["config"]
            cached = clients.get(key)
            if cached is None or cached[0] != json.dumps(config, sort_keys=True):
                cached = clients[key] = (json.dumps(config, sort_keys=True), admin_client(config))
            reply = {"ok": raw_offsets(cached[1])}
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)     # PR_SET_PDEATHSIG
    except OSError:
        pass


class LagWorker:
    """The control plane's side: one worker process, (re)started on demand."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def _ensure(self) -> asyncio.subprocess.Process:
        if self.proc is None or self.proc.returncode is not None:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "openmsk.telemetry.lag_worker", stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, preexec_fn=_die_with_parent,
                limit=64 * 1024 * 1024)
        return self.proc

    async def query(self, key: str, config: dict) -> dict:
        async with self._lock:
            proc = await self._ensure()
            try:
                proc.stdin.write((json.dumps({"key": key, "config": config}) + "\n").encode())
                await proc.stdin.drain()
                line = await asyncio.wait_for(proc.stdout.readline(), REPLY_TIMEOUT)
            except (OSError, asyncio.TimeoutError, ConnectionError) as exc:
                await self.stop()
                raise RuntimeError(f"lag worker did not answer: {exc!r}")
            if not line:
                await self.stop()
                raise RuntimeError("lag worker exited")
            reply = json.loads(line)
            if "error" in reply:
                raise RuntimeError(reply["error"])
            return reply["ok"]

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()


if __name__ == "__main__":
    main()
