"""The running service: the object graph from app.py behind the HTTP gateway on one endpoint."""
from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from aiohttp import web

from . import app as composition, config
from .api.gateway import create_app
from .console import console_routes

log = logging.getLogger("openmsk")


async def serve(host: str, port: int, data_dir: Path, *, stop_data_plane_on_exit: bool = False,
                on_ready=None) -> None:
    config.require_loopback(host)
    creds = config.credentials(data_dir)
    installation = composition.build(data_dir, config.ACCOUNT_ID, admin_key_id=creds.access_key_id)
    plane = installation.plane
    admin = {creds.access_key_id: creds.secret_access_key}

    def lookup(key_id: str) -> str | None:      # the installation's key, else IAM users' keys and sessions
        return admin.get(key_id) or installation.accounts.secret(key_id)   # every account's keys
    broker_auth = installation.broker_auth(admin.get)
    app = create_app(installation.providers(), lookup, account_id=config.ACCOUNT_ID,
                     authorize=installation.authorizer(), internal_lookup_secret=admin.get,
                     extra_routes=installation.internal_routes(),
                     web_routes=console_routes(installation, lookup),     # the web console at /console/
                     broker_routes=broker_auth.routes(), broker_token=broker_auth.channel_token)
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
