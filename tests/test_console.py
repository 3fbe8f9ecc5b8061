"""The web console's gate (issue 16) against a real `openmsk serve`, with a plain HTTP client: anonymous
requests go to the sign-in page, POSTs need the session's CSRF token and a same-origin browser, the
cookie is HttpOnly/SameSite=Strict, and no secret reaches a URL or the log. The user journey in a real
browser is tests/test_console_browser.py."""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import time

import pytest
import requests

from harness import Service, free_port
from test_console_browser import _committed
from test_security import _active_pca, make_secret

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def console_service(tmp_path_factory):
    # Metrics every 5 s so a chart moves within the test (MSK's 60 s otherwise).
    svc = Service(tmp_path_factory.mktemp("console") / "data", free_port()).start(
        env={"OPENMSK_METRICS_INTERVAL": "5"})
    yield svc
    svc.stop_everything()


def _signed_in(svc: Service) -> requests.Session:
    creds = svc.credentials
    s = requests.Session()
    r = s.post(f"{svc.endpoint}/console/signin", data={"access_key_id": creds["access_key_id"],
                                                        "secret_access_key": creds["secret_access_key"],
                                                        "region": "us-east-1", "next": "/console/"})
    assert r.status_code == 200 and r.url.endswith("/console/"), r.text[:500]
    return s


def test_anonymous_requests_go_to_sign_in(console_service):
    base = console_service.endpoint
    for path in ("/console/", "/console/create", "/console/clusters/x/y/topics"):
        r = requests.get(base + path, allow_redirects=False)
        assert r.status_code == 303
        assert r.headers["Location"].startswith("/console/signin?next=")
    r = requests.post(base + "/console/create", data={"name": "x"}, allow_redirects=False)
    assert r.status_code == 401
    page = requests.get(base + "/console/signin")
    assert page.status_code == 200 and 'type="password"' in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    # Offline: nothing may come from another origin (no CDN), and the console's own assets are served.
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
    for asset in ("console.css", "console.js"):
        assert requests.get(f"{base}/console/static/{asset}").status_code == 200
    assert not re.search(r'(src|href)="(https?:)?//', page.text)


