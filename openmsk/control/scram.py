"""SCRAM-SHA-512 users of a cluster, from its associated Secrets Manager secrets to the brokers.

Kafka (ZooKeeper mode) keeps SCRAM credentials salted in ZooKeeper; they are written through the
brokers' admin API (AlterUserScramCredentials, KIP-554) by the control plane, which connects to the
replication listener with its own installation-CA certificate (a Kafka super user). What was applied
is remembered as a fingerprint per user, so a secret's new value (PutSecretValue) changes exactly
that user's password and nothing is rewritten otherwise.

The admin call runs in a short-lived child process (`python -m openmsk.control.scram`, passwords on
its stdin, never on a command line): librdkafka can abort() its host process when brokers restart
under it, and the control plane must not be that process.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sys
from pathlib import Path

from ..runtime.pki import write_secret
from .layout import broker_listeners

log = logging.getLogger(__name__)
ITERATIONS = 4096
ALTERATIONS_PER_REQUEST = 100


#: PBKDF2 rounds of a fingerprint (~10-50 ms each on a loaded 2-core host: 1,000 users would hold the
#: event loop for seconds, so fingerprints are computed in a worker thread; hashlib drops the GIL).
FINGERPRINT_ROUNDS = 20000
#: Fingerprints already computed by this process, keyed by a fast hash of their inputs, so a reconcile
#: pass re-hashes only new or changed passwords. Memory only: never written anywhere.
_fingerprints: dict[bytes, str] = {}
_FINGERPRINT_CACHE_MAX = 20000


def reserved_scram_username(username: str) -> bool:
    """A Kafka principal is `User:<name>` whether it logged in with SCRAM or IAM, and a request a broker
    forwards to the KRaft controllers reaches their authorizer without its listener: there a name of
    IAM's form (`User:arn:aws:iam::…`) is judged an IAM principal. A SCRAM user of that name would be
    given an IAM identity's permissions, so such names are refused at association (services/kafka/
    security.py) and dropped here if a secret's value changes to one later."""
    return username.startswith("arn:")


def _fingerprint(arn: str, username: str, password: str) -> str:
    # A slow salted hash: the store must not become a password oracle.
    key = hashlib.sha256(f"{arn}\0{username}\0{password}".encode()).digest()
    cached = _fingerprints.get(key)
    if cached is None:
        cached = hashlib.pbkdf2_hmac("sha256", password.encode(), f"{arn}\0{username}".encode(),
                                     FINGERPRINT_ROUNDS).hex()
        if len(_fingerprints) >= _FINGERPRINT_CACHE_MAX:
            _fingerprints.clear()
        _fingerprints[key] = cached
    return cached


def _read_and_fingerprint(plane, cluster: dict, arns: list[str]) -> dict[str, tuple[str, str]]:
    users = {}
    for arn in arns:
        try:
            doc = json.loads(plane.scram_secrets.value(cluster["Region"], arn))
            username, password = doc["username"], doc["password"]
            if reserved_scram_username(username):
                raise ValueError("reserved username")
        except Exception as exc:
            # Deleted, scheduled for deletion, undecryptable or malformed: that user loses access, and
            # the other users' credentials still get applied.
            log.warning("cluster %s: SCRAM secret %s is unusable (%s); its user is removed",
                        cluster["ClusterName"], arn, getattr(exc, "code", type(exc).__name__))
            continue
        users[username] = (password, _fingerprint(arn, username, password))
    return users


async def desired_users(plane, cluster: dict) -> dict[str, tuple[str, str]]:
    """username -> (password, fingerprint) from the cluster's associated secrets.

    In a worker thread: each secret is a store read plus a decryption, each new password a PBKDF2
    (the store's connection is shared with the loop; SQLite serialises the two, reads only here)."""
    arns = list(cluster.get("ScramSecrets") or [])
    return await asyncio.to_thread(_read_and_fingerprint, plane, cluster, arns)


def admin_config(plane, cluster: dict) -> dict:
    """librdkafka settings for the control plane's own admin connections: the replication listener (9093),
    with the control plane's installation-CA certificate (a super user) when it is TLS. Independent of
    how clients authenticate."""
    _, inter = broker_listeners(cluster)
    servers = ",".join(f"{b['Address']}:9093" for b in cluster["Brokers"])
    config = {"bootstrap.servers": servers, "socket.timeout.ms": 20000}
    if inter == "REPLICATION_SECURE":
        pki = Path(plane.data_dir) / "pki"
        key, cert = pki / "control-plane-admin.key", pki / "control-plane-admin.crt"
        if not key.exists():
            issued = plane.ca.issue("openmsk-control-plane", server=False, client=True)
            write_secret(key, issued.key_pem)
            write_secret(cert, issued.cert_pem)
        config.update({"security.protocol": "SSL", "ssl.ca.location": str(plane.ca.cert_path),
                       "ssl.key.location": str(key), "ssl.certificate.location": str(cert)})
    return config


def _apply(config: dict, upserts: dict[str, str], deletions: list[str]) -> None:
    from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                       UserScramCredentialDeletion, UserScramCredentialUpsertion)
    alterations = [UserScramCredentialUpsertion(user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, ITERATIONS),
                                                password.encode())
                   for user, password in upserts.items()]
    alterations += [UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512) for user in deletions]
    if not alterations:
        return
    admin = AdminClient(config)
    # In requests of ALTERATIONS_PER_REQUEST: the broker salts every password (4096 x SHA-512) before it
    # answers, and 1,000 users in one request timed out on a loaded 2-core host.
    for i in range(0, len(alterations), ALTERATIONS_PER_REQUEST):
        batch = alterations[i:i + ALTERATIONS_PER_REQUEST]
        for user, future in admin.alter_user_scram_credentials(batch, request_timeout=60).items():
            future.result(90)


async def _apply_in_child(config: dict, upserts: dict[str, str], deletions: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "openmsk.control.scram",
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    payload = json.dumps({"config": config, "upserts": upserts, "deletions": deletions}).encode()
    requests = -(-(len(upserts) + len(deletions)) // ALTERATIONS_PER_REQUEST)
    _, err = await asyncio.wait_for(proc.communicate(payload), timeout=60 + 90 * requests)
    if proc.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"exit code {proc.returncode}")


async def sync_scram_users(plane, cluster: dict) -> None:
    fresh = plane.load_cluster(cluster["ClusterArn"]) or cluster
    desired = await desired_users(plane, fresh)
    applied: dict[str, str] = dict(fresh.get("ScramApplied") or {})
    upserts = {u: pw for u, (pw, fp) in desired.items() if applied.get(u) != fp}
    deletions = [u for u in applied if u not in desired]
    if not upserts and not deletions:
        return
    await _apply_in_child(admin_config(plane, fresh), upserts, deletions)
    latest = plane.load_cluster(cluster["ClusterArn"])
    if latest is None:
        return
    latest["ScramApplied"] = {u: fp for u, (pw, fp) in desired.items()}
    plane.save_cluster(latest)
    log.info("cluster %s: SCRAM users set: %s; removed: %s", fresh["ClusterName"], sorted(upserts) or "-",
             sorted(deletions) or "-")


if __name__ == "__main__":
    request = json.loads(sys.stdin.read())
    _apply(request["config"], request["upserts"], request["deletions"])
