"""Test harness: a real `openmsk serve` process, real clients (aws CLI, boto3, kcat, confluent-kafka)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
OPENMSK = str(BIN / "openmsk")
AWS = str(BIN / "aws")
KCAT = shutil.which("kcat") or "kcat"
START_TIMEOUT = 120        # seconds for `openmsk serve` to answer its health check


def alive(pid: int) -> bool:
    """True if `pid` runs. An exited child of a dead parent stays a zombie until PID 1 reaps it: not alive."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(predicate, timeout: float, what: str = "condition", poll: float = 1.0):
    """Poll `predicate` until it returns something truthy and return that; fail the test with `what` if
    it has not after `timeout` seconds (it is asked once more at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(poll)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self):
        return json.loads(self.stdout)


@dataclass
class Service:
    data_dir: Path
    port: int
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    region: str = "us-east-1"
    _clients: dict = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- process -------------------------------------------------------------------------------
    def start(self, *extra: str, env: dict | None = None) -> "Service":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-serve.log"
        log = open(self.log_path, "ab")
        # Strict output: a provider result that does not fit its output shape is a 500 (and fails the test)
        # instead of a member silently dropped on the wire (openmsk/api/output_check.py).
        serve_env = {**os.environ, "OPENMSK_STRICT_OUTPUT": "1", **(env or {})}
        self.proc = subprocess.Popen([OPENMSK, "serve", "--data-dir", str(self.data_dir), "--port", str(self.port),
                                      *extra], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env=serve_env)
        log.close()
        # Generous: a Python start-up importing botocore's models takes seconds at a load of 50-100.
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"openmsk serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.endpoint + "/_openmsk/health", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"openmsk serve did not become healthy in {START_TIMEOUT}s")

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(60)

    def broker_pids(self, arn: str) -> list[int]:
        """The pids of a cluster's broker processes, as their node.json records them (broker-1 first)."""
        cluster_dir = self.data_dir / "clusters" / arn.rsplit("/", 1)[1]
        return [json.loads(p.read_text())["pid"] for p in sorted(cluster_dir.glob("broker-*/node.json"))]

    def stop_everything(self) -> None:
        """Stop the service, then every node process it left, whatever state the test left them in."""
        self.kill(signal.SIGTERM)
        down = subprocess.run([OPENMSK, "down", "--data-dir", str(self.data_dir)], capture_output=True, timeout=180)
        if down.returncode != 0:
            print(f"openmsk down exited {down.returncode}: {down.stderr.decode()[-500:]}")
        pids = []
        for record in self.data_dir.glob("clusters/*/*/node.json"):
            try:
                pid = json.loads(record.read_text())["pid"]
                os.killpg(pid, signal.SIGKILL)
                pids.append(pid)
            except (OSError, ValueError, KeyError):
                pass
        deadline = time.monotonic() + 30
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if alive(p)]
            time.sleep(0.1)

    # -- clients -------------------------------------------------------------------------------
    @property
    def credentials(self) -> dict:
        return json.loads((self.data_dir / "credentials.json").read_text())

    @property
    def env(self) -> dict:
        creds = self.credentials
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ENDPOINT_URL=self.endpoint, AWS_ACCESS_KEY_ID=creds["access_key_id"],
                   AWS_SECRET_ACCESS_KEY=creds["secret_access_key"], AWS_DEFAULT_REGION=self.region,
                   AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        return env

    def client(self, name: str, **kw):
        creds = self.credentials
        return boto3.client(name, endpoint_url=self.endpoint, region_name=kw.pop("region", self.region),
                            aws_access_key_id=kw.pop("key", creds["access_key_id"]),
                            aws_secret_access_key=kw.pop("secret", creds["secret_access_key"]), **kw)

    def aws(self, *args: str, env: dict | None = None, timeout: float = 120) -> CliResult:
        proc = subprocess.run([AWS, *args], capture_output=True, text=True, env=env or self.env, timeout=timeout)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    @property
    def ca_path(self) -> str:
        return str(self.data_dir / "pki" / "ca.pem")

    # -- cluster helpers -----------------------------------------------------------------------
    def default_subnets(self, count: int = 3) -> list[str]:
        subnets = self.client("ec2").describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])
        return [s["SubnetId"] for s in sorted(subnets["Subnets"], key=lambda s: s["AvailabilityZone"])][:count]

    def wait_state(self, arn: str, states=("ACTIVE",), timeout: float = 240, seen: list | None = None) -> dict:
        kafka = self.client("kafka")
        deadline = time.monotonic() + timeout
        while True:
            try:
                info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
            except kafka.exceptions.NotFoundException:
                if "GONE" in states:
                    return {}
                raise
            if seen is not None and (not seen or seen[-1] != info["State"]):
                seen.append(info["State"])
            if info["State"] in states:
                return info
            if time.monotonic() > deadline:
                raise AssertionError(f"cluster {arn} still {info['State']} after {timeout}s")
            time.sleep(0.5)


def kcat(*args: str, input: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([KCAT, *args], input=input, capture_output=True, timeout=timeout)


def kafka_tool(main_class: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    from openmsk.runtime.distribution import KafkaDistribution
    dist = KafkaDistribution.locate()
    cmd = [dist.java(), "-Xmx256m", "-Dlog4j.configuration=file:/dev/null", "-cp", dist.classpath, main_class, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
