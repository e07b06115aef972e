"""The secrets corpus (tests/hostile/cases_secrets.py) over the modes that print a stack or a
plan: no mode prints the planted secret, and `import run -o` puts it in a 0600 .env only.

Each run is a fork of this process (the CLI already imported), so the corpus takes seconds; a
timeout still bounds every run. The corpus harness runs the same cases over every mode."""

from __future__ import annotations

import os
import signal
import stat
import sys
import tempfile
from pathlib import Path

import pytest

from tests.hostile.cases_secrets import cases
from tests.unit.hostile_cases import SECRET, Case, Outcome, materialise

# Config, diff, lint and graph in each of their formats.
MODES: tuple[tuple[str, ...], ...] = (
    ("config",),
    ("config", "--format", "json"),
    ("diff", "--against", "base.yaml"),
    ("diff", "--against", "base.yaml", "--format", "json"),
    ("diff", "--against", "base.yaml", "--format", "markdown"),
    ("lint",),
    ("lint", "--format", "json"),
    ("lint", "--format", "sarif"),
    ("graph",),
    ("graph", "--format", "dot"),
    ("graph", "--format", "mermaid"),
)
CASES = cases()


def _preload() -> None:
    """Import what every mode imports once, here, so that each fork starts warm."""
    import importlib

    for module in ("config_cmd", "diff_cmd", "lint_cmd", "graph_cmd", "import_cmd"):
        importlib.import_module(f"stackup.cli.{module}")
    for module in ("stackup.loading.loader", "stackup.review", "stackup.lint.linter"):
        importlib.import_module(module)


def run_forked(case: Case, root: Path, args: tuple[str, ...], timeout: int = 30) -> Outcome:
    """`stackup ARGS` in `root`, in a forked child with the case's environment."""
    from stackup.cli import main

    _preload()

    out_path, err_path = root / ".stdout", root / ".stderr"
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 70
        try:
            os.chdir(root)
            os.environ.update({"NO_COLOR": "1", **case.env})
            os.environ.pop("STACKUP_DEBUG", None)
            for fd, path in ((1, out_path), (2, err_path)):
                os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
            signal.alarm(timeout)
            sys.argv = ["stackup", *args]
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    read = lambda p: p.read_text(errors="replace") if p.exists() else ""  # noqa: E731
    return Outcome(None if code == -signal.SIGALRM else code, read(out_path), read(err_path))


def problems(outcome: Outcome) -> list[str]:
    # lint exits 3 when it has findings: an outcome, not a failure.
    return [p for p in outcome.problems() if p != "exit3"]


def _runs(case: Case) -> list[tuple[str, ...]]:
    return [case.args] if case.args else list(MODES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_no_mode_prints_the_secret(case: Case, tmp_path: Path) -> None:
    materialise(case, tmp_path)
    failures = []
    for args in _runs(case):
        outcome = run_forked(case, tmp_path, args)
        if problems(outcome):
            failures.append((" ".join(args), problems(outcome), outcome.stderr[-400:]))
    assert failures == []


def test_the_corpus_has_twenty_per_class() -> None:
    for klass in ("leak-error", "taint", "name-rules", "import"):
        assert sum(c.klass == klass for c in CASES) >= 20, klass


@pytest.mark.parametrize("case", [c for c in CASES if "-o" in c.args], ids=lambda c: c.name)
def test_import_writes_the_secret_to_a_private_env_file(case: Case, tmp_path: Path) -> None:
    materialise(case, tmp_path)
    outcome = run_forked(case, tmp_path, case.args)
    assert outcome.code == 0, outcome.stderr
    stack = (tmp_path / "stack.yaml").read_text()
    assert SECRET not in stack
    env = tmp_path / ".env"
    assert SECRET in env.read_text()
    assert stat.S_IMODE(env.stat().st_mode) == 0o600


def count_failures() -> dict[str, int]:
    """For a quick look outside pytest: failing cases per class."""
    counts: dict[str, int] = {}
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            materialise(case, root)
            bad = [a for a in _runs(case) if problems(run_forked(case, root, a))]
            if bad:
                counts[case.klass] = counts.get(case.klass, 0) + 1
                print(case.name, [" ".join(a) for a in bad], flush=True)
    return counts


if __name__ == "__main__":
    print(count_failures(), flush=True)
