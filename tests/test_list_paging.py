"""ListClusters pages from the store (only the page is decoded and rendered): MaxResults/NextToken in
creation order, ClusterNameFilter as a name prefix, across pages; on a service that places no JVM."""
from __future__ import annotations

import time

import pytest

from harness import Service, free_port


@pytest.fixture(scope="module")
def api_only(tmp_path_factory):
    svc = Service(tmp_path_factory.mktemp("paging") / "data", free_port()).start(env={"OPENMSK_PLACEMENT": "none"})
    yield svc
    svc.stop_everything()


def test_list_clusters_pages_and_name_prefix(api_only):
    kafka = api_only.client("kafka")
    subnets = api_only.default_subnets(3)
    names = ["alpha-1", "alpha-2", "beta-1", "alpha-3", "al", "beta-2", "alpha-4"]
    arns = [kafka.create_cluster(ClusterName=n, KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
                                 BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large", "ClientSubnets": subnets}
                                 )["ClusterArn"] for n in names]

    def all_pages(**kw):
        seen, tokens = [], []
        token = None
        while True:
            page = kafka.list_clusters(**kw, **({"NextToken": token} if token else {}))
            seen += [c["ClusterName"] for c in page["ClusterInfoList"]]
            token = page.get("NextToken")
            if not token:
                return seen, tokens
            tokens.append(token)

    assert all_pages() == (names, [])
    listed, tokens = all_pages(MaxResults=3)
    assert listed == names and len(tokens) == 2
    assert all_pages(ClusterNameFilter="alpha")[0] == ["alpha-1", "alpha-2", "alpha-3", "alpha-4"]
    assert all_pages(ClusterNameFilter="al", MaxResults=2)[0] == ["alpha-1", "alpha-2", "alpha-3", "al", "alpha-4"]
    assert all_pages(ClusterNameFilter="gamma") == ([], [])
    first = kafka.list_clusters(MaxResults=1)["ClusterInfoList"][0]
    assert first["ClusterArn"] == arns[0] and first["BrokerNodeGroupInfo"]["InstanceType"] == "kafka.m5.large"
    with pytest.raises(kafka.exceptions.BadRequestException):
        kafka.list_clusters(NextToken="not-a-token")
    # Another region sees none of them.
    assert api_only.client("kafka", region="eu-west-1").list_clusters()["ClusterInfoList"] == []


def test_list_clusters_shows_each_change_of_a_listed_cluster(api_only):
    """ListClusters keeps each cluster's rendered entry while its stored document is unchanged: a
    change (tags, a deletion) must still show on the very next call, as DescribeCluster shows it."""
    kafka = api_only.client("kafka")
    arn = kafka.create_cluster(ClusterName="kept-1", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
                               BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                    "ClientSubnets": api_only.default_subnets(3)})["ClusterArn"]

    def listed() -> dict:
        return next(c for c in kafka.list_clusters(ClusterNameFilter="kept-")["ClusterInfoList"]
                    if c["ClusterArn"] == arn)

    def listed_v2() -> dict:
        return next(c for c in kafka.list_clusters_v2(ClusterNameFilter="kept-", ClusterTypeFilter="PROVISIONED"
                                                      )["ClusterInfoList"] if c["ClusterArn"] == arn)

    # Placement "none" starts no JVM, so the creation ends FAILED: wait until the document settles.
    deadline = time.monotonic() + 120
    while kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["State"] == "CREATING":
        assert time.monotonic() < deadline, "the creation never settled"
        time.sleep(0.5)
    before = listed()
    assert listed() == before == kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
    assert listed_v2() == listed_v2() == kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]
    kafka.tag_resource(ResourceArn=arn, Tags={"team": "payments"})
    assert listed()["Tags"] == {"team": "payments"} == kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["Tags"]
    assert listed_v2()["Tags"] == {"team": "payments"}
    kafka.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert listed()["Tags"] == {} and listed_v2()["Tags"] == {}
    kafka.delete_cluster(ClusterArn=arn)
    listed_now = [c for c in kafka.list_clusters(ClusterNameFilter="kept-")["ClusterInfoList"] if c["ClusterArn"] == arn]
    assert listed_now == [] or listed_now[0]["State"] == "DELETING"
