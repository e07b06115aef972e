"""`stackup diff` and `stackup up` on an unchanged 30-service stack, against
`docker-compose up -d` (Compose 1.29, Debian's) on the same unchanged stack, side by side.

    .venv/bin/python bench/noop.py [--services 30] [--repeat 7]

Both tools get the same busybox services (`sleep 3600`), three networks and depends_on
chains, under two project names. After one real `up` each, every repetition times one
`stackup diff`, one `stackup up` and one `docker-compose up -d` (in rotating order, so
neither tool always runs on a cold or warm cache), each as a fresh process, as a user runs
them. Prints the medians and the ratios (aim: <= 0.7 for both). Everything is removed at the
end, whatever happens (`stackup down`, `docker-compose down`).
"""

from __future__ import annotations

import argparse
import functools
import secrets
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import run, seconds, stackup_cmd, synthetic_stack, table, timed

COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    token = secrets.token_hex(3)
    ours, theirs = f"bench-noop-{token}", f"bench-noopc-{token}"
    with tempfile.TemporaryDirectory(prefix="stackup-bench-") as tmp:
        work = Path(tmp)
        text = synthetic_stack(args.services, project=ours)
        (work / "stack.yaml").write_text(text, encoding="utf-8")
        # Compose 1.29 does not know the top-level `name:`; the project comes from -p.
        compose_dir = work / "compose"
        compose_dir.mkdir()
        (compose_dir / "docker-compose.yml").write_text(text.split("\n", 1)[1], encoding="utf-8")
        diff = [*stackup_cmd("-p", ours, "diff", "--exit-code")]
        up = [*stackup_cmd("-p", ours, "up", "--pull", "never", "--progress", "quiet")]
        compose_up = [COMPOSE, "-p", theirs, "up", "-d"]
        try:
            print(
                f"applying {args.services} services with stackup ({ours}) and docker-compose ({theirs}) ..."
            )
            run(up, work)
            run(compose_up, compose_dir)
            run(diff, work)  # --exit-code: 0 means nothing pending
            times: dict[str, list[float]] = {"diff": [], "up": [], "compose": []}
            commands = {
                "diff": (diff, work),
                "up": (up, work),
                "compose": (compose_up, compose_dir),
            }
            order = list(commands)
            for i in range(args.repeat):
                rotated = order[i % 3 :] + order[: i % 3]
                for name in rotated:
                    cmd, cwd = commands[name]
                    times[name].append(timed(functools.partial(run, cmd, cwd)))
            still = run(diff, work, check=False)
            if still.returncode != 0:
                raise SystemExit(f"the stack was not unchanged after the runs:\n{still.stdout}")
        finally:
            run([*stackup_cmd("-p", ours, "down")], work, check=False)
            run([COMPOSE, "-p", theirs, "down"], compose_dir, check=False)

    med = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"no-op on an unchanged {args.services}-service stack, median of {args.repeat} runs "
        "(each a fresh process)"
    )
    rows = [["command", "median", "min", "max", "ratio to docker-compose up -d"]]
    labels = {
        "diff": "stackup diff",
        "up": "stackup up",
        "compose": "docker-compose up -d (1.29)",
    }
    for name in ("diff", "up", "compose"):
        ratio = med[name] / med["compose"]
        rows.append(
            [
                labels[name],
                seconds(med[name]),
                seconds(min(times[name])),
                seconds(max(times[name])),
                f"{ratio:.2f}"
                + (
                    ""
                    if name == "compose"
                    else (" (aim <= 0.70: " + ("ok)" if ratio <= 0.7 else "MISSED)"))
                ),
            ]
        )
    print(table(rows))


if __name__ == "__main__":
    main()
