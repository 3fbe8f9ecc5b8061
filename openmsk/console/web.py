"""The console's HTTP side: sign-in, the session/CSRF gate every page passes, the page layout, and the
route table `server.py` mounts on the endpoint (before the AWS catch-all).

Every page and action runs through `View.call()`, i.e. `api.invoke.Operations.call()`: the same model
validation, IAM authorization and provider handler as the same AWS API call. Kafka data-plane actions
(groups, offsets, messages) are authorized by the same authorizer as MSK's `kafka-cluster:*` actions.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

from aiohttp import web

from .. import config
from ..api.core import ServiceException
from ..api.invoke import Operations
from .cache import Memo
from .html import Markup, button, field, form, h, link, select, seg, tag
from .kafka_worker import KafkaCallError, KafkaWorker
from .sessions import COOKIE, Session, Sessions

log = logging.getLogger("openmsk.console")
STATIC = Path(__file__).parent / "static"
BASE = "/console"
KEY_ID = re.compile(r"^A[A-Z0-9]{15,127}$")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
REGIONS = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1",
           "ap-northeast-1"]


class View:
    """One request of a signed-in user: API calls as that user, rendering, redirects."""

    def __init__(self, console: "Console", request: web.Request, session: Session, form: dict) -> None:
        self.console, self.request, self.session, self.form = console, request, session, form
        self.identity = session.identity(request.remote or "")
        self.started = time.perf_counter()
        self.as_of = time.time()                # when the Kafka data a page shows was read (kafka(ttl=...))
        self.waited: dict[str, list] = {}       # what the page waited for: name -> [ms, calls] (Server-Timing)

    @property
    def fresh(self) -> bool:
        """A hard reload (`Cache-Control: no-cache`, as browsers send it): no kept result is used."""
        return "no-cache" in self.request.headers.get("Cache-Control", "") or \
            "no-cache" in self.request.headers.get("Pragma", "")

    def timed(self, name: str, started: float) -> None:
        entry = self.waited.setdefault(name, [0.0, 0])
        entry[0] += (time.perf_counter() - started) * 1000
        entry[1] += 1

    @property
    def csrf(self) -> str:
        return self.session.csrf

    @property
    def region(self) -> str:
        return self.session.region

    async def call(self, service: str, operation: str, **params) -> dict:
        started = time.perf_counter()
        try:
            return await self.console.operations.call(self.identity, service, operation, params)
        finally:
            self.timed(f"{service}.{operation}", started)

    def check(self, action: str, **params) -> None:
        self.console.operations.check_action(self.identity, action, params)

    def cluster_arn(self, name: str, uuid: str) -> str:
        return f"arn:aws:kafka:{self.region}:{self.console.account_id}:cluster/{name}/{uuid}"

    async def cluster(self) -> dict:
        """DescribeClusterV2 of the cluster in the URL (authorized as that API call)."""
        m = self.request.match_info
        info = await self.call("kafka", "DescribeClusterV2", ClusterArn=self.cluster_arn(m["name"], m["uuid"]))
        return info["ClusterInfo"]

    async def kafka(self, cluster: dict, action: str, kafka_action: str, *, ttl: float = 0.0, **args) -> dict:
        """A Kafka data-plane call on `cluster` after the IAM decisions for `kafka-cluster:Connect` and
        `kafka-cluster:<kafka_action>` on the cluster, topic or group ARN (as MSK's IAM access control).
        With `ttl`, a result of the same call made less than `ttl` seconds ago is answered (the decisions
        are still made for this user first); `self.as_of` is when the answered result was read."""
        names = {k: v for k, v in (("Topic", args.get("topic")), ("Group", args.get("group"))) if v}
        arn = cluster["ClusterArn"]
        self.check("kafka-cluster:Connect", ClusterArn=arn)
        self.check(f"kafka-cluster:{kafka_action}", ClusterArn=arn, **names)
        doc = self.console.plane.load_cluster(arn)
        from ..control.scram import admin_config
        config = admin_config(self.console.plane, doc)
        started = time.perf_counter()
        try:
            if not ttl:
                self.as_of = time.time()
                return await self.console.worker.call(config, action, **args)
            # keyed by a digest: the client config may hold the admin's SCRAM password
            key = ("kafka", arn, action, hashlib.sha256(json.dumps([config, args], sort_keys=True).encode()).hexdigest())
            value, self.as_of = await self.console.memo.get(
                key, ttl, lambda: self.console.worker.call(config, action, **args), fresh=self.fresh)
            return value
        finally:
            self.timed(f"kafka.{action}", started)

    def redirect(self, url: str, kind: str = "", text: str = "") -> web.Response:
        if text:
            self.session.say(kind or "ok", text)
        raise web.HTTPSeeOther(url, headers=SECURITY_HEADERS)

    def page(self, title: str, body, *, crumbs: list | None = None, tabs: Markup | str = "", status: int = 200,
             live: bool = False) -> web.Response:
        flashes = [tag("div", text, class_=f"flash {kind}", role="alert" if kind == "error" else "status")
                   for kind, text in self.session.take_flash()]
        trail = [link(f"{BASE}/", "Clusters")] + [c if isinstance(c, Markup) else h(c) for c in (crumbs or [])]
        nav = tag("nav", *[Markup(x + (" › " if i < len(trail) - 1 else "")) for i, x in enumerate(trail)],
                  aria_label="Breadcrumb", class_="crumbs")
        who = self.session.access_key_id
        header = tag("header",
                     tag("a", "openmsk", tag("span", " console"), href=f"{BASE}/", class_="brand"),
                     form(f"{BASE}/region", self.csrf,
                          select("Region", "region", REGIONS, self.region, data_autosubmit="1"),
                          button("Switch", kind="small"), class_="region"),
                     tag("span", "Signed in as ", tag("code", who), class_="who"),
                     form(f"{BASE}/signout", self.csrf, button("Sign out", kind="small")),
                     class_="top")
        took = (time.perf_counter() - self.started) * 1000
        doc = Markup("<!doctype html>") + tag(
            "html",
            tag("head", tag("meta", charset="utf-8"), tag("meta", name="viewport", content="width=device-width"),
                tag("title", f"{title} · openmsk console"),
                tag("link", rel="stylesheet", href=f"{BASE}/static/console.css"),
                tag("link", rel="icon", href="data:,"),
                tag("script", src=f"{BASE}/static/console.js", defer=True)),
            tag("body", tag("a", "Skip to content", href="#main", class_="skip"), header,
                tag("main", nav, tag("h1", title), tabs, *flashes, body, id="main", data_live=live or None,
                    data_csrf=self.csrf),
                tag("footer", f"Rendered in {took:.0f} ms · region {self.region}")),
            lang="en")
        timing = ", ".join([f"{n};dur={ms:.1f};desc=\"{calls} calls\"" for n, (ms, calls) in self.waited.items()] +
                           [f"total;dur={took:.1f}"])
        return web.Response(text=doc, status=status, content_type="text/html",
                            headers={**SECURITY_HEADERS, "Server-Timing": timing})


def _safe_next(target: str | None) -> str:
    """Only a path of the console itself (no open redirect)."""
    if not target:
        return f"{BASE}/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(f"{BASE}/") or "//" in parts.path:
        return f"{BASE}/"
    return target


def _same_origin(request: web.Request) -> bool:
    """A browser's Origin (or Referer) must be this endpoint: a second line behind the CSRF token."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin or origin == "null":
        return origin != "null"
    parts = urlsplit(origin)
    return parts.netloc == request.host


def _plain(text: str, status: int) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/plain", headers=SECURITY_HEADERS)


class Console:
    def __init__(self, installation, operations: Operations, lookup_secret) -> None:
        self.installation = installation
        self.plane = installation.plane
        self.operations = operations
        self.account_id = installation.account_id
        self.sessions = Sessions(lookup_secret)
        self.worker = KafkaWorker()
        self.memo = Memo()                    # short-lived Kafka/metric results (cache.py)
        self.zookeeper_probes: dict = {}      # cluster ARN -> (monotonic time, rendered probe table)

    @property
    def operator(self):
        """openmsk's operator API (broker-log delivery problems, as `openmsk status` reads them)."""
        return self.installation.operator_api()

    # -- the gate ----------------------------------------------------------------------------------
    def gate(self, fn):
        """Session required; POSTs need the session's CSRF token and a same-origin browser."""
        async def handler(request: web.Request) -> web.StreamResponse:
            session = self.sessions.get(request.cookies.get(COOKIE))
            if session is None:
                if request.method == "GET":
                    raise web.HTTPSeeOther(f"{BASE}/signin?next={quote(request.rel_url.path_qs, safe='')}",
                                           headers=SECURITY_HEADERS)
                return _plain("Sign in first.", 401)
            data = {}
            if request.method == "POST":
                data = await request.post()
                token = data.get("csrf") or request.headers.get("X-CSRF-Token")
                if not session.csrf_ok(token) or not _same_origin(request):
                    log.info("console: POST %s refused (CSRF token missing or wrong)", request.path)
                    return _plain("Forbidden: the form's CSRF token is missing or wrong. Reload the page.", 403)
            view = View(self, request, session, data)
            try:
                return await fn(view)
            except ServiceException as exc:
                return self.error_page(view, exc.code, exc.message, exc.status_code)
            except KafkaCallError as exc:
                return self.error_page(view, exc.code, str(exc), 409)
            except web.HTTPException:          # redirects and 404s are answers, not failures
                raise
            except Exception:
                return self.internal_error(view)
        return handler

    def internal_error(self, view: View) -> web.Response:
        """A bug in a page or action: logged with its traceback under a reference, and shown (status 500)
        as the console's own error page with that reference -- never aiohttp's bare 500."""
        ref = secrets.token_hex(4)
        log.exception("console: %s %s failed (reference %s)", view.request.method, view.request.path, ref)
        body = tag("div", tag("strong", "InternalFailure"), ": The console could not render this page "
                   f"(reference {ref}). The service log has the details.", class_="flash error", role="alert")
        try:
            return view.page("Error", body, status=500)
        except Exception:
            log.exception("console: the error page itself failed (reference %s)", ref)
            return _plain(f"Internal error (reference {ref}); see the service log.", 500)

    def error_page(self, view: View, code: str, message: str, status: int) -> web.Response:
        if view.request.method == "POST":
            back = _safe_next(view.form.get("back") or urlsplit(view.request.headers.get("Referer", "")).path)
            view.session.say("error", f"{code}: {message}")
            raise web.HTTPSeeOther(back, headers=SECURITY_HEADERS)
        body = tag("div", tag("strong", code), ": ", message, class_="flash error", role="alert")
        return view.page("Request refused" if status in (401, 403) else "Error", body, status=status)

    # -- sign-in -----------------------------------------------------------------------------------
    def _signin_page(self, next_url: str, error: str = "", status: int = 200) -> web.Response:
        body = tag("form",
                   tag("h1", "Sign in to the openmsk console"),
                   tag("p", "Use the installation's access key (credentials.json in its data directory) or an IAM "
                            "user's key. Every action is authorized as the same AWS API call."),
                   tag("div", error, class_="flash error", role="alert") if error else "",
                   field("Access key ID", "access_key_id", required=True, autocomplete="username",
                         autofocus=True, spellcheck="false"),
                   field("Secret access key", "secret_access_key", type="password", required=True,
                         autocomplete="current-password"),
                   field("Session token (temporary credentials only)", "session_token", type="password",
                         autocomplete="off"),
                   select("Region", "region", REGIONS, config.DEFAULT_REGION),
                   tag("input", type="hidden", name="next", value=next_url),
                   button("Sign in", kind="primary"),
                   action=f"{BASE}/signin", method="post", class_="signin")
        doc = Markup("<!doctype html>") + tag(
            "html", tag("head", tag("meta", charset="utf-8"), tag("title", "Sign in · openmsk console"),
                        tag("link", rel="icon", href="data:,"),
                        tag("link", rel="stylesheet", href=f"{BASE}/static/console.css")),
            tag("body", tag("main", body, id="main", class_="narrow")), lang="en")
        return web.Response(text=doc, status=status, content_type="text/html", headers=SECURITY_HEADERS)

    async def signin_get(self, request: web.Request) -> web.Response:
        return self._signin_page(_safe_next(request.query.get("next")))

    async def signin_post(self, request: web.Request) -> web.Response:
        data = await request.post()
        next_url = _safe_next(data.get("next"))
        if not _same_origin(request):
            return _plain("Forbidden: cross-origin sign-in.", 403)
        region = data.get("region") if data.get("region") in REGIONS else config.DEFAULT_REGION
        session = self.sessions.sign_in(str(data.get("access_key_id", "")).strip(),
                                        str(data.get("secret_access_key", "")), region,
                                        str(data.get("session_token", "")).strip() or None)
        if session is None:
            typed = str(data.get("access_key_id", "")).strip()       # logged only if it looks like a key id
            log.info("console: sign-in refused for %s", typed if KEY_ID.match(typed) else "a malformed key id")
            return self._signin_page(next_url, "The access key ID or secret access key is not valid.", 401)
        log.info("console: key %s signed in", session.access_key_id)
        response = web.HTTPSeeOther(next_url, headers=SECURITY_HEADERS)
        response.set_cookie(COOKIE, session.sid, path=f"{BASE}/", httponly=True, samesite="Strict")
        raise response

    async def signout(self, view: View) -> web.Response:
        self.sessions.sign_out(view.session.sid)
        response = web.HTTPSeeOther(f"{BASE}/signin", headers=SECURITY_HEADERS)
        response.del_cookie(COOKIE, path=f"{BASE}/")
        raise response

    async def switch_region(self, view: View) -> web.Response:
        if view.form.get("region") in REGIONS:
            view.session.region = view.form["region"]
        raise web.HTTPSeeOther(f"{BASE}/", headers=SECURITY_HEADERS)

    async def to_index(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{BASE}/")

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["file"]
        path = STATIC / name
        if "/" in name or not path.is_file():
            raise web.HTTPNotFound()
        kind = {"css": "text/css", "js": "text/javascript"}.get(name.rpartition(".")[2], "application/octet-stream")
        return web.Response(body=path.read_bytes(), content_type=kind,
                            headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"})

    # -- routes ------------------------------------------------------------------------------------
    def routes(self) -> list[tuple[str, str, object]]:
        from . import clusters, create, groups, metrics, topics
        g = self.gate
        c = BASE + "/clusters/{name}/{uuid}"
        return [
            ("GET", BASE, self.to_index),
            ("GET", f"{BASE}/signin", self.signin_get),
            ("POST", f"{BASE}/signin", self.signin_post),
            ("POST", f"{BASE}/signout", g(self.signout)),
            ("POST", f"{BASE}/region", g(self.switch_region)),
            ("GET", BASE + "/static/{file}", self.static),
            ("GET", f"{BASE}/", g(clusters.list_page)),
            ("GET", f"{BASE}/create", g(create.create_page)),
            ("POST", f"{BASE}/create", g(create.create_action)),
            ("GET", c, g(clusters.detail_page)),
            ("GET", c + "/client.properties", g(clusters.client_properties)),
            ("POST", c + "/action/{action}", g(clusters.action)),
            ("GET", c + "/topics", g(topics.list_page)),
            ("POST", c + "/topics", g(topics.create_action)),
            ("GET", c + "/topics/{topic}", g(topics.detail_page)),
            ("POST", c + "/topics/{topic}/update", g(topics.update_action)),
            ("POST", c + "/topics/{topic}/delete", g(topics.delete_action)),
            ("GET", c + "/topics/{topic}/messages", g(topics.messages_page)),
            ("GET", c + "/groups", g(groups.list_page)),
            ("GET", c + "/groups/{group}", g(groups.detail_page)),
            ("POST", c + "/groups/{group}/reset", g(groups.reset_action)),
            ("GET", c + "/metrics", g(metrics.metrics_page)),
            ("GET", c + "/logs", g(metrics.logs_page)),
        ]


def cluster_url(cluster: dict, suffix: str = "") -> str:
    _, _, rest = cluster["ClusterArn"].partition(":cluster/")
    name, _, uuid = rest.partition("/")
    return f"{BASE}/clusters/{seg(name)}/{seg(uuid)}{suffix}"


def cluster_tabs(cluster: dict, current: str) -> Markup:
    items = [("Overview", ""), ("Topics", "/topics"), ("Consumer groups", "/groups"), ("Metrics", "/metrics"),
             ("Broker logs", "/logs")]
    return tag("nav", tag("ul", *[tag("li", link(cluster_url(cluster, suffix), text,
                                                 aria_current="page" if text == current else None))
                                  for text, suffix in items]), class_="tabs", aria_label="Cluster")
