"""Carry out a Plan, whatever its target: every operation's steps in order, operations in
parallel as soon as the operations they come `after` have finished, at most `parallel` at a
time.

The runner decides nothing and knows no step: each target hands it a `StepInterpreter` (one
engine's: `stackup.targets.engine.steps.EngineSteps`; a swarm's:
`stackup.targets.swarm.runner.SwarmSteps`) that carries out one step. The runner reports what
happens as `Event`s to a callback (the CLI renders them), stops scheduling when asked
(Ctrl-C), runs an operation's declared restore and clean-up steps when it fails or is
abandoned, and never starts an operation whose predecessor failed: independent branches still
finish.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from stackup.errors import ApplyError, StackupError
from stackup.planning.plan import Action, Operation, Plan, Step


@dataclass(frozen=True, slots=True)
class Event:
    op_id: str
    name: str
    # started, step, waiting, done, failed, skipped; output (a build's line) and progress
    # (a pulled layer's new state) come many times while an image operation runs
    status: str
    message: str = ""
    elapsed: float = 0.0


@dataclass(frozen=True)
class ExecuteOptions:
    parallel: int = 8
    wait_timeout: float = 300.0  # for depends_on conditions
    poll_interval: float = 0.1
    # An operation marked `destroys_data` runs only when the caller says the user agreed
    # (`up --yes` or its prompt, `down --volumes`); otherwise it fails and nothing of it runs.
    allow_data_loss: bool = False
    # Run each operation in the calling thread, one at a time. For the in-memory engine (the
    # offline review), where an operation takes microseconds and threads only add overhead.
    inline: bool = False
    # How long a confirmed reload (`Signal.confirm`) may take to be seen live; None: the
    # target's own limit (one engine's: stackup.targets.engine.reloaded.CONFIRM_TIMEOUT).
    reload_timeout: float | None = None


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped and not self.interrupted


@dataclass(slots=True)
class StepRun:
    """What a step interpreter is handed with each step: the operation it belongs to, the
    step after it in the operation (None for restore and clean-up steps, and the last), and
    the ways to report, to be cancelled and to read the run's options. One per stretch of an
    operation's steps, its `following` moved along by the runner (5,000 operations run
    inline in an offline review: no object per step)."""

    op: Operation
    start: float  # when the operation started (monotonic), for the events' elapsed time
    emit: Callable[[Event], None]
    cancel: threading.Event
    options: ExecuteOptions
    following: Step | None = None

    def report(self, status: str, message: str) -> None:
        self.emit(Event(self.op.id, self.op.name, status, message, time.monotonic() - self.start))

    def step_done(self, message: str) -> None:
        # Reload steps are reported one by one: watch mode shows (and times) each stage.
        self.report("step", message)

    def waiting(self, message: str) -> None:
        self.report("waiting", message)


class StepInterpreter(Protocol):
    """A target's side of the runner: carries out one step of its plans, raising
    `StackupError` (or `OSError`) when it fails. Entered once around a run, for what it
    holds while the run lasts (a worker thread, say)."""

    def __enter__(self) -> object: ...

    def __exit__(self, *exc: object) -> None: ...

    def run_step(self, step: Step, run: StepRun) -> None: ...


def run(
    plan: Plan,
    steps: StepInterpreter,
    on_event: Callable[[Event], None] = lambda event: None,
    options: ExecuteOptions | None = None,
    cancel: threading.Event | None = None,
) -> Outcome:
    """Run every operation of `plan`, each step through `steps`. Returns what was done,
    failed and skipped; raises nothing for a failed operation: the outcome says what failed,
    and `interrupted` after `cancel` was set (the CLI sets it on Ctrl-C)."""
    return _Runner(
        plan, steps, on_event, options or ExecuteOptions(), cancel or threading.Event()
    ).run()


class _Runner:
    def __init__(
        self,
        plan: Plan,
        steps: StepInterpreter,
        on_event: Callable[[Event], None],
        options: ExecuteOptions,
        cancel: threading.Event,
    ) -> None:
        self.plan = plan
        self.steps = steps
        self.emit = on_event
        self.options = options
        self.cancel = cancel
        self.outcome = Outcome()
        self.ops: dict[str, Operation] = {op.id: op for op in plan.operations}
        # An `after` naming an operation outside the plan is already satisfied.
        self.pending: dict[str, Operation] = dict(self.ops)
        self.waiting_on: dict[str, set[str]] = {
            op.id: {a for a in (*op.after, *op.follows) if a in self.ops and a != op.id}
            for op in plan.operations
        }
        # `start_after` gates only the steps from `op.gate` on: a container is created as soon
        # as its networks exist and started once its dependencies are. A parked operation
        # holds no worker while it waits.
        self.gated_on: dict[str, set[str]] = {
            op.id: {a for a in op.start_after if a in self.ops and a != op.id}
            for op in plan.operations
        }
        # Reverse edges, so that finishing or failing an operation touches only the operations
        # that name it: the executor stays linear in the plan's size (5,000 services).
        self.dependents: dict[str, list[str]] = {op_id: [] for op_id in self.ops}
        for op_id in self.ops:
            for before in self.waiting_on[op_id] | self.gated_on[op_id]:
                self.dependents[before].append(op_id)
        self.resume_at: dict[str, int] = {}
        self.started: dict[str, float] = {}
        # Candidates to run, smallest id first (the order is deterministic, as the plan is);
        # an entry is checked again when popped, so a stale one costs nothing.
        self.ready: list[str] = [op_id for op_id in self.ops if self._runnable(op_id)]
        heapq.heapify(self.ready)

    def _runnable(self, op_id: str) -> bool:
        """Whether the pending operation `op_id` can run its next stretch of steps now."""
        if op_id not in self.pending:
            return False
        begin = self.resume_at.get(op_id, 0)
        if begin == 0 and self.waiting_on[op_id]:
            return False
        if self.gated_on[op_id]:
            return begin == 0 and self.ops[op_id].gate > 0
        return True

    def run(self) -> Outcome:
        running: dict[Future[bool], str] = {}
        pool: ThreadPoolExecutor | _InlinePool = (
            _InlinePool()
            if self.options.inline
            else ThreadPoolExecutor(max(1, self.options.parallel))
        )
        with pool, self.steps:
            try:
                while self.pending or running:
                    if not self.cancel.is_set():
                        self._schedule(pool, running)
                    if not running:
                        if self.pending:  # everything left waits on a failure or a cancel
                            self._skip_rest()
                        break
                    finished, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        self._finish(running.pop(fut), fut)
            except KeyboardInterrupt:
                self.cancel.set()
                self.outcome.interrupted = True
                # Let running operations finish: a half-done step is worse than a late stop.
                wait(list(running))
                for fut in list(running):
                    self._finish(running.pop(fut), fut)
                self._skip_rest()
        if self.cancel.is_set():
            self.outcome.interrupted = True
        return self.outcome

    def _schedule(
        self, pool: ThreadPoolExecutor | _InlinePool, running: dict[Future[bool], str]
    ) -> None:
        while self.ready and len(running) < max(1, self.options.parallel):
            op_id = heapq.heappop(self.ready)
            if not self._runnable(op_id):
                continue
            op = self.pending.pop(op_id)
            begin = self.resume_at.get(op_id, 0)
            end = op.gate if self.gated_on[op_id] else len(op.steps)
            running[pool.submit(self._run_op, op, begin, end)] = op_id

    def _finish(self, op_id: str, fut: Future[bool]) -> None:
        error = fut.exception()
        if error is None:
            if not fut.result():  # parked at its gate until `start_after` is done
                op = self.ops[op_id]
                self.pending[op_id] = op
                self.resume_at[op_id] = op.gate
                if self._runnable(op_id):  # its gate opened while it ran
                    heapq.heappush(self.ready, op_id)
                return
            self.outcome.done.append(op_id)
            for dependent in self.dependents[op_id]:
                self.waiting_on[dependent].discard(op_id)
                self.gated_on[dependent].discard(op_id)
                if self._runnable(dependent):
                    heapq.heappush(self.ready, dependent)
            return
        self.outcome.failed[op_id] = str(error)
        self._fail_dependents(op_id)

    def _fail_dependents(self, failed: str) -> None:
        # Iterative, not recursive: a failure at the head of a long chain skips all of it.
        stack = [failed]
        while stack:
            cause = stack.pop()
            for op_id in self.dependents[cause]:
                if op_id not in self.pending:
                    continue
                if cause in self.ops[op_id].follows and cause not in self.ops[op_id].after:
                    self.waiting_on[op_id].discard(cause)  # order only: it still runs
                    if self._runnable(op_id):
                        heapq.heappush(self.ready, op_id)
                    continue
                op = self.pending.pop(op_id)
                self._abandon(op)
                why = f"not started: {cause.split(':', 1)[-1]} failed"
                self.outcome.skipped[op_id] = why
                self.emit(Event(op_id, op.name, "skipped", why))
                stack.append(op_id)

    def _abandon(self, op: Operation) -> None:
        """An operation parked at its gate will not go on: run its declared clean-up."""
        if self.resume_at.get(op.id, 0) == 0:
            return
        for step in op.abandon:
            try:
                self._step(op, step, time.monotonic(), None)
            except (StackupError, OSError) as exc:
                self.emit(Event(op.id, op.name, "failed", f"clean-up: {exc}"))

    def _skip_rest(self) -> None:
        for op_id, op in sorted(self.pending.items()):
            self._abandon(op)
            why = "not started: interrupted" if self.cancel.is_set() else "not started"
            self.outcome.skipped[op_id] = why
            self.emit(Event(op_id, op.name, "skipped", why))
        self.pending.clear()

    # ------------------------------------------------------------------ one operation

    def _run_op(self, op: Operation, begin: int, end: int) -> bool:
        """Run steps [begin, end); True when that finished the operation."""
        start = self.started.setdefault(op.id, time.monotonic())
        if op.destroys_data and not self.options.allow_data_loss:
            message = (
                f"refused: {op.action.value} of {op.kind.value} {op.name} deletes its data, and "
                "deleting data was not allowed (stackup up --yes, or down --volumes)"
            )
            self.emit(Event(op.id, op.name, "failed", message))
            raise ApplyError(message)
        if begin == 0:
            self.emit(Event(op.id, op.name, "started", f"{op.action.value}: {op.reason}"))
        index = begin
        steps, last = op.steps, len(op.steps) - 1
        run = StepRun(op, start, self.emit, self.cancel, self.options)
        try:
            for index in range(begin, end):
                run.following = steps[index + 1] if index < last else None
                self.steps.run_step(steps[index], run)
        except (StackupError, OSError) as exc:
            message = str(exc)
            if op.restore and op.restore_from <= index < op.restore_to:
                late = op.restore_late if op.restore_late and index >= op.restore_late_from else ()
                message += self._restore(op, (*op.restore, *late), start)
            self.emit(Event(op.id, op.name, "failed", message, time.monotonic() - start))
            if message != str(exc):
                raise ApplyError(message) from exc
            raise
        if end < len(op.steps):
            self.emit(
                Event(
                    op.id, op.name, "waiting", "waiting for dependencies", time.monotonic() - start
                )
            )
            return False
        self.emit(Event(op.id, op.name, "done", op.action.value, time.monotonic() - start))
        return True

    def _restore(self, op: Operation, restore: tuple[Step, ...], start: float) -> str:
        """Run the operation's restore steps after a failure; say how it went."""
        try:
            for step in restore:
                self._step(op, step, start, None)
        except (StackupError, OSError) as exc:
            return f"; putting the old container back failed too: {exc}"
        if op.action == Action.CREATE:  # no container before it: the new one is removed
            StepRun(op, start, self.emit, self.cancel, self.options).step_done(
                "removed the container that did not start"
            )
            return "; removed the container that did not start (and what was made for it)"
        StepRun(op, start, self.emit, self.cancel, self.options).step_done(
            "restored the container it was replacing"
        )
        return f"; {op.name} was left as it was before this change"

    def _step(self, op: Operation, step: Step, start: float, following: Step | None) -> None:
        self.steps.run_step(
            step, StepRun(op, start, self.emit, self.cancel, self.options, following)
        )


class _InlinePool:
    """The part of ThreadPoolExecutor the runner uses, running each call at once."""

    def __enter__(self) -> _InlinePool:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn: Callable[[Operation, int, int], bool], *args: Any) -> Future[bool]:
        future: Future[bool] = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # handed on as from a worker; Ctrl-C goes up to run()
            future.set_exception(exc)
        return future
