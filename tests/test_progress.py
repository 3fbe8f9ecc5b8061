"""`openmsk create --wait` / `openmsk wait` progress on a real cluster: the operation's steps with the
time each finished, every node's readiness as it comes, on a terminal (redrawn block) and in a log
(one line per change)."""
from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time

from harness import OPENMSK


def _run_in_terminal(args: list[str], timeout: float) -> str:
    """Run a command with its stdout on a pseudo-terminal; returns everything it wrote."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, stdout=follower, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    os.close(follower)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(10)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_create_wait_shows_steps_and_node_readiness(service):
    data_dir = ["--data-dir", str(service.data_dir)]
    terminal: dict = {}
    create = subprocess.Popen([OPENMSK, "create", "progress", "--brokers", "2", "--zones", "2", "--wait",
                               "--timeout", "600", *data_dir], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    # A second watcher on a terminal, started while the cluster is CREATING.
    arn = create.stdout.readline().strip()
    assert arn.startswith("arn:aws:kafka:") and "/progress/" in arn
    import threading
    watcher = threading.Thread(target=lambda: terminal.update(
        out=_run_in_terminal([OPENMSK, "wait", "progress", "--interval", "0.5", *data_dir], 600)))
    watcher.start()
    rest, err = create.communicate(timeout=660)
    watcher.join(60)
    assert create.returncode == 0, rest + err

    # The log form: one line per change, each with the elapsed time, in order.
    lines = [line for line in rest.splitlines() if line.strip()]
    times = [float(m.group(1)) for m in (re.match(r"\s*(\d+\.\d)s  ", line) for line in lines) if m]
    assert times == sorted(times) and len(times) == len(lines), rest
    text = "\n".join(lines)
    assert lines[0].endswith("CREATING") and lines[-1].endswith("ACTIVE"), rest
    for step in ("PREPARE", "START_ZOOKEEPER", "START_BROKERS", "ZOOKEEPER_QUORUM", "BROKERS_REGISTERED"):
        assert f"step {step}: completed" in text, rest
    for broker in ("b-1", "b-2"):
        assert f"{broker} ok" in text, rest
    assert len(re.findall(r"z-\d (leader|follower)", text)) == 3, rest
    # Every node is shown ready by the time ACTIVE is printed (the last poll probes the nodes again: a
    # loaded host can make a broker ready between two polls); brokers start once the quorum formed.
    def when(pattern: str) -> float:
        return float(re.search(r"(\d+\.\d)s  " + pattern, text).group(1))
    assert max(when("b-1 ok"), when("b-2 ok")) <= when("ACTIVE"), rest
    assert when("step ZOOKEEPER_QUORUM: completed") <= when("step START_BROKERS: completed")

    # The terminal form: one block redrawn in place (cursor-up escapes), ending ACTIVE with every step
    # done and the node line counting up to all ready.
    out = terminal.get("out", "")
    assert "\x1b[" in out and "F" in out, out[-2000:]
    assert re.search(r"nodes [0-4]/5 ready", out), out[-2000:]
    assert re.search(r"ACTIVE\s+\d+\.\ds", out), out[-2000:]
    assert "BROKERS_REGISTERED" in out and "done" in out

    kafka = service.client("kafka")
    kafka.delete_cluster(ClusterArn=arn)
    # By ARN: the deletion may be over before this CLI has started (a name no longer resolves then).
    gone = subprocess.run([OPENMSK, "wait", arn, "--state", "DELETED", *data_dir], capture_output=True,
                          text=True, timeout=300)
    assert gone.returncode == 0 and gone.stdout.strip().splitlines()[-1].endswith("DELETED"), gone.stdout
