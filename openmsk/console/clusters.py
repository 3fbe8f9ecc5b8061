"""Clusters: the list (state, running operations and their steps, brokers per zone, bootstrap strings,
client configurations), the create form, the cluster detail page and its actions (MSK's operations)."""
from __future__ import annotations

import asyncio
import logging
import ssl
import time

from aiohttp import web

from ..api.core import ServiceException
from ..control import model
from .html import Markup, badge, button, copyable, field, form, link, select, table, tag
from .metrics import delivery_note, delivery_problems
from .web import BASE, SECURITY_HEADERS, View, cluster_tabs, cluster_url

log = logging.getLogger("openmsk.console")
INSTANCE_TYPES = ["kafka.t3.small", "kafka.m5.large", "kafka.m5.xlarge", "kafka.m5.2xlarge", "kafka.m5.4xlarge",
                  "kafka.m7g.large", "kafka.m7g.xlarge", "kafka.m7g.2xlarge", "kafka.m7g.4xlarge"]
MONITORING = ["DEFAULT", "PER_BROKER", "PER_TOPIC_PER_BROKER", "PER_TOPIC_PER_PARTITION"]
AUTH_MODES = {"none": ("Unauthenticated (PLAINTEXT, 9092)", "BootstrapBrokerString"),
              "tls": ("TLS (9094)", "BootstrapBrokerStringTls"),
              "scram": ("SASL/SCRAM (9096)", "BootstrapBrokerStringSaslScram"),
              "iam": ("IAM (9098)", "BootstrapBrokerStringSaslIam")}
BUSY = ("CREATING", "UPDATING", "HEALING", "REBOOTING_BROKER", "MAINTENANCE", "DELETING")


def provisioned(info: dict) -> dict:
    return info.get("Provisioned") or {}


def is_kraft(info: dict) -> bool:
    """A KRaft cluster (MSK's `.kraft` versions): controllers instead of ZooKeeper."""
    return str((provisioned(info).get("CurrentBrokerSoftwareInfo") or {}).get("KafkaVersion", "")).endswith(".kraft")


def broker_nodes(nodes: list) -> list:
    """ListNodes' brokers (a KRaft cluster's list also holds its controllers, with ControllerNodeInfo only)."""
    return [n for n in nodes if n.get("BrokerNodeInfo")]


def controller_nodes(nodes: list) -> list:
    return [n for n in nodes if n.get("ControllerNodeInfo")]


async def zones_of(view: View) -> dict[str, str]:
    """subnet id -> availability zone (ec2 DescribeSubnets as the user)."""
    try:
        subnets = (await view.call("ec2", "DescribeSubnets"))["Subnets"]
    except ServiceException:
        return {}
    return {s["SubnetId"]: s["AvailabilityZone"] for s in subnets}


async def running_operation(view: View, info: dict) -> Markup:
    """The cluster's newest unfinished operation with its steps (what MSK's console shows while busy)."""
    if info["State"] not in BUSY:
        return Markup("")
    ops = (await view.call("kafka", "ListClusterOperations", ClusterArn=info["ClusterArn"],
                           MaxResults=5))["ClusterOperationInfoList"]
    running = [o for o in ops if model.op_running(o)]
    if not running:
        return Markup("")
    op = running[0]
    steps = [tag("li", s.get("StepName", ""), " ", badge((s.get("StepInfo") or {}).get("StepStatus", "")))
             for s in op.get("OperationSteps") or []]
    return tag("div", tag("strong", op.get("OperationType", "")), " ", badge(op["OperationState"]),
               tag("ol", *steps, class_="steps") if steps else "", class_="operation")


def brokers_by_zone(nodes: list, zones: dict) -> Markup:
    per_zone: dict[str, list] = {}
    for n in broker_nodes(nodes):
        b = n["BrokerNodeInfo"]
        per_zone.setdefault(zones.get(b.get("ClientSubnet"), b.get("ClientSubnet", "?")), []).append(b)
    cells = [tag("div", tag("div", zone, class_="zone-name"),
                 *[tag("span", f"b-{int(b['BrokerId'])}", title=b.get("ClientVpcIpAddress"), class_="broker")
                   for b in sorted(brokers, key=lambda b: b["BrokerId"])], class_="zone")
             for zone, brokers in sorted(per_zone.items())]
    return tag("div", *cells, class_="zones", aria_label="Brokers per availability zone")


