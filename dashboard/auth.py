"""Who may act: a bearer token from the settings, sent in a header, never a cookie.

* No token configured (`SEXTANT_DASHBOARD__TOKEN` unset): every action is refused (403).
* `Authorization: Bearer <token>` missing or wrong: 401. The comparison is constant-time.
* CSRF: the dashboard sets and reads no cookie, so a page on another site cannot make the
  browser send the token; actions also need `Content-Type: application/json` (a cross-site
  form cannot send it without a CORS preflight, which the dashboard never grants) and an
  `Origin`, when the browser sends one, equal to the dashboard's own.
* Guessing: after `max_failures` wrong tokens within `window_s` every action is refused
  (429) until the window has passed.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str

    @property
    def headers(self) -> dict[str, str]:
        if self.status == 401:
            return {"WWW-Authenticate": 'Bearer realm="sextant"'}
        return {}


class TokenGate:
    def __init__(
        self,
        token: str | None,
        *,
        max_failures: int = 10,
        window_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token = token.strip().encode() if token else None
        self.max_failures = max_failures
        self.window_s = window_s
        self._now = monotonic
        self._failures: deque[float] = deque()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def _throttled(self) -> bool:
        with self._lock:
            now = self._now()
            while self._failures and now - self._failures[0] > self.window_s:
                self._failures.popleft()
            return len(self._failures) >= self.max_failures

    def _fail(self) -> None:
        with self._lock:
            self._failures.append(self._now())

    def check(self, headers: Mapping[str, str], own_origin: str) -> Refusal | None:
        """None when the request may act; else why not. `headers` lower-case names."""
        if self._token is None:
            return Refusal(
                403, "actions are disabled: no SEXTANT_DASHBOARD__TOKEN is configured"
            )
        origin = headers.get("origin")
        if origin is not None and not same_origin(origin, own_origin):
            return Refusal(403, f"cross-origin request refused (Origin {origin})")
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return Refusal(415, "actions take a JSON body (Content-Type: application/json)")
        if self._throttled():
            return Refusal(429, "too many wrong tokens: actions refused for a minute")
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return Refusal(401, "authentication required: Authorization: Bearer <token>")
        if not hmac.compare_digest(value.strip().encode(), self._token):
            self._fail()
            return Refusal(401, "wrong token")
        return None


def same_origin(origin: str, own: str) -> bool:
    a, b = urlsplit(origin), urlsplit(own)
    return (a.scheme, a.hostname, a.port or _default_port(a.scheme)) == (
        b.scheme,
        b.hostname,
        b.port or _default_port(b.scheme),
    )


def _default_port(scheme: str) -> int | None:
    return {"http": 80, "https": 443}.get(scheme)
