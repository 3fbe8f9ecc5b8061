"""Simulated Availability-Zone outages (`openmsk zone down|up`).

An AZ outage, seen from the rest of a cluster, is a set of nodes that stop answering without saying
goodbye: no FIN, no controlled shutdown, connections that hang. openmsk reproduces exactly that by
*freezing* every broker and ZooKeeper process of the zone (SIGSTOP to its process group) and thawing
it on `zone up` (SIGCONT). Consequences are Kafka's own: the frozen brokers' ZooKeeper sessions expire
(zookeeper.session.timeout.ms, 18 s), the controller moves leadership away, ISRs shrink after
replica.lag.time.max.ms (30 s), a frozen ZooKeeper node leaves the quorum; after the thaw the nodes
re-register and catch up.

Freezing rather than killing is deliberate: a frozen process is still "running" to the control plane's
supervisor, so it does not "heal" the outage away within a second (as MSK would not replace brokers of
a zone that is merely unreachable), and no control-plane code has to know about outages.

The outage is recorded in `<cluster-dir>/zone-outages.json` ({zone id: {"since": epoch, "nodes":
[node dir names]}}) so `openmsk status` can say why nodes do not answer, and `zone up` thaws exactly
what `zone down` froze. Process ids come from each node's `node.json`, written by the placement driver.
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

OUTAGES = "zone-outages.json"


def _pid(workdir: Path) -> int | None:
    try:
        record = json.loads((workdir / "node.json").read_text())
    except (OSError, ValueError):
        return None
    if record.get("exited_at") is not None:
        return None
    return record.get("pid")


def _proc_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def process_state(workdir: Path) -> str:
    """'running', 'frozen' (stopped by a zone outage), 'stopped' or 'absent' (never started here)."""
    if not (workdir / "node.json").exists():
        return "absent"
    pid = _pid(workdir)
    state = _proc_state(pid) if pid else None
    if state is None or state in ("Z", "X"):
        return "stopped"
    return "frozen" if state in ("T", "t") else "running"


def outages(cluster_dir: Path) -> dict[str, dict]:
    try:
        return json.loads((cluster_dir / OUTAGES).read_text())
    except (OSError, ValueError):
        return {}


def _save(cluster_dir: Path, doc: dict) -> None:
    path = cluster_dir / OUTAGES
    if not doc:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)


def _signal_group(pid: int, sig: int) -> bool:
    try:
        os.killpg(pid, sig)              # each node is its own process-group leader
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        try:
            os.kill(pid, sig)
            return True
        except ProcessLookupError:
            return False


def zone_down(cluster_dir: Path, zone_id: str, node_dirs: list[str]) -> list[str]:
    """Freeze the running nodes among `node_dirs` (e.g. "broker-1", "zookeeper-1"); returns those frozen."""
    frozen = []
    for name in node_dirs:
        pid = _pid(cluster_dir / name)
        if pid and process_state(cluster_dir / name) in ("running", "frozen") and _signal_group(pid, signal.SIGSTOP):
            frozen.append(name)
    doc = outages(cluster_dir)
    previous = doc.get(zone_id, {})
    doc[zone_id] = {"since": previous.get("since", time.time()),
                    "nodes": sorted(set(previous.get("nodes", [])) | set(frozen))}
    _save(cluster_dir, doc)
    return frozen


def zone_up(cluster_dir: Path, zone_id: str, node_dirs: list[str] = ()) -> list[str]:
    """Thaw what `zone_down` froze in this zone (plus any frozen node in `node_dirs`); returns them."""
    doc = outages(cluster_dir)
    names = set(doc.pop(zone_id, {}).get("nodes", [])) | {n for n in node_dirs
                                                           if process_state(cluster_dir / n) == "frozen"}
    thawed = []
    for name in sorted(names):
        pid = _pid(cluster_dir / name)
        if pid and _signal_group(pid, signal.SIGCONT):
            thawed.append(name)
    _save(cluster_dir, doc)
    return thawed
