"""A steady HTTP client for rollout tests and bench/rollout.py: a few threads send GETs to a
loopback URL at a fixed total rate, each on a new connection, and record every answer. A
request fails when it gets no answer within its timeout or an answer other than 200."""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse


@dataclass(frozen=True)
class Answer:
    at: float  # monotonic time the request was sent
    seconds: float
    status: int  # 0: no answer
    body: str


@dataclass
class Traffic:
    url: str
    rate: float = 100.0  # requests per second, all threads together
    threads: int = 4
    timeout: float = 10.0
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        parsed = urlparse(self.url)
        if parsed.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError(f"traffic goes to loopback only, not {parsed.hostname!r}")
        self._host, self._port = parsed.hostname, parsed.port or 80
        self._path = parsed.path or "/"

    def __enter__(self) -> Traffic:
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(index,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(self.timeout + 5)

    def _run(self, index: int) -> None:
        interval = self.threads / self.rate
        next_at = time.monotonic() + index * interval / self.threads
        while not self._stop.is_set():
            delay = next_at - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            next_at = max(next_at + interval, time.monotonic())
            self._record(self._get())

    def _get(self) -> Answer:
        sent = time.monotonic()
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        try:
            conn.request("GET", self._path, headers={"Connection": "close"})
            resp = conn.getresponse()
            body = resp.read().decode("utf-8", "replace").strip()
            return Answer(sent, time.monotonic() - sent, resp.status, body)
        except (OSError, http.client.HTTPException) as exc:
            return Answer(sent, time.monotonic() - sent, 0, f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    def _record(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def failed(self) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.status != 200]

    def bodies(self) -> list[str]:
        with self._lock:
            return [a.body for a in sorted(self.answers, key=lambda a: a.at) if a.status == 200]

    def rate_seen(self) -> float:
        with self._lock:
            if len(self.answers) < 2:
                return 0.0
            span = max(a.at for a in self.answers) - min(a.at for a in self.answers)
            return (len(self.answers) - 1) / span if span else 0.0


# nginx in front of `app`. proxy_pass to a name is resolved when nginx loads its config: stackup
# reloads it (its reload policy) so it learns the new container's address. A request that
# reaches the old address in the instant it goes away is retried on the new one: a short
# connect timeout makes that retry quick (a connect on a local bridge takes well under 1 ms).
NGINX_CONF = """\
server {
    listen 80;
    location / {
        proxy_pass http://app:8080;
        proxy_connect_timeout 250ms;
        proxy_next_upstream error timeout http_502 http_503;
    }
}
"""


def rollout_stack(version: str, port: int, order: str = "start-first") -> str:
    """An app (busybox httpd answering its VERSION, healthy unless VERSION is `broken`) behind
    nginx on 127.0.0.1:`port`; `order` is the app's update_config order, or `none` for no
    update_config (Compose's behaviour)."""
    update = (
        ""
        if order == "none"
        else f"""
    deploy:
      update_config: {{order: {order}, monitor: 20s, failure_action: rollback}}"""
    )
    return f"""\
services:
  app:
    image: busybox:latest
    init: true
    command: ["sh", "-c", "mkdir -p /www && echo \\"$$VERSION\\" > /www/index.html && exec httpd -f -p 8080 -h /www"]
    environment:
      VERSION: "{version}"
    healthcheck:
      test: ["CMD-SHELL", "wget -q -O - http://127.0.0.1:8080/ | grep -qv broken"]
      interval: 500ms
      timeout: 2s
      retries: 3{update}
  web:
    image: nginx:stable
    volumes: ["./default.conf:/etc/nginx/conf.d/default.conf:ro"]
    ports: ["127.0.0.1:{port}:80"]
    depends_on:
      app: {{condition: service_healthy}}
"""
