"""`openmsk create NAME [--wait]`: CreateCluster with the defaults a laptop wants (one broker per zone
in the region's default subnets, TLS as on MSK), then optionally the `openmsk wait` progress display.

A shortcut, not a second API: it sends the same CreateCluster request `aws kafka create-cluster`
would (printed with --dry-run), so everything it creates is an ordinary MSK cluster.
"""
from __future__ import annotations

import json

from .common import EXIT_OK, Api, CliError, api_call, say
from .wait import wait


def request(args, subnets: list[dict]) -> dict:
    defaults = sorted((s for s in subnets if s.get("DefaultForAz")), key=lambda s: s["AvailabilityZone"])
    if len(defaults) < args.zones:
        raise CliError(f"the region has {len(defaults)} default subnets; --zones {args.zones} needs as many")
    if args.brokers % args.zones:
        raise CliError(f"--brokers {args.brokers} is not a multiple of --zones {args.zones} (MSK's rule)")
    return {"ClusterName": args.name, "KafkaVersion": args.kafka_version, "NumberOfBrokerNodes": args.brokers,
            "BrokerNodeGroupInfo": {"InstanceType": args.instance_type,
                                    "ClientSubnets": [s["SubnetId"] for s in defaults[:args.zones]]}}


def cmd_create(args) -> int:
    api = Api.from_args(args)
    kafka, ec2 = api.client("kafka"), api.client("ec2")
    req = request(args, api_call(ec2.describe_subnets)["Subnets"])
    if args.dry_run:
        say(json.dumps(req, indent=2))
        return EXIT_OK
    arn = api_call(kafka.create_cluster, **req)["ClusterArn"]
    say(arn)
    if not args.wait:
        return EXIT_OK
    return api_call(wait, kafka, arn, "ACTIVE", args.timeout, args.interval, args.quiet, api)


def register(add) -> None:
    p = add("create", cmd_create, "create a cluster (one broker per zone by default) and, with --wait, show its "
                                  "progress until ACTIVE")
    p.add_argument("name", help="cluster name")
    p.add_argument("--brokers", type=int, default=3, help="number of brokers (default 3)")
    p.add_argument("--zones", type=int, default=3, help="zones (default subnets) to spread them over (default 3)")
    p.add_argument("--instance-type", default="kafka.m5.large", help="broker instance type (default kafka.m5.large)")
    p.add_argument("--kafka-version", default="3.9.x", help="Kafka version (default 3.9.x)")
    p.add_argument("--wait", action="store_true", help="wait for ACTIVE, showing steps and node readiness")
    p.add_argument("--timeout", type=float, default=900, help="seconds --wait waits (default 900)")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between progress polls (default 0.5)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--dry-run", action="store_true", help="print the CreateCluster request instead of sending it")
    p.add_argument("--region", help="AWS region (default us-east-1)")
    p.add_argument("--port", type=int, help="service port (default: the one `openmsk serve` recorded)")
