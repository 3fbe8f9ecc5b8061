"""Topics: the list (MSK's ListTopics), create/configure/delete (CreateTopic, UpdateTopic, DeleteTopic),
partition detail (DescribeTopicPartitions, replicas by zone) and the message browser (kafka-cluster:ReadData)."""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from urllib.parse import urlencode

from aiohttp import web

from ..api.core import ServiceException
from .clusters import broker_nodes, zones_of
from .html import Markup, badge, button, field, form, link, select, seg, table, tag
from .web import View, cluster_tabs, cluster_url


def _topic_url(info: dict, topic: str, suffix: str = "") -> str:
    return cluster_url(info, f"/topics/{seg(topic)}{suffix}")


def _configs_b64(text: str) -> str | None:
    """key=value lines -> MSK's Base64 JSON `Configs`."""
    configs = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition("=")
        if key.strip():
            configs[key.strip()] = value.strip()
    return base64.b64encode(json.dumps(configs).encode()).decode() if configs else None


async def list_page(view: View) -> web.Response:
    info = await view.cluster()
    prefix = view.request.query.get("filter", "")
    params = {"ClusterArn": info["ClusterArn"]}
    if prefix:
        params["TopicNameFilter"] = prefix
    topics = (await view.call("kafka", "ListTopics", **params))["Topics"]
    rows = [[link(_topic_url(info, t["TopicName"]), t["TopicName"]), t["PartitionCount"], t["ReplicationFactor"],
             badge("UNDER-REPLICATED") if t.get("OutOfSyncReplicaCount") else badge("OK"),
             t.get("OutOfSyncReplicaCount", 0)] for t in topics]
    created = view.request.query.get("created", "")
    pending = bool(created) and created not in {t["TopicName"] for t in topics}
    if pending:                      # just created here; the brokers do not list it yet (see create_action)
        rows.insert(0, [tag("span", created, id="creating-topic"), "–", "–", badge("CREATING"), "–"])
    create = form(cluster_url(info, "/topics"), view.csrf, tag("h2", "Create topic"),
                  field("Topic name", "name", required=True, pattern="[a-zA-Z0-9._-]{1,249}"),
                  field("Partitions", "partitions", type="number", value="3", min="1", required=True),
                  field("Replication factor", "replication", type="number", value="3", min="1", required=True),
                  tag("div", tag("label", "Topic configuration (key=value per line)", for_="f-configs"),
                      tag("textarea", "", name="configs", id="f-configs", rows="2",
                          placeholder="retention.ms=86400000"), class_="field"),
                  button("Create topic", kind="primary"), class_="card inline")
    search = tag("form", field("Filter by name prefix", "filter", value=prefix), button("Filter", kind="small"),
                 method="get", class_="filter")
    listing = tag("div", table(["Topic", "Partitions", "Replication factor", "Replicas", "Out of sync"], rows,
                               empty="No topics.", caption=f"{len(topics)} topics"),
                  id="topic-list", data_refresh=bool(created) or None)      # live until (and once) listed
    body = tag("div", search, listing, create)
    return view.page("Topics", body, crumbs=[link(cluster_url(info), info["ClusterName"]), "Topics"],
                     tabs=cluster_tabs(info, "Topics"), live=bool(created))


async def create_action(view: View) -> web.Response:
    info = await view.cluster()
    f = view.form
    params = {"ClusterArn": info["ClusterArn"], "TopicName": (f.get("name") or "").strip(),
              "PartitionCount": _int(f.get("partitions")), "ReplicationFactor": _int(f.get("replication"))}
    configs = _configs_b64(f.get("configs", ""))
    if configs:
        params["Configs"] = configs
    await view.call("kafka", "CreateTopic", **params)
    name = params["TopicName"]
    # CreateTopic answers once the controller took the topic (MSK's Status CREATING); the brokers learn of
    # it a moment later (seconds on a loaded host), and until then its own page would be a 404. So the
    # answer is the topics list, which shows the new topic as CREATING and refreshes itself until the
    # brokers list it (then its name links to its page).
    view.redirect(cluster_url(info, f"/topics?{urlencode({'created': name})}"), "ok",
                  f"Created topic {name}. It is listed as CREATING until the brokers know it.")


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ServiceException("BadRequestException", f"'{value}' is not a whole number.", 400)


