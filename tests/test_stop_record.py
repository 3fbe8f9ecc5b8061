"""The stop a placement sends is recorded in node.json before the signal, so a control plane started
after the one that sent it (killed right after its SIGTERM, mid-roll) sees the node as stopping while
it still answers, and neither its roll nor its first steps count it as serving. On real processes:
stand-ins for quorum nodes that answer ZooKeeper's `srvr` and, like a KRaft controller, keep answering
for seconds after SIGTERM; the dying control plane is a placement whose replace() is cancelled right
after its signal went out (as SIGKILL of `openmsk serve` would leave it); the next one is a new
placement on the same directory. (docs/operations.md, "The control plane dies during a roll".)"""
from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from pathlib import Path

from harness import alive, free_port
from openmsk.control.reconciler import ClusterReconciler
from openmsk.control.roller import ZooKeeperRoller
from openmsk.runtime.local import LocalProcessPlacement
from openmsk.runtime.nodes import ZooKeeperNode
from openmsk.runtime.placement import NodeSpec
from openmsk.runtime.zookeeper_config import ZooKeeperConfig

STOP_DELAY = 8.0        # seconds a stand-in keeps answering after SIGTERM
TIMEOUT = 600.0         # a whole scenario, at a load of 100+

# Answers `srvr` as a follower. On SIGTERM it saves the node.json it finds at that moment (the record
# must already say the node is stopping) and exits STOP_DELAY seconds later, answering meanwhile.
QUORUM_STANDIN = r"""
import os, shutil, signal, socket, sys, threading
host, port, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
terming = []
def on_term(*_):
    if terming:
        return
    terming.append(True)
    if not os.path.exists("record-at-sigterm.json"):     # whole or absent: the test reads it once it exists
        shutil.copy("node.json", "record-at-sigterm.json.tmp")
        os.replace("record-at-sigterm.json.tmp", "record-at-sigterm.json")
    threading.Timer(delay, lambda: os._exit(143)).start()
signal.signal(signal.SIGTERM, on_term)
server = socket.create_server((host, port))
while True:
    conn, _ = server.accept()
    try:
        conn.recv(16)
        conn.sendall(b"Zookeeper version: stand-in\nMode: follower\n")
    except OSError:
        pass
    finally:
        conn.close()
"""


def _ensemble(tmp_path: Path):
    """Three stand-in nodes: ZooKeeperNode objects (readiness through the real `srvr` probe), and for
    each an old and a new spec (they differ only by a marker argument, so the spec hash changes)."""
    script = tmp_path / "standin.py"
    script.write_text(QUORUM_STANDIN)
    cluster_dir = tmp_path / "nodes" / "cluster"
    nodes, old, new = [], {}, {}
    for i in (1, 2, 3):
        node = ZooKeeperNode(cluster_dir, ZooKeeperConfig(i, "127.0.0.1", "", {}, client_port=free_port()))
        command = [sys.executable, str(script), "127.0.0.1", str(node.config.client_port), str(STOP_DELAY)]
        old[node.name] = NodeSpec(node.name, "zookeeper", node.workdir, [*command, "old"])
        new[node.name] = NodeSpec(node.name, "zookeeper", node.workdir, [*command, "new"])
        nodes.append(node)
    return nodes, old, new


class DownWatch:
    """Polls the nodes' process records in a thread: the most nodes whose recorded process was not
    alive at the same moment (stopped and not started again yet counts as down)."""

    def __init__(self, nodes) -> None:
        self.records = [n.workdir / "node.json" for n in nodes]
        self.most_down = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            down = 0
            for record in self.records:
                try:
                    down += not alive(json.loads(record.read_text())["pid"])
                except (OSError, ValueError, KeyError):
                    pass            # being replaced (atomic rename): the next poll reads it
            self.most_down = max(self.most_down, down)
            time.sleep(0.02)

    def __enter__(self) -> "DownWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)


async def _wait_serving(nodes) -> None:
    while not all([await n.ready() for n in nodes]):
        await asyncio.sleep(0.1)


async def _die_after_sigterm(root: Path, spec: NodeSpec) -> None:
    """A control plane's replace() of the node, killed right after the SIGTERM went out: the task's
    first step records the stop and sends the signal, then waits for the exit; it is cancelled there
    (nothing it would do after the signal happens, as with SIGKILL of `openmsk serve`)."""
    dying = LocalProcessPlacement(root)
    replacing = asyncio.create_task(dying.replace(spec, grace=60))
    while "stopping_since" not in json.loads((spec.workdir / "node.json").read_text()):
        await asyncio.sleep(0)
    replacing.cancel()
    try:
        await replacing
    except asyncio.CancelledError:
        pass
    while not (spec.workdir / "record-at-sigterm.json").exists():     # the node's SIGTERM handler ran
        await asyncio.sleep(0.01)


