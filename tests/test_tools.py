"""The Kafka command-line tools on PATH (bin/*.sh over the Maven jar cache) against the shared TLS-only
cluster: Apache's contract (arguments, exit codes, KAFKA_HEAP_OPTS/KAFKA_OPTS, WARN logging to stderr),
`openmsk client-config` for --command-config, and the tools' own errors for bad input."""
from __future__ import annotations

import os
import re
import subprocess
import time
import uuid

import pytest

from harness import BIN, OPENMSK, REPO

TOOLS = {
    "kafka-topics.sh": "org.apache.kafka.tools.TopicCommand",
    "kafka-consumer-groups.sh": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-configs.sh": "kafka.admin.ConfigCommand",
    "kafka-acls.sh": "kafka.admin.AclCommand",
    "kafka-console-producer.sh": "kafka.tools.ConsoleProducer",
    "kafka-console-consumer.sh": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-producer-perf-test.sh": "org.apache.kafka.tools.ProducerPerformance",
    "kafka-consumer-perf-test.sh": "org.apache.kafka.tools.ConsumerPerformance",
    "kafka-reassign-partitions.sh": "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
    "kafka-broker-api-versions.sh": "kafka.admin.BrokerApiVersionsCommand",
    "kafka-get-offsets.sh": "org.apache.kafka.tools.GetOffsetShell",
    "zookeeper-shell.sh": "org.apache.zookeeper.ZooKeeperMainWithTlsSupportForKafka",
}


def tool(name: str, *args: str, env: dict | None = None, input: str | None = None, timeout: float = 180):
    return subprocess.run([str(BIN / name), *args], capture_output=True, text=True, input=input,
                          env={**os.environ, **(env or {})}, timeout=timeout)


