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


def _broker_config_names(dist) -> set[str]:
    """Every broker setting a Kafka release knows, from its own jars (the ConfigDef its docs print)."""
    import re
    import subprocess
    html = subprocess.run([dist.java(), "-Xmx128m", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData", "-cp",
                           dist.classpath, "kafka.server.KafkaConfig"],
                          capture_output=True, text=True, timeout=300).stdout
    return set(re.findall(r'<h4><a id="([^"]+)"></a>', html))


def test_msk_default_configuration_per_version():
    """MSK's default configuration (docs: "Default Amazon MSK configuration") is one table for every
    version; what differs per version is which of its rows apply: the ZooKeeper rows only to ZooKeeper
    clusters (Kafka 4 has no such settings at all), everything else being the Kafka release's own
    default. What openmsk renders for each version's brokers and controllers must therefore be settings
    that release knows (checked against its jars), with MSK's values, and no ZooKeeper setting on a KRaft
    node. Two releases are asked (one JVM each, ~30 s at load 50): the default version's (its ZooKeeper
    and KRaft lines; `scripts/install` caches it) and the newest Kafka 4 line whose jars are cached
    (KRaft only, ZooKeeper settings gone from Kafka); the rendering does not depend on the release
    otherwise."""
    from openmsk.runtime import kraft, versions
    from openmsk.runtime.distribution import DistributionMissing
    from openmsk.runtime.kafka_config import MSK_DEFAULTS, BrokerConfig, Listener

    # Read by the authorizer (AclAuthorizer / StandardAuthorizer), not by KafkaConfig.
    authorizer_keys = {"allow.everyone.if.no.acl.found"}
    quorum = kraft.KRaftQuorum("MkU3OEVBNTcwNTJENDM2Qg", ((1001, "127.0.0.5"), (1002, "127.0.0.6"),
                                                          (1003, "127.0.0.7")))
    default = versions.line(versions.DEFAULT_VERSION).kafka
    newest4 = None
    for found in reversed(versions.LINES):
        try:
            if found.kafka.startswith("4.") and versions.locate(found.msk_version):
                newest4 = found.kafka
                break
        except DistributionMissing:
            continue
    checked, names_by_release = [], {}
    for found in versions.LINES:
        if found.kafka not in (default, newest4):
            continue
        dist = versions.locate(found.msk_version)
        if found.kafka not in names_by_release:
            names_by_release[found.kafka] = _broker_config_names(dist)
        known = names_by_release[found.kafka]
        assert len(known) > 250, found.kafka
        broker = BrokerConfig(1, "use1-az1", "127.0.0.1", [Listener("TLS", "SSL", 9094)], "TLS", "/data",
                              "" if found.kraft else "127.0.0.2:2182", 3, 3,
                              kraft_cluster_id=quorum.cluster_id if found.kraft else None).properties()
        nodes = [broker]
        if found.kraft:
            broker.update(kraft.broker_properties(quorum, 1))
            nodes.append(kraft.ControllerConfig(1001, "use1-az1", "127.0.0.5", quorum, "/data").properties())
        for props in nodes:
            unknown = sorted(k for k in props if k not in known and k not in authorizer_keys)
            assert unknown == [], (found.msk_version, props.get("process.roles"), unknown)
            for key, value in MSK_DEFAULTS.items():
                if not key.startswith("zookeeper."):
                    assert props[key] == value, (found.msk_version, key)
            zookeeper = sorted(k for k in props if k.startswith("zookeeper."))
            if found.kraft:
                assert zookeeper == [], (found.msk_version, zookeeper)
            else:
                assert props["zookeeper.session.timeout.ms"] == "18000" and props["zookeeper.set.acl"] == "false"
        assert (broker["default.replication.factor"], broker["min.insync.replicas"]) == ("3", "2")    # 3 zones
        checked.append(found.msk_version)
    assert {versions.DEFAULT_VERSION, versions.DEFAULT_VERSION + ".kraft"} <= set(checked), checked
    print("checked against their jars:", checked)
