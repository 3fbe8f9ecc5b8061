"""`openmsk wait`: block until a cluster reaches a state, showing the operation's progress.

Exit 0 when the state is reached; 1 when the cluster FAILED (unless that was awaited), disappeared
(unless DELETED was awaited) or the timeout passed; 3 when the service is unreachable.
Progress (cli/progress.py): the state, the running operation's steps from DescribeClusterOperation
with the time each finished, and each node's readiness while the cluster is being created, updated
or healed; redrawn in place on a terminal, one line per change otherwise.
"""
from __future__ import annotations

import sys
import time

from .common import EXIT_OK, Api, CliError, api_call, resolve_cluster
from .progress import Progress

STATES = ("ACTIVE", "CREATING", "DELETING", "FAILED", "HEALING", "MAINTENANCE", "REBOOTING_BROKER",
          "UPDATING", "DELETED")
NODE_STATES = ("CREATING", "UPDATING", "HEALING", "REBOOTING_BROKER", "MAINTENANCE")


def _operation(kafka, info: dict) -> dict | None:
    op_arn = info.get("ActiveOperationArn")
    if not op_arn:
        return None
    try:
        return kafka.describe_cluster_operation(ClusterOperationArn=op_arn)["ClusterOperationInfo"]
    except Exception:                       # progress is decoration; never fail the wait for it
        return None


def wait(kafka, arn: str, target: str, timeout: float, interval: float, quiet: bool, api: Api | None = None) -> int:
    progress = Progress(api, arn, tty=sys.stdout.isatty(), quiet=quiet) if api else None
    started = time.monotonic()
    last_op = None
    while True:
        elapsed = time.monotonic() - started
        try:
            info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
        except kafka.exceptions.NotFoundException:
            if target == "DELETED":
                if progress:
                    progress.finish("DELETED")
                elif not quiet:
                    print(f"{elapsed:7.1f}s  DELETED", flush=True)
                return EXIT_OK
            raise CliError(f"cluster {arn} no longer exists (waited for {target})")
        state = info["State"]
        op = _operation(kafka, info) if state != target else None
        if state == target and last_op is not None:
            # The operation finished with this state: show its final steps (no longer "active").
            op = _operation(kafka, {"ActiveOperationArn": last_op["OperationArn"]})
        last_op = op or last_op
        if progress:
            progress.update(info, op, state in NODE_STATES, final=state == target)
        elif not quiet:
            print(f"{elapsed:7.1f}s  {state}", flush=True)
        if state == target:
            if progress:
                progress.finish(state)
            return EXIT_OK
        if state == "FAILED":
            reason = info.get("StateInfo") or {}
            raise CliError(f"cluster {info['ClusterName']} is FAILED: {reason.get('Code', '')} "
                           f"{reason.get('Message', '')}".rstrip())
        if elapsed > timeout:
            raise CliError(f"cluster {info['ClusterName']} is still {state} after {timeout:.0f}s "
                           f"(waited for {target})")
        time.sleep(interval)


def cmd_wait(args) -> int:
    api = Api.from_args(args)
    kafka = api.client("kafka")
    if args.state == "DELETED" and args.cluster.startswith("arn:"):
        # An ARN names one cluster for good: one already gone is DELETED (a name could be a typo).
        return api_call(wait, kafka, args.cluster, args.state, args.timeout, args.interval, args.quiet, api)
    info = resolve_cluster(kafka, args.cluster)
    return api_call(wait, kafka, info["ClusterArn"], args.state, args.timeout, args.interval, args.quiet, api)


def register(add) -> None:
    p = add("wait", cmd_wait, "wait until a cluster reaches a state (default ACTIVE), showing progress: steps, "
                              "elapsed time, each node's readiness; exit 0 when reached, 1 on FAILED or timeout")
    p.add_argument("cluster", help="cluster name or ARN")
    p.add_argument("--state", default="ACTIVE", type=str.upper, choices=STATES,
                   help="state to wait for (DELETED: until the cluster is gone)")
    p.add_argument("--timeout", type=float, default=900, help="seconds before giving up (default 900)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between polls (default 1)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--region", help="AWS region (default us-east-1)")
    p.add_argument("--port", type=int, help="service port (default: the one `openmsk serve` recorded)")