async def bootstrap_block(view: View, info: dict) -> Markup:
    if info["State"] in ("CREATING", "FAILED", "DELETING"):
        return tag("p", "Bootstrap brokers are available once the cluster is ACTIVE.", class_="empty")
    strings = await view.call("kafka", "GetBootstrapBrokers", ClusterArn=info["ClusterArn"])
    rows = []
    for mode, (label, member) in AUTH_MODES.items():
        if strings.get(member):
            rows.append([label, copyable(strings[member], f"{label} bootstrap string"),
                         link(cluster_url(info, f"/client.properties?auth={mode}"), "client.properties",
                              download=f"{info['ClusterName']}-{mode}.properties")])
    return table(["Authentication", "Bootstrap brokers", "Client configuration"], rows,
                 empty="No client listener.")


async def list_page(view: View) -> web.Response:
    clusters = (await view.call("kafka", "ListClustersV2"))["ClusterInfoList"]
    zones = await zones_of(view) if clusters else {}
    cards = []
    for info in sorted(clusters, key=lambda c: c["ClusterName"]):
        p = provisioned(info)
        try:
            nodes = (await view.call("kafka", "ListNodes", ClusterArn=info["ClusterArn"]))["NodeInfoList"]
        except ServiceException:
            nodes = []
        try:
            boot = await bootstrap_block(view, info)
        except ServiceException as exc:
            boot = tag("p", f"{exc.code}: {exc.message}", class_="empty")
        cards.append(tag(
            "section",
            tag("h2", link(cluster_url(info), info["ClusterName"]), " ", badge(info["State"])),
            tag("dl", tag("dt", "Kafka version"), tag("dd", (p.get("CurrentBrokerSoftwareInfo") or {}).get("KafkaVersion")),
                tag("dt", "Brokers"), tag("dd", p.get("NumberOfBrokerNodes")),
                tag("dt", "Instance type"), tag("dd", (p.get("BrokerNodeGroupInfo") or {}).get("InstanceType")),
                tag("dt", "Created"), tag("dd", str(info.get("CreationTime", ""))[:19]), class_="facts"),
            await running_operation(view, info),
            (tag("p", (info.get("StateInfo") or {}).get("Message", ""), class_="flash error")
             if info["State"] == "FAILED" else ""),
            brokers_by_zone(nodes, zones),
            tag("details", tag("summary", "Bootstrap brokers and client configuration"), boot),
            class_="card", id=f"cluster-{info['ClusterName']}", data_refresh=True))
    body = tag("div", tag("p", link(f"{BASE}/create", "Create cluster", class_="btn primary")),
               *(cards or [tag("p", "No clusters in this region yet.", class_="empty")]))
    return view.page("Clusters", body, live=any(c["State"] in BUSY for c in clusters))


# -- detail --------------------------------------------------------------------------------------------
async def _zk_word(address: str, word: str, tls) -> str | None:
    host, _, port = address.rpartition(":")
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            host, int(port), ssl=tls, server_hostname=host if tls else None), 3.0)
        writer.write(word.encode())
        data = await asyncio.wait_for(reader.read(4096), 3.0)
        writer.close()
        return data.decode(errors="replace")
    except (OSError, asyncio.TimeoutError, ValueError, ssl.SSLError):
        return None


async def _zk_ask(host: str, tls_port: int | None, word: str, tls) -> str | None:
    """A four-letter word on the node's plaintext client port (2181, where ZooKeeper always answers them),
    else on its TLS port."""
    answer = await _zk_word(f"{host}:2181", word, None)
    if answer is None and tls_port:
        answer = await _zk_word(f"{host}:{tls_port}", word, tls)
    return answer