async def _started(root, nodes, specs: dict) -> LocalProcessPlacement:
    """The ensemble running on `specs`, every node serving, as the first control plane left it."""
    placement = LocalProcessPlacement(root)
    for node in nodes:
        await placement.apply(specs[node.name])
    await _wait_serving(nodes)
    return placement


def test_a_roll_restarts_the_node_a_dead_control_plane_was_stopping_first(tmp_path):
    nodes, old, new = _ensemble(tmp_path)
    root = tmp_path / "nodes"

    async def scenario():
        await _started(root, nodes, old)
        with DownWatch(nodes) as watch:
            # The roll of nodes 1 and 2 had begun with node 2; its control plane died after the SIGTERM.
            await _die_after_sigterm(root, new[nodes[1].name])
            seen = json.loads((nodes[1].workdir / "record-at-sigterm.json").read_text())
            successor = LocalProcessPlacement(root)
            status = await successor.observe(nodes[1].name)
            answering = await nodes[1].ready()
            rolling = ZooKeeperRoller(successor)
            await rolling.roll(nodes, {n.name: new[n.name] for n in nodes[:2]})
            after = [await successor.observe(n.name) for n in nodes]
        return seen, status, answering, rolling.restarted, watch.most_down, after

    try:
        seen, status, answering, restarted, most_down, after = asyncio.run(asyncio.wait_for(scenario(), TIMEOUT))
    finally:
        asyncio.run(_cleanup(root, nodes))
    assert seen.get("stop_signal") == "SIGTERM" and seen.get("stopping_since")   # recorded before the signal
    assert status.running and status.adopted and status.stopping
    print(f"node 2 still answering when the next control plane looked: {answering}")
    assert restarted == [nodes[1].name, nodes[0].name]          # the stopping one first
    assert most_down == 1, most_down                            # never two quorum nodes down at once
    assert [s.spec_hash for s in after[:2]] == [new[n.name].spec_hash() for n in nodes[:2]]
    assert all(s.running and not s.stopping and s.stopping_since is None for s in after)


class _Plane:
    def __init__(self, placement) -> None:
        self.placement = placement
        self.events: list[str] = []

    def note_event(self, _cluster, message: str) -> None:
        self.events.append(message)

    def note_started(self, _cluster, _name, _status) -> None:
        pass


def test_the_next_pass_starts_a_stopping_node_on_its_desired_spec_before_anything_else(tmp_path):
    """reconciler.start_node (START_ZOOKEEPER / START_CONTROLLERS / START_BROKERS, the first steps of a
    pass): a node found stopping is waited for and started on its desired spec; the others are left
    running as they are (rolling them is the roll step's decision, which then finds nothing stopping)."""
    nodes, old, new = _ensemble(tmp_path)
    root = tmp_path / "nodes"

    async def scenario():
        first = await _started(root, nodes, old)
        pids = {n.name: (await first.observe(n.name)).pid for n in nodes}
        await _die_after_sigterm(root, new[nodes[1].name])
        successor = LocalProcessPlacement(root)
        reconciler = ClusterReconciler(_Plane(successor), "arn:test")
        reconciler.spec = lambda cluster, node, renew=False: new[node.name]
        cluster = {"State": "UPDATING", "ClusterName": "stopping"}
        for node in nodes:
            await reconciler.start_node(cluster, node)
        await _wait_serving(nodes)
        after = {n.name: await successor.observe(n.name) for n in nodes}
        return pids, after, reconciler.plane.events

    try:
        pids, after, events = asyncio.run(asyncio.wait_for(scenario(), TIMEOUT))
    finally:
        asyncio.run(_cleanup(root, nodes))
    one, two, three = (n.name for n in nodes)
    assert after[two].pid != pids[two] and after[two].spec_hash == new[two].spec_hash()
    assert not after[two].stopping and after[two].stopping_since is None
    assert [after[n].pid for n in (one, three)] == [pids[one], pids[three]]     # untouched
    assert [after[n].spec_hash for n in (one, three)] == [old[one].spec_hash(), old[three].spec_hash()]
    assert any("zookeeper-2 is still stopping" in e for e in events), events


async def _cleanup(root: Path, nodes) -> None:
    placement = LocalProcessPlacement(root)
    for node in nodes:
        await placement.delete(node.name, grace=1)       # stand-ins: no shutdown to wait for
