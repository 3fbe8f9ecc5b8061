"""Security groups on the wire (OPENMSK_NETWORK=namespaces): a private service whose cluster's nodes each
sit in a network namespace on the default VPC's bridge, filtered by nftables; instances placed with
`openmsk exec --subnet --security-group` are the clients. Denied connections time out (dropped, as
AWS security groups do, on the way in and out), allowed ports nobody listens on are refused.
Skipped without CAP_NET_ADMIN (the fallback has its own test, test_network_fallback.py)."""
from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time

import pytest

from harness import OPENMSK, Service, free_port
from kafka_clients import create_topic, tls_config
from verifying_load import VerifyingLoad

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
        out[target] = "denied" if e.errno == 1 else f"error {e.errno}"
    finally:
        s.close()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def vpc_service(tmp_path_factory):
    svc = Service(tmp_path_factory.mktemp("vpc") / "data", free_port()).start(env={"OPENMSK_NETWORK": "namespaces"})
    yield svc
    svc.stop_everything()
    assert not [ns for ns in netns.namespaces() if ns.startswith(netns.Names.for_data_dir(str(svc.data_dir)).prefix)]


@pytest.fixture(scope="module")
def net(vpc_service):
    """A cluster whose security group admits the default group (the host) on the Kafka and ZooKeeper ports."""
    ec2, kafka = vpc_service.client("ec2"), vpc_service.client("kafka")
    subnets = vpc_service.default_subnets(3)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    default = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]},
                                                    {"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["SecurityGroups"][0]
    brokers = ec2.create_security_group(GroupName="brokers", Description="msk", VpcId=vpc["VpcId"])["GroupId"]
    apps = ec2.create_security_group(GroupName="apps", Description="clients", VpcId=vpc["VpcId"])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=brokers, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 9092, "ToPort": 9098, "UserIdGroupPairs": [{"GroupId": default["GroupId"]}]},
        {"IpProtocol": "tcp", "FromPort": 2181, "ToPort": 2182, "UserIdGroupPairs": [{"GroupId": default["GroupId"]}]}])
    arn = kafka.create_cluster(ClusterName="wired", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
                               BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large", "ClientSubnets": subnets,
                                                    "SecurityGroups": [brokers]})["ClusterArn"]
    vpc_service.wait_state(arn, timeout=420)
    info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
    nodes = kafka.list_nodes(ClusterArn=arn)["NodeInfoList"]
    return {"arn": arn, "vpc": vpc, "brokers": brokers, "apps": apps, "default": default["GroupId"],
            "subnets": subnets, "info": info,
            "broker": nodes[0]["BrokerNodeInfo"]["ClientVpcIpAddress"],
            "zk": info["ZookeeperConnectStringTls"].split(",")[0],
            "bootstrap": kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"]}


def probe(service, subnet: str, groups: list[str], *targets: str) -> dict:
    cmd = [OPENMSK, "exec", "--data-dir", str(service.data_dir), "--subnet", subnet]
    for g in groups:
        cmd += ["--security-group", g]
    proc = subprocess.run([*cmd, "--", sys.executable, "-c", PROBE, *targets], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def until(service, subnet, groups, target, wanted, timeout=15.0) -> float:
    """Seconds until `target` probes as `wanted` from a fresh instance (bounded)."""
    start = time.monotonic()
    while True:
        if probe(service, subnet, groups, target)[target] == wanted:
            return time.monotonic() - start
        assert time.monotonic() - start < timeout, f"{target} never became {wanted}"


def test_host_is_a_client_in_the_default_group(vpc_service, net):
    block = ipaddress.ip_network(net["vpc"]["CidrBlock"])
    hosts = [h.rsplit(":", 1)[0] for h in net["bootstrap"].split(",")]
    assert all(ipaddress.ip_address(h) in block for h in hosts)
    config = tls_config(net["bootstrap"], vpc_service.ca_path)
    create_topic(config, "from-host", replication=3)


def test_group_reference_allows_and_revoking_cuts_new_connections(vpc_service, net):
    ec2 = vpc_service.client("ec2")
    broker, zk, subnet = f"{net['broker']}:9094", net["zk"], net["subnets"][0]
    assert probe(vpc_service, subnet, [net["apps"]], broker, zk) == {broker: "timeout", zk: "timeout"}
    rule = ec2.authorize_security_group_ingress(GroupId=net["brokers"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 9094, "ToPort": 9094, "UserIdGroupPairs": [{"GroupId": net["apps"]}]}]
    )["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    # The rule is in force by the time the next instance exists; ZooKeeper's port is not in it.
    assert probe(vpc_service, subnet, [net["apps"]], broker, zk) == {broker: "connected", zk: "timeout"}
    ec2.revoke_security_group_ingress(GroupId=net["brokers"], SecurityGroupRuleIds=[rule])
    assert probe(vpc_service, subnet, [net["apps"]], broker)[broker] == "timeout"


def test_cidr_rule_dropped_versus_refused(vpc_service, net):
    ec2 = vpc_service.client("ec2")
    third = ec2.describe_subnets(SubnetIds=[net["subnets"][2]])["Subnets"][0]["CidrBlock"]
    ec2.authorize_security_group_ingress(GroupId=net["brokers"], IpProtocol="tcp", FromPort=9990, ToPort=9999,
                                         CidrIp=third)
    try:
        unused = f"{net['broker']}:9999"          # allowed, nobody listens: refused (a reset)
        assert probe(vpc_service, net["subnets"][2], [net["apps"]], unused)[unused] == "refused"
        assert probe(vpc_service, net["subnets"][0], [net["apps"]], unused)[unused] == "timeout"
    finally:
        ec2.revoke_security_group_ingress(GroupId=net["brokers"], IpProtocol="tcp", FromPort=9990, ToPort=9999,
                                          CidrIp=third)


def test_egress_rules_restrict_an_instance(vpc_service, net):
    ec2 = vpc_service.client("ec2")
    broker, subnet = f"{net['broker']}:9094", net["subnets"][1]
    ec2.authorize_security_group_ingress(GroupId=net["brokers"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 9094, "ToPort": 9094, "UserIdGroupPairs": [{"GroupId": net["apps"]}]}])
    everywhere = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    ec2.revoke_security_group_egress(GroupId=net["apps"], IpPermissions=everywhere)
    try:
        assert probe(vpc_service, subnet, [net["apps"]], broker)[broker] == "timeout"    # dropped on the way out
        ec2.authorize_security_group_egress(GroupId=net["apps"], IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 9094, "ToPort": 9094, "UserIdGroupPairs": [{"GroupId": net["brokers"]}]}])
        assert probe(vpc_service, subnet, [net["apps"]], broker)[broker] == "connected"
    finally:
        ec2.authorize_security_group_egress(GroupId=net["apps"], IpPermissions=everywhere)


