"""The web console's gate (issue 16) against a real `openmsk serve`, with a plain HTTP client: anonymous
requests go to the sign-in page, POSTs need the session's CSRF token and a same-origin browser, the
cookie is HttpOnly/SameSite=Strict, and no secret reaches a URL or the log. The user journey in a real
browser is tests/test_console_browser.py."""
from __future__ import annotations

import re

import pytest
import requests

from harness import Service, free_port

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
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


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
    assert ok.status_code == 400 and "BadRequestException" in ok.text or "ValidationException" in ok.text
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
