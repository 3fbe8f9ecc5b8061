"""The openmsk operator commands against the shared cluster (read-only use of it): status, describe-cluster,
wait, client-config, zk, logs, zone (errors only), `aws msk describe-cluster`; exit codes scripts rely on."""
from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

from harness import OPENMSK, free_port


def openmsk(service, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([OPENMSK, *args, "--data-dir", str(service.data_dir)], capture_output=True, text=True,
                          timeout=timeout)


def test_status_shows_every_node_by_zone(service, shared_cluster):
    out = openmsk(service, "status", "shared")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "shared  ACTIVE  Kafka 3.9.x  3 brokers in 3 zones  client-broker TLS  healthy" in out.stdout
    for zone, broker in (("use1-az1", "b-1"), ("use1-az2", "b-2"), ("use1-az3", "b-3")):
        assert any(line.split()[:2] == [zone, broker] and "running" in line and " ok" in line
                   for line in out.stdout.splitlines()), out.stdout
    assert "(controller)" in out.stdout
    doc = json.loads(openmsk(service, "status", "shared", "--json").stdout)
    nodes = doc["Clusters"][0]["Nodes"]
    assert sorted(n["Node"] for n in nodes) == ["b-1", "b-2", "b-3", "z-1", "z-2", "z-3"]
    assert {n["Answer"] for n in nodes if n["Kind"] == "zookeeper"} <= {"leader", "follower"}


def test_describe_cluster_combined_view(service, shared_cluster):
    out = openmsk(service, "describe-cluster", shared_cluster["ClusterArn"], "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["ClusterInfo"]["ClusterArn"] == shared_cluster["ClusterArn"]
    assert doc["BootstrapBrokerStringTls"].count(":9094") == 3 and "BootstrapBrokerString" not in doc
    assert [(b["BrokerId"], b["ZoneId"]) for b in doc["BrokerNodes"]] == [(1, "use1-az1"), (2, "use1-az2"),
                                                                         (3, "use1-az3")]
    assert [(z["ZookeeperId"], z["TlsPort"], z["ZoneId"]) for z in doc["ZookeeperNodes"]] == [
        (1, 2182, "use1-az1"), (2, 2182, "use1-az2"), (3, 2182, "use1-az3")]
    human = openmsk(service, "describe-cluster", "shared").stdout
    assert "BootstrapBrokerStringTls:" in human and "client-broker TLS, in-cluster True" in human


def test_aws_msk_describe_cluster_and_aws_kafka_stays_real(service, shared_cluster):
    arn = shared_cluster["ClusterArn"]
    seed = service.aws("msk", "describe-cluster", "--cluster-arn", arn)
    assert seed.returncode == 0, seed.stderr
    assert seed.json["BootstrapBrokerStringTls"].count(":9094") == 3
    assert len(seed.json["BrokerNodes"]) == 3 and len(seed.json["ZookeeperNodes"]) == 3
    real = service.aws("kafka", "describe-cluster", "--cluster-arn", arn)
    assert set(real.json) == {"ClusterInfo"} and real.json["ClusterInfo"] == seed.json["ClusterInfo"]
    assert "BootstrapBrokerStringTls" not in real.stdout
    query = service.aws("msk", "describe-cluster", "--cluster-arn", arn, "--query", "BrokerNodes[].BrokerId",
                        "--output", "text")
    assert query.stdout.split() == ["1", "2", "3"]


def test_aws_msk_unknown_arn_is_the_apis_error(service):
    arn = "arn:aws:kafka:us-east-1:123456789012:cluster/nope/00000000-0000-0000-0000-000000000000-1"
    out = service.aws("msk", "describe-cluster", "--cluster-arn", arn)
    assert out.returncode == 255
    assert "An error occurred (NotFoundException) when calling the DescribeCluster operation" in out.stderr
    out = openmsk(service, "describe-cluster", arn)
    assert out.returncode == 1 and "NotFoundException" in out.stderr


def test_wait_exit_codes(service, shared_cluster):
    out = openmsk(service, "wait", "shared")
    assert out.returncode == 0 and "ACTIVE" in out.stdout
    out = openmsk(service, "wait", "shared", "--state", "UPDATING", "--timeout", "2", "--interval", "0.5")
    assert out.returncode == 1 and "still ACTIVE after 2s" in out.stderr
    out = openmsk(service, "wait", "no-such-cluster")
    assert out.returncode == 1 and "no cluster named 'no-such-cluster'" in out.stderr


def test_client_config_tls_default_and_refusals(service, shared_cluster, tmp_path):
    target = tmp_path / "client.properties"
    out = openmsk(service, "client-config", "shared", "--output", str(target))
    assert out.returncode == 0 and out.stdout.strip() == str(target)
    props = dict(l.split("=", 1) for l in target.read_text().splitlines() if l and not l.startswith("#"))
    assert props == {"security.protocol": "SSL", "ssl.truststore.type": "PEM",
                     "ssl.truststore.location": service.ca_path}
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    out = openmsk(service, "client-config", "shared", "--auth", "none")
    assert out.returncode == 1 and "no BootstrapBrokerString " in out.stderr and "supports: tls" in out.stderr
    out = openmsk(service, "client-config", "shared", "--auth", "scram", "--username", "u", "--password", "p")
    assert out.returncode == 1 and "ClientAuthentication.Sasl.Scram is not enabled" in out.stderr


def test_client_config_secrets_are_0600(tmp_path):
    from openmsk.cli.client_config import properties, render, write
    props = properties("scram", Path("/ca.pem"), username="alice", password='p"w\\d')
    assert props["security.protocol"] == "SASL_SSL" and props["sasl.mechanism"] == "SCRAM-SHA-512"
    assert props["sasl.jaas.config"].endswith('username="alice" password="p\\"w\\\\d";')
    path = tmp_path / "scram.properties"
    write(path, render(props, ["x"]), secret=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_zk_ruok_srvr(service, shared_cluster):
    out = openmsk(service, "zk", "ruok", "shared")
    assert out.returncode == 0, out.stdout + out.stderr
    assert [line.split(": ")[-1] for line in out.stdout.splitlines()] == ["imok"] * 3
    assert ":2182 (use1-az1)" in out.stdout
    out = openmsk(service, "zk", "srvr", "shared", "--node", "2")
    assert out.returncode == 0 and "Mode: " in out.stdout and "Zookeeper version: 3.8.4" in out.stdout
    out = openmsk(service, "zk", "ruok", "shared", "--node", "9")
    assert out.returncode == 1 and "no ZooKeeper node 9" in out.stderr


def test_logs(service, shared_cluster):
    out = openmsk(service, "logs", "shared", "--broker", "1", "-n", "1000000")
    assert out.returncode == 0 and "[KafkaServer id=1] started" in out.stdout
    out = openmsk(service, "logs", "shared", "--zookeeper", "1", "-n", "5")
    assert out.returncode == 0 and out.stdout.strip()
    out = openmsk(service, "logs", "shared", "--broker", "7")
    assert out.returncode == 1 and "has no broker 7" in out.stderr and "broker-1" in out.stderr
    out = openmsk(service, "logs", "shared")
    assert out.returncode == 2 and "--broker ID or --zookeeper ID" in out.stderr


def test_zone_errors_do_not_touch_the_cluster(service, shared_cluster):
    out = openmsk(service, "zone", "down", "shared", "use1-az9")
    assert out.returncode == 1 and "its zones: use1-az1, use1-az2, use1-az3" in out.stderr


def test_unreachable_service_and_usage(tmp_path, service):
    data = tmp_path / "data"
    data.mkdir()
    (data / "credentials.json").write_text(json.dumps({"access_key_id": "AKIAX", "secret_access_key": "x"}))
    (data / "endpoint.json").write_text(json.dumps({"host": "127.0.0.1", "port": free_port()}))
    out = subprocess.run([OPENMSK, "status", "--data-dir", str(data)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 3 and "not reachable" in out.stderr and "openmsk serve" in out.stderr
    out = subprocess.run([OPENMSK, "wait"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    out = subprocess.run([OPENMSK], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "client-config" in out.stdout


def _cluster_dir(service, info: dict) -> Path:
    return service.data_dir / "clusters" / info["ClusterArn"].rsplit("/", 1)[-1]


def test_zone_down_and_up_go_through_the_service(service, shared_cluster):
    """The CLI asks the running service (signed POST /_openmsk/v1/zone-outage); the control plane
    cuts the zone's nodes off (namespace layout: their links to the VPC bridge go down) or freezes them
    through the placement driver (loopback layout), and undoes it. Kept well under ZooKeeper's 18 s
    session timeout, so the shared cluster is left as found."""
    from openmsk.control import zones
    cluster_dir = _cluster_dir(service, shared_cluster)
    node_dirs = [cluster_dir / "broker-3", cluster_dir / "zookeeper-3"]
    links = json.loads((service.data_dir / "network.json").read_text())["mode"] == "namespaces"
    down_verb, up_verb, state = ("cut off", "reconnected", "cut off") if links else ("froze", "thawed", "frozen")
    try:
        down = openmsk(service, "zone", "down", "shared", "use1-az3")
        assert down.returncode == 0, down.stderr
        assert f"zone use1-az3 of shared is down: {down_verb}" in down.stdout
        assert "b-3" in down.stdout and "z-3" in down.stdout
        assert [zones.process_state(d) for d in node_dirs] == [state, state]
        assert zones.process_state(cluster_dir / "broker-1") == "running"
        assert set(zones.outages(cluster_dir)) == {"use1-az3"}
    finally:
        up = openmsk(service, "zone", "up", "shared", "use1-az3")
    assert up.returncode == 0, up.stderr
    assert f"zone use1-az3 of shared is up: {up_verb}" in up.stdout and "b-3" in up.stdout and "z-3" in up.stdout
    assert [zones.process_state(d) for d in node_dirs] == ["running", "running"]
    assert zones.outages(cluster_dir) == {}


def test_zone_outage_route_needs_the_installation_key(service, shared_cluster):
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    body = json.dumps({"ClusterArn": shared_cluster["ClusterArn"], "Zone": "use1-az3", "Down": True}).encode()
    url = service.endpoint + "/_openmsk/v1/zone-outage"

    def post(headers: dict) -> tuple[int, dict]:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    status, answer = post({"Content-Type": "application/json"})
    assert (status, answer["Code"]) == (403, "MissingAuthenticationTokenException")
    signed = AWSRequest("POST", url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(service.credentials["access_key_id"], "not-the-secret"), "openmsk", "us-east-1") \
        .add_auth(signed)
    status, answer = post(dict(signed.prepare().headers))
    assert (status, answer["Code"]) == (403, "InvalidSignatureException")
    from openmsk.control import zones
    assert zones.process_state(_cluster_dir(service, shared_cluster) / "broker-3") == "running"


TLS_PROBE = """
import socket, ssl, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    with socket.create_connection((host, port), timeout=10) as raw:
        with ssl.create_default_context().wrap_socket(raw, server_hostname=host) as tls:
            print("verified", tls.version())
except ssl.SSLCertVerificationError as exc:
    print("refused", exc.verify_message)
"""


def test_ca_cert_install_is_trusted_by_default_tls_clients_and_uninstall_undoes_it(service, shared_cluster):
    from openmsk.cli.ca_cert import SYSTEM_CA_DIR, installed_name
    kafka = service.client("kafka")
    host, port = kafka.get_bootstrap_brokers(ClusterArn=shared_cluster["ClusterArn"])[
        "BootstrapBrokerStringTls"].split(",")[0].rsplit(":", 1)
    target = SYSTEM_CA_DIR / installed_name(Path(service.ca_path).read_bytes())

    def probe() -> str:
        python = subprocess.run(["python3", "-c", TLS_PROBE, host, port], capture_output=True, text=True, timeout=60)
        openssl = subprocess.run(["openssl", "s_client", "-connect", f"{host}:{port}", "-verify_ip", host,
                                  "-verify_return_error", "-brief"], input="", capture_output=True, text=True,
                                 timeout=60)
        assert (python.stdout.startswith("verified")) == (openssl.returncode == 0), (python.stdout, openssl.stderr)
        return python.stdout.strip()

    assert probe().startswith("refused") and not target.exists()
    try:
        installed = openmsk(service, "ca-cert", "--install")
        assert installed.returncode == 0, installed.stderr
        assert target.exists() and "REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt" in installed.stdout
        assert probe().startswith("verified TLS")
    finally:
        removed = openmsk(service, "ca-cert", "--uninstall")
    assert removed.returncode == 0, removed.stderr
    assert not target.exists()
    assert [link for link in Path("/etc/ssl/certs").iterdir() if target.stem in str(link.resolve())] == []
    assert probe().startswith("refused")
    assert "not installed" in openmsk(service, "ca-cert", "--uninstall").stdout
