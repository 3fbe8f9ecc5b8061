"""What every `openmsk` command shares: exit codes, the way to reach the service (the same endpoint and
credentials `openmsk env` prints, read from the data directory), and finding a cluster by ARN or name.

Commands get their data through the public API (boto3), like any MSK user; only things the API cannot
show (process states, log files) are read from the data directory's node files.
"""
from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass
from pathlib import Path

from .. import config

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


class CliError(Exception):
    """A failure to report as `openmsk <command>: <message>` with a given exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message, self.code = message, code


def data_dir(args) -> Path:
    return Path(args.data_dir) if getattr(args, "data_dir", None) else config.default_data_dir()


def endpoint(args) -> str:
    host, port = config.read_endpoint(data_dir(args))
    if getattr(args, "port", None):
        port = args.port
    return f"http://{host}:{port}"


def say(text: str = "", *, err: bool = False) -> None:
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


@dataclass
class Api:
    """boto3 clients for the local service, built from the data directory."""

    data_dir: Path
    endpoint: str
    region: str

    @classmethod
    def from_args(cls, args) -> "Api":
        return cls(data_dir(args), endpoint(args), getattr(args, "region", None) or config.DEFAULT_REGION)

    def client(self, service: str):
        import boto3
        from botocore.config import Config
        try:
            creds = config.credentials(self.data_dir, create=False)
        except FileNotFoundError:
            raise CliError(f"no openmsk installation in {self.data_dir}: start it with `openmsk serve` "
                           f"(or pass --data-dir)", EXIT_UNREACHABLE)
        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key,
                            config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=3,
                                          read_timeout=30))

    def operator(self, path: str, payload: dict) -> dict:
        """POST to one of openmsk's own routes (services/operator.py), SigV4-signed with the installation
        key as boto3 signs AWS calls; the service's {"Code", "Message"} errors become CliErrors."""
        import json
        import urllib.error
        import urllib.request
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        try:
            creds = config.credentials(self.data_dir, create=False)
        except FileNotFoundError:
            raise CliError(f"no openmsk installation in {self.data_dir}: start it with `openmsk serve` "
                           f"(or pass --data-dir)", EXIT_UNREACHABLE)
        body = json.dumps(payload).encode()
        request = AWSRequest("POST", self.endpoint + path, data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(Credentials(creds.access_key_id, creds.secret_access_key), "openmsk", self.region).add_auth(request)
        prepared = request.prepare()
        http = urllib.request.Request(prepared.url, data=body, headers=dict(prepared.headers), method="POST")
        try:
            with urllib.request.urlopen(http, timeout=60) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                err = json.loads(exc.read())
            except ValueError:
                err = {}
            raise CliError(err.get("Message") or f"{err.get('Code', 'HTTP')} {exc.code}")
        except OSError as exc:
            raise CliError(f"the openmsk service is not reachable at {self.endpoint} ({exc}); "
                           f"start it with `openmsk serve`", EXIT_UNREACHABLE)

    @property
    def ca_path(self) -> Path:
        return self.data_dir / "pki" / "ca.pem"

    def cluster_dir(self, cluster_arn: str) -> Path:
        return self.data_dir / "clusters" / cluster_arn.rsplit("/", 1)[-1]


def api_call(fn, *args, **kwargs):
    """Call boto3, turning connection failures into exit code 3 and API errors into readable ones."""
    from botocore.exceptions import ClientError, EndpointConnectionError
    try:
        return fn(*args, **kwargs)
    except EndpointConnectionError as exc:
        raise CliError(f"the openmsk service is not reachable at {exc.kwargs.get('endpoint_url')}; "
                       f"start it with `openmsk serve`", EXIT_UNREACHABLE)
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise CliError(f"{err.get('Code', 'Error')}: {err.get('Message', exc)}")


def resolve_cluster(kafka, ref: str) -> dict:
    """ClusterInfo of the cluster with this ARN or name (names are unique per region)."""
    if ref.startswith("arn:"):
        return api_call(kafka.describe_cluster, ClusterArn=ref)["ClusterInfo"]
    listed = []
    for page in api_call(lambda: list(kafka.get_paginator("list_clusters").paginate(ClusterNameFilter=ref))):
        listed += page["ClusterInfoList"]
    exact = [c for c in listed if c["ClusterName"] == ref]
    if not exact:
        names = ", ".join(sorted(c["ClusterName"] for c in api_call(kafka.list_clusters)["ClusterInfoList"]))
        raise CliError(f"no cluster named {ref!r} in this region (clusters: {names or 'none'}); "
                       f"pass a name or a cluster ARN")
    return exact[0]


def all_clusters(kafka) -> list[dict]:
    clusters = []
    for page in api_call(lambda: list(kafka.get_paginator("list_clusters").paginate())):
        clusters += page["ClusterInfoList"]
    return sorted(clusters, key=lambda c: c["ClusterName"])


def list_nodes(kafka, arn: str) -> list[dict]:
    nodes = []
    for page in api_call(lambda: list(kafka.get_paginator("list_nodes").paginate(ClusterArn=arn))):
        nodes += page["NodeInfoList"]
    return nodes


@dataclass
class Subnet:
    subnet_id: str
    zone_id: str
    zone_name: str
    cidr: str

    def contains(self, address: str) -> bool:
        try:
            return ipaddress.ip_address(address) in ipaddress.ip_network(self.cidr)
        except ValueError:
            return False


def subnets(ec2) -> dict[str, Subnet]:
    result = api_call(ec2.describe_subnets)["Subnets"]
    return {s["SubnetId"]: Subnet(s["SubnetId"], s["AvailabilityZoneId"], s["AvailabilityZone"], s["CidrBlock"])
            for s in result}


def zone_of(address: str, by_id: dict[str, Subnet], subnet_id: str | None = None) -> Subnet | None:
    if subnet_id and subnet_id in by_id:
        return by_id[subnet_id]
    # Most specific subnet containing the address (ZooKeeper nodes are not in ListNodes).
    matches = [s for s in by_id.values() if s.contains(address)]
    return max(matches, key=lambda s: ipaddress.ip_network(s.cidr).prefixlen) if matches else None
