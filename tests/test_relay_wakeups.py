"""The relay services' loop (control/relay_service.py) sleeps until something a pass reads may have
changed instead of reading the store every second (issue 15's idle cost). Real relays on 127.0.0.1,
a real store: a relay must appear after a store write (also one from another thread), after a node's
namespace is reported, after a pass's own clock-based due time, and be retried while its port is
taken; with nothing changing, no pass runs."""
from __future__ import annotations

import asyncio
import socket
from types import SimpleNamespace

from harness import free_port

from openmsk.control import relay_service
from openmsk.control.relay_service import RelayService
from openmsk.control.store import Store
from openmsk.services.kafka.vpc_connections import SETTLE_SECONDS, VpcConnectionStore
from openmsk.control import model

WAIT = 120.0            # generous: the machine may be at load 100+


class StoreRelays(RelayService):
    """Relays 127.0.0.1:<listen> -> 127.0.0.1:<target> for each document of kind `relay`; `due` is
    what pass_once returns (a clock-based change)."""

    name = "test relays"
    due: float | None = None                # returned by the next pass only

    async def pass_once(self, plane) -> float | None:
        wanted = {("127.0.0.1", d["Listen"]): ("127.0.0.1", d["Target"]) for d in plane.store.list("relay")
                  if d.get("On", True)}
        await self.relays.set(wanted)
        due, self.due = self.due, None
        return due


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return True
    except OSError:
        return False


async def _until(predicate, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    while not await asyncio.to_thread(predicate):
        assert asyncio.get_running_loop().time() < deadline, f"not within {WAIT:.0f}s: {what}"
        await asyncio.sleep(0.1)


async def _quiet(service: StoreRelays, seconds: float) -> int:
    """Passes run while nothing changes (the fallback is parked at an hour)."""
    before = service.passes
    await asyncio.sleep(seconds)
    return service.passes - before


def test_relays_follow_writes_namespaces_and_due_times_without_polling(tmp_path, monkeypatch):
    monkeypatch.setattr(relay_service, "FALLBACK_INTERVAL", 3600.0)

    async def scenario():
        store = Store(tmp_path / "openmsk.db")
        plane = SimpleNamespace(store=store, placement=SimpleNamespace(on_namespace=[]))
        target = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        target_port = target.sockets[0].getsockname()[1]
        service = StoreRelays()
        await service.start(plane)
        try:
            await _until(lambda: service.passes >= 1, "the first pass")
            assert await _quiet(service, 3.0) == 0                      # idle: no pass a second any more

            first = free_port()                                         # a write on the loop's thread
            store.put("relay", "a", {"Listen": first, "Target": target_port})
            await _until(lambda: _answers(first), "a relay after a write")

            second = free_port()                                        # a write from a worker thread
            await asyncio.to_thread(store.put, "relay", "b", {"Listen": second, "Target": target_port})
            await _until(lambda: _answers(second), "a relay after a write from another thread")

            store.delete("relay", "a")
            await _until(lambda: not _answers(first), "the relay gone after a delete")

            # A document changed behind the store's back (another process): only a wake-up finds it.
            third = free_port()
            elsewhere = Store(tmp_path / "openmsk.db")                  # as a CLI process would write
            elsewhere.put("relay", "c", {"Listen": third, "Target": target_port})
            elsewhere.close()
            assert await _quiet(service, 2.0) == 0 and not _answers(third)
            for listener in plane.placement.on_namespace:               # a node's namespace made ready
                listener("ns-of-a-node")
            await _until(lambda: _answers(third), "a relay after a namespace was reported")

            # A port someone else holds: retried (no write) until it is free.
            taken = socket.socket()
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            fourth = free_port()
            taken.bind(("127.0.0.1", fourth))
            taken.listen()
            store.put("relay", "d", {"Listen": fourth, "Target": target_port})
            await _until(lambda: ("127.0.0.1", fourth) in service.relays.failed, "the relay failing to listen")
            passes = service.passes
            taken.close()
            await _until(lambda: ("127.0.0.1", fourth) in service.relays.mapping, "the relay retried")
            assert service.passes > passes

            # A change due by the clock alone: the pass that returned its time runs again then.
            passes = service.passes
            service.due = 1.5
            store.put("relay", "e", {"Listen": free_port(), "Target": target_port, "On": False})
            await _until(lambda: service.passes >= passes + 2, "a pass at the announced due time")
            assert await _quiet(service, 3.0) == 0
        finally:
            await service.stop()
            target.close()
            store.close()
        assert plane.store.on_write == [] and plane.placement.on_namespace == []   # stop unsubscribes

    asyncio.run(scenario())


def test_vpc_connections_announce_when_a_pending_transition_settles(tmp_path):
    store = Store(tmp_path / "openmsk.db")
    connections = VpcConnectionStore(store)
    doc = {"VpcConnectionArn": "arn:conn", "TargetClusterArn": "arn:cluster", "Region": "us-east-1",
           "State": "AVAILABLE", "Pending": None, "Since": model.now_iso()}
    connections.put(doc)
    assert connections.settles_in() is None                         # nothing pending: no wake-up
    connections.put({**doc, "State": "CREATING", "Pending": "AVAILABLE", "Since": model.now_iso()})
    left = connections.settles_in()
    assert left is not None and 0 < left <= SETTLE_SECONDS + 0.05
    old = model.iso(model.utcnow().replace(year=2020))
    connections.put({**doc, "State": "CREATING", "Pending": "AVAILABLE", "Since": old})
    assert connections.settles_in() is None                         # already due: the asking pass sees it
    assert [d["VpcConnectionArn"] for d in connections.with_data_path()] == ["arn:conn"]
    store.close()
