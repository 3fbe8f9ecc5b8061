"""The `openmsk` command: run the service and the things the AWS CLI does not cover.

Exit codes: 0 success, 1 operation failed (e.g. cluster FAILED), 2 usage error, 3 service unreachable.
The service commands live here; the operator commands (status, describe-cluster, wait, client-config,
zk, logs, zone) each live in a module of their own that registers its subcommand (see COMMAND_MODULES).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import shlex
import sys
import urllib.request
from pathlib import Path

from .. import config
from . import (account, ca_cert, cds, client_config, create, describe, exec_instance, logs, rebalance, status, versions, wait, zk,
               zone)
from .common import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, CliError

COMMAND_MODULES = (ca_cert, status, describe, create, wait, client_config, zk, logs, zone, exec_instance, versions,
                   rebalance, cds, account)


def _data_dir(args) -> Path:
    return Path(args.data_dir) if args.data_dir else config.default_data_dir()


def _endpoint(args) -> str:
    host, port = config.read_endpoint(_data_dir(args))
    if getattr(args, "port", None):
        port = args.port
    return f"http://{host}:{port}"


def _service_up(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(endpoint + "/_openmsk/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def cmd_serve(args) -> int:
    from ..runtime.jvm_flags import UnknownProfile, jvm_profile
    from ..server import serve
    try:
        profile = jvm_profile()         # refused here, not when the first broker starts
    except UnknownProfile as exc:
        print(f"openmsk serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    data_dir = _data_dir(args)
    data_dir.mkdir(parents=True, exist_ok=True)
    _setup_logging(args.log_level, data_dir)
    if profile != "standard":
        logging.getLogger("openmsk").info("JVM profile %s (OPENMSK_JVM_PROFILE): brokers and controllers "
                                          "at C1 only", profile)
    on_ready = None
    if args.demo:
        from .demo import run_demo
        on_ready = run_demo
    asyncio.run(serve(args.host, args.port, data_dir, stop_data_plane_on_exit=args.stop_data_plane_on_exit,
                      on_ready=on_ready))
    return EXIT_OK


def cmd_env(args) -> int:
    data_dir = _data_dir(args)
    try:
        creds = config.credentials(data_dir, create=False)
    except FileNotFoundError as exc:
        print(f"openmsk env: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    region = args.region or config.DEFAULT_REGION
    # Host-prefix injection off: operations AWS serves on a prefixed host (StartLiveTail's `stream-`)
    # would otherwise be sent to `stream-127.0.0.1`, which does not resolve.
    for key, value in (("AWS_ENDPOINT_URL", _endpoint(args)), ("AWS_ACCESS_KEY_ID", creds.access_key_id),
                       ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key), ("AWS_DEFAULT_REGION", region),
                       ("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")):
        print(f"export {key}={shlex.quote(value)}")
    return EXIT_OK


def cmd_down(args) -> int:
    data_dir = _data_dir(args)
    if _service_up(_endpoint(args)):
        print("openmsk down: the service is running and would restart the nodes; stop `openmsk serve` first "
              "(or delete clusters with `aws kafka delete-cluster`)", file=sys.stderr)
        return EXIT_FAILED
    from ..app import local_plane

    async def run():
        plane = local_plane(data_dir)
        await plane.stop_data_plane()
        await plane.stop()
    asyncio.run(run())
    print("all brokers and ZooKeeper nodes stopped; `openmsk serve` starts them again")
    return EXIT_OK


def _setup_logging(level: str, data_dir: Path) -> None:
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=getattr(logging, level.upper()), format=fmt,
                        handlers=[logging.StreamHandler(), logging.FileHandler(data_dir / "logs" / "openmsk.log")])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openmsk", description="Amazon MSK-compatible Kafka clusters on this machine.",
        epilog="Exit codes: 0 ok, 1 failed, 2 usage error, 3 service unreachable. "
               "Clusters are created and changed with the aws CLI (`eval \"$(openmsk env)\"`, then `aws kafka ...`).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name, fn, help):
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--data-dir", help=f"state directory (default {config.default_data_dir()})")
        p.set_defaults(fn=fn)
        return p

    p = add("serve", cmd_serve, "run the control plane and its AWS-compatible endpoint in the foreground")
    p.add_argument("--host", default=config.DEFAULT_HOST, help="loopback address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=config.DEFAULT_PORT, help="port (default 9700)")
    p.add_argument("--demo", action="store_true", help="create a demo 3-zone cluster and show how to use it")
    p.add_argument("--stop-data-plane-on-exit", action="store_true",
                   help="stop all brokers and ZooKeeper nodes when the service exits (default: leave them running)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    p = add("env", cmd_env, "print export lines that point the aws CLI and SDKs at openmsk")
    p.add_argument("--port", type=int, help="override the port recorded by `openmsk serve`")
    p.add_argument("--region", help=f"AWS_DEFAULT_REGION to print (default {config.DEFAULT_REGION})")

    add("down", cmd_down, "stop every broker and ZooKeeper node (the service must not be running)")
    for module in COMMAND_MODULES:
        module.register(add)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "fn", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.fn(args)
    except CliError as exc:
        print(f"openmsk {args.command}: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
