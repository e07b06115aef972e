"""Prints the corpus's counts per class of attack at the end of a run that ran it."""

from __future__ import annotations

import pytest

from tests.hostile.harness import RESULTS, summarise


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if RESULTS:
        terminalreporter.section("hostile corpus, per class")
        for line in summarise(list(RESULTS.values())):
            terminalreporter.write_line(line)
