"""Broker data volumes: a sparse image file of VolumeSize GiB per broker, attached to a loop device,
with its own XFS filesystem mounted on the broker's data directory, grown online (xfs_growfs) when
the storage grows. A full volume is a full disk for Kafka, as on MSK, and the filesystem's own
figures are KafkaDataLogsDiskUsed.

XFS because it grows while mounted with CAP_SYS_ADMIN alone (ext4's online resize also needs
CAP_SYS_RESOURCE, which containers often lack). Volumes outlive the control plane like the brokers
do (kernel state): `ensure` re-adopts a mounted one, re-attaches an image after a reboot, and only a
new image gets a filesystem. Without the privilege or the tools, `LoopVolumes.detect()` says why and
callers keep plain directories. The control plane decides sizes (control/storage.py); this module
only knows loop devices, images and mounts.
"""
from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

GIB = 1024 ** 3
TOOLS = ("losetup", "mkfs.xfs", "xfs_growfs", "mount", "umount")
LOOP_CTL_GET_FREE = 0x4C82
LOOP_MAJOR = 7


class VolumeError(Exception):
    pass


def _run(*cmd: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise VolumeError(f"{' '.join(cmd)}: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout.strip()


def _attached(image: Path) -> list[str]:
    """Loop devices backed by `image`."""
    out = _run("losetup", "-n", "-O", "NAME", "-j", str(image))
    return [line.strip() for line in out.splitlines() if line.strip()]


def _attach(image: Path) -> str:
    try:
        return _run("losetup", "-f", "--show", str(image))
    except VolumeError:
        # Every /dev/loopN node is taken: ask the kernel for a free index and make its node (a
        # container's /dev often has only loop0-7).
        fd = os.open("/dev/loop-control", os.O_RDWR)
        try:
            index = fcntl.ioctl(fd, LOOP_CTL_GET_FREE)
        finally:
            os.close(fd)
        device = f"/dev/loop{index}"
        if not os.path.exists(device):
            os.mknod(device, 0o660 | 0o060000, os.makedev(LOOP_MAJOR, index))
        _run("losetup", device, str(image))
        return device


def _mkfs(image: Path, size_gib: int) -> None:
    # A small log: mkfs.xfs would otherwise allocate ~500 MiB of a 1,000 GiB sparse image for it.
    log_opts = ["-l", "size=64m"] if size_gib >= 16 else []
    _run("mkfs.xfs", "-q", "-K", *log_opts, str(image))


class LoopVolumes:
    def __init__(self, reason_unavailable: str | None) -> None:
        self.unavailable = reason_unavailable      # None: volumes are real

    @classmethod
    def detect(cls) -> "LoopVolumes":
        """Real volumes if this process may create them (tried once with a scratch volume)."""
        if os.environ.get("OPENMSK_BROKER_VOLUMES", "").lower() in ("off", "0", "false", "no"):
            return cls("turned off by OPENMSK_BROKER_VOLUMES")
        if os.geteuid() != 0:
            return cls("creating loop devices and mounting filesystems needs root")
        missing = [t for t in TOOLS if shutil.which(t) is None]
        if missing:
            return cls(f"missing tools: {', '.join(missing)} (scripts/install installs xfsprogs)")
        if not Path("/dev/loop-control").exists():
            return cls("no /dev/loop-control (no loop device support)")
        scratch = Path(tempfile.mkdtemp(prefix="openmsk-volume-probe-"))
        try:
            volumes = cls(None)
            volumes._ensure(scratch / "probe.img", scratch / "mnt", 1)
            volumes._grow(scratch / "probe.img", scratch / "mnt", 2)
            volumes._release(scratch / "probe.img", scratch / "mnt", purge=True)
            return volumes
        except (VolumeError, OSError, subprocess.TimeoutExpired) as exc:
            try:
                cls(None)._release(scratch / "probe.img", scratch / "mnt", purge=True)
            except (VolumeError, OSError):
                pass
            return cls(f"a test volume could not be created, mounted and grown: {exc}")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    @property
    def available(self) -> bool:
        return self.unavailable is None

    # -- the coroutines control calls ----------------------------------------------------------
    async def ensure(self, image: Path, mountpoint: Path, size_gib: int) -> None:
        """Completes when `image` (created sparse at `size_gib` if missing) is mounted on `mountpoint`."""
        await asyncio.to_thread(self._ensure, image, mountpoint, size_gib)

    async def grow(self, image: Path, mountpoint: Path, size_gib: int) -> bool:
        """Grow the image, its loop device and the mounted filesystem to `size_gib` (online); False if
        it was that large already. Never shrinks."""
        return await asyncio.to_thread(self._grow, image, mountpoint, size_gib)

    async def release(self, image: Path, mountpoint: Path, *, purge: bool = False) -> None:
        """Unmount and detach (the broker must be stopped); `purge` also deletes the image."""
        await asyncio.to_thread(self._release, image, mountpoint, purge=purge)

    @staticmethod
    def size_bytes(image: Path) -> int:
        return image.stat().st_size if image.exists() else 0

    # -- blocking parts ------------------------------------------------------------------------
    def _ensure(self, image: Path, mountpoint: Path, size_gib: int) -> None:
        mountpoint.mkdir(parents=True, exist_ok=True)
        if os.path.ismount(mountpoint):
            return                                  # adopted: mounted by an earlier control plane
        image.parent.mkdir(parents=True, exist_ok=True)
        if not image.exists():
            # Made under another name and renamed once it has its filesystem: a crash in between leaves
            # no image without one.
            fresh = image.with_suffix(".new")
            with open(fresh, "wb") as fh:
                fh.truncate(size_gib * GIB)         # sparse
            _mkfs(fresh, size_gib)
            os.replace(fresh, image)
        devices = _attached(image)
        device = devices[0] if devices else _attach(image)
        if any(mountpoint.iterdir()):
            raise VolumeError(f"{mountpoint} is not empty; not mounting a volume over existing data")
        _run("mount", "-o", "noatime", device, str(mountpoint))
        log.info("volume %s (%s) mounted on %s", image.name, device, mountpoint)

    def _grow(self, image: Path, mountpoint: Path, size_gib: int) -> bool:
        if image.stat().st_size >= size_gib * GIB:
            return False
        with open(image, "r+b") as fh:
            fh.truncate(size_gib * GIB)
        for device in _attached(image):
            _run("losetup", "-c", device)
        _run("xfs_growfs", str(mountpoint))
        log.info("volume %s grown to %d GiB", image.name, size_gib)
        return True

    def _release(self, image: Path, mountpoint: Path, *, purge: bool = False) -> None:
        if os.path.ismount(mountpoint):
            _run("umount", str(mountpoint))
        if image.exists():
            for device in _attached(image):
                _run("losetup", "-d", device)
            if purge:
                image.unlink()