async def _probe_zookeeper(view: View, info: dict) -> Markup:
    """ruok and srvr of each ZooKeeper node (the runbook's `echo ruok | nc`)."""
    p = provisioned(info)
    plain = [h for h in (p.get("ZookeeperConnectString") or "").split(",") if h]
    secure = {h.rpartition(":")[0]: int(h.rpartition(":")[2]) for h in
              (p.get("ZookeeperConnectStringTls") or "").split(",") if h}
    hosts = [h.rpartition(":")[0] for h in plain] or list(secure)
    if not hosts:
        return tag("p", "No ZooKeeper connect string yet.", class_="empty")
    tls = None
    if secure:          # ZooKeeper's TLS port wants a client certificate: the control plane's own
        from ..control.scram import admin_config
        doc = view.console.plane.load_cluster(info["ClusterArn"])
        cfg = admin_config(view.console.plane, doc)
        tls = ssl.create_default_context(cafile=str(view.console.plane.ca.cert_path))
        if cfg.get("ssl.certificate.location"):
            tls.load_cert_chain(cfg["ssl.certificate.location"], cfg["ssl.key.location"])
    answers = await asyncio.gather(*[asyncio.gather(_zk_ask(h, secure.get(h), "ruok", tls),
                                                    _zk_ask(h, secure.get(h), "srvr", tls)) for h in hosts])
    rows = []
    for host, (ruok, srvr) in zip(hosts, answers):
        mode = next((line.split(":", 1)[1].strip() for line in (srvr or "").splitlines() if line.startswith("Mode:")),
                    "unreachable")
        rows.append([host, badge(ruok or "no answer"), badge(mode)])
    return table(["ZooKeeper node", "ruok", "Mode"], rows)


CONTROLLER_PORT = 9097      # the KRaft controllers' CONTROLLER listener (runtime/kraft.py's CONTROLLER_PORT)


async def _tcp_open(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 3.0)
        writer.close()
        return True
    except (OSError, asyncio.TimeoutError, ValueError):
        return False


async def _probe_controllers(view: View, info: dict, controllers: list) -> Markup:
    """A KRaft cluster's controllers as ListNodes gives them (ControllerNodeInfo: endpoints only, as on MSK),
    each with whether its CONTROLLER listener accepts connections. Controllers are hidden from Kafka
    clients (the brokers' metadata lists brokers only), so this is what there is to see of them."""
    if not controllers:
        return tag("p", "No KRaft controllers yet.", class_="empty")
    endpoints = [((c.get("ControllerNodeInfo") or {}).get("Endpoints") or ["?"])[0] for c in controllers]
    reachable = await asyncio.gather(*[_tcp_open(e, CONTROLLER_PORT) for e in endpoints])
    rows = [[e, str(CONTROLLER_PORT), badge("listening" if ok else "unreachable"), c.get("InstanceType", ""),
             str(c.get("AddedToClusterTime", ""))[:19]]
            for e, ok, c in sorted(zip(endpoints, reachable, controllers), key=lambda x: x[0])]
    return table(["Controller endpoint", "Port", "Listener", "Instance type", "Added"], rows,
                 caption="KRaft controllers")


ZK_FRESH, ZK_STALE = 10.0, 120.0       # seconds a quorum probe result is shown as is / while re-probed


async def _quorum(view: View, info: dict, nodes: list) -> Markup:
    """The metadata quorum's section: KRaft controllers, or the ZooKeeper probes. The probe result of the
    last 10 s; an older one (< 2 min) is shown while a new probe runs in the background (six TLS
    handshakes cost 150-200 ms on a loaded machine, every 5 s of live refresh); a change of the cluster's
    state probes again at once."""
    if is_kraft(info) or controller_nodes(nodes):
        probe = lambda: _probe_controllers(view, info, controller_nodes(nodes))     # noqa: E731
    else:
        probe = lambda: _probe_zookeeper(view, info)                                # noqa: E731
    cache, arn, now = view.console.zookeeper_probes, info["ClusterArn"], time.monotonic()
    entry = cache.get(arn)
    # A probe taken in another state (e.g. while CREATING, before the nodes ran) is not shown as current.
    if entry is None or now - entry["at"] > ZK_STALE or entry.get("state") != info["State"]:
        html = await probe()
        cache[arn] = {"at": time.monotonic(), "html": html, "task": None, "state": info["State"]}
        return html
    if now - entry["at"] > ZK_FRESH and entry["task"] is None:
        async def refresh():
            try:
                entry["html"], entry["at"] = await probe(), time.monotonic()
            except Exception:           # a background probe must not die silently with an unretrieved error
                log.exception("console: quorum probe of %s failed", arn)
            finally:
                entry["task"] = None
        entry["task"] = asyncio.ensure_future(refresh())
    return entry["html"]


