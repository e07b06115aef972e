"""What a kind of target supports, said by the target itself: the CLI and the use cases ask
`TargetKind.require(...)` and never compare a target's name. A target lacking a capability
refuses with its own words (as Terraform's backends do), before anything is connected.

Light on purpose (the standard library only): the CLI reads the registered kinds to parse
`--target` without paying for pydantic or docker."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stackup.loading.loader import LoadedStack
    from stackup.targets.target import Target


class Capability(enum.Enum):
    EXEC = "exec"  # a command in a running container (`stackup exec`)
    RUN = "run"  # a one-off container (`stackup run`)
    LIFECYCLE = "start, stop and restart"  # containers kept, stopped and started again
    WATCH = "watch"  # reloads, syncs and re-plans as files change (`watch`, `up --watch`)
    ATTACH = "attach"  # containers' logs in the foreground (`up --attach`, `--exit-code-from`)
    SAVED_PLAN = "saved plans"  # `up --plan FILE`
    REVIEW = "review"  # `diff --against` / `--base`: plans between two revisions, offline
    WAIT = "wait"  # `up --wait` waits after the apply (a swarm's plan waits itself)
    IN_PLACE_UPDATE = "in-place update"  # restart, cpus, memory, pids changed without recreate
    BUILD = "build"  # images built from `build:` sections
    HOST_BIND_SOURCES = "host bind sources"  # bind sources are on this host (checked here)


@dataclass(frozen=True)
class TargetSettings:
    """What opening a target takes from the command line."""

    docker_context: str | None = None
    wait_timeout: float = 300.0


@dataclass(frozen=True)
class TargetKind:
    """One kind of target: its name for `--target` and `x-stackup.target`, what it supports,
    its words for what it does not, and how to open one."""

    name: str
    capabilities: frozenset[Capability]
    open: Callable[[TargetSettings], Target]
    # Why a capability is missing and what to use instead: the hint of the refusal.
    refusal_hint: str = ""
    # A refusal in words of its own, for a capability the generic sentence says badly.
    refusals: Mapping[Capability, str] = field(default_factory=dict)
    # How `diff` says a plan with blockers would be refused: "N problem(s) {blocked}".
    blocked: str = "stop this plan (listed above)"
    # What `down` says after removing a project ("{project}" is its name), if anything.
    removed: str = ""
    # The keys this kind reads but ignores, located (printed when the stack is loaded).
    key_warnings: Callable[[LoadedStack], list[str]] = field(default=lambda loaded: [])

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def refusal(self, what: str, *, hint: bool = True) -> UsageError:
        from stackup.errors import UsageError

        verb = "are" if " and " in what else "is"
        return UsageError(
            f"{what} {verb} not available with --target {self.name}",
            hint=(self.refusal_hint or None) if hint else None,
        )

    def require(self, capability: Capability, what: str | None = None) -> None:
        """Refuse, with this kind's words, what needs `capability` (`what`: the command the
        user asked for; the capability's name by default)."""
        if capability in self.capabilities:
            return
        if capability in self.refusals:
            from stackup.errors import UsageError

            raise UsageError(self.refusals[capability])
        raise self.refusal(what or capability.value)


if TYPE_CHECKING:
    from stackup.errors import UsageError
