"""Kafka versions on the API: the list MSK users see, MSK's upgrade paths, refused updates with MSK's
errors (none of them changes the shared cluster), configurations per version, and a version whose jars
cannot be fetched reported as such."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

EXPECTED = ["3.6.0", "3.7.x", "3.7.x.kraft", "3.8.x", "3.8.x.kraft", "3.9.x", "3.9.x.kraft", "4.0.x.kraft",
            "4.1.x.kraft"]


def test_list_kafka_versions(service):
    from datetime import date, datetime, timezone

    from openmsk.runtime import versions
    listed = service.aws("kafka", "list-kafka-versions").json["KafkaVersions"]
    assert [v["Version"] for v in listed] == EXPECTED
    # MSK's statuses: DEPRECATED from a line's published end of support on (3.6.0: 2026-06-01, 3.7.x:
    # 2026-09-01), ACTIVE before and for the lines without one.
    today = datetime.now(timezone.utc).date()
    eos = {"3.6.0": date(2026, 6, 1), "3.7.x": date(2026, 9, 1), "3.7.x.kraft": date(2026, 9, 1)}
    assert {v["Version"]: v["Status"] for v in listed} == \
        {v: "DEPRECATED" if v in eos and today >= eos[v] else "ACTIVE" for v in EXPECTED}
    assert versions.status_on(versions.line("3.6.0"), date(2026, 5, 31)) == "ACTIVE"
    assert versions.status_on(versions.line("3.7.x.kraft"), date(2026, 9, 1)) == "DEPRECATED"
    assert versions.status_on(versions.line("4.1.x.kraft"), date(2030, 1, 1)) == "ACTIVE"


def test_compatible_versions_keep_the_metadata_mode(service):
    compat = {c["SourceVersion"]: c["TargetVersions"]
              for c in service.client("kafka").get_compatible_kafka_versions()["CompatibleKafkaVersions"]}
    assert compat["3.8.x"] == ["3.9.x"]
    assert compat["3.6.0"] == ["3.7.x", "3.8.x", "3.9.x"]
    assert compat["3.9.x.kraft"] == ["4.0.x.kraft", "4.1.x.kraft"]
    assert compat["3.9.x"] == [] and compat["4.1.x.kraft"] == []


def test_refused_updates(service, shared_cluster):
    kafka = service.client("kafka")
    arn = shared_cluster["ClusterArn"]
    current = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]
    assert kafka.get_compatible_kafka_versions(ClusterArn=arn)["CompatibleKafkaVersions"] == \
        [{"SourceVersion": "3.9.x", "TargetVersions": []}]
    for target, fragment in (("3.8.x", "cannot be updated"), ("4.1.x.kraft", "cannot be updated"),
                             ("9.9.x", "Unsupported Kafka version"), ("3.9.x", "already")):
        with pytest.raises(ClientError) as err:
            kafka.update_cluster_kafka_version(ClusterArn=arn, CurrentVersion=current, TargetKafkaVersion=target)
        assert err.value.response["Error"]["Code"] == "BadRequestException", target
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert fragment in err.value.response["Error"]["Message"], (target, err.value.response["Error"]["Message"])
    with pytest.raises(ClientError) as err:
        kafka.update_cluster_kafka_version(ClusterArn=arn, CurrentVersion="KWRONG", TargetKafkaVersion="3.9.x")
    assert err.value.response["Error"]["Code"] == "BadRequestException"
    info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
    assert info["State"] == "ACTIVE" and info["CurrentVersion"] == current


def test_configuration_kafka_versions(service):
    kafka = service.client("kafka")
    conf = kafka.create_configuration(Name="v-kraft-only", KafkaVersions=["3.9.x.kraft", "4.1.x.kraft"],
                                      ServerProperties=b"auto.create.topics.enable=true\n")
    described = kafka.describe_configuration(Arn=conf["Arn"])
    assert described["KafkaVersions"] == ["3.9.x.kraft", "4.1.x.kraft"]
    rev = kafka.describe_configuration_revision(Arn=conf["Arn"], Revision=1)
    assert rev["ServerProperties"] == b"auto.create.topics.enable=true\n"
    with pytest.raises(ClientError) as err:
        kafka.create_configuration(Name="v-bad", KafkaVersions=["2.8.1"], ServerProperties=b"num.partitions=2\n")
    assert err.value.response["Error"]["Code"] == "BadRequestException"
    # A cluster of a version the configuration does not list is refused.
    with pytest.raises(ClientError) as err:
        kafka.create_cluster(ClusterName="v-mismatch", KafkaVersion="3.8.x", NumberOfBrokerNodes=3,
                             BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                  "ClientSubnets": service.default_subnets(3)},
                             ConfigurationInfo={"Arn": conf["Arn"], "Revision": 1})
    assert err.value.response["Error"]["Code"] == "BadRequestException"
    assert "does not support Kafka version 3.8.x" in err.value.response["Error"]["Message"]
    kafka.delete_configuration(Arn=conf["Arn"])


def test_unfetchable_release_is_reported(tmp_path, monkeypatch):
    """A jar set Maven Central does not have fails with Maven's reason and leaves nothing cached."""
    from openmsk.runtime import distribution
    monkeypatch.setenv("OPENMSK_CACHE", str(tmp_path))
    with pytest.raises(distribution.DistributionMissing) as err:
        distribution.install("0.0.404-openmsk-test")
    assert "could not be fetched" in str(err.value)
    assert not list((tmp_path / "lib").iterdir())
