"""Benchmark: a config saved by rename (`sed -i`, vim) into a single-file bind mount, under
`stackup watch`, with a steady client.

    .venv/bin/python bench/rename_save.py [--saves 5]

The classic setup: one nginx (image nginx:stable) with `./default.conf` bind-mounted as a
single file onto /etc/nginx/conf.d/default.conf, a port on 127.0.0.1, a client requesting
the page ~100 times a second (a new connection each, 2 s timeout, every error counted). Each
save writes a new file beside the old one and renames it over it: the running container keeps
the old inode, so watch recreates the container (after `nginx -t` on the new file in a
throwaway container). Per save: the time from the rename to the first response with the new
header, and the unavailability (the longest time without a successful response, the
failures in between). Watch's stages are timed on the same clock. Not a test: it prints
numbers (record them in docs/benchmarks.md).

Then, in the same run, the raw engine's part alone (`--saves` times, no stackup): a twin of the
container is created, the old one stopped, the twin started and renamed, as the recreate does,
with the same client. Its unavailability and its slow requests are the engine's floor for
any recreate that hands a host port from one container to another.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import secrets
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402

from bench.watch import CONF, Client, Recorder, _remove, _wait_up, ms, pct  # noqa: E402
from stackup import api  # noqa: E402
from stackup.engine.docker.engine import connect_engine  # noqa: E402
from stackup.loading.loader import LoadOptions, load  # noqa: E402
from stackup.targets.engine.execute import Event, execute  # noqa: E402
from stackup.watch.loop import WatchConfig, Watcher  # noqa: E402


class StepRecorder(Recorder):
    """Watch's events, and the executor's steps of the recreate (with `--steps`)."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[tuple[float, str]] = []

    @contextlib.contextmanager
    def progress(self) -> Iterator[Callable[[Event], None]]:
        def show(event: Event) -> None:
            self.steps.append((time.monotonic(), f"{event.status} {event.name} {event.message}"))

        yield show


def longest_gap(client: Client, start: float, end: float) -> tuple[float, int]:
    """The longest time between two successful responses in [start, end], and the failed
    requests in that window."""
    times = [at for at, _ in client.answers if start <= at <= end]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    failed = sum(1 for at, _ in client.failures if start <= at <= end)
    return (max(gaps) if gaps else 0.0), failed


def raw_handover(docker_client: docker.DockerClient, name: str) -> tuple[float, float]:
    """The recreate's engine calls alone: a twin of container `name` is created (same image,
    mounts, port, network, labels), `name` is stopped, the twin started, `name` removed and
    the twin renamed. Returns when the stop began and how long after it the start returned."""
    old = docker_client.containers.get(name)
    attrs = old.attrs
    (network,) = attrs["NetworkSettings"]["Networks"]
    twin = docker_client.api.create_container(
        attrs["Config"]["Image"],
        name=f"{name}-twin",
        labels=attrs["Config"]["Labels"],
        ports=[tuple(p.split("/")) for p in attrs["Config"]["ExposedPorts"]],
        host_config=docker_client.api.create_host_config(
            binds=attrs["HostConfig"]["Binds"],
            mounts=attrs["HostConfig"].get("Mounts"),
            port_bindings={
                k: [(b["HostIp"], b["HostPort"]) for b in bindings]
                for k, bindings in attrs["HostConfig"]["PortBindings"].items()
            },
        ),
        networking_config=docker_client.api.create_networking_config(
            {network: docker_client.api.create_endpoint_config()}
        ),
    )
    start = time.monotonic()
    old.stop()
    docker_client.api.start(twin["Id"])
    started = time.monotonic() - start
    old.remove()
    docker_client.api.rename(twin["Id"], name)
    return start, started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saves", type=int, default=5)
    parser.add_argument("--steps", action="store_true", help="print the recreate's steps")
    args = parser.parse_args()

    project = f"bench-rename-{secrets.token_hex(3)}"
    work = Path(tempfile.mkdtemp(prefix="stackup-bench-rename-"))
    (work / "site").mkdir()
    (work / "site" / "index.html").write_text("<html><body>bench</body></html>\n")
    conf = work / "default.conf"
    conf.write_text(CONF.format(edit="start"))
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
      - ./default.conf:/etc/nginx/conf.d/default.conf:ro
