"""The one poll loop (stackup.poll): the value that ends the wait, None on timeout or cancel,
and a failure raised by the check goes up unchanged."""

from __future__ import annotations

import threading

import pytest

from stackup.errors import ApplyError
from stackup.poll import poll_until


def test_returns_the_first_value_the_check_gives() -> None:
    answers = iter([None, None, "ready"])
    calls: list[int] = []

    def check() -> str | None:
        calls.append(1)
        return next(answers)

    assert poll_until(check, interval=0.0, timeout=None) == "ready"
    assert len(calls) == 3


def test_none_when_the_timeout_passes() -> None:
    calls: list[int] = []

    def never() -> bool | None:
        calls.append(1)
        return None

    assert poll_until(never, interval=0.0, timeout=0.0) is None
    assert calls  # checked at least once, even with no time to wait


def test_a_set_cancel_ends_the_wait_after_one_check() -> None:
    cancel = threading.Event()
    cancel.set()
    calls: list[int] = []

    def never() -> bool | None:
        calls.append(1)
        return None

    assert poll_until(never, interval=3600.0, timeout=None, cancel=cancel) is None
    assert len(calls) == 1


def test_a_failing_check_raises_through() -> None:
    def broken() -> bool | None:
        raise ApplyError("web is unhealthy")

    with pytest.raises(ApplyError, match="unhealthy"):
        poll_until(broken, interval=0.0, timeout=None)