async def _broker_metrics(view: View, info: dict) -> dict:
    """Latest KafkaDataLogsDiskUsed per broker (CloudWatch GetMetricData as the user)."""
    import datetime as dt
    end = dt.datetime.now(dt.timezone.utc)
    queries = [{"Id": f"d{int(b)}", "MetricStat": {"Metric": {
        "Namespace": "AWS/Kafka", "MetricName": "KafkaDataLogsDiskUsed",
        "Dimensions": [{"Name": "Cluster Name", "Value": info["ClusterName"]}, {"Name": "Broker ID", "Value": str(int(b))}]},
        "Period": 60, "Stat": "Maximum"}} for b in range(1, provisioned(info).get("NumberOfBrokerNodes", 0) + 1)]
    if not queries:
        return {}
    try:
        result = await view.call("monitoring", "GetMetricData", MetricDataQueries=queries,
                                 StartTime=end - dt.timedelta(minutes=15), EndTime=end)
    except ServiceException:
        return {}
    return {int(r["Id"][1:]): r["Values"][0] for r in result["MetricDataResults"] if r.get("Values")}


def _delivery_state(delivery: list[dict], label: str, target: dict | None) -> Markup | str:
    """A broker-log target's delivery as the log shipper sees it (a failure, or lines still to send)."""
    if not (target or {}).get("Enabled"):
        return "–"
    row = next((r for r in delivery if r["Destination"].startswith(label)), None)
    if row is not None and row.get("Failing"):
        return tag("span", badge("FAILING"), " ", row["Failing"])
    if row is not None and row.get("BufferedBatches"):
        return f"delivering ({row['BufferedBatches']} batches waiting)"
    return badge("OK")


def sg_rules(permissions: list[dict], direction: str) -> Markup:
    """A security group's IpPermissions (or IpPermissionsEgress) as EC2's console lists them: one line per
    peer, e.g. `TCP 9094 from 10.0.0.0/8`, `All traffic from sg-...` (direction: "from" or "to")."""
    lines = []
    for p in permissions:
        proto = str(p.get("IpProtocol", "-1"))
        low, high = p.get("FromPort"), p.get("ToPort")
        if proto == "-1":
            what = "All traffic"
        elif low is None or low == -1 or (proto in ("tcp", "udp") and (low, high) == (0, 65535)):
            what = f"All {proto.upper()}"
        else:
            what = f"{proto.upper()} {low}" + (f"-{high}" if high not in (None, low) else "")
        peers = ([r.get("CidrIp") for r in p.get("IpRanges", [])] + [r.get("CidrIpv6") for r in p.get("Ipv6Ranges", [])]
                 + [r.get("PrefixListId") for r in p.get("PrefixListIds", [])]
                 + [r.get("GroupId") for r in p.get("UserIdGroupPairs", [])])
        lines += [tag("li", f"{what} {direction} {peer}") for peer in peers if peer]
    return tag("ul", *lines, class_="plain") if lines else Markup("none")


