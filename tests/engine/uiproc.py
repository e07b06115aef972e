"""`stackup ui` as a subprocess for engine tests: started detached (its own session, stdout a
pipe as a script would read it, without PYTHONUNBUFFERED: the URL line must come flushed),
spoken to with plain HTTP requests that set every header themselves (Host, Origin, Cookie),
stopped with SIGINT like a Ctrl-C."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class UiServer:
    def __init__(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.stderr_path = cwd / f"ui-{time.monotonic_ns()}.log"
        full_env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
        full_env.update(env or {}, NO_COLOR="1")
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "stackup", "ui", *args],
                cwd=cwd,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )
        self.lines: list[str] = []
        first = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                self.lines.append(raw.decode(errors="replace"))
                first.set()
            first.set()

        threading.Thread(target=read, daemon=True).start()
        if not first.wait(60) or not self.lines:
            self.kill()
            raise AssertionError(f"stackup ui printed no URL line; stderr:\n{self.stderr()}")
        m = re.fullmatch(
            r"stackup ui: (http://(127\.\d+\.\d+\.\d+):(\d+)/\?token=(\S+))\n", self.lines[0]
        )
        assert m, self.lines
        self.url, self.address, self.port, self.token = (
            m.group(1),
            m.group(2),
            int(m.group(3)),
            m.group(4),
        )
        self.host = f"{self.address}:{self.port}"
        self.origin = f"http://{self.host}"
        self._cookie: str | None = None
        self._csrf: str | None = None

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    # --------------------------------------------------------------------------- requests

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        auth: str = "cookie",  # "cookie" (signed in as the page), "bearer", or "none"
        timeout: float = 60.0,
    ) -> Answer:
        sent = {"Host": self.host, **(headers or {})}
        if auth == "cookie":
            sent.setdefault("Cookie", self.cookie())
        elif auth == "bearer":
            sent.setdefault("Authorization", f"Bearer {self.token}")
        data = json.dumps(body).encode() if body is not None else None
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(self.address, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=sent)
            resp = conn.getresponse()
            return Answer(
                resp.status,
                resp.read().decode(errors="replace"),
                {k.lower(): v for k, v in resp.getheaders()},
            )
        finally:
            conn.close()

    def cookie(self) -> str:
        """Signed in as the browser is: the token's URL answers with the session cookie."""
        if self._cookie is None:
            answer = self.request("GET", f"/?token={self.token}", auth="none")
            assert answer.status == 303, answer
            self._cookie = answer.headers["set-cookie"].split(";")[0]
        return self._cookie

    def csrf(self) -> str:
        if self._csrf is None:
            page = self.request("GET", "/")
            m = re.search(r'data-csrf="([^"]+)"', page.body)
            assert m, page.body
            self._csrf = m.group(1)
        return self._csrf

    def view(self) -> Any:
        answer = self.request("GET", "/api/view")
        assert answer.status == 200, answer
        return answer.json()

    def apply(self, fingerprint: str, plan_id: str = "", **headers: str) -> Answer:
        sent = {"Origin": self.origin, "X-CSRF-Token": self.csrf(), **headers}
        sent = {k: v for k, v in sent.items() if v}
        return self.request(
            "POST",
            "/api/apply",
            headers=sent,
            body={"fingerprint": fingerprint, "plan_id": plan_id},
        )

    def rollback_plan(self, release: int) -> Answer:
        return self.request("GET", f"/api/rollback?release={release}")

    def rollback(
        self, release: int, plan_id: str, fingerprint: str, confirm: bool = False, **headers: str
    ) -> Answer:
        sent = {"Origin": self.origin, "X-CSRF-Token": self.csrf(), **headers}
        sent = {k: v for k, v in sent.items() if v}
        body = {
            "release": release,
            "plan_id": plan_id,
            "fingerprint": fingerprint,
            "confirm_data_loss": confirm,
        }
        return self.request("POST", "/api/rollback", headers=sent, body=body)

    def stream(
        self, path: str, until: str, timeout: float = 60.0, headers: dict[str, str] | None = None
    ) -> str:
        """Read a server-sent event stream until `until` is in it (or `timeout`): all read."""
        sock = socket.create_connection((self.address, self.port), timeout=timeout)
        try:
            lines = [f"GET {path} HTTP/1.1", f"Host: {self.host}", f"Cookie: {self.cookie()}"]
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            got = b""
            deadline = time.monotonic() + timeout
            while until.encode() not in got and time.monotonic() < deadline:
                sock.settimeout(max(0.1, deadline - time.monotonic()))
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    break
                if not chunk:
                    break
                got += chunk
            return got.decode(errors="replace")
        finally:
            sock.close()

    # ------------------------------------------------------------------------------- stop

    def interrupt(self, timeout: float = 20.0) -> int:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"stackup ui did not stop on SIGINT; stderr:\n{self.stderr()}"
            ) from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def page_port(url: str) -> int:
    return int(urlparse(url).port or 0)
