"""The shape shared by the control plane's relay services (public access, the brokers' channel to the
control plane, multi-VPC endpoints): one pass a second bringing a set of TCP relays (and whatever
else the pass owns) to what the store wants; a failed pass is logged and the next one runs."""
from __future__ import annotations

import asyncio
import logging

from ..runtime.tcp_relay import Relays

log = logging.getLogger(__name__)

INTERVAL = 1.0


class RelayService:
    """A background service of the control plane (plane.background_services): subclasses name it and
    implement `pass_once`."""

    name = "relays"

    def __init__(self) -> None:
        self.relays = Relays()
        self._task: asyncio.Task | None = None

    async def start(self, plane) -> None:
        self._task = asyncio.create_task(self._run(plane), name=self.name)

    async def pass_once(self, plane) -> None:
        raise NotImplementedError

    async def _run(self, plane) -> None:
        while True:
            try:
                await self.pass_once(plane)
            except Exception:               # noqa: BLE001 - a bad pass must not end the service for good
                log.exception("%s", self.name)
            await asyncio.sleep(INTERVAL)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.relays.close()
