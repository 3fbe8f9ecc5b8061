"""The openmsk command: env, ca-cert, loopback-only serving."""
from __future__ import annotations

import shlex
import subprocess
import sys
import uuid

from harness import OPENMSK


def test_env_makes_the_plain_aws_cli_work(service):
    script = f'eval "$({OPENMSK} env --data-dir {service.data_dir})" && aws kafka list-kafka-versions'
    env = {k: v for k, v in service.env.items() if not k.startswith("AWS_")}
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert '"Version": "3.9.x"' in out.stdout
    exports = subprocess.run([OPENMSK, "env", "--data-dir", str(service.data_dir)], capture_output=True, text=True)
    keys = [line.split("=")[0] for line in exports.stdout.splitlines()]
    assert keys == ["export AWS_ENDPOINT_URL", "export AWS_ACCESS_KEY_ID", "export AWS_SECRET_ACCESS_KEY",
                    "export AWS_DEFAULT_REGION", "export AWS_DISABLE_HOST_PREFIX_INJECTION"]
    assert f"http://127.0.0.1:{service.port}" in exports.stdout
    # With only what `openmsk env` exports, an operation AWS serves on a prefixed host (StartLiveTail,
    # `stream-`) reaches the endpoint: boto3 with no Config of its own opens a live-tail session.
    group = f"/env/{uuid.uuid4().hex[:6]}"
    tail = f"""
import boto3
logs = boto3.client("logs")
logs.create_log_group(logGroupName="{group}")
arn = logs.describe_log_groups(logGroupNamePrefix="{group}")["logGroups"][0]["logGroupArn"]
stream = logs.start_live_tail(logGroupIdentifiers=[arn])["responseStream"]
print(sorted(next(iter(stream))))
stream.close()
logs.delete_log_group(logGroupName="{group}")
"""
    script = f'eval "$({OPENMSK} env --data-dir {service.data_dir})" && {sys.executable} -c {shlex.quote(tail)}'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "['sessionStart']"


def test_ca_cert_prints_the_pem_path(service):
    out = subprocess.run([OPENMSK, "ca-cert", "--data-dir", str(service.data_dir)], capture_output=True, text=True)
    assert out.returncode == 0
    assert open(out.stdout.strip()).read().startswith("-----BEGIN CERTIFICATE-----")


def test_serve_refuses_non_loopback_addresses(tmp_path):
    out = subprocess.run([OPENMSK, "serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "only loopback addresses" in out.stderr


def test_env_without_a_service_explains(tmp_path):
    out = subprocess.run([OPENMSK, "env", "--data-dir", str(tmp_path / "none")], capture_output=True, text=True)
    assert out.returncode == 3 and "openmsk serve" in out.stderr
