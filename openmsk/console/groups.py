"""Consumer groups: list with total lag, members and per-partition lag, and offset resets (earliest,
latest, timestamp) previewed before they are applied. Kafka calls run in the console's Kafka worker,
authorized as MSK's `kafka-cluster:DescribeGroup` / `kafka-cluster:AlterGroup`."""
from __future__ import annotations

import datetime as dt

from aiohttp import web

from .html import badge, button, field, form, link, select, seg, table, tag
from .web import View, cluster_tabs, cluster_url


# The groups list (every group's state, members and lag: 3 rounds of Kafka requests, 1-2 s on a loaded
# host) is kept this long: reloading it, or coming back to it from a group, costs nothing meanwhile.
GROUPS_TTL = 5.0


def _group_url(info: dict, group: str, suffix: str = "") -> str:
    return cluster_url(info, f"/groups/{seg(group)}{suffix}")


async def list_page(view: View) -> web.Response:
    info = await view.cluster()
    groups = await view.kafka(info, "groups", "DescribeGroup", ttl=GROUPS_TTL)
    rows = [[link(_group_url(info, g["group"]), g["group"]), badge(g["state"]), g["members"],
             ", ".join(g["topics"]), g["lag"]] for g in groups]
    as_of = dt.datetime.fromtimestamp(view.as_of, dt.timezone.utc).strftime("%H:%M:%S")
    body = tag("div", table(["Group", "State", "Members", "Topics", "Total lag (messages)"], rows,
                            empty="No consumer groups.", caption=f"{len(groups)} consumer groups"),
               tag("p", f"As read from the brokers at {as_of} UTC (kept up to {GROUPS_TTL:.0f} s; a group's own "
                        "page and a hard reload read them afresh).", class_="muted", id="groups-as-of"))
    return view.page("Consumer groups", body, crumbs=[link(cluster_url(info), info["ClusterName"]), "Consumer groups"],
                     tabs=cluster_tabs(info, "Consumer groups"))


def _reset_args(source, group: str) -> dict:
    to = source.get("to") if source.get("to") in ("earliest", "latest", "timestamp") else "earliest"
    ts = None
    if to == "timestamp":
        try:
            when = dt.datetime.fromisoformat(source.get("timestamp") or "")
        except ValueError:
            from ..api.core import ServiceException
            raise ServiceException("BadRequestException", "Give the timestamp as ISO 8601 (2026-01-01T10:00:00).", 400)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        ts = int(when.timestamp() * 1000)
    return {"group": group, "topic": source.get("topic") or None, "to": to, "timestamp_ms": ts}


async def detail_page(view: View) -> web.Response:
    info = await view.cluster()
    group = view.request.match_info["group"]
    q = view.request.query
    detail = await view.kafka(info, "group", "DescribeGroup", group=group)
    members = [[m["client"], m["host"], m["member"], ", ".join(f"{t}-{p}" for t, p in m["assignment"])]
               for m in detail["members"]]
    parts = [[p["topic"], p["partition"], p["committed"], p["end"], p["lag"], p["owner"] or "–"]
             for p in detail["partitions"]]
    topics = sorted({p["topic"] for p in detail["partitions"]})
    preview = ""
    if q.get("preview"):
        args = _reset_args(q, group)
        moved = await view.kafka(info, "reset", "DescribeGroup", apply=False, **args)
        rows = [[r["topic"], r["partition"], r["current"], r["target"], r["target"] - max(r["current"], 0)
                 if r["current"] >= 0 else "new", r["lag_after"]] for r in moved["rows"]]
        apply = form(_group_url(info, group, "/reset"), view.csrf,
                     *[tag("input", type="hidden", name=k, value=q.get(k, "")) for k in ("to", "timestamp", "topic")],
                     button("Apply this reset", kind="danger"))
        preview = tag("section", tag("h2", "Preview of the reset"),
                      table(["Topic", "Partition", "Current offset", "New offset", "Moves by", "Lag after"], rows),
                      apply, class_="card", id="preview")
    reset = tag("form",
                tag("input", type="hidden", name="preview", value="1"),
                select("Topic", "topic", [("", "all committed topics")] + topics, q.get("topic", "")),
                select("Reset to", "to", [("earliest", "earliest"), ("latest", "latest"), ("timestamp", "timestamp")],
                       q.get("to", "earliest")),
                field("Timestamp (UTC, ISO 8601)", "timestamp", value=q.get("timestamp", ""),
                      placeholder="2026-01-01T10:00:00"),
                button("Preview reset"), method="get", class_="filter")
    body = tag("div",
               tag("dl", tag("dt", "State"), tag("dd", badge(detail["state"])),
                   tag("dt", "Assignor"), tag("dd", detail.get("protocol") or "–"),
                   tag("dt", "Coordinator"), tag("dd", detail.get("coordinator")),
                   tag("dt", "Total lag"), tag("dd", sum(p["lag"] for p in detail["partitions"]), id="total-lag"),
                   class_="facts"),
               table(["Client", "Host", "Member", "Assigned partitions"], members, caption="Members",
                     empty="No active members."),
               table(["Topic", "Partition", "Committed offset", "Log end offset", "Lag", "Consumer"], parts,
                     caption="Offsets and lag", empty="No committed offsets."),
               tag("section", tag("h2", "Reset offsets"),
                   tag("p", "The group must have no active members. Preview first: nothing moves until you apply."),
                   reset, class_="card"),
               preview)
    return view.page(f"Group {group}", body,
                     crumbs=[link(cluster_url(info), info["ClusterName"]), link(cluster_url(info, "/groups"),
                                                                                "Consumer groups"), group],
                     tabs=cluster_tabs(info, "Consumer groups"))


async def reset_action(view: View) -> web.Response:
    info = await view.cluster()
    group = view.request.match_info["group"]
    args = _reset_args(view.form, group)
    done = await view.kafka(info, "reset", "AlterGroup", apply=True, **args)
    view.console.memo.drop(lambda key: key[:2] == ("kafka", info["ClusterArn"]))     # the lag it listed moved
    view.redirect(_group_url(info, group), "ok",
                  f"Reset {len(done['rows'])} partition offsets of {group} to {args['to']}.")
