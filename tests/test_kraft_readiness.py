"""When a restarted KRaft controller counts as serving (runtime/kraft.py), on log excerpts of a real
3.9 -> 4.1 controller restart on a loaded host: FollowerState alone is not enough, the run must have
finished starting and caught up with the metadata log."""
from __future__ import annotations

import asyncio

from openmsk.runtime import kraft

OLD_RUN = """\
[2026-12-03 17:54:27,434] INFO [KafkaRaftServer nodeId=1001] Kafka Server started (kafka.server.KafkaRaftServer)
[2026-12-03 17:54:28,068] INFO [RaftManager id=1001] Completed transition to FollowerState(fetchTimeoutMs=2000, epoch=28, leader=1002) from Unattached(epoch=28) (org.apache.kafka.raft.QuorumState)
[2026-12-03 17:54:30,324] INFO [MetadataLoader id=1001] InitializeNewPublishers: initializing ControllerRegistrationManager with a snapshot at offset 7 (org.apache.kafka.image.loader.MetadataLoader)
[2026-12-03 17:59:44,082] INFO Terminating process due to signal SIGTERM (org.apache.kafka.common.utils.LoggingSignalHandler)
"""
NEW_RUN_STARTING = """\
[2026-12-03 18:01:01,001] INFO Registered `kafka:type=kafka.Log4jController` MBean (kafka.utils.Log4jControllerRegistration$)
[2026-12-03 18:01:25,604] INFO [ControllerServer id=1001] Starting controller (kafka.server.ControllerServer)
[2026-12-03 18:02:59,451] INFO [MetadataLoader id=1001] initializeNewPublishers: the loader is still catching up because we still don't know the high water mark yet. (org.apache.kafka.image.loader.MetadataLoader)
[2026-12-03 18:03:03,799] INFO [RaftManager id=1001] Completed transition to FollowerState(fetchTimeoutMs=2000, epoch=28, leader=1002, leaderEndpoints=Endpoints(endpoints={ListenerName(CONTROLLER)=/127.12.35.102:9097}), votedKey=Optional.empty) (org.apache.kafka.raft.QuorumState)
[2026-12-03 18:03:11,215] INFO [ControllerServer id=1001] Finished waiting for the controller metadata publishers to be installed (kafka.server.ControllerServer)
"""
NEW_RUN_CAUGHT_UP = """\
[2026-12-03 18:04:22,981] INFO [MetadataLoader id=1001] InitializeNewPublishers: initializing SnapshotGenerator with a snapshot at offset 1163 (org.apache.kafka.image.loader.MetadataLoader)
[2026-12-03 18:04:24,667] INFO [KafkaRaftServer nodeId=1001] Kafka Server started (kafka.server.KafkaRaftServer)
"""
REGISTERED = """\
[2026-12-03 18:04:26,102] INFO [ControllerRegistrationManager id=1001 incarnation=Fd3nY6dWQ3mCbmGbRk4rAg] Our registration has been persisted to the metadata log. (kafka.server.ControllerRegistrationManager)
"""
PROSPECTIVE = """\
[2026-12-03 18:04:30,000] INFO [RaftManager id=1001] Completed transition to ProspectiveState(epoch=28, leaderId=OptionalInt[1002]) from FollowerState(epoch=28) (org.apache.kafka.raft.QuorumState)
"""


def test_follower_not_ready_before_its_run_has_started_and_caught_up(tmp_path):
    log = tmp_path / "server.log"
    log.write_text(OLD_RUN + NEW_RUN_STARTING)
    # The old criterion (last transition of this run) said "follower" here, minutes too early.
    assert kraft.last_transition(log).startswith("FollowerState")
    assert kraft.run_state(log) is None
    log.write_text(OLD_RUN + NEW_RUN_STARTING + NEW_RUN_CAUGHT_UP)
    assert kraft.run_state(log) is None             # started, but not registered yet
    log.write_text(OLD_RUN + NEW_RUN_STARTING + NEW_RUN_CAUGHT_UP + REGISTERED)
    assert kraft.run_state(log).startswith("FollowerState")
    log.write_text(OLD_RUN + NEW_RUN_STARTING + NEW_RUN_CAUGHT_UP + REGISTERED + PROSPECTIVE)
    assert kraft.run_state(log).startswith("ProspectiveState")


