"""Hostile-input counts, the times of the worst inputs, and the cost of a long depends_on chain.

    PYTHONPATH=. python bench/hostile.py [--timeout 20] [--chain 5000] [--worst-timeout 120]

Runs every case of tests/unit/hostile_cases.py as `python -m stackup` in a fresh directory (with
a 2 GiB address-space limit and a timeout) and counts the runs that printed the planted secret,
hung, exited 70 or printed a traceback; then times `stackup config -q` on a chain of services
that each depend on the previous one; then times every "hang" and "exit70" case of
tests/hostile/cases_bounds.py (super-linear parsing, scale, aliases, graph rendering) and prints
them slowest first (a run killed at --worst-timeout shows as ">N s"). Not a test: the numbers go into the issue and docs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.unit.hostile_cases import Case, all_cases, materialise, run_subprocess


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--chain", type=int, default=5000)
    parser.add_argument("-k", default="", help="only cases whose name contains this")
    parser.add_argument("-v", action="store_true", help="print every failing case")
    parser.add_argument("--worst-timeout", type=float, default=120.0)
    parser.add_argument("--worst", type=int, default=12, help="how many of the slowest to print")
    parser.add_argument("--only-worst", action="store_true", help="skip the other measurements")
    args = parser.parse_args()
    if not args.only_worst:
        _counts(args)
    _worst(args)


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


def _counts(args: argparse.Namespace) -> None:
    cases = [c for c in all_cases() if args.k in c.name]
    counts: Counter[str] = Counter()
    for case in cases:
        with tempfile.TemporaryDirectory() as tmp:
            materialise(case, Path(tmp))
            start = time.perf_counter()
            outcome = run_subprocess(case, Path(tmp), args.timeout)
            took = time.perf_counter() - start
        problems = outcome.problems()
        counts.update(problems)
        if problems and args.v:
            last = (outcome.stderr.strip().splitlines() or [""])[-1][:150]
            print(f"{case.name}: {','.join(problems)} ({took:.1f}s) {last}")
    print(f"cases: {len(cases)}")
    for key in ("secret", "hang", "exit70", "traceback"):
        print(f"{key}: {counts[key]}")
    others = {k: v for k, v in counts.items() if k not in ("secret", "hang", "exit70", "traceback")}
    if others:
        print(f"other: {others}")
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
