"""Suite-wide pytest hooks: engine tests are marked, counted, and may not be skipped in CI.

* Every test under ``tests/engine/`` gets the ``engine`` marker (declared in pyproject.toml).
* With ``STACKUP_REQUIRE_ENGINE=1`` (``scripts/test.sh`` sets it) a skipped engine test is
  reported as a failure: CI must not pass because the engine was missing.
* A test that is not an engine test touches no real engine and no real port
  (``_no_engine_or_port``): a user runs the suite beside their own containers and servers
  (the quickstart's demo holds 127.0.0.1:8080), so host facts are handed in, never probed.
* The terminal summary ends with ``engine tests: N passed, M failed, K skipped``; with
  ``STACKUP_ENGINE_REPORT=PATH`` those counts, and the whole run's, are written there as
  JSON (``{"engine": {...}, "all": {...}}``) for ``scripts/test.sh``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from collections.abc import Generator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINE_DIR = ROOT / "tests" / "engine"

# `from tests.engine.helpers import ...` must work however pytest was started
# (`pytest`, `python -m pytest`, from another directory).
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Property tests explore new random inputs on a developer's machine; in CI they replay a
# fixed sequence, so a run of main is repeatable (a new crash is found locally, then fixed).
if os.environ.get("CI"):
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, database=None)
    settings.load_profile("ci")

# The commands the tests start get Ctrl-C as from a terminal. A shell starting the suite in the
# background (`scripts/test.sh … &`, a CI runner's script) ignores SIGINT in it, every child
# inherits the ignoring, and a Python child that starts with SIGINT ignored keeps it ignored
# (no KeyboardInterrupt): a test's Ctrl-C of `stackup logs -f` then did nothing, and the test
# hung in detached runs only. Handled signals, unlike ignored ones, are reset at exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

_engine_outcomes: dict[str, str] = {}

# Where the CLI run by a unit test looks for an engine: nowhere (DOCKER_HOST comes before the
# docker context and the default socket in stackup's engine discovery).
NO_ENGINE = "unix:///nonexistent/stackup-unit-test/docker.sock"


class RealSocketUsed(AssertionError):
    pass


LOOPBACK = ("127.0.0.1", "::1", "localhost")


@pytest.fixture(autouse=True)
def _no_engine_or_port(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside the engine tests, a socket may bind only a loopback port the kernel picks
    (port 0: never one a user's server holds) and connect only to such a port of this test's
    own; a connection to a Unix socket (an engine's) fails the test, and the CLI a test starts
    finds no engine."""
    if request.node.get_closest_marker("engine") is not None:
        return
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    own_ports: set[int] = set()
    real_bind = socket.socket.bind

    def refused(what: str, address: object) -> RealSocketUsed:
        return RealSocketUsed(
            f"a unit test may not {what} {address!r}: hand the host facts in, bind port 0 on "
            "loopback for a server of the test's own, or make it an engine test (tests/engine/)"
        )

    def bind(sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            if not (isinstance(address, tuple) and address[0] in LOOPBACK and address[1] == 0):
                raise refused("bind", address)
            real_bind(sock, address)
            own_ports.add(int(sock.getsockname()[1]))
            return
        real_bind(sock, address)

    def guard(what: str) -> object:
        real = getattr(socket.socket, what)

        def guarded(sock: socket.socket, address: object, *args: object) -> object:
            if sock.family == socket.AF_UNIX:
                raise refused(what, address)
            if sock.family in (socket.AF_INET, socket.AF_INET6) and not (
                isinstance(address, tuple) and address[0] in LOOPBACK and address[1] in own_ports
            ):
                raise refused(what, address)
            return real(sock, address, *args)

        return guarded

    monkeypatch.setattr(socket.socket, "bind", bind)
    for what in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, what, guard(what))


def _require_engine() -> bool:
    return os.environ.get("STACKUP_REQUIRE_ENGINE", "") not in ("", "0")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if ENGINE_DIR in item.path.parents:
            item.add_marker(pytest.mark.engine)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if item.get_closest_marker("engine") is None:
        return
    if report.skipped and not hasattr(report, "wasxfail") and _require_engine():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (
            f"engine test skipped while STACKUP_REQUIRE_ENGINE=1 (CI needs every engine test "
            f"to run): {reason}"
        )
    previous = _engine_outcomes.get(item.nodeid)
    if report.failed:
        _engine_outcomes[item.nodeid] = "failed"
    elif previous == "failed":
        pass
    elif report.skipped and hasattr(report, "wasxfail"):
        _engine_outcomes[item.nodeid] = "xfailed"  # a known defect, named in its marker
    elif report.skipped:
        _engine_outcomes[item.nodeid] = "skipped"
    elif report.when == "call":
        _engine_outcomes[item.nodeid] = "passed"


def _engine_counts() -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "skipped": 0, "xfailed": 0}
    for outcome in _engine_outcomes.values():
        counts[outcome] += 1
    return counts


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts = _engine_counts()
    terminalreporter.write_line(
        f"engine tests: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped, {counts['xfailed']} known defects (xfail)"
    )
    report_path = os.environ.get("STACKUP_ENGINE_REPORT")
    if report_path:
        stats = terminalreporter.stats
        every = {
            "passed": len(stats.get("passed", [])),
            "failed": len(stats.get("failed", [])) + len(stats.get("error", [])),
            "skipped": len(stats.get("skipped", [])),
        }
        Path(report_path).write_text(
            json.dumps({"engine": counts, "all": every}) + "\n", encoding="utf-8"
        )
