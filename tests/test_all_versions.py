"""Every Kafka version openmsk offers, for real: a 3-broker cluster of each (one at a time), a TLS
round trip on it, and its brokers running the pinned Apache release. Long (nine clusters): runs only
with OPENMSK_ALL_VERSIONS=1, e.g.

    OPENMSK_ALL_VERSIONS=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_all_versions.py
"""
from __future__ import annotations

import os
import uuid

import pytest

from harness import Service, free_port
from kafka_clients import consume_all, create_topic, produce, tls_config

from openmsk.runtime import versions

pytestmark = pytest.mark.skipif(os.environ.get("OPENMSK_ALL_VERSIONS") != "1",
                                reason="long: nine clusters; set OPENMSK_ALL_VERSIONS=1")


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    service = Service(tmp_path_factory.mktemp("allversions") / "data", free_port()).start()
    yield service
    service.stop_everything()


@pytest.mark.parametrize("version", versions.sorted_versions())
def test_version_round_trip(svc, version):
    kafka = svc.client("kafka")
    name = "v-" + version.replace(".", "-")
    arn = kafka.create_cluster(ClusterName=name, KafkaVersion=version, NumberOfBrokerNodes=3,
                               BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                    "ClientSubnets": svc.default_subnets(3)})["ClusterArn"]
    try:
        info = svc.wait_state(arn, timeout=900)
        assert info["CurrentBrokerSoftwareInfo"]["KafkaVersion"] == version
        assert ("ZookeeperConnectStringTls" in info) != version.endswith(".kraft")
        tls = tls_config(kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"], svc.ca_path)
        topic = f"t-{uuid.uuid4().hex[:6]}"
        create_topic(tls, topic, partitions=3, replication=3)
        produce(tls, topic, [b"x", b"y", b"z"])
        assert sorted(consume_all(tls, topic, 3)) == [b"x", b"y", b"z"]
        log = next((svc.data_dir / "clusters").glob(f"{arn.rsplit('/', 1)[-1]}/broker-1/logs/server.log"))
        assert f"Kafka version: {versions.line(version).kafka}" in log.read_text(errors="replace")
    finally:
        kafka.delete_cluster(ClusterArn=arn)
        svc.wait_state(arn, states=("GONE",), timeout=600)
