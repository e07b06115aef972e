"""The page's door (stackup.ui.security.Guard) decided on request scopes, without a server:
each refusal of docs/ui.md's table, and what passes. tests/engine/test_ui.py probes the same
door on a running `stackup ui`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from stackup.ui.project import _link
from stackup.ui.security import CSP, Guard, Keys, cookie_name

PORT = 41357
KEYS = Keys()
ORIGIN = f"http://127.0.0.1:{PORT}"


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


GUARD = Guard(_app, keys=KEYS, port=PORT, hosts=("127.0.0.1", "localhost"))


def _scope(
    method: str = "GET", path: str = "/api/plan", query: str = "", **headers: str
) -> dict[str, Any]:
    sent = {"host": f"127.0.0.1:{PORT}", **{k.replace("_", "-"): v for k, v in headers.items()}}
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query.encode(),
        "headers": [(k.encode(), v.encode()) for k, v in sent.items() if v is not None],
    }


SIGNED_IN = f"{cookie_name(PORT)}={KEYS.session}"


def _status(scope: dict[str, Any]) -> int:
    refusal = GUARD.refusal(scope)
    return 200 if refusal is None else refusal[0]


def test_the_token_becomes_a_strict_cookie_named_with_the_port() -> None:
    refusal = GUARD.refusal(_scope(path="/", query=f"token={KEYS.token}"))
    assert refusal is not None
    status, _, headers = refusal
    assert status == 303 and (b"location", b"/") in headers
    cookie = dict(headers)[b"set-cookie"].decode()
    assert cookie.startswith(f"stackup_ui_{PORT}={KEYS.session};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert _status(_scope(cookie=SIGNED_IN)) == 200
    assert _status(_scope(authorization=f"Bearer {KEYS.token}")) == 200


@pytest.mark.parametrize(
    ("scope", "status"),
    [
        (_scope(), 401),  # nothing
        (_scope(query="token=wrong"), 401),
        (_scope(cookie=f"{cookie_name(PORT)}=of-an-earlier-run"), 401),
        (_scope(cookie=f"{cookie_name(PORT + 1)}={KEYS.session}"), 401),  # another port's name
        (_scope(cookie=SIGNED_IN, host=f"rebound.example:{PORT}"), 403),
        (_scope(cookie=SIGNED_IN, host="127.0.0.1"), 403),  # without the port
        (_scope(authorization=f"Bearer {KEYS.token}", host=f"evil:{PORT}"), 403),
        (_scope("POST", "/api/apply", cookie=SIGNED_IN, x_csrf_token=KEYS.csrf), 403),
        (
            _scope(
                "POST", "/api/apply", cookie=SIGNED_IN, origin="http://evil", x_csrf_token=KEYS.csrf
            ),
            403,
        ),
        (_scope("POST", "/api/apply", cookie=SIGNED_IN, origin=ORIGIN), 403),  # no CSRF
        (_scope("POST", "/api/apply", cookie=SIGNED_IN, origin=ORIGIN, x_csrf_token="x"), 403),
        (_scope(path="/api/events", cookie=SIGNED_IN, origin="http://evil"), 403),
        (_scope(path="/api/logs", cookie=SIGNED_IN, sec_fetch_site="cross-site"), 403),
    ],
)
def test_refused(scope: dict[str, Any], status: int) -> None:
    assert _status(scope) == status


def test_what_the_page_itself_sends_passes() -> None:
    post = _scope("POST", "/api/apply", cookie=SIGNED_IN, origin=ORIGIN, x_csrf_token=KEYS.csrf)
    assert _status(post) == 200
    stream = _scope(path="/api/events", cookie=SIGNED_IN, sec_fetch_site="same-origin")
    assert _status(stream) == 200


def test_every_answer_carries_the_strict_headers() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    for scope in (_scope(), _scope(cookie=SIGNED_IN)):
        sent.clear()
        asyncio.run(GUARD(scope, receive, send))
        headers = dict(sent[0]["headers"])
        assert headers[b"content-security-policy"] == CSP.encode()
        assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP


def test_links_only_to_ports_published_on_this_machine() -> None:
    assert _link("127.0.0.1:8080->80/tcp") == "http://127.0.0.1:8080/"
    assert _link("0.0.0.0:8081->80/tcp") == "http://127.0.0.1:8081/"
    assert _link("10.1.2.3:8080->80/tcp") == ""
    assert _link("80/tcp") == ""
