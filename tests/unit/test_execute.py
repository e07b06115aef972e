"""The executor over an in-memory engine: the parallelism bound, a failure skipping only its
dependents, cancel (Ctrl-C) letting running operations finish and starting no new one, and
the messages of failed depends_on conditions.

Plans are built by hand from `StartContainer` and `WaitFor` steps; `ProbeEngine` records what
the executor asks of it and can hold a call until the test lets it go. No sleeps decide
anything here: every wait is on an event with a generous timeout that only fires on a bug.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from stackup.engine.fake import FakeEngine
from stackup.engine.interface import ContainerState
from stackup.errors import EngineError
from stackup.planning.plan import Action, Kind, Operation, Plan, StartContainer, WaitFor
from stackup.targets.engine.execute import Event, ExecuteOptions, Outcome, execute

TIMEOUT = 30.0  # only reached when something is broken


class ProbeEngine(FakeEngine):
    """Records `start_container` calls; can fail some and hold the others at a gate."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[str] = []
        self.fail: set[str] = set()
        self.gate = threading.Event()
        self.gate.set()
        self.active = 0
        self.max_active = 0
        self.entered = threading.Condition()
        self.states: dict[str, ContainerState] = {}
        self.log_lines: dict[str, list[bytes]] = {}

    def start_container(self, container: str) -> None:
        with self.entered:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.started.append(container)
            self.entered.notify_all()
        try:
            assert self.gate.wait(TIMEOUT), "gate never opened"
            if container in self.fail:
                raise EngineError(f"starting container {container}: the engine refused: boom")
        finally:
            with self.entered:
                self.active -= 1

    def wait_active(self, n: int) -> None:
        with self.entered:
            assert self.entered.wait_for(lambda: self.active >= n, TIMEOUT), self.active

    def inspect_container(self, container: str) -> ContainerState:
        if container not in self.states:
            raise EngineError(f"inspecting container {container}: not found")
        return self.states[container]

    def logs(
        self,
        container: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        timestamps: bool = False,
    ) -> Iterator[bytes]:
        lines = self.log_lines.get(container, [])
        return iter(lines[-tail:] if tail else lines)


def _op(name: str, after: tuple[str, ...] = (), *steps: object) -> Operation:
    return Operation(
        id=f"container:{name}",
        action=Action.CREATE,
        kind=Kind.CONTAINER,
        name=name,
        reason="test",
        steps=tuple(steps) or (StartContainer(name),),  # type: ignore[arg-type]
        after=tuple(f"container:{a}" for a in after),
    )


def _state(
    name: str, status: str, *, exit_code: int = 0, health: str | None = None
) -> ContainerState:
    return ContainerState(
        id=name,
        name=name,
        status=status,
        exit_code=exit_code,
        health=health,
        health_log="probe said: connection refused" if health else "",
        started_at="",
        finished_at="",
    )


def _run_in_thread(
    plan: Plan, engine: ProbeEngine, options: ExecuteOptions, cancel: threading.Event | None = None
) -> tuple[threading.Thread, list[Outcome], list[Event]]:
    result: list[Outcome] = []
    events: list[Event] = []
    thread = threading.Thread(
        target=lambda: result.append(execute(plan, engine, events.append, options, cancel))
    )
    thread.start()
    return thread, result, events


def test_never_more_operations_at_once_than_parallel() -> None:
    engine = ProbeEngine()
    engine.gate.clear()
    plan = Plan("p", tuple(_op(f"c{i}") for i in range(10)))
    thread, result, _ = _run_in_thread(plan, engine, ExecuteOptions(parallel=3))
    engine.wait_active(3)  # the bound is reached ...
    engine.gate.set()  # ... and everything may go on
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert engine.max_active == 3
    assert sorted(engine.started) == sorted(f"c{i}" for i in range(10))
    assert result[0].ok and len(result[0].done) == 10


