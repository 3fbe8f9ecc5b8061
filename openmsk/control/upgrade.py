"""Kafka versions of running clusters: which jar set each node runs, fetching it on first use, and the
in-place upgrade MSK's UpdateClusterKafkaVersion starts.

An upgrade (Kafka's upgrade notes, "Upgrading to 3.x from any version" / "Upgrading KRaft-based
clusters") is, for openmsk, a change of the cluster's desired version plus a `VersionUpgrade` record:
  1. every node's desired spec now names the target jars, so convergence rolls them one at a time:
     the quorum first (ZooKeeper ensemble or KRaft controllers, leader last), then the brokers
     (roller.py: each only while no partition would fall below min ISR, the active controller last);
     ZooKeeper-mode brokers run with `inter.broker.protocol.version` pinned to the source release
     meanwhile, so old and new brokers keep speaking one protocol;
  2. FINALIZE_KAFKA_VERSION: ZooKeeper mode drops the pin and rolls the brokers once more onto the
     target's protocol; KRaft mode raises the finalized `metadata.version` with Kafka's own
     `kafka-features upgrade --metadata <release>` (no restart).
Both steps are idempotent, so a control plane restarted mid-upgrade continues where it stopped.
"""
from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from pathlib import Path

from ..runtime import versions
from ..runtime.distribution import DistributionMissing, KafkaDistribution
from ..runtime.msk_iam_config import controller_iam_properties
from ..runtime.pki import write_secret
from .layout import KEYSTORE, broker_listeners, broker_security_properties, client_auth, serverless_controller_properties
from .tls import node_certificate

log = logging.getLogger(__name__)

FEATURE_TOOL_TIMEOUT = 180.0
FEATURE_ATTEMPTS = 3
FEATURE_RETRY_DELAY = 20.0
# Test hook (docs/versions.md): OPENMSK_FAULT_INJECTION=finalize-quorum-paused makes the first
# `kafka-features upgrade` of every KRaft finalize run while two of the three controllers are frozen
# (Placement.pause, as a zone outage freezes nodes): the quorum has no majority, the real tool fails, and the
# controllers are thawed before the retry. A real fault at a moment a test cannot otherwise hit.
FAULT_ENV = "OPENMSK_FAULT_INJECTION"
FINALIZE_QUORUM_PAUSED = "finalize-quorum-paused"
_located: dict[str, KafkaDistribution] = {}
_install_locks: dict[str, asyncio.Lock] = {}


def locate(msk_version: str) -> KafkaDistribution:
    found = _located.get(msk_version)
    if found is None:
        found = versions.locate(msk_version)
        _located[msk_version] = found
    return found


def node_distribution(plane, cluster: dict, node=None) -> KafkaDistribution:
    """Every node runs its cluster's desired version (mid-upgrade that is the target: the roll is what
    moves each node onto it)."""
    msk_version = cluster["Spec"]["KafkaVersion"]
    if msk_version == versions.DEFAULT_VERSION and plane._distribution is not None:
        return plane._distribution
    try:
        return locate(msk_version)
    except DistributionMissing as exc:
        from .reconciler import ReconcileFailed
        raise ReconcileFailed("KAFKA_VERSION_UNAVAILABLE", str(exc), retryable=True)


async def ensure_jars(reconciler, cluster: dict) -> None:
    """Completes when the cluster's version's jar set is cached (fetched now, with progress as cluster
    events, if it is not), and, for a cluster with IAM clients, the broker plugin built from this checkout's
    plugins/msk-iam sources (scripts/install builds it; its directory is named by the sources' content hash)."""
    if client_auth(cluster)["iam"]:
        from ..runtime.distribution import install_msk_iam_plugin
        try:
            await asyncio.to_thread(install_msk_iam_plugin)
        except (OSError, subprocess.CalledProcessError) as exc:
            from .reconciler import ReconcileFailed
            raise ReconcileFailed("KAFKA_VERSION_UNAVAILABLE",
                                  f"the MSK IAM broker plugin (plugins/msk-iam) could not be built: {exc}",
                                  retryable=True)
    msk_version = cluster["Spec"]["KafkaVersion"]
    try:
        locate(msk_version)
        return
    except DistributionMissing:
        pass
    lock = _install_locks.setdefault(msk_version, asyncio.Lock())
    async with lock:
        line = versions.line(msk_version)
        reconciler.progress(cluster, f"fetching Apache Kafka {line.kafka} jars for {msk_version} from Maven Central")
        count = [0]

        def progress(_line: str) -> None:
            count[0] += 1

        try:
            await asyncio.to_thread(versions.install_line, msk_version, progress)
        except (DistributionMissing, OSError) as exc:
            from .reconciler import ReconcileFailed
            raise ReconcileFailed("KAFKA_VERSION_UNAVAILABLE",
                                  f"Kafka version {msk_version} is not available on this host: {exc}")
        reconciler.progress(cluster, f"Apache Kafka {line.kafka} jars cached ({count[0]} files fetched)")


