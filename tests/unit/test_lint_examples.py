"""The stacks we ship pass our own lint: the root `stack.yaml` is clean at `--severity high`,
and every example's findings at medium or above are fixed or suppressed with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackup.lint.linter import Finding, Severity, at_or_above, lint
from stackup.loading.loader import LoadOptions, load

ROOT = Path(__file__).parents[2]
STACK_NAMES = ("stack.yaml", "stack.yml", "compose.yaml", "compose.yml")


def example_stacks() -> list[Path]:
    found = []
    for directory in sorted(p for p in (ROOT / "examples").glob("*") if p.is_dir()):
        found += [directory / name for name in STACK_NAMES if (directory / name).is_file()][:1]
    return found


def describe(findings: list[Finding]) -> str:
    return "\n".join(f"{f.mark}: {f.rule} [{f.severity}] {f.message}" for f in findings)


@pytest.mark.parametrize("path", example_stacks(), ids=lambda p: p.parent.name)
def test_example_has_no_unsuppressed_finding_at_medium(path: Path) -> None:
    findings = lint(load(LoadOptions(files=(path,), environ={})))
    bad = at_or_above(findings, Severity.MEDIUM)
    assert bad == [], describe(bad)
    assert [f for f in findings if f.rule == "SU020"] == []


def test_root_stack_is_clean_at_high() -> None:
    path = ROOT / "stack.yaml"
    if not path.is_file():
        pytest.skip("no root stack.yaml yet")
    findings = lint(load(LoadOptions(files=(path,), environ={})))
    bad = at_or_above(findings, Severity.HIGH)
    assert bad == [], describe(bad)
    assert [f for f in findings if f.rule == "SU020"] == []
