"""MSK IAM access control on real brokers (issue 14, cluster side): the 9098 listener, with AWS's own client
libraries unchanged -- confluent-kafka with OAUTHBEARER tokens from aws-msk-iam-sasl-signer-python, and the
Kafka console tools with aws-msk-iam-auth (AWS_MSK_IAM) -- authorized per kafka-cluster:* action by the
callers' IAM policies. One 2-broker cluster for the module: created with unauthenticated TLS only, then IAM
turned on by UpdateSecurity (a rolling restart) under an acks=all producer whose messages are verified."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Producer

from harness import Service, free_port, wait_for
from openmsk.telemetry.jmx import INTERNAL_PORT, parse_exposition
from kafka_clients import consume_all, create_topic, iam_config, produce, tls_config
from verifying_load import VerifyingLoad

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def iam_update(tmp_path_factory):
    """The cluster, and what turning IAM on did: (service, arn, bootstrap before/after, operation, load)."""
    svc = Service(tmp_path_factory.mktemp("msk-iam") / "data", free_port()).start()
    try:
        kafka = svc.client("kafka")
        arn = kafka.create_cluster(
            ClusterName="iam", KafkaVersion="3.9.x", NumberOfBrokerNodes=2,
            BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large", "ClientSubnets": svc.default_subnets(2)},
            ClientAuthentication={"Unauthenticated": {"Enabled": True}})["ClusterArn"]
        info = svc.wait_state(arn, timeout=600)
        before = kafka.get_bootstrap_brokers(ClusterArn=arn)
        tls = tls_config(before["BootstrapBrokerStringTls"], svc.ca_path)
        create_topic(tls, "verified", partitions=2, replication=2)
        with VerifyingLoad(tls, "verified") as load:
            op = kafka.update_security(ClusterArn=arn, CurrentVersion=info["CurrentVersion"], ClientAuthentication={
                "Sasl": {"Iam": {"Enabled": True}}, "Unauthenticated": {"Enabled": True}})["ClusterOperationArn"]
            svc.wait_state(arn, states=("ACTIVE",), timeout=900)
        yield svc, arn, before, kafka.describe_cluster_operation(ClusterOperationArn=op)["ClusterOperationInfo"], load
    finally:
        svc.stop_everything()


@pytest.fixture(scope="module")
def iam_cluster(iam_update):
    return iam_update[:2]


def iam_tool_config(directory: Path, ca: str, key: str, secret: str) -> tuple[Path, dict]:
    """MSK's documented client.properties for the Kafka (Java) tools and their environment: aws-msk-iam-auth
    on the CLASSPATH, the user's key as the only AWS credentials the default chain can find."""
    from openmsk.runtime.distribution import msk_iam_client_dir
    props = directory / "client.properties"
    props.write_text("security.protocol=SASL_SSL\nsasl.mechanism=AWS_MSK_IAM\n"
                     "sasl.jaas.config=software.amazon.msk.auth.iam.IAMLoginModule required;\n"
                     "sasl.client.callback.handler.class=software.amazon.msk.auth.iam.IAMClientCallbackHandler\n"
                     f"ssl.truststore.type=PEM\nssl.truststore.location={ca}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(CLASSPATH=f"{msk_iam_client_dir()}/*", AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID=key,
               AWS_SECRET_ACCESS_KEY=secret, AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
               KAFKA_HEAP_OPTS="-Xmx256m")
    return props, env



def test_update_security_turns_iam_on_by_rolling_without_losing_acknowledged_messages(iam_update):
    svc, arn, before, operation, load = iam_update
    assert "BootstrapBrokerStringSaslIam" not in before
    assert operation["OperationType"] == "UPDATE_SECURITY" and operation["OperationState"] == "UPDATE_COMPLETE"
    after = svc.client("kafka").get_bootstrap_brokers(ClusterArn=arn)
    assert after["BootstrapBrokerStringSaslIam"].replace(":9098", ":9094") == after["BootstrapBrokerStringTls"]
    auth = svc.client("kafka").describe_cluster(ClusterArn=arn)["ClusterInfo"]["ClientAuthentication"]
    assert auth["Sasl"]["Iam"]["Enabled"] is True and auth["Unauthenticated"]["Enabled"] is True
    assert len(load.acked) > 0 and not load.lost()


def arns(cluster_arn: str) -> dict[str, str]:
    """MSK's ARN formats for the cluster's topics and groups (wildcards for all)."""
    return {"cluster": cluster_arn, "topic": cluster_arn.replace(":cluster/", ":topic/") + "/*",
            "group": cluster_arn.replace(":cluster/", ":group/") + "/*"}


def user_with(svc: Service, name: str, statements: list[dict]) -> tuple[str, str]:
    iam = svc.client("iam", region="us-east-1")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    iam.put_user_policy(UserName=name, PolicyName="kafka", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": statements}))
    return key["AccessKeyId"], key["SecretAccessKey"]


def allow(actions: list[str], resources: list[str]) -> dict:
    return {"Effect": "Allow", "Action": [f"kafka-cluster:{a}" for a in actions], "Resource": resources}


def setup(svc: Service, arn: str) -> tuple[str, str, dict]:
    boot = svc.client("kafka").get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringSaslIam"]
    assert boot and all(h.endswith(":9098") for h in boot.split(","))
    admin = iam_config(boot, svc.ca_path, svc.credentials["access_key_id"], svc.credentials["secret_access_key"])
    return boot, svc.ca_path, admin


def produce_errors(config: dict, topic: str, count: int) -> list:
    """The delivery report of each of `count` messages (None: acknowledged). Waits for every report
    (message.timeout.ms bounds each), so none is cut short as "handle destroyed" on a loaded host."""
    producer = Producer({**config, "acks": "all", "message.timeout.ms": 20000})
    errors = []
    for i in range(count):
        producer.produce(topic, f"x{i}".encode(), on_delivery=lambda err, msg: errors.append(err))
    deadline = time.monotonic() + 180
    while len(errors) < count and time.monotonic() < deadline:
        producer.poll(0.5)
    return list(errors)


def refused_writes(errors: list, count: int) -> bool:
    """No message acknowledged, and Kafka's refusal among the reports (a message queued behind the
    refusal may instead time out while the client refreshes metadata)."""
    return (len(errors) == count and all(e is not None for e in errors)
            and any(e.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED for e in errors))


def test_signer_clients_produce_and_consume_and_a_reader_cannot_write(iam_cluster):
    svc, arn = iam_cluster
    boot, ca, admin = setup(svc, arn)
    a = arns(arn)
    topic = f"orders-{uuid.uuid4().hex[:6]}"
    create_topic(admin, topic, partitions=2, replication=2)
    writer = user_with(svc, "writer", [allow(["Connect"], [a["cluster"]]),
                                       allow(["DescribeTopic", "WriteData"], [a["topic"]])])
    reader = user_with(svc, "reader", [allow(["Connect"], [a["cluster"]]),
                                       allow(["DescribeTopic", "ReadData"], [a["topic"]]),
                                       allow(["AlterGroup", "DescribeGroup"], [a["group"]])])
    messages = [f"m{i}".encode() for i in range(20)]
    produce(iam_config(boot, ca, *writer), topic, messages)
    assert sorted(consume_all(iam_config(boot, ca, *reader), topic, len(messages))) == sorted(messages)
    # the reader may not write: the error Kafka clients show for MSK's refusal
    errors = produce_errors(iam_config(boot, ca, *reader), topic, 3)
    assert refused_writes(errors, 3), errors
    # and a user without kafka-cluster:Connect does not get past authentication
    stranger = user_with(svc, "stranger", [allow(["WriteData", "DescribeTopic"], [a["topic"]])])
    errors = produce_errors(iam_config(boot, ca, *stranger), topic, 1)
    assert errors and errors[0] is not None and errors[0].code() in (KafkaError._MSG_TIMED_OUT,
                                                                     KafkaError._AUTHENTICATION)
    log = "".join(p.read_text(errors="replace") for p in Path(svc.data_dir).glob("clusters/*/broker-*/logs/server.log"))
    assert "User:arn:aws:iam::123456789012:user/reader is Denied operation = WRITE" in log


def test_cluster_tags_are_aws_resource_tag_conditions(iam_cluster):
    """A policy conditioned on the cluster's tag (aws:ResourceTag/<k>, the one condition key AWS defines
    for kafka-cluster: actions) lets its user connect and write exactly while the cluster carries the tag."""
    svc, arn = iam_cluster
    boot, ca, admin = setup(svc, arn)
    a = arns(arn)
    kafka = svc.client("kafka")
    topic = f"tagged-{uuid.uuid4().hex[:6]}"
    create_topic(admin, topic, partitions=1, replication=2)
    on_tag = {"StringEquals": {"aws:ResourceTag/team": "payments"}}
    key = user_with(svc, "tagged", [{**allow(["Connect", "WriteDataIdempotently"], [a["cluster"]]), "Condition": on_tag},
                                    allow(["DescribeTopic", "WriteData"], [a["topic"]])])
    config = iam_config(boot, ca, *key)
    assert "team" not in kafka.list_tags_for_resource(ResourceArn=arn)["Tags"]
    errors = produce_errors(config, topic, 1)
    assert errors and errors[0] is not None, "connected without the tag the policy asks for"
    kafka.tag_resource(ResourceArn=arn, Tags={"team": "payments"})
    try:
        assert produce_errors({**config, "enable.idempotence": True}, topic, 3) == [None] * 3
        kafka.tag_resource(ResourceArn=arn, Tags={"team": "search"})
        errors = produce_errors(config, topic, 1)
        assert errors and errors[0] is not None, "connected with another value of the tag"
    finally:
        kafka.untag_resource(ResourceArn=arn, TagKeys=["team"])


def test_a_revoked_permission_bites_on_a_live_connection(iam_cluster):
    svc, arn = iam_cluster
    boot, ca, admin = setup(svc, arn)
    a = arns(arn)
    topic = f"live-{uuid.uuid4().hex[:6]}"
    create_topic(admin, topic, partitions=1, replication=2)
    key = user_with(svc, "revoked", [allow(["Connect"], [a["cluster"]]),
                                     allow(["DescribeTopic", "WriteData"], [a["topic"]])])
    producer = Producer({**iam_config(boot, ca, *key), "acks": "all", "message.timeout.ms": 10000})
    results: list = []
    producer.produce(topic, b"before", on_delivery=lambda err, msg: results.append(err))
    assert producer.flush(60) == 0 and results == [None]
    svc.client("iam", region="us-east-1").put_user_policy(
        UserName="revoked", PolicyName="kafka", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            allow(["Connect"], [a["cluster"]]), allow(["DescribeTopic"], [a["topic"]])]}))
    revoked_at = time.monotonic()
    refused = None
    while time.monotonic() - revoked_at < 60 and refused is None:     # same producer, same connections
        results.clear()
        producer.produce(topic, b"after", on_delivery=lambda err, msg: results.append(err))
        producer.flush(30)
        if results and results[0] is not None:
            refused = results[0]
        else:
            time.sleep(0.5)
    assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_console_tools_with_aws_msk_iam_auth(iam_cluster, tmp_path):
    """MSK's documented client.properties for the Java tools, aws-msk-iam-auth on their CLASSPATH."""
    svc, arn = iam_cluster
    boot, ca, admin = setup(svc, arn)
    a = arns(arn)
    topic = f"tools-{uuid.uuid4().hex[:6]}"
    create_topic(admin, topic, partitions=1, replication=2)
    key, secret = user_with(svc, "tools", [allow(["Connect"], [a["cluster"]]),
                                           allow(["DescribeTopic", "WriteData", "ReadData"], [a["topic"]]),
                                           allow(["WriteDataIdempotently"], [a["cluster"]]),
                                           allow(["AlterGroup", "DescribeGroup"], [a["group"]])])
    props, env = iam_tool_config(tmp_path, ca, key, secret)
    bin_dir = REPO / "bin"
    sent = "\n".join(f"line-{i}" for i in range(5)) + "\n"
    produced = subprocess.run([bin_dir / "kafka-console-producer.sh", "--bootstrap-server", boot, "--topic", topic,
                               "--producer.config", str(props)], input=sent, text=True, capture_output=True,
                              env=env, timeout=300)
    assert produced.returncode == 0, produced.stderr[-2000:]
    consumed = subprocess.run([bin_dir / "kafka-console-consumer.sh", "--bootstrap-server", boot, "--topic", topic,
                               "--from-beginning", "--max-messages", "5", "--timeout-ms", "120000",
                               "--consumer.config", str(props)], text=True, capture_output=True, env=env, timeout=300)
    assert consumed.stdout.split() == [f"line-{i}" for i in range(5)], consumed.stderr[-2000:]


