"""NullPlacement: a placement driver that never starts a process (`OPENMSK_PLACEMENT=none`).

For exercising the control plane's API without a data plane: the API fuzzer (tests/fuzz/) may get
thousands of CreateCluster calls accepted and must not start a JVM for any of them. Every node it is
asked to place is reported as exited at once, so a new cluster goes CREATING -> FAILED ("the data
plane is disabled") within a reconcile pass, and deleting it is a no-op. Nothing is written to disk.
"""
from __future__ import annotations

import os
from pathlib import Path

from .placement import NodeSpec, NodeStatus, poll_exit

#: Exit code reported for every node: 0 would read as a clean stop, this reads as "never ran".
NOT_STARTED = 127


class NullPlacement:
    places_nothing = True           # the control plane claims no machine-wide address slot for it
    def __init__(self) -> None:
        self._specs: dict[str, str] = {}        # node name -> spec hash it was asked to run

    async def apply(self, spec: NodeSpec) -> NodeStatus:
        self._specs[spec.name] = spec.spec_hash()
        return await self.observe(spec.name)

    async def observe(self, name: str) -> NodeStatus:
        if name not in self._specs:
            return NodeStatus(name, "absent")
        return NodeStatus(name, "exited", exit_code=NOT_STARTED, spec_hash=self._specs[name])

    async def replace(self, spec: NodeSpec, *, grace: float = 60.0) -> NodeStatus:
        return await self.apply(spec)

    async def delete(self, name: str, *, grace: float = 60.0, purge: bool = False) -> None:
        self._specs.pop(name, None)

    async def names(self, prefix: str) -> list[str]:
        return sorted(n for n in self._specs if n.startswith(prefix + "/"))

    async def pause(self, name: str) -> bool:
        return False

    async def resume(self, name: str) -> bool:
        return False

    async def wait_exit(self, names: list[str], timeout: float) -> None:
        await poll_exit(timeout)


def placement_from_env(root: Path):
    """The placement driver the environment asks for: `OPENMSK_PLACEMENT=none` -> NullPlacement,
    otherwise (unset or `local`) child processes on this host."""
    choice = os.environ.get("OPENMSK_PLACEMENT", "local").strip().lower()
    if choice == "none":
        return NullPlacement()
    if choice != "local":
        raise ValueError(f"OPENMSK_PLACEMENT={choice!r}: expected 'local' or 'none'")
    from .local import LocalProcessPlacement
    return LocalProcessPlacement(root)