def test_groups_and_subnets_in_use_cannot_be_deleted(vpc_service, net):
    ec2 = vpc_service.client("ec2")
    for call, kw in ((ec2.delete_security_group, {"GroupId": net["brokers"]}),
                     (ec2.delete_subnet, {"SubnetId": net["subnets"][0]})):
        with pytest.raises(ec2.exceptions.ClientError) as err:
            call(**kw)
        assert err.value.response["Error"]["Code"] == "DependencyViolation"
        assert "wired" in err.value.response["Error"]["Message"]


def _full_isr(config: dict, topic: str) -> bool:
    from confluent_kafka.admin import AdminClient
    meta = AdminClient(config).list_topics(topic, timeout=10).topics[topic]
    return all(len(p.isrs) == 3 for p in meta.partitions.values())


def test_zone_outage_cuts_links_and_loses_nothing(vpc_service, net):
    """RF 3, min ISR 2, acks=all: the third zone is cut off (links down, processes untouched); producing
    goes on, every acknowledged message is read back, and the cluster returns to full ISR."""
    config = tls_config(net["bootstrap"], vpc_service.ca_path)
    create_topic(config, "outage", partitions=6, replication=3, topic_config={"min.insync.replicas": "2"})
    cmd = [OPENMSK, "zone", "--data-dir", str(vpc_service.data_dir)]
    with VerifyingLoad(config, "outage") as load:
        time.sleep(5)
        down = subprocess.run([*cmd[:2], "down", "wired", "use1-az3", *cmd[2:]], capture_output=True, text=True,
                              timeout=120)
        assert down.returncode == 0, down.stderr
        assert "cut off" in down.stdout and "b-3" in down.stdout
        status = subprocess.run([OPENMSK, "status", "--data-dir", str(vpc_service.data_dir), "--json"],
                                capture_output=True, text=True, timeout=120)
        assert json.loads(status.stdout)["Network"]["mode"] == "namespaces"
        before = len(load.acked)
        time.sleep(40)                      # ZooKeeper sessions of the cut nodes expire; leaders move
        assert len(load.acked) > before + 100, "producing stalled during the outage"
        up = subprocess.run([*cmd[:2], "up", "wired", "use1-az3", *cmd[2:]], capture_output=True, text=True,
                            timeout=120)
        assert up.returncode == 0, up.stderr
        started = time.monotonic()
        while not _full_isr(config, "outage"):
            assert time.monotonic() - started < 300, "no full ISR 300 s after the zone came back"
            time.sleep(2)
        print(f"time to full ISR after zone up: {time.monotonic() - started:.1f} s")
    assert not load.errors
    assert load.lost() == set()
