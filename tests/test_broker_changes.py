"""Changes to a running cluster's brokers (UpdateClusterConfiguration, UpdateBrokerType,
UpdateBrokerStorage), each a cluster operation, on one real cluster under an idempotent acks=all
producer whose acknowledged messages are all read back afterwards; and MSK's refusals."""
from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from kafka_clients import create_topic, effective, tls_config
from harness import wait_for
from openmsk.runtime.distribution import KafkaDistribution
from openmsk.runtime.instance_types import INSTANCE_TYPES
from openmsk.runtime.kafka_config import DYNAMIC_CLUSTER_WIDE
from openmsk.services.kafka.server_properties import CONFIGURABLE
from verifying_load import VerifyingLoad


def broker_records(svc, arn: str) -> dict[str, dict]:
    cluster_dir = svc.data_dir / "clusters" / arn.rsplit("/", 1)[1]
    return {p.parent.name: json.loads(p.read_text()) for p in cluster_dir.glob("broker-*/node.json")}


def pids(svc, arn: str) -> dict[str, int]:
    return {name: r["pid"] for name, r in broker_records(svc, arn).items()}


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def environ(pid: int) -> dict[str, str]:
    return dict(v.split("=", 1) for v in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0") if "=" in v)


def archive_mapped_where_written(pid: int) -> bool | None:
    """Whether the JVM mapped its class-data-sharing archive at the address it was written for (JDK 17's
    SharedBaseAddress, 0x800000000) rather than relocating it, which dirties every page (None: no
    archive mapped, e.g. none built)."""
    starts = [int(line.split("-", 1)[0], 16) for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
              if "/cds/broker-" in line and line.rstrip().endswith(".jsa")]
    return min(starts) >> 32 == 0x8 if starts else None


def df_gib(path: Path) -> float:
    """The filesystem size `df` reports for a broker's data directory, in GiB."""
    out = subprocess.run(["df", "-B1", "--output=size", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024 ** 3


def finished(kafka, op_arn: str, timeout: float = 900) -> dict:
    def done():
        op = kafka.describe_cluster_operation(ClusterOperationArn=op_arn)["ClusterOperationInfo"]
        return op if op["OperationState"] in ("UPDATE_COMPLETE", "UPDATE_FAILED") else None
    op = wait_for(done, timeout, f"operation {op_arn} to finish")
    assert op["OperationState"] == "UPDATE_COMPLETE", op
    return op


def test_dynamic_key_table_matches_kafka():
    """The keys openmsk applies without a restart are exactly those Kafka's own documentation
    (generated from the broker's ConfigDef) marks as cluster-wide dynamic."""
    dist = KafkaDistribution.locate()
    html = subprocess.run([dist.java(), "-cp", dist.classpath, "kafka.server.KafkaConfig"], capture_output=True,
                          text=True, timeout=120).stdout
    modes = dict(re.findall(r'<h4><a id="([^"]+)"></a>.*?Update Mode:</th>\s*<td>([^<]+)<', html, re.S))
    assert len(modes) > 200
    assert {k for k, m in modes.items() if m == "cluster-wide"} == set(DYNAMIC_CLUSTER_WIDE)
    # of MSK's settable keys, these are live (the rest roll the brokers)
    assert {"log.retention.ms", "min.insync.replicas", "num.io.threads"} <= CONFIGURABLE & DYNAMIC_CLUSTER_WIDE
    assert "auto.create.topics.enable" in CONFIGURABLE - DYNAMIC_CLUSTER_WIDE


def test_instance_type_table_is_ordered():
    for family in ("m5", "m7g"):
        sizes = sorted((t for n, t in INSTANCE_TYPES.items() if n.startswith(f"kafka.{family}.")),
                       key=lambda t: t.vcpus)
        assert [t.heap_mib for t in sizes] == sorted(t.heap_mib for t in sizes)
        assert len({t.heap_mib for t in sizes}) == len(sizes)
        assert [t.io_threads for t in sizes] == sorted(t.io_threads for t in sizes)
    assert INSTANCE_TYPES["kafka.t3.small"].heap_mib < INSTANCE_TYPES["kafka.m5.large"].heap_mib
    # Kafka's 128 MiB log-cleaner buffer would be a sixth of a laptop m5.large heap, resident at idle
    assert INSTANCE_TYPES["kafka.m5.large"].broker_properties()["log.cleaner.dedupe.buffer.size"] == str(24 << 20)


def test_configuration_broker_type_and_storage_changes_under_load(service):
    svc = service
    kafka = svc.client("kafka")
    name = f"changes-{uuid.uuid4().hex[:4]}"
    conf = kafka.create_configuration(Name=name, KafkaVersions=["3.9.x"],
                                      ServerProperties=b"auto.create.topics.enable=false\nlog.retention.ms=86400000\n")
    arn = kafka.create_cluster(ClusterName=name, KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
                               ConfigurationInfo={"Arn": conf["Arn"], "Revision": 1},
                               BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                    "ClientSubnets": svc.default_subnets(3),
                                                    "StorageInfo": {"EbsStorageInfo": {"VolumeSize": 1}}})["ClusterArn"]
    try:
        info = svc.wait_state(arn, states=("ACTIVE", "FAILED"), timeout=400)
        assert info["State"] == "ACTIVE", info.get("StateInfo")
        config = tls_config(kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"], svc.ca_path)
        # The revision's dynamic key went through the admin API at creation, its static key into the file.
        assert effective(config, 1, "log.retention.ms") == ("86400000", "DYNAMIC_DEFAULT_BROKER_CONFIG")
        assert effective(config, 2, "auto.create.topics.enable") == ("false", "STATIC_BROKER_CONFIG")
        topic = f"changes-{uuid.uuid4().hex[:6]}"
        create_topic(config, topic, partitions=3, replication=3)

        with VerifyingLoad(config, topic) as load:
            # -- a revision with a dynamic change only: live, no broker restarted ---------------------
            rev2 = kafka.update_configuration(Arn=conf["Arn"], ServerProperties=(
                b"auto.create.topics.enable=false\nlog.retention.ms=43200000\n"))["LatestRevision"]["Revision"]
            with pytest.raises(kafka.exceptions.BadRequestException) as stale:
                kafka.update_cluster_configuration(ClusterArn=arn, CurrentVersion="K3WRONGVERSION",
                                                   ConfigurationInfo={"Arn": conf["Arn"], "Revision": rev2})
            assert stale.value.response["Error"]["Message"] == \
                "The version of the cluster isn’t current. Check the current version and try again."
            before = pids(svc, arn)
            op_arn = kafka.update_cluster_configuration(ClusterArn=arn, CurrentVersion=info["CurrentVersion"],
                                                        ConfigurationInfo={"Arn": conf["Arn"], "Revision": rev2}
                                                        )["ClusterOperationArn"]
            # one operation at a time
            described = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
            if described["State"] == "UPDATING":
                with pytest.raises(kafka.exceptions.ConflictException):
                    kafka.update_broker_type(ClusterArn=arn, CurrentVersion=described["CurrentVersion"],
                                             TargetInstanceType="kafka.m5.xlarge")
            op = finished(kafka, op_arn)
            assert op["OperationType"] == "UPDATE_CLUSTER_CONFIGURATION"
            assert op["SourceClusterInfo"]["ConfigurationInfo"] == {"Arn": conf["Arn"], "Revision": 1}
            assert op["TargetClusterInfo"]["ConfigurationInfo"] == {"Arn": conf["Arn"], "Revision": rev2}
            steps = {s["StepName"]: s["StepInfo"]["StepStatus"] for s in op["OperationSteps"]}
            assert steps["APPLY_DYNAMIC_BROKER_CONFIGS"] == "COMPLETED", steps
            assert pids(svc, arn) == before                      # nothing restarted
            for broker_id in (1, 2, 3):
                assert effective(config, broker_id, "log.retention.ms") == ("43200000", "DYNAMIC_DEFAULT_BROKER_CONFIG")
            info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
            assert info["CurrentBrokerSoftwareInfo"]["ConfigurationRevision"] == rev2

            # -- one dynamic and one static change: the static one rolls every broker -----------------
            rev3 = kafka.update_configuration(Arn=conf["Arn"], ServerProperties=(
                b"auto.create.topics.enable=true\nlog.retention.ms=21600000\n"))["LatestRevision"]["Revision"]
            op = finished(kafka, kafka.update_cluster_configuration(
                ClusterArn=arn, CurrentVersion=info["CurrentVersion"],
                ConfigurationInfo={"Arn": conf["Arn"], "Revision": rev3})["ClusterOperationArn"])
            rolled = pids(svc, arn)
            assert all(rolled[b] != before[b] for b in before), (before, rolled)
            for broker_id in (1, 2, 3):
                assert effective(config, broker_id, "auto.create.topics.enable") == ("true", "STATIC_BROKER_CONFIG")
                assert effective(config, broker_id, "log.retention.ms") == ("21600000", "DYNAMIC_DEFAULT_BROKER_CONFIG")

            # -- broker type: a bigger heap and more threads on every broker, rolled -------------------
            info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
            assert info["CurrentBrokerSoftwareInfo"]["ConfigurationRevision"] == rev3
            with pytest.raises(kafka.exceptions.BadRequestException):
                kafka.update_broker_type(ClusterArn=arn, CurrentVersion=info["CurrentVersion"],
                                         TargetInstanceType="kafka.m5.huge")
            op = finished(kafka, kafka.update_broker_type(ClusterArn=arn, CurrentVersion=info["CurrentVersion"],
                                                          TargetInstanceType="kafka.m5.xlarge")["ClusterOperationArn"])
            assert (op["SourceClusterInfo"]["InstanceType"], op["TargetClusterInfo"]["InstanceType"]) == \
                ("kafka.m5.large", "kafka.m5.xlarge")
            for name_, pid in pids(svc, arn).items():
                assert pid != rolled[name_]
                assert "-Xmx1024m" in cmdline(pid) and "-Xmx768m" not in cmdline(pid)
            assert effective(config, 1, "num.io.threads") == ("12", "STATIC_BROKER_CONFIG")
            # the log cleaner's dedupe buffer follows the heap (1/32 of 1024 MiB), not Kafka's 128 MiB
            assert effective(config, 1, "log.cleaner.dedupe.buffer.size") == (str(32 << 20), "STATIC_BROKER_CONFIG")
            for pid in pids(svc, arn).values():       # idle memory (issue 15): one malloc arena pair, shared archive
                assert environ(pid).get("MALLOC_ARENA_MAX") == "2"
                assert archive_mapped_where_written(pid) is not False, pid    # never relocated
            nodes = kafka.list_nodes(ClusterArn=arn)["NodeInfoList"]
            assert {n["InstanceType"] for n in nodes} == {"kafka.m5.xlarge"}

            # -- storage grown on live brokers: online, nothing restarted ------------------------------
            data_dirs = sorted((svc.data_dir / "clusters" / arn.rsplit("/", 1)[1]).glob("broker-*/data"))
            real_volumes = len(data_dirs) == 3 and all(os.path.ismount(d) for d in data_dirs)
            if real_volumes:                      # each broker's log dir is a filesystem of VolumeSize GiB
                assert all(0.9 < df_gib(d) <= 1.0 for d in data_dirs), [df_gib(d) for d in data_dirs]
            info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
            version = info["CurrentVersion"]
            with pytest.raises(kafka.exceptions.BadRequestException, match="can only be increased"):
                kafka.update_broker_storage(ClusterArn=arn, CurrentVersion=version, TargetBrokerEBSVolumeInfo=[
                    {"KafkaBrokerNodeId": "All", "VolumeSizeGB": 1}])
            with pytest.raises(kafka.exceptions.BadRequestException, match="kafka.m5.4xlarge or larger"):
                kafka.update_storage(ClusterArn=arn, CurrentVersion=version, VolumeSizeGB=20,
                                     ProvisionedThroughput={"Enabled": True, "VolumeThroughput": 300})
            before = pids(svc, arn)
            op = finished(kafka, kafka.update_broker_storage(ClusterArn=arn, CurrentVersion=version,
                                                             TargetBrokerEBSVolumeInfo=[{"KafkaBrokerNodeId": "All",
                                                                                         "VolumeSizeGB": 2}]
                                                             )["ClusterOperationArn"])
            assert op["OperationType"] == "UPDATE_BROKER_STORAGE"
            assert op["SourceClusterInfo"]["BrokerEBSVolumeInfo"][0]["VolumeSizeGB"] == 1
            assert op["TargetClusterInfo"]["BrokerEBSVolumeInfo"][0]["VolumeSizeGB"] == 2
            assert pids(svc, arn) == before
            if real_volumes:
                assert all(1.9 < df_gib(d) <= 2.0 for d in data_dirs), [df_gib(d) for d in data_dirs]
            info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
            assert info["BrokerNodeGroupInfo"]["StorageInfo"]["EbsStorageInfo"]["VolumeSize"] == 2
            with pytest.raises(kafka.exceptions.BadRequestException, match="cool-down"):
                kafka.update_broker_storage(ClusterArn=arn, CurrentVersion=info["CurrentVersion"],
                                            TargetBrokerEBSVolumeInfo=[{"KafkaBrokerNodeId": "All", "VolumeSizeGB": 3}])
            # public access needs authenticated clients (MSK's precondition); this cluster allows anyone on TLS
            with pytest.raises(kafka.exceptions.BadRequestException, match="unauthenticated access control"):
                kafka.update_connectivity(ClusterArn=arn, CurrentVersion=info["CurrentVersion"],
                                          ConnectivityInfo={"PublicAccess": {"Type": "SERVICE_PROVIDED_EIPS"}})
        assert load.errors == [] and len(load.acked) > 50
        assert load.lost() == set()

        # -- the operations, V1 and V2 ----------------------------------------------------------------
        listed = kafka.list_cluster_operations_v2(ClusterArn=arn)["ClusterOperationInfoList"]
        assert [o["OperationType"] for o in listed][:4] == ["UPDATE_BROKER_STORAGE", "UPDATE_BROKER_TYPE",
                                                            "UPDATE_CLUSTER_CONFIGURATION",
                                                            "UPDATE_CLUSTER_CONFIGURATION"]
        assert all(o["OperationState"] == "UPDATE_COMPLETE" for o in listed[:4])
        v2 = kafka.describe_cluster_operation_v2(ClusterOperationArn=listed[1]["OperationArn"])["ClusterOperationInfo"]
        assert v2["Provisioned"]["TargetClusterInfo"]["InstanceType"] == "kafka.m5.xlarge"
        assert any(s["StepName"] == "ROLL_BROKERS" for s in v2["Provisioned"]["OperationSteps"])
    finally:
        kafka.delete_cluster(ClusterArn=arn)
        svc.wait_state(arn, states=("GONE",), timeout=300)
    # the volumes went with the cluster: no loop device is left on its images
    attached = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    assert arn.rsplit("/", 1)[1] not in attached, attached
