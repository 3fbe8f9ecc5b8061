"""Cluster slots, claimed machine-wide.

A slot fixes a cluster's loopback addresses (runtime.addressing), so two installations on one
machine (two data directories, e.g. a developer's service and a test run) must never hold the same
slot. Each claim is a file `<cache>/slots/<n>` created with O_EXCL naming the data directory that
owns it; a claim whose data directory no longer exists is stale and may be taken over.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from ..runtime.addressing import MAX_CLUSTER_SLOT
from ..runtime.distribution import cache_dir


def _claims_dir() -> Path:
    path = cache_dir() / "slots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def claim(data_dir: Path, cluster_arn: str, used_locally: set[int]) -> int:
    owner = str(Path(data_dir).resolve())
    for slot in range(1, MAX_CLUSTER_SLOT + 1):
        if slot in used_locally:
            continue
        path = _claims_dir() / str(slot)
        for _ in range(2):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if _stale(path):
                    path.unlink(missing_ok=True)
                    continue
                break
            with os.fdopen(fd, "w") as fh:
                json.dump({"data_dir": owner, "cluster": cluster_arn}, fh)
            return slot
    raise RuntimeError(f"no free cluster slot on this machine ({MAX_CLUSTER_SLOT} clusters at most)")


def release(data_dir: Path, slot: int) -> None:
    path = _claims_dir() / str(slot)
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if doc.get("data_dir") == str(Path(data_dir).resolve()):
        path.unlink(missing_ok=True)


def _stale(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return True
    if (Path(doc.get("data_dir", "/nonexistent")) / "openmsk.db").exists():
        return False
    # The data directory is gone, but its nodes may still run (a test runner deleted the directory of
    # a live installation): a slot whose addresses still answer is not free.
    return not _answers(int(path.name)) if path.name.isdigit() else True


def _answers(slot: int) -> bool:
    """True if any node of `slot` (ZooKeeper 2181/2182, broker replication 9093, in any of 6 zones)
    accepts a connection; a loopback address nobody listens on refuses at once."""
    for zone in range(1, 7):
        for host, ports in ((1, (9093,)), (2, (9093,)), (3, (9093,)), (101, (2181, 2182)), (102, (2181, 2182)),
                            (103, (2181, 2182))):
            for port in ports:
                try:
                    with socket.create_connection((f"127.{10 + zone}.{slot}.{host}", port), timeout=0.2):
                        return True
                except OSError:
                    pass
    return False


def ensure(data_dir: Path, slot: int, cluster_arn: str) -> bool:
    """Record (again) that this installation holds `slot`; False if a live other installation does."""
    owner = str(Path(data_dir).resolve())
    path = _claims_dir() / str(slot)
    try:
        doc = json.loads(path.read_text())
        if doc.get("data_dir") == owner:
            return True
        if not _stale(path):
            return False
    except (OSError, ValueError):
        pass
    path.write_text(json.dumps({"data_dir": owner, "cluster": cluster_arn}))
    return True
