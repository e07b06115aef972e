"""Which target a command works on: picked by name from the registry
(`stackup.targets.registry`), its capabilities checked before it is opened (connected)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import cast

from stackup.engine.interface import Engine
from stackup.errors import UsageError
from stackup.loading.loader import LoadedStack
from stackup.targets.engine.target import EngineTarget
from stackup.targets.registry import kind_named, names
from stackup.targets.target import Capability, Target, TargetKind, TargetSettings


@dataclass(frozen=True)
class TargetChoice:
    """A target chosen and not opened yet: what it supports is known without connecting."""

    named: TargetKind  # the kind by name (`--target`, the file's, the default)
    settings: TargetSettings = field(default_factory=TargetSettings)
    # Whether `kind` is placed by the settings. Not for an untrusted stack: placing reads the
    # docker context under ~/.docker, outside the repository, which an untrusted run never
    # opens; the kind by name judges its files, as a local engine would.
    placed: bool = True

    @cached_property
    def kind(self) -> TargetKind:
        """The named kind as the settings place it (an engine over SSH lacks watch), read
        when first asked: `config` and `lint` never ask."""
        return self.named.at(self.settings) if self.placed else self.named

    def open(self) -> Target:
        return self.kind.open(self.settings)


def choose_target(
    name: str | None, loaded: LoadedStack | None, settings: TargetSettings | None = None
) -> TargetChoice:
    """`name` (`--target`), else `x-stackup.target` of the file, else the default target; as
    the settings place it (an engine reached over SSH lacks what needs this machine)."""
    if not name and loaded is not None:
        name = loaded.stack.stackup.target
    settings = settings or TargetSettings()
    untrusted = loaded is not None and loaded.host_paths.untrusted
    return TargetChoice(kind_named(name), settings, placed=not untrusted)


def target_names() -> list[str]:
    """The names `--target` takes: every registered kind."""
    return names()


AnyTarget = Target | Engine | TargetChoice


def as_target(target: AnyTarget) -> Target:
    """A target as given, opened when only chosen, or the single-engine target over an
    engine."""
    if isinstance(target, TargetChoice):
        return target.open()
    if isinstance(target, Target):
        return target
    return EngineTarget(target)


def kind_of(target: AnyTarget) -> TargetKind:
    if isinstance(target, TargetChoice | Target):
        return target.kind
    return EngineTarget(target).kind


def engine_of(target: AnyTarget, capability: Capability, what: str) -> tuple[Target, Engine]:
    """The target, opened, and the engine it runs containers on, for what works on its
    containers directly (exec, run, start/stop/restart, attach): refused, in the target's
    words, before anything is connected when it lacks `capability`."""
    kind_of(target).require(capability, what)
    opened = as_target(target)
    engine = getattr(opened, "engine", None)
    if engine is None:
        raise UsageError(f"{what} needs containers on one engine; --target {opened.name} has none")
    # A target with this capability runs its containers on `engine` (an `Engine`).
    return opened, cast(Engine, engine)
