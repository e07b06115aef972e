"""Benchmark: nginx config edits under `stackup watch` against `docker restart`, in one run.

    .venv/bin/python bench/watch.py [--edits 50]

A stack of one nginx (image nginx:stable, conf.d bind-mounted, port on 127.0.0.1) is applied;
a client requests the page in a steady loop (a new connection per request, 2 s timeout,
every error counted). Then `--edits` edits of default.conf, each changing a response header:

1. handled by stackup's watch loop (in this process, so each stage is timed on one clock):
   write → event seen → `nginx -t` passed → HUP sent → first response with the new header;
2. the same edits handled by `docker restart` of the container (the Compose way).

For each: median, p95 and max of write → first new response, and failed requests.
Not a test: it prints numbers (record them in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stackup import api  # noqa: E402
from stackup.engine.docker.engine import DockerEngine, connect_engine  # noqa: E402
from stackup.loading.loader import LoadOptions, load  # noqa: E402
from stackup.planning.plan import Plan  # noqa: E402
from stackup.targets.engine.execute import Event, execute  # noqa: E402
from stackup.watch.loop import WatchConfig, Watcher, WatchEvent  # noqa: E402

CONF = """server {{
    listen 80;
    root /usr/share/nginx/html;
    add_header X-Edit {edit} always;
}}
"""


@dataclass
class Client:
    """Requests the page in a loop; remembers when each answer came and its X-Edit."""

    port: int
    interval: float = 0.01  # a steady ~100 requests/s, not a flood that starves the engine
    answers: list[tuple[float, str | None]] = field(default_factory=list)
    failures: list[tuple[float, str]] = field(default_factory=list)
    # Answers that took over 0.5 s: (sent at, seconds), e.g. a connection that waited for a
    # retransmission.
    slow: list[tuple[float, float]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            sent = time.monotonic()
            try:
                conn.request("GET", "/")
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    self.failures.append((time.monotonic(), f"HTTP {response.status}"))
                else:
                    self.answers.append((time.monotonic(), response.getheader("X-Edit")))
                    if time.monotonic() - sent > 0.5:
                        self.slow.append((sent, time.monotonic() - sent))
            except OSError as exc:
                self.failures.append((time.monotonic(), f"{type(exc).__name__}: {exc}"))
                time.sleep(0.005)
            finally:
                conn.close()
            time.sleep(self.interval)

    def first(self, value: str, after: float, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, got in reversed(self.answers):
                if at < after:
                    break
                if got == value:
                    return min(a for a, g in self.answers if a >= after and g == value)
            time.sleep(0.002)
        raise TimeoutError(f"no response with X-Edit {value} within {timeout}s")


@dataclass
class Recorder:
    events: list[WatchEvent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def event(self, event: WatchEvent) -> None:
        with self.lock:
            self.events.append(event)

    def show_plan(self, plan: Plan) -> None:
        pass

    @contextlib.contextmanager
    def progress(self) -> Iterator[Callable[[Event], None]]:
        yield lambda event: None

    def first(self, kind: str, after: float) -> float | None:
        with self.lock:
            for e in self.events:
                if e.kind == kind and e.at >= after:
                    return e.at
        return None


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def ms(x: float) -> str:
    return f"{x * 1000:7.1f}"


def summary(name: str, totals: list[float], failures: int, requests: int) -> str:
    return (
        f"{name:<22} median {ms(statistics.median(totals))} ms   p95 {ms(pct(totals, 95))} ms   "
        f"max {ms(max(totals))} ms   failed requests {failures} of {requests}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=50)
    args = parser.parse_args()

    project = f"bench-watch-{secrets.token_hex(3)}"
    work = Path(tempfile.mkdtemp(prefix="stackup-bench-watch-"))
    (work / "conf.d").mkdir()
    (work / "site").mkdir()
    (work / "site" / "index.html").write_text("<html><body>bench</body></html>\n")
    conf = work / "conf.d" / "default.conf"
    conf.write_text(CONF.format(edit="start"))
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (work / "stack.yaml").write_text(
        f"""name: {project}
services:
  web:
    image: nginx:stable
    ports: ["127.0.0.1:{port}:80"]
    volumes:
      - ./site:/usr/share/nginx/html:ro
      - ./conf.d:/etc/nginx/conf.d:ro
