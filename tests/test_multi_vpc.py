"""Multi-VPC private connectivity's data path (OPENMSK_NETWORK=namespaces, pinned for this file's own
service): a 2-broker IAM cluster in the default VPC turns VpcConnectivity on for SASL/IAM (a rolling
update that adds the brokers' multi-VPC listeners), a client VPC gets a managed VPC connection, and a
real client (confluent-kafka with AWS's IAM signer, TLS verified against the installation CA, hostname
= the advertised address) run by `openmsk exec` in the client VPC produces and consumes through
BootstrapBrokerStringVpcConnectivitySaslIam. A client whose group the connection's groups do not admit
is dropped at the network; rejecting or deleting the connection cuts the path; DeleteCluster leaves the
cluster's connections INACTIVE. Skipped without CAP_NET_ADMIN."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from harness import OPENMSK, Service, free_port, wait_for

from openmsk.runtime import netns

pytestmark = pytest.mark.skipif(netns.capability() is not None, reason=f"no namespaces: {netns.capability()}")

PROBE = """
import json, socket, sys
out = {}
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((host, int(port))); out[target] = "connected"
    except socket.timeout:
        out[target] = "timeout"
    except ConnectionRefusedError:
        out[target] = "refused"
    except OSError as e:
        out[target] = f"error {e.errno}"
    finally:
        s.close()
print(json.dumps(out))
"""

# A real IAM client: AWS's signer for OAUTHBEARER, TLS verified (CA + the advertised address as hostname).
CLIENT = """
import json, sys, time, uuid
from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
from botocore.credentials import CredentialProvider, Credentials
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, ca, key, secret, topic = sys.argv[1:6]

class Static(CredentialProvider):
    def load(self):
        return Credentials(key, secret)

def oauth_cb(_config):
    token, expiry_ms = MSKAuthTokenProvider.generate_auth_token_from_credentials_provider("us-east-1", Static())
    return token, expiry_ms / 1000

conf = {"bootstrap.servers": bootstrap, "security.protocol": "SASL_SSL", "sasl.mechanisms": "OAUTHBEARER",
        "oauth_cb": oauth_cb, "ssl.ca.location": ca, "ssl.endpoint.identification.algorithm": "https"}
admin = AdminClient(conf)
brokers = sorted(f"{b.host}:{b.port}" for b in admin.list_topics(timeout=60).brokers.values())
for future in admin.create_topics([NewTopic(topic, 2, 2)]).values():
    try:
        future.result(60)
    except Exception as exc:
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise
producer = Producer({**conf, "acks": "all"})
sent = [f"m-{i}".encode() for i in range(20)]
for value in sent:
    producer.produce(topic, value)
assert producer.flush(60) == 0, "unacknowledged messages"
consumer = Consumer({**conf, "group.id": str(uuid.uuid4()), "auto.offset.reset": "earliest"})
consumer.subscribe([topic])
got, deadline = [], time.monotonic() + 90
while len(got) < len(sent) and time.monotonic() < deadline:
    msg = consumer.poll(1.0)
    if msg is not None and msg.error() is None:
        got.append(msg.value())
