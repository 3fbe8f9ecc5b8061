"""ClusterReconciler: drives one cluster from its stored desired state to running processes.

`reconcile()` is the table of contents (after Strimzi's KafkaReconciler): an ordered chain of small
steps, each idempotent ("completes when ..."), so running it again after a crash or a control-plane
restart simply continues. Order matters where commented.
"""
from __future__ import annotations

import asyncio
import logging
import shutil
import time
from typing import TYPE_CHECKING

from ..runtime import probes
from . import broker_configs, model, scaling, serverless_quotas, storage, upgrade
from .healing import StartAttempts
from .iam_channel import BROKER_TOKEN_FILE, channel_token
from .layout import (CLIENT_CAS, KEYSTORE, ClusterLayout, broker_listeners, broker_security_properties, client_auth,
                     dynamic_user_properties, needs_tls, serverless_broker_properties)
from . import multi_vpc as multi_vpc_mod
from .public_access import (PUBLIC_KEYSTORE, PUBLIC_TWINS, public_access_on, public_address,
                            public_listener_properties)
from .registrations import release_dead_broker
from .roller import (SHUTDOWN_GRACE, STUCK_CHECK_INTERVAL, STUCK_RESTARTS, ZOOKEEPER_GRACE, BrokerRoller, RollError,
                     ZooKeeperRoller, stuck_reason)
from .tls import broker_tls_properties, certificate_due, node_certificate

if TYPE_CHECKING:
    from .plane import ControlPlane

log = logging.getLogger(__name__)

ZOOKEEPER_READY_TIMEOUT = 120.0
# A JVM that is running but not yet ready is waited for this long; one that exits is seen at once. On a
# loaded 2-core host (a CI machine running the suite's three workers) a KRaft controller took 280 s
# from its restart to a finished start-up, so 240 s failed healthy clusters.
BROKERS_READY_TIMEOUT = 420.0
DEREGISTER_TIMEOUT = 40.0          # > zookeeper.session.timeout.ms (18 s) with margin
STARTUP_RETRIES = 5                # restarts after a failure of the node's own (more for a loaded host's: healing.py)
STARTUP_RETRY_DELAY = 5.0
READY_POLL_INTERVAL = 0.1          # a refused connection or a `srvr` costs next to nothing


def _short(node) -> str:
    return node.name.split("/")[-1]


def _going_or_gone(status) -> bool:
    """Not running, or running but told to stop: either way the node needs a start on its desired spec."""
    return not status.running or status.stopping


PUBLIC_TWIN_NAMES = {twin for twin, _ in PUBLIC_TWINS.values()}


class ReconcileFailed(Exception):
    """A step could not complete. `retryable`: nothing is broken, the next pass may simply succeed;
    otherwise a node failed and retrying helps once its fault is gone (both are retried, with back-off)."""

    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.code, self.message, self.retryable = code, message, retryable


