"""Run a corpus case in each mode and judge it: the modes an empty-`args` case stands for, and
one verdict per run (the problems of tests/unit/hostile_cases.Outcome plus, for the "forge"
class, those of tests/hostile/forge_judge.py).

A small runner of its own until the corpus harness of tests/hostile/ covers every class; the
mode list is the issue's: config (yaml, json), diff (text, json, markdown, -o), lint (text,
json, sarif), graph (text, dot, mermaid).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from tests.hostile import forge_judge
from tests.unit.hostile_cases import Case, materialise, run_subprocess

AGAINST = ("diff", "--against", "base.yaml")
# (args, the format of stdout)
MODES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("config",), "yaml"),
    (("config", "--format", "json"), "json"),
    (AGAINST, "text"),
    ((*AGAINST, "--format", "json"), "json"),
    ((*AGAINST, "--format", "markdown"), "markdown"),
    ((*AGAINST, "-o", "plan.json"), "text"),
    (("lint",), "text"),
    (("lint", "--format", "json"), "json"),
    (("lint", "--format", "sarif"), "sarif"),
    (("graph",), "text"),
    (("graph", "--format", "dot"), "dot"),
    (("graph", "--format", "mermaid"), "mermaid"),
)


def expand(case: Case) -> list[tuple[Case, str]]:
    """The runs a case stands for, each with the format of its stdout."""
    if case.args:
        fmt = "text"
        for flag in ("--format",):
            if flag in case.args:
                fmt = case.args[case.args.index(flag) + 1]
        return [(case, fmt)]
    return [
        (replace(case, name=f"{case.name}[{' '.join(args)}]", args=args), fmt)
        for args, fmt in MODES
    ]


@dataclass(frozen=True)
class Verdict:
    name: str
    problems: list[str]
    seconds: float
    code: int | None
    stderr: str


def judge(case: Case, fmt: str, timeout: float) -> Verdict:
    with tempfile.TemporaryDirectory() as tmp:
        materialise(case, Path(tmp))
        start = time.perf_counter()
        outcome = run_subprocess(case, Path(tmp), timeout)
        took = time.perf_counter() - start
        written = Path(tmp, "plan.json")
        plan_file = written.read_text(errors="replace") if written.is_file() else ""
    found = [p for p in outcome.problems() if p != "exit3"]
    if case.klass == "forge":
        found += [f"stdout: {p}" for p in forge_judge.problems(outcome.stdout, fmt)]
        found += [f"stderr: {p}" for p in forge_judge.problems(outcome.stderr, "text")]
        found += [f"plan file: {p}" for p in forge_judge.problems(plan_file, "json")]
    return Verdict(case.name, found, took, outcome.code, outcome.stderr)