async def detail_page(view: View) -> web.Response:
    info = await view.cluster()
    arn, p = info["ClusterArn"], provisioned(info)
    nodes, ops, zones = await asyncio.gather(
        _provisioned_list(view, info, "ListNodes", "NodeInfoList"),
        _provisioned_list(view, info, "ListClusterOperations", "ClusterOperationInfoList"), zones_of(view))
    kraft = is_kraft(info) or bool(controller_nodes(nodes))
    # The slower parts (Kafka metadata, quorum probes, metrics, the action forms' choices) at once.
    meta, disk, quorum, access, actions, delivery = await asyncio.gather(
        _kafka_metadata(view, info), _broker_metrics(view, info), _quorum(view, info, nodes),
        _safe(bootstrap_block(view, info)), _actions(view, info, nodes), delivery_problems(view, info))
    registered = set(meta.get("brokers") or [])
    broker_rows = []
    for n in sorted(broker_nodes(nodes), key=lambda n: n["BrokerNodeInfo"]["BrokerId"]):
        b = n["BrokerNodeInfo"]
        bid = int(b["BrokerId"])
        health = "registered" if bid in registered else ("unknown" if not meta or "error" in meta else "not registered")
        row = [bid, zones.get(b.get("ClientSubnet"), b.get("ClientSubnet", "?")), b.get("ClientVpcIpAddress", "")]
        if not kraft:       # on KRaft the controller is one of the hidden controllers, never a broker
            row.append("yes" if meta.get("controller") == bid else "")
        broker_rows.append(row + [badge("OK" if health == "registered" else health),
                                  f"{disk[bid]:.1f} %" if bid in disk else "–",
                                  (b.get("CurrentBrokerSoftwareInfo") or {}).get("KafkaVersion", "")])
    broker_headers = ["Broker", "Zone", "Address"] + ([] if kraft else ["Controller"]) + [
        "Health", "Data disk used", "Kafka"]
    sec = p.get("ClientAuthentication") or {}
    enc = ((p.get("EncryptionInfo") or {}).get("EncryptionInTransit") or {})
    scram = []
    if (sec.get("Sasl") or {}).get("Scram", {}).get("Enabled"):
        scram = (await view.call("kafka", "ListScramSecrets", ClusterArn=arn)).get("SecretArnList", [])
    cfg = p.get("CurrentBrokerSoftwareInfo") or {}
    logs = p.get("LoggingInfo", {}).get("BrokerLogs", {})
    op_rows = [[o.get("OperationType"), badge(o.get("OperationState", "")), str(o.get("CreationTime", ""))[:19],
                str(o.get("EndTime", ""))[:19], (o.get("ErrorInfo") or {}).get("ErrorString", "")] for o in ops]
    try:
        sgs = (await view.call("ec2", "DescribeSecurityGroups",
                               GroupIds=(p.get("BrokerNodeGroupInfo") or {}).get("SecurityGroups") or []))["SecurityGroups"]
    except ServiceException:
        sgs = []
    sg_rows = [[g["GroupId"], g.get("GroupName", ""), sg_rules(g.get("IpPermissions", []), "from"),
                sg_rules(g.get("IpPermissionsEgress", []), "to")] for g in sgs]
    body = tag(
        "div",
        tag("section", tag("h2", "Summary"),
            tag("dl", tag("dt", "State"), tag("dd", badge(info["State"])),
                tag("dt", "ARN"), tag("dd", copyable(arn, "cluster ARN")),
                tag("dt", "Kafka version"), tag("dd", cfg.get("KafkaVersion")),
                tag("dt", "Configuration"), tag("dd", f"{cfg.get('ConfigurationArn', 'MSK default')}"
                                                    f"{' revision ' + str(cfg['ConfigurationRevision']) if cfg.get('ConfigurationRevision') else ''}"),
                tag("dt", "Current version"), tag("dd", tag("code", info.get("CurrentVersion"))),
                tag("dt", "Instance type"), tag("dd", (p.get("BrokerNodeGroupInfo") or {}).get("InstanceType")),
                tag("dt", "Storage per broker"), tag("dd", f"{((p.get('BrokerNodeGroupInfo') or {}).get('StorageInfo') or {}).get('EbsStorageInfo', {}).get('VolumeSize', '?')} GiB"),
                tag("dt", "Enhanced monitoring"), tag("dd", p.get("EnhancedMonitoring")), class_="facts"),
            await running_operation(view, info), id="summary", data_refresh=True, class_="card"),
        tag("section", tag("h2", "Brokers"), brokers_by_zone(nodes, zones),
            table(broker_headers, broker_rows),
            tag("p", f"Kafka metadata unavailable: {meta['error']}", class_="empty") if "error" in meta else "",
            id="brokers", data_refresh=True, class_="card"),
        (tag("section", tag("h2", "KRaft controllers"), quorum, class_="card", id="controllers") if kraft else
         tag("section", tag("h2", "ZooKeeper"), quorum, class_="card", id="zookeeper")),
        tag("section", tag("h2", "Client access"), access, class_="card"),
        tag("section", tag("h2", "Security"),
            tag("dl", tag("dt", "Client-broker encryption"), tag("dd", enc.get("ClientBroker")),
                tag("dt", "In-cluster encryption"), tag("dd", "TLS" if enc.get("InCluster") else "off"),
                tag("dt", "Unauthenticated"), tag("dd", "on" if (sec.get("Unauthenticated") or {}).get("Enabled") else "off"),
                tag("dt", "IAM"), tag("dd", "on" if (sec.get("Sasl") or {}).get("Iam", {}).get("Enabled") else "off"),
                tag("dt", "SASL/SCRAM"), tag("dd", ", ".join(scram) if scram else (
                    "on (no secrets)" if (sec.get("Sasl") or {}).get("Scram", {}).get("Enabled") else "off")),
                tag("dt", "TLS client certificates"), tag("dd", ", ".join((sec.get("Tls") or {}).get(
                    "CertificateAuthorityArnList", [])) or ("on" if (sec.get("Tls") or {}).get("Enabled") else "off")),
                class_="facts"), class_="card"),
        tag("section", tag("h2", "Networking"),
            table(["Subnet", "Zone"], [[s, zones.get(s, "?")] for s in (p.get("BrokerNodeGroupInfo") or {}).get("ClientSubnets", [])]),
            table(["Security group", "Name", "Inbound rules", "Outbound rules"], sg_rows, empty="No security groups."), class_="card"),
        tag("section", tag("h2", "Logging"), delivery_note(delivery),
            table(["Target", "Enabled", "Destination", "Delivery"],
                  [["CloudWatch Logs", str(logs.get("CloudWatchLogs", {}).get("Enabled", False)), logs.get("CloudWatchLogs", {}).get("LogGroup", ""),
                    _delivery_state(delivery, "CloudWatch Logs", logs.get("CloudWatchLogs"))],
                   ["Firehose", str(logs.get("Firehose", {}).get("Enabled", False)), logs.get("Firehose", {}).get("DeliveryStream", ""),
                    _delivery_state(delivery, "Firehose", logs.get("Firehose"))],
                   ["S3", str(logs.get("S3", {}).get("Enabled", False)), f"{logs.get('S3', {}).get('Bucket', '')}/{logs.get('S3', {}).get('Prefix', '')}",
                    _delivery_state(delivery, "S3", logs.get("S3"))]]),
            id="logging", data_refresh=True, class_="card"),
        tag("section", tag("h2", "Tags"), table(["Key", "Value"], [[k, v] for k, v in sorted((info.get("Tags") or {}).items())],
                                                empty="No tags."), class_="card"),
        tag("section", tag("h2", "Operations"), table(["Type", "State", "Started", "Ended", "Error"], op_rows,
                                                      empty="No operations."), id="operations", data_refresh=True,
            class_="card"),
        actions,
    )
    return view.page(info["ClusterName"], body, crumbs=[info["ClusterName"]], tabs=cluster_tabs(info, "Overview"),
                     live=True)


