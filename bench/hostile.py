"""Hostile-input counts per class, the slowest runs, and the cost of a long depends_on chain.

    PYTHONPATH=. python bench/hostile.py [-k NAME] [-v] [--jobs N] [--chain 5000]

Runs the corpus of tests/hostile/cases_*.py through tests/hostile/harness.py (every mode of a
case in one forked process, each run judged for leaks, hangs, exit codes, tracebacks, forged
lines, control characters and Markdown stackup did not make), prints the counts per class of
attack and the slowest runs; then times `stackup config -q` on a chain of services that each
depend on the previous one. Not a test: the numbers go into the issue and docs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.hostile.harness import collect, run_corpus, summarise
from tests.unit.hostile_cases import Case, materialise, run_subprocess


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chain", type=int, default=5000)
    parser.add_argument("--jobs", type=int, default=None, help="cases run at once")
    parser.add_argument("--slowest", type=int, default=10)
    parser.add_argument("-k", default="", help="only cases whose name contains this")
    parser.add_argument("-v", action="store_true", help="print every failing run")
    parser.add_argument(
        "--keep-going", action="store_true", help="run a case's other modes after a hang too"
    )
    args = parser.parse_args()
    cases = [c for c in collect() if args.k in c.name]
    start = time.perf_counter()
    results = list(run_corpus(cases, args.jobs, stop_after_hang=not args.keep_going))
    took = time.perf_counter() - start
    runs = [(r, run) for r in results for run in r.runs]
    print(f"cases: {len(cases)}, runs: {len(runs)}, {took:.1f}s")
    for line in summarise(results):
        print(line)
    if args.v:
        for result, run in runs:
            if run.problems and result.klass != "control":
                last = (run.stderr.strip().splitlines() or [""])[-1][:150]
                print(
                    f"{result.name} {run.mode}: {','.join(run.problems)} ({run.seconds:.1f}s) {last}"
                )
    print(f"slowest {args.slowest} runs:")
    for result, run in sorted(runs, key=lambda pair: -pair[1].seconds)[: args.slowest]:
        print(f"  {run.seconds:6.2f}s  {result.name} {run.mode}")
    if args.chain:
        chain = "".join(
            f"  s{i}:\n    image: busybox\n" + (f"    depends_on: [s{i - 1}]\n" if i else "")
            for i in range(args.chain)
        )
        case = Case("chain", {"stack.yaml": f"name: chain\nservices:\n{chain}"}, ("config", "-q"))
        with tempfile.TemporaryDirectory() as tmp:
            materialise(case, Path(tmp))
            start = time.perf_counter()
            outcome = run_subprocess(case, Path(tmp), 600)
            took = time.perf_counter() - start
        print(
            f"{args.chain}-service depends_on chain, config -q: {took:.2f}s (exit {outcome.code})"
        )


if __name__ == "__main__":
    main()
