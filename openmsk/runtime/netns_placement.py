"""NamespacedPlacement: a Placement that puts each node into its network namespace on its VPC's bridge.

It wraps another driver (LocalProcessPlacement): before a node starts, `attach(spec)` (given by the
control plane, which knows VPCs, subnets and security groups) says where it sits on the wire; the
namespace, its veth and its ruleset are made ready (runtime/netns.py) and the node's command runs
inside it through `nsenter --net=...`, which execs, so the driver's pid is the node's own. Nodes
sharing an address (a broker and its node-exporter sidecar) share the namespace; it is removed when
the last of them is deleted. The driver knows nothing of Kafka: a spec and an Attachment only.
`on_namespace` callables run (on the event loop) with a namespace's name after it is made ready or
removed: the control plane's relay services, which listen inside nodes' namespaces, sleep until then.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Callable

from . import netns
from .placement import NodeSpec, NodeStatus


class NamespacedPlacement:
    def __init__(self, inner, root: Path, attach: Callable[[NodeSpec], "netns.Attachment | None"]) -> None:
        self.inner = inner
        self.attach = attach
        self._registry_path = Path(root) / "netns.json"     # node name -> namespace
        self._lock = asyncio.Lock()
        self.on_namespace: list[Callable[[str], None]] = []

    def _changed(self, namespace: str) -> None:
        for listener in self.on_namespace:
            listener(namespace)

    def _registry(self) -> dict[str, str]:
        try:
            return json.loads(self._registry_path.read_text())
        except (OSError, ValueError):
            return {}

    def _save(self, registry: dict[str, str]) -> None:
        self._registry_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._registry_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(registry))
        tmp.replace(self._registry_path)

    def namespace_of(self, name: str) -> str | None:
        return self._registry().get(name)

    async def _wrap(self, spec: NodeSpec) -> NodeSpec:
        attachment = self.attach(spec)
        if attachment is None:
            return spec
        async with self._lock:
            await asyncio.to_thread(netns.ensure_endpoint, attachment)
            registry = self._registry()
            registry[spec.name] = attachment.namespace
            self._save(registry)
        self._changed(attachment.namespace)
        # Same spec hash: where a node runs is not what it runs (the hash covers command, files, env).
        wrapped = dataclasses.replace(spec, command=["nsenter", f"--net={netns.NETNS_DIR}/{attachment.namespace}",
                                                      "--", *spec.command])
        wrapped.spec_hash = spec.spec_hash
        return wrapped

    async def apply(self, spec: NodeSpec) -> NodeStatus:
        status = await self.inner.observe(spec.name)
        if status.running:
            return await self.inner.apply(spec)
        return await self.inner.apply(await self._wrap(spec))

    async def observe(self, name: str) -> NodeStatus:
        return await self.inner.observe(name)

    async def replace(self, spec: NodeSpec, *, grace: float = 60.0) -> NodeStatus:
        return await self.inner.replace(await self._wrap(spec), grace=grace)

    async def delete(self, name: str, *, grace: float = 60.0, purge: bool = False) -> None:
        await self.inner.delete(name, grace=grace, purge=purge)
        async with self._lock:
            registry = self._registry()
            namespace = registry.pop(name, None)
            self._save(registry)
        if namespace and namespace not in registry.values():
            await asyncio.to_thread(netns.delete_namespace, namespace)
            self._changed(namespace)

    async def pause(self, name: str) -> bool:
        return await self.inner.pause(name)

    async def resume(self, name: str) -> bool:
        return await self.inner.resume(name)

    async def names(self, prefix: str) -> list[str]:
        return await self.inner.names(prefix)

    async def wait_exit(self, names: list[str], timeout: float) -> None:
        await self.inner.wait_exit(names, timeout)