async def detail_page(view: View) -> web.Response:
    info = await view.cluster()
    topic = view.request.match_info["topic"]
    arn = info["ClusterArn"]
    described, partitions, nodes, zones = await asyncio.gather(
        view.call("kafka", "DescribeTopic", ClusterArn=arn, TopicName=topic),
        view.call("kafka", "DescribeTopicPartitions", ClusterArn=arn, TopicName=topic),
        view.call("kafka", "ListNodes", ClusterArn=arn), zones_of(view))
    zone_of = {int(n["BrokerNodeInfo"]["BrokerId"]): zones.get(n["BrokerNodeInfo"]["ClientSubnet"], "?")
               for n in broker_nodes(nodes["NodeInfoList"])}
    configs = json.loads(base64.b64decode(described.get("Configs") or "e30="))
    rows = [[p["Partition"], p["Leader"], ", ".join(f"{r} ({zone_of.get(r, '?')})" for r in p["Replicas"]),
             ", ".join(str(i) for i in p["Isr"]),
             badge("UNDER-REPLICATED") if len(p["Isr"]) < len(p["Replicas"]) else badge("OK")]
            for p in partitions["Partitions"]]
    edit = form(_topic_url(info, topic, "/update"), view.csrf, tag("h2", "Configure"),
                field("Partitions (increase only)", "partitions", type="number", value=described["PartitionCount"],
                      min=str(described["PartitionCount"])),
                tag("div", tag("label", "Set configuration (key=value per line)", for_="f-configs"),
                    tag("textarea", "", name="configs", id="f-configs", rows="2", placeholder="retention.ms=3600000"),
                    class_="field"),
                button("Update topic"), class_="card inline")
    delete = form(_topic_url(info, topic, "/delete"), view.csrf, tag("h2", "Delete"),
                  field(f"Type {topic} to confirm", "confirm", required=True, autocomplete="off"),
                  button("Delete topic", kind="danger"), class_="card inline")
    body = tag("div",
               tag("p", link(_topic_url(info, topic, "/messages"), "Browse messages", class_="btn primary")),
               tag("dl", tag("dt", "Status"), tag("dd", badge(described.get("Status", ""))),
                   tag("dt", "Partitions"), tag("dd", described["PartitionCount"]),
                   tag("dt", "Replication factor"), tag("dd", described["ReplicationFactor"]), class_="facts"),
               table(["Partition", "Leader", "Replicas (zone)", "In-sync replicas", ""], rows, caption="Partitions"),
               table(["Configuration", "Value"], [[k, v] for k, v in sorted(configs.items())], caption="Configuration"),
               tag("div", edit, delete, class_="actions"))
    return view.page(topic, body, crumbs=[link(cluster_url(info), info["ClusterName"]),
                                          link(cluster_url(info, "/topics"), "Topics"), topic],
                     tabs=cluster_tabs(info, "Topics"))


async def update_action(view: View) -> web.Response:
    info = await view.cluster()
    topic = view.request.match_info["topic"]
    described = await view.call("kafka", "DescribeTopic", ClusterArn=info["ClusterArn"], TopicName=topic)
    params = {"ClusterArn": info["ClusterArn"], "TopicName": topic}
    wanted = _int(view.form.get("partitions") or described["PartitionCount"])
    if wanted != described["PartitionCount"]:
        params["PartitionCount"] = wanted
    configs = _configs_b64(view.form.get("configs", ""))
    if configs:
        params["Configs"] = configs
    await view.call("kafka", "UpdateTopic", **params)
    view.redirect(_topic_url(info, topic), "ok", f"Updated topic {topic}.")


