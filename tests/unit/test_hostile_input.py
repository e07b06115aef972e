"""Hostile input (tests/unit/hostile_cases.py): every case finishes, exits 0, 1 or 2, prints
no traceback and never the planted secret. Each runs as `python -m stackup` in a fresh
directory, with a timeout and a memory limit, so a regression fails one case, not the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.hostile_cases import SECRET, all_cases, materialise, run_subprocess

CASES = all_cases()


def test_the_corpus_is_large() -> None:
    assert len(CASES) >= 250


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_case(case, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    materialise(case, tmp_path)
    outcome = run_subprocess(case, tmp_path, timeout=60)
    assert outcome.problems() == [], (outcome.code, outcome.stderr[-2000:])


def test_an_error_names_the_place_not_the_value(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "env_file_bad_key")
    materialise(case, tmp_path)
    outcome = run_subprocess(case, tmp_path, timeout=60)
    assert outcome.code == 1
    assert "app.env:1" in outcome.stderr and "invalid line" in outcome.stderr
    assert SECRET not in outcome.stderr


def test_a_value_built_from_a_secret_is_masked(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "taint_environ[config]")
    materialise(case, tmp_path)
    outcome = run_subprocess(case, tmp_path, timeout=60)
    assert outcome.code == 0
    assert "DATABASE_URL: (sensitive)" in outcome.stdout


def test_a_fifo_is_refused_with_a_message(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "env_file_fifo")
    materialise(case, tmp_path)
    outcome = run_subprocess(case, tmp_path, timeout=60)
    assert outcome.code == 1
    assert "pipe is a FIFO, not a regular file" in outcome.stderr