def broker_overrides(cluster: dict) -> dict[str, str]:
    """Managed broker settings an upgrade in progress needs (ZooKeeper mode: the protocol pin)."""
    upgrade = cluster.get("VersionUpgrade")
    if not upgrade or versions.is_kraft(cluster["Spec"]["KafkaVersion"]) or upgrade.get("Phase") != "ROLL":
        return {}
    return {"inter.broker.protocol.version": versions.line(upgrade["From"]).release}


def controller_spec_kwargs(reconciler, cluster: dict, node, renew: bool) -> dict:
    """A KRaft controller's certificate (CN c-<id>, its address as SAN) and, when clients have identities,
    the brokers' super users and an authorizer (ACLs and SCRAM credentials live in the metadata log the
    controllers keep). With IAM clients, the IAM authorizer: a controller has no IAM listener (clients never
    reach it), but brokers forward CreateTopics, DeleteTopics, CreatePartitions, AlterConfigs, ... to it with the
    client's principal, and those of IAM principals are IAM decisions as on the brokers' IAM listener (else
    StandardAuthorizer would decide them with allow.everyone.if.no.acl.found=true: allowed for any identity)."""
    plane = reconciler.plane
    pem = node_certificate(plane.ca, node.workdir, f"c-{node.config.node_id}", node.config.host, renew=renew)
    secrets = {KEYSTORE: pem}
    auth = client_auth(cluster)
    if auth["scram"] or auth["tls"] or auth["iam"]:
        principals = [f"CN=b-{b['BrokerId']},O=openmsk" for b in cluster["Brokers"]]
        principals += ["CN=openmsk-control-plane,O=openmsk"]
        principals += [f"CN=c-{c['NodeId']},O=openmsk" for c in cluster.get("Controllers") or []]
        props = broker_security_properties(cluster, node.workdir, principals)
        node.config.extra.update({k: v for k, v in props.items() if k in ("authorizer.class.name", "super.users")})
        if auth["iam"]:
            from .iam_channel import BROKER_TOKEN_FILE, channel_token
            node.config.extra.update(controller_iam_properties(
                str(plane.data_dir / "endpoint.json"), str(node.workdir / BROKER_TOKEN_FILE), cluster["ClusterArn"],
                versions.jar_version(cluster["Spec"]["KafkaVersion"]) or "3.9.1"))
            secrets[BROKER_TOKEN_FILE] = channel_token(plane.data_dir).encode()
    node.config.extra.update(serverless_controller_properties(cluster))
    jvm_opts, files = [], {}
    for extension in plane.broker_extensions:       # telemetry's JMX agent: KRaft controller metrics
        opts, extra = extension(cluster, node)
        jvm_opts += opts
        files.update(extra)
    return {"secret_files": secrets, "extra_jvm_opts": jvm_opts, "extra_files": files}


def start(cluster: dict, target: str) -> None:
    """Record an upgrade on the cluster document (the caller saves it and starts the operation)."""
    cluster["VersionUpgrade"] = {"From": cluster["Spec"]["KafkaVersion"], "To": target, "Phase": "ROLL"}
    cluster["Spec"]["KafkaVersion"] = target


async def finalize(reconciler, cluster: dict) -> None:
    """Completes when the cluster runs the target's protocol / metadata version and the record is gone."""
    plane = reconciler.plane
    upgrade = cluster["VersionUpgrade"]
    target = versions.line(upgrade["To"])
    if target.kraft:
        await raise_metadata_version(plane, cluster, target)
        reconciler.progress(cluster, f"metadata.version finalized at {target.release}")
    elif upgrade.get("Phase") == "ROLL":
        fresh = plane.load_cluster(cluster["ClusterArn"])
        fresh["VersionUpgrade"]["Phase"] = "PROTOCOL"
        plane.save_cluster(fresh)
        cluster["VersionUpgrade"] = fresh["VersionUpgrade"]
        reconciler.progress(cluster, f"inter.broker.protocol.version {target.release}: rolling brokers")
        await reconciler.brokers_rolled(cluster, [])
    fresh = plane.load_cluster(cluster["ClusterArn"])
    fresh.pop("VersionUpgrade", None)
    plane.save_cluster(fresh)
    cluster.pop("VersionUpgrade", None)


def _admin_properties(plane, cluster: dict) -> Path:
    """A Kafka client config for the JVM admin tools: the replication listener, as the control plane."""
    _, inter = broker_listeners(cluster)
    path = plane.cluster_dir(cluster) / "admin" / "client.properties"
    lines = []
    if inter == "REPLICATION_SECURE":
        from .scram import admin_config
        config = admin_config(plane, cluster)
        keystore = path.parent / "control-plane.pem"
        write_secret(keystore, Path(config["ssl.key.location"]).read_bytes()
                     + Path(config["ssl.certificate.location"]).read_bytes())
        lines = ["security.protocol=SSL", "ssl.keystore.type=PEM", f"ssl.keystore.location={keystore}",
                 "ssl.truststore.type=PEM", f"ssl.truststore.location={plane.ca.cert_path}"]
    write_secret(path, ("\n".join(lines) + "\n").encode())
    return path


