"""docs/runbook.md is executed: every fenced `sh` block in it is a doc-test, so the runbook cannot drift.

Format (in the Markdown, invisible when rendered):

    <!-- doctest: <id> [expect="text"]... [expect-line="line"]... [absent="text"]... [expect-err="text"]...
         [expect-re="regex"]... [absent-re="regex"]...
         [exit=N] [retry=SECONDS] [requires=cloudwatch] -->
    ```sh
    <commands, with placeholders such as <your-msk-cluster-arn>>
    ```
    <!-- output: <id> -->            (optional: the real output shown to readers)
    ```text
    ...
    ```

Blocks run in document order with bash (`set -o pipefail`), in one working directory per run, with the
aws CLI pointed at the test service, `.venv/bin` first on PATH and OPENMSK_DATA_DIR set (so `openmsk`
commands need no --data-dir). Placeholders are replaced with values from a live TLS_PLAINTEXT cluster.
`expect` checks stdout+stderr contain the text, `expect-line` that stdout has that exact line, `absent`
that stdout lacks it, `expect-re`/`absent-re` the same with a regular expression (multi-line mode); `retry` reruns the block until its expectations hold (for eventually-true states, and for the Kafka
tools' 5 s default call timeouts, which a loaded 2-core host can miss: only on idempotent blocks).
Every sh block must carry a doctest marker (test_every_sh_block_is_a_doctest).

To refresh the shown outputs after a change: OPENMSK_RUNBOOK_RECORD=1 pytest tests/test_runbook.py
(rewrites each `output` block with what the command printed, values as they were in that run).
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness import BIN, REPO

RUNBOOK = REPO / "docs" / "runbook.md"
MARKER = re.compile(r"<!-- doctest: (?P<id>[\w.-]+)(?P<attrs>[^>]*?)-->\s*\n\s*```sh\n(?P<body>.*?)\n\s*```", re.S)
OUTPUT = re.compile(r"(<!-- output: (?P<id>[\w.-]+)(?P<attrs>[^>]*?)-->\s*\n\s*```\w*\n)(?P<body>.*?)(\n\s*```)", re.S)
RECORD = bool(os.environ.get("OPENMSK_RUNBOOK_RECORD"))
TOPIC, GROUP = "orders", "orders-app"


@dataclass
class DocTest:
    id: str
    body: str
    expect: list[str] = field(default_factory=list)
    expect_line: list[str] = field(default_factory=list)
    expect_err: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    expect_re: list[str] = field(default_factory=list)
    absent_re: list[str] = field(default_factory=list)
    exit: int = 0
    retry: float = 0
    requires: str = ""


def parse(text: str) -> list[DocTest]:
    tests = []
    for match in MARKER.finditer(text):
        body = "\n".join(line[4:] if line.startswith("    ") else line
                         for line in match["body"].splitlines())      # blocks indented inside list items
        test = DocTest(match["id"], body)
        for attr in shlex.split(match["attrs"]):
            key, _, value = attr.partition("=")
            if key in ("expect", "expect-line", "expect-err", "absent", "expect-re", "absent-re"):
                getattr(test, key.replace("-", "_")).append(value)
            elif key == "exit":
                test.exit = int(value)
            elif key == "retry":
                test.retry = float(value)
            elif key == "requires":
                test.requires = value
            else:
                raise ValueError(f"doctest {test.id}: unknown attribute {key!r}")
        tests.append(test)
    return tests


DOCTESTS = parse(RUNBOOK.read_text())


def test_every_sh_block_is_a_doctest():
    text = RUNBOOK.read_text()
    assert text.count("```sh") == len(DOCTESTS), "an sh block in docs/runbook.md has no <!-- doctest: ... --> marker"
    ids = [t.id for t in DOCTESTS]
    assert len(ids) == len(set(ids)), "doctest ids must be unique"
    for match in OUTPUT.finditer(text):
        assert match["id"] in ids, f"output block {match['id']} belongs to no doctest"


@pytest.fixture(scope="module")
def runbook_cluster(service):
    """A 3-zone cluster with TLS_PLAINTEXT, so the seed's plaintext commands run verbatim, and TLS too."""
    kafka = service.client("kafka")
    arn = kafka.create_cluster(
        ClusterName="runbook", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
        BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large", "ClientSubnets": service.default_subnets(3)},
        EncryptionInfo={"EncryptionInTransit": {"ClientBroker": "TLS_PLAINTEXT", "InCluster": True}},
    )["ClusterArn"]
    info = service.wait_state(arn)
    yield info
    kafka.delete_cluster(ClusterArn=arn)
    service.wait_state(arn, ("GONE",))


