"""Malformed stack files: each fixture says on its first line where its error must point.

    # expect: [FILE:]LINE[:COL] PATH MESSAGE-SUBSTRING

FILE (relative to the fixture's directory) is given when the error is in another file (an
include or an extends target); PATH is the dotted path, or `-` when the error has none. The
test compares the error with that mark, not with recorded output.

A fixture with several problems has one `# expect:` line for each, in file order, at the top:
the first is the error's own mark, and every one must be reported, with nothing else.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stackup.errors import StackupError
from stackup.loading.loader import LoadOptions, load

BAD = Path(__file__).resolve().parent.parent / "fixtures" / "bad"
FIXTURES = sorted(BAD.glob("*.yaml"))


Expectation = tuple[str, int | None, int | None, str | None, str]


def _expectation(path: Path) -> Expectation:
    return _expectations(path)[0]


def _expectations(path: Path) -> list[Expectation]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# expect: "), f"{path.name} has no `# expect:` line"
    out = []
    for line in lines:
        if not line.startswith("# expect: "):
            break
        out.append(_parse_expectation(path, line))
    return out


def _parse_expectation(path: Path, first: str) -> Expectation:
    location, err_path, message = first[len("# expect: ") :].split(" ", 2)
    parts = location.split(":")
    file = path.name
    if not parts[0].isdigit() and parts[0] != "-":
        file = parts.pop(0)
    line = int(parts[0]) if parts and parts[0].isdigit() else None
    column = int(parts[1]) if len(parts) > 1 else None
    return file, line, column, None if err_path == "-" else err_path, message


def _load(path: Path) -> StackupError:
    with pytest.raises(StackupError) as info:
        load(LoadOptions(files=(Path(path.name),), working_dir=path.parent, environ={}))
    return info.value


def test_there_are_enough_fixtures() -> None:
    assert len(FIXTURES) >= 60


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_error_points_at_the_mark(fixture: Path) -> None:
    file, line, column, err_path, message = _expectation(fixture)
    error = _load(fixture)
    assert error.file is not None and os.path.normpath(error.file) == os.path.normpath(file), str(
        error
    )
    assert error.line == line, str(error)
    if column is not None:
        assert error.column == column, str(error)
    assert error.path == err_path, str(error)
    assert message in str(error), str(error)
    assert "pydantic" not in str(error) and "errors.pydantic.dev" not in str(error)
    reports = error.reports()
    expected = _expectations(fixture)
    assert len(reports) == len(expected), str(error)
    for report, (file, line, column, err_path, message) in zip(reports, expected, strict=True):
        where = _where_text(file, line, column)
        assert report.startswith(f"{where}:"), report
        if err_path:
            assert f" {err_path}: " in report, report
        assert message in report, report


def _where_text(file: str, line: int | None, column: int | None) -> str:
    return file if line is None else f"{file}:{line}" + (f":{column}" if column is not None else "")


def _where(fixture: Path) -> tuple[str, str]:
    file, line, column, _, message = _expectation(fixture)
    return _where_text(file, line, column), message


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_cli_reports_located_error(
    fixture: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the command line's own entry point, in-process: exit 1, the location on
    stderr, no traceback."""
    from stackup.cli import main

    for name in [k for k in os.environ if k.startswith("STACKUP_TEST_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(fixture.parent)
    monkeypatch.setattr(sys, "argv", ["stackup", "-f", fixture.name, "config", "-q"])
    with pytest.raises(SystemExit) as info:
        main()
    err = capsys.readouterr().err
    assert info.value.code == 1, err
    assert "Traceback" not in err
    for file, line, column, _, message in _expectations(fixture):
        assert f"error: {_where_text(file, line, column)}" in err, err
        assert message in err, err


SUBPROCESS_SAMPLE = [
    "yaml_unclosed_flow",
    "unknown_service_key",
    "port_three_parts",
    "billion_laughs",
    "interp_required",
    "include_cycle",
    "extends_cycle",
    "profile_dependency_disabled",
]


@pytest.mark.parametrize("name", SUBPROCESS_SAMPLE)
def test_cli_process_exits_1_without_traceback(name: str) -> None:
    fixture = BAD / f"{name}.yaml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKUP_TEST_")}
    result = subprocess.run(
        [sys.executable, "-m", "stackup", "-f", fixture.name, "config", "-q"],
        cwd=fixture.parent,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    where, message = _where(fixture)
    assert where in result.stderr and message in result.stderr, result.stderr
