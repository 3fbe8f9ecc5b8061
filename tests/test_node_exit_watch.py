"""LocalProcessPlacement.wait_exit: the supervisor sleeps until a node exits instead of polling every node
each second (issue 15's idle cost). It must wake for a crash of a node this placement started and of one
adopted from an earlier control-plane process, and wait (not spin) while every node runs."""
from __future__ import annotations

import asyncio
import os
import signal

from openmsk.runtime.local import LocalProcessPlacement
from openmsk.runtime.placement import NodeSpec

NEVER = 3600.0          # a wait_exit timeout no test run reaches: returning means it was woken


def _spec(tmp_path, name: str) -> NodeSpec:
    return NodeSpec(name=f"cluster/{name}", kind="broker", workdir=tmp_path / "cluster" / name,
                    command=["sleep", "600"])


async def _crash_and_wait(placement, watcher, name: str, pid: int) -> str:
    waiting = asyncio.create_task(watcher.wait_exit([name, "cluster/other"], NEVER))
    await asyncio.sleep(0.5)
    assert not waiting.done()                       # both nodes run: it waits
    os.kill(pid, signal.SIGKILL)
    await asyncio.wait_for(waiting, 120)            # woken by the exit, long before NEVER
    return (await watcher.observe(name)).phase


def test_wait_exit_wakes_for_a_started_and_an_adopted_node(tmp_path):
    async def scenario():
        placement = LocalProcessPlacement(tmp_path)
        try:
            started = await placement.apply(_spec(tmp_path, "started"))
            await placement.apply(_spec(tmp_path, "other"))
            phase_started = await _crash_and_wait(placement, placement, "cluster/started", started.pid)
            # A control plane started later adopts running nodes: no Popen child, a pidfd all the same.
            adopted = await placement.apply(_spec(tmp_path, "adopted"))
            later = LocalProcessPlacement(tmp_path)
            assert (await later.observe("cluster/adopted")).adopted
            phase_adopted = await _crash_and_wait(placement, later, "cluster/adopted", adopted.pid)
            # A node already gone when the wait begins: it returns at once.
            await asyncio.wait_for(placement.wait_exit(["cluster/started"], NEVER), 60)
            return phase_started, phase_adopted
        finally:
            for name in ("started", "other", "adopted"):
                await placement.delete(f"cluster/{name}", grace=5)
    assert asyncio.run(scenario()) == ("exited", "exited")