class ClusterReconciler:
    def __init__(self, plane: "ControlPlane", cluster_arn: str) -> None:
        self.plane = plane
        self.arn = cluster_arn
        self._attempts: dict[str, StartAttempts] = {}   # node name -> its failed starts in this pass
        self._stuck_restarts: dict[str, int] = {}       # node name -> restarts for being stuck, this pass
        self._prestarted: set[str] = set()              # brokers of a creation started during its election
        # A node brought back (a stopped one healed, a drifted one rolled): a failure later in this pass
        # is a new fault, and the retry back-off starts again from its first delay.
        self.progressed = False

    # -- the table of contents -----------------------------------------------------------------
    async def reconcile(self) -> None:
        cluster = self.plane.load_cluster(self.arn)
        if cluster is None:
            return
        state = cluster["State"]
        if state == model.DELETING:
            await self.delete_cluster(cluster)
            return
        if state == model.FAILED:
            await self.stop_all_nodes(cluster, grace=10.0)
            return
        try:
            await self.step(cluster, model.PREPARE, self.prepare_directories)
            # ZooKeeper first: brokers cannot register without a quorum.
            kraft = self.layout(cluster).kraft
            await self.step(cluster, model.quorum_step(model.START_ZOOKEEPER, kraft), self.zookeeper_nodes_running)
            await self.step(cluster, model.quorum_step(model.ZOOKEEPER_QUORUM, kraft), self.zookeeper_quorum_ready)
            await self.step(cluster, model.START_BROKERS, self.brokers_running)
            await self.step(cluster, model.BROKERS_REGISTERED, self.brokers_registered)
            # Before any roll: a revision's dynamic keys are live at once (no restart), and a broker
            # the roll restarts reads them back from ZooKeeper.
            await self.optional_step(cluster, model.APPLY_DYNAMIC_CONFIGS, self.dynamic_configs_applied,
                                     ["pending"] if broker_configs.pending(cluster) else [])
            # Storage grows online, before any roll (a roll is no reason to wait for disk space).
            await self.optional_step(cluster, model.GROW_VOLUMES, self.volumes_grown,
                                     storage.undersized(self.plane, cluster, self.layout(cluster).brokers()))
            # Convergence, on every pass (an update, a renewal, a change left by a failed roll): nodes
            # whose running spec differs from the desired one are restarted one at a time. A restart
            # of openmsk itself rolls nothing: spec hashes are deterministic.
            await self.optional_step(cluster, model.RENEW_CERTIFICATES, self.certificates_renewed,
                                     self.certificates_due(cluster))
            await self.optional_step(cluster, model.quorum_step(model.ROLL_ZOOKEEPER, kraft), self.zookeeper_rolled,
                                     await self.drifted_zookeeper(cluster))
            await self.optional_step(cluster, model.ROLL_BROKERS, self.brokers_rolled,
                                     await self.drifted_brokers(cluster))
            await self.sidecars_converged(cluster)
            # A Kafka version update finishes once every node runs the new jars (control/upgrade.py).
            if cluster.get("VersionUpgrade"):
                await self.step(cluster, model.UPGRADE_FINALIZE, self.version_upgrade_finalized)
            # After brokers are up: credentials go through Kafka's admin API into ZooKeeper.
            if client_auth(cluster)["scram"] or cluster.get("ScramApplied"):
                await self.step(cluster, model.SYNC_SCRAM_USERS, self.scram_users_synced)
            # MSK Serverless's throughput quotas: Kafka's default client quotas, set once through the admin API.
            if serverless_quotas.pending(cluster):
                await self.serverless_quotas_applied(cluster)
            # Broker count changes and reboots, when the active operation lists their steps.
            await scaling.operation_steps(self, cluster)
        except ReconcileFailed as failure:
            await self.mark_failed(cluster, failure)
            return
        await self.mark_active(cluster)

    async def drifted(self, cluster: dict) -> list[str]:
        """Names of the nodes a pass would change now (the supervisor's convergence check)."""
        names = [n.name for n in self.certificates_due(cluster)]
        if broker_configs.pending(cluster):
            names.append(f"{self.plane.cluster_dir(cluster).name}/dynamic-broker-configs")
        names += [b.name for b in storage.undersized(self.plane, cluster, self.layout(cluster).brokers())]
        names += [n.name for n in await self.drifted_zookeeper(cluster)]
        names += [n.name for n in await self.drifted_brokers(cluster)]
        # Running nodes that will not get ready without a restart (the quorum step restarts them), and a
        # version upgrade whose finalize failed (its operation ended UPDATE_FAILED; the pass finishes it).
        for node in self.layout(cluster).quorum_nodes():
            if stuck_reason(node, await self.plane.placement.observe(node.name)):
                names.append(node.name)
        if cluster.get("VersionUpgrade"):
            names.append(f"{self.plane.cluster_dir(cluster).name}/{model.UPGRADE_FINALIZE}")
        if serverless_quotas.pending(cluster):
            names.append(f"{self.plane.cluster_dir(cluster).name}/client-quotas")
        for name, spec in self.sidecar_specs(cluster).items():
            status = await self.plane.placement.observe(name)
            if (spec is None) == status.running or (spec is not None and status.spec_hash != spec.spec_hash()):
                names.append(name)
        return sorted(set(names))

    # -- steps ----------------------------------------------------------------------------------
    async def step(self, cluster: dict, name: str, fn) -> None:
        self.plane.set_operation_step(cluster, name, model.STEP_IN_PROGRESS)
        try:
            await fn(cluster)
        except ReconcileFailed:
            self.plane.set_operation_step(cluster, name, model.STEP_FAILED)
            raise
        self.plane.set_operation_step(cluster, name, model.STEP_COMPLETE)

    async def optional_step(self, cluster: dict, name: str, fn, work: list) -> None:
        """A step that shows on the operation only when it has work (or the operation lists it)."""
        op = self.plane._active_operation(cluster)
        listed = op is not None and any(s["StepName"] == name for s in op.get("OperationSteps", []))
        if not work and not listed:
            return
        await self.step(cluster, name, lambda c: fn(c, work))

    async def prepare_directories(self, cluster: dict) -> None:
        """Completes when the cluster's directory exists (and it is decided whether its brokers get real
        volumes: control/storage.py), and its Kafka version's jars are in the local cache (fetched on first
        use; a version that cannot be fetched fails here, with Maven's reason)."""
        self.plane.cluster_dir(cluster).mkdir(parents=True, exist_ok=True)
        storage.decide(self.plane, cluster)
        await self.kafka_version_installed(cluster)

    async def dynamic_configs_applied(self, cluster: dict, _work: list) -> None:
        """Completes when the cluster-wide dynamic broker defaults hold the revision's dynamic keys."""
        try:
            changed = await broker_configs.apply_dynamic_configs(self.plane, cluster)
        except broker_configs.DynamicConfigFailed as exc:
            raise ReconcileFailed("DYNAMIC_CONFIGURATION_FAILED",
                                  f"dynamic broker configuration could not be applied: {exc}", retryable=True)
        if changed["set"] or changed["deleted"]:
            self.progress(cluster, "dynamic broker configuration applied without restart: "
                          + ", ".join([*changed["set"], *(f"-{k}" for k in changed["deleted"])]))

    async def volumes_grown(self, cluster: dict, brokers: list) -> None:
        """Completes when every broker's volume has the cluster's VolumeSize (online, no restart)."""
        try:
            grown = await storage.volumes_grown(self.plane, cluster, brokers)
        except storage.StorageFailed as exc:
            raise ReconcileFailed("STORAGE_UPDATE_FAILED", str(exc), retryable=True)
        if grown:
            self.progress(cluster, f"volumes of {', '.join(grown)} grown to {cluster['VolumeSize']} GiB online")

    async def kafka_version_installed(self, cluster: dict) -> None:
        """Completes when the jar sets of the cluster's Kafka version(s) are in the local cache."""
        from .upgrade import ensure_jars
        await ensure_jars(self, cluster)

    async def version_upgrade_finalized(self, cluster: dict) -> None:
        from .upgrade import finalize
        await finalize(self, cluster)

    async def zookeeper_nodes_running(self, cluster: dict) -> None:
        """Completes when every ZooKeeper node process is running (started now or already)."""
        for node in self.layout(cluster).quorum_nodes():
            await self.start_node(cluster, node)

    async def zookeeper_quorum_ready(self, cluster: dict) -> None:
        """Completes when every node serves as leader or follower. A creation starts its brokers meanwhile
        (`brokers_prestarted`)."""
        nodes = self.layout(cluster).quorum_nodes()
        # KRaft controllers are Kafka JVMs (format, then start, then elect): as long as brokers may take.
        kraft = self.layout(cluster).kraft
        prestart = None
        if not kraft and cluster["State"] == model.CREATING:
            prestart = asyncio.create_task(self.brokers_prestarted(cluster, nodes))
        try:
            await self.wait_until(cluster, nodes, BROKERS_READY_TIMEOUT if kraft else ZOOKEEPER_READY_TIMEOUT,
                                  "KRaft controller quorum" if kraft else "ZooKeeper ensemble")
        except BaseException:
            if prestart is not None:
                prestart.cancel()
            raise
        finally:
            if prestart is not None:
                try:
                    await prestart       # a start under way finishes (no half-placed broker)
                except asyncio.CancelledError:
                    pass
                except Exception:        # START_BROKERS starts what is left and reports its failures
                    log.exception("cluster %s: starting brokers early failed", cluster["ClusterName"])

    async def brokers_prestarted(self, cluster: dict, quorum: list) -> None:
        """Start a new cluster's brokers while its ZooKeeper ensemble elects its leader, once every
        ZooKeeper node answers (issue 15): a broker's JVM spends its first seconds loading classes and
        opening its TLS listeners before it connects to ZooKeeper, which overlaps the election instead of
        following it. Not at the ZooKeeper processes' start: on a loaded host the nodes' own start can
        outlast a broker's zookeeper.connection.timeout.ms (18 s), and the broker would exit (if it still
        does, it gets one more start: `wait_until`). START_BROKERS starts the brokers this did not."""
        brokers = [b for b in self.configured_brokers(cluster, self.layout(cluster))
                   if (await self.plane.placement.observe(b.name)).phase == "absent"]
        for broker in brokers:          # volumes first: they need no ZooKeeper
            await storage.volume_ready(self.plane, cluster, broker)
        while not all(await asyncio.gather(*(probes.zk_answers(z.config.host, z.config.client_port)
                                             for z in quorum))):
            await asyncio.sleep(READY_POLL_INTERVAL)
        for broker in brokers:
            await self.start_broker(cluster, broker)
            self._prestarted.add(broker.name)

    async def brokers_running(self, cluster: dict) -> None:
        """Completes when every broker process is running.

        A broker that died keeps its ZooKeeper registration (an ephemeral znode) until its session
        expires; starting it again before that fails with NodeExists. So before restarting one, its
        registration is removed (registrations.py: the controller fails it over now), and the surviving
        brokers must no longer list it (at once then; after the session's expiry if the removal failed)."""
        layout = self.layout(cluster)
        brokers = self.configured_brokers(cluster, layout)
        for broker in brokers:
            if broker.name in self._prestarted:
                continue        # started during the election; if it exited, `wait_until` judges why
            status = await self.plane.placement.observe(broker.name)
            if status.phase == "absent" and cluster["State"] == model.CREATING:
                # Never started, in a new ensemble: no registration to remove, no one to wait for.
                try:
                    await storage.volume_ready(self.plane, cluster, broker)
                except storage.StorageFailed as exc:
                    raise ReconcileFailed("STORAGE_FAILURE", str(exc))
            elif not status.running:
                released = await release_dead_broker(self.plane, cluster, layout, broker)
                if released:
                    self.progress(cluster, released)
                await self.wait_deregistered(broker, [b for b in brokers if b is not broker])
                try:
                    await storage.volume_ready(self.plane, cluster, broker)
                except storage.StorageFailed as exc:
                    raise ReconcileFailed("STORAGE_FAILURE", str(exc))
            await self.start_broker(cluster, broker)

    async def start_broker(self, cluster: dict, broker) -> None:
        await self.start_node(cluster, broker)

    async def start_node(self, cluster: dict, node) -> None:
        """Start the node on its desired spec unless it runs (a running node is left as it is: rolling
        it onto a new spec is the roll steps' decision). One that runs but is stopping (a control plane
        died right after it sent the stop, e.g. mid-roll) is going down anyway: it is waited for and
        started on its desired spec now, before any later step (a roll) stops another node."""
        status = await self.plane.placement.observe(node.name)
        if status.stopping:
            self.progress(cluster, f"{_short(node)} is still stopping (a stop sent {time.time() - status.stopping_since:.0f}s "
                                   f"ago by a control plane that did not start it again); starting it on its desired "
                                   f"spec before anything else")
            grace = SHUTDOWN_GRACE if _short(node).startswith("broker-") else ZOOKEEPER_GRACE
            status = await self.plane.placement.replace(self.spec(cluster, node), grace=grace)
            self._attempts[node.name] = StartAttempts(node, STARTUP_RETRIES + 1)   # after the stop: not the start's
            self.plane.note_started(cluster, node.name, status)
            return
        if status.running:
            return
        self._attempts[node.name] = StartAttempts(node, STARTUP_RETRIES + 1)   # before: errors it logs are its own
        status = await self.plane.placement.apply(self.spec(cluster, node))
        self.plane.note_started(cluster, node.name, status)

    async def brokers_registered(self, cluster: dict) -> None:
        """Completes when every broker answers metadata requests and lists itself."""
        brokers = self.configured_brokers(cluster, self.layout(cluster))
        await self.wait_until(cluster, brokers, BROKERS_READY_TIMEOUT, "brokers")

    def certificates_due(self, cluster: dict) -> list:
        layout = self.layout(cluster)
        return [n for n in [*layout.quorum_nodes(), *layout.brokers()] if certificate_due(n.workdir)]

    async def certificates_renewed(self, cluster: dict, _due: list) -> None:
        """Completes when no node's certificate is due for renewal: new ones are issued, for the nodes
        due and those nearly due (tls.RENEW_TOGETHER_MARGIN), so one roll covers them all; their specs
        change, and the roll steps that follow restart them onto the new certificates."""
        layout = self.layout(cluster)
        nodes = [*layout.quorum_nodes(), *self.configured_brokers(cluster, layout)]
        before = {n.name: (n.workdir / KEYSTORE).read_bytes() for n in nodes if (n.workdir / KEYSTORE).exists()}
        for node in nodes:
            self.spec(cluster, node, renew=True)
        renewed = [_short(n) for n in nodes if (n.workdir / KEYSTORE).read_bytes() != before.get(n.name)]
        self.progress(cluster, f"certificates renewed: {', '.join(renewed)}")

    async def drifted_zookeeper(self, cluster: dict) -> list:
        return await self._drifted(cluster, self.layout(cluster).quorum_nodes())

    async def drifted_brokers(self, cluster: dict) -> list:
        return await self._drifted(cluster, self.configured_brokers(cluster, self.layout(cluster)))

    async def _drifted(self, cluster: dict, nodes: list) -> list:
        """Running nodes whose running spec is not their desired one (stopped nodes start on the
        desired spec anyway)."""
        out = []
        for node in nodes:
            status = await self.plane.placement.observe(node.name)
            if status.running and status.spec_hash != self.spec(cluster, node).spec_hash():
                out.append(node)
        return out

    async def zookeeper_rolled(self, cluster: dict, _drifted: list) -> None:
        """Completes when every ZooKeeper node runs its desired spec, restarted one at a time, the
        leader last, each only while the others serve."""
        nodes = self.layout(cluster).quorum_nodes()
        specs = {n.name: self.spec(cluster, n) for n in await self._drifted(cluster, nodes)}
        # A node that stopped (or is stopping) since the quorum step is started by the roll (as in brokers_rolled).
        specs.update({n.name: self.spec(cluster, n) for n in nodes
                      if _going_or_gone(await self.plane.placement.observe(n.name))})
        if specs:
            roller = ZooKeeperRoller(self.plane.placement, on_progress=lambda m: self.progress(cluster, m))
            await self._roll(roller, nodes, specs)

    async def brokers_rolled(self, cluster: dict, _drifted: list) -> None:
        """Completes when every broker runs its desired spec, restarted one at a time (roller.py)."""
        brokers = self.configured_brokers(cluster, self.layout(cluster))
        specs = {b.name: self.spec(cluster, b) for b in await self._drifted(cluster, brokers)}
        # A broker that stopped since START_BROKERS is started by the roll, first: one whose controlled
        # shutdown a control plane killed mid-roll had begun exits only now, and while it is down no
        # other broker can be restarted (min ISR); the operation must not complete without it either.
        specs.update({b.name: self.spec(cluster, b) for b in brokers
                      if _going_or_gone(await self.plane.placement.observe(b.name))})
        if not specs:
            return
        from .scram import admin_config
        from .topic_configs import min_insync_replicas
        effective = {**brokers[0].config.properties(), **dynamic_user_properties(cluster)}
        default_min_isr = int(effective.get("min.insync.replicas", "1"))
        roller = BrokerRoller(self.plane.placement, default_min_isr,
                              topic_min_isr=lambda: min_insync_replicas(admin_config(self.plane, cluster)),
                              on_progress=lambda m: self.progress(cluster, m))
        await self._roll(roller, brokers, specs)

    async def _roll(self, roller, nodes: list, specs: dict) -> None:
        try:
            await roller.roll(nodes, specs)
        except RollError as exc:
            raise ReconcileFailed(exc.code, str(exc), retryable=exc.retryable)
        finally:
            self.progressed = self.progressed or bool(roller.restarted)

    def sidecar_specs(self, cluster: dict) -> dict:
        """name -> desired NodeSpec (or None: must not run) of every sidecar node (node exporters)."""
        out = {}
        for provider in self.plane.sidecars:
            out.update(provider.nodes(cluster, self.plane.cluster_dir(cluster)))
        return out

    async def sidecars_converged(self, cluster: dict) -> None:
        """Completes when exactly the desired sidecars run, each on its desired spec. They carry no
        data: a changed one is simply replaced."""
        placement = self.plane.placement
        for name, spec in self.sidecar_specs(cluster).items():
            status = await placement.observe(name)
            if spec is None:
                if status.running:
                    await placement.delete(name, grace=5.0)
            elif not status.running:
                if not self.plane.restart_allowed(cluster, name, status):
                    continue
                await placement.apply(spec)
            elif status.spec_hash != spec.spec_hash():
                await placement.replace(spec, grace=5.0)

    async def serverless_quotas_applied(self, cluster: dict) -> None:
        """Completes when a serverless cluster's default client quotas are MSK Serverless's (serverless_quotas.py)."""
        try:
            await serverless_quotas.apply(self.plane, cluster)
        except RuntimeError as exc:
            log.warning("cluster %s: client quotas not applied: %s", cluster["ClusterName"], exc)
            raise ReconcileFailed("CLIENT_QUOTAS_FAILED", f"MSK Serverless's client quotas could not be set: {exc}",
                                  retryable=True)
        self.progress(cluster, "MSK Serverless client quotas set: " + serverless_quotas.describe())

    async def scram_users_synced(self, cluster: dict) -> None:
        """Completes when the brokers' SCRAM-SHA-512 users are exactly those of the associated secrets."""
        from .scram import sync_scram_users
        try:
            await sync_scram_users(self.plane, cluster)
        except Exception as exc:        # a secret that cannot be read must not make the cluster unusable
            log.warning("cluster %s: SCRAM sync failed: %s", cluster["ClusterName"], exc)
            raise ReconcileFailed("SCRAM_SYNC_FAILED", f"SCRAM credentials could not be applied: {exc}")

    # -- building blocks -----------------------------------------------------------------------
    def progress(self, cluster: dict, message: str) -> None:
        log.info("cluster %s: %s", cluster["ClusterName"], message)
        self.plane.note_event(cluster, message)

    def layout(self, cluster: dict) -> ClusterLayout:
        return ClusterLayout(cluster, self.plane.cluster_dir(cluster), self.plane.ca.cert_path)

    def configured_brokers(self, cluster: dict, layout: ClusterLayout):
        brokers = layout.brokers()
        _, inter = broker_listeners(cluster)
        # Every broker id a cluster can have (not only today's brokers): adding or removing a broker must
        # not change the other brokers' settings, or a scale-out would roll the whole cluster.
        principals = [f"CN=b-{i},O=openmsk" for i in range(1, scaling.MAX_BROKER_ID + 1)] \
            + ["CN=openmsk-control-plane,O=openmsk"]
        principals += [f"CN=c-{c['NodeId']},O=openmsk" for c in cluster.get("Controllers") or []]
        for broker in brokers:
            if needs_tls(cluster):
                broker.config.extra_managed.update(broker_tls_properties(self.plane.ca, broker.workdir, inter))
            broker.config.extra_managed.update(broker_security_properties(
                cluster, broker.workdir, principals, endpoint_file=str(self.plane.data_dir / "endpoint.json")))
            public = [l for l in broker.config.listeners if l.name in PUBLIC_TWIN_NAMES]   # public_access.py
            if public:
                broker.config.extra_managed.update(
                    public_listener_properties(broker.config.extra_managed, public, broker.workdir))
            multi_vpc = [l for l in broker.config.listeners if l.name in multi_vpc_mod.TWIN_NAMES]   # multi_vpc.py
            if multi_vpc:
                broker.config.extra_managed.update(
                    multi_vpc_mod.multi_vpc_listener_properties(broker.config.extra_managed, multi_vpc, broker.workdir))
            broker.config.extra_managed.update(upgrade.broker_overrides(cluster))
            broker.config.extra_managed.update(serverless_broker_properties(cluster))
            broker.probe_port = 9093        # the replication listener exists on every broker
            broker.probe_ssl = self.plane.probe_ssl_context if inter == "REPLICATION_SECURE" else None
        return brokers

    def spec(self, cluster: dict, node, *, renew: bool = False):
        """The node's desired NodeSpec (deterministic: same inputs, same spec hash)."""
        return node.spec(self.distribution(cluster, node), **self.spec_kwargs(cluster, node, renew=renew))

    def distribution(self, cluster: dict, node=None):
        """The jar set a node runs: its cluster's Kafka version (control/upgrade.py decides mid-update)."""
        from .upgrade import node_distribution
        return node_distribution(self.plane, cluster, node)

    def spec_kwargs(self, cluster: dict, node, *, renew: bool = False) -> dict:
        if node.name.split("/")[-1].startswith("controller-"):
            from .upgrade import controller_spec_kwargs
            return controller_spec_kwargs(self, cluster, node, renew)
        if not node.name.split("/")[-1].startswith("broker-"):
            # ZooKeeper's quorum TLS checks the *connecting* peer's address too, and a connection
            # between two 127.x addresses leaves from 127.0.0.1: hence that extra SAN.
            pem = node_certificate(self.plane.ca, node.workdir, f"z-{node.config.node_id}", node.config.host,
                                   extra_ips=["127.0.0.1"], renew=renew)
            return {"secret_files": {KEYSTORE: pem}}
        jvm_opts, files = [], {}
        cas = client_auth(cluster)["cas"]
        if client_auth(cluster)["tls"]:
            files[CLIENT_CAS] = "".join(self.plane.client_ca_pem(cluster["Region"], arn) for arn in cas)
        for extension in self.plane.broker_extensions:
            # e.g. telemetry: a metrics agent (-javaagent:... + its config file) per broker
            opts, extra = extension(cluster, node)
            jvm_opts += opts
            files.update(extra)
        return {"secret_files": self.broker_secrets(cluster, node, renew), "extra_jvm_opts": jvm_opts,
                "extra_files": files}

    def broker_secrets(self, cluster: dict, broker, renew: bool = False) -> dict[str, bytes]:
        # Every broker gets a certificate: TLS listeners, TLS to ZooKeeper, and the replication
        # listener's mTLS all use it.
        pem = node_certificate(self.plane.ca, broker.workdir, f"b-{broker.config.broker_id}", broker.config.host,
                               renew=renew)
        secrets = {KEYSTORE: pem}
        if public_access_on(cluster):        # the public listeners' certificate names the public address
            secrets[PUBLIC_KEYSTORE] = node_certificate(
                self.plane.ca, broker.workdir / "public", f"b-{broker.config.broker_id}",
                public_address(cluster, broker.config.broker_id), renew=renew)
        if any(multi_vpc_mod.vpc_connectivity_on(cluster).values()):   # SANs: its multi-VPC addresses
            addresses = multi_vpc_mod.all_addresses(cluster, broker.config.broker_id, broker.config.host)
            secrets[multi_vpc_mod.MULTI_VPC_KEYSTORE] = node_certificate(
                self.plane.ca, broker.workdir / "vpc", f"b-{broker.config.broker_id}", addresses[0],
                extra_ips=addresses[1:], renew=renew)
        if client_auth(cluster)["iam"]:     # the IAM plugin's channel to the control plane (not an AWS key)
            secrets[BROKER_TOKEN_FILE] = channel_token(self.plane.data_dir).encode()
        return secrets

    async def wait_deregistered(self, broker, others, timeout: float = DEREGISTER_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            views = [await other.metadata() for other in others]
            views = [v for v in views if v is not None]
            if not views or all(broker.config.broker_id not in v.broker_ids for v in views):
                return
            await asyncio.sleep(0.5)

    async def wait_until(self, cluster: dict, nodes, timeout: float, what: str) -> None:
        """Completes when every node is ready. Healing an existing cluster, a node whose process exits
        is started again (it may lose a race with its own stale session, or miss its ZooKeeper connection
        timeout on a loaded host): STARTUP_RETRIES times for a failure of its own, more for a loaded
        host's (healing.py); each start gets the full `timeout`. A creation does not retry. A node that
        runs but is stuck (a KRaft controller whose registration timed out) is restarted, at creation
        too: `_restart_stuck`."""
        deadlines = {node.name: time.monotonic() + timeout for node in nodes}
        pending = list(nodes)
        unsticking: list[str] = []          # the node restarted for being stuck, until it is ready
        stuck_checks: dict[str, float] = {}  # node name -> next time its log is read for being stuck
        while pending:
            still, stuck = [], []
            # Every node probed at once: one whose port accepts but does not answer yet (a broker
            # before it processes requests) holds up only its own probe.
            readiness = await asyncio.gather(*(node.ready() for node in pending))
            for node, ready in zip(pending, readiness):
                if ready:
                    if node.name in self._attempts:
                        self.progressed = True          # a node this pass (re)started is back
                    if node.name in unsticking:
                        unsticking.remove(node.name)
                    continue
                status = await self.plane.placement.observe(node.name)
                if time.monotonic() >= stuck_checks.get(node.name, 0.0):
                    stuck_checks[node.name] = time.monotonic() + STUCK_CHECK_INTERVAL
                    reason = stuck_reason(node, status)
                    if reason:
                        stuck.append((node, reason))
                if not status.running:
                    if node.name not in self._attempts:          # exited before this pass started it
                        self._attempts[node.name] = StartAttempts(node, STARTUP_RETRIES + 1, exited=True)
                    attempts = self._attempts[node.name]
                    # A creation does not retry, except once for a broker started during the election
                    # that missed its ZooKeeper connection timeout (a loaded host's election outlasted it).
                    retry = attempts.failed(status.exit_code) and (cluster["State"] != model.CREATING
                                                                   or self._retry_prestarted(node, attempts))
                    if retry:
                        log.info("%s exited during startup (%s); retry %d", node.name, attempts.last, attempts.count)
                        await asyncio.sleep(STARTUP_RETRY_DELAY)
                        if _short(node).startswith("broker-"):      # it may have registered before it died
                            released = await release_dead_broker(self.plane, cluster, self.layout(cluster), node)
                            if released:
                                self.progress(cluster, released)
                        await self.plane.placement.apply(self.spec(cluster, node))
                        deadlines[node.name] = time.monotonic() + timeout
                        still.append(node)
                        continue
                    if cluster["State"] == model.CREATING:
                        detail = attempts.last
                    else:
                        detail = f"gave up after {attempts.summary()}"
                    raise ReconcileFailed("BROKER_START_FAILURE" if "broker" in node.name else "ZOOKEEPER_START_FAILURE",
                                          f"{node.name.split('/')[-1]} failed to start: {detail}")
                still.append(node)
            pending = still
            if not pending:
                return
            if stuck:
                await self._restart_stuck(cluster, stuck, unsticking, deadlines, timeout)
            late = [n for n in pending if time.monotonic() > deadlines[n.name]]
            if late:
                names = ", ".join(n.name.split("/")[-1] for n in late)
                raise ReconcileFailed("TIMEOUT", f"{what} not ready after {timeout:.0f}s: {names}")
            await asyncio.sleep(READY_POLL_INTERVAL)

    def _retry_prestarted(self, node, attempts: StartAttempts) -> bool:
        if node.name not in self._prestarted or not attempts.reasons[-1][1]:     # [1]: transient
            return False
        self._prestarted.discard(node.name)
        return True

    async def _restart_stuck(self, cluster: dict, stuck: list, unsticking: list[str], deadlines: dict,
                             timeout: float) -> None:
        """Restart one of the `stuck` nodes (running, but never ready without a restart: a KRaft controller
        whose registration Kafka will not resend, runtime/kraft.py), up to STUCK_RESTARTS times each.
        One at a time, the Raft leader last, so the quorum keeps a majority; while the one restarted is
        not ready yet, the others wait, their deadlines extended (what keeps them from being ready is
        known and being fixed). Seen at creation too: two or three controllers of a fresh cluster."""
        waiting = [(n, r) for n, r in stuck if self._stuck_restarts.get(n.name, 0) < STUCK_RESTARTS]
        for node, _ in waiting:
            deadlines[node.name] = max(deadlines[node.name], time.monotonic() + timeout)
        if not waiting or (unsticking and unsticking[0] not in [n.name for n, _ in waiting]):
            return
        node, reason = min(waiting, key=lambda item: (getattr(item[0], "is_leader", bool)(), item[0].name))
        self._stuck_restarts[node.name] = self._stuck_restarts.get(node.name, 0) + 1
        self.progress(cluster, f"{_short(node)} runs but cannot get ready: {reason}; restarting it")
        self._attempts[node.name] = StartAttempts(node, STARTUP_RETRIES + 1)
        await self.plane.placement.replace(self.spec(cluster, node), grace=ZOOKEEPER_GRACE)
        unsticking[:] = [node.name]
        deadlines[node.name] = time.monotonic() + timeout

    async def stop_all_nodes(self, cluster: dict, *, grace: float, purge: bool = False) -> None:
        layout = self.layout(cluster)
        # Sidecars first, including any this plane has no provider for (e.g. `openmsk down`).
        core = {n.name for n in [*layout.quorum_nodes(), *layout.brokers()]}
        placed = await self.plane.placement.names(self.plane.cluster_dir(cluster).name)
        sidecars = set(self.sidecar_specs(cluster)) | {name for name in placed if name not in core}
        await asyncio.gather(*(self.plane.placement.delete(name, grace=5.0, purge=purge) for name in sidecars))
        # Brokers before ZooKeeper: a broker shutting down still talks to ZooKeeper.
        await asyncio.gather(*(self.plane.placement.delete(b.name, grace=grace) for b in layout.brokers()))
        # A stopped broker's volume is unmounted and detached (kept unless purged) before its files go.
        await storage.release_all(self.plane, cluster, purge=purge)
        if purge:
            await asyncio.gather(*(self.plane.placement.delete(b.name, grace=grace, purge=True)
                                   for b in layout.brokers()))
        await asyncio.gather(*(self.plane.placement.delete(z.name, grace=grace, purge=purge)
                               for z in layout.quorum_nodes()))

    async def delete_cluster(self, cluster: dict) -> None:
        """Completes when no process of the cluster runs, its files are gone and the record is removed."""
        self.plane.set_operation_step(cluster, model.STOP_NODES, model.STEP_IN_PROGRESS)
        await self.stop_all_nodes(cluster, grace=15.0, purge=True)
        shutil.rmtree(self.plane.cluster_dir(cluster), ignore_errors=True)
        self.plane.set_operation_step(cluster, model.STOP_NODES, model.STEP_COMPLETE)
        self.plane.finish_deletion(cluster)

    async def mark_failed(self, cluster: dict, failure: ReconcileFailed) -> None:
        if self.progressed:
            # This pass brought a node back before it failed: the earlier fault is gone and this is a
            # new one, so the next attempt comes after the first back-off delay, not a longer one.
            self.plane.converged(cluster)
        if cluster["State"] in (model.UPDATING, model.ACTIVE, model.REBOOTING_BROKER):
            # A failed update (or convergence pass) is reported on its operation; the cluster stays
            # usable (ACTIVE) and the control plane keeps converging it, with back-off, so it does
            # not sit on mixed configurations once the fault is gone. A node left down by the failed
            # roll makes the supervisor heal the cluster.
            log.warning("cluster %s: %s failed: %s", cluster["ClusterName"],
                        "update" if cluster["State"] == model.UPDATING else "convergence", failure.message)
            if cluster["State"] == model.ACTIVE:
                self.plane.note_event(cluster, f"convergence failed: {failure.message}")
            self.plane.finish_operation(cluster, ok=False, error=(failure.code, failure.message), state=model.ACTIVE)
            self.plane.converge_later(cluster, failure.message if failure.retryable else
                                      f"{failure.message} (retrying helps once that is fixed)")
            return
        if cluster["State"] != model.CREATING:
            # Only a failed creation makes a cluster FAILED (as on MSK); an existing cluster stays
            # HEALING and the control plane keeps trying.
            log.warning("cluster %s: healing did not complete (%s); retrying", cluster["ClusterName"], failure.message)
            self.plane.heal_later(cluster, failure.message)
            return
        log.warning("cluster %s failed: %s", cluster["ClusterName"], failure.message)
        self.plane.finish_operation(cluster, ok=False, error=(failure.code, failure.message),
                                    state=model.FAILED, state_info={"Code": failure.code, "Message": failure.message})
        await self.stop_all_nodes(self.plane.load_cluster(self.arn), grace=10.0)

    async def mark_active(self, cluster: dict) -> None:
        self.plane.converged(cluster)
        fresh = self.plane.load_cluster(cluster["ClusterArn"])
        if fresh is not None and fresh.get("ActiveOperationArn") != cluster.get("ActiveOperationArn"):
            return                      # a newer operation started meanwhile; its reconcile finishes it
        if fresh is not None and fresh["State"] == model.ACTIVE and not fresh.get("ActiveOperationArn"):
            return                      # a convergence pass of an ACTIVE cluster: nothing to record
        self.plane.finish_operation(cluster, ok=True, state=model.ACTIVE)
