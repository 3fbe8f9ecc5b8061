"""A live openmsk gateway on 127.0.0.1 with small test providers (kafka, monitoring, ec2)."""
import datetime as dt

import pytest

from openmsk.api.core import Provider, ServiceException, handler
from openmsk.api.gateway import create_app

from .helpers import ACCESS_KEY, SECRET_KEY, ServerThread

ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/demo-cluster-1/6357e0b2-0e6a-4b86-a0b4-70df934c2e31-5"
CREATED = dt.datetime(2023, 1, 1, 23, 18, 0, 123000, tzinfo=dt.timezone.utc)


class KafkaTestProvider(Provider):
    service_name = "kafka"

    def __init__(self):
        self.tags: dict[str, dict] = {ARN: {"env": "dev"}}
        self.calls: list[tuple[str, dict]] = []

    def _info(self):
        return {"ClusterArn": ARN, "ClusterName": "demo-cluster-1", "State": "ACTIVE", "CreationTime": CREATED,
                "CurrentVersion": "K3AEGXETSR30VB", "NumberOfBrokerNodes": 3, "Tags": self.tags[ARN],
                "BrokerNodeGroupInfo": {"InstanceType": "kafka.m5.large", "ClientSubnets": ["subnet-1"]}}

    @handler("ListClusters")
    async def list_clusters(self, ctx, request):
        self.calls.append(("ListClusters", request))
        name = request.get("ClusterNameFilter", "")
        return {"ClusterInfoList": [self._info()] if name in "demo-cluster-1" else []}

    @handler("DescribeCluster")
    async def describe_cluster(self, ctx, request):
        self.calls.append(("DescribeCluster", request))
        if request["ClusterArn"] != ARN:
            raise ServiceException("NotFoundException", f"Cluster not found: {request['ClusterArn']}",
                                   InvalidParameter="clusterArn")
        return {"ClusterInfo": self._info()}

    @handler("TagResource")
    async def tag_resource(self, ctx, request):
        self.tags.setdefault(request["ResourceArn"], {}).update(request["Tags"])
        return {}

    @handler("CreateCluster")
    async def create_cluster(self, ctx, request):
        self.calls.append(("CreateCluster", request))
        return {"ClusterArn": ARN.replace("demo-cluster-1", request["ClusterName"]),
                "ClusterName": request["ClusterName"], "State": "CREATING"}

    @handler("CreateConfiguration")
    async def create_configuration(self, ctx, request):
        self.calls.append(("CreateConfiguration", request))
        return {"Arn": f"arn:aws:kafka:{ctx.region}:{ctx.account_id}:configuration/{request['Name']}/x",
                "Name": request["Name"], "CreationTime": CREATED, "State": "ACTIVE",
                "LatestRevision": {"Revision": 1, "CreationTime": CREATED}}

    @handler("ListNodes")
    async def list_nodes(self, ctx, request):
        raise RuntimeError("provider bug")


class CloudWatchTestProvider(Provider):
    service_name = "monitoring"

    def __init__(self):
        self.calls: list[tuple[str, str, dict]] = []

    @handler("GetMetricStatistics")
    async def get_metric_statistics(self, ctx, request):
        self.calls.append(("GetMetricStatistics", ctx.protocol, request))
        if request["Period"] % 60:
            raise ServiceException("InvalidParameterValueException", "The parameter Period must be a multiple of 60.")
        return {"Label": request["MetricName"],
                "Datapoints": [{"Timestamp": request["StartTime"], "Average": 12.5, "Unit": "Percent"}]}

    @handler("PutMetricData")
    async def put_metric_data(self, ctx, request):
        self.calls.append(("PutMetricData", ctx.protocol, request))
        return {}


class Ec2TestProvider(Provider):
    service_name = "ec2"

    @handler("DescribeSubnets")
    async def describe_subnets(self, ctx, request):
        ids = request.get("SubnetIds", ["subnet-1"])
        if "subnet-missing" in ids:
            raise ServiceException("InvalidSubnetID.NotFound", "The subnet ID 'subnet-missing' does not exist")
        return {"Subnets": [{"SubnetId": i, "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24", "State": "available",
                             "AvailabilityZone": f"{ctx.region}a"} for i in ids]}


@pytest.fixture(scope="session")
def providers():
    return {"kafka": KafkaTestProvider(), "monitoring": CloudWatchTestProvider(), "ec2": Ec2TestProvider()}


@pytest.fixture(scope="session")
def server(providers):
    app = create_app(list(providers.values()), {ACCESS_KEY: SECRET_KEY}.get, strict_output=True)
    srv = ServerThread(app).start()
    yield srv
    srv.stop()