def test_a_run_whose_start_rolled_out_of_the_log_counts_as_started(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("[2026-12-03 19:00:00,000] INFO [RaftManager id=1001] Completed transition to "
                   "Leader(localId=1001, epoch=29) from CandidateState(epoch=29) (org.apache.kafka.raft.QuorumState)\n")
    assert kraft.run_state(log).startswith("Leader")
    assert kraft.run_state(tmp_path / "missing.log") is None


def test_controller_mode_uses_the_started_run(tmp_path):
    """ControllerNode.mode() on a real listener: None while the run is starting, 'follower' after."""
    async def scenario():
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        old_port, kraft.CONTROLLER_PORT = kraft.CONTROLLER_PORT, port
        try:
            quorum = kraft.KRaftQuorum("AAAAAAAAAAAAAAAAAAAAAA", ((1001, "127.0.0.1"),))
            node = kraft.ControllerNode(tmp_path, kraft.ControllerConfig(1001, "use1-az1", "127.0.0.1", quorum))
            (node.workdir / "logs").mkdir(parents=True)
            log = node.workdir / "logs" / "server.log"
            log.write_text(OLD_RUN + NEW_RUN_STARTING)
            starting = (await node.mode(), await node.ready())
            log.write_text(OLD_RUN + NEW_RUN_STARTING + NEW_RUN_CAUGHT_UP + REGISTERED)
            started = (await node.mode(), await node.ready())
            return starting, started
        finally:
            kraft.CONTROLLER_PORT = old_port
            server.close()
            await server.wait_closed()
    starting, started = asyncio.run(scenario())
    assert starting == (None, False)
    assert started == ("follower", True)


# A controller of a fresh 3.9.1 cluster at load ~100 (18:22-18:41, three such runs seen): its registration
# RPC timed out in the channel manager and was never resent, so the run never registered.
STUCK_RUN = """\
[2026-12-03 18:32:00,000] INFO Registered `kafka:type=kafka.Log4jController` MBean (kafka.utils.Log4jControllerRegistration$)
[2026-12-03 18:33:00,056] INFO [KafkaRaftServer nodeId=1003] Kafka Server started (kafka.server.KafkaRaftServer)
[2026-12-03 18:33:01,000] INFO [RaftManager id=1003] Completed transition to FollowerState(fetchTimeoutMs=2000, epoch=30, leader=1001) from Unattached(epoch=30) (org.apache.kafka.raft.QuorumState)
[2026-12-03 18:33:02,374] INFO [MetadataLoader id=1003] InitializeNewPublishers: initializing ControllerRegistrationManager with a snapshot at offset 1212 (org.apache.kafka.image.loader.MetadataLoader)
[2026-12-03 18:33:03,671] INFO [ControllerRegistrationManager id=1003 incarnation=lHWoPyXCRJ-4Op9tjGoYyg] sendControllerRegistration: attempting to send ControllerRegistrationRequestData(controllerId=1003) (kafka.server.ControllerRegistrationManager)
[2026-12-03 18:33:09,355] ERROR [ControllerRegistrationManager id=1003 incarnation=lHWoPyXCRJ-4Op9tjGoYyg] RegistrationResponseHandler: channel manager timed out before sending the request. (kafka.server.ControllerRegistrationManager)
[2026-12-03 18:33:09,521] INFO [ControllerRegistrationManager id=1003 incarnation=lHWoPyXCRJ-4Op9tjGoYyg] maybeSendControllerRegistration: waiting for the previous RPC to complete. (kafka.server.ControllerRegistrationManager)
"""


def test_a_registration_that_timed_out_is_stuck_once_its_grace_is_over(tmp_path):
    from datetime import datetime
    log = tmp_path / "server.log"
    log.write_text(OLD_RUN + STUCK_RUN)
    assert kraft.run_state(log) is None                                   # not ready ...
    assert kraft.registration_stuck(log, now=datetime(2026, 12, 3, 18, 33, 30)) is None   # ... may still resend
    reason = kraft.registration_stuck(log, now=datetime(2026, 12, 3, 18, 35, 0))
    assert reason and "18:33:09" in reason                                # ... never will: stuck
    # A process started after that line (restarted, its JVM not logging yet) is not the stuck one.
    assert kraft.registration_stuck(log, now=datetime(2026, 12, 3, 18, 35, 0),
                                    since=datetime(2026, 12, 3, 18, 34, 50).timestamp()) is None
    log.write_text(OLD_RUN + STUCK_RUN + REGISTERED.replace("18:04:26", "18:34:00"))
    assert kraft.registration_stuck(log, now=datetime(2026, 12, 3, 18, 35, 0)) is None
    log.write_text(OLD_RUN + NEW_RUN_STARTING + NEW_RUN_CAUGHT_UP + REGISTERED)
    assert kraft.registration_stuck(log) is None                          # a timeout of an earlier run is not this one's


# A stand-in for a controller's process on a real listener (the real failure needs a loaded host and a
# badly timed RPC): each start logs a run; the first start of a node whose STUCK file exists logs the
# registration timeout and never registers, a later one registers (3 s after its start, as a JVM
# takes a while: a restart must not be taken for stuck by the previous run's lines). The tests shorten
# the grace to 1 s.
CONTROLLER_STANDIN = r"""
import datetime, os, socket, sys, time
host, port, logs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
starts = os.path.join(logs, "starts")
n = (int(open(starts).read()) if os.path.exists(starts) else 0) + 1
open(starts, "w").write(str(n))
if n > 1:
    time.sleep(3)       # a restarted JVM logs nothing for a while: the stuck run is still the log's last
def at(ago):
    return (datetime.datetime.now() - datetime.timedelta(seconds=ago)).strftime("%Y-%m-%d %H:%M:%S,000")
state = "Leader(localId=1)" if os.path.exists(os.path.join(logs, "LEADER")) else "FollowerState(epoch=3)"
lines = ["Registered `kafka:type=kafka.Log4jController` MBean",
         "[RaftManager] Completed transition to " + state + " from Unattached(epoch=3)",
         "[MetadataLoader] InitializeNewPublishers: initializing ControllerRegistrationManager",
         "[KafkaRaftServer] Kafka Server started"]
if n == 1 and os.path.exists(os.path.join(logs, "STUCK")):
    lines.append("ERROR [ControllerRegistrationManager] RegistrationResponseHandler: channel manager timed out "
                 "before sending the request.")
else:
    lines.append("[ControllerRegistrationManager] Our registration has been persisted to the metadata log.")
server = socket.create_server((host, port))
with open(os.path.join(logs, "server.log"), "a") as out:
    out.writelines(f"[{at(0)}] INFO {line}\n" for line in lines)
while True:
    server.accept()[0].close()
"""


def _standin_controllers(tmp_path, port: int, stuck: dict[int, bool], leader: int):
    """ControllerNodes 1..3 on 127.0.0.1-3 and the specs that run the stand-in for each."""
    import sys

    from openmsk.runtime.placement import NodeSpec
    script = tmp_path / "controller.py"
    script.write_text(CONTROLLER_STANDIN)
    cluster_dir = tmp_path / "cluster"
    nodes, specs = [], {}
    for i in (1, 2, 3):
        quorum = kraft.KRaftQuorum("AAAAAAAAAAAAAAAAAAAAAA", ((1000 + i, f"127.0.0.{i}"),))
        node = kraft.ControllerNode(cluster_dir, kraft.ControllerConfig(1000 + i, "use1-az1", f"127.0.0.{i}", quorum))
        logs = node.workdir / "logs"
        logs.mkdir(parents=True)
        if stuck.get(i):
            (logs / "STUCK").touch()
        if i == leader:
            (logs / "LEADER").touch()
        specs[node.name] = NodeSpec(node.name, "controller", node.workdir,
                                    [sys.executable, str(script), f"127.0.0.{i}", str(port), str(logs)])
        nodes.append(node)
    return nodes, specs


def _log_text(node) -> str:
    log = node.workdir / "logs" / "server.log"
    return log.read_text() if log.exists() else ""


def _starts(node) -> int:
    """Starts of the node's process, as the placement records them."""
    return (node.workdir / "logs" / "stdout.log").read_text().count("=== openmsk: starting")


def test_the_quorum_wait_restarts_stuck_controllers_one_at_a_time_the_leader_last(tmp_path, monkeypatch):
    """reconciler.wait_until (the quorum step of every pass, creation included): two of three controllers
    stuck unregistered are restarted, the follower first, and the quorum gets ready, instead of the step
    timing out (which made a creation FAILED and an upgrade's finalize fail)."""
    from harness import free_port
    from openmsk.control.reconciler import ClusterReconciler
    monkeypatch.setattr(kraft, "REGISTRATION_STUCK_AFTER", 1.0)
    from openmsk.runtime.local import LocalProcessPlacement

    class Plane:
        def __init__(self, placement):
            self.placement = placement
            self.events: list[str] = []

        def note_event(self, _cluster, message):
            self.events.append(message)

    async def scenario():
        port = free_port()
        old_port, kraft.CONTROLLER_PORT = kraft.CONTROLLER_PORT, port
        placement = LocalProcessPlacement(tmp_path / "nodes")
        nodes, specs = _standin_controllers(tmp_path, port, stuck={1: True, 2: True}, leader=1)
        reconciler = ClusterReconciler(Plane(placement), "arn:test")
        reconciler.spec = lambda cluster, node, renew=False: specs[node.name]
        try:
            for node in nodes:
                await placement.apply(specs[node.name])
            while not all("Kafka Server started" in _log_text(n) for n in nodes):
                await asyncio.sleep(0.1)            # every stand-in has logged its run
            cluster = {"State": "CREATING", "ClusterName": "stuck"}
            await asyncio.wait_for(reconciler.wait_until(cluster, nodes, 60, "KRaft controller quorum"), 90)
            return reconciler.plane.events, [_starts(n) for n in nodes]
        finally:
            kraft.CONTROLLER_PORT = old_port
            for node in nodes:
                await placement.delete(node.name, grace=5)
    events, starts = asyncio.run(scenario())
    assert starts == [2, 2, 1]
    restarted = [e.split(" ")[0] for e in events if "restarting it" in e]
    assert restarted == ["controller-1002", "controller-1001"], events      # the leader last
    assert "registration timed out" in events[0]


def test_a_roll_restarts_a_controller_stuck_after_its_restart(tmp_path, monkeypatch):
    """roller._wait_back: a controller whose restart left it stuck is restarted again, not waited for
    until READY_TIMEOUT and reported as not coming back."""
    from harness import free_port
    from openmsk.control import roller
    from openmsk.control.healing import StartAttempts
    from openmsk.runtime.local import LocalProcessPlacement
    monkeypatch.setattr(kraft, "REGISTRATION_STUCK_AFTER", 1.0)

    async def scenario():
        port = free_port()
        old_port, kraft.CONTROLLER_PORT = kraft.CONTROLLER_PORT, port
        placement = LocalProcessPlacement(tmp_path / "nodes")
        nodes, specs = _standin_controllers(tmp_path, port, stuck={3: True}, leader=1)
        node = nodes[2]
        try:
            await placement.apply(specs[node.name])
            await asyncio.wait_for(roller._wait_back(placement, node, specs[node.name], 60,
                                                     StartAttempts(node, roller.START_ATTEMPTS)), 90)
            return _starts(node)
        finally:
            kraft.CONTROLLER_PORT = old_port
            await placement.delete(node.name, grace=5)
    assert asyncio.run(scenario()) == 2