async def delete_action(view: View) -> web.Response:
    info = await view.cluster()
    topic = view.request.match_info["topic"]
    if view.form.get("confirm") != topic:
        view.redirect(_topic_url(info, topic), "error", "Type the topic's name to confirm the deletion.")
    await view.call("kafka", "DeleteTopic", ClusterArn=info["ClusterArn"], TopicName=topic)
    view.redirect(cluster_url(info, "/topics"), "ok", f"Deleting topic {topic}.")


# -- message browser -----------------------------------------------------------------------------------
def render_bytes(b64: str | None, as_: str) -> Markup:
    if b64 is None:
        return tag("em", "null")
    raw = base64.b64decode(b64)
    if as_ == "hex":
        return tag("code", raw.hex(" "))
    text = raw.decode("utf-8", errors="replace")
    if as_ == "json":
        try:
            return tag("pre", json.dumps(json.loads(text), indent=2, ensure_ascii=False))
        except ValueError:
            return tag("code", text, title="not JSON")
    return tag("code", text)


async def messages_page(view: View) -> web.Response:
    info = await view.cluster()
    topic = view.request.query.get("topic") or view.request.match_info["topic"]
    q = view.request.query
    mode = q.get("mode", "latest") if q.get("mode") in ("latest", "offset", "timestamp") else "latest"
    as_ = q.get("as", "text") if q.get("as") in ("text", "json", "hex") else "text"
    count = max(1, min(_int(q.get("count") or 20), 500))
    partition = None if q.get("partition", "") in ("", "all") else _int(q.get("partition"))
    args = {"topic": topic, "partition": partition, "mode": mode, "count": count, "offset": None, "timestamp_ms": None}
    if mode == "offset":
        args["offset"] = _int(q.get("offset") or 0)
    if mode == "timestamp":
        try:
            when = dt.datetime.fromisoformat(q.get("timestamp") or "")
        except ValueError:
            when = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        args["timestamp_ms"] = int(when.timestamp() * 1000)
    # DescribeTopic (admin pool) and the browse (Kafka worker) run side by side.
    described, result = await asyncio.gather(
        view.call("kafka", "DescribeTopic", ClusterArn=info["ClusterArn"], TopicName=topic),
        view.kafka(info, "browse", "ReadData", **args))
    rows = []
    for m in result["messages"]:
        when = dt.datetime.fromtimestamp(m["timestamp"] / 1000, dt.timezone.utc).isoformat(timespec="milliseconds")
        headers = tag("ul", *[tag("li", tag("code", k), ": ", render_bytes(v, as_)) for k, v in m["headers"]],
                      class_="plain") if m["headers"] else ""
        rows.append([m["partition"], m["offset"], when[:23], render_bytes(m["key"], as_), headers,
                     render_bytes(m["value"], as_)])
    controls = tag(
        "form",
        select("Partition", "partition", [("all", "all")] + [str(p) for p in range(described["PartitionCount"])],
               "all" if partition is None else partition),
        select("Start", "mode", [("latest", "latest N"), ("offset", "from offset"), ("timestamp", "from timestamp")],
               mode),
        field("N", "count", type="number", value=count, min="1", max="500"),
        field("Offset", "offset", type="number", value=q.get("offset", ""), min="0"),
        field("Timestamp (UTC, ISO 8601)", "timestamp", value=q.get("timestamp", ""), placeholder="2026-01-01T10:00:00"),
        select("Show as", "as", ["text", "json", "hex"], as_),
        button("Browse", kind="primary"), method="get", class_="filter")
    marks = ", ".join(f"p{p}: {lo}–{hi}" for p, (lo, hi) in sorted(result["watermarks"].items(), key=lambda x: int(x[0])))
    body = tag("div", controls, tag("p", f"Offsets (low–high): {marks}", class_="muted"),
               table(["Partition", "Offset", "Timestamp (UTC)", "Key", "Headers", "Value"], rows,
                     empty="No messages in that range.", caption=f"{len(rows)} messages", cls="grid messages"))
    return view.page(f"Messages of {topic}", body,
                     crumbs=[link(cluster_url(info), info["ClusterName"]), link(cluster_url(info, "/topics"), "Topics"),
                             link(_topic_url(info, topic), topic), "Messages"], tabs=cluster_tabs(info, "Topics"))
