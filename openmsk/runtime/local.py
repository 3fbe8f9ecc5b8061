"""LocalProcessPlacement: data-plane nodes as supervised child processes on this host.

Each node runs in its own session (so a control-plane crash or Ctrl-C does not take brokers with it)
with stdout/stderr appended to `<workdir>/logs/stdout.log`. `<workdir>/node.json` records pid, the
kernel's start time of that pid and the spec hash: after a control-plane restart `observe` re-adopts a
still-running node only if the pid still belongs to the process we started (pid reuse is detected by
the start time), otherwise the node is reported exited and the reconciler starts it again.
Stopping is graceful: SIGTERM to the process group, wait up to `grace`, SIGQUIT for a JVM thread
dump into stdout.log, then SIGKILL. The stop is written to node.json (`stopping_since`, `stop_signal`)
before the signal is sent, so a control plane that dies right after it leaves the node reported as
stopping (NodeStatus.stopping), not serving, to the next one; the next start writes a new record.
`wait_exit` sleeps on a pidfd per running node (Linux >= 5.3: readable the moment the process exits,
children and adopted nodes alike), so the supervisor learns of a crash at once without polling;
without pidfds it polls.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .pki import write_secret
from .placement import NodeSpec, NodeStatus, poll_exit

log = logging.getLogger(__name__)


def _proc_start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # Field 22 (starttime); the command name (field 2) may contain spaces, so split after ')'.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":       # zombie: exited, not yet reaped
        return None
    return int(fields[19])


class LocalProcessPlacement:
    def __init__(self, root: Path) -> None:
        # A node named "<cluster>/<node>" lives in root/<cluster>/<node>, so observe() finds nodes
        # started by an earlier control-plane process without being told.
        self.root = Path(root)
        self._children: dict[str, subprocess.Popen] = {}
        self._workdirs: dict[str, Path] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._pidfds: dict[str, tuple[int, int]] = {}     # node name -> (pid, pidfd), for wait_exit

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    # -- the Placement interface -------------------------------------------------------------
    async def apply(self, spec: NodeSpec) -> NodeStatus:
        async with self._lock(spec.name):
            self._workdirs[spec.name] = spec.workdir
            status = self._observe(spec.name)
            if status.running:
                return status
            return self._start(spec)

    async def observe(self, name: str) -> NodeStatus:
        return self._observe(name)

    async def replace(self, spec: NodeSpec, *, grace: float = 60.0) -> NodeStatus:
        async with self._lock(spec.name):
            self._workdirs[spec.name] = spec.workdir
            await self._stop(spec.name, grace)
            return self._start(spec)

    async def delete(self, name: str, *, grace: float = 60.0, purge: bool = False) -> None:
        async with self._lock(name):
            await self._stop(name, grace)
            self._close_pidfd(name)
            workdir = self._workdir(name)
            self._workdirs.pop(name, None)
            if purge and workdir.exists():
                shutil.rmtree(workdir, ignore_errors=True)

    async def names(self, prefix: str) -> list[str]:
        return sorted(f"{prefix}/{record.parent.name}" for record in (self.root / prefix).glob("*/node.json"))

    async def pause(self, name: str) -> bool:
        status = self._observe(name)
        if status.running:
            self._signal(status.pid, signal.SIGSTOP)     # the whole process group: the JVM and its children
        return status.running

    async def resume(self, name: str) -> bool:
        status = self._observe(name)
        if status.running:
            self._signal(status.pid, signal.SIGCONT)
        return status.running

    async def wait_exit(self, names: list[str], timeout: float) -> None:
        # One waiter at a time (the supervisor): a pidfd has one reader callback on the loop.
        fds = []
        for name in names:
            fd = self._pidfd(name)
            if fd is None:
                if not self._observe(name).running:
                    return                        # already gone: the caller looks now
                return await poll_exit(timeout)   # no pidfd for it: poll
            fds.append(fd)
        loop = asyncio.get_running_loop()
        exited = loop.create_future()
        for fd in fds:
            loop.add_reader(fd, lambda: exited.done() or exited.set_result(None))
        try:
            await asyncio.wait_for(exited, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            for fd in fds:
                loop.remove_reader(fd)

    # -- internals ---------------------------------------------------------------------------
    def _pidfd(self, name: str) -> int | None:
        """A pidfd of the node's running process (cached while it runs), None if it is not running or
        pidfds are unavailable."""
        status = self._observe(name)
        cached = self._pidfds.get(name)
        if cached is not None and (not status.running or cached[0] != status.pid):
            self._close_pidfd(name)
            cached = None
        if not status.running:
            return None
        if cached is None:
            try:
                fd = os.pidfd_open(status.pid)
            except (AttributeError, OSError):      # exited meanwhile, or no pidfd_open (old kernel, seccomp)
                return None
            record = self._read_record(name) or {}
            if status.adopted and _proc_start_ticks(status.pid) != record.get("start_ticks"):
                os.close(fd)                          # the pid was reused between observe and open
                return None
            self._pidfds[name] = cached = (status.pid, fd)
        return cached[1]

    def _close_pidfd(self, name: str) -> None:
        cached = self._pidfds.pop(name, None)
        if cached is not None:
            os.close(cached[1])

    def _workdir(self, name: str) -> Path:
        return self._workdirs.get(name) or self.root / name

    def _record_path(self, name: str) -> Path:
        return self._workdir(name) / "node.json"

    def _read_record(self, name: str) -> dict | None:
        path = self._record_path(name)
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def _observe(self, name: str) -> NodeStatus:
        record = self._read_record(name)
        log_file = self._workdir(name) / "logs" / "stdout.log"
        if record is None:
            return NodeStatus(name, "absent", log_file=log_file)
        pid = record["pid"]

        def status(phase: str, exit_code=None, adopted: bool = False) -> NodeStatus:
            return NodeStatus(name, phase, pid, exit_code, record.get("spec_hash"), record.get("started_at"),
                              adopted, log_file, record.get("stopping_since"))

        child = self._children.get(name)
        if child is not None and child.pid == pid:
            code = child.poll()
            if code is None:
                return status("running")
            self._children.pop(name, None)
            record.update(exit_code=code, exited_at=time.time())
            self._write_record(name, record)
            return status("exited", code)
        if record.get("exited_at") is None and _proc_start_ticks(pid) == record.get("start_ticks"):
            return status("running", adopted=True)
        return status("exited", record.get("exit_code"))

    def _write_record(self, name: str, record: dict) -> None:
        path = self._record_path(name)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)

    def _start(self, spec: NodeSpec) -> NodeStatus:
        workdir = spec.workdir
        (workdir / "logs").mkdir(parents=True, exist_ok=True)
        for rel, content in spec.files.items():
            target = workdir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        for rel, content in spec.secret_files.items():
            write_secret(workdir / rel, content)        # 0600, atomic: never a partial key on disk
        stdout = open(workdir / "logs" / "stdout.log", "ab")
        try:
            stdout.write(f"\n=== openmsk: starting {spec.name} at {time.strftime('%Y-%m-%dT%H:%M:%S')} ===\n".encode())
            stdout.flush()
            env = {**os.environ, **spec.env, **spec.launch_env}
            child = subprocess.Popen(spec.command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=stdout,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        finally:
            stdout.close()
        self._children[spec.name] = child
        record = {"pid": child.pid, "start_ticks": _proc_start_ticks(child.pid), "spec_hash": spec.spec_hash(),
                  "started_at": time.time(), "kind": spec.kind, "command": spec.command}
        if spec.launch_env:
            record["launch_env"] = spec.launch_env
        self._write_record(spec.name, record)
        log.info("started %s (pid %d)", spec.name, child.pid)
        return NodeStatus(spec.name, "running", child.pid, None, record["spec_hash"], record["started_at"],
                          False, workdir / "logs" / "stdout.log")

    async def _stop(self, name: str, grace: float) -> None:
        status = self._observe(name)
        if not status.running:
            return
        pid = status.pid
        self._note_stop(name, "SIGTERM")
        self._signal(pid, signal.SIGTERM)
        if not await self._wait_gone(name, pid, grace):
            log.warning("%s (pid %d) did not stop within %.0fs; thread dump, then SIGKILL", name, pid, grace)
            self._signal(pid, signal.SIGQUIT)
            await asyncio.sleep(0.5)
            self._note_stop(name, "SIGKILL")
            self._signal(pid, signal.SIGKILL)
            await self._wait_gone(name, pid, 10.0)
        self._close_pidfd(name)
        record = self._read_record(name) or {}
        if record.get("exited_at") is None:
            record.update(exited_at=time.time(), stopped=True)
            self._write_record(name, record)
        self._children.pop(name, None)

    def _note_stop(self, name: str, signal_name: str) -> None:
        """Record the stop in node.json before its signal goes out: a control plane killed right after
        sending it leaves the record, and the next one reads the node as stopping (not serving) for as
        long as it still runs. The first stop's time is kept; `_start` writes a record without it."""
        record = self._read_record(name)
        if record is None:
            return                       # never started here: nothing runs to be stopped
        record.setdefault("stopping_since", time.time())
        record["stop_signal"] = signal_name
        self._write_record(name, record)

    @staticmethod
    def _signal(pid: int, sig: int) -> None:
        try:
            os.killpg(pid, sig)          # the node is its own session/group leader
        except ProcessLookupError:
            pass
        except PermissionError:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    async def _wait_gone(self, name: str, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            child = self._children.get(name)
            if child is not None and child.pid == pid:
                if child.poll() is not None:
                    return True
            elif _proc_start_ticks(pid) is None:
                return True
            await asyncio.sleep(0.1)
        return False
