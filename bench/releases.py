"""What recording a release costs an `up` (stackup.usecases.releases), on the local engine.

    .venv/bin/python bench/releases.py [--files 1000] [--repeat 5]

One service (busybox httpd) with a web root of FILES small files bind-mounted; each
repetition changes an environment value (a recreate) and times `stackup.up` in this process,
with recording and without it (the store hidden from the use case), alternating, side by side;
then the record alone (hash the bind-mounted files, list, create, write release.json), and a
no-op `up` (nothing changed: no record, no call). Everything goes with `down --volumes`.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import stackup
from bench.common import seconds, table
from stackup.engine.docker.engine import DockerEngine
from stackup.loading.loader import load_text
from stackup.planning.plan import Plan
from stackup.runner import Event
from stackup.targets.target import DownRequest
from stackup.usecases import releases

STACK = """
name: {project}
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "exec httpd -f -p 80 -h /www"]
    stop_signal: SIGKILL
    environment:
      GENERATION: "{generation}"
    volumes: ["./site:/www:ro"]
"""


class QuietUI:
    def lock_wait(self, message: str) -> None:
        pass

    def planned(self, plan: Plan) -> None:
        pass

    def confirm_data_loss(self, plan: Plan) -> bool:
        return True

    def confirm_adoption(self, plan: Plan) -> bool:
        return False

    @contextmanager
    def applying(self, plan: Plan) -> Iterator[Callable[[Event], None]]:
        yield lambda event: None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    project = f"bench-rel-{secrets.token_hex(3)}"
    engine = DockerEngine.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "site").mkdir()
        for i in range(args.files):
            (root / "site" / f"page{i}.html").write_text(f"page {i}\n" * 16)
        generation = 0

        def up() -> stackup.Applied:
            nonlocal generation
            generation += 1
            text = STACK.format(project=project, generation=generation)
            loaded = load_text(text, working_dir=str(root))
            return stackup.up(loaded, engine, stackup.UpRequest(), QuietUI())

        original = releases.store_of
        with_record: list[float] = []
        without: list[float] = []
        try:
            up()  # the first create, and the lock's image
            for _ in range(args.repeat):
                start = time.perf_counter()
                assert up().release is not None
                with_record.append(time.perf_counter() - start)
                releases.store_of = lambda target: None  # type: ignore[assignment]
                try:
                    start = time.perf_counter()
                    assert up().release is None
                    without.append(time.perf_counter() - start)
                finally:
                    releases.store_of = original  # type: ignore[assignment]
            loaded = load_text(
                STACK.format(project=project, generation=generation), working_dir=tmp
            )
            record: list[float] = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                content = releases.content_of(loaded, engine)
                releases.record(engine, project, content, keep=10, git=releases.git_state(root))
                record.append(time.perf_counter() - start)
            calls_before = sum(n for name, n in engine.calls.items() if "release" in name)
            noop_start = time.perf_counter()
            loaded_same = load_text(
                STACK.format(project=project, generation=generation), working_dir=tmp
            )
            noop = stackup.up(loaded_same, engine, stackup.UpRequest(), QuietUI())
            noop_time = time.perf_counter() - noop_start
            assert noop.release is None and not noop.plan.operations
            release_calls = (
                sum(n for name, n in engine.calls.items() if "release" in name) - calls_before
            )
        finally:
            stackup.down(project, engine, DownRequest(volumes=True), QuietUI())
    print(
        f"{args.files} bind-mounted files, medians of {args.repeat}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )
    print(
        table(
            [
                ["what", "median", "all"],
                [
                    "changed up, recording",
                    seconds(statistics.median(with_record)),
                    _all(with_record),
                ],
                ["changed up, no record", seconds(statistics.median(without)), _all(without)],
                ["the record alone", seconds(statistics.median(record)), _all(record)],
                ["no-op up (no record)", seconds(noop_time), ""],
            ]
        )
    )
    print(f"release calls on the engine during the no-op up: {release_calls}")


def _all(values: list[float]) -> str:
    return " ".join(f"{v:.3f}" for v in values)


if __name__ == "__main__":
    main()
