"""The hostile corpus (tests/hostile/cases_*.py), every case in every mode, judged by
tests/hostile/harness.py: no leak, no hang, exit 0–3, no traceback, no forged line or control
character, no Markdown that stackup did not make. Controls must be caught leaking."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.hostile import harness
from tests.hostile.harness import (
    RESULTS,
    CaseResult,
    RunOutput,
    collect,
    judge,
    judge_markdown,
    known_failures,
    run_corpus,
)
from tests.unit.hostile_cases import SECRET, Case

CASES = collect()
KNOWN = known_failures()


@pytest.fixture(scope="session")
def corpus(request: pytest.FixtureRequest) -> dict[str, CaseResult]:
    """The selected cases, run once for the session, in parallel."""
    selected = {
        item.callspec.params["case"].name
        for item in request.session.items
        if getattr(item, "callspec", None) is not None and "case" in item.callspec.params
    }
    todo = [case for case in CASES if case.name in selected]
    for result in run_corpus(todo):
        RESULTS[result.name] = result
    return RESULTS


def _report(result: CaseResult) -> str:
    lines = []
    for run in result.runs:
        if run.problems:
            lines.append(f"{run.mode} {' '.join(run.args)}: {', '.join(run.problems)}")
            lines.append(f"  exit {run.code}, {run.seconds:.2f}s, files {list(run.files)}")
            lines.append("  stderr: " + run.stderr[-600:].replace("\n", "\n    "))
            lines.append("  stdout: " + run.stdout[-600:].replace("\n", "\n    "))
    return "\n".join(lines)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case, corpus: dict[str, CaseResult]) -> None:
    result = corpus[case.name]
    if case.klass == "control":
        missed = [run.mode for run in result.runs if "secret" not in run.problems]
        assert not missed, f"the detector missed the shown secret in {missed}\n{_report(result)}"
        return
    if case.name in KNOWN and result.problems():
        pytest.xfail(KNOWN[case.name])
    assert not result.problems(), _report(result)


def test_the_corpus_is_large_and_has_controls() -> None:
    assert len(CASES) >= 250
    assert sum(1 for c in CASES if c.klass == "control") >= 3


# --- what some runs print, beyond being judged clean ----------------------------------------


def _only_run(corpus: dict[str, CaseResult], name: str) -> harness.ModeResult:
    if name not in corpus:
        pytest.skip(f"{name} was not selected")
    (run,) = corpus[name].runs
    return run


def test_an_error_names_the_place_not_the_value(corpus: dict[str, CaseResult]) -> None:
    run = _only_run(corpus, "legacy-env_file_bad_key")
    assert run.code == 1
    assert "app.env:1" in run.stderr and "invalid line" in run.stderr


def test_a_value_built_from_a_secret_is_masked(corpus: dict[str, CaseResult]) -> None:
    run = _only_run(corpus, "legacy-taint_environ[config]")
    assert run.code == 0
    assert "DATABASE_URL: (sensitive)" in run.stdout


def test_a_fifo_is_refused_with_a_message(corpus: dict[str, CaseResult]) -> None:
    run = _only_run(corpus, "legacy-env_file_fifo")
    assert run.code == 1
    assert "pipe is a FIFO, not a regular file" in run.stderr


# --- the judge itself, on outputs made by hand ---------------------------------------------


def test_the_judge_flags_what_it_looks_for() -> None:
    clean = RunOutput(0, 0.1, "    + container web (new)\n", "")
    assert judge(clean, markdown=False) == []
    assert judge(RunOutput(0, 0.1, f"x: {SECRET[2:12]}\n"), False) == ["secret"]
    assert judge(RunOutput(0, 0.1, "", "", {"plan.json": SECRET}), False) == ["secret"]
    assert judge(RunOutput(None, 10.0), False) == ["hang"]
    assert judge(RunOutput(0, 10.5), False) == ["hang"]
    assert judge(RunOutput(70, 0.1), False) == ["exit70"]
    assert judge(RunOutput(4, 0.1), False) == ["exit4"]
    forged = RunOutput(0, 0.1, "    ~ container web\n    + container FORGED (new)\n")
    assert judge(forged, False) == ["forged-line"]
    assert judge(RunOutput(0, 0.1, "label: x\nFORGED\n"), False) == ["forged-line"]
    assert judge(RunOutput(0, 0.1, "label: x\\nFORGED\n"), False) == []
    for raw in ("\r", "\x1b[31m", "\x00", "\x08", "\x9b", "\u202e", "\u2066"):
        assert judge(RunOutput(0, 0.1, f"a{raw}b\n"), False) == ["control-char"], repr(raw)
    trace = RunOutput(1, 0.1, "", "Traceback (most recent call last):\n")
    assert judge(trace, False) == ["traceback"]
    assert judge(RunOutput(1, 0.1, "", "Error: No such option: --x\n"), False) == ["bad-args"]
    assert judge(RunOutput(1, 0.1, opened_outside=("outside/a.env",)), False) == ["opened-outside"]
    assert judge(RunOutput(0, 0.1, loose_env_files=(".env",)), False) == ["env-mode"]


def test_an_untrusted_run_that_opens_a_file_outside_is_caught() -> None:
    # In trusted mode the file outside may be read; untrusted (the review), it must not be.
    files = {
        "repo/stack.yaml": "name: t\nservices:\n  web:\n    image: nginx:1.27\n",
        "outside/x.yaml": "name: t\nservices:\n  web:\n    image: nginx:1.25\n",
    }
    case = Case("harness-outside", files, ("diff", "--against", "../outside/x.yaml"), klass="h")
    assert harness.run_case(case).problems() == {}  # named on the command line: allowed
    include = {**files, "repo/stack.yaml": "include: [../outside/x.yaml]\n"}
    result = harness.run_case(Case("harness-include", include, ("config",), klass="h"))
    assert result.problems() == {}  # trusted
    untrusted = harness.run_case(
        Case(
            "harness-include-untrusted", include, ("config",), {"STACKUP_UNTRUSTED": "1"}, klass="h"
        )
    )
    # Today stackup refuses it before opening it; the judge is checked with a run that opens.
    assert untrusted.problems() == {}
    opened = harness._outside(
        [str(Path("/r/outside/x.yaml")), "/r/repo/stack.yaml", "/proc/self/environ"],
        Path("/r"),
        Path("/r/repo"),
    )
    assert opened == ("outside/x.yaml", "/proc/self/environ")


PLAN_MD = (
    "### stackup plan for `p`\n\n**Plan:** 1 to add.\n\n| | kind | name | reason |\n"
    "|---|---|---|---|\n| `+` | container | `web` | new container{} |\n\n"
    "<details><summary>Changed fields</summary>\n\n**web**\n\n```diff\n- a: 1\n+ a: {}\n```\n\n"
    "</details>\n"
)


@pytest.mark.parametrize(
    ("reason", "value", "expected"),
    [
        ("", "2", []),
        (" \\| escaped \\`x\\`", "2", []),
        ("![x](https://evil.example/p.png)", "2", ["markdown-image"]),
        ("[click](https://evil.example)", "2", ["markdown-link"]),
        (" see https://evil.example/x", "2", ["markdown-link"]),
        (" <img src=x onerror=alert(1)>", "2", ["markdown-html"]),
        (" `a|b`", "2", ["markdown-table"]),
        (" |extra", "2", ["markdown-table"]),
        ("", "2\n```\n<img src=x>\n```", ["markdown-html", "markdown-structure"]),
        ("", "2\n```\n\n| x | y |\n", ["markdown-fence", "markdown-structure"]),
        (" |\n| `+` | container | FORGED | x", "2", ["forged-line"]),
    ],
)
def test_the_markdown_judge(reason: str, value: str, expected: list[str]) -> None:
    assert judge_markdown(PLAN_MD.format(reason, value)) == expected


def test_an_exception_escaping_main_is_an_exit_70_with_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Escaped(BaseException):
        pass

    def escape() -> None:
        raise Escaped

    monkeypatch.setattr("stackup.cli.main", escape)
    (tmp_path / "scratch").mkdir()
    run = harness._run_in_process(("config",), tmp_path / "scratch", tmp_path)
    assert run.code == 70
    assert judge(run, False) == ["exit70", "traceback"]


def test_a_run_past_the_limit_is_stopped_and_judged_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness, "RUN_LIMIT", 0.2)
    monkeypatch.setattr("stackup.cli.main", lambda: time.sleep(30))
    (tmp_path / "scratch").mkdir()
    run = harness._run_in_process(("config",), tmp_path / "scratch", tmp_path)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    assert run.code is None and judge(run, False) == ["hang"]


def test_a_process_that_dies_is_judged_and_the_next_modes_still_run() -> None:
    if not hasattr(os, "fork"):
        pytest.skip("needs fork")
    # `-f` names a FIFO with no writer: loading would block in open(); the harness's own
    # watchdog is not what is tested here, so the case uses a stack that exits at once.
    case = Case(
        "harness-self-test",
        {"stack.yaml": "name: t\nservices:\n  web:\n    image: nginx:1.27\n"},
        klass="harness",
    )
    result = harness.run_case(case)
    assert [run.mode for run in result.runs] == list(harness.MODES)
    assert all(run.code in (0, 1, 2, 3) for run in result.runs), result
    saved = next(run for run in result.runs if run.mode == "diff-o")
    assert saved.files == (harness.PLAN_OUTPUT,)