def test_sign_in_cookie_csrf_and_no_secret_in_logs(console_service):
    base, creds = console_service.endpoint, console_service.credentials
    bad = requests.post(base + "/console/signin", data={"access_key_id": creds["access_key_id"],
                                                        "secret_access_key": "wrong", "next": "/console/"},
                        allow_redirects=False)
    assert bad.status_code == 401 and "not valid" in bad.text
    r = requests.post(base + "/console/signin", data={"access_key_id": creds["access_key_id"],
                                                      "secret_access_key": creds["secret_access_key"],
                                                      "next": "https://evil.example/"}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/console/"          # no open redirect
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console/" in cookie
    assert creds["secret_access_key"] not in r.headers["Location"]

    s = _signed_in(console_service)
    token = CSRF.search(s.get(base + "/console/create").text).group(1)
    form = {"name": "csrf-check", "per_zone": "1", "storage": "10"}
    assert s.post(base + "/console/create", data=form).status_code == 403                     # no token
    assert s.post(base + "/console/create", data={**form, "csrf": "forged"}).status_code == 403
    foreign = s.post(base + "/console/create", data={**form, "csrf": token}, headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    ok = s.post(base + "/console/create", data={**form, "csrf": token, "version": "3.9.x"})
    assert ok.status_code == 400 and ("BadRequestException" in ok.text or "ValidationException" in ok.text)
    assert 'value="csrf-check"' in ok.text                  # the form keeps what was typed
    signed_out = s.post(base + "/console/signout", data={"csrf": token}, allow_redirects=False)
    assert signed_out.status_code == 303
    assert s.get(base + "/console/", allow_redirects=False).status_code == 303
    log = console_service.log_path.read_text()
    assert creds["secret_access_key"] not in log and token not in log


def test_actions_answer_with_the_apis_own_errors(console_service):
    """A cluster action runs the API call as the signed-in key: its refusal is the API's error, shown on
    the page the form was on (here DescribeClusterV2's NotFoundException for a cluster that is not there)."""
    base = console_service.endpoint
    s = _signed_in(console_service)
    page = s.get(base + "/console/")
    token = CSRF.search(page.text).group(1)
    r = s.post(base + "/console/clusters/nope/0000/action/reboot", data={"csrf": token, "broker": "1"},
               headers={"Referer": base + "/console/"})
    assert r.status_code == 200 and r.url == base + "/console/"
    assert "NotFoundException" in r.text and "cluster/nope/0000 does not exist" in r.text


def test_create_form_defaults_to_the_installations_default_version(console_service):
    """The form preselects the installation's default version (not the newest line ListKafkaVersions
    lists, which is a .kraft one)."""
    from openmsk.control.kafka_settings import DEFAULT_VERSION
    s = _signed_in(console_service)
    page = s.get(console_service.endpoint + "/console/create")
    assert page.status_code == 200
    select = re.search(r'<select name="version".*?</select>', page.text, re.S).group(0)
    selected = re.findall(r'<option value="([^"]+)" selected>', select)
    assert selected == [DEFAULT_VERSION]
    assert re.findall(r'<option value="([^"]+)"', select)[-1].endswith(".kraft")     # the newest is listed too


def _card(page: str, cluster: str) -> str:
    """A cluster's card on the clusters list."""
    m = re.search(rf'<section[^>]* id="cluster-{re.escape(cluster)}"[^>]*>(.*?)</section>', page, re.S)
    assert m, page[-2000:]
    return m.group(1)


def _section(page: str, heading: str) -> str:
    """The card whose h2 is `heading` (empty if the page has none)."""
    m = re.search(rf'<section[^>]*><h2>{re.escape(heading)}</h2>(.*?)</section>', page, re.S)
    return m.group(1) if m else ""


def test_cluster_pages_of_a_kraft_and_a_zookeeper_cluster(console_service):
    """The cluster detail page of a KRaft cluster (ListNodes also lists its controllers, which have no
    BrokerNodeInfo) shows the controllers instead of ZooKeeper; a ZooKeeper cluster's shows its ZooKeeper
    nodes' ruok/srvr -- both while CREATING and once ACTIVE, as do the list and a topic's page. Then,
    on the ZooKeeper cluster: the list's bootstrap strings and client configurations per authentication
    mode, the Security and Networking sections, per-broker and per-topic charts with consumer lag, the
    brokers' disk used, a group's live member (a reset refused while it is there), and a frozen broker's
    partitions flagged under-replicated."""
    svc = console_service
    kafka, subnets = svc.client("kafka"), svc.default_subnets(2)
    # The ZooKeeper cluster has every client authentication (unauthenticated, mutual TLS with a private
    # CA, SASL/SCRAM, IAM) and plaintext besides TLS: its Security section must show each.
    ca_arn, _ = _active_pca(svc)
    auth = {"Unauthenticated": {"Enabled": True}, "Tls": {"Enabled": True, "CertificateAuthorityArnList": [ca_arn]},
            "Sasl": {"Scram": {"Enabled": True}, "Iam": {"Enabled": True}}}
    arns = {}
    for name, version, extra in (("console-kraft", "3.9.x.kraft", {}), ("console-zk", "3.9.x", {
            "ClientAuthentication": auth, "EncryptionInfo": {"EncryptionInTransit": {"ClientBroker": "TLS_PLAINTEXT"}}})):
        arns[name] = kafka.create_cluster_v2(ClusterName=name, Provisioned={
            "KafkaVersion": version, "NumberOfBrokerNodes": 2, **extra,
            "BrokerNodeGroupInfo": {"InstanceType": "kafka.t3.small", "ClientSubnets": subnets,
                                    "StorageInfo": {"EbsStorageInfo": {"VolumeSize": 10}}}})["ClusterArn"]
    s = _signed_in(svc)

    def page(name: str, suffix: str = "") -> requests.Response:
        _, _, rest = arns[name].partition(":cluster/")
        r = s.get(f"{svc.endpoint}/console/clusters/{rest}{suffix}")
        assert r.status_code == 200, r.text[-2000:]
        return r

    creating = page("console-kraft").text                 # controllers are placed at once: listed while CREATING
    assert _section(creating, "KRaft controllers") and not _section(creating, "ZooKeeper")
    assert _section(page("console-zk").text, "ZooKeeper")
    listing = s.get(svc.endpoint + "/console/")
    assert listing.status_code == 200 and "console-kraft" in listing.text and "console-zk" in listing.text
    # While CREATING, each card shows the running CREATE operation with its steps (ZooKeeper or controllers).
    for name, quorum_step in (("console-kraft", "START_CONTROLLERS"), ("console-zk", "START_ZOOKEEPER")):
        card = _card(listing.text, name)
        assert ">CREATING</span>" in card and '<div class="operation"><strong>CREATE</strong>' in card, card
        steps = re.search(r'<ol class="steps">(.*?)</ol>', card, re.S)
        assert steps and f"<li>{quorum_step} " in steps.group(1) and "<li>START_BROKERS " in steps.group(1), card

    for name, arn in arns.items():
        info = svc.wait_state(arn, states=("ACTIVE", "FAILED"), timeout=900)   # loaded 2-core host: 10 JVMs
        if info["State"] == "FAILED":          # the brokers' own error, not a console problem: say which
            pytest.fail(f"cluster {name} failed to start: {info.get('StateInfo')}")
    kraft = page("console-kraft").text
    controllers = _section(kraft, "KRaft controllers")
    assert controllers.count("<tr>") == 1 + 3, controllers                       # header + 3 controllers
    assert controllers.count(">listening<") == 3, controllers
    assert not _section(kraft, "ZooKeeper") and ">Controller<" not in _section(kraft, "Brokers")
    assert _section(kraft, "Brokers").count(">OK<") == 2                         # both brokers registered
    zk = page("console-zk").text
    zookeeper = _section(zk, "ZooKeeper")
    assert zookeeper.count(">imok<") == 3, zookeeper
    assert zookeeper.count(">leader<") == 1 and zookeeper.count(">follower<") == 2, zookeeper     # srvr's Mode
    assert not _section(zk, "KRaft controllers") and ">Controller<" in _section(zk, "Brokers")

    # A topic's page on the KRaft cluster (its partition table maps brokers to zones through ListNodes).
    token = CSRF.search(kraft).group(1)
    _, _, rest = arns["console-kraft"].partition(":cluster/")
    created = s.post(f"{svc.endpoint}/console/clusters/{rest}/topics",
                     data={"csrf": token, "name": "kraft-topic", "partitions": "2", "replication": "2"})
    # The answer is the topics list (never the topic's page, a 404 until the brokers know the topic): the
    # flash, and the topic listed -- as CREATING, on a live-refreshing list, until the brokers list it.
    assert created.status_code == 200 and "<h1>Topics</h1>" in created.text, created.text[-2000:]
    assert created.url.endswith("/topics?created=kraft-topic"), created.url
    assert "Created topic kraft-topic" in created.text and 'id="topic-list" data-refresh' in created.text
    assert 'id="creating-topic">kraft-topic<' in created.text or '/topics/kraft-topic">kraft-topic<' in created.text
    # What the page waited for, in its Server-Timing header (bench/console.py reads it).
    timing = created.headers.get("Server-Timing", "")
    assert re.search(r'kafka\.ListTopics;dur=[0-9.]+;desc="1 calls"', timing) and "total;dur=" in timing, timing
    deadline = time.monotonic() + 120        # CREATING: the brokers learn of a new topic from the controller
    while True:
        topic = s.get(f"{svc.endpoint}/console/clusters/{rest}/topics/kraft-topic")
        if topic.status_code != 404 and (topic.status_code != 200 or "<caption>Partitions</caption>" in topic.text):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(1)
    assert topic.status_code == 200, topic.text[-2000:]
    assert "<h1>kraft-topic</h1>" in topic.text
    # Its partition table: each replica with its broker's zone (from ListNodes' brokers), none unknown.
    partitions = re.search(r"<caption>Partitions</caption>.*?</table>", topic.text, re.S)
    assert partitions and partitions.group(0).count("<tr>") == 1 + 2 and "(?)" not in partitions.group(0)

    # Configure (UpdateTopic: partitions 2 -> 3 and a config) and delete (DeleteTopic, name typed to
    # confirm) from the topic's page; the API sees both (polled: the brokers apply them asynchronously).
    topic_url = f"{svc.endpoint}/console/clusters/{rest}/topics/kraft-topic"
    token = CSRF.search(topic.text).group(1)
    updated = s.post(topic_url + "/update", data={"csrf": token, "partitions": "3", "configs": "retention.ms=3600000"})
    assert updated.status_code == 200 and "Updated topic kraft-topic." in updated.text, updated.text[-2000:]
    deadline = time.monotonic() + 120
    while True:
        described = kafka.describe_topic(ClusterArn=arns["console-kraft"], TopicName="kraft-topic")
        configs = json.loads(base64.b64decode(described.get("Configs") or "e30="))
        if (described["PartitionCount"] == 3 and configs.get("retention.ms") == "3600000") or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert described["PartitionCount"] == 3 and configs.get("retention.ms") == "3600000", (described, configs)
    refused = s.post(topic_url + "/delete", data={"csrf": token, "confirm": "not-the-name"})
    assert "Type the topic&#x27;s name" in refused.text or "Type the topic's name" in refused.text, refused.text[-2000:]
    deleted = s.post(topic_url + "/delete", data={"csrf": token, "confirm": "kraft-topic"})
    assert deleted.status_code == 200 and "Deleting topic kraft-topic." in deleted.text, deleted.text[-2000:]
    deadline = time.monotonic() + 120
    while "kraft-topic" in [t["TopicName"] for t in kafka.list_topics(ClusterArn=arns["console-kraft"])["Topics"]]:
        assert time.monotonic() < deadline, "kraft-topic still listed 120 s after the console deleted it"
        time.sleep(1)

    # The clusters list: a bootstrap string with a copy button and a client configuration download for
    # each of the ZooKeeper cluster's four authentication modes; each download names the API's bootstrap
    # string and its security settings, and holds no secret. The Tags form adds and removes a tag through
    # TagResource/UntagResource.
    _, _, zk_rest = arns["console-zk"].partition(":cluster/")
    strings = kafka.get_bootstrap_brokers(ClusterArn=arns["console-zk"])
    card = _card(s.get(svc.endpoint + "/console/").text, "console-zk")
    # Its brokers drawn per zone: one broker in each of the two subnets' zones.
    zones = {n["SubnetId"]: n["AvailabilityZone"] for n in svc.client("ec2").describe_subnets(SubnetIds=subnets)["Subnets"]}
    drawn = dict(re.findall(r'<div class="zone"><div class="zone-name">([^<]+)</div>(.*?)</div>', card))
    assert sorted(drawn) == sorted(zones.values()) and all(d.count('class="broker"') == 1 for d in drawn.values()), card
    for mode, member, settings in (("none", "BootstrapBrokerString", "security.protocol=PLAINTEXT"),
                                   ("tls", "BootstrapBrokerStringTls", "security.protocol=SSL"),
                                   ("scram", "BootstrapBrokerStringSaslScram", "sasl.mechanism=SCRAM-SHA-512"),
                                   ("iam", "BootstrapBrokerStringSaslIam", "sasl.mechanism=AWS_MSK_IAM")):
        assert strings.get(member) and f'data-copy="{strings[member]}"' in card, (mode, card)
        assert f"/client.properties?auth={mode}" in card, (mode, card)
        props = s.get(f"{svc.endpoint}/console/clusters/{zk_rest}/client.properties?auth={mode}")
        assert props.status_code == 200 and "attachment" in props.headers["Content-Disposition"], props.text[:500]
        assert f"bootstrap.servers={strings[member]}\n" in props.text and f"{settings}\n" in props.text, props.text
        assert svc.credentials["secret_access_key"] not in props.text
    token = CSRF.search(zk).group(1)
    tagged = s.post(f"{svc.endpoint}/console/clusters/{zk_rest}/action/tag",
                    data={"csrf": token, "key": "team", "value": "payments"})
    assert tagged.status_code == 200 and "Tags updated." in tagged.text, tagged.text[-2000:]
    assert kafka.list_tags_for_resource(ResourceArn=arns["console-zk"])["Tags"] == {"team": "payments"}
    assert ">team<" in _section(tagged.text, "Tags") and ">payments<" in _section(tagged.text, "Tags")
    s.post(f"{svc.endpoint}/console/clusters/{zk_rest}/action/tag", data={"csrf": token, "key": "team", "remove": "1"})
    assert kafka.list_tags_for_resource(ResourceArn=arns["console-zk"])["Tags"] == {}

    # Security: mutual TLS's CA, the associated SCRAM secret, IAM -- as DescribeClusterV2 and
    # ListScramSecrets give them.
    secret = make_secret(svc, "AmazonMSK_console", "console", "console-pw", svc.client("kms").create_key()["KeyMetadata"]["KeyId"])
    kafka.batch_associate_scram_secret(ClusterArn=arns["console-zk"], SecretArnList=[secret])
    zk = page("console-zk").text
    security = _section(zk, "Security")
    assert f"<dt>TLS client certificates</dt><dd>{ca_arn}</dd>" in security, security
    assert f"<dt>SASL/SCRAM</dt><dd>{secret}</dd>" in security, security
    assert "<dt>IAM</dt><dd>on</dd>" in security and "<dt>Unauthenticated</dt><dd>on</dd>" in security, security
    assert "<dt>In-cluster encryption</dt><dd>TLS</dd>" in security, security
    assert "<dt>Client-broker encryption</dt><dd>TLS_PLAINTEXT</dd>" in security, security
    # Networking: the cluster's security group (the VPC's default) with its inbound and outbound rules,
    # including one added with EC2's API (removed again after).
    ec2 = svc.client("ec2")
    group = kafka.describe_cluster_v2(ClusterArn=arns["console-zk"])["ClusterInfo"]["Provisioned"][
        "BrokerNodeGroupInfo"]["SecurityGroups"][0]
    rule = {"IpProtocol": "tcp", "FromPort": 9094, "ToPort": 9094, "IpRanges": [{"CidrIp": "10.20.0.0/16"}]}
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[rule])
    try:
        networking = _section(page("console-zk").text, "Networking")
    finally:
        ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[rule])
    row = re.search(rf"<tr><td>{group}</td>.*?</tr>", networking, re.S)
    assert row, networking
    assert "<li>TCP 9094 from 10.20.0.0/16</li>" in row.group(0), row.group(0)
    assert f"<li>All traffic from {group}</li>" in row.group(0), row.group(0)          # the default group's own
    assert "<li>All traffic to 0.0.0.0/0</li>" in row.group(0), row.group(0)           # outbound
    for subnet in subnets:
        assert f"<td>{subnet}</td>" in networking, networking

    # Metrics per topic, with consumer lag: a group committed at offset 0 of a topic holding 40 messages
    # has lag 40 on the lag chart (SumOffsetLag per group and topic); with the topic picked, the bytes-in
    # chart draws that topic's per-broker series (BytesInPerSec with a Topic dimension).
    from confluent_kafka import Consumer, Producer, TopicPartition
    kafka.create_topic(ClusterArn=arns["console-zk"], TopicName="lagged", PartitionCount=2, ReplicationFactor=2)
    plain = kafka.get_bootstrap_brokers(ClusterArn=arns["console-zk"])["BootstrapBrokerString"]
    producer = Producer({"bootstrap.servers": plain, "acks": "all"})
    for i in range(40):
        producer.produce("lagged", key=str(i % 2), value=f"m{i}")
    assert producer.flush(300) == 0
    from confluent_kafka import KafkaError, KafkaException
    coordinator_moving = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                          KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT}
    committer = Consumer({"bootstrap.servers": plain, "group.id": "console-lag", "enable.auto.commit": False})
    deadline = time.monotonic() + 120
    while True:             # the group's coordinator may still be loading (NOT_COORDINATOR): retriable
        try:
            committer.commit(offsets=[TopicPartition("lagged", p, 0) for p in range(2)], asynchronous=False)
            break
        except KafkaException as exc:
            error = exc.args[0]
            assert (error.retriable() or error.code() in coordinator_moving) and time.monotonic() < deadline, exc
            time.sleep(1)
    committer.close()

    def chart(text: str, chart_id: str) -> list[dict]:
        svg = re.search(rf'<svg[^>]* id="{chart_id}-svg">.*?</svg>', text, re.S).group(0)
        return [dict(re.findall(r'data-(series|last|max)="([^"]*)"', line))
                for line in re.findall(r"<polyline [^>]*>", svg)]

    def chart_moves(chart_id: str, timeout: float, what: str) -> None:
        """Wait until a line of the chart (all topics, last 15 min, read afresh) rises above 0."""
        deadline = time.monotonic() + timeout
        while not any(float(line["max"]) > 0 for line in chart(s.get(
                f"{svc.endpoint}/console/clusters/{zk_rest}/metrics?range=15m", headers={"Cache-Control": "no-cache"}).text,
                chart_id)):
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(3)
    deadline = time.monotonic() + 300
    while True:
        metrics = s.get(f"{svc.endpoint}/console/clusters/{zk_rest}/metrics?range=15m&topic=lagged",
                        headers={"Cache-Control": "no-cache"})
        assert metrics.status_code == 200, metrics.text[-2000:]
        lag, bytes_in = chart(metrics.text, "lag"), chart(metrics.text, "bytesin")
        if (any(line["series"] == "console-lag / lagged" and float(line["last"]) == 40 for line in lag)
                and any(float(line["max"]) > 0 for line in bytes_in)):
            break
        assert time.monotonic() < deadline, (lag, bytes_in)
        time.sleep(3)
    assert {line["series"] for line in lag} == {"console-lag / lagged"}, lag          # only the picked topic's
    assert all(line["series"].startswith("broker ") for line in bytes_in), bytes_in
    assert '<option value="lagged" selected>' in metrics.text
    # Without a topic: the broker charts draw one series per broker (MSK's DEFAULT level metrics; bytes in
    # and out are per topic at that level, so a broker leading no partition of a written (read) topic has
    # none: bytes in is checked above, bytes out once a consumer reads, below).
    deadline = time.monotonic() + 120
    while True:
        every = s.get(f"{svc.endpoint}/console/clusters/{zk_rest}/metrics?range=15m", headers={"Cache-Control": "no-cache"})
        drawn = {c: {line["series"] for line in chart(every.text, c)}
                 for c in ("cpu", "disk", "messagesin", "urp")}
        if all(series == {"broker 1", "broker 2"} for series in drawn.values()):
            break
        assert time.monotonic() < deadline, drawn
        time.sleep(3)
    assert "console-lag / lagged" in {line["series"] for line in chart(every.text, "lag")}

    # The Brokers table's data disk used: KafkaDataLogsDiskUsed of each broker (read from CloudWatch).
    deadline = time.monotonic() + 120
    while True:
        brokers = _section(page("console-zk").text, "Brokers")
        if len(re.findall(r"<td>\d+\.\d %</td>", brokers)) == 2:
            break
        assert time.monotonic() < deadline, brokers
        time.sleep(3)

    # A group with a live member: its page lists the member (client id, assigned partitions), and a reset
    # is refused while it is active (Kafka's rule) -- the committed offsets stay where they were.
    member = Consumer({"bootstrap.servers": plain, "group.id": "console-lag", "client.id": "console-member",
                       "enable.auto.commit": False})
    member.subscribe(["lagged"])
    group_url = f"{svc.endpoint}/console/clusters/{zk_rest}/groups/console-lag"
    try:
        deadline = time.monotonic() + 180
        while len(member.assignment()) < 2:
            member.poll(1)
            assert time.monotonic() < deadline, "the consumer was not assigned both partitions"
        deadline = time.monotonic() + 120
        while True:
            member.poll(0.5)            # stays in the group
            group_page = s.get(group_url)
            assert group_page.status_code == 200, group_page.text[-2000:]
            members = re.search(r"<caption>Members</caption>.*?</table>", group_page.text, re.S)
            if members and "<td>console-member</td>" in members.group(0):
                break
            assert time.monotonic() < deadline, group_page.text[-3000:]
        assert "<td>lagged-0, lagged-1</td>" in members.group(0), members.group(0)
        listed = s.get(f"{svc.endpoint}/console/clusters/{zk_rest}/groups", headers={"Cache-Control": "no-cache"})
        assert re.search(r">console-lag</a></td><td><span[^>]*>STABLE</span></td><td>1</td>", listed.text), listed.text[-2000:]
        token = CSRF.search(group_page.text).group(1)
        refused = s.post(group_url + "/reset", data={"csrf": token, "to": "latest"}, headers={"Referer": group_url})
        member.poll(0.5)
        assert refused.status_code == 200 and refused.url == group_url, refused.url
        assert "only while it has no active members" in refused.text, refused.text[-2000:]
    finally:
        member.close()
    assert _committed(plain, "console-lag", "lagged", 2) == [0, 0]
    # The member read the 40 messages: the bytes-out chart moves (no commit, so the lag stays).
    chart_moves("bytesout", 120, "BytesOutPerSec above 0 after a consumer read 40 messages")

    # Broker 2 frozen (SIGSTOP: its process still exists, so nothing heals it): broker 1 drops it from the
    # ISR, and the topics list flags `lagged` UNDER-REPLICATED with its out-of-sync replicas (ListTopics'
    # OutOfSyncReplicaCount); the UnderReplicatedPartitions chart moves.
    pid = svc.broker_pids(arns["console-zk"])[1]
    os.killpg(pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 300
        while True:
            listed = s.get(f"{svc.endpoint}/console/clusters/{zk_rest}/topics")
            row = re.search(r'<tr><td><a [^>]*>lagged</a></td>.*?</tr>', listed.text, re.S)
            if listed.status_code == 200 and row and ">UNDER-REPLICATED<" in row.group(0):
                break
            assert time.monotonic() < deadline, listed.text[-2000:]
            time.sleep(3)
        shown = int(re.search(r"<td>(\d+)</td></tr>$", row.group(0)).group(1))      # the Out of sync column
        out_of_sync = next(t["OutOfSyncReplicaCount"] for t in kafka.list_topics(ClusterArn=arns["console-zk"])["Topics"]
                           if t["TopicName"] == "lagged")
        assert shown > 0 and out_of_sync > 0, (shown, out_of_sync, row.group(0))    # (2 partitions: 1 or 2 each)
        chart_moves("urp", 180, "UnderReplicatedPartitions above 0 with broker 2 frozen")
    finally:
        os.killpg(pid, signal.SIGCONT)


def test_an_unexpected_error_is_the_consoles_error_page(caplog):
    """A bug in a handler (any exception that is not the API's own error) answers the console's error page
    with status 500 and a reference, and the traceback is logged under that reference; redirects and 404s
    raised by handlers still pass through."""
    import asyncio
    from types import SimpleNamespace

    from aiohttp import ClientSession, web

    from openmsk.console.sessions import COOKIE
    from openmsk.console.web import Console

    console = Console(SimpleNamespace(plane=None, account_id="123456789012"), None,
                      lambda key: "the-secret" if key == "AKIATESTTESTTEST" else None)
    session = console.sessions.sign_in("AKIATESTTESTTEST", "the-secret", "us-east-1")

    async def broken(view):
        raise KeyError("BrokerNodeInfo")

    async def missing(view):
        raise web.HTTPNotFound()

    async def run() -> list:
        app = web.Application()
        app.router.add_get("/console/broken", console.gate(broken))
        app.router.add_post("/console/broken", console.gate(broken))
        app.router.add_get("/console/missing", console.gate(missing))
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with ClientSession(cookies={COOKIE: session.sid}) as client:
                out = []
                for method, path, data in (("GET", "/console/broken", None),
                                           ("POST", "/console/broken", {"csrf": session.csrf}),
                                           ("GET", "/console/missing", None)):
                    async with client.request(method, f"http://127.0.0.1:{port}{path}", data=data,
                                              allow_redirects=False) as r:
                        out.append((r.status, r.headers.get("Content-Type", ""), await r.text()))
                return out
        finally:
            await runner.cleanup()

    with caplog.at_level("ERROR", logger="openmsk.console"):
        (get_status, get_type, get_text), (post_status, _, post_text), (missing_status, _, _) = asyncio.run(run())
    for status, text in ((get_status, get_text), (post_status, post_text)):
        assert status == 500
        assert "InternalFailure" in text and 'class="top"' in text and "Signed in as" in text   # the console's layout
        assert "KeyError" not in text                                                          # no internals shown
    assert get_type.startswith("text/html")
    assert missing_status == 404
    shown = [re.search(r"reference ([0-9a-f]{8})", text).group(1) for text in (get_text, post_text)]
    failures = [r for r in caplog.records if "failed (reference" in r.getMessage()]
    assert [re.search(r"reference ([0-9a-f]{8})", r.getMessage()).group(1) for r in failures] == shown
    assert all(r.exc_info and r.exc_info[0] is KeyError for r in failures)        # logged with the traceback


def test_kept_results_single_flight_expiry_hard_reload_and_drop():
    """console/cache.py: one read for concurrent asks, kept for its TTL, never for a hard reload, dropped
    on demand, and a failed read is not kept."""
    import asyncio

    from openmsk.console.cache import Memo

    async def run() -> None:
        memo, calls = Memo(), []

        async def make():
            calls.append(1)
            await asyncio.sleep(0.05)
            return len(calls)
        first, second = await asyncio.gather(memo.get(("k",), 60, make), memo.get(("k",), 60, make))
        assert first[0] == second[0] == 1 and len(calls) == 1            # single flight
        assert (await memo.get(("k",), 60, make))[0] == 1                 # kept
        assert (await memo.get(("k",), 60, make, fresh=True))[0] == 2     # a hard reload reads afresh
        assert (await memo.get(("k",), 60, make))[0] == 2                 # ... and its read is kept
        memo.drop(lambda key: key[0] == "k")
        assert (await memo.get(("k",), 60, make))[0] == 3
        assert (await memo.get(("j",), 0, make))[0] == 4                  # TTL 0: never kept
        assert (await memo.get(("j",), 0, make))[0] == 5

        async def fails():
            calls.append(1)
            raise RuntimeError("brokers away")
        with pytest.raises(RuntimeError):
            await memo.get(("f",), 60, fails)
        assert (await memo.get(("f",), 60, make))[0] == 7                 # the failure was not kept
    asyncio.run(run())
