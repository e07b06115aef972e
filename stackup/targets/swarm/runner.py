"""The swarm's step interpreter: a swarm plan's steps (stackup.targets.swarm.steps, and the
image builds of `--build`) carried out over the swarm engine, for the plan runner
(`stackup.runner`)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from stackup.engine.interface import Engine
from stackup.engine.swarm_interface import SwarmEngine
from stackup.errors import ApplyError
from stackup.planning.plan import BuildImage, CreateNetwork, RemoveNetwork, Step, TargetStep
from stackup.poll import poll_until
from stackup.runner import StepRun
from stackup.targets.engine.images import build_image
from stackup.targets.swarm.steps import (
    CreateObject,
    CreateService,
    PushImage,
    RemoveObject,
    RemoveService,
    UpdateService,
    WaitConverged,
    WaitServiceGone,
)

Report = Callable[[str], None]


class SwarmSteps:
    """The `StepInterpreter` of a plan made by `SwarmTarget.plan` or `plan_swarm_down`: its
    builds (on the manager, which then pushes them) and its overlay networks, through the
    manager's own engine (`manager`), and its swarm steps, through the swarm primitives
    (`engine`)."""

    def __init__(self, engine: SwarmEngine, manager: Engine) -> None:
        self.engine = engine
        self.manager = manager

    def __enter__(self) -> SwarmSteps:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run_step(self, step: Step, run: StepRun) -> None:
        match step:
            case BuildImage():
                build_image(self.manager, step, run)
            case CreateNetwork(spec):
                self.manager.create_network(spec)
            case RemoveNetwork(name):
                self.manager.remove_network(name)
            case TargetStep():
                self(step, run.waiting, run.cancel)
            case _:
                raise ApplyError(f"{type(step).__name__} is not a step of a swarm plan")

    def __call__(self, step: TargetStep, report: Report, cancel: threading.Event) -> None:
        e = self.engine
        match step:
            case CreateService(want):
                e.create_service(want)
            case UpdateService(want):
                e.update_service(want)
            case RemoveService(name):
                e.remove_service(name)
            case CreateObject(obj):
                e.create_object(obj)
            case RemoveObject(kind, name):
                e.remove_object(kind, name)
            case PushImage(source, target):
                if source != target:
                    e.tag_image(source, target)
                report(f"pushing {target}")
                digest = e.push(target)
                report(f"pushed {target} ({digest.removeprefix('sha256:')[:12]})")
            case WaitServiceGone():
                self._wait_gone(step, report, cancel)
            case WaitConverged():
                self._wait_converged(step, report, cancel)
            case _:
                raise ApplyError(f"{type(step).__name__} is not a swarm step")

    def _wait_gone(self, step: WaitServiceGone, report: Report, cancel: threading.Event) -> None:
        report(f"waiting for the tasks of {step.name} to stop")

        def gone() -> bool | None:
            return True if self.engine.service_gone(step.name) else None

        if poll_until(gone, interval=step.poll, timeout=step.timeout, cancel=cancel):
            return
        if cancel.is_set():
            raise ApplyError(f"interrupted while waiting for {step.name} to stop")
        raise ApplyError(
            f"timed out after {step.timeout:g}s waiting for {step.name}'s tasks to stop"
        )

    def _wait_converged(self, step: WaitConverged, report: Report, cancel: threading.Event) -> None:
        shown = [""]  # the progress last reported, and so the last seen

        def converged() -> bool | None:
            state = self.engine.convergence(step)
            if state.failed:
                raise ApplyError(f"service {step.service}: {state.failed}")
            if state.done:
                return True
            if state.progress and state.progress != shown[0]:
                report(f"{step.service}: {state.progress}")
                shown[0] = state.progress
            return None

        if poll_until(converged, interval=step.poll, timeout=step.timeout, cancel=cancel):
            return
        if cancel.is_set():
            raise ApplyError(f"interrupted while waiting for service {step.service}")
        raise ApplyError(
            f"service {step.service} did not converge in {step.timeout:g}s: {shown[0]}"
        )
