"""One engine's step interpreter: the steps of a plan for one Docker engine (networks,
volumes, images, containers, reloads, waits, throwaway checks, file copies, config records)
carried out over the `Engine` protocol. The plan runner (`stackup.runner`) hands it each
step; it decides nothing either."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from stackup.engine.interface import ContainerProcess, Engine, PullEvent
from stackup.errors import ApplyError
from stackup.planning.plan import (
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
    PullImage,
    RecordApplied,
    RemoveContainer,
    RemoveEmptyDirectories,
    RemoveNetwork,
    RemoveOnHost,
    RemoveVolume,
    RenameContainer,
    RewriteInPlace,
    ShipFiles,
    Signal,
    Sleep,
    StartContainer,
    Step,
    StopContainer,
    TargetStep,
    UpdateContainer,
    WaitFor,
)
from stackup.runner import StepRun
from stackup.targets.engine.conditions import wait_for_condition
from stackup.targets.engine.configfiles import write_record
from stackup.targets.engine.images import build_image
from stackup.targets.engine.reloaded import CONFIRM_TIMEOUT, wait_until_live
from stackup.targets.engine.shipping import remove_on_host, rewrite_in_place, ship
from stackup.targets.engine.throwaway import run_check


class EngineSteps:
    """The `StepInterpreter` of one engine's plans."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Process lists taken beside a validation, for the confirmed reload after it.
        self.prefetched: dict[tuple[str, Step], Future[tuple[ContainerProcess, ...]]] = {}
        self.lister = _LazyPool()

    def __enter__(self) -> EngineSteps:
        self.lister.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.lister.__exit__(*exc)

    def run_step(self, step: Step, run: StepRun) -> None:
        if not self._resource_step(step, run):
            self._process_step(step, run)

    def _resource_step(self, step: Step, run: StepRun) -> bool:
        """Networks, volumes, images, containers: one engine call each (a build and a pull
        report their progress). False for a step of another sort."""
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
                self._pull(run, image)
            case BuildImage():
                build_image(e, step, run)
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
            case _:
                return False
        return True

    def _process_step(self, step: Step, run: StepRun) -> None:
        """What runs in or beside the containers (signals, commands, throwaway checks, file
        copies), waits and records."""
        e = self.engine
        op = run.op
        if isinstance(step, Exec):
            self._prefetch_processes(op, step, run.following)
        match step:
            case Signal(container, signal):
                before = self._processes_before(op, step)
                e.kill_container(container, signal)
                run.step_done(f"sent {signal} to {container}")
                if step.confirm:
                    self._confirm_live(run, container, before)
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
                run.step_done(f"{purpose} passed: {' '.join(command)}")
                if step.confirm:
                    self._confirm_live(run, container, before)
            case CopyFiles(container, archive, files):
                e.put_files(container, "/", archive)
                run.step_done(f"copied {files} file(s) into {container}")
            case ShipFiles():
                sent = ship(e, step)
                run.step_done(
                    f"wrote {len(step.files) + len(step.contents)} file(s) ({sent} B of content) "
                    f"into {step.directory}"
                )
            case RewriteInPlace():
                sent = rewrite_in_place(e, step)
                run.step_done(f"rewrote {step.target} in place ({sent} B)")
            case RemoveOnHost():
                remove_on_host(e, step)
                run.step_done(f"removed {len(step.paths)} file(s) from {step.directory}")
            case CheckInThrowaway(spec, purpose):
                shown = " ".join(spec.service.command or ())
                result = run_check(e, spec, run.cancel, step.timeout_s)
                if result.exit_code != 0:
                    raise ApplyError(
                        f"{purpose} command {shown} failed in a throwaway container "
                        f"(exit {result.exit_code})",
                        output=result.output,
                    )
                run.step_done(f"{purpose} passed in a throwaway container: {shown}")
            case Sleep(seconds, why):
                run.waiting(why)
                if run.cancel.wait(seconds):
                    raise ApplyError(f"interrupted while waiting ({why})")
            case WaitFor():
                run.waiting(f"waiting for {step.service} ({step.condition})")
                for container in step.containers:
                    wait_for_condition(e, step, container, run.options, run.cancel)
            case RecordApplied(store, container_id, files):
                # Best effort: a record not written costs one needless validated reload later,
                # no reason to report a reload that worked as failed.
                try:
                    write_record(Path(store), container_id, dict(files))
                except OSError as exc:
                    run.step_done(
                        f"could not record the applied config ({exc}); a later plan may reload again",
                    )
            case TargetStep():
                raise ApplyError(
                    f"no runner for {type(step).__name__} steps on one engine: this plan is for "
                    "another target"
                )

    def _prefetch_processes(self, op: Operation, step: Exec, following: Step | None) -> None:
        """A confirmed reload needs the container's processes from before it; when the step
        before it runs in the same container (the validation), they are listed meanwhile, in
        another thread: the listing (a `ps` on the engine's host, ~10 ms) is then off the way
        from the save to the new config."""
        reload = following
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
        self, run: StepRun, container: str, before: tuple[ContainerProcess, ...]
    ) -> None:
        timeout = run.options.reload_timeout
        wait_until_live(
            self.engine,
            container,
            before,
            run.cancel,
            timeout=CONFIRM_TIMEOUT if timeout is None else timeout,
        )
        run.step_done(f"live: new workers serve in {container}")

    def _pull(self, run: StepRun, image: str) -> None:
        layers: dict[str, str] = {}

        def progress(event: PullEvent) -> None:
            # One event per layer state change, not per byte: progress lines stay readable.
            if event.layer and layers.get(event.layer) != event.status:
                layers[event.layer] = event.status
                message = f"{event.layer}: {event.status}"
                run.report("progress", message)

        image_id = self.engine.pull(image, progress)
        run.step_done(f"pulled {image} ({image_id.removeprefix('sha256:')[:12]})")


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
            self._pool = None  # the interpreter may run another plan

    def submit(
        self, fn: Callable[[str], tuple[ContainerProcess, ...]], container: str
    ) -> Future[tuple[ContainerProcess, ...]]:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="stackup-processes")
            return self._pool.submit(fn, container)
