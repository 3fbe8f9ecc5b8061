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