@pytest.fixture(scope="module")
def workspace(service, runbook_cluster, tmp_path_factory):
    kafka = service.client("kafka")
    info = kafka.describe_cluster(ClusterArn=runbook_cluster["ClusterArn"])["ClusterInfo"]
    brokers = kafka.get_bootstrap_brokers(ClusterArn=info["ClusterArn"])
    zk = info.get("ZookeeperConnectStringTls") or info["ZookeeperConnectString"]
    placeholders = {
        "<your-msk-cluster-arn>": info["ClusterArn"],
        "<your-cluster-name>": info["ClusterName"],
        "<broker-endpoint>": brokers["BootstrapBrokerString"],
        "<tls-broker-endpoint>": brokers["BootstrapBrokerStringTls"],
        "<zookeeper-node-endpoint>": zk.split(",")[0].rsplit(":", 1)[0],
        "<surviving-broker-endpoint>": brokers["BootstrapBrokerString"].split(",")[1],   # b-2, use1-az2
        "<consumer-group>": GROUP,
        "<topic-name>": TOPIC,
    }
    env = {**service.env, "PATH": f"{BIN}:{os.environ['PATH']}", "OPENMSK_DATA_DIR": str(service.data_dir)}
    return {"dir": tmp_path_factory.mktemp("runbook"), "placeholders": placeholders, "env": env, "outputs": {}}


def substitute(body: str, placeholders: dict[str, str]) -> str:
    for key, value in placeholders.items():
        body = body.replace(key, value)
    left = re.findall(r"<[a-z][a-z0-9.-]*>", body)
    assert not left, f"unknown placeholders {left}"
    return body


def failures(test: DocTest, proc: subprocess.CompletedProcess) -> list[str]:
    problems = []
    if proc.returncode != test.exit:
        problems.append(f"exit code {proc.returncode}, documented {test.exit}")
    both = proc.stdout + proc.stderr
    problems += [f"missing {e!r}" for e in test.expect if e not in both]
    problems += [f"no line {e!r}" for e in test.expect_line if e not in proc.stdout.splitlines()]
    problems += [f"stderr lacks {e!r}" for e in test.expect_err if e not in proc.stderr]
    problems += [f"unexpected {a!r}" for a in test.absent if a in proc.stdout]
    problems += [f"no match for {e!r}" for e in test.expect_re if not re.search(e, proc.stdout, re.M)]
    problems += [f"unexpected match for {a!r}" for a in test.absent_re if re.search(a, proc.stdout, re.M)]
    return problems


@pytest.mark.parametrize("doctest", [pytest.param(t, id=t.id) for t in DOCTESTS])
def test_runbook(doctest: DocTest, workspace):
    script = "set -o pipefail\n" + substitute(doctest.body, workspace["placeholders"])
    deadline = time.monotonic() + doctest.retry
    while True:
        proc = subprocess.run(["bash", "-c", script], cwd=workspace["dir"], env=workspace["env"],
                              capture_output=True, text=True, timeout=300)
        problems = failures(doctest, proc)
        if not problems or time.monotonic() > deadline:
            break
        time.sleep(3)
    workspace["outputs"][doctest.id] = proc.stdout + proc.stderr
    if RECORD:
        _record(doctest.id, proc.stdout + proc.stderr)
    assert not problems, (f"runbook block {doctest.id}: {'; '.join(problems)}\n$ {script}\n"
                          f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}")


def _record(test_id: str, output: str) -> None:
    text = RUNBOOK.read_text()

    def replace(match):
        if match["id"] != test_id:
            return match.group(0)
        lines = output.rstrip("\n").splitlines()
        limit = re.search(r"max-lines=(\d+)", match["attrs"] or "")
        if limit and len(lines) > int(limit[1]):
            lines = lines[:int(limit[1])] + ["..."]
        fence = match.group(1).rstrip("\n").splitlines()[-1]
        indent = fence[:len(fence) - len(fence.lstrip())]       # blocks inside list items stay inside
        return match.group(1) + "\n".join(indent + line if line else line for line in lines) + match.group(5)
    RUNBOOK.write_text(OUTPUT.sub(replace, text))


def test_seed_forms_are_verbatim():
    """The seed's commands appear in the runbook exactly as the seed writes them (placeholders included)."""
    # shared/ sits beside the checkout (also in CI); without it this check must fail, not pass silently.
    seed_dir = Path(__file__).resolve().parents[2] / "shared" / "seed"
    seed = "\n".join(p.read_text() for p in sorted(seed_dir.glob("*.txt")))
    assert seed, f"no seed runbook found in {seed_dir}"
    bodies = "\n".join(t.body for t in DOCTESTS)
    for command in re.findall(r"```sh\n\s*(.*?)\n\s*```", seed, re.S):
        command = command.strip()
        if command.startswith("aws cloudwatch"):
            command = command.split(" --start-time")[0]      # the runbook uses a recent time window
        assert command in bodies, f"seed command not in the runbook: {command}"
