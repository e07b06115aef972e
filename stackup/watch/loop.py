"""Watch mode: one watchfiles loop over the stack files, every bind-mount source of the selected
services and their `develop.watch` paths, turning each burst of changes into plans.

* a stack file saved: load, observe, plan, show, apply (an invalid file applies nothing);
* a config file of a service with a reload policy: a ↻ operation per container (validate in
  the container, then signal or exec); a failing validation sends nothing, and nginx's error
  is shown at the host file and line;
* a single-file bind mount replaced by an atomic save (the container still sees the old
  inode): validate the new file in a throwaway container of the same image and mounts, then
  recreate the service's containers so they see it;
* a web root: nothing to do but say so (and tell the live-reload proxy);
* develop.watch rules: sync, rebuild, restart, sync+restart, sync+exec.

Bursts are coalesced by watchfiles over a quiet window of `step_ms` (tens of milliseconds),
and then per service: a burst gives at most one reload per service. The engine going away is
survived: watch reconnects with backoff, converges the stack, and handles what changed
meanwhile. This module prints nothing: it reports `WatchEvent`s to a `WatchUI`.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import watchfiles

from stackup.engine.docker.engine import DockerEngine
from stackup.engine.observed import ObservedContainer
from stackup.errors import EngineUnavailableError, StackupError
from stackup.loading.loader import LoadedStack
from stackup.model.settings import ReloadPolicy
from stackup.planning import configstate as CS
from stackup.planning.checks import CHECK_LABEL
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Action, Plan
from stackup.targets.engine.execute import Event, Outcome, execute
from stackup.targets.engine.lock import project_lock
from stackup.usecases import deploy
from stackup.watch import reload as R
from stackup.watch.develop import DevelopActions
from stackup.watch.events import WatchConfig, WatchEvent, WatchUI
from stackup.watch.sync import sync_archive


class Watcher(DevelopActions):
    def __init__(self, config: WatchConfig, ui: WatchUI) -> None:
        self.config = config
        self.ui = ui
        self.loaded: LoadedStack = config.load()
        self.engine: DockerEngine = config.connect()
        self.targets = R.watch_targets(self.loaded, self._selected())
        self.pending = R.Batch()
        self._inodes: dict[tuple[str, str], int] = {}
        self._lock_depth = 0  # how deep this thread is in `_locked` (the lock is taken once)

    # ------------------------------------------------------------------ the loop

    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        self.start()
        while not stop.is_set():
            roots = self.targets.roots()
            for changes in watchfiles.watch(
                *roots,
                watch_filter=self._interesting,
                debounce=self.config.debounce_ms,
                step=self.config.step_ms,
                stop_event=stop,
                rust_timeout=int(self.config.idle_check_s * 1000),
                yield_on_timeout=True,
                recursive=False,  # roots() lists every directory watched (see there)
            ):
                seen = time.monotonic()
                if changes:
                    batch = R.classify(self.targets, (Path(p) for _, p in changes))
                    R.merge(self.pending, batch)
                self._step(seen, stop)
                if stop.is_set() or self.targets.roots() != roots:
                    break  # the stack changed what is watched: watch again

    def start(self) -> None:
        if self.config.initial_apply:
            self._converge("starting")
        # `--pull always` and `--build` are for the first apply: later bursts pull and build
        # only what is missing (a develop.watch rebuild builds its own service).
        once = dataclasses.replace(self.config.options, pull="missing", build=False)
        self.config = dataclasses.replace(self.config, options=once)
        for rule in self.targets.rules:
            if rule.rule.initial_sync and rule.rule.action.startswith("sync"):
                containers = self._running(rule.service)
                self._sync(rule, self._tree(rule), containers, initial=True)
        roots = ", ".join(self._show(p) for p in self.targets.roots())
        self._say("start", f"watching {roots} for {', '.join(self._selected())}")

    def _step(self, seen: float, stop: threading.Event) -> None:
        """Handle what is pending, or on an idle tick check that the engine is still there."""
        try:
            if self.pending:
                batch, self.pending = self.pending, R.Batch()
                try:
                    self.handle(batch, seen)
                except EngineUnavailableError:
                    R.merge(self.pending, batch)  # handled again once the engine is back
                    raise
                except StackupError as exc:
                    self._say("error", str(exc))
            else:
                self.engine.list_projects()
        except EngineUnavailableError as exc:
            self._reconnect(str(exc), stop)

    def _interesting(self, change: watchfiles.Change, path: str) -> bool:
        return self.targets.interesting(Path(path))

    # ------------------------------------------------------------------ one burst

    def handle(self, batch: R.Batch, seen: float | None = None) -> None:
        # Observe, decide, plan and apply under the project's lock, held once for the whole
        # burst: a `stackup up` of the same project waits for it, and it for `up`.
        with self._locked():
            self._handle(batch, time.monotonic() if seen is None else seen)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if self._lock_depth:  # already held by this burst
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        with project_lock(self.engine.engine_id(), self.loaded.stack.name, on_wait=self._say_lock):
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0

    def _handle(self, batch: R.Batch, seen: float) -> None:
        if batch.stack_files:
            self._say("changed", f"{R.describe(batch.stack_files, self._base())} saved", at=seen)
            self._restack()
            batch = R.classify(self.targets, _paths(batch))  # the new stack's view of the rest
        changed_web = False
        for service, changes in batch.services.items():
            if service not in self.loaded.stack.services:
                continue
            containers = self._running(service)
            if changes.rules:
                self._develop(service, changes, containers, seen)
                containers = self._running(service)
            if changes.config:
                changed_web |= self._config(service, changes, containers, seen)
            if changes.content:
                paths = [p for _, p in changes.content]
                self._say(
                    "content",
                    f"{service}: {R.describe(paths, self._base())} changed (served as is)",
                    service,
                    at=seen,
                )
                changed_web = True
        if changed_web and self.config.on_change is not None:
            self.config.on_change()

    # ------------------------------------------------------------------ config reloads

    def _config(
        self,
        service: str,
        changes: R.ServiceChanges,
        containers: list[ObservedContainer],
        seen: float,
    ) -> bool:
        paths = [p for _, p in changes.config]
        shown = R.describe(paths, self._base())
        self._say("changed", f"{service}: {shown} changed", service, at=seen)
        policy = self.targets.policies.get(service)
        if policy is None:
            return False
        if not containers:
            # Stopped (an engine restart, a `docker stop`): starting it loads the new config.
            self._say("skipped", f"{service}: no running container to reload; converging", service)
            self._converge(f"{service} is not running")
            return False
        replaced = self._replaced_files(changes, containers)
        if replaced:
            return self._recreate_for(service, replaced, policy)
        # Each reload records what the container now runs, so `diff` and `up` agree with it.
        records = CS.records_for(self.loaded.stack, service, ((c.name, c.id) for c in containers))
        ops = R.reload_operations(
            service,
            [c.name for c in containers],
            policy,
            f"{shown} changed",
            records,
            confirm=R.confirms_reload(self.loaded.stack.services[service]),
        )
        outcome = self._run_quiet(R.watch_plan(self.loaded.stack.name, ops, (service,)), service)
        if outcome.failed:
            for message in outcome.failed.values():
                if message.startswith("validate command "):
                    self._invalid(
                        service, message, "nothing was sent; the old config keeps serving"
                    )
                else:  # sent, and not seen live (stackup.targets.engine.reloaded)
                    self._say("error", f"{service}: {message}", service)
            return False
        return True

    def _replaced_files(
        self, changes: R.ServiceChanges, containers: list[ObservedContainer]
    ) -> list[R.BindMount]:
        """Single-file mounts whose host file is no longer the inode the container sees."""
        out = []
        for mount in {m for m, _ in changes.config if m.is_file}:
            try:
                host_inode = os.stat(mount.source).st_ino
            except OSError:
                continue
            for c in containers:
                known = self._inodes.get((c.id, mount.target))
                if known is None:
                    # What it was created with (or last reloaded with), as `up` reads it: no
                    # exec (50-100 ms) before the recreate. A container restarted by hand since
                    # sees the new file already; it is recreated needlessly, as by `up`.
                    known = CS.applied_inode(self.loaded.stack.name, c.id, c.labels, mount.target)
                    if known is not None:
                        self._inodes[(c.id, mount.target)] = known
                if known == host_inode:
                    continue
                if known is not None:
                    out.append(mount)
                    break
                seen_inode = self._container_inode(
                    c, mount.target
                )  # confirm: it may have restarted
                if seen_inode is not None:
                    self._inodes[(c.id, mount.target)] = seen_inode
                if R.replaced_by_rename(host_inode, seen_inode):
                    out.append(mount)
                    break
        return sorted(out, key=lambda m: str(m.source))

    def _container_inode(self, container: ObservedContainer, path: str) -> int | None:
        result = self.engine.exec_run(container.name, ["stat", "-L", "-c", "%i", path])
        if result.exit_code == 0 and result.output.strip().isdigit():
            return int(result.output.strip())
        return None

    def _recreate_for(
        self, service: str, replaced: list[R.BindMount], policy: ReloadPolicy
    ) -> bool:
        files = R.describe([m.source for m in replaced], self._base())
        options = dataclasses.replace(
            self.config.options,
            services=(service,),
            force_recreate=True,
            with_dependencies=False,
            pull=None,  # its image is here (it runs): one stage, so the check stays first
        )
        plan = deploy.plan(self.loaded, self.engine, options)
        why = R.renamed_reason(files, [m.target for m in replaced])
        # The new file is checked first in a throwaway twin of the container (`nginx -t`), as
        # the plan's first step: a broken file stops the recreate before anything is touched.
        check = R.throwaway_check(self.loaded.stack, service, policy)
        plan = dataclasses.replace(
            plan,
            operations=tuple(
                R.checked_first(dataclasses.replace(op, reason=why), check)
                if op.action == Action.RECREATE and op.service == service
                else op
                for op in plan.operations
            ),
        )
        outcome = self._apply(plan, options)
        for message in outcome.failed.values():
            if message.startswith("validate command "):
                consequence = "the running container is kept, with the old config"
                self._invalid(service, message, consequence, throwaway=True)
        for c in self._running(service):
            for mount in replaced:
                self._inodes.pop((c.id, mount.target), None)
        return outcome.ok

    def _invalid(
        self, service: str, output: str, consequence: str, *, throwaway: bool = False
    ) -> None:
        lines = R.failure_lines(self.targets, service, output, self._base())
        where = " (in a throwaway container)" if throwaway else ""
        self._say(
            "invalid",
            f"{service}: validation failed{where}; {consequence}",
            service,
            details=tuple(lines),
        )

    # ------------------------------------------------------------------ the stack file

    def _restack(self) -> None:
        try:
            loaded = self.config.load()
        except StackupError as exc:
            self._say("error", str(exc), details=("nothing was applied",))
            return
        self.loaded = loaded
        self.targets = R.watch_targets(loaded, self._selected())
        self._converge("the stack file changed")

    def _converge(self, why: str) -> None:
        with self._locked():  # observed, planned and applied under one hold of the lock
            self._converge_locked(why)

    def _converge_locked(self, why: str) -> None:
        options = dataclasses.replace(self.config.options, services=self._selected())
        try:
            plan = deploy.plan(self.loaded, self.engine, options)
        except EngineUnavailableError:
            raise
        except StackupError as exc:
            self._say("error", str(exc), details=("nothing was applied",))
            return
        if not plan.operations:
            self._say("plan", f"{why}: the engine already matches the stack")
            return
        self._say("plan", f"{why}: applying {len(plan.operations)} operation(s)")
        self._apply(plan, options)

    # ------------------------------------------------------------------ the engine

    def _reconnect(self, why: str, stop: threading.Event) -> None:
        self._say("engine", f"lost the engine ({why.splitlines()[0]}); reconnecting")
        started = time.monotonic()
        delay = 0.2
        while not stop.is_set():
            try:
                engine = self.config.connect()
                engine.list_projects()
            except StackupError:
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.engine = engine
            self._inodes.clear()
            self._say(
                "engine", f"reconnected to the engine after {time.monotonic() - started:.1f}s"
            )
            try:
                self._converge("the engine came back")
            except EngineUnavailableError as exc:
                self._reconnect(str(exc), stop)
            return

    def _running(self, service: str) -> list[ObservedContainer]:
        observed = self.engine.observe(self.loaded.stack.name)
        return sorted(
            (
                c
                for c in observed.containers
                if c.service == service
                and c.state == "running"
                and not c.is_temporary
                and CHECK_LABEL not in c.labels
            ),
            key=lambda c: c.name,
        )

    def _apply(self, plan: Plan, options: ReconcileOptions | None = None) -> Outcome:
        """Show and apply `plan`, made with `options` (needed again when it builds or pulls
        images: what follows them is planned anew, `deploy.apply_plan`)."""
        self.ui.show_plan(plan)
        options = options or dataclasses.replace(self.config.options, services=self._selected())
        with self._locked(), self.ui.progress() as show:
            services = {op.id: op.service for op in plan.operations}

            def on_event(event: Event) -> None:
                if event.status == "failed" and event.message.startswith("validate command "):
                    return  # told once, at the host file and line, by `_invalid`
                if event.status == "started" and event.op_id in services:
                    # The plan just shown says why; operations planned after its image
                    # operations (`apply_staged`) were not shown and keep their reason.
                    event = dataclasses.replace(event, message=event.message.split(":", 1)[0])
                show(event)
                if event.status == "step" and "passed in a throwaway container" in event.message:
                    service = services.get(event.op_id)
                    self._say("validated", f"{service or event.name}: {event.message}", service)

            outcome = deploy.apply_plan(self.loaded, self.engine, plan, options, on_event).outcome
        self._check(outcome)
        if outcome.ok:
            self._say("applied", f"applied {len(outcome.done)} operation(s)")
        return outcome

    def _run_quiet(self, plan: Plan, service: str) -> Outcome:
        """A reload plan: shown as its stages (validated, signal sent), not as a table."""

        def on_event(event: Event) -> None:
            if event.status != "step":
                return
            kind = (
                "reloaded"
                if event.message.startswith("sent ")
                else "live"
                if event.message.startswith("live: ")
                else "validated"
            )
            self._say(kind, f"{service}: {event.message} ({event.elapsed * 1000:.0f} ms)", service)

        with self._locked():
            outcome = execute(plan, self.engine, on_event)
        self._check(outcome)
        return outcome

    def _check(self, outcome: Outcome) -> None:
        """A failed operation may mean the engine went away: find out (raises if so)."""
        if outcome.failed:
            self.engine.list_projects()
            for op_id, message in sorted(outcome.failed.items()):
                # A failed validation is told by `_invalid`, with the host file and line.
                if not op_id.startswith("reload:") and not message.startswith("validate command "):
                    self._say("error", f"{op_id.split(':', 1)[-1]}: {message}")

    # ------------------------------------------------------------------ helpers

    def _selected(self) -> tuple[str, ...]:
        stack = self.loaded.stack
        chosen = [s for s in self.config.services if s in stack.services]
        return tuple(sorted(chosen or stack.services))

    def _base(self) -> Path:
        return Path.cwd()

    def _show(self, path: Path) -> str:
        base = self._base()
        return path.relative_to(base).as_posix() or "." if path.is_relative_to(base) else str(path)

    def _say(
        self,
        kind: str,
        text: str,
        service: str | None = None,
        details: tuple[str, ...] = (),
        at: float | None = None,
    ) -> None:
        self.ui.event(
            WatchEvent(kind, text, service, details, at if at is not None else time.monotonic())
        )

    def _say_lock(self, message: str) -> None:
        self._say("plan", message)


def _paths(batch: R.Batch) -> Iterator[Path]:
    for changes in batch.services.values():
        yield from (p for _, p in changes.config)
        yield from (p for _, p in changes.content)
        for paths in changes.rules.values():
            yield from paths


def run_watch(config: WatchConfig, ui: WatchUI, stop: threading.Event | None = None) -> None:
    """Watch until `stop` is set or Ctrl-C (KeyboardInterrupt propagates to the caller)."""
    Watcher(config, ui).run(stop)


__all__ = [
    "WatchConfig",
    "WatchEvent",
    "WatchUI",
    "Watcher",
    "run_watch",
    "sync_archive",
]
