"""Short-lived results the console reuses between page loads (issue 16: pages < 300 ms).

`Memo.get(key, ttl, make)` answers a result younger than `ttl` seconds, or runs `make()` -- once for
every request that asks for the same key meanwhile (single flight: twenty tabs reloading the groups
page cost one set of Kafka calls). A request with `fresh=True` (the browser's hard reload, which sends
`Cache-Control: no-cache`) never takes a kept result. Authorization is not cached: pages make their IAM
decisions on every request before they ask the memo, and the keys hold what the result depends on.
"""
from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable

MAX_ENTRIES = 256


class Memo:
    def __init__(self) -> None:
        self._kept: dict[tuple, tuple[float, float, object]] = {}    # key -> (expires, made at (epoch), value)
        self._flights: dict[tuple, asyncio.Future] = {}

    async def get(self, key: tuple, ttl: float, make: Callable[[], Awaitable], fresh: bool = False) -> tuple[object, float]:
        """(value, the epoch time it was made at)."""
        now = time.monotonic()
        kept = self._kept.get(key)
        if kept is not None and not fresh and kept[0] > now:
            return kept[2], kept[1]
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._make(key, ttl, make))
            self._flights[key] = flight
        return await asyncio.shield(flight)

    async def _make(self, key: tuple, ttl: float, make) -> tuple[object, float]:
        try:
            made = time.time()
            value = await make()
            if len(self._kept) >= MAX_ENTRIES:
                now = time.monotonic()
                self._kept = {k: v for k, v in self._kept.items() if v[0] > now}
                while len(self._kept) >= MAX_ENTRIES:
                    self._kept.pop(next(iter(self._kept)))
            self._kept[key] = (time.monotonic() + ttl, made, value)
            return value, made
        finally:
            self._flights.pop(key, None)

    def drop(self, match: Callable[[tuple], bool]) -> None:
        """Forget kept results whose key matches (after an action that changes them)."""
        self._kept = {k: v for k, v in self._kept.items() if not match(k)}
