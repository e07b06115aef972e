"""The same 30-service stack on Docker and on Podman (its Docker-compatible API), side by
side: a cold `up`, a no-op `diff`, a no-op `up` and `down`, each as a fresh process.

    .venv/bin/python bench/podman.py [--services 30] [--repeat 5]

Needs Podman's service (`sudo bash scripts/setup-podman.sh`, socket
unix:///run/podman/podman.sock or STACKUP_PODMAN_HOST) and busybox loaded into it. Prints
the medians and Podman/Docker ratios. Everything is removed at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import run, seconds, stackup_cmd, synthetic_stack, table, timed

PODMAN = os.environ.get("STACKUP_PODMAN_HOST", "unix:///run/podman/podman.sock")


def measure(
    name: str, env: dict[str, str], services: int, repeat: int, tmp: Path
) -> dict[str, float]:
    project = f"bench-{name}-{secrets.token_hex(3)}"
    work = tmp / name
    work.mkdir()
    (work / "stack.yaml").write_text(synthetic_stack(services, project=project))
    up = stackup_cmd("up", "--pull", "never", "--progress", "quiet")
    diff = stackup_cmd("diff", "--exit-code")
    down = stackup_cmd("down", "--progress", "quiet")
    try:
        print(f"{name}: {services} services ({project}) ...")
        cold = timed(lambda: run(up, work, env))
        diffs = [timed(lambda: run(diff, work, env)) for _ in range(repeat)]
        ups = [timed(lambda: run(up, work, env)) for _ in range(repeat)]
        gone = timed(lambda: run(down, work, env))
    finally:
        run(down, work, env, check=False)
    return {
        "cold up": cold,
        "no-op diff": statistics.median(diffs),
        "no-op up": statistics.median(ups),
        "down": gone,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    engines = {"docker": "unix:///var/run/docker.sock", "podman": PODMAN}
    with tempfile.TemporaryDirectory(prefix="stackup-bench-") as tmp:
        results = {
            name: measure(name, {"DOCKER_HOST": host}, args.services, args.repeat, Path(tmp))
            for name, host in engines.items()
        }
    rows = [["", "docker", "podman", "podman / docker"]]
    for what in results["docker"]:
        d, p = results["docker"][what], results["podman"][what]
        rows.append([what, seconds(d), seconds(p), f"{p / d:.2f}"])
    print(table(rows))


if __name__ == "__main__":
    main()