async def _kafka_metadata(view: View, info: dict) -> dict:
    """Registered brokers and the controller from Kafka itself (kafka-cluster:DescribeCluster)."""
    if info["State"] in ("CREATING", "FAILED", "DELETING"):
        return {}
    try:
        return await view.kafka(info, "cluster", "DescribeCluster")
    except ServiceException:
        raise
    except Exception as exc:          # the brokers may be restarting: the page still renders
        return {"error": str(exc)}


async def _provisioned_list(view: View, info: dict, operation: str, key: str) -> list:
    """ListNodes / ListClusterOperations, which MSK serves for provisioned clusters only (a serverless cluster:
    none, services/kafka/serverless.py)."""
    if info.get("ClusterType") == "SERVERLESS":
        return []
    return (await view.call("kafka", operation, ClusterArn=info["ClusterArn"]))[key]


async def _safe(coro) -> Markup:
    try:
        return await coro
    except ServiceException as exc:
        return tag("p", f"{exc.code}: {exc.message}", class_="empty")


async def _actions(view: View, info: dict, nodes: list) -> Markup:
    url = lambda a: cluster_url(info, f"/action/{a}")      # noqa: E731
    version = info.get("CurrentVersion", "")
    cv = tag("input", type="hidden", name="current_version", value=version)
    p = provisioned(info)
    try:
        targets = (await view.call("kafka", "GetCompatibleKafkaVersions", ClusterArn=info["ClusterArn"]))[
            "CompatibleKafkaVersions"]
        targets = [t for c in targets for t in c.get("TargetVersions", [])]
    except ServiceException:
        targets = []
    try:
        configs = (await view.call("kafka", "ListConfigurations"))["Configurations"]
    except ServiceException:
        configs = []
    config_choices = [(f"{c['Arn']}|{(c.get('LatestRevision') or {}).get('Revision', 1)}",
                       f"{c['Name']} (revision {(c.get('LatestRevision') or {}).get('Revision', 1)})") for c in configs]
    broker_ids = [int(n["BrokerNodeInfo"]["BrokerId"]) for n in broker_nodes(nodes)]
    forms = [
        form(url("reboot"), view.csrf, tag("h3", "Reboot broker"), cv,
             select("Broker", "broker", [str(b) for b in sorted(broker_ids)]), button("Reboot")),
        form(url("broker-count"), view.csrf, tag("h3", "Add brokers"), cv,
             field("Target number of brokers", "count", type="number", value=p.get("NumberOfBrokerNodes", ""), min="1"),
             button("Update broker count")),
        form(url("storage"), view.csrf, tag("h3", "Storage"), cv,
             field("Volume size per broker (GiB)", "size", type="number", min="1", max="16384",
                   value=((p.get("BrokerNodeGroupInfo") or {}).get("StorageInfo") or {}).get("EbsStorageInfo", {}).get("VolumeSize", "")),
             button("Update storage")),
        form(url("configuration"), view.csrf, tag("h3", "Configuration"), cv,
             select("Configuration revision", "configuration", config_choices or [("", "no configurations")]),
             button("Apply configuration")),
        form(url("version"), view.csrf, tag("h3", "Apache Kafka version"), cv,
             select("Target version", "version", targets or [("", "no newer version")]), button("Upgrade")),
        form(url("monitoring"), view.csrf, tag("h3", "Monitoring"), cv,
             select("Enhanced monitoring", "level", MONITORING, p.get("EnhancedMonitoring")), button("Update monitoring")),
        form(url("tag"), view.csrf, tag("h3", "Tags"),
             field("Key", "key", required=True), field("Value", "value"), button("Add tag"),
             button("Remove tag", name="remove", value="1", formnovalidate=True)),
        form(url("delete"), view.csrf, tag("h3", "Delete cluster"), cv,
             field(f"Type {info['ClusterName']} to confirm", "confirm", required=True, autocomplete="off"),
             button("Delete", kind="danger")),
    ]
    return tag("section", tag("h2", "Actions"), tag("div", *forms, class_="actions"), class_="card", id="actions")


