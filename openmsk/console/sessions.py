"""Console sign-in sessions: an access key proven once, a random session id in an HttpOnly SameSite=Strict
cookie, and a per-session CSRF token every POST must carry.

Nothing secret is kept or logged: the secret access key is compared (constant time) with the one the
endpoint's SigV4 lookup knows, then dropped; what stays in memory is the key id, a SHA-256 of the
secret (so a rotated or deleted key ends its sessions) and, for STS credentials, the session token the
authorizer checks. Sessions live in this process only: restarting `openmsk serve` signs everyone out.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Callable

from ..api.invoke import Identity

COOKIE = "openmsk_console"
IDLE_SECONDS = 8 * 3600
MAX_SECONDS = 12 * 3600
MAX_SESSIONS = 1000


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class Session:
    sid: str
    access_key_id: str
    secret_digest: str = field(repr=False)
    region: str
    csrf: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    created: float = field(default_factory=time.time)
    seen: float = field(default_factory=time.time)
    flash: list = field(default_factory=list)          # (kind, text) shown once on the next page

    def identity(self, source_ip: str = "") -> Identity:
        return Identity(self.access_key_id, self.region, source_ip, self.session_token)

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token, self.csrf)

    def say(self, kind: str, text: str) -> None:
        self.flash.append((kind, text))

    def take_flash(self) -> list:
        out, self.flash = self.flash, []
        return out


class Sessions:
    def __init__(self, lookup_secret: Callable[[str], str | None]) -> None:
        self.lookup_secret = lookup_secret
        self._by_id: dict[str, Session] = {}

    def sign_in(self, access_key_id: str, secret_access_key: str, region: str,
                session_token: str | None = None) -> Session | None:
        known = self.lookup_secret(access_key_id) if access_key_id else None
        # Compare digests so both sides have equal length (compare_digest leaks only length).
        if known is None or not hmac.compare_digest(_digest(known), _digest(secret_access_key or "")):
            return None
        self._expire()
        session = Session(secrets.token_urlsafe(32), access_key_id, _digest(known), region,
                          secrets.token_urlsafe(32), session_token or None)
        self._by_id[session.sid] = session
        return session

    def get(self, sid: str | None) -> Session | None:
        session = self._by_id.get(sid or "")
        if session is None:
            return None
        now = time.time()
        known = self.lookup_secret(session.access_key_id)
        if (now - session.seen > IDLE_SECONDS or now - session.created > MAX_SECONDS or known is None
                or not hmac.compare_digest(_digest(known), session.secret_digest)):
            self._by_id.pop(session.sid, None)
            return None
        session.seen = now
        return session

    def sign_out(self, sid: str | None) -> None:
        self._by_id.pop(sid or "", None)

    def _expire(self) -> None:
        now = time.time()
        for sid, s in list(self._by_id.items()):
            if now - s.seen > IDLE_SECONDS or now - s.created > MAX_SECONDS:
                del self._by_id[sid]
        while len(self._by_id) >= MAX_SESSIONS:           # oldest first (dicts keep insertion order)
            del self._by_id[next(iter(self._by_id))]
