"""Certificate renewal: with short-lived node certificates (OPENMSK_CERT_VALIDITY_SECONDS) the
reconciler renews them before they expire and rolls the nodes onto them, while an acks=all producer
and a verifying consumer over TLS keep working (0 acknowledged messages lost). Keys and keystores are
0600 files written atomically: a reader never sees a partial one."""
from __future__ import annotations

import os
import socket
import ssl
import stat
import threading
import time
import uuid

from cryptography import x509

from harness import Service, free_port
from kafka_clients import create_topic, tls_config
from verifying_load import VerifyingLoad

VALIDITY = 600          # renewal is due once a third of it has passed


def served_certificate(ip: str, port: int, ca: str) -> x509.Certificate | None:
    context = ssl.create_default_context(cafile=ca)
    try:
        with socket.create_connection((ip, port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=ip) as tls:
                return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    except (OSError, ssl.SSLError):
        return None


def test_certificates_renew_under_a_running_client(tmp_path):
    os.environ["OPENMSK_CERT_VALIDITY_SECONDS"] = str(VALIDITY)
    try:
        svc = Service(tmp_path / "data", free_port()).start()
    finally:
        os.environ.pop("OPENMSK_CERT_VALIDITY_SECONDS", None)
    try:
        kafka = svc.client("kafka")
        arn = kafka.create_cluster(ClusterName="renewal", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
                                   BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                        "ClientSubnets": svc.default_subnets(3)})["ClusterArn"]
        svc.wait_state(arn, timeout=300)
        ips = [n["BrokerNodeInfo"]["ClientVpcIpAddress"] for n in kafka.list_nodes(ClusterArn=arn)["NodeInfoList"]]
        first = {ip: served_certificate(ip, 9094, svc.ca_path) for ip in ips}
        assert all(first.values())
        for cert in first.values():        # short-lived as asked
            lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
            assert lifetime.total_seconds() <= VALIDITY + 600

        # Keys on disk: 0600, and no temporary file left next to them.
        keystores = list(svc.data_dir.glob("clusters/*/*/tls/keystore.pem")) + [svc.data_dir / "pki" / "ca.key"]
        assert len(keystores) == 7
        for path in keystores:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert list(svc.data_dir.glob("clusters/*/*/tls/*.tmp")) == []

        config = tls_config(kafka.get_bootstrap_brokers(ClusterArn=arn)["BootstrapBrokerStringTls"], svc.ca_path)
        topic = f"renewal-{uuid.uuid4().hex[:6]}"
        create_topic(config, topic, partitions=3, replication=3)
        with VerifyingLoad(config, topic) as load:
            deadline = time.monotonic() + VALIDITY + 600
            renewed = {}
            while time.monotonic() < deadline and len(renewed) < len(ips):
                for ip in ips:
                    cert = served_certificate(ip, 9094, svc.ca_path)
                    if cert is not None and cert.serial_number != first[ip].serial_number:
                        renewed[ip] = cert
                time.sleep(2)
            assert len(renewed) == len(ips), f"renewed only on {sorted(renewed)}"
            svc.wait_state(arn, timeout=300)
        for ip, cert in renewed.items():
            assert cert.not_valid_after_utc > first[ip].not_valid_after_utc
        assert load.errors == [] and len(load.acked) > 100
        assert load.lost() == set()
        log = svc.log_path.read_text()
        assert "renewing the certificate of b-1" in log and "renewing the certificate of z-1" in log
        for path in keystores:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        svc.stop_everything()


def test_secrets_are_written_atomically_with_mode_0600(tmp_path):
    from openmsk.runtime.pki import write_secret
    path = tmp_path / "tls" / "keystore.pem"
    versions = [bytes([65 + i]) * (1 << 20) for i in range(4)]          # 1 MiB each: a torn write would show
    write_secret(path, versions[0])
    stop, seen, bad = threading.Event(), set(), []

    def read():
        while not stop.is_set():
            data = path.read_bytes()
            if data not in versions:
                bad.append(len(data))
            seen.add(data[:1])
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode != 0o600:
                bad.append(oct(mode))
    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(200):
            write_secret(path, versions[i % 4])
    finally:
        stop.set()
        reader.join()
    assert bad == []
    assert len(seen) > 1                       # the reader did see the file change
    assert sorted(p.name for p in path.parent.iterdir()) == ["keystore.pem"]        # no temp files left
