"""Property-based fuzzing of every operation openmsk serves, over the wire, against a real `openmsk serve`.

Requests come from botocore's models (tests/fuzz/requests_from_models.py): valid ones built by
botocore's own serializers and signer from generated parameters, invalid ones by mutating them
(wrong types, NaN, truncated or 100k-deep JSON, invalid UTF-8, duplicate parameters, wrong content
types, unknown targets, methods and paths) and re-signing, refused ones by breaking the signature.
Properties, for every request:
  * no response >= 500 (the service runs with OPENMSK_STRICT_OUTPUT=1, so a result that does not fit
    its output shape is a 500 too);
  * unsigned, wrongly signed and tampered requests are refused with a 403;
  * a refused request changes nothing: the SQLite stores' content hash is the same after it.
The service runs with OPENMSK_PLACEMENT=none: a CreateCluster the fuzzer gets accepted starts no JVM.
Budget: FUZZ_EXAMPLES (default 1000) examples of three requests each (as generated, mutated, wrongly
signed); the count is printed.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from pathlib import Path

import pytest
import urllib3
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from harness import Service, free_port

from .requests_from_models import (MUTATIONS, REFUSALS, Pool, WireRequest, is_mutating, mutate, served_operations,
                                   serialize_request, sign, strategy, wire_protocols)
from openmsk.api import specs

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000"))
QUIET_TIMEOUT = 15.0


class Stats:
    sent = 0
    by_status: dict[int, int] = {}
    accepted_mutations = 0
    operations: set = set()
    http_seconds = 0.0
    quiet_seconds = 0.0
    authenticated: dict[str, int] = {}


@pytest.fixture(scope="module")
def fuzz_service(tmp_path_factory):
    svc = Service(tmp_path_factory.mktemp("fuzz") / "data", free_port()).start(env={"OPENMSK_PLACEMENT": "none"})
    yield svc
    svc.stop_everything()


class StoreWatch:
    """Content hash of every SQLite database of the service, recomputed only when one of them changed
    (`PRAGMA data_version` on a long-lived read-only connection moves on every commit by another one)."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self._dbs: dict[Path, sqlite3.Connection] = {}
        self._versions: tuple | None = None
        self._hash = ""
        self.recomputed, self.seconds = 0, 0.0

    def _connections(self) -> list[tuple[Path, sqlite3.Connection]]:
        for path in sorted(self.data_dir.glob("*.db")):
            if path not in self._dbs:
                self._dbs[path] = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10,
                                                  isolation_level=None)
        return sorted(self._dbs.items())

    def hash(self) -> str:
        conns = self._connections()
        versions = tuple((p.name, db.execute("PRAGMA data_version").fetchone()[0]) for p, db in conns)
        if versions != self._versions:
            started = time.monotonic()
            self.recomputed += 1
            digest = hashlib.sha256()
            for path, db in conns:
                tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
                for table in tables:
                    digest.update(table.encode())
                    for row in db.execute(f'SELECT * FROM "{table}" ORDER BY 1, 2'):
                        digest.update(repr(row).encode())
            self._versions, self._hash = versions, digest.hexdigest()
            self.seconds += time.monotonic() - started
        return self._hash

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()


def wait_quiet(watch: StoreWatch) -> str:
    """After an accepted change, let reconciles settle (a new cluster goes FAILED with no placement)."""
    deadline = time.monotonic() + QUIET_TIMEOUT
    last = watch.hash()
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = watch.hash()
        if now == last:
            return now
        last = now
    return last