"""
    )
    engine = connect_engine()
    loaded = load(LoadOptions(files=(work / "stack.yaml",)))
    outcome = execute(api.plan(loaded, engine), engine)
    assert outcome.ok, outcome
    client = Client(port)
    client_thread = threading.Thread(target=client.run, daemon=True)
    rows: list[tuple[float, float, int]] = []
    raw: list[tuple[float, float, int, list[float]]] = []
    slow_answers: list[list[float]] = []
    stages: list[dict[str, float]] = []
    try:
        _wait_up(port)
        client_thread.start()
        print(f"stack {project}: nginx on 127.0.0.1:{port}; {args.saves} saves by rename")
        print(f"load average at start: {os.getloadavg()[0]:.2f}\n")
        recorder = StepRecorder()
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
        time.sleep(0.3)
        for i in range(args.saves):
            value = f"rename-{i}"
            temp = work / f"sed{secrets.token_hex(3)}"
            temp.write_text(CONF.format(edit=value))
            t0 = time.monotonic()
            os.rename(temp, conf)
            served = client.first(value, t0)
            deadline = time.monotonic() + 10
            while recorder.first("applied", t0) is None and time.monotonic() < deadline:
                time.sleep(0.01)
            gap, failed = longest_gap(client, t0, served + 0.5)
            if args.steps:
                for at, what in recorder.steps:
                    if at >= t0:
                        print(f"    {(at - t0) * 1000:6.0f} ms  {what}")
                fails = [at - t0 for at, _ in client.failures if at >= t0]
                if fails:
                    print(f"    failures from {fails[0] * 1000:.0f} to {fails[-1] * 1000:.0f} ms")
                print(f"    served at {(served - t0) * 1000:.0f} ms")
            rows.append((served - t0, gap, failed))
            slow_answers.append([seconds for at, seconds in client.slow if t0 <= at <= served])
            stages.append(
                {
                    kind: at - t0
                    for kind in ("changed", "atomic", "validated", "applied")
                    if (at := recorder.first(kind, t0)) is not None
                }
            )
            time.sleep(1.0)
        stop.set()
        watch_thread.join(timeout=10)
        docker_client = docker.from_env()
        for _ in range(args.saves):
            start, started = raw_handover(docker_client, f"{project}-web-1")
            time.sleep(2.5)
            gap, failed = longest_gap(client, start, start + 2.5)
            slow = [seconds for at, seconds in client.slow if at >= start]
            raw.append((started, gap, failed, slow))
    finally:
        client.stop.set()
        _remove(engine, project)

    served_times = [r[0] for r in rows]
    gaps = [r[1] for r in rows]
    print("rename → first response with the new header")
    print(
        f"  median {ms(statistics.median(served_times))} ms   p95 {ms(pct(served_times, 95))} ms"
        f"   max {ms(max(served_times))} ms"
    )
    print("longest time without a successful response (unavailability)")
    print(
        f"  median {ms(statistics.median(gaps))} ms   max {ms(max(gaps))} ms   "
        f"failed requests {sum(r[2] for r in rows)} in {len(rows)} saves"
    )
    print(
        "per save: served / gap / failed, then watch's stages (ms after the rename) and the "
        "answers that took over 0.5 s"
    )
    for (served_at, gap, failed), stage, slow in zip(rows, stages, slow_answers, strict=True):
        shown = "  ".join(f"{k} {v * 1000:.0f}" for k, v in stage.items())
        took = ", ".join(f"{x * 1000:.0f} ms" for x in slow) or "none"
        print(f"  {served_at * 1000:7.0f} {gap * 1000:7.0f} {failed:3d}   {shown}   slow: {took}")
    print("\nthe raw engine alone: create a twin, stop, start the twin (no stackup, no check)")
    print(
        f"  unavailability median {ms(statistics.median(r[1] for r in raw))} ms   "
        f"max {ms(max(r[1] for r in raw))} ms   failed requests {sum(r[2] for r in raw)}"
    )
    print("per handover: stop → start returned, gap, failed, answers that took over 0.5 s")
    for started, gap, failed, slow in raw:
        shown = ", ".join(f"{x * 1000:.0f} ms" for x in slow) or "none"
        print(f"  {started * 1000:7.0f} {gap * 1000:7.0f} {failed:3d}   {shown}")
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
