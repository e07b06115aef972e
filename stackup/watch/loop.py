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
from pathlib import Path

import watchfiles

from stackup.engine.observed import ObservedContainer
from stackup.errors import EngineUnavailableError, StackupError
from stackup.model.settings import ReloadPolicy
from stackup.planning.plan import Action, Plan
from stackup.targets.engine import configfiles
from stackup.targets.engine.execute import Event, Outcome
from stackup.watch.develop import DevelopActions
from stackup.watch.events import WatchConfig, WatchEvent, WatchUI
from stackup.watch.reload import (
    Batch,
    BindMount,
    ServiceChanges,
    checked_first,
    classify,
    confirms_reload,
    describe,
    failure_lines,
    merge,
    reload_operations,
    renamed_reason,
    replaced_by_rename,
    throwaway_check,
    watch_plan,
    watch_targets,
)
from stackup.watch.session import WatchSession
from stackup.watch.sync import sync_archive


class Watcher:
    """The loop of a watch and what it does with each burst: config reloads, the stack file
    saved again, the engine lost and found. develop.watch's rules are `DevelopActions`';
    both act through the one `WatchSession`."""

    def __init__(self, config: WatchConfig, ui: WatchUI) -> None:
        self.session = WatchSession(config, ui)
        self.develop = DevelopActions(self.session)
        self.targets = watch_targets(self.session.loaded, self.session.selected())
        self.pending = Batch()
        self._inodes: dict[tuple[str, str], int] = {}

    # ------------------------------------------------------------------ the loop

    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        self.start()
        config = self.session.config
        while not stop.is_set():
            roots = self.targets.roots()
            for changes in watchfiles.watch(
                *roots,
                watch_filter=self._interesting,
                debounce=config.debounce_ms,
                step=config.step_ms,
                stop_event=stop,
                rust_timeout=int(config.idle_check_s * 1000),
                yield_on_timeout=True,
                recursive=False,  # roots() lists every directory watched (see there)
            ):
                seen = time.monotonic()
                if changes:
                    batch = classify(self.targets, (Path(p) for _, p in changes))
                    merge(self.pending, batch)
                self._step(seen, stop)
                if stop.is_set() or self.targets.roots() != roots:
                    break  # the stack changed what is watched: watch again

    def start(self) -> None:
        session = self.session
        if session.config.initial_apply:
            self._converge("starting")
        # `--pull always` and `--build` are for the first apply: later bursts pull and build
        # only what is missing (a develop.watch rebuild builds its own service).
        once = dataclasses.replace(session.config.options, pull="missing", build=False)
        session.config = dataclasses.replace(session.config, options=once)
        for rule in self.targets.rules:
            if rule.rule.initial_sync and rule.rule.action.startswith("sync"):
                containers = session.running(rule.service)
                self.develop.sync(rule, self.develop.tree(rule), containers, initial=True)
        roots = ", ".join(session.show(p) for p in self.targets.roots())
        session.say("start", f"watching {roots} for {', '.join(session.selected())}")

    def _step(self, seen: float, stop: threading.Event) -> None:
        """Handle what is pending, or on an idle tick check that the engine is still there."""
        try:
            if self.pending:
                batch, self.pending = self.pending, Batch()
                try:
                    self.handle(batch, seen)
                except EngineUnavailableError:
                    merge(self.pending, batch)  # handled again once the engine is back
                    raise
                except StackupError as exc:
                    self.session.say("error", str(exc))
            else:
                self.session.engine.list_projects()
        except EngineUnavailableError as exc:
            self._reconnect(str(exc), stop)

    def _interesting(self, change: watchfiles.Change, path: str) -> bool:
        return self.targets.interesting(Path(path))

    # ------------------------------------------------------------------ one burst

    def handle(self, batch: Batch, seen: float | None = None) -> None:
        # Observe, decide, plan and apply under the project's lock, held once for the whole
        # burst: a `stackup up` of the same project waits for it, and it for `up`.
        with self.session.locked():
            self._handle(batch, time.monotonic() if seen is None else seen)

    def _handle(self, batch: Batch, seen: float) -> None:
        session = self.session
        if batch.stack_files:
            session.say("changed", f"{describe(batch.stack_files, session.base())} saved", at=seen)
            self._restack()
            batch = classify(self.targets, _paths(batch))  # the new stack's view of the rest
        changed_web = False
        for service, changes in batch.services.items():
            if service not in session.loaded.stack.services:
                continue
            containers = session.running(service)
            if changes.rules:
                self.develop.handle(service, changes, containers, seen)
                containers = session.running(service)
            if changes.config:
                changed_web |= self._config(service, changes, containers, seen)
            if changes.content:
                paths = [p for _, p in changes.content]
                session.say(
                    "content",
                    f"{service}: {describe(paths, session.base())} changed (served as is)",
                    service,
                    at=seen,
                )
                changed_web = True
        if changed_web and session.config.on_change is not None:
            session.config.on_change()

    # ------------------------------------------------------------------ config reloads

    def _config(
        self,
        service: str,
        changes: ServiceChanges,
        containers: list[ObservedContainer],
        seen: float,
    ) -> bool:
        session = self.session
        paths = [p for _, p in changes.config]
        shown = describe(paths, session.base())
        session.say("changed", f"{service}: {shown} changed", service, at=seen)
        policy = self.targets.policies.get(service)
        if policy is None:
            return False
        if not containers:
            # Stopped (an engine restart, a `docker stop`): starting it loads the new config.
            session.say(
                "skipped", f"{service}: no running container to reload; converging", service
            )
            self._converge(f"{service} is not running")
            return False
        replaced = self._replaced_files(changes, containers)
        if replaced:
            return self._recreate_for(service, replaced, policy)
        # Each reload records what the container now runs, so `diff` and `up` agree with it.
        stack = session.loaded.stack
        records = configfiles.records_for(stack, service, ((c.name, c.id) for c in containers))
        ops = reload_operations(
            service,
            [c.name for c in containers],
            policy,
            f"{shown} changed",
            records,
            confirm=confirms_reload(stack.services[service]),
        )
        outcome = self._run_quiet(watch_plan(stack.name, ops, (service,)), service)
        if outcome.failed:
            for message in outcome.failed.values():
                if message.startswith("validate command "):
                    self._invalid(
                        service, message, "nothing was sent; the old config keeps serving"
                    )
                else:  # sent, and not seen live (stackup.targets.engine.reloaded)
                    session.say("error", f"{service}: {message}", service)
            return False
        return True

    def _replaced_files(
        self, changes: ServiceChanges, containers: list[ObservedContainer]
    ) -> list[BindMount]:
        """Single-file mounts whose host file is no longer the inode the container sees."""
        project = self.session.loaded.stack.name
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
                    known = configfiles.applied_inode(project, c.id, c.labels, mount.target)
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
                if replaced_by_rename(host_inode, seen_inode):
                    out.append(mount)
                    break
        return sorted(out, key=lambda m: str(m.source))

    def _container_inode(self, container: ObservedContainer, path: str) -> int | None:
        result = self.session.engine.exec_run(container.name, ["stat", "-L", "-c", "%i", path])
        if result.exit_code == 0 and result.output.strip().isdigit():
            return int(result.output.strip())
        return None

    def _recreate_for(self, service: str, replaced: list[BindMount], policy: ReloadPolicy) -> bool:
        session = self.session
        files = describe([m.source for m in replaced], session.base())
        options = dataclasses.replace(
            session.config.options,
            services=(service,),
            force_recreate=True,
            with_dependencies=False,
            pull=None,  # its image is here (it runs): one stage, so the check stays first
        )
        plan = session.plan(options)
        why = renamed_reason(files, [m.target for m in replaced])
        # The new file is checked first in a throwaway twin of the container (`nginx -t`), as
        # the plan's first step: a broken file stops the recreate before anything is touched.
        check = throwaway_check(session.loaded.stack, service, policy)
        plan = dataclasses.replace(
            plan,
            operations=tuple(
                checked_first(dataclasses.replace(op, reason=why), check)
                if op.action == Action.RECREATE and op.service == service
                else op
                for op in plan.operations
            ),
        )
        outcome = session.apply(plan, options)
        for message in outcome.failed.values():
            if message.startswith("validate command "):
                consequence = "the running container is kept, with the old config"
                self._invalid(service, message, consequence, throwaway=True)
        for c in session.running(service):
            for mount in replaced:
                self._inodes.pop((c.id, mount.target), None)
        return outcome.ok

    def _invalid(
        self, service: str, output: str, consequence: str, *, throwaway: bool = False
    ) -> None:
        lines = failure_lines(self.targets, service, output, self.session.base())
        where = " (in a throwaway container)" if throwaway else ""
        self.session.say(
            "invalid",
            f"{service}: validation failed{where}; {consequence}",
            service,
            details=tuple(lines),
        )

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
            self.session.say(
                kind, f"{service}: {event.message} ({event.elapsed * 1000:.0f} ms)", service
            )

        return self.session.execute(plan, on_event)

    # ------------------------------------------------------------------ the stack file

    def _restack(self) -> None:
        session = self.session
        try:
            loaded = session.config.load()
        except StackupError as exc:
            session.say("error", str(exc), details=("nothing was applied",))
            return
        session.loaded = loaded
        self.targets = watch_targets(loaded, session.selected())
        self._converge("the stack file changed")

    def _converge(self, why: str) -> None:
        with self.session.locked():  # observed, planned and applied under one hold of the lock
            self._converge_locked(why)

    def _converge_locked(self, why: str) -> None:
        session = self.session
        options = dataclasses.replace(session.config.options, services=session.selected())
        try:
            plan = session.plan(options)
        except EngineUnavailableError:
            raise
        except StackupError as exc:
            session.say("error", str(exc), details=("nothing was applied",))
            return
        if not plan.operations:
            session.say("plan", f"{why}: the engine already matches the stack")
            return
        session.say("plan", f"{why}: applying {len(plan.operations)} operation(s)")
        session.apply(plan, options)

    # ------------------------------------------------------------------ the engine

    def _reconnect(self, why: str, stop: threading.Event) -> None:
        session = self.session
        session.say("engine", f"lost the engine ({why.splitlines()[0]}); reconnecting")
        started = time.monotonic()
        delay = 0.2
        while not stop.is_set():
            try:
                engine = session.config.connect()
                engine.list_projects()
            except StackupError:
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            session.engine = engine
            self._inodes.clear()
            session.say(
                "engine", f"reconnected to the engine after {time.monotonic() - started:.1f}s"
            )
            try:
                self._converge("the engine came back")
            except EngineUnavailableError as exc:
                self._reconnect(str(exc), stop)
            return


def _paths(batch: Batch) -> Iterator[Path]:
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
