"""develop.watch's actions in a watch session: sync changed files into the service's
containers, rebuild its image and re-apply, restart, or exec a command after a sync."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from stackup.engine.docker.engine import DockerEngine
from stackup.engine.observed import ObservedContainer
from stackup.loading.loader import LoadedStack
from stackup.planning.desired import image_ref
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Operation, Plan
from stackup.targets.engine.execute import Outcome, execute
from stackup.usecases import deploy
from stackup.watch import reload as R
from stackup.watch.events import WatchConfig
from stackup.watch.sync import files_under, sync_archive


class DevelopActions:
    """Mixed into `Watcher`, whose session state and reporting these use."""

    config: WatchConfig
    loaded: LoadedStack
    engine: DockerEngine

    if TYPE_CHECKING:

        def _base(self) -> Path: ...

        def _apply(self, plan: Plan, options: ReconcileOptions | None = None) -> Outcome: ...

        def _locked(self) -> AbstractContextManager[None]: ...

        def _check(self, outcome: Outcome) -> None: ...

        def _say(
            self,
            kind: str,
            text: str,
            service: str | None = None,
            details: tuple[str, ...] = (),
            at: float | None = None,
        ) -> None: ...

    def _develop(
        self,
        service: str,
        changes: R.ServiceChanges,
        containers: list[ObservedContainer],
        seen: float,
    ) -> None:
        spec = self.loaded.stack.services[service]
        assert spec.develop is not None
        restart = rebuild = False
        commands: list[list[str]] = []
        for index, paths in sorted(changes.rules.items()):
            rule = spec.develop.watch[index]
            shown = R.describe(paths, self._base())
            self._say(
                "changed",
                f"{service}: {shown} changed (develop.watch: {rule.action})",
                service,
                at=seen,
            )
            if rule.action.startswith("sync"):
                self._sync(R.Rule(service, index, rule), paths, containers)
            rebuild |= rule.action == "rebuild"
            restart |= rule.action == "sync+restart" or rule.action == "restart"
            command = R.exec_command(rule) if rule.action == "sync+exec" else None
            if command and command not in commands:
                commands.append(command)
        if rebuild:
            self._rebuild(service)
            return
        names = [c.name for c in containers]
        ops: list[Operation] = []
        if restart and names:
            ops += R.restart_operations(service, names, "develop.watch: restart after a change")
        for command in commands:
            ops += R.restart_operations(service, names, "develop.watch: exec after a sync", command)
        if ops:
            self._apply(R.watch_plan(self.loaded.stack.name, ops, (service,)))

    def _sync(
        self,
        rule: R.Rule,
        paths: Sequence[Path],
        containers: list[ObservedContainer],
        *,
        initial: bool = False,
    ) -> None:
        target = rule.rule.target
        if target is None:
            self._say(
                "error",
                f"{rule.service}: develop.watch sync of {rule.path} has no target",
                rule.service,
            )
            return
        archive, deleted, count = sync_archive(rule.rule, paths, target)
        if not count and not deleted:
            return
        names = [c.name for c in containers]
        ops = R.sync_operations(rule.service, names, archive, count, deleted, rule.path)
        with self._locked():
            outcome = execute(
                R.watch_plan(self.loaded.stack.name, ops, (rule.service,)), self.engine
            )
        self._check(outcome)
        if not outcome.ok:
            return
        what = "initial sync" if initial else "synced"
        self._say(
            "sync",
            f"{rule.service}: {what} {count} file(s)"
            + (f", removed {len(deleted)}" if deleted else "")
            + f" to {target} in {', '.join(c.name for c in containers) or 'no container'}",
            rule.service,
        )

    def _tree(self, rule: R.Rule) -> list[Path]:
        return list(files_under(rule.rule, rule.path))

    def _rebuild(self, service: str) -> None:
        """A plan that builds the image (its output shown as progress), then, planned again
        against the new image, recreates the service's containers."""
        spec = self.loaded.stack.services[service]
        if spec.build is None:
            self._say("error", f"{service}: develop.watch rebuild needs a build section", service)
            return
        self._say(
            "rebuild", f"{service}: building {image_ref(self.loaded.stack, service)}", service
        )
        options = dataclasses.replace(
            self.config.options, services=(service,), with_dependencies=False, build=True
        )
        plan = deploy.plan(self.loaded, self.engine, options)
        builds = tuple(
            dataclasses.replace(op, reason="develop.watch: rebuild")
            for op in plan.operations
            if op.id == f"build:{service}"
        )
        rest = tuple(op for op in plan.operations if not op.id.startswith("build:"))
        self._apply(dataclasses.replace(plan, operations=builds + rest), options)
