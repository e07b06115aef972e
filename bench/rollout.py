"""A version change of an app behind nginx, with a client sending ~100 requests a second:
failed requests and switch time, for stackup start-first, stackup stop-first and
docker-compose 1.29 (Debian's), side by side in one run.

    .venv/bin/python bench/rollout.py [--repeat 3] [--rate 100]

The stack is tests/engine/traffic.py's: busybox httpd answering its VERSION, nginx in front
(proxy_pass http://app:8080) on 127.0.0.1. For each tool and repetition: `up` v1, start the
client, wait 1 s, `up` v2, keep the client 3 s more, then stop it. A request fails when it
gets no 200 within 10 s. Reported per tool (medians over the repetitions):

* failed: requests that failed (of all sent); the last row changes to a version whose health
  check never passes (stackup removes it; v1 keeps serving);
* gap: the longest time without a successful answer, from the client's side;
* up: how long `up` v2 took; slowest: the slowest request that succeeded.

Every project is removed at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

from bench.common import run, stackup_cmd, table
from tests.engine.helpers import free_port
from tests.engine.traffic import NGINX_CONF, Traffic, rollout_stack

COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"


def longest_gap(traffic: Traffic) -> float:
    """The longest stretch between two successful answers (by the time each arrived)."""
    done = sorted(a.at + a.seconds for a in traffic.answers if a.status == 200)
    return max((b - a for a, b in itertools.pairwise(done)), default=0.0)


def one_rollout(
    up: Callable[[str], None], url: str, rate: float, new: str = "v2"
) -> tuple[int, int, float, float, float]:
    up("v1")
    with Traffic(url, rate=rate) as traffic:
        time.sleep(1)
        start = time.monotonic()
        up(new)
        took = time.monotonic() - start
        time.sleep(3)
    ok = [a.seconds for a in traffic.answers if a.status == 200]
    for failure in traffic.failed():  # what a lost request met, and when (from `up` v2)
        print(
            f"  failed: sent at +{failure.at - start:.2f}s, {failure.status} {failure.body[:120]}"
        )
    bodies = traffic.bodies()
    if not bodies or bodies[-1] != ("v1" if new == "broken" else new):
        print(f"  (after the change the app answered {bodies[-1:] or 'nothing'})")
    return len(traffic.failed()), len(traffic.answers), longest_gap(traffic), took, max(ok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument(
        "--only-never-healthy",
        action="store_true",
        help="run only the failure path (a v2 that never gets healthy), --repeat times",
    )
    args = parser.parse_args()

    token = secrets.token_hex(3)
    results: dict[str, list[tuple[int, int, float, float, float]]] = {}
    cleanups: list[Callable[[], None]] = []
    with tempfile.TemporaryDirectory(prefix="stackup-bench-") as tmp:
        try:
            cases = (
                ("stackup start-first", "start-first", "v2"),
                ("stackup stop-first", "stop-first", "v2"),
                ("docker-compose 1.29", "none", "v2"),
                ("stackup start-first, v2 never healthy", "start-first", "broken"),
            )
            for label, order, new in cases[-1:] if args.only_never_healthy else cases:
                for rep in range(args.repeat):
                    work = Path(tmp) / f"{order}-{new}-{rep}"
                    work.mkdir()
                    (work / "default.conf").write_text(NGINX_CONF, encoding="utf-8")
                    port = free_port()
                    project = f"bench-ro-{order.split('-')[0]}-{new}-{rep}-{token}"

                    def up(
                        version: str,
                        work: Path = work,
                        port: int = port,
                        order: str = order,
                        project: str = project,
                    ) -> None:
                        if order == "none":
                            (work / "docker-compose.yml").write_text(
                                rollout_stack(version, port, order), encoding="utf-8"
                            )
                            run([COMPOSE, "-p", project, "up", "-d"], work)
                        else:
                            (work / "stack.yaml").write_text(
                                rollout_stack(version, port, order), encoding="utf-8"
                            )
                            # A version that never gets healthy makes `up` exit 1: expected.
                            up_cmd = stackup_cmd("-p", project, "up", "--progress", "quiet")
                            run(up_cmd, work, check=version != "broken")

                    if order == "none":
                        cleanups.append(
                            lambda w=work, p=project: (
                                run([COMPOSE, "-p", p, "down"], w, check=False) and None
                            )
                        )
                    else:
                        cleanups.append(
                            lambda w=work, p=project: (
                                run([*stackup_cmd("-p", p, "down")], w, check=False) and None
                            )
                        )
                    print(f"{label}: repetition {rep + 1} ...", flush=True)
                    results.setdefault(label, []).append(
                        one_rollout(up, f"http://127.0.0.1:{port}/", args.rate, new)
                    )
                    cleanups.pop()()
        finally:
            for cleanup in cleanups:
                cleanup()

    rows = [["tool", "failed / sent", "gap", "up v2", "slowest ok"]]
    for label, runs in results.items():
        failed = statistics.median(r[0] for r in runs)
        sent = statistics.median(r[1] for r in runs)
        rows.append(
            [
                label,
                f"{failed:g} / {sent:g}",
                f"{statistics.median(r[2] for r in runs):.2f} s",
                f"{statistics.median(r[3] for r in runs):.2f} s",
                f"{statistics.median(r[4] for r in runs):.2f} s",
            ]
        )
    print(f"\nversion change behind nginx at ~{args.rate:g} req/s, median of {args.repeat}")
    print(table(rows))
    for label, runs in results.items():
        print(
            f"{label}: failed per run {[r[0] for r in runs]}, gap per run {[round(r[2], 2) for r in runs]}"
        )


if __name__ == "__main__":
    main()
