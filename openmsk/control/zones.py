"""The record of simulated zone outages (control/outages.py freezes and thaws the nodes) and what a
node's process is doing, for `openmsk status` / `openmsk zone`.

The record is `<cluster-dir>/zone-outages.json`: {zone id: {"since": epoch, "nodes": [node dir names]}}.
Process states are read from each node's `node.json` (written by the placement driver) and /proc.
"""
from __future__ import annotations

import json
import os
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
    """'running', 'frozen' (stopped by a zone outage), 'cut off' (running, its links down by a zone outage
    in the namespace layout), 'stopped' or 'absent' (never started here)."""
    if not (workdir / "node.json").exists():
        return "absent"
    pid = _pid(workdir)
    state = _proc_state(pid) if pid else None
    if state is None or state in ("Z", "X"):
        return "stopped"
    if state in ("T", "t"):
        return "frozen"
    cut = any(workdir.name in o.get("nodes", []) and o.get("mechanism") == "links"
              for o in outages(workdir.parent).values())
    return "cut off" if cut else "running"


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


def record_down(cluster_dir: Path, zone_id: str, frozen: list[str], mechanism: str = "freeze") -> None:
    doc = outages(cluster_dir)
    previous = doc.get(zone_id, {})
    doc[zone_id] = {"since": previous.get("since", time.time()), "mechanism": mechanism,
                    "nodes": sorted(set(previous.get("nodes", [])) | set(frozen))}
    _save(cluster_dir, doc)


def record_up(cluster_dir: Path, zone_id: str) -> set[str]:
    """Forget the zone's outage; returns the node dir names it had frozen."""
    doc = outages(cluster_dir)
    nodes = set(doc.pop(zone_id, {}).get("nodes", []))
    _save(cluster_dir, doc)
    return nodes