async def action(view: View) -> web.Response:
    info = await view.cluster()
    arn, f = info["ClusterArn"], view.form
    cv = f.get("current_version") or info.get("CurrentVersion")
    name = view.request.match_info["action"]
    back = cluster_url(info)
    if name == "reboot":
        r = await view.call("kafka", "RebootBroker", ClusterArn=arn, BrokerIds=[str(f.get("broker", ""))])
    elif name == "broker-count":
        r = await view.call("kafka", "UpdateBrokerCount", ClusterArn=arn, CurrentVersion=cv,
                            TargetNumberOfBrokerNodes=_int(f.get("count")))
    elif name == "storage":
        r = await view.call("kafka", "UpdateBrokerStorage", ClusterArn=arn, CurrentVersion=cv,
                            TargetBrokerEBSVolumeInfo=[{"KafkaBrokerNodeId": "All", "VolumeSizeGB": _int(f.get("size"))}])
    elif name == "configuration":
        carn, _, rev = (f.get("configuration") or "").partition("|")
        r = await view.call("kafka", "UpdateClusterConfiguration", ClusterArn=arn, CurrentVersion=cv,
                            ConfigurationInfo={"Arn": carn, "Revision": _int(rev or "1")})
    elif name == "version":
        r = await view.call("kafka", "UpdateClusterKafkaVersion", ClusterArn=arn, CurrentVersion=cv,
                            TargetKafkaVersion=f.get("version") or "")
    elif name == "monitoring":
        r = await view.call("kafka", "UpdateMonitoring", ClusterArn=arn, CurrentVersion=cv,
                            EnhancedMonitoring=f.get("level") or "DEFAULT")
    elif name == "tag":
        if f.get("remove"):
            await view.call("kafka", "UntagResource", ResourceArn=arn, TagKeys=[f.get("key", "")])
        else:
            await view.call("kafka", "TagResource", ResourceArn=arn, Tags={f.get("key", ""): f.get("value", "")})
        view.redirect(back, "ok", "Tags updated.")
    elif name == "delete":
        if f.get("confirm") != info["ClusterName"]:
            view.redirect(back, "error", "Type the cluster's name to confirm the deletion.")
        await view.call("kafka", "DeleteCluster", ClusterArn=arn, CurrentVersion=cv)
        view.redirect(f"{BASE}/", "ok", f"Deleting cluster {info['ClusterName']}.")
    else:
        raise web.HTTPNotFound()
    view.redirect(back, "ok", f"Started {r.get('ClusterOperationArn', 'the operation')}.")


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ServiceException("BadRequestException", f"'{value}' is not a whole number.", 400)


