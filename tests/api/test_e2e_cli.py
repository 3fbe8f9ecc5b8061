"""End to end with the real ``aws`` CLI (v1) as a subprocess against the gateway."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ARN
from .helpers import ACCESS_KEY, SECRET_KEY

AWS = Path(sys.executable).parent / "aws"
pytestmark = pytest.mark.skipif(not AWS.exists(), reason="aws CLI not installed in the venv")


def aws(server, *args, secret=SECRET_KEY):
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
           "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    start = time.monotonic()
    proc = subprocess.run([str(AWS), *args, "--endpoint-url", server.url, "--output", "json"],
                          env=env, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr.strip(), time.monotonic() - start


def test_describe_cluster(server):
    rc, out, err, _ = aws(server, "kafka", "describe-cluster", "--cluster-arn", ARN)
    assert rc == 0, err
    info = json.loads(out)["ClusterInfo"]
    assert info["ClusterArn"] == ARN
    assert info["CreationTime"] == "2023-01-01T23:18:00.123Z"      # CLI v1 echoes the wire string


def test_not_found(server):
    rc, out, err, _ = aws(server, "kafka", "describe-cluster", "--cluster-arn", ARN + "-nope")
    assert rc == 255  # aws CLI v1 exits 255 on service errors
    assert err == (f"An error occurred (NotFoundException) when calling the DescribeCluster operation: "
                   f"Cluster not found: {ARN}-nope")


def test_wrong_secret(server):
    rc, _, err, _ = aws(server, "kafka", "list-clusters", secret="wrong")
    assert rc == 255  # aws CLI v1 exits 255 on service errors
    assert err.startswith("An error occurred (ForbiddenException) when calling the ListClusters operation: "
                          "The request signature we calculated does not match")


def test_server_side_validation(server):
    rc, _, err, _ = aws(server, "kafka", "create-cluster", "--cluster-name", "c", "--kafka-version", "3.5.1",
                        "--number-of-broker-nodes", "16", "--broker-node-group-info",
                        '{"InstanceType":"kafka.m5.large","ClientSubnets":["s1","s2"]}')
    assert rc == 255  # aws CLI v1 exits 255 on service errors
    assert err == ("An error occurred (BadRequestException) when calling the CreateCluster operation: "
                   "Invalid value for parameter numberOfBrokerNodes, value: 16, valid max value: 15")


def test_not_implemented_terminates_quickly(server):
    rc, _, err, elapsed = aws(server, "kafka", "describe-cluster-v2", "--cluster-arn", ARN)
    assert rc == 255  # aws CLI v1 exits 255 on service errors
    assert err == ("An error occurred (NotImplementedException) when calling the DescribeClusterV2 operation: "
                   "The operation DescribeClusterV2 is not implemented by openmsk")
    assert elapsed < 20


def test_tag_resource_and_cloudwatch(server):
    rc, out, err, _ = aws(server, "kafka", "tag-resource", "--resource-arn", ARN, "--tags", "owner=cli")
    assert (rc, out.strip()) == (0, ""), err
    rc, out, err, _ = aws(server, "cloudwatch", "get-metric-statistics", "--namespace", "AWS/Kafka",
                          "--metric-name", "CpuUser", "--dimensions", "Name=Cluster Name,Value=demo",
                          "--start-time", "2023-01-01T23:18:00", "--end-time", "2023-01-02T00:18:00",
                          "--period", "300", "--statistics", "Average")
    assert rc == 0, err
    assert json.loads(out)["Datapoints"][0]["Timestamp"] == 1672615080
    rc, _, err, _ = aws(server, "cloudwatch", "get-metric-statistics", "--namespace", "AWS/Kafka",
                        "--metric-name", "CpuUser", "--start-time", "2023-01-01T23:18:00",
                        "--end-time", "2023-01-02T00:18:00", "--period", "61", "--statistics", "Average")
    assert err == ("An error occurred (InvalidParameterValue) when calling the GetMetricStatistics operation: "
                   "The parameter Period must be a multiple of 60.")
