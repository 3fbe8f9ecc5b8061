"""The JMX exporter starts from the classpath, not with -javaagent (runtime/distribution.py classpath_agent,
issue 15): a broker's command runs plugins/msk-iam's ClasspathAgent, which calls the exporter's premain and
then kafka.Kafka, so the exporter's classes come from the broker's class-data-sharing archive (runtime/cds.py)."""
from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

from openmsk.runtime import cds, distribution
from openmsk.runtime.distribution import CLASSPATH_AGENT_MAIN, KafkaDistribution, jmx_exporter_agent

EXPORTER = jmx_exporter_agent()


def command(dist: KafkaDistribution, *jvm_opts: str) -> list[str]:
    return dist.java_command("kafka.Kafka", ["server.properties"], heap=["-Xmx768m"], jvm_opts=list(jvm_opts),
                             log4j_config=None, logs_dir=None)


def test_only_the_exporter_agent_moves_to_the_classpath(tmp_path, monkeypatch):
    dist = KafkaDistribution.locate()
    cmd = command(dist, "-XX:+UseG1GC", f"-javaagent:{EXPORTER}=10.0.0.1:11011:/w/jmx.yaml")
    assert not any(o.startswith("-javaagent") for o in cmd)
    assert cmd[cmd.index("-cp") + 1] == f"{dist.classpath}:{EXPORTER}"
    assert cmd[cmd.index("-cp") + 2:] == [CLASSPATH_AGENT_MAIN, f"{EXPORTER}=10.0.0.1:11011:/w/jmx.yaml", "kafka.Kafka",
                                          "server.properties"]
    assert "-XX:+UseG1GC" in cmd
    # another agent may need its Instrumentation: it stays attached as it was
    other = command(dist, "-javaagent:/opt/other-agent.jar=x")
    assert "-javaagent:/opt/other-agent.jar=x" in other and other[-2:] == ["kafka.Kafka", "server.properties"]
    assert command(dist)[-3:] == [dist.classpath, "kafka.Kafka", "server.properties"]
    # a checkout whose plugin jar is not built has no launcher: the exporter stays a -javaagent
    monkeypatch.setattr(distribution, "msk_iam_plugin_jar_dir", lambda version: tmp_path)
    assert f"-javaagent:{EXPORTER}=10.0.0.1:11011:/w/jmx.yaml" in command(dist, f"-javaagent:{EXPORTER}=10.0.0.1:11011:/w/jmx.yaml")


def test_an_archive_is_kept_per_classpath(tmp_path):
    ours = KafkaDistribution.locate()
    other = KafkaDistribution(ours.version, tmp_path)        # another jar set (e.g. another checkout's plugin)
    assert cds.archive_path(ours, "broker") != cds.archive_path(other, "broker")
    assert cds.archive_path(ours, "broker") == cds.archive_path(KafkaDistribution.locate(), "broker")


def test_the_shared_clusters_brokers_run_the_exporter_from_their_archive(service, shared_cluster):
    pids = service.broker_pids(shared_cluster["ClusterArn"])
    assert len(pids) == 3
    for pid in pids:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        assert not any(a.startswith("-javaagent") for a in argv), argv
        launcher = argv.index(CLASSPATH_AGENT_MAIN)
        assert argv[launcher + 1].startswith(f"{EXPORTER}=") and argv[launcher + 2] == "kafka.Kafka"
        # the exporter answers where the option said (the collector reads it there)
        address = argv[launcher + 1].split("=", 1)[1].rsplit(":", 1)[0]
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=30) as resp:
            assert b"kafka_server_ReplicaManager" in resp.read()
        # and the archive this broker maps holds the exporter's classes and is valid for its classpath
        environ = dict(v.split("=", 1) for v in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0") if "=" in v)
        archive = [o for o in environ.get("JDK_JAVA_OPTIONS", "").split() if o.startswith("-XX:SharedArchiveFile=")]
        assert archive, "no class-data-sharing archive: scripts/install builds it (openmsk cds build)"
        check = subprocess.run([argv[0], archive[0], "-XX:+PrintSharedArchiveAndExit", "-cp",
                                argv[argv.index("-cp") + 1]], capture_output=True, text=True, timeout=120)
        assert "archive is valid" in check.stdout, check.stdout[-2000:] + check.stderr[-2000:]
        assert " io.prometheus.jmx.JavaAgent " in check.stdout