async def client_properties(view: View) -> web.Response:
    """A client.properties for one authentication mode (no secret in it: SCRAM gets placeholders)."""
    info = await view.cluster()
    mode = view.request.query.get("auth", "tls")
    if mode not in AUTH_MODES:
        raise web.HTTPNotFound()
    strings = await view.call("kafka", "GetBootstrapBrokers", ClusterArn=info["ClusterArn"])
    bootstrap = strings.get(AUTH_MODES[mode][1])
    if not bootstrap:
        raise ServiceException("BadRequestException", f"The cluster has no {AUTH_MODES[mode][0]} listener.", 400)
    ca = "<path printed by `openmsk ca-cert`>"
    lines = [f"# {info['ClusterName']}: {AUTH_MODES[mode][0]}", f"bootstrap.servers={bootstrap}"]
    if mode == "none":
        lines += ["security.protocol=PLAINTEXT"]
    elif mode == "tls":
        lines += ["security.protocol=SSL", "ssl.truststore.type=PEM", f"ssl.truststore.location={ca}",
                  "# mutual TLS: ssl.keystore.type=PEM and ssl.keystore.location=<your key and certificate PEM>"]
    elif mode == "scram":
        lines += ["security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-512", "ssl.truststore.type=PEM",
                  f"ssl.truststore.location={ca}",
                  'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required '
                  'username="<user of your AmazonMSK_ secret>" password="<its password>";']
    else:
        lines += ["security.protocol=SASL_SSL", "sasl.mechanism=AWS_MSK_IAM", "ssl.truststore.type=PEM",
                  f"ssl.truststore.location={ca}",
                  "sasl.jaas.config=software.amazon.msk.auth.iam.IAMLoginModule required;",
                  "sasl.client.callback.handler.class=software.amazon.msk.auth.iam.IAMClientCallbackHandler"]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain", headers={
        **SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{info["ClusterName"]}-{mode}.properties"'})
