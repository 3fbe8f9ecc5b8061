"""`openmsk serve --demo`: create (or reuse) a 3-zone cluster named `demo` through the public API,
wait for it, then prove it works with a real produce/consume over TLS and print how to do the same."""
from __future__ import annotations

import asyncio
import sys
import time
import uuid

DEMO_NAME = "demo"


def _say(text: str = "") -> None:
    print(text, flush=True)


def _demo(endpoint: str, creds, data_dir, region: str = "us-east-1") -> None:
    import boto3
    session = boto3.session.Session(aws_access_key_id=creds.access_key_id,
                                    aws_secret_access_key=creds.secret_access_key, region_name=region)
    kafka = session.client("kafka", endpoint_url=endpoint)
    ec2 = session.client("ec2", endpoint_url=endpoint)

    existing = [c for c in kafka.list_clusters(ClusterNameFilter=DEMO_NAME)["ClusterInfoList"]
                if c["ClusterName"] == DEMO_NAME]
    if existing:
        arn = existing[0]["ClusterArn"]
        _say(f"demo: reusing cluster {arn}")
    else:
        subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s.get("DefaultForAz")]
        arn = kafka.create_cluster(
            ClusterName=DEMO_NAME, KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
            BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large", "ClientSubnets": subnets},
            EncryptionInfo={"EncryptionInTransit": {"ClientBroker": "TLS_PLAINTEXT", "InCluster": True}},
        )["ClusterArn"]
        _say(f"demo: creating cluster {arn}")
    started = time.monotonic()
    state = None
    while True:
        info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
        if info["State"] != state:
            state = info["State"]
            _say(f"demo: {time.monotonic() - started:5.1f}s  {state}")
        if state == "ACTIVE":
            break
        if state in ("FAILED", "DELETING"):
            _say(f"demo: cluster is {state}: {info.get('StateInfo')}")
            return
        time.sleep(1)

    brokers = kafka.get_bootstrap_brokers(ClusterArn=arn)
    ca = str(data_dir / "pki" / "ca.pem")
    tls = brokers["BootstrapBrokerStringTls"]
    _say()
    _say(f"BootstrapBrokerStringTls: {tls}")
    if "BootstrapBrokerString" in brokers:
        _say(f"BootstrapBrokerString:    {brokers['BootstrapBrokerString']}")
    _say(f"CA certificate:           {ca}")
    _say()

    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    common = {"bootstrap.servers": tls, "security.protocol": "SSL", "ssl.ca.location": ca}
    admin = AdminClient(common)
    topic = "demo-topic"
    if topic not in admin.list_topics(timeout=10).topics:
        admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])[topic].result(30)
    message = f"hello from openmsk {uuid.uuid4().hex[:8]}"
    producer = Producer({**common, "acks": "all"})
    producer.produce(topic, message.encode())
    producer.flush(30)
    consumer = Consumer({**common, "group.id": f"demo-{uuid.uuid4().hex[:6]}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and message not in got:
        msg = consumer.poll(1.0)
        if msg is not None and not msg.error():
            got.append(msg.value().decode())
    consumer.close()
    _say(f"demo: produced and consumed {message!r} over TLS: {'ok' if message in got else 'NOT RECEIVED'}")
    _say()
    _say("Try it yourself (another terminal, from the repository):")
    _say(f'  eval "$(.venv/bin/openmsk env --data-dir {data_dir})"; export PATH="$PWD/.venv/bin:$PATH"')
    _say(f"  aws kafka describe-cluster --cluster-arn {arn}")
    _say(f"  echo hi | kcat -P -b {tls} -X security.protocol=ssl -X ssl.ca.location={ca} -t {topic}")
    _say(f"  kcat -C -b {tls} -X security.protocol=ssl -X ssl.ca.location={ca} -t {topic} -o beginning -e")
    _say()
    _say("Ctrl-C stops the service (and, under scripts/demo, the cluster's processes).")


async def run_demo(endpoint: str, creds, data_dir) -> None:
    try:
        await asyncio.to_thread(_demo, endpoint, creds, data_dir)
    except Exception as exc:          # the demo must never take the service down
        print(f"demo: failed: {exc!r}", file=sys.stderr, flush=True)