"""
    )
    engine = connect_engine()
    loaded = load(LoadOptions(files=(work / "stack.yaml",)))
    outcome = execute(api.plan(loaded, engine), engine)
    assert outcome.ok, outcome
    container = f"{project}-web-1"
    client = Client(port)
    client_thread = threading.Thread(target=client.run, daemon=True)
    try:
        _wait_up(port)
        client_thread.start()
        print(f"stack {project}: nginx on 127.0.0.1:{port}; {args.edits} edits each way")
        print(f"load average at start: {os.getloadavg()[0]:.2f}\n")

        # ---------------------------------------------------------------- stackup watch
        recorder = Recorder()
        stop = threading.Event()
        watcher = Watcher(
            WatchConfig(
                load=lambda: load(LoadOptions(files=(work / "stack.yaml",))),
                connect=lambda: engine,
                initial_apply=False,
            ),
            recorder,
        )
        watch_thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
        watch_thread.start()
        while recorder.first("start", 0) is None:
            time.sleep(0.01)
        time.sleep(0.3)  # let the watcher settle into its loop before the first edit
        rows: list[tuple[float, float, float, float, float, float, float]] = []
        failures_before = len(client.failures)
        requests_before = len(client.answers) + len(client.failures)
        for i in range(args.edits):
            value = f"watch-{i}"
            t0 = time.monotonic()
            conf.write_text(CONF.format(edit=value))
            served = client.first(value, t0)
            # nginx may answer with the new config before the executor reports the signal
            deadline = time.monotonic() + 5
            while recorder.first("reloaded", t0) is None and time.monotonic() < deadline:
                time.sleep(0.001)
            seen = recorder.first("changed", t0)
            validated = recorder.first("validated", t0)
            sent = recorder.first("reloaded", t0)
            assert seen and validated and sent, recorder.events[-5:]
            # The executor reports the reload live once nginx's new workers serve (the
            # container's process list): after the first new response, or just before it.
            deadline = time.monotonic() + 11
            while recorder.first("live", t0) is None and time.monotonic() < deadline:
                time.sleep(0.001)
            live = recorder.first("live", t0) or served
            rows.append(
                (
                    served - t0,
                    seen - t0,
                    validated - seen,
                    sent - validated,
                    served - sent,
                    live - sent,
                    live - served,
                )
            )
            time.sleep(0.15)
        watch_failures = len(client.failures) - failures_before
        watch_requests = len(client.answers) + len(client.failures) - requests_before
        stop.set()
        watch_thread.join(timeout=10)

        # ---------------------------------------------------------------- docker restart
        restart_totals: list[float] = []
        failures_before = len(client.failures)
        requests_before = len(client.answers) + len(client.failures)
        for i in range(args.edits):
            value = f"restart-{i}"
            t0 = time.monotonic()
            conf.write_text(CONF.format(edit=value))
            subprocess.run(["docker", "restart", container], check=True, capture_output=True)
            restart_totals.append(client.first(value, t0) - t0)
            time.sleep(0.15)
        restart_failures = len(client.failures) - failures_before
        restart_requests = len(client.answers) + len(client.failures) - requests_before
    finally:
        client.stop.set()
        _remove(engine, project)

    totals = [r[0] for r in rows]
    print("write → first response with the new header")
    print(summary("stackup watch (HUP)", totals, watch_failures, watch_requests))
    print(summary("docker restart", restart_totals, restart_failures, restart_requests))
    print(
        f"ratio (median): docker restart is {statistics.median(restart_totals) / statistics.median(totals):.1f}x slower\n"
    )
    print("stackup watch, per stage (median / p95 ms)")
    for label, index in (
        ("event seen", 1),
        ("nginx -t in container", 2),
        ("HUP sent", 3),
        ("HUP → new header served", 4),
        ("HUP → seen live (top)", 5),
    ):
        values = [r[index] for r in rows]
        print(f"  {label:<26} {ms(statistics.median(values))} / {ms(pct(values, 95))}")
    early = [r[6] for r in rows]
    print(
        f"  reported live before the first new response in {sum(1 for x in early if x < 0)} of "
        f"{len(rows)} edits (by at most {ms(-min(early))} ms: the request already in nginx)"
    )
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    if client.failures:
        kinds: dict[str, int] = {}
        for _, what in client.failures:
            kinds[what.split(":")[0]] = kinds.get(what.split(":")[0], 0) + 1
        print(f"\nfailed requests by kind: {kinds}")
    return 0


def _wait_up(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("nginx did not answer")


def _remove(engine: DockerEngine, project: str) -> None:
    observed = engine.observe(project)
    for c in observed.containers:
        engine.remove_container(c.name, volumes=True)
    for n in observed.networks.values():
        if n.project == project:
            engine.remove_network(n.name)


if __name__ == "__main__":
    raise SystemExit(main())