async def run_tool(plane, cluster: dict, dist: KafkaDistribution, main_class: str, args: list[str],
                   timeout: float = FEATURE_TOOL_TIMEOUT) -> str:
    """Run one of Kafka's admin tools (a short-lived JVM) against the cluster; returns its stdout."""
    config = _admin_properties(plane, cluster)
    servers = ",".join(f"{b['Address']}:9093" for b in cluster["Brokers"])
    cmd = dist.java_command(main_class, ["--bootstrap-server", servers, "--command-config", str(config), *args],
                            heap=["-Xmx256m"], jvm_opts=["-XX:TieredStopAtLevel=1", "-XX:-UsePerfData"],
                            log4j_config=None, logs_dir=None)
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"{main_class} did not finish in {timeout:.0f}s")
    if proc.returncode != 0:
        lines = [l for l in (err or out).decode(errors="replace").splitlines() if l.strip()]
        raise RuntimeError(lines[-1] if lines else f"{main_class} exited with {proc.returncode}")
    return out.decode(errors="replace")


async def raise_metadata_version(plane, cluster: dict, target: versions.KafkaLine,
                                 attempts: int = FEATURE_ATTEMPTS, delay: float = FEATURE_RETRY_DELAY) -> None:
    """Completes when the finalized metadata.version is the target release's. A failure is retried
    here first (a JVM tool on a loaded host can time out; a controller can still be registering), so
    a transient one does not end the operation UPDATE_FAILED; after that it fails the step, and the
    drift check finishes the upgrade on a later pass (reconciler.drifted: VersionUpgrade pending)."""
    from .reconciler import ReconcileFailed
    dist = node_distribution(plane, cluster)
    failures: list[str] = []
    for attempt in range(1, attempts + 1):
        paused = await _inject_quorum_fault(plane, cluster) if attempt == 1 else []
        try:
            await run_tool(plane, cluster, dist, "org.apache.kafka.tools.FeatureCommand",
                           ["upgrade", "--metadata", target.release])
            return
        except RuntimeError as exc:
            failures.append(str(exc))
            message = (f"kafka-features upgrade --metadata {target.release} failed (attempt {attempt} of {attempts}):"
                       f" {failures[-1]}")
            log.warning("cluster %s: %s", cluster["ClusterName"], message)
            plane.note_event(cluster, message)
        finally:
            for name in paused:
                await plane.placement.resume(name)
            if paused:
                message = f"fault injection: controllers {', '.join(n.split('/')[-1] for n in paused)} thawed"
                log.warning("cluster %s: %s", cluster["ClusterName"], message)
                plane.note_event(cluster, message)
        try:        # an attempt that timed out on our side may still have been applied
            if (await finalized_metadata_version(plane, cluster) or "").startswith(target.release):
                return
        except RuntimeError:
            pass
        if attempt < attempts:
            log.info("cluster %s: kafka-features upgrade --metadata %s: retry %d in %.0fs",
                     cluster["ClusterName"], target.release, attempt, delay)
            await asyncio.sleep(delay)
    raise ReconcileFailed("METADATA_VERSION_UPGRADE_FAILED", f"kafka-features upgrade --metadata "
                          f"{target.release} failed {attempts} times: {failures[-1]}", retryable=True)


async def _inject_quorum_fault(plane, cluster: dict) -> list[str]:
    """With the test hook on (FAULT_ENV): freeze two controllers; returns the placement names frozen."""
    if FINALIZE_QUORUM_PAUSED not in os.environ.get(FAULT_ENV, "").split(","):
        return []
    names = [f"{cluster['Uuid']}/controller-{c['NodeId']}" for c in (cluster.get("Controllers") or [])][-2:]
    paused = [n for n in names if await plane.placement.pause(n)]
    message = f"fault injection ({FAULT_ENV}): controllers {', '.join(n.split('/')[-1] for n in paused)} frozen " \
              "for the first kafka-features upgrade"
    log.warning("cluster %s: %s", cluster["ClusterName"], message)
    plane.note_event(cluster, message)
    return paused


async def finalized_metadata_version(plane, cluster: dict) -> str | None:
    """The cluster's finalized metadata.version (`kafka-features describe`), e.g. "3.9-IV0"."""
    out = await run_tool(plane, cluster, node_distribution(plane, cluster), "org.apache.kafka.tools.FeatureCommand",
                         ["describe"])
    for line in out.splitlines():
        if "metadata.version" in line:
            for part in line.split("\t"):
                if part.strip().startswith("FinalizedVersionLevel:"):
                    return part.split(":", 1)[1].strip()
    return None