consumer.close()
print(json.dumps({"brokers": brokers, "consumed": sorted(v.decode() for v in got)}))
"""


def run_in(svc: Service, subnet: str, groups: list[str], args: list[str], timeout: float = 240):
    cmd = [OPENMSK, "exec", "--data-dir", str(svc.data_dir), "--subnet", subnet]
    for g in groups:
        cmd += ["--security-group", g]
    return subprocess.run([*cmd, "--", sys.executable, *args], capture_output=True, text=True, timeout=timeout)


def probe(svc: Service, subnet: str, groups: list[str], target: str) -> str:
    proc = run_in(svc, subnet, groups, ["-c", PROBE, target], timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)[target]


@pytest.fixture(scope="module")
def mvpc(tmp_path_factory):
    svc = Service(tmp_path_factory.mktemp("mvpc") / "data", free_port()).start(env={"OPENMSK_NETWORK": "namespaces"})
    try:
        kafka, ec2 = svc.client("kafka"), svc.client("ec2")
        arn = kafka.create_cluster(
            ClusterName="mvpc", KafkaVersion="3.9.x", NumberOfBrokerNodes=2,
            BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large", "ClientSubnets": svc.default_subnets(2)},
            ClientAuthentication={"Sasl": {"Iam": {"Enabled": True}}})["ClusterArn"]
        info = svc.wait_state(arn, timeout=600)
        op = kafka.update_connectivity(ClusterArn=arn, CurrentVersion=info["CurrentVersion"], ConnectivityInfo={
            "VpcConnectivity": {"ClientAuthentication": {"Sasl": {"Iam": {"Enabled": True}}}}})["ClusterOperationArn"]
        info = svc.wait_state(arn, timeout=900)
        zones = info["BrokerNodeGroupInfo"]["ZoneIds"]
        vpc = ec2.create_vpc(CidrBlock="10.93.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.93.{16 * i}.0/20", AvailabilityZoneId=z)["Subnet"][
            "SubnetId"] for i, z in enumerate(zones)]
        endpoint = ec2.create_security_group(GroupName="msk-endpoint", Description="endpoint", VpcId=vpc)["GroupId"]
        apps = ec2.create_security_group(GroupName="apps", Description="admitted", VpcId=vpc)["GroupId"]
        others = ec2.create_security_group(GroupName="others", Description="not admitted", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=endpoint, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 14001, "ToPort": 14100, "UserIdGroupPairs": [{"GroupId": apps}]}])
        yield {"svc": svc, "arn": arn, "op": op, "vpc": vpc, "subnets": subnets, "endpoint": endpoint,
               "apps": apps, "others": others}
    finally:
        svc.stop_everything()
    assert not [ns for ns in netns.namespaces() if ns.startswith(netns.Names.for_data_dir(str(svc.data_dir)).prefix)]


def connect(mvpc: dict) -> str:
    kafka = mvpc["svc"].client("kafka")
    conn = kafka.create_vpc_connection(TargetClusterArn=mvpc["arn"], Authentication="SASL_IAM", VpcId=mvpc["vpc"],
                                       ClientSubnets=mvpc["subnets"], SecurityGroups=[mvpc["endpoint"]])
    wait_for(lambda: kafka.describe_vpc_connection(Arn=conn["VpcConnectionArn"])["State"] == "AVAILABLE", 90, "AVAILABLE")
    return conn["VpcConnectionArn"]


def test_client_vpc_produces_and_consumes_through_its_connection_and_loses_it_when_rejected(mvpc):
    svc, arn = mvpc["svc"], mvpc["arn"]
    kafka = svc.client("kafka")
    op = kafka.describe_cluster_operation(ClusterOperationArn=mvpc["op"])["ClusterOperationInfo"]
    assert op["OperationType"] == "UPDATE_CONNECTIVITY" and op["OperationState"] == "UPDATE_COMPLETE"
    strings = kafka.get_bootstrap_brokers(ClusterArn=arn)
    assert "BootstrapBrokerStringVpcConnectivityTls" not in strings
    bootstrap = strings["BootstrapBrokerStringVpcConnectivitySaslIam"]
    slot = bootstrap.split(",")[0].split(".")[2]
    assert bootstrap == f"100.66.{slot}.1:14001,100.66.{slot}.2:14002"
    first = bootstrap.split(",")[0]

    conn = connect(mvpc)
    creds = svc.credentials
    subnet = mvpc["subnets"][0]

    deadline = time.monotonic() + 300
    while True:             # (the endpoint is up within a second of AVAILABLE; a loaded host may be slower)
        proc = run_in(svc, subnet, [mvpc["apps"]], ["-c", CLIENT, bootstrap, svc.ca_path, creds["access_key_id"],
                                                     creds["secret_access_key"], "through-endpoint"])
        if proc.returncode == 0:
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            break
        assert time.monotonic() < deadline, f"no client of the client VPC produced and consumed: {proc.stderr[-3000:]}"
        time.sleep(2)
    assert result["brokers"] == bootstrap.split(",")          # the brokers advertise their multi-VPC addresses
    assert result["consumed"] == sorted(f"m-{i}" for i in range(20))

    # a group the connection's groups do not admit: dropped at the network (timeout), not refused
    assert probe(svc, mvpc["subnets"][1], [mvpc["others"]], first) == "timeout"
    assert probe(svc, mvpc["subnets"][1], [mvpc["apps"]], first) == "connected"
    # the cluster's own VPC (the default one) has no path to the client VPC's endpoint
    default_vpc_subnet = svc.default_subnets(1)[0]
    assert probe(svc, default_vpc_subnet, [], first) != "connected"

    # the owner rejects it: the path is cut
    kafka.reject_client_vpc_connection(ClusterArn=arn, VpcConnectionArn=conn)
    wait_for(lambda: probe(svc, subnet, [mvpc["apps"]], first) != "connected", 60, "cut after reject")
    wait_for(lambda: kafka.describe_vpc_connection(Arn=conn)["State"] == "REJECTED", 90, "REJECTED")
    kafka.delete_vpc_connection(Arn=conn)


def test_delete_cuts_the_path_and_delete_cluster_leaves_connections_inactive(mvpc):
    svc, arn = mvpc["svc"], mvpc["arn"]
    kafka = svc.client("kafka")
    bootstrap = kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringVpcConnectivitySaslIam"]
    last = bootstrap.split(",")[-1]
    subnet = mvpc["subnets"][1]

    conn = connect(mvpc)
    wait_for(lambda: probe(svc, subnet, [mvpc["apps"]], last) == "connected", 60, "endpoint up")
    kafka.delete_vpc_connection(Arn=conn)
    wait_for(lambda: probe(svc, subnet, [mvpc["apps"]], last) != "connected", 60, "cut after delete")

    # IAM cannot be turned off for the cluster while multi-VPC connectivity uses it
    version = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]
    with pytest.raises(kafka.exceptions.BadRequestException) as err:
        kafka.update_security(ClusterArn=arn, CurrentVersion=version, ClientAuthentication={
            "Sasl": {"Iam": {"Enabled": False}}, "Unauthenticated": {"Enabled": True}})
    assert "turned on for multi-VPC private connectivity" in err.value.response["Error"]["Message"]

    conn = connect(mvpc)
    wait_for(lambda: probe(svc, subnet, [mvpc["apps"]], last) == "connected", 60, "endpoint up")
    kafka.delete_cluster(ClusterArn=arn)
    assert kafka.describe_vpc_connection(Arn=conn)["State"] in ("DEACTIVATING", "INACTIVE")
    wait_for(lambda: kafka.describe_vpc_connection(Arn=conn)["State"] == "INACTIVE", 90, "INACTIVE")
    wait_for(lambda: probe(svc, subnet, [mvpc["apps"]], last) != "connected", 60, "cut after DeleteCluster")
    kafka.delete_vpc_connection(Arn=conn)

    def gone():
        try:
            kafka.describe_vpc_connection(Arn=conn)
        except kafka.exceptions.NotFoundException:
            return True
        return False
    wait_for(gone, 90, "deleted")
    client_vpc_ns = netns.Names.for_data_dir(str(svc.data_dir)).vpc_namespace(mvpc["vpc"])
    # (exec's instances are gone once their command ended)
    wait_for(lambda: not [n for n in netns.namespaces() if n.startswith(client_vpc_ns + "-")], 90,
             "endpoint namespaces removed")
