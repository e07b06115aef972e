"""develop.watch's actions in a watch session: sync changed files into the service's
containers, rebuild its image and re-apply, restart, or exec a command after a sync."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from stackup.engine.observed import ObservedContainer
from stackup.planning.desired import image_ref
from stackup.planning.plan import Operation
from stackup.watch.reload import (
    Rule,
    ServiceChanges,
    describe,
    exec_command,
    restart_operations,
    sync_operations,
    watch_plan,
)
from stackup.watch.session import WatchSession
from stackup.watch.sync import files_under, sync_archive


class DevelopActions:
    """develop.watch's rules carried out through the watch's session."""

    def __init__(self, session: WatchSession) -> None:
        self.session = session

    def handle(
        self,
        service: str,
        changes: ServiceChanges,
        containers: list[ObservedContainer],
        seen: float,
    ) -> None:
        """The rules of `service` that `changes` touched: syncs at once, then one rebuild,
        or the restarts and commands the rules ask for."""
        session = self.session
        spec = session.loaded.stack.services[service]
        assert spec.develop is not None
        restart = rebuild = False
        commands: list[list[str]] = []
        for index, paths in sorted(changes.rules.items()):
            rule = spec.develop.watch[index]
            shown = describe(paths, session.base())
            session.say(
                "changed",
                f"{service}: {shown} changed (develop.watch: {rule.action})",
                service,
                at=seen,
            )
            if rule.action.startswith("sync"):
                self.sync(Rule(service, index, rule), paths, containers)
            rebuild |= rule.action == "rebuild"
            restart |= rule.action == "sync+restart" or rule.action == "restart"
            command = exec_command(rule) if rule.action == "sync+exec" else None
            if command and command not in commands:
                commands.append(command)
        if rebuild:
            self.rebuild(service)
            return
        names = [c.name for c in containers]
        ops: list[Operation] = []
        if restart and names:
            ops += restart_operations(service, names, "develop.watch: restart after a change")
        for command in commands:
            ops += restart_operations(service, names, "develop.watch: exec after a sync", command)
        if ops:
            session.apply(watch_plan(session.loaded.stack.name, ops, (service,)))

    def sync(
        self,
        rule: Rule,
        paths: Sequence[Path],
        containers: list[ObservedContainer],
        *,
        initial: bool = False,
    ) -> None:
        session = self.session
        target = rule.rule.target
        if target is None:
            session.say(
                "error",
                f"{rule.service}: develop.watch sync of {rule.path} has no target",
                rule.service,
            )
            return
        archive, deleted, count = sync_archive(rule.rule, paths, target)
        if not count and not deleted:
            return
        names = [c.name for c in containers]
        ops = sync_operations(rule.service, names, archive, count, deleted, rule.path)
        outcome = session.execute(watch_plan(session.loaded.stack.name, ops, (rule.service,)))
        if not outcome.ok:
            return
        what = "initial sync" if initial else "synced"
        session.say(
            "sync",
            f"{rule.service}: {what} {count} file(s)"
            + (f", removed {len(deleted)}" if deleted else "")
            + f" to {target} in {', '.join(c.name for c in containers) or 'no container'}",
            rule.service,
        )

    def tree(self, rule: Rule) -> list[Path]:
        """Every file under the rule's path that it does not ignore (an initial sync's)."""
        return list(files_under(rule.rule, rule.path))

    def rebuild(self, service: str) -> None:
        """A plan that builds the image (its output shown as progress), then, planned again
        against the new image, recreates the service's containers."""
        session = self.session
        spec = session.loaded.stack.services[service]
        if spec.build is None:
            session.say("error", f"{service}: develop.watch rebuild needs a build section", service)
            return
        session.say(
            "rebuild", f"{service}: building {image_ref(session.loaded.stack, service)}", service
        )
        options = dataclasses.replace(
            session.config.options, services=(service,), with_dependencies=False, build=True
        )
        plan = session.plan(options)
        builds = tuple(
            dataclasses.replace(op, reason="develop.watch: rebuild")
            for op in plan.operations
            if op.id == f"build:{service}"
        )
        rest = tuple(op for op in plan.operations if not op.id.startswith("build:"))
        session.apply(dataclasses.replace(plan, operations=builds + rest), options)
