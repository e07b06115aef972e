"""What the project lock costs a no-op `stackup up` (and that `stackup diff`, which takes no
lock, pays nothing): the root `stack.yaml` with this checkout against a baseline checkout of
stackup (e.g. `git archive main | tar -x -C /tmp/base`), side by side in one run.

    .venv/bin/python bench/lock_cost.py --baseline /tmp/base [--repeat 5]

The root stack (nginx, its web root and config bind-mounted) is copied with its examples to a
temporary directory, under a project name of its own and with its port moved to a free one on
127.0.0.1. After one real `up`, each repetition times a no-op `up` and a `diff --exit-code`
with each checkout (in rotating order), each a fresh process (the baseline's through
PYTHONPATH). Prints the medians. `stackup down` at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, run, seconds, stackup_cmd, table, timed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another stackup checkout")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    baseline = {"PYTHONPATH": str(args.baseline.resolve())}

    project = f"bench-lock-{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory(prefix="stackup-bench-") as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "examples", work / "examples")
        text = (ROOT / "stack.yaml").read_text(encoding="utf-8")
        text = text.replace("127.0.0.1:8080:80", f"127.0.0.1:{_free_port()}:80")
        (work / "stack.yaml").write_text(text, encoding="utf-8")
        up = stackup_cmd("-p", project, "up", "--pull", "never", "--progress", "quiet")
        diff = stackup_cmd("-p", project, "diff", "--exit-code")
        variants = {"baseline": baseline, "this": {}}
        try:
            run(up, work)
            times: dict[tuple[str, str], list[float]] = {}
            for i in range(args.repeat):
                order = list(variants) if i % 2 == 0 else list(reversed(variants))
                for variant in order:
                    env = variants[variant]
                    for name, cmd in (("up", up), ("diff", diff)):
                        spent = timed(lambda cmd=cmd, env=env: run(cmd, work, env))
                        times.setdefault((name, variant), []).append(spent)
            rows = [["command", "baseline", "this checkout", "difference", "runs (this)"]]
            for name in ("up", "diff"):
                base = statistics.median(times[(name, "baseline")])
                this = statistics.median(times[(name, "this")])
                runs = " ".join(f"{t:.3f}" for t in times[(name, "this")])
                rows.append([name, seconds(base), seconds(this), f"{this - base:+.3f} s", runs])
            print(f"no-op runs of the root stack.yaml, median of {args.repeat}:")
            print(table(rows))
        finally:
            run(stackup_cmd("-p", project, "down"), work, check=False)


if __name__ == "__main__":
    main()
