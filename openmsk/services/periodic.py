"""PeriodicWork: a control-plane background service that runs one blocking function of a service's store
in a worker thread every few seconds (log retention sweeps, Firehose buffer flushes). A failed pass is
logged and the next one runs as planned: one bad row never stops the service."""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

log = logging.getLogger(__name__)


class PeriodicWork:
    def __init__(self, name: str, work: Callable[[], object], interval: float,
                 report: Callable[[object], None] | None = None) -> None:
        self.name, self.work, self.interval, self.report = name, work, interval, report
        self._task: asyncio.Task | None = None

    async def start(self, plane) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                result = await asyncio.to_thread(self.work)
                if self.report is not None:
                    self.report(result)
            except Exception:
                log.exception("%s pass failed", self.name)
            await asyncio.sleep(self.interval)