@pytest.fixture(scope="module")
def tls(service, shared_cluster):
    """(bootstrap TLS string, client.properties path) for the shared cluster, via openmsk client-config."""
    out = subprocess.run([OPENMSK, "client-config", shared_cluster["ClusterName"], "--data-dir", str(service.data_dir)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    bootstrap = service.client("kafka").get_bootstrap_brokers(ClusterArn=shared_cluster["ClusterArn"])
    return bootstrap["BootstrapBrokerStringTls"], out.stdout.strip()


def test_tools_are_installed_with_apache_main_classes():
    for name, main_class in TOOLS.items():
        path = BIN / name
        assert path.exists(), f"{name} not in {BIN} (run scripts/install)"
        assert main_class in path.read_text()
    assert not list(REPO.glob("bin/*.jar")), "jars never go into git"


def test_tools_log4j_is_the_runtime_one():
    from openmsk.runtime.log4j import TOOLS_LOG4J
    committed = [l for l in (REPO / "bin" / "tools-log4j.properties").read_text().splitlines() if not l.startswith("#")]
    assert committed == TOOLS_LOG4J.splitlines()


def test_version_usage_errors_and_exit_codes():
    out = tool("kafka-topics.sh", "--version")
    assert out.returncode == 0 and out.stdout.strip() == "3.9.1"
    out = tool("kafka-topics.sh", "--no-such-option")
    assert out.returncode == 1 and "no-such-option" in out.stdout + out.stderr
    out = tool("kafka-run-class.sh")
    assert out.returncode == 1 and "USAGE" in out.stderr


def test_heap_and_kafka_opts_are_honoured():
    out = tool("kafka-topics.sh", "--version", env={"KAFKA_HEAP_OPTS": "-Xmx123m", "KAFKA_OPTS": "-XshowSettings:vm"})
    assert out.returncode == 0
    assert re.search(r"Max\. Heap Size.*: 123\.00M", out.stderr), out.stderr


def test_missing_jars_are_explained():
    out = tool("kafka-topics.sh", "--version", env={"OPENMSK_KAFKA_LIBS": "/nonexistent"})
    assert out.returncode == 1 and "scripts/install" in out.stderr


def test_topic_produce_consume_over_tls(tls):
    bootstrap, config = tls
    topic = f"tools-{uuid.uuid4().hex[:6]}"
    out = tool("kafka-topics.sh", "--bootstrap-server", bootstrap, "--command-config", config, "--create",
               "--topic", topic, "--partitions", "3", "--replication-factor", "3")
    assert out.returncode == 0 and f"Created topic {topic}." in out.stdout, out.stderr
    messages = [f"m{i}" for i in range(20)]
    out = tool("kafka-console-producer.sh", "--bootstrap-server", bootstrap, "--producer.config", config,
               "--topic", topic, input="\n".join(messages) + "\n")
    assert out.returncode == 0, out.stderr
    out = tool("kafka-console-consumer.sh", "--bootstrap-server", bootstrap, "--consumer.config", config,
               "--topic", topic, "--from-beginning", "--max-messages", "20", "--timeout-ms", "60000")
    assert sorted(out.stdout.split()) == sorted(messages), out.stderr
    out = tool("kafka-topics.sh", "--bootstrap-server", bootstrap, "--command-config", config, "--describe",
               "--topic", topic)
    assert out.returncode == 0 and "PartitionCount: 3" in out.stdout
    isrs = re.findall(r"Isr: ([0-9,]+)", out.stdout)
    assert len(isrs) == 3 and all(sorted(i.split(",")) == ["1", "2", "3"] for i in isrs)
    out = tool("kafka-get-offsets.sh", "--bootstrap-server", bootstrap, "--command-config", config, "--topic", topic)
    assert sum(int(line.rsplit(":", 1)[1]) for line in out.stdout.split()) == 20
    out = tool("kafka-configs.sh", "--bootstrap-server", bootstrap, "--command-config", config, "--describe",
               "--entity-type", "topics", "--entity-name", topic, "--all")
    assert out.returncode == 0 and "min.insync.replicas=2" in out.stdout, out.stdout + out.stderr


def test_perf_tests_over_tls(tls):
    bootstrap, config = tls
    topic = f"perf-{uuid.uuid4().hex[:6]}"
    # MSK's default auto.create.topics.enable=false: the topic must exist before producing.
    out = tool("kafka-topics.sh", "--bootstrap-server", bootstrap, "--command-config", config, "--create",
               "--topic", topic, "--partitions", "3", "--replication-factor", "3")
    assert out.returncode == 0, out.stderr
    out = tool("kafka-producer-perf-test.sh", "--topic", topic, "--num-records", "2000", "--record-size", "100",
               "--throughput", "-1", "--producer-props", f"bootstrap.servers={bootstrap}", "--producer.config", config)
    assert out.returncode == 0 and "2000 records sent" in out.stdout, out.stderr
    out = tool("kafka-consumer-perf-test.sh", "--bootstrap-server", bootstrap, "--consumer.config", config,
               "--topic", topic, "--messages", "2000", "--timeout", "60000")
    assert out.returncode == 0 and "data.consumed.in.MB" in out.stdout, out.stderr


def test_unknown_group_is_reported_by_the_tool(tls):
    bootstrap, config = tls
    out = tool("kafka-consumer-groups.sh", "--bootstrap-server", bootstrap, "--command-config", config,
               "--describe", "--group", "no-such-group")
    assert "Consumer group 'no-such-group' does not exist." in out.stdout + out.stderr


def test_reset_of_an_active_group_is_refused(tls):
    bootstrap, config = tls
    topic, group = f"active-{uuid.uuid4().hex[:6]}", f"g-{uuid.uuid4().hex[:6]}"
    tool("kafka-topics.sh", "--bootstrap-server", bootstrap, "--command-config", config, "--create",
         "--topic", topic, "--partitions", "1", "--replication-factor", "3")
    consumer = subprocess.Popen([str(BIN / "kafka-console-consumer.sh"), "--bootstrap-server", bootstrap,
                                 "--consumer.config", config, "--topic", topic, "--group", group],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:                  # until the group has joined (state Stable), as the tool reports it
            state = tool("kafka-consumer-groups.sh", "--bootstrap-server", bootstrap, "--command-config", config,
                         "--describe", "--group", group, "--state")
            if "Stable" in state.stdout or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert "Stable" in state.stdout, state.stdout + state.stderr
        out = tool("kafka-consumer-groups.sh", "--bootstrap-server", bootstrap, "--command-config", config,
                   "--group", group, "--reset-offsets", "--to-earliest", "--execute", "--topic", topic,
                   "--timeout", "60000")   # the tool's 5 s default for FindCoordinator is short on a loaded host
        assert f"Assignments can only be reset if the group '{group}' is inactive" in out.stdout + out.stderr
    finally:
        os.killpg(consumer.pid, 15)
        consumer.wait(60)
