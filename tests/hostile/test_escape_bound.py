"""The forge, hang and exit-70 classes of the hostile corpus (cases_forge.py, cases_bounds.py),
each case run as `python -m stackup` in every mode it stands for (tests/hostile/modes.py), with
a memory limit and a timeout far above the time a bounded run takes (a hang on the old main
ran past two minutes; the same inputs now take a few seconds at most: bench/hostile.py)."""

from __future__ import annotations

import pytest

from tests.hostile import cases_bounds, cases_forge, modes

FORGE = cases_forge.cases()
BOUNDS = cases_bounds.cases()


def test_each_class_has_twenty_cases() -> None:
    klasses = [c.klass for c in FORGE + BOUNDS]
    assert min(klasses.count(k) for k in ("forge", "hang", "exit70")) >= 20


@pytest.mark.parametrize("case", FORGE + BOUNDS, ids=[c.name for c in FORGE + BOUNDS])
def test_case_in_every_mode(case) -> None:  # type: ignore[no-untyped-def]
    failures = []
    for run, fmt in modes.expand(case):
        verdict = modes.judge(run, fmt, timeout=60)
        if verdict.problems:
            failures.append((run.args, verdict.code, verdict.problems, verdict.stderr[-500:]))
    assert failures == []
