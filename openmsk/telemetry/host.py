"""A broker's CPU, memory and disk, read from /proc and its data directory.

On MSK each broker is its own instance; here brokers share a host. So the CPU metrics are the broker
process's share of the whole host, shaped like an instance of its own: CpuUser / CpuSystem are the
process's user / system time over all the host's CPU time, CpuIoWait its block-I/O delay (delay
accounting; 0 where the kernel does not keep it), and CpuIdle the rest, so the four add up to 100.
Memory: MemoryUsed is the broker's resident set; Free/Buffered/Cached/Swap are the host's.
KafkaDataLogsDiskUsed is the space the broker's log dir occupies on disk as a percentage of the
provisioned EBS volume (`VolumeSize` GiB), which is what fills up on MSK.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

GIB = 1024 ** 3


@dataclass
class CpuSample:
    utime: int
    stime: int
    blkio: int
    host_total: int
    at: float


def host_cpu_total() -> int:
    with open("/proc/stat") as fh:
        fields = fh.readline().split()[1:9]   # user nice system idle iowait irq softirq steal
    return sum(int(x) for x in fields)


def cpu_sample(pid: int) -> CpuSample | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    blkio = int(fields[39]) if len(fields) > 39 else 0
    return CpuSample(int(fields[11]), int(fields[12]), blkio, host_cpu_total(), time.monotonic())


def cpu_percentages(before: CpuSample, after: CpuSample) -> dict[str, float] | None:
    total = after.host_total - before.host_total
    if total <= 0:
        return None
    user = max(0.0, 100.0 * (after.utime - before.utime) / total)
    system = max(0.0, 100.0 * (after.stime - before.stime) / total)
    iowait = min(max(0.0, 100.0 * (after.blkio - before.blkio) / total), max(0.0, 100.0 - user - system))
    return {"CpuUser": user, "CpuSystem": system, "CpuIoWait": iowait,
            "CpuIdle": max(0.0, 100.0 - user - system - iowait)}


def meminfo() -> dict[str, int]:
    out = {}
    with open("/proc/meminfo") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts:
                out[key] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    return out


def rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def memory_metrics(pid: int) -> dict[str, float]:
    info = meminfo()
    out = {"MemoryFree": info.get("MemFree", 0), "MemoryBuffered": info.get("Buffers", 0),
           "MemoryCached": info.get("Cached", 0), "SwapFree": info.get("SwapFree", 0),
           "SwapUsed": max(0, info.get("SwapTotal", 0) - info.get("SwapFree", 0))}
    rss = rss_bytes(pid)
    if rss is not None:
        out["MemoryUsed"] = rss
    return {k: float(v) for k, v in out.items()}


def io_bytes(pid: int) -> tuple[int, int] | None:
    """(read_bytes, write_bytes) the process caused at the block layer."""
    try:
        with open(f"/proc/{pid}/io") as fh:
            values = dict(line.split(": ", 1) for line in fh.read().splitlines() if ": " in line)
        return int(values["read_bytes"]), int(values["write_bytes"])
    except (OSError, KeyError, ValueError):
        return None


def disk_bytes(path: Path) -> int:
    """Bytes allocated on disk under `path` (sparse index files count for what they occupy)."""
    total = 0
    stack = [str(path)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def data_logs_disk_used(data_dir: Path, volume_gib: float) -> float:
    if os.path.ismount(data_dir):           # a real volume (runtime/volumes.py): the filesystem's own figure
        return root_disk_used(data_dir)
    return 100.0 * disk_bytes(data_dir) / (max(volume_gib, 1) * GIB)


def root_disk_used(path: Path) -> float:
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    return 100.0 * (total - st.f_bfree * st.f_frsize) / total if total else 0.0
