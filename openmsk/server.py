"""Assembly of the running service: control plane + providers + HTTP gateway on one endpoint."""
from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from aiohttp import web

from . import config
from .api.gateway import create_app
from .control.keys import KeyStore
from .control.plane import ControlPlane
from .control.topic_admin import TopicAdmin
from .control.secrets import SecretStore
from .services.acm_pca import AcmPcaProvider
from .services.ec2 import Ec2Provider
from .services.kafka import KafkaProvider
from .services.kafka.policies import ClusterPolicyStore
from .services.kms import KmsProvider
from .services.secretsmanager import SecretsManagerProvider
from .services.cloudwatch import AlarmBackend, AlarmEvaluator, CloudWatchProvider, alarm_interval
from . import telemetry

log = logging.getLogger("openmsk")


def build_providers(plane: ControlPlane) -> list:
    plane.keys = KeyStore(plane.store, plane.data_dir, plane.account_id)
    plane.secrets = SecretStore(plane.store, plane.keys)
    plane.secrets.on_change(plane.secret_changed)      # a new SCRAM password reaches the brokers
    metrics, alarms = telemetry.install(plane), AlarmBackend(plane.store)
    plane.background_services.append(AlarmEvaluator(metrics, alarms, alarm_interval()))
    return [_with_topics(KafkaProvider(plane), plane), Ec2Provider(plane), CloudWatchProvider(metrics, alarms),
            AcmPcaProvider(plane), KmsProvider(plane), SecretsManagerProvider(plane)]



def _with_topics(kafka: KafkaProvider, plane: ControlPlane) -> KafkaProvider:
    """Topic APIs through admin child processes; cluster policies as the service's own documents (issue 9)."""
    kafka.topic_admin = TopicAdmin(plane)
    kafka.cluster_policies = ClusterPolicyStore(plane.store)
    return kafka


async def serve(host: str, port: int, data_dir: Path, *, stop_data_plane_on_exit: bool = False,
                on_ready=None) -> None:
    config.require_loopback(host)
    creds = config.credentials(data_dir)
    plane = ControlPlane(data_dir, config.ACCOUNT_ID)
    lookup = {creds.access_key_id: creds.secret_access_key}.get
    app = create_app(build_providers(plane), lookup, account_id=config.ACCOUNT_ID)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    config.write_endpoint(data_dir, host, port)
    await plane.start()
    log.info("openmsk listening on http://%s:%d (data dir %s)", host, port, data_dir)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if on_ready is not None:
        asyncio.create_task(on_ready(f"http://{host}:{port}", creds, Path(data_dir)))
    await stop.wait()
    log.info("shutting down%s", " and stopping all brokers" if stop_data_plane_on_exit else
             "; brokers and ZooKeeper keep running (`openmsk down` stops them)")
    await runner.cleanup()
    if stop_data_plane_on_exit:
        await plane.stop_data_plane()
    await plane.stop()
