"""The page's door, in front of every request (an ASGI middleware): the Host allow-list (DNS
rebinding), the access token then a cookie named with the port, the Origin of every
state-changing request and of the streams, the CSRF token of POSTs, and the headers that keep
the browser strict (CSP without inline script, no framing, no referrer, no caching).

Local dashboards have been taken over by pages of other sites (a WebSocket or a POST without
an Origin check) and by DNS rebinding (a foreign name resolving to 127.0.0.1): each check
here closes one of those doors."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
# Paths that stream (server-sent events): a page of another site must not read them either.
STREAMS = ("/api/events", "/api/logs")
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Keys:
    """This run's secrets: new at each start, so a page of an earlier run gets 401."""

    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    session: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))


def cookie_name(port: int) -> str:
    # Cookies are per host, not per port: two pages on 127.0.0.1 each keep their own.
    return f"stackup_ui_{port}"


class Guard:
    def __init__(self, app: ASGIApp, *, keys: Keys, port: int, hosts: tuple[str, ...]) -> None:
        self.app = app
        self.keys = keys
        self.cookie = cookie_name(port)
        self.hosts = frozenset(f"{host}:{port}" for host in hosts)
        self.origins = frozenset(f"http://{host}" for host in self.hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def strict(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        refusal = self.refusal(scope)
        if refusal is None:
            await self.app(scope, receive, strict)
            return
        status, text, extra = refusal
        await strict(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), *extra],
            }
        )
        await strict({"type": "http.response.body", "body": text.encode() + b"\n"})

    def refusal(self, scope: Scope) -> tuple[int, str, list[tuple[bytes, bytes]]] | None:
        headers = _headers(scope)
        if headers.get("host", "") not in self.hosts:
            return 403, "refused: this server answers only to its own address (Host header)", []
        method = scope["method"]
        query = parse_qs(scope.get("query_string", b"").decode(errors="replace"))
        given = query.get("token", [""])[0] or _bearer(headers.get("authorization", ""))
        cookie = _cookies(headers.get("cookie", "")).get(self.cookie, "")
        if given:
            if not secrets.compare_digest(given, self.keys.token):
                return 401, "refused: wrong token; open the URL `stackup ui` printed", []
            if method == "GET" and scope["path"] == "/" and query.get("token"):
                # The token leaves the address bar (and the history) for a cookie at once.
                rest = urlencode([(k, v) for k, vs in query.items() if k != "token" for v in vs])
                return (
                    303,
                    "signed in",
                    [
                        (b"location", ("/?" + rest if rest else "/").encode()),
                        (b"set-cookie", self._session_cookie().encode()),
                    ],
                )
        elif cookie:
            if not secrets.compare_digest(cookie, self.keys.session):
                return (
                    401,
                    "refused: this page belongs to an earlier `stackup ui`; open the URL with the "
                    "token that the running one printed",
                    [],
                )
        else:
            return 401, "refused: open the URL with the token that `stackup ui` printed", []
        origin = headers.get("origin")
        if method not in ("GET", "HEAD"):
            if origin not in self.origins:
                return 403, "refused: a request from another origin (Origin header)", []
            csrf = headers.get(CSRF_HEADER, "")
            if not csrf or not secrets.compare_digest(csrf, self.keys.csrf):
                return 403, "refused: no valid CSRF token (reload the page)", []
        elif scope["path"] in STREAMS:
            # A same-origin EventSource sends no Origin; a page of another site's does.
            if origin is not None and origin not in self.origins:
                return 403, "refused: a stream read from another origin (Origin header)", []
            if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
                return 403, "refused: a stream read from another site (Sec-Fetch-Site)", []
        return None

    def _session_cookie(self) -> str:
        return f"{self.cookie}={self.keys.session}; Path=/; HttpOnly; SameSite=Strict"


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        key = name.decode("latin-1").lower()
        if key in out:  # two Host (or Origin) headers: keep neither to pass as the first
            out[key] = "\0"
            continue
        out[key] = value.decode("latin-1")
    return out


def _bearer(value: str) -> str:
    scheme, _, credentials = value.partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


def _cookies(header: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed Cookie header is no cookie
        return {}
    return {name: morsel.value for name, morsel in jar.items()}
