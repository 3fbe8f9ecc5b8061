"""The shape shared by the control plane's relay services (public access, the brokers' channel to the
control plane, multi-VPC endpoints): a pass brings a set of TCP relays (and whatever else the pass
owns) to what the store wants; a failed pass is logged and retried.

A pass runs only when something it reads may have changed, not on a timer (issue 15, idle cost):
  - any store write of this process (`Store.on_write`: clusters, VPCs, subnets, security groups, VPC
    connections, endpoints; every input of the passes is a document);
  - a node's network namespace made ready or removed (`NamespacedPlacement.on_namespace`: the channel
    relays listen inside them);
  - a time-based change a pass announces by returning the seconds until it (a VPC connection's pending
    CREATING -> AVAILABLE settles by the clock, with no write);
  - a relay that could not listen, or a pass that failed: again after `INTERVAL`, as before;
  - `FALLBACK_INTERVAL`: writes by other processes (a CLI on the same store file) and namespaces
    removed by hand are not announced.
At most one pass per `INTERVAL`, so a burst of writes (a create) costs what the timer did.
OPENMSK_DEBUG_PASS_CPU=1 logs each pass's CPU time (bench/README.md, issue 15).
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time

from ..runtime.tcp_relay import Relays

log = logging.getLogger(__name__)

INTERVAL = 1.0                  # at most one pass a second; the retry delay after a failure
# A pass at least this often (changes nobody in this process announced); 1 gives the former timer
# (bench/relay_passes.py measures both).
FALLBACK_INTERVAL = float(os.environ.get("OPENMSK_RELAY_FALLBACK_INTERVAL", "15"))


class RelayService:
    """A background service of the control plane (plane.background_services): subclasses name it and
    implement `pass_once`."""

    name = "relays"

    def __init__(self) -> None:
        self.relays = Relays()
        self.passes = 0
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        self._unsubscribe: list = []

    async def start(self, plane) -> None:
        self._loop, self._thread = asyncio.get_running_loop(), threading.get_ident()
        self._wake = asyncio.Event()
        for listeners in (plane.store.on_write, getattr(plane.placement, "on_namespace", None)):
            if listeners is not None:
                listeners.append(self.wake)
                self._unsubscribe.append(lambda listeners=listeners: listeners.remove(self.wake))
        self._task = asyncio.create_task(self._run(plane), name=self.name)

    async def pass_once(self, plane) -> float | None:
        """One pass; returns the seconds until a change due by the clock alone (None: none)."""
        raise NotImplementedError

    def wake(self, *_changed) -> None:
        """Something a pass reads may have changed (callable from any thread)."""
        if self._wake is None or self._loop is None or self._loop.is_closed():
            return
        if threading.get_ident() == self._thread:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self, plane) -> None:
        loop, debug = asyncio.get_running_loop(), os.environ.get("OPENMSK_DEBUG_PASS_CPU") == "1"
        while True:
            self._wake.clear()          # writes from here on (this pass's own too) wake the next one
            started, cpu = loop.time(), time.process_time()
            wait = FALLBACK_INTERVAL
            try:
                due = await self.pass_once(plane)
                if due is not None:
                    wait = min(wait, due)
                if self.relays.failed:
                    wait = INTERVAL
            except Exception:               # noqa: BLE001 - a bad pass must not end the service for good
                log.exception("%s", self.name)
                wait = INTERVAL
            self.passes += 1
            if debug:
                log.info("%s: pass %d took %.3f ms of CPU", self.name, self.passes,
                         (time.process_time() - cpu) * 1000)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, wait))
            except asyncio.TimeoutError:
                pass
            await asyncio.sleep(max(0.0, started + INTERVAL - loop.time()))

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.relays.close()
