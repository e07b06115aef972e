"""Hostile-input counts per class, the slowest runs, and the cost of a long depends_on chain.

    PYTHONPATH=. python bench/hostile.py [-k NAME] [-v] [--jobs N] [--chain 5000]
    PYTHONPATH=. python bench/hostile.py --only-worst [--worst-timeout 30]

Runs the corpus of tests/hostile/cases_*.py through tests/hostile/harness.py (every mode of a
case in one forked process, each run judged for leaks, hangs, exit codes, tracebacks, forged
lines, control characters and Markdown stackup did not make), prints the counts per class of
attack and the slowest runs; then times `stackup config -q` on a chain of services that each
depend on the previous one; then times every "hang" and "exit70" case of
tests/hostile/cases_bounds.py as `python -m stackup` in a fresh directory, slowest first (a run
killed at --worst-timeout shows as ">N s"); `--only-worst` runs only that part. Not a test: the numbers go into the issue and docs.
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
    parser.add_argument("--worst-timeout", type=float, default=120.0)
    parser.add_argument("--worst", type=int, default=12, help="how many of the slowest to print")
    parser.add_argument("--only-worst", action="store_true", help="skip the other measurements")
    args = parser.parse_args()
    if not args.only_worst:
        _corpus(args)
        _chain(args)
    _worst(args)


def _corpus(args: argparse.Namespace) -> None:
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


def _chain(args: argparse.Namespace) -> None:
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


def _worst(args: argparse.Namespace) -> None:
    from tests.hostile.cases_bounds import cases as bound_cases

    timed = []
    for case in bound_cases():
        if args.k not in case.name:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            materialise(case, Path(tmp))
            start = time.perf_counter()
            outcome = run_subprocess(case, Path(tmp), args.worst_timeout)
            took = time.perf_counter() - start
        shown = f">{args.worst_timeout:.0f} s" if outcome.code is None else f"{took:.2f} s"
        timed.append((took, case.name, shown, outcome.code))
    timed.sort(reverse=True)
    print(f"slowest of {len(timed)} hang/exit70 cases (tests/hostile/cases_bounds.py):")
    for _, name, shown, code in timed[: args.worst]:
        print(f"  {name}: {shown} (exit {'killed' if code is None else code})")


if __name__ == "__main__":
    main()
