"""Carry out a Plan: every operation's steps in order, operations in parallel as soon as the
operations they come `after` have finished, at most `parallel` at a time.

The executor decides nothing. It reports what happens as `Event`s to a callback (the CLI
renders them), stops scheduling when asked (Ctrl-C), and never starts an operation whose
predecessor failed: independent branches still finish.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackup.engine.interface import ContainerProcess, Engine, PullEvent
from stackup.errors import ApplyError, StackupError
from stackup.planning.plan import (
    Action,
    BuildImage,
    CheckInThrowaway,
    Connect,
    CopyFiles,
    CreateContainer,
    CreateNetwork,
    CreateVolume,
    Disconnect,
    Exec,
    Operation,
    Plan,
    PullImage,
    RecordApplied,
    RemoveContainer,
    RemoveEmptyDirectories,
    RemoveNetwork,
    RemoveVolume,
    RenameContainer,
    Signal,
    Sleep,
    StartContainer,
    Step,
    StopContainer,
    TargetStep,
    UpdateContainer,
    WaitFor,
)
from stackup.targets.engine.conditions import wait_for_condition
from stackup.targets.engine.configfiles import write_record
from stackup.targets.engine.images import ImageBuilder
from stackup.targets.engine.reloaded import CONFIRM_TIMEOUT, wait_until_live
from stackup.targets.engine.throwaway import run_check


@dataclass(frozen=True, slots=True)
class Event:
    op_id: str
    name: str
    # started, step, waiting, done, failed, skipped; output (a build's line) and progress
    # (a pulled layer's new state) come many times while an image operation runs
    status: str
    message: str = ""
    elapsed: float = 0.0


TargetStepRunner = Callable[[TargetStep, Callable[[str], None], threading.Event], None]


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
    # Carries out the steps of another target (the swarm's: stackup.targets.swarm.runner).
    target_steps: TargetStepRunner | None = None
    # How long a confirmed reload (`Signal.confirm`) may take to be seen live.
    reload_timeout: float = CONFIRM_TIMEOUT


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped and not self.interrupted


def execute(
    plan: Plan,
    engine: Engine,
    on_event: Callable[[Event], None] = lambda event: None,
    options: ExecuteOptions | None = None,
    cancel: threading.Event | None = None,
) -> Outcome:
    """Run every operation of `plan`. Returns what was done, failed and skipped; raises
    nothing for a failed operation: the outcome says what failed, and `interrupted` after
    `cancel` was set (the CLI sets it on Ctrl-C)."""
    return _Executor(
        plan, engine, on_event, options or ExecuteOptions(), cancel or threading.Event()
    ).run()


class _Executor:
    def __init__(
        self,
        plan: Plan,
        engine: Engine,
        on_event: Callable[[Event], None],
        options: ExecuteOptions,
        cancel: threading.Event,
    ) -> None:
        self.plan = plan
        self.engine = engine
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
        # Process lists taken beside a validation, for the confirmed reload after it.
        self.prefetched: dict[tuple[str, Step], Future[tuple[ContainerProcess, ...]]] = {}
        self.lister = _LazyPool()
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
        with pool, self.lister:
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
                self._step(op, step, time.monotonic())
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
        try:
            for index in range(begin, end):
                self._prefetch_processes(op, index)
                self._step(op, op.steps[index], start)
        except (StackupError, OSError) as exc:
            message = str(exc)
            if op.restore and op.restore_from <= index < op.restore_to:
                message += self._restore(op, start)
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

    def _restore(self, op: Operation, start: float) -> str:
        """Run the operation's declared restore steps after a failure; say how it went."""
        try:
            for step in op.restore:
                self._step(op, step, start)
        except (StackupError, OSError) as exc:
            return f"; putting the old container back failed too: {exc}"
        if op.action == Action.CREATE:  # no container before it: the new one is removed
            self._step_done(op, start, "removed the container that did not start")
            return "; removed the container that did not start (and what was made for it)"
        self._step_done(op, start, "restored the container it was replacing")
        return f"; {op.name} was left as it was before this change"

    def _step(self, op: Operation, step: Step, start: float) -> None:
        e = self.engine
        match step:
            case CreateNetwork(spec):
                e.create_network(spec)
            case RemoveNetwork(name):
                e.remove_network(name)
            case CreateVolume(spec):
                e.create_volume(spec)
            case RemoveVolume(name):
                e.remove_volume(name)
            case PullImage(image):
                self._pull(op, image, start)
            case BuildImage(service, tag, build):
                if not isinstance(e, ImageBuilder):
                    raise ApplyError(f"this engine cannot build images (needed by {service})")
                if "://" not in build.context and not os.path.isdir(build.context):
                    raise ApplyError(
                        f"the build context {build.context} of service {service} is not a directory"
                    )
                for line in e.build_image(build, tag):
                    if line.strip():
                        self.emit(Event(op.id, op.name, "output", line, time.monotonic() - start))
                self._step_done(op, start, f"built {tag}")
            case CreateContainer(spec):
                e.create_container(spec)
            case StartContainer(name):
                e.start_container(name)
            case StopContainer(name, timeout):
                e.stop_container(name, timeout)
            case RemoveContainer(name, volumes):
                e.remove_container(name, volumes=volumes)
            case RemoveEmptyDirectories(paths):
                for path in paths:
                    # rmdir removes only an empty directory: one that holds anything stays.
                    with contextlib.suppress(OSError):
                        os.rmdir(path)
            case RenameContainer(name, new_name):
                e.rename_container(name, new_name)
            case UpdateContainer(name, service):
                e.update_container(name, service)
            case Connect(container, attachment):
                e.connect(container, attachment)
            case Disconnect(container, network):
                e.disconnect(container, network)
            case Signal(container, signal):
                before = self._processes_before(op, step)
                e.kill_container(container, signal)
                self._step_done(op, start, f"sent {signal} to {container}")
                if step.confirm:
                    self._confirm_live(op, container, before, start)
            case Exec(container, command, purpose):
                before = self._processes_before(op, step)
                result = e.exec_run(
                    container,
                    command,
                    user=step.user,
                    working_dir=step.working_dir,
                    environment=step.environment,
                    privileged=step.privileged,
                )
                if result.exit_code != 0:
                    raise ApplyError(
                        f"{purpose} command {' '.join(command)} failed in {container} "
                        f"(exit {result.exit_code})",
                        output=result.output,
                    )
                self._step_done(op, start, f"{purpose} passed: {' '.join(command)}")
                if step.confirm:
                    self._confirm_live(op, container, before, start)
            case CopyFiles(container, archive, files):
                e.put_files(container, "/", archive)
                self._step_done(op, start, f"copied {files} file(s) into {container}")
            case CheckInThrowaway(spec, purpose):
                shown = " ".join(spec.service.command or ())
                result = run_check(e, spec, self.cancel, step.timeout_s)
                if result.exit_code != 0:
                    raise ApplyError(
                        f"{purpose} command {shown} failed in a throwaway container "
                        f"(exit {result.exit_code})",
                        output=result.output,
                    )
                self._step_done(op, start, f"{purpose} passed in a throwaway container: {shown}")
            case Sleep(seconds, why):
                self.emit(Event(op.id, op.name, "waiting", why, time.monotonic() - start))
                if self.cancel.wait(seconds):
                    raise ApplyError(f"interrupted while waiting ({why})")
            case WaitFor():
                self.emit(
                    Event(
                        op.id,
                        op.name,
                        "waiting",
                        f"waiting for {step.service} ({step.condition})",
                        time.monotonic() - start,
                    )
                )
                for container in step.containers:
                    wait_for_condition(e, step, container, self.options, self.cancel)
            case RecordApplied(store, container_id, files):
                # Best effort: a record not written costs one needless validated reload later,
                # no reason to report a reload that worked as failed.
                try:
                    write_record(Path(store), container_id, dict(files))
                except OSError as exc:
                    self._step_done(
                        op,
                        start,
                        f"could not record the applied config ({exc}); a later plan may reload again",
                    )
            case TargetStep():
                if self.options.target_steps is None:
                    raise ApplyError(
                        f"no runner for {type(step).__name__} steps: this plan is for another target"
                    )
                self.options.target_steps(
                    step,
                    lambda message: self.emit(
                        Event(op.id, op.name, "waiting", message, time.monotonic() - start)
                    ),
                    self.cancel,
                )

    def _prefetch_processes(self, op: Operation, index: int) -> None:
        """A confirmed reload needs the container's processes from before it; when the step
        before it runs in the same container (the validation), they are listed meanwhile, in
        another thread: the listing (a `ps` on the engine's host, ~10 ms) is then off the way
        from the save to the new config."""
        step, following = op.steps[index], op.steps[index + 1 : index + 2]
        if not following or not isinstance(step, Exec):
            return
        (reload,) = following
        if (
            isinstance(reload, Signal | Exec)
            and reload.confirm
            and reload.container == step.container
        ):
            self.prefetched[(op.id, reload)] = self.lister.submit(
                self.engine.processes, reload.container
            )

    def _processes_before(self, op: Operation, step: Signal | Exec) -> tuple[ContainerProcess, ...]:
        if not step.confirm:
            return ()
        early = self.prefetched.pop((op.id, step), None)
        return early.result() if early is not None else self.engine.processes(step.container)

    def _confirm_live(
        self, op: Operation, container: str, before: tuple[ContainerProcess, ...], start: float
    ) -> None:
        wait_until_live(
            self.engine, container, before, self.cancel, timeout=self.options.reload_timeout
        )
        self._step_done(op, start, f"live: new workers serve in {container}")

    def _pull(self, op: Operation, image: str, start: float) -> None:
        layers: dict[str, str] = {}

        def progress(event: PullEvent) -> None:
            # One event per layer state change, not per byte: progress lines stay readable.
            if event.layer and layers.get(event.layer) != event.status:
                layers[event.layer] = event.status
                message = f"{event.layer}: {event.status}"
                self.emit(Event(op.id, op.name, "progress", message, time.monotonic() - start))

        image_id = self.engine.pull(image, progress)
        self._step_done(op, start, f"pulled {image} ({image_id.removeprefix('sha256:')[:12]})")

    def _step_done(self, op: Operation, start: float, message: str) -> None:
        # Reload steps are reported one by one: watch mode shows (and times) each stage.
        self.emit(Event(op.id, op.name, "step", message, time.monotonic() - start))


class _LazyPool:
    """One worker thread, started only when a plan has a confirmed reload to prepare."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> _LazyPool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def submit(
        self, fn: Callable[[str], tuple[ContainerProcess, ...]], container: str
    ) -> Future[tuple[ContainerProcess, ...]]:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="stackup-processes")
            return self._pool.submit(fn, container)


class _InlinePool:
    """The part of ThreadPoolExecutor the executor uses, running each call at once."""

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
