"""A small pool of long-lived admin child processes for the topic APIs (control/topic_admin.py).

Starting `python -m ...`, importing confluent-kafka and opening TLS connections to the brokers cost
0.5-2 s per call, which made every ListTopics/DescribeTopic (and every console page showing topics)
slow. A worker here keeps running between calls, with one AdminClient per cluster config, so a call is
one JSON line each way. Isolation is unchanged: librdkafka aborting kills only that worker (the call
gets AdminUnavailable, the next call starts a new one), and a worker that does not answer in time is
killed. At most `size` calls run at once (one per worker); the others wait for a free worker.

Protocol: one JSON request per line on stdin, `{"config", "action", "args"}`; one reply per line,
`{"ok": ...}` or `{"error": {"code", "message"}}` (topic_admin's reply shape).
"""
from __future__ import annotations

import asyncio
import json
import sys
from collections import OrderedDict

MAX_CLIENTS = 8          # AdminClients kept per worker (one per cluster config; the oldest is dropped)


class AdminWorkers:
    def __init__(self, size: int = 3) -> None:
        self._idle: list[asyncio.subprocess.Process] = []
        self._slots = asyncio.Semaphore(size)

    async def _spawn(self) -> asyncio.subprocess.Process:
        from .topic_admin import _die_with_parent
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", __name__, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, preexec_fn=_die_with_parent, limit=64 * 1024 * 1024)

    async def call(self, request: dict, timeout: float) -> dict:
        """The child's reply (`{"ok": ...}` or `{"error": ...}`); AdminUnavailable if it died or timed out."""
        from .topic_admin import AdminUnavailable
        async with self._slots:
            worker = None
            while self._idle and worker is None:
                candidate = self._idle.pop()
                worker = candidate if candidate.returncode is None else None
            worker = worker or await self._spawn()
            try:
                worker.stdin.write((json.dumps(request) + "\n").encode())
                await worker.stdin.drain()
                line = await asyncio.wait_for(worker.stdout.readline(), timeout)
            except asyncio.TimeoutError:
                await _kill(worker)
                raise AdminUnavailable(f"no answer from the brokers within {timeout:.0f} s", timed_out=True)
            except (OSError, ConnectionError) as exc:
                await _kill(worker)
                raise AdminUnavailable(f"admin process failed: {exc!r}")
            if not line:
                await _kill(worker)
                raise AdminUnavailable("admin process exited (librdkafka aborted?)")
            self._idle.append(worker)
        try:
            return json.loads(line)
        except ValueError:
            raise AdminUnavailable(f"unreadable answer from the admin process: {line[:200]!r}")

    async def close(self) -> None:
        while self._idle:
            await _kill(self._idle.pop())


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


def main() -> None:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient
    from .topic_admin import ACTIONS
    clients: OrderedDict[str, AdminClient] = OrderedDict()
    for line in sys.stdin:
        try:
            request = json.loads(line)
            key = json.dumps(request["config"], sort_keys=True)
            if key not in clients:
                clients[key] = AdminClient({**request["config"], "client.id": "openmsk-topic-api", "log_level": 3})
                while len(clients) > MAX_CLIENTS:
                    clients.popitem(last=False)
            clients.move_to_end(key)
            reply = {"ok": ACTIONS[request["action"]](clients[key], **request["args"])}
        except KafkaException as exc:
            error = exc.args[0]
            reply = {"error": {"code": error.name(), "message": error.str()}}
        except TimeoutError:                 # a request future outlived its own timeout (a loaded host)
            reply = {"error": {"code": "_TIMED_OUT", "message": "the brokers did not answer in time"}}
        except Exception as exc:             # a bug or bad request: answered, the worker stays
            reply = {"error": {"code": "_INVALID_ARG", "message": f"{type(exc).__name__}: {exc}"}}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