def seed_pool(svc: Service) -> Pool:
    """Real resource identifiers for the generators to pick from."""
    pool = Pool()
    ec2 = svc.client("ec2")
    for subnet in ec2.describe_subnets()["Subnets"]:
        pool.add(subnet["SubnetId"], subnet["VpcId"], subnet["AvailabilityZone"])
    pool.add(*(g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]))
    kafka = svc.client("kafka")
    pool.add(kafka.create_configuration(Name="fuzz-config", ServerProperties=b"log.retention.hours=1\n")["Arn"])
    subnets = svc.default_subnets(3)
    created = kafka.create_cluster(ClusterName="fuzz-cluster", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
                                   BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large", "ClientSubnets": subnets})
    pool.add(created["ClusterArn"], "fuzz-cluster", "3.9.x", "kafka.m5.large")
    kms = svc.client("kms")
    key = kms.create_key()["KeyMetadata"]
    pool.add(key["KeyId"], key["Arn"])
    secret = svc.client("secretsmanager").create_secret(Name="AmazonMSK_fuzz", KmsKeyId=key["KeyId"],
                                                        SecretString='{"username":"u","password":"p"}')
    pool.add(secret["ARN"], "AmazonMSK_fuzz", "AWS/Kafka", "CpuUser", "Average", "us-east-1")
    return pool


def send(http: urllib3.PoolManager, req: WireRequest) -> tuple[int, bytes]:
    started = time.monotonic()
    resp = http.request(req.method, req.url, body=req.body or None, headers=req.headers, redirect=False,
                        retries=False, timeout=urllib3.Timeout(connect=5, read=30))
    Stats.sent += 1
    Stats.http_seconds += time.monotonic() - started
    Stats.by_status[resp.status] = Stats.by_status.get(resp.status, 0) + 1
    return resp.status, resp.data


def test_fuzz_every_served_operation(fuzz_service, pytestconfig):
    svc = fuzz_service
    creds = svc.credentials
    akid, secret = creds["access_key_id"], creds["secret_access_key"]
    pool = seed_pool(svc)
    watch = StoreWatch(svc.data_dir)
    wait_quiet(watch)
    targets = [(service, protocol, op) for service, ops in served_operations().items()
               for protocol in wire_protocols(service) for op in ops]
    assert len({t[0] for t in targets}) >= 6, targets          # kafka, ec2, monitoring, kms, secretsmanager, acm-pca
    http = urllib3.PoolManager(maxsize=2)

    strategies: dict[tuple[str, str], st.SearchStrategy] = {}

    def input_strategy(service: str, op_name: str) -> st.SearchStrategy:
        if (service, op_name) not in strategies:           # built once: deep shapes are slow to build
            op = specs.load_service_model(service).operation_model(op_name)
            strategies[service, op_name] = strategy(op.input_shape, pool) if op.input_shape is not None \
                else st.just({})
        return strategies[service, op_name]

    @st.composite
    def cases(draw):
        service, protocol, op_name = draw(st.sampled_from(targets))
        params = draw(input_strategy(service, op_name))
        return service, protocol, op_name, params, draw(st.sampled_from(MUTATIONS)), draw(st.sampled_from(REFUSALS))

    def check(service, protocol, op_name, what, wire):
        """Send a correctly signed request: never >= 500; refused -> nothing changed."""
        before = watch.hash()
        status, body = send(http, sign(wire, service, akid, secret))
        if status != 403:
            Stats.authenticated[service] = Stats.authenticated.get(service, 0) + 1
        assert status < 500, f"{service}.{op_name} ({protocol}, {what}) -> {status}: {body[:400]!r}"
        if status >= 400:
            assert watch.hash() == before, f"refused {service}.{op_name} ({protocol}, {what}) changed the store: " \
                                           f"{status} {body[:300]!r}"
        elif is_mutating(op_name):
            Stats.accepted_mutations += 1
            t0 = time.monotonic()
            wait_quiet(watch)
            Stats.quiet_seconds += time.monotonic() - t0

    # No shrinking: a failure is reported as generated (shrinking over a live service can take minutes).
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(cases(), st.data())
    def run(case, data):
        service, protocol, op_name, params, mutation, refusal = case
        try:
            base = serialize_request(svc.endpoint, service, protocol, op_name, params)
        except Exception:          # botocore itself cannot encode these params (e.g. a label it rejects)
            return
        Stats.operations.add((service, op_name))
        check(service, protocol, op_name, "as generated", base)
        check(service, protocol, op_name, f"mutated: {mutation}", mutate(base, mutation, data.draw))

        # The same request, unsigned or wrongly signed: always a 403, never a change.
        bad = sign(base, service, akid, secret)
        if refusal == "unsigned":
            bad = WireRequest(bad.method, bad.url, {k: v for k, v in bad.headers.items()
                                                    if k.lower() not in ("authorization", "x-amz-date")}, bad.body)
        elif refusal == "wrong-secret":
            bad = sign(base, service, akid, secret + "x")
        elif refusal == "unknown-key":
            bad = sign(base, service, "AKIAFUZZUNKNOWNKEY00", secret)
        elif refusal == "tampered-body":
            bad = WireRequest(bad.method, bad.url, bad.headers, bad.body + b" ")
        elif refusal == "tampered-path":
            sep = "&" if "?" in bad.url else "?"
            bad = WireRequest(bad.method, bad.url + sep + "extra=1", bad.headers, bad.body)
        before = watch.hash()
        status, body = send(http, bad)
        # 403, or S3's 400 for a body that does not match its signed x-amz-content-sha256.
        # (A HEAD answer has no body to say which: S3 errors on HEAD are the status alone.)
        assert status == 403 or (service == "s3" and status == 400 and
                                 (b"XAmzContentSHA256Mismatch" in body or bad.method == "HEAD")), \
            f"{refusal} {service}.{op_name} ({protocol}) -> {status}: {body[:300]!r}"
        assert watch.hash() == before, f"{refusal} {service}.{op_name} changed the store"

    started = time.monotonic()
    run()
    elapsed = time.monotonic() - started
    print(f"store hashes recomputed {watch.recomputed} times, {watch.seconds:.1f} s; quiet waits {Stats.quiet_seconds:.1f} s")
    report = (f"API fuzz: {Stats.sent} requests in {elapsed:.0f} s (waiting for responses {Stats.http_seconds:.0f} s) over {len(Stats.operations)} operations "
              f"({len(targets)} operation/protocol pairs); statuses {dict(sorted(Stats.by_status.items()))}; "
              f"accepted mutating requests {Stats.accepted_mutations}; correctly signed requests past authentication "
              f"per service {dict(sorted(Stats.authenticated.items()))}")
    print(report)
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(report)
    assert Stats.sent >= EXAMPLES, report
    # Every service's correctly signed requests got past authentication (else the fuzzer signs wrongly).
    assert {t[0] for t in targets} <= set(Stats.authenticated), report
