"""bench/plan.py's reconcile and bench/noop.py's no-op `diff`/`up`, for an older commit and
this tree, side by side in one run on one machine.

    .venv/bin/python bench/before_after.py --before REV [--repeat 5] [--sizes 1000] [--services 30]

The older commit is checked out in a temporary git worktree (removed at the end). Each
repetition runs both trees in turn, the order alternating, so neither always runs on a cold or
warm cache: the reconcile of an unchanged and of a wholly changed stack and the offline review
diff (each tree's own `bench.plan.measure`, in a fresh interpreter), then `stackup diff` and
`stackup up` on an unchanged stack applied to the engine (each tree's own `python -m stackup`
as a fresh process, under its own project name). Prints the medians and after/before ratios
(aim: no more than 5 % slower). Needs a running engine for the no-op part (`--services 0`
skips it). Everything applied is removed at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import seconds, synthetic_stack, table

ROOT = Path(__file__).resolve().parents[1]

_MEASURE = (
    "import json, sys; sys.path.insert(0, sys.argv[1]); from bench.plan import measure; "
    "print(json.dumps(measure(int(sys.argv[2]), 1)))"
)


@contextmanager
def checkout(rev: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="stackup-before-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), rev],
            check=True,
        )
        try:
            yield tree
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
            )


def stackup(tree: Path, *args: str, cwd: Path, check: bool = True) -> float:
    """Seconds one `python -m stackup ARGS` of `tree` takes, as a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "stackup", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    took = time.perf_counter() - start
    if check and done.returncode != 0:
        raise SystemExit(f"{tree.name}: stackup {' '.join(args)} failed:\n{done.stderr}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="the older commit (any git revision)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000])
    parser.add_argument("--services", type=int, default=30, help="0 skips the no-op part")
    args = parser.parse_args()
    times: dict[tuple[str, str], list[float]] = {}

    def record(tree: str, metric: str, value: float) -> None:
        times.setdefault((metric, tree), []).append(value)

    with checkout(args.before) as before:
        trees = {"before": before, "after": ROOT}
        for i in range(args.repeat):
            for name in sorted(trees, reverse=bool(i % 2)):
                for size in args.sizes:
                    out = subprocess.run(
                        [sys.executable, "-c", _MEASURE, str(trees[name]), str(size)],
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout
                    result = json.loads(out.strip().splitlines()[-1])
                    for key in ("noop", "changed", "offline"):
                        record(name, f"reconcile {key}, {size:,} services", result[key])
        if args.services:
            _noop(trees, args, record)

    rows = [["measure", "before", "after", "after / before"]]
    for metric in dict.fromkeys(m for m, _ in times):
        b = statistics.median(times[(metric, "before")])
        a = statistics.median(times[(metric, "after")])
        verdict = "ok" if a <= b * 1.05 else "SLOWER"
        rows.append([metric, seconds(b), seconds(a), f"{a / b:.2f} ({verdict})"])
    print(f"before = {args.before}, after = this tree; median of {args.repeat} runs each")
    print(table(rows))


def _noop(
    trees: dict[str, Path], args: argparse.Namespace, record: Callable[[str, str, float], None]
) -> None:
    token = secrets.token_hex(3)
    with tempfile.TemporaryDirectory(prefix="stackup-bench-") as tmp:
        dirs = {}
        for name in trees:
            project = f"bench-ba-{name}-{token}"
            work = Path(tmp) / name
            work.mkdir()
            text = synthetic_stack(args.services, project=project)
            (work / "stack.yaml").write_text(text, encoding="utf-8")
            dirs[name] = work
        try:
            for name, tree in trees.items():
                stackup(tree, "up", "--pull", "never", "--progress", "quiet", cwd=dirs[name])
            for i in range(args.repeat):
                for name in sorted(trees, reverse=bool(i % 2)):
                    tree, work = trees[name], dirs[name]
                    diff = stackup(tree, "diff", "--exit-code", cwd=work)
                    up = stackup(tree, "up", "--pull", "never", "--progress", "quiet", cwd=work)
                    record(name, f"stackup diff, {args.services} services unchanged", diff)
                    record(name, f"stackup up, {args.services} services unchanged", up)
        finally:
            for name, tree in trees.items():
                stackup(tree, "down", cwd=dirs[name], check=False)


if __name__ == "__main__":
    main()
