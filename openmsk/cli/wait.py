"""`openmsk wait`: block until a cluster reaches a state, showing the operation's progress.

Exit 0 when the state is reached; 1 when the cluster FAILED (unless that was awaited), disappeared
(unless DELETED was awaited) or the timeout passed; 3 when the service is unreachable.
Progress comes from DescribeCluster and, while an operation runs, DescribeClusterOperation's steps.
"""
from __future__ import annotations

import sys
import time

from .common import EXIT_FAILED, EXIT_OK, Api, CliError, api_call, resolve_cluster, say

STATES = ("ACTIVE", "CREATING", "DELETING", "FAILED", "HEALING", "MAINTENANCE", "REBOOTING_BROKER",
          "UPDATING", "DELETED")


def _progress(kafka, info: dict) -> str:
    op_arn = info.get("ActiveOperationArn")
    if not op_arn:
        return ""
    try:
        op = kafka.describe_cluster_operation(ClusterOperationArn=op_arn)["ClusterOperationInfo"]
    except Exception:                       # progress is decoration; never fail the wait for it
        return ""
    steps = op.get("OperationSteps") or []
    done = sum(1 for s in steps if (s.get("StepInfo") or {}).get("StepStatus") == "COMPLETE")
    current = next((s["StepName"] for s in steps
                    if (s.get("StepInfo") or {}).get("StepStatus") == "IN_PROGRESS"), None)
    text = f"{op.get('OperationType', '')} {done}/{len(steps)} steps"
    return f"{text}, {current}" if current else text


def wait(kafka, arn: str, target: str, timeout: float, interval: float, quiet: bool) -> int:
    started = time.monotonic()
    last = None                             # (state, progress) last printed
    tty = sys.stdout.isatty() and not quiet
    while True:
        elapsed = time.monotonic() - started
        try:
            info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
        except kafka.exceptions.NotFoundException:
            if target == "DELETED":
                if not quiet:
                    say(f"{elapsed:6.1f}s  DELETED")
                return EXIT_OK
            raise CliError(f"cluster {arn} no longer exists (waited for {target})")
        state = info["State"]
        line = f"{elapsed:6.1f}s  {state}"
        progress = _progress(kafka, info) if state != target else ""
        if progress:
            line += f"  ({progress})"
        if tty:
            print(f"\r{line:<78}", end="" if state != target else "\n", flush=True)
        elif (state, progress) != last and not quiet:
            say(line)
        last = (state, progress)
        if state == target:
            return EXIT_OK
        if state == "FAILED":
            if tty:
                print()
            reason = info.get("StateInfo") or {}
            raise CliError(f"cluster {info['ClusterName']} is FAILED: {reason.get('Code', '')} "
                           f"{reason.get('Message', '')}".rstrip())
        if elapsed > timeout:
            if tty:
                print()
            raise CliError(f"cluster {info['ClusterName']} is still {state} after {timeout:.0f}s "
                           f"(waited for {target})")
        time.sleep(interval)


def cmd_wait(args) -> int:
    kafka = Api.from_args(args).client("kafka")
    info = resolve_cluster(kafka, args.cluster)
    return api_call(wait, kafka, info["ClusterArn"], args.state, args.timeout, args.interval, args.quiet)


def register(add) -> None:
    p = add("wait", cmd_wait, "wait until a cluster reaches a state (default ACTIVE), showing progress; "
                              "exit 0 when reached, 1 on FAILED or timeout")
    p.add_argument("cluster", help="cluster name or ARN")
    p.add_argument("--state", default="ACTIVE", type=str.upper, choices=STATES,
                   help="state to wait for (DELETED: until the cluster is gone)")
    p.add_argument("--timeout", type=float, default=900, help="seconds before giving up (default 900)")
    p.add_argument("--interval", type=float, default=1.0, help=f"seconds between polls (default 1)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--region", help="AWS region (default us-east-1)")
    p.add_argument("--port", type=int, help="service port (default: the one `openmsk serve` recorded)")
