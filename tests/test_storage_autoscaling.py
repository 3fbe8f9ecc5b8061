"""Real broker volumes on a live cluster: a volume that fills up shows in KafkaDataLogsDiskUsed (the
filesystem's own figure) and fires MSK's default disk alarm, whose signed ALARM notification and,
once the volume has grown, OK notification reach a local webhook; storage auto scaling
(application-autoscaling, a target-tracking policy on KafkaBrokerStorageUtilization) then grows the
volumes online through UpdateBrokerStorage, under an acks=all producer that loses nothing.

The volume is filled with a file next to Kafka's logs (fallocate): what counts is the filesystem's
usage, and filling 1 GiB through Kafka at RF 2 would take minutes on a loaded 2-core machine."""
from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest

from harness import Service, free_port, wait_for
from kafka_clients import create_topic
from sns_helpers import Webhook, verify_documented
from verifying_load import VerifyingLoad

ENV = {"OPENMSK_METRICS_INTERVAL": "5", "OPENMSK_DEFAULT_ALARM_PERIOD": "10", "OPENMSK_AUTOSCALING_INTERVAL": "5",
       "OPENMSK_STORAGE_COOLDOWN_SECONDS": "0"}


def df_gib(path) -> float:
    out = subprocess.run(["df", "-B1", "--output=size", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024 ** 3


@pytest.fixture
def svc(tmp_path):
    service = Service(tmp_path / "data", free_port()).start(env=ENV)
    yield service
    service.stop_everything()


def test_full_volume_fires_the_disk_alarm_and_auto_scaling_grows_it(svc):
    kafka, cw, scaling = svc.client("kafka"), svc.client("cloudwatch"), svc.client("application-autoscaling")
    name = f"autoscale-{uuid.uuid4().hex[:4]}"
    arn = kafka.create_cluster(ClusterName=name, KafkaVersion="3.9.x", NumberOfBrokerNodes=2,
                               EncryptionInfo={"EncryptionInTransit": {"ClientBroker": "PLAINTEXT", "InCluster": False}},
                               BrokerNodeGroupInfo={"InstanceType": "kafka.t3.small",
                                                    "ClientSubnets": svc.default_subnets(2),
                                                    "StorageInfo": {"EbsStorageInfo": {"VolumeSize": 1}}})["ClusterArn"]
    info = svc.wait_state(arn, states=("ACTIVE", "FAILED"), timeout=400)
    assert info["State"] == "ACTIVE", info.get("StateInfo")
    data_dirs = sorted((svc.data_dir / "clusters" / arn.rsplit("/", 1)[1]).glob("broker-*/data"))
    if not all(os.path.ismount(d) for d in data_dirs):
        pytest.skip("no real volumes on this host (see `openmsk serve`'s start-up log)")

    # -- the API's refusals ------------------------------------------------------------------------
    with pytest.raises(scaling.exceptions.ValidationException, match="kafka namespace"):
        scaling.register_scalable_target(ServiceNamespace="ecs", ResourceId="service/a/b",
                                         ScalableDimension="ecs:service:DesiredCount", MinCapacity=1, MaxCapacity=2)
    with pytest.raises(scaling.exceptions.ObjectNotFoundException):
        scaling.put_scaling_policy(PolicyName="p", ServiceNamespace="kafka", ResourceId=arn,
                                   ScalableDimension="kafka:broker-storage:VolumeSize",
                                   PolicyType="TargetTrackingScaling",
                                   TargetTrackingScalingPolicyConfiguration={"TargetValue": 50, "PredefinedMetricSpecification": {
                                       "PredefinedMetricType": "KafkaBrokerStorageUtilization"}})
    target = scaling.register_scalable_target(ServiceNamespace="kafka", ResourceId=arn,
                                              ScalableDimension="kafka:broker-storage:VolumeSize",
                                              MinCapacity=1, MaxCapacity=100)
    assert target["ScalableTargetARN"].startswith("arn:aws:application-autoscaling:us-east-1:")
    with pytest.raises(scaling.exceptions.ValidationException, match="between 10 and 80"):
        scaling.put_scaling_policy(PolicyName="p", ServiceNamespace="kafka", ResourceId=arn,
                                   ScalableDimension="kafka:broker-storage:VolumeSize",
                                   PolicyType="TargetTrackingScaling",
                                   TargetTrackingScalingPolicyConfiguration={"TargetValue": 95, "PredefinedMetricSpecification": {
                                       "PredefinedMetricType": "KafkaBrokerStorageUtilization"}})

    # A webhook on the installation's alarm topic: the disk alarm's ALARM and OK notifications.
    hook, sns = Webhook(), svc.client("sns")
    alarm_topic = "arn:aws:sns:us-east-1:123456789012:openmsk-alarms"
    # created on demand by the default alarms' reconcile, on the evaluator's next pass after the create
    wait_for(lambda: alarm_topic in [t["TopicArn"] for t in sns.list_topics()["Topics"]], 120,
             "the installation's alarm topic")
    sns.subscribe(TopicArn=alarm_topic, Protocol="http", Endpoint=hook.url)
    sns.confirm_subscription(TopicArn=alarm_topic, Token=hook.next("SubscriptionConfirmation")["Token"])

    config = {"bootstrap.servers": kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerString"]}
    topic = f"fill-{uuid.uuid4().hex[:6]}"
    create_topic(config, topic, partitions=2, replication=2)
    with VerifyingLoad(config, topic) as load:
        # -- a volume 90 % full: the filesystem's own figure, and MSK's default disk alarm ---------
        filler = data_dirs[0] / "filler"
        st = os.statvfs(data_dirs[0])
        total, used = st.f_blocks * st.f_frsize, (st.f_blocks - st.f_bfree) * st.f_frsize
        subprocess.run(["fallocate", "-l", str(int(0.9 * total) - used), str(filler)], check=True)

        def disk_used() -> float:
            now = time.time()
            stats = cw.get_metric_statistics(Namespace="AWS/Kafka", MetricName="KafkaDataLogsDiskUsed",
                                             Dimensions=[{"Name": "Cluster Name", "Value": name}],
                                             StartTime=now - 60, EndTime=now + 60, Period=10, Statistics=["Maximum"])
            points = sorted(stats["Datapoints"], key=lambda p: p["Timestamp"])
            return points[-1]["Maximum"] if points else 0.0
        wait_for(lambda: disk_used() > 85, 120, "KafkaDataLogsDiskUsed above 85 %")

        def disk_alarm():
            alarms = cw.describe_alarms(AlarmNamePrefix=f"openmsk-{name}-broker-")["MetricAlarms"]
            return [a for a in alarms if a["AlarmName"].endswith("-disk") and a["StateValue"] == "ALARM"]
        fired = wait_for(disk_alarm, 180, "the default disk alarm to fire")
        assert fired[0]["MetricName"] == "KafkaDataLogsDiskUsed"
        note = hook.alarm(fired[0]["AlarmName"], "ALARM", timeout=60)      # signed, at the webhook
        verify_documented(note)
        assert note["_body"]["Trigger"]["MetricName"] == "KafkaDataLogsDiskUsed" and note["_body"]["Trigger"][
            "Threshold"] == 85.0

        # -- storage auto scaling: above the 50 % target, the volumes grow one step (10 GiB) -----------
        policy = scaling.put_scaling_policy(
            PolicyName="storage", ServiceNamespace="kafka", ResourceId=arn,
            ScalableDimension="kafka:broker-storage:VolumeSize", PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 50, "DisableScaleIn": True,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "KafkaBrokerStorageUtilization"}})
        assert ":policyName/storage" in policy["PolicyARN"]
        described = scaling.describe_scaling_policies(ServiceNamespace="kafka", ResourceId=arn)["ScalingPolicies"]
        assert [p["PolicyName"] for p in described] == ["storage"]

        def grown():
            ops = kafka.list_cluster_operations(ClusterArn=arn)["ClusterOperationInfoList"]
            done = [o for o in ops if o["OperationType"] == "UPDATE_BROKER_STORAGE"
                    and o["OperationState"] == "UPDATE_COMPLETE"]
            return done[0] if done else None
        op = wait_for(grown, 300, "auto scaling's UPDATE_BROKER_STORAGE to complete")
        assert op["TargetClusterInfo"]["BrokerEBSVolumeInfo"][0]["VolumeSizeGB"] == 11
        assert all(10.5 < df_gib(d) <= 11.0 for d in data_dirs), [df_gib(d) for d in data_dirs]
        assert wait_for(lambda: 0 < disk_used() < 20, 120, "KafkaDataLogsDiskUsed to drop after the growth")
        recovered = hook.alarm(fired[0]["AlarmName"], "OK", timeout=120)     # and the disk alarm's OK
        verify_documented(recovered)
        assert recovered["_body"]["OldStateValue"] == "ALARM"
        # one growth for one full volume: the stale 90 % of the period before it does not count again
        assert kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["BrokerNodeGroupInfo"]["StorageInfo"][
            "EbsStorageInfo"]["VolumeSize"] == 11
        filler.unlink()
    hook.close()
    assert load.errors == [] and len(load.acked) > 20
    assert load.lost() == set()

    scaling.delete_scaling_policy(PolicyName="storage", ServiceNamespace="kafka", ResourceId=arn,
                                  ScalableDimension="kafka:broker-storage:VolumeSize")
    scaling.deregister_scalable_target(ServiceNamespace="kafka", ResourceId=arn,
                                       ScalableDimension="kafka:broker-storage:VolumeSize")
    assert scaling.describe_scalable_targets(ServiceNamespace="kafka")["ScalableTargets"] == []


def test_scaler_steps_caps_and_waits_for_fresh_data(tmp_path):
    """One evaluation: above the target -> +max(10 GiB, 10 %), capped at MaxCapacity; the same stale
    reading does not grow again; below the target nothing happens."""
    from openmsk.control.store import Store
    from openmsk.services.application_autoscaling.backend import ScalingStore, StorageAutoScaler, next_size
    assert (next_size(1, 100), next_size(200, 1000), next_size(95, 100)) == (11, 220, 100)
    scaling = ScalingStore(Store(tmp_path / "db"))
    arn = "arn:aws:kafka:us-east-1:123456789012:cluster/c/u-1"
    scaling.put_target("us-east-1", {"ResourceId": arn, "ScalableDimension": "kafka:broker-storage:VolumeSize",
                                     "MinCapacity": 1, "MaxCapacity": 100,
                                     "ScalableTargetARN": "arn:aws:application-autoscaling:us-east-1:1:scalable-target/x"})
    scaling.put_policy("us-east-1", {"PolicyName": "p", "ResourceId": arn, "PolicyType": "TargetTrackingScaling",
                                     "ScalableDimension": "kafka:broker-storage:VolumeSize",
                                     "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 50}})
    cluster = {"ClusterArn": arn, "ClusterName": "c", "State": "ACTIVE", "VolumeSize": 1}
    readings = []

    def utilization(region, name, since):
        readings.append(since)
        return 90.0 if since == 0.0 else None          # only the reading from before any growth is known

    def grow(doc, size):
        doc.update(VolumeSize=size, LastStorageUpdateTime="2026-01-01T00:00:00.000Z")
        return f"op-{size}"
    scaler = StorageAutoScaler(scaling, utilization, lambda: [cluster], grow, interval=1)
    assert scaler.evaluate() == ["op-11"]
    assert scaler.evaluate() == []                       # waits for a period after the growth settled
    assert readings[-1] > 0
