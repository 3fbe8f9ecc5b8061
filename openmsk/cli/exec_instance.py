"""`openmsk exec --subnet SUBNET [--security-group SG ...] -- CMD ...`: run any command (kcat, the Kafka
tools, a Python client) as an EC2 instance placed in that subnet with those security groups, in its
own network namespace, so security groups can be seen acting on stock tools. The service places the
instance (services/instances.py); this process enters its namespace, runs the command, and asks for
the instance to be removed when it ends. Needs the namespace layout (docs/networking.md) and root.
"""
from __future__ import annotations

import subprocess

from ..services.instances import INSTANCES_PATH, TERMINATE_PATH
from .common import Api, CliError, say


def cmd_exec(args) -> int:
    command = list(args.cmd)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise CliError("nothing to run: openmsk exec --subnet SUBNET [--security-group SG] -- COMMAND ...")
    api = Api.from_args(args)
    instance = api.operator(INSTANCES_PATH, {"SubnetId": args.subnet, "SecurityGroupIds": args.security_group or []})
    if args.verbose:
        say(f"instance {instance['InstanceId']}: {instance['Address']} in {instance['SubnetId']} "
            f"({', '.join(instance['SecurityGroups'])})", err=True)
    try:
        return subprocess.call(["nsenter", f"--net=/run/netns/{instance['Namespace']}", "--", *command])
    finally:
        api.operator(TERMINATE_PATH, {"InstanceId": instance["InstanceId"]})


def register(add) -> None:
    p = add("exec", cmd_exec, "run a command as an instance in a subnet with security groups (its own network "
                              "namespace on the VPC)")
    p.add_argument("--subnet", required=True, help="subnet id")
    p.add_argument("--security-group", action="append", help="security group id (repeatable; default: the VPC's "
                                                             "default group)")
    p.add_argument("--region", help="AWS region (default us-east-1)")
    p.add_argument("--port", type=int, help="service port (default: the one `openmsk serve` recorded)")
    p.add_argument("-v", "--verbose", action="store_true", help="print the instance's address on stderr")
    p.add_argument("cmd", nargs="...", help="-- COMMAND [ARG ...]")
