"""ControlPlane: owns the store, the placement driver and one reconcile task per cluster.

Services call `create_cluster`, `delete_cluster`, ... which write desired state and return at once;
the work happens in background reconciles, visible as cluster operations. A supervisor loop watches
every node of ACTIVE clusters, woken by the placement the moment one exits (`wait_exit`), by a cluster
being saved or a reconcile ending (the set of nodes to watch may have changed), and every 10 s for the
drift check below, so an idle cluster costs no polling: a node that exits unexpectedly is reported (log + cluster event),
the cluster goes HEALING and the reconciler restarts the node, as MSK replaces unhealthy brokers; a
node that keeps crashing is restarted after an exponential, capped back-off. Every 10 s it also
checks each ACTIVE cluster for drift (a node whose running spec is not its desired one: a roll that
failed, a certificate due for renewal, a missing sidecar) and reconciles it, after the back-off of a
previous failure, so clusters converge without an update asking for it.
Stopping the control plane stops supervision and reconciles first and leaves the data plane running
(as on MSK, brokers do not depend on the control plane); on the next start the reconciler re-adopts
running nodes and restarts missing ones. A cluster whose address slot another installation owns is
neither started nor healed.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

from ..runtime.distribution import KafkaDistribution
from ..runtime.null_placement import placement_from_env
from ..runtime.pki import CertificateAuthority
from ..runtime.versions import is_kraft
from ..runtime.volumes import LoopVolumes
from . import model, slots
from .layout import ClusterLayout
from .network import Network
from .outages import set_zone_outage
from .ports import ClientCertificateAuthorities, ScramSecrets
from .reconciler import ClusterReconciler
from .store import Store
from .tls import control_plane_client
from .vpc_runtime import VpcRuntime

log = logging.getLogger(__name__)

SUPERVISE_INTERVAL = 1.0           # at most one supervisor pass a second for saves/reconciles (not exits)
CONVERGE_CHECK_INTERVAL = 10.0      # how often ACTIVE clusters are checked for spec drift
HEAL_RETRY_DELAY = 15.0             # first retry; doubles per consecutive failure ...
MAX_RETRY_DELAY = 300.0             # ... up to this
CRASH_WINDOW = 600.0                # crashes of one node within this window count towards its back-off
DEBUG_PASS_CPU = os.environ.get("OPENMSK_DEBUG_PASS_CPU") == "1"


class ControlPlane:
    def __init__(self, data_dir: Path, account_id: str = "123456789012", *, placement=None,
                 distribution: KafkaDistribution | None = None, store: Store | None = None,
                 scram_secrets: ScramSecrets | None = None,
                 client_cas: ClientCertificateAuthorities | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.account_id = account_id
        self.store = store or Store(self.data_dir / "openmsk.db")
        # Collaborators from the service backends (wired in openmsk/app.py; see control/ports.py).
        self.scram_secrets = scram_secrets
        self.client_cas = client_cas
        self.network = Network(self.store, account_id)
        self.ca = CertificateAuthority(self.data_dir / "pki")
        self.probe_ssl_context = self.ca.client_context(control_plane_client(self.ca, self.data_dir / "pki"),
                                                        self.data_dir / "pki")
        # Child processes on this host; OPENMSK_PLACEMENT=none for an API-only plane (the API fuzzer).
        self.placement = placement or placement_from_env(self.data_dir / "clusters")
        # VPCs on the wire (namespaces, bridges, security groups) or the loopback layout: vpc_runtime.py.
        self.vpc = VpcRuntime(self.data_dir, self.network)
        if self.vpc.enabled:
            from ..runtime.netns_placement import NamespacedPlacement
            self.placement = NamespacedPlacement(self.placement, self.data_dir / "clusters", self.vpc.attach)
        self._distribution = distribution
        self._volumes = None                               # runtime.volumes.LoopVolumes, detected on first use
        self._tasks: dict[str, asyncio.Task] = {}
        self._again: set[str] = set()
        self._supervisor: asyncio.Task | None = None
        self._supervisor_wake = asyncio.Event()           # a cluster saved / a reconcile ended: look again
        self._loop: asyncio.AbstractEventLoop | None = None
        # Callables run (on the event loop) after every cluster write: background loops that sleep until
        # something changes (the log shipper) learn of new clusters and settings without polling.
        self.on_cluster_saved: list = [self._supervisor_wake.set]
        self._stopping = False
        self._refused: set[str] = set()                    # clusters whose address slot another installation owns
        self._backoff: dict[str, tuple[int, float]] = {}   # cluster arn -> (consecutive failures, not before)
        self._crashes: dict[str, list[float]] = {}         # node name -> recent crash times
        self._next_drift_check = 0.0
        # Providers of sidecar nodes (telemetry's node exporters): `nodes(cluster, cluster_dir)` ->
        # {name: NodeSpec or None}; the reconciler places them next to the brokers.
        self.sidecars: list = []
        # Callables (cluster doc, BrokerProcess) -> (extra JVM options, extra files relative to the
        # broker's workdir). Other subsystems (telemetry) add to a broker's process without the
        # reconciler knowing them; a change in what they return changes the broker's spec hash.
        self.broker_extensions: list = []
        # Coroutines run after start() / before stop(): background subsystems (metric collection).
        self.background_services: list = []
        if self.vpc.enabled:                # brokers' public addresses relayed into their namespaces
            from .public_relays import PublicRelays
            self.background_services.append(PublicRelays())

    @property
    def volumes(self) -> LoopVolumes:
        """Real broker volumes (loop devices) if this host allows them (control/storage.py decides)."""
        if self._volumes is None:
            self._volumes = LoopVolumes.detect()
        return self._volumes

    @property
    def distribution(self) -> KafkaDistribution:
        if self._distribution is None:
            self._distribution = KafkaDistribution.locate()
        return self._distribution

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # The API already answers (server.py): clusters whose nodes stopped while the control plane was
        # away are reported HEALING first, before the network is put back (seconds in the namespace layout).
        places_nothing = getattr(self.placement, "places_nothing", False)
        ours = []
        for cluster in self.store.list("cluster"):
            if not places_nothing and not slots.ensure(self.data_dir, cluster["Slot"], cluster["ClusterArn"]):
                # Not ours to run (nor to heal): the supervisor and reconciles leave it alone.
                log.error("cluster %s: its addresses (slot %d) are claimed by another openmsk installation on this "
                          "machine; not starting it", cluster["ClusterName"], cluster["Slot"])
                self._refused.add(cluster["ClusterArn"])
                model.add_event(cluster, f"not started: address slot {cluster['Slot']} is claimed by another "
                                         f"openmsk installation on this machine")
                self.save_cluster(cluster)
                continue
            await self._report_stopped_nodes(cluster)
            ours.append(cluster["ClusterArn"])
        await self.vpc.start()
        for arn in ours:
            self.submit(arn)
        if self.volumes.available:
            log.info("broker storage: a volume per broker (sparse image, loop device, XFS), grown online")
        else:
            log.warning("broker storage: no real volumes (%s); new brokers keep their data in plain directories "
                        "and KafkaDataLogsDiskUsed is their size against VolumeSize", self.volumes.unavailable)
        self._supervisor = asyncio.create_task(self._supervise(), name="supervisor")
        for service in self.background_services:
            await service.start(self)

    async def halt_reconciles(self) -> None:
        """Stop the supervisor and every reconcile (nothing is started or healed from now on)."""
        self._stopping = True
        tasks = [t for t in [self._supervisor, *self._tasks.values()] if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        # Supervision first: a node exiting during shutdown must not look like a crash to heal.
        await self.halt_reconciles()
        for service in self.background_services:
            await service.stop()
        self.store.close()

    async def stop_data_plane(self) -> None:
        """Stop every node of every cluster (desired state is kept; the next start restarts them).
        Supervision and reconciles stop first, so nothing restarts a node being stopped."""
        await self.halt_reconciles()
        for cluster in self.store.list("cluster"):
            if cluster["ClusterArn"] in self._refused:
                continue
            await ClusterReconciler(self, cluster["ClusterArn"]).stop_all_nodes(cluster, grace=30.0)
        if self.vpc.enabled:
            await asyncio.to_thread(self.vpc.teardown)

    # -- documents -------------------------------------------------------------------------------
    def load_cluster(self, arn: str) -> dict | None:
        return self.store.get("cluster", arn)

    def save_cluster(self, cluster: dict) -> None:
        self.store.put("cluster", cluster["ClusterArn"], cluster, region=cluster["Region"])
        self._notify_saved()

    def _notify_saved(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return                               # not started (a CLI reading the store): nobody waits
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        for listener in self.on_cluster_saved:
            if on_loop:
                listener()
            else:                                # a save from a worker thread
                loop.call_soon_threadsafe(listener)

    def cluster_dir(self, cluster: dict) -> Path:
        return self.data_dir / "clusters" / cluster["Uuid"]

    def clusters(self, region: str | None = None) -> list[dict]:
        """The cluster documents of a region (of every region with None)."""
        return self.store.list("cluster", region=region)

    def clusters_page(self, region: str, account_id: str, name_prefix: str = "", *, offset: int = 0,
                      limit: int = 100) -> tuple[list[tuple[str, str]], int]:
        """One page of a region's clusters of an account whose names start with `name_prefix`, as
        (ARN, stored JSON text) rows, and how many there are (the ARN, the store's key, begins with
        region, account and name)."""
        arn_prefix = model.cluster_arn(region, account_id, name_prefix, "")[:-1]   # up to the name prefix
        return self.store.page_raw("cluster", region=region, id_prefix=arn_prefix, offset=offset, limit=limit)

    def operations(self, cluster_arn: str) -> list[dict]:
        return self.store.list("operation", parent=cluster_arn)

    def get_operation(self, operation_arn: str) -> dict | None:
        return self.store.get("operation", operation_arn)

    async def set_zone_outage(self, cluster_arn: str, zone_id: str, down: bool) -> list[str]:
        """Freeze (down) or thaw the cluster's nodes in one zone (control/outages.py); returns the node
        directory names changed. LookupError if there is no such cluster."""
        cluster = self.load_cluster(cluster_arn)
        if cluster is None:
            raise LookupError(cluster_arn)
        return await set_zone_outage(self, cluster, zone_id, down)

    def address_allocator(self, region: str):
        """subnet document -> a free address of it when its VPC is wired, else None (loopback layout)."""
        return self.vpc.allocator(region)

    def allocate_slot(self, cluster_arn: str) -> int:
        if getattr(self.placement, "places_nothing", False):
            # No process will listen on the slot's addresses (OPENMSK_PLACEMENT=none): claim nothing
            # machine-wide, so an API benchmark may hold hundreds of clusters without taking other
            # installations' slots; numbers repeat after the last slot.
            return self.store.count("cluster") % slots.MAX_CLUSTER_SLOT + 1
        return slots.claim(self.data_dir, cluster_arn, {c["Slot"] for c in self.store.list("cluster")})

    # -- commands from the services layer ---------------------------------------------------------
    def create_cluster(self, cluster: dict, steps: list[str]) -> dict:
        op = model.new_operation(cluster, "CREATE", steps)
        cluster["ActiveOperationArn"] = op["OperationArn"]
        self.store.put("operation", op["OperationArn"], op, region=cluster["Region"], parent=cluster["ClusterArn"])
        self.save_cluster(cluster)
        self.vpc.request_sync()              # its nodes are now members of its security groups
        self.submit(cluster["ClusterArn"])
        return op

    def delete_cluster(self, cluster: dict) -> dict:
        previous = cluster.get("ActiveOperationArn")
        if previous:
            prev = self.store.get("operation", previous)
            if prev and model.op_running(prev):
                prev.update(OperationState=model.op_states(prev["OperationType"])[2], EndTime=model.now_iso(),
                            ErrorInfo={"ErrorCode": "CANCELLED", "ErrorString": "Cluster deletion requested"})
                self.store.put("operation", previous, prev, region=cluster["Region"], parent=cluster["ClusterArn"])
        op = model.new_operation(cluster, "DELETE", model.DELETE_STEPS)
        cluster.update(State=model.DELETING, ActiveOperationArn=op["OperationArn"])
        self.store.put("operation", op["OperationArn"], op, region=cluster["Region"], parent=cluster["ClusterArn"])
        self.save_cluster(cluster)
        self.submit(cluster["ClusterArn"], restart=True)
        return op

    # -- bookkeeping used by the reconciler --------------------------------------------------------
    def _active_operation(self, cluster: dict) -> dict | None:
        arn = cluster.get("ActiveOperationArn")
        return self.store.get("operation", arn) if arn else None

    def set_operation_step(self, cluster: dict, step: str, status: str) -> None:
        op = self._active_operation(cluster)
        if op is None:
            return
        if op["OperationState"] == model.OP_PENDING:
            op["OperationState"] = model.op_states(op["OperationType"])[0]
        steps = op.setdefault("OperationSteps", [])
        entry = next((s for s in steps if s["StepName"] == step), None)
        if entry is None:
            entry = {"StepName": step, "StepInfo": {}}
            steps.append(entry)
        entry["StepInfo"]["StepStatus"] = status
        self.store.put("operation", op["OperationArn"], op, region=cluster["Region"], parent=cluster["ClusterArn"])

    def note_started(self, cluster: dict, node_name: str, status) -> None:
        if status.adopted:
            return
        fresh = self.load_cluster(cluster["ClusterArn"]) or cluster
        if fresh["State"] not in (model.CREATING,):
            model.add_event(fresh, f"{node_name.split('/')[-1]} started (pid {status.pid})")
            self.save_cluster(fresh)

    def secret_changed(self, secret_arn: str) -> None:
        for cluster in self.store.list("cluster"):
            if secret_arn in (cluster.get("ScramSecrets") or []):
                self.submit(cluster["ClusterArn"])

    def note_event(self, cluster: dict, message: str) -> None:
        fresh = self.load_cluster(cluster["ClusterArn"])
        if fresh is not None:
            model.add_event(fresh, message)
            self.save_cluster(fresh)

    def client_ca_pem(self, region: str, ca_arn: str) -> str:
        """PEM of an ACM PCA certificate authority (mTLS client CAs for the brokers' truststores)."""
        return self.client_cas.ca_certificate_pem(ca_arn).decode()

    def start_update(self, cluster: dict, operation_type: str, target: dict, source: dict,
                     steps: list[str] | None = None, state: str = model.UPDATING) -> dict:
        """Persist an update of the desired state: UPDATING (or `state`), a new CurrentVersion, an operation
        listing `steps` (default model.UPDATE_STEPS); reconcile."""
        steps = model.steps_for(steps or model.UPDATE_STEPS, is_kraft(cluster["Spec"]["KafkaVersion"]))
        if cluster.get("VersionUpgrade"):
            steps.append(model.UPGRADE_FINALIZE)
        op = model.new_operation(cluster, operation_type, steps, source=source, target=target)
        cluster.update(State=state, ActiveOperationArn=op["OperationArn"], CurrentVersion=model.new_current_version())
        self.store.put("operation", op["OperationArn"], op, region=cluster["Region"], parent=cluster["ClusterArn"])
        self.save_cluster(cluster)
        self.vpc.request_sync()              # brokers added by the update: the cluster's nodes must admit them
        self.submit(cluster["ClusterArn"])
        return op

    def finish_operation(self, cluster: dict, *, ok: bool, state: str, error: tuple[str, str] | None = None,
                         state_info: dict | None = None) -> None:
        fresh = self.load_cluster(cluster["ClusterArn"])
        if fresh is None or fresh["State"] == model.DELETING:
            return                      # a delete overtook this reconcile; it owns the record now
        op = self._active_operation(fresh)
        if op is not None:
            _, complete, failed = model.op_states(op["OperationType"])
            op.update(OperationState=complete if ok else failed, EndTime=model.now_iso())
            if error:
                op["ErrorInfo"] = {"ErrorCode": error[0], "ErrorString": error[1]}
            self.store.put("operation", op["OperationArn"], op, region=fresh["Region"], parent=fresh["ClusterArn"])
        if fresh["State"] != state:
            model.add_event(fresh, f"state {fresh['State']} -> {state}")
        fresh["State"] = state
        fresh.pop("ActiveOperationArn", None)
        if state_info:
            fresh["StateInfo"] = state_info
        else:
            fresh.pop("StateInfo", None)
        self.save_cluster(fresh)

    def _retry_delay(self, arn: str) -> float:
        """Record one more consecutive failure of the cluster's reconcile; the delay before the next."""
        failures = self._backoff.get(arn, (0, 0.0))[0] + 1
        delay = min(HEAL_RETRY_DELAY * 2 ** (failures - 1), MAX_RETRY_DELAY)
        self._backoff[arn] = (failures, time.monotonic() + delay)
        return delay

    def heal_later(self, cluster: dict, reason: str) -> None:
        fresh = self.load_cluster(cluster["ClusterArn"])
        if fresh is None or fresh["State"] == model.DELETING:
            return
        delay = self._retry_delay(fresh["ClusterArn"])
        fresh["State"] = model.HEALING
        model.add_event(fresh, f"healing incomplete: {reason}; retrying in {delay:.0f}s")
        self.save_cluster(fresh)
        asyncio.get_running_loop().call_later(delay, self.submit, fresh["ClusterArn"])

    def converge_later(self, cluster: dict, reason: str) -> None:
        """A roll failed: the supervisor's drift check tries again after a back-off."""
        delay = self._retry_delay(cluster["ClusterArn"])
        self.note_event(cluster, f"nodes not converged ({reason}); next attempt in {delay:.0f}s")

    def converged(self, cluster: dict) -> None:
        self._backoff.pop(cluster["ClusterArn"], None)

    def _crash_delay(self, node_name: str) -> float:
        """Record a crash of the node; 0 for a first crash, then an exponential, capped back-off."""
        now = time.monotonic()
        crashes = [t for t in self._crashes.get(node_name, []) if now - t < CRASH_WINDOW] + [now]
        self._crashes[node_name] = crashes
        return 0.0 if len(crashes) < 2 else min(HEAL_RETRY_DELAY * 2 ** (len(crashes) - 2), MAX_RETRY_DELAY)

    def restart_allowed(self, cluster: dict, node_name: str, status) -> bool:
        """For sidecars found exited: restart now, or wait out a back-off if it keeps crashing."""
        if status.phase != "exited" or status.exit_code is None:
            return True
        not_before = self._backoff.get(node_name, (0, 0.0))[1]
        if time.monotonic() < not_before:
            return False
        delay = self._crash_delay(node_name)
        if delay:
            self._backoff[node_name] = (0, time.monotonic() + delay)
            self.note_event(cluster, f"{node_name.split('/')[-1]} keeps exiting (code {status.exit_code}); "
                                     f"next restart in {delay:.0f}s")
        return True

    def finish_deletion(self, cluster: dict) -> None:
        for op in self.operations(cluster["ClusterArn"]):
            self.store.delete("operation", op["OperationArn"])
        self.store.delete("cluster", cluster["ClusterArn"])
        self.vpc.request_sync()              # its addresses leave its security groups
        slots.release(self.data_dir, cluster["Slot"])
        log.info("cluster %s deleted", cluster["ClusterName"])

    # -- reconcile scheduling ----------------------------------------------------------------------
    def submit(self, arn: str, *, restart: bool = False) -> None:
        if self._stopping or arn in self._refused:
            return                      # shutting down / another installation's slot: start nothing
        task = self._tasks.get(arn)
        if task is not None and not task.done():
            if restart:
                task.cancel()           # deletion wins over an in-flight create/heal
            else:
                self._again.add(arn)
                return
        self._tasks[arn] = asyncio.create_task(self._run(arn, task if restart else None), name=f"reconcile {arn}")

    async def _run(self, arn: str, previous: asyncio.Task | None) -> None:
        try:
            await self._reconcile_until_settled(arn, previous)
        finally:
            self._supervisor_wake.set()          # no longer busy: the supervisor watches its nodes again

    async def _reconcile_until_settled(self, arn: str, previous: asyncio.Task | None) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        while True:
            self._again.discard(arn)
            try:
                await ClusterReconciler(self, arn).reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile of %s crashed; retrying in %.0fs", arn, HEAL_RETRY_DELAY)
                await asyncio.sleep(HEAL_RETRY_DELAY)
                self._again.add(arn)
            if arn not in self._again:
                return

    def busy(self, arn: str) -> bool:
        task = self._tasks.get(arn)
        return task is not None and not task.done()

    # -- supervision -----------------------------------------------------------------------------
    async def _supervise(self) -> None:
        watched: list[str] = []
        await asyncio.sleep(SUPERVISE_INTERVAL)
        while True:
            self._supervisor_wake.clear()        # saves from here on (this pass's own too) wake the next
            try:
                watched = await self._check_nodes()
                if time.monotonic() >= self._next_drift_check:
                    self._next_drift_check = time.monotonic() + CONVERGE_CHECK_INTERVAL
                    cpu = time.process_time()
                    await self._check_drift()
                    if DEBUG_PASS_CPU:          # bench/README.md, issue 15 (relay_service.py logs its passes)
                        log.info("drift check took %.3f ms of CPU", (time.process_time() - cpu) * 1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("supervisor pass failed")
            await self._wait_for_change(watched)

    async def _wait_for_change(self, watched: list[str]) -> None:
        """Until a watched node exits, a cluster is saved or a reconcile ends (then at most one pass a
        second), or the next drift check is due."""
        passed = time.monotonic()
        timeout = max(0.0, self._next_drift_check - passed)
        exited = asyncio.ensure_future(self.placement.wait_exit(watched, timeout))
        woken = asyncio.ensure_future(self._supervisor_wake.wait())
        try:
            await asyncio.wait({exited, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (exited, woken):
                waiter.cancel()
            await asyncio.gather(exited, woken, return_exceptions=True)
        if exited.cancelled() or exited.exception() is not None:
            if not exited.cancelled():
                log.error("waiting for node exits failed; polling", exc_info=exited.exception())
            await asyncio.sleep(max(0.0, passed + SUPERVISE_INTERVAL - time.monotonic()))

    async def _report_stopped_nodes(self, cluster: dict) -> None:
        """At start-up: an ACTIVE cluster whose nodes stopped while the control plane was away is HEALING
        until the reconciler has them running again (clients should not be told it is fine)."""
        if cluster["State"] != model.ACTIVE:
            return
        layout = ClusterLayout(cluster, self.cluster_dir(cluster))
        down = []
        for node in [*layout.quorum_nodes(), *layout.brokers()]:
            status = await self.placement.observe(node.name)
            if not status.running or status.stopping:      # stopping: the previous one sent it SIGTERM
                down.append(node.name.split("/")[-1])
        if down:
            log.warning("cluster %s: %s not running; restarting", cluster["ClusterName"], ", ".join(down))
            model.add_event(cluster, f"{', '.join(down)} not running at control-plane start; restarting")
            cluster["State"] = model.HEALING
            self.save_cluster(cluster)

    def _supervised(self, cluster: dict) -> bool:
        arn = cluster["ClusterArn"]
        return cluster["State"] == model.ACTIVE and not self.busy(arn) and arn not in self._refused

    async def _check_nodes(self) -> list[str]:
        """Heal supervised clusters with a node down; returns the nodes seen running (to wait on)."""
        running = []
        for cluster in self.store.list("cluster", states=(model.ACTIVE,)):
            if not self._supervised(cluster):
                continue
            layout = ClusterLayout(cluster, self.cluster_dir(cluster))
            nodes = [*layout.quorum_nodes(), *layout.brokers()]
            down = []
            for node in nodes:
                status = await self.placement.observe(node.name)
                if not status.running or status.stopping:
                    down.append((node.name, status))
            if not down:
                running += [node.name for node in nodes]
                continue
            delay = 0.0
            for name, status in down:
                short = name.split("/")[-1]
                if status.stopping_since is not None:
                    # Stopped on purpose (a stop recorded by the placement) and never started again: the
                    # control plane that stopped it went away in between. Not a crash: no back-off.
                    log.warning("cluster %s: %s was stopped and not started again; starting it",
                                cluster["ClusterName"], short)
                    model.add_event(cluster, f"{short} was stopped by a control plane that did not start it "
                                             f"again; starting it")
                    continue
                code = "unknown" if status.exit_code is None else status.exit_code
                log.warning("cluster %s: %s exited unexpectedly (exit code %s); healing",
                            cluster["ClusterName"], short, code)
                delay = max(delay, self._crash_delay(name))
                model.add_event(cluster, f"{short} exited unexpectedly (exit code {code}); replacing it"
                                + (f" in {delay:.0f}s (it keeps crashing)" if delay else ""))
            cluster["State"] = model.HEALING
            self.save_cluster(cluster)
            if delay:
                asyncio.get_running_loop().call_later(delay, self.submit, cluster["ClusterArn"])
            else:
                self.submit(cluster["ClusterArn"])
        return running

    async def _check_drift(self) -> None:
        """Convergence outside updates: an ACTIVE cluster with a node whose running spec is not its
        desired one (a roll that failed, a certificate due, a sidecar missing) gets a reconcile, after
        the back-off of its previous failure."""
        for cluster in self.store.list("cluster", states=(model.ACTIVE,)):
            arn = cluster["ClusterArn"]
            if not self._supervised(cluster) or time.monotonic() < self._backoff.get(arn, (0, 0.0))[1]:
                continue
            drifted = await ClusterReconciler(self, arn).drifted(cluster)
            if drifted:
                log.info("cluster %s: converging %s", cluster["ClusterName"], ", ".join(n.split("/")[-1] for n in drifted))
                self.submit(arn)