def test_independent_operations_run_together_when_allowed() -> None:
    engine = ProbeEngine()
    engine.gate.clear()
    plan = Plan("p", tuple(_op(f"c{i}") for i in range(5)))
    thread, result, _ = _run_in_thread(plan, engine, ExecuteOptions(parallel=8))
    engine.wait_active(5)  # all five at once: nothing orders them
    engine.gate.set()
    thread.join(TIMEOUT)
    assert result[0].ok


def test_an_operation_waits_for_the_ones_it_comes_after() -> None:
    engine = ProbeEngine()
    plan = Plan("p", (_op("c", ("b",)), _op("b", ("a",)), _op("a")))
    outcome = execute(plan, engine, options=ExecuteOptions(parallel=8))
    assert outcome.ok
    assert engine.started == ["a", "b", "c"]


def test_a_failure_skips_its_dependents_only() -> None:
    engine = ProbeEngine()
    engine.fail = {"a"}
    plan = Plan(
        "p",
        (
            _op("a"),
            _op("b", ("a",)),
            _op("c", ("b",)),
            _op("d"),
            _op("e", ("d",)),
        ),
    )
    events: list[Event] = []
    outcome = execute(plan, engine, events.append, ExecuteOptions(parallel=4))
    assert set(outcome.failed) == {"container:a"}
    assert "boom" in outcome.failed["container:a"]
    assert set(outcome.skipped) == {"container:b", "container:c"}
    assert outcome.skipped["container:b"] == "not started: a failed"
    assert outcome.skipped["container:c"] == "not started: b failed"
    assert sorted(outcome.done) == ["container:d", "container:e"]
    assert "b" not in engine.started and "c" not in engine.started
    assert not outcome.ok and not outcome.interrupted
    assert [e.status for e in events if e.op_id == "container:a"] == ["started", "failed"]
    assert [e.status for e in events if e.op_id == "container:b"] == ["skipped"]


def test_cancel_lets_running_operations_finish_and_starts_no_new_one() -> None:
    engine = ProbeEngine()
    engine.gate.clear()
    cancel = threading.Event()
    plan = Plan("p", (_op("a"), _op("b", ("a",)), _op("c"), _op("d")))
    thread, result, events = _run_in_thread(plan, engine, ExecuteOptions(parallel=2), cancel)
    engine.wait_active(2)  # a and c run (sorted order, two at a time); d queues, b waits on a
    cancel.set()  # Ctrl-C
    engine.gate.set()  # the running calls complete
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    outcome = result[0]
    assert outcome.interrupted and not outcome.ok
    assert sorted(outcome.done) == ["container:a", "container:c"]
    assert sorted(outcome.skipped) == ["container:b", "container:d"]
    assert all(why == "not started: interrupted" for why in outcome.skipped.values())
    assert sorted(engine.started) == ["a", "c"]
    assert {e.op_id for e in events if e.status == "skipped"} == {"container:b", "container:d"}


def test_cancel_ends_a_wait_for_a_condition() -> None:
    engine = ProbeEngine()
    engine.states["db"] = _state("db", "running", health="starting")
    cancel = threading.Event()
    plan = Plan(
        "p", (_op("app", (), WaitFor("db", ("db",), "service_healthy"), StartContainer("app")),)
    )
    options = ExecuteOptions(parallel=2, poll_interval=0.01, wait_timeout=TIMEOUT)
    thread, result, events = _run_in_thread(plan, engine, options, cancel)
    seen_waiting = threading.Event()
    while not seen_waiting.is_set():  # until the executor reports it is waiting
        if any(e.status == "waiting" for e in list(events)):
            seen_waiting.set()
        thread.join(0.01)
    cancel.set()
    thread.join(TIMEOUT)
    outcome = result[0]
    assert outcome.interrupted
    assert "interrupted while waiting for db" in outcome.failed["container:app"]
    assert engine.started == []


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            _state("db", "running", health="unhealthy"),
            "db is unhealthy: probe said: connection refused",
        ),
        (_state("db", "running"), "db has no healthcheck, so it can never be healthy"),
        (_state("db", "exited", exit_code=1, health="starting"), "db is starting"),
    ],
)
def test_service_healthy_failures_name_the_service_and_its_health_output(
    state: ContainerState, message: str
) -> None:
    engine = ProbeEngine()
    engine.states["db"] = state
    plan = Plan(
        "p",
        (
            _op("app", (), WaitFor("db", ("db",), "service_healthy"), StartContainer("app")),
            _op("other"),
        ),
    )
    outcome = execute(plan, engine, options=ExecuteOptions(poll_interval=0.01))
    assert message in outcome.failed["container:app"]
    assert outcome.done == ["container:other"]
    assert "app" not in engine.started


