"""HTML building for the console: every value is escaped unless it is already `Markup` (built here)."""
from __future__ import annotations

import html as _html
from typing import Iterable
from urllib.parse import quote


class Markup(str):
    """Text that is already HTML."""


def h(value) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(_html.escape("" if value is None else str(value), quote=True))


def join(parts: Iterable) -> Markup:
    return Markup("".join(h(p) for p in parts))


def tag(name: str, /, *children, **attrs) -> Markup:
    """<name attrs>children</name>; attribute names: trailing _ dropped, _ -> -; True -> bare attribute."""
    rendered = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        key = key.rstrip("_").replace("_", "-")
        rendered.append(f" {key}" if value is True else f' {key}="{h(value)}"')
    if name in ("input", "br", "meta", "link", "img"):
        return Markup(f"<{name}{''.join(rendered)}>")
    return Markup(f"<{name}{''.join(rendered)}>{join(children)}</{name}>")


def link(href: str, text, **attrs) -> Markup:
    return tag("a", text, href=href, **attrs)


def seg(value: str) -> str:
    """One URL path segment."""
    return quote(str(value), safe="")


def table(headers: list, rows: list[list], *, caption: str | None = None, empty: str = "None.",
          cls: str = "grid", **attrs) -> Markup:
    if not rows:
        return tag("p", empty, class_="empty")
    head = tag("thead", tag("tr", *[tag("th", x, scope="col") for x in headers]))
    body = tag("tbody", *[tag("tr", *[tag("td", c) for c in row]) for row in rows])
    return tag("table", tag("caption", caption) if caption else "", head, body, class_=cls, **attrs)


def badge(text: str) -> Markup:
    kind = {"ACTIVE": "ok", "OK": "ok", "STABLE": "ok", "PENDING": "busy", "CREATING": "busy",
            "UPDATING": "busy", "HEALING": "warn", "REBOOTING_BROKER": "busy", "MAINTENANCE": "busy",
            "UPDATE_IN_PROGRESS": "busy", "UPDATE_COMPLETE": "ok", "ALARM": "bad", "FAILED": "bad",
            "UPDATE_FAILED": "bad", "REBOOT_IN_PROGRESS": "busy", "REBOOT_COMPLETE": "ok", "REBOOT_FAILED": "bad",
            "DELETING": "warn", "INSUFFICIENT_DATA": "warn", "EMPTY": "warn", "FAILING": "bad",
            "imok": "ok", "leader": "ok", "follower": "ok"}.get(text, "plain")
    return tag("span", text, class_=f"badge {kind}")


def hidden_csrf(token: str) -> Markup:
    return tag("input", type="hidden", name="csrf", value=token)


def form(action: str, csrf: str, *children, method: str = "post", **attrs) -> Markup:
    return tag("form", hidden_csrf(csrf) if method == "post" else "", *children, action=action, method=method,
               **attrs)


def field(label: str, name: str, *, type: str = "text", value="", required: bool = False, help: str = "",
          **attrs) -> Markup:
    ident = f"f-{name}"
    return tag("div", tag("label", label, for_=ident),
               tag("input", type=type, name=name, id=ident, value=value, required=required,
                   aria_describedby=f"{ident}-help" if help else None, **attrs),
               tag("small", help, id=f"{ident}-help") if help else "", class_="field")


def select(label: str, name: str, options: list, selected=None, *, help: str = "", **attrs) -> Markup:
    """options: values or (value, text) pairs."""
    ident = f"f-{name}"
    opts = []
    for opt in options:
        value, text = opt if isinstance(opt, tuple) else (opt, opt)
        opts.append(tag("option", text, value=value, selected=str(value) == str(selected)))
    return tag("div", tag("label", label, for_=ident), tag("select", *opts, name=name, id=ident, **attrs),
               tag("small", help) if help else "", class_="field")


def button(text: str, *, kind: str = "", **attrs) -> Markup:
    return tag("button", text, type=attrs.pop("type", "submit"), class_=f"btn {kind}".strip(), **attrs)


def copyable(value: str, label: str) -> Markup:
    """A read-only value with a copy button (console.js)."""
    return tag("div", tag("code", value), button("Copy", type="button", data_copy=value,
                                                 aria_label=f"Copy {label}"), class_="copyable")