def test_an_assumed_role_acts_with_the_roles_policies(iam_cluster):
    svc, arn = iam_cluster
    boot, ca, admin = setup(svc, arn)
    a = arns(arn)
    topic = f"role-{uuid.uuid4().hex[:6]}"
    create_topic(admin, topic, partitions=1, replication=2)
    iam = svc.client("iam", region="us-east-1")
    key, secret = user_with(svc, "assumer", [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}])
    role_arn = iam.create_role(RoleName="producer-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "123456789012"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    iam.put_role_policy(RoleName="producer-role", PolicyName="kafka", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [allow(["Connect"], [a["cluster"]]),
                                               allow(["DescribeTopic", "WriteData", "ReadData"], [a["topic"]]),
                                               allow(["AlterGroup", "DescribeGroup"], [a["group"]])]}))
    creds = svc.client("sts", key=key, secret=secret).assume_role(
        RoleArn=role_arn, RoleSessionName="batch", DurationSeconds=900)["Credentials"]
    session = iam_config(boot, ca, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    produce(session, topic, [b"from-role"])
    assert consume_all(session, topic, 1) == [b"from-role"]
    # the user's own key has no kafka-cluster permission at all
    errors = produce_errors(iam_config(boot, ca, key, secret), topic, 1)
    assert errors and errors[0] is not None
    # once the role's credentials expire (moved into the past, as if the 15 minutes went by), a client
    # signing with them is refused at authentication
    with sqlite3.connect(svc.data_dir / "openmsk.db") as db:
        db.execute("UPDATE resources SET doc = json_set(doc, '$.Expires', ?) WHERE kind = 'iam-session' AND id = ?",
                   (time.time() - 1, creds["AccessKeyId"]))
    errors = produce_errors(session, topic, 1)
    assert errors and errors[0] is not None, "expired role credentials still authenticate"


def test_no_secret_key_reaches_a_broker(iam_cluster):
    """The brokers verify nothing themselves: no user's secret, the admin secret or a session token is in
    any broker or ZooKeeper file (configs, logs, data)."""
    svc, arn = iam_cluster
    secrets = [svc.credentials["secret_access_key"]]
    secrets += [p.read_text().strip() for p in (svc.data_dir / "iam" / "keys").glob("*")]
    assert len(secrets) > 1
    cluster_dir = next((svc.data_dir / "clusters").iterdir())
    for path in cluster_dir.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            data = path.read_bytes()
            assert not any(s.encode() in data for s in secrets), path


def authorize_calls(boot: str) -> dict[str, float]:
    """authorize() calls per path (cached / asked / delegate) summed over the brokers, from the timers the
    plugin registers (AuthorizeTimer), through each broker's JMX exporter as bench/iam.py reads them."""
    calls: dict[str, float] = {}
    for host in {h.rsplit(":", 1)[0] for h in boot.split(",")}:
        text = urllib.request.urlopen(f"http://{host}:{INTERNAL_PORT}/metrics", timeout=60).read().decode()
        for name, labels, value in parse_exposition(text):
            if name == "kafka_server_OpenmskIamAuthorizer_Count" and labels.get("name") == "AuthorizeTime":
                calls[labels["path"]] = calls.get(labels["path"], 0) + value
    return calls


def test_the_authorizer_times_its_decisions(iam_cluster):
    svc, arn = iam_cluster
    boot, ca, admin = setup(svc, arn)
    before = authorize_calls(boot)
    topic = f"timed-{uuid.uuid4().hex[:6]}"
    create_topic(admin, topic, partitions=1, replication=2)
    produce(admin, topic, [b"timed"])
    after = authorize_calls(boot)
    assert after.get("cached", 0) + after.get("asked", 0) > before.get("cached", 0) + before.get("asked", 0)
    assert after.get("delegate", 0) > 0        # the TLS and replication listeners: Kafka's ACL authorizer


def test_multi_vpc_connection_lifecycle(iam_cluster):
    """Multi-VPC private connectivity, the API (the data path has its own file, test_multi_vpc.py): the
    cluster side (UpdateConnectivity VpcConnectivity, an UPDATE_CONNECTIVITY operation that rolls the brokers
    onto their multi-VPC listeners), a managed VPC connection from another VPC CREATING -> AVAILABLE, seen by
    both sides, MSK's refusals, and the owner's reject and the client's delete."""
    svc, arn = iam_cluster
    kafka, ec2 = svc.client("kafka"), svc.client("ec2")
    info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
    zones = info["BrokerNodeGroupInfo"]["ZoneIds"]
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.77.{16 * i}.0/20", AvailabilityZoneId=z)["Subnet"]["SubnetId"]
               for i, z in enumerate(zones)]
    group = ec2.create_security_group(GroupName="clients", Description="multi-vpc clients", VpcId=vpc)["GroupId"]
    request = {"TargetClusterArn": arn, "Authentication": "SASL_IAM", "VpcId": vpc, "ClientSubnets": subnets,
               "SecurityGroups": [group], "Tags": {"team": "apps"}}

    def refused(call, fragment, **kw):
        with pytest.raises(kafka.exceptions.BadRequestException) as err:
            call(**kw)
        assert fragment in err.value.response["Error"]["Message"], err.value.response["Error"]["Message"]

    refused(kafka.create_vpc_connection, "not turned on for multi-VPC", **request)
    scram = {"VpcConnectivity": {"ClientAuthentication": {"Sasl": {"Scram": {"Enabled": True}}}}}
    refused(kafka.update_connectivity, "SASL/SCRAM client authentication is not turned on", ClusterArn=arn,
            CurrentVersion=info["CurrentVersion"], ConnectivityInfo=scram)

    # the cluster side: IAM on for multi-VPC
    iam_on = {"VpcConnectivity": {"ClientAuthentication": {"Sasl": {"Iam": {"Enabled": True}}}}}
    op_arn = kafka.update_connectivity(ClusterArn=arn, CurrentVersion=info["CurrentVersion"],
                                       ConnectivityInfo=iam_on)["ClusterOperationArn"]
    svc.wait_state(arn, timeout=300)
    op = kafka.describe_cluster_operation(ClusterOperationArn=op_arn)["ClusterOperationInfo"]
    assert op["OperationType"] == "UPDATE_CONNECTIVITY" and op["OperationState"] == "UPDATE_COMPLETE"
    assert op["TargetClusterInfo"]["ConnectivityInfo"]["VpcConnectivity"]["ClientAuthentication"]["Sasl"]["Iam"] == \
        {"Enabled": True}
    assert op["SourceClusterInfo"]["ConnectivityInfo"]["VpcConnectivity"]["ClientAuthentication"]["Sasl"]["Iam"] == \
        {"Enabled": False}
    info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
    connectivity = info["BrokerNodeGroupInfo"]["ConnectivityInfo"]
    assert connectivity["PublicAccess"] == {"Type": "DISABLED"}
    assert connectivity["VpcConnectivity"]["ClientAuthentication"] == {
        "Sasl": {"Scram": {"Enabled": False}, "Iam": {"Enabled": True}}, "Tls": {"Enabled": False}}
    refused(kafka.update_connectivity, "already has these", ClusterArn=arn, CurrentVersion=info["CurrentVersion"],
            ConnectivityInfo=iam_on)

    # MSK's rules for a connection
    other = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    foreign_group = next(g["GroupId"] for g in other if g["VpcId"] != vpc)
    for change, fragment in (({"ClientSubnets": subnets[:1]}, "at least two Availability Zones"),
                             ({"ClientSubnets": [subnets[0], svc.default_subnets(2)[1]]}, "not in " + vpc),
                             ({"SecurityGroups": [foreign_group]}, "not in " + vpc),
                             ({"Authentication": "TLS"}, "TLS is not turned on for multi-VPC"),
                             ({"VpcId": "vpc-0000000000000000a"}, "does not exist")):
        refused(kafka.create_vpc_connection, fragment, **{**request, **change})

    created = svc.aws("kafka", "create-vpc-connection", "--target-cluster-arn", arn, "--authentication", "SASL_IAM",
                      "--vpc-id", vpc, "--client-subnets", *subnets, "--security-groups", group, "--tags", "team=apps")
    assert created.returncode == 0, created.stderr
    conn = created.json["VpcConnectionArn"]
    assert created.json["State"] == "CREATING" and conn.startswith("arn:aws:kafka:us-east-1:")
    described = wait_for(lambda: (lambda d: d if d["State"] == "AVAILABLE" else None)(
        kafka.describe_vpc_connection(Arn=conn)), 60, "AVAILABLE", poll=0.5)
    assert described["TargetClusterArn"] == arn and described["Subnets"] == subnets
    assert described["SecurityGroups"] == [group] and described["Tags"] == {"team": "apps"}
    refused(kafka.create_vpc_connection, "already has a SASL_IAM connection", **request)
    mine = kafka.list_vpc_connections()["VpcConnections"]
    assert [(c["VpcConnectionArn"], c["State"], c["VpcId"]) for c in mine] == [(conn, "AVAILABLE", vpc)]
    clients = kafka.list_client_vpc_connections(ClusterArn=arn)["ClientVpcConnections"]
    assert [(c["VpcConnectionArn"], c["Authentication"], c["Owner"]) for c in clients] == \
        [(conn, "SASL_IAM", svc.client("sts").get_caller_identity()["Account"])]
    # MSK's multi-VPC bootstrap string for IAM only (one port per broker: 14000 + id), whatever the layout
    strings = kafka.get_bootstrap_brokers(ClusterArn=arn)
    assert [k for k in strings if "VpcConnectivity" in k] == ["BootstrapBrokerStringVpcConnectivitySaslIam"]
    assert [p.rsplit(":", 1)[1] for p in strings["BootstrapBrokerStringVpcConnectivitySaslIam"].split(",")] == \
        ["14001", "14002"]

    # IAM cannot be turned off for multi-VPC while a connection uses it
    version = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]
    iam_off = {"VpcConnectivity": {"ClientAuthentication": {"Sasl": {"Iam": {"Enabled": False}}}}}
    refused(kafka.update_connectivity, "RejectClientVpcConnection", ClusterArn=arn, CurrentVersion=version,
            ConnectivityInfo=iam_off)

    # the owner rejects it; the client deletes it
    assert kafka.reject_client_vpc_connection(ClusterArn=arn, VpcConnectionArn=conn)["ResponseMetadata"][
        "HTTPStatusCode"] == 200
    assert kafka.describe_vpc_connection(Arn=conn)["State"] in ("REJECTING", "REJECTED")
    wait_for(lambda: kafka.describe_vpc_connection(Arn=conn)["State"] == "REJECTED", 60, "REJECTED", poll=0.5)
    refused(kafka.reject_client_vpc_connection, "only an AVAILABLE connection", ClusterArn=arn, VpcConnectionArn=conn)
    assert kafka.delete_vpc_connection(Arn=conn)["State"] == "DELETING"

    def gone():
        try:
            kafka.describe_vpc_connection(Arn=conn)
        except kafka.exceptions.NotFoundException:
            return True
        return False
    wait_for(gone, 60, "deleted", poll=0.5)
    assert kafka.list_client_vpc_connections(ClusterArn=arn)["ClientVpcConnections"] == []
    kafka.update_connectivity(ClusterArn=arn, CurrentVersion=version, ConnectivityInfo=iam_off)
    svc.wait_state(arn, timeout=300)
    assert not kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["BrokerNodeGroupInfo"]["ConnectivityInfo"][
        "VpcConnectivity"]["ClientAuthentication"]["Sasl"]["Iam"]["Enabled"]