def test_completed_successfully_failure_reports_exit_code_and_last_log_lines() -> None:
    engine = ProbeEngine()
    engine.states["migrate"] = _state("migrate", "exited", exit_code=3)
    engine.log_lines["migrate"] = [f"line {i}\n".encode() for i in range(30)]
    plan = Plan(
        "p",
        (
            _op(
                "app",
                (),
                WaitFor("migrate", ("migrate",), "service_completed_successfully"),
                StartContainer("app"),
            ),
        ),
    )
    outcome = execute(plan, engine, options=ExecuteOptions(poll_interval=0.01))
    message = outcome.failed["container:app"]
    assert message.startswith("migrate exited with code 3; last log lines:")
    assert "line 29" in message and "line 20" in message and "line 19" not in message
    assert engine.started == []


def test_completed_successfully_and_optional_dependencies_pass() -> None:
    engine = ProbeEngine()
    engine.states["migrate"] = _state("migrate", "exited", exit_code=0)
    plan = Plan(
        "p",
        (
            _op(
                "app",
                (),
                WaitFor("migrate", ("migrate",), "service_completed_successfully"),
                WaitFor("cache", ("cache",), "service_started", required=False),  # absent
                StartContainer("app"),
            ),
        ),
    )
    outcome = execute(plan, engine, options=ExecuteOptions(poll_interval=0.01))
    assert outcome.ok, outcome
    assert engine.started == ["app"]


def test_a_required_dependency_that_does_not_exist_fails() -> None:
    engine = ProbeEngine()
    plan = Plan(
        "p",
        (_op("app", (), WaitFor("cache", ("cache",), "service_started"), StartContainer("app")),),
    )
    outcome = execute(plan, engine, options=ExecuteOptions(poll_interval=0.01))
    assert "container cache does not exist" in outcome.failed["container:app"]


def _chain(n: int) -> Plan:
    """op 0 <- op 1 <- ... <- op n-1, each starting one container."""
    ops = [
        Operation(
            id=f"container:c{i:05d}",
            action=Action.START,
            kind=Kind.CONTAINER,
            name=f"c{i:05d}",
            reason="test",
            steps=(StartContainer(f"c{i:05d}"),),
            after=(f"container:c{i - 1:05d}",) if i else (),
        )
        for i in range(n)
    ]
    return Plan(project="chain", operations=tuple(reversed(ops)))


@pytest.mark.parametrize("inline", [False, True])
def test_long_chain_runs_in_order_and_a_failed_head_skips_all_of_it(inline: bool) -> None:
    # 3,000 links: deeper than Python's recursion limit, so skipping dependents one by one
    # through recursion would crash here.
    n = 3000
    engine = ProbeEngine()
    outcome = execute(_chain(n), engine, options=ExecuteOptions(inline=inline))
    assert outcome.ok
    assert engine.started == [f"c{i:05d}" for i in range(n)]

    engine = ProbeEngine()
    engine.fail = {"c00000"}
    outcome = execute(_chain(n), engine, options=ExecuteOptions(inline=inline))
    assert list(outcome.failed) == ["container:c00000"]
    assert len(outcome.skipped) == n - 1
    assert outcome.skipped["container:c02999"] == "not started: c02998 failed"
    assert engine.started == ["c00000"]
