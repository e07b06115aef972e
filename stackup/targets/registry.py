"""The kinds of target stackup can deploy to, by name: `--target NAME` and `x-stackup.target`
pick one here, and a new target (another engine, a remote host) plugs in with `register`.

Light (the standard library only at import): each kind imports its implementation when it
is opened or asked about the keys it ignores."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackup.targets.capabilities import Capability, TargetKind, TargetSettings

if TYPE_CHECKING:
    from stackup.loading.loader import LoadedStack
    from stackup.targets.target import Target

DEFAULT = "engine"
_KINDS: dict[str, TargetKind] = {}


def register(kind: TargetKind) -> None:
    """Make `kind` selectable by its name (a later kind of the same name replaces it)."""
    _KINDS[kind.name] = kind


def unregister(name: str) -> None:
    _KINDS.pop(name, None)


def names() -> list[str]:
    return list(_KINDS)


def kind_named(name: str | None) -> TargetKind:
    """The kind called `name` (the default one for None)."""
    from stackup.errors import UsageError

    found = _KINDS.get(name or DEFAULT)
    if found is None:
        raise UsageError(f"unknown target {name!r}", hint=f"one of: {', '.join(_KINDS)}")
    return found


def _open_engine(settings: TargetSettings) -> Target:
    from stackup.engine.docker.engine import connect_engine
    from stackup.targets.engine.target import EngineTarget

    return EngineTarget(connect_engine(settings.docker_context))


def _engine_warnings(loaded: LoadedStack) -> list[str]:
    from stackup.loading.compat import warnings

    return warnings(loaded.stack, loaded.source)


def _open_swarm(settings: TargetSettings) -> Target:
    from stackup.engine.docker.swarm import connect_swarm
    from stackup.targets.swarm.target import SwarmTarget

    engine = connect_swarm(settings.docker_context)
    engine.require_manager()
    return SwarmTarget(engine, settings.wait_timeout)


def _swarm_warnings(loaded: LoadedStack) -> list[str]:
    from stackup.loading.compat import warnings

    return warnings(loaded.stack, loaded.source, swarm=True)


ENGINE = TargetKind(
    name="engine",
    capabilities=frozenset(Capability),
    open=_open_engine,
    key_warnings=_engine_warnings,
)

SWARM = TargetKind(
    name="swarm",
    # Its plans wait for the services to converge; its bind sources are on its nodes.
    capabilities=frozenset({Capability.BUILD}),
    open=_open_swarm,
    refusal_hint="use the docker CLI against a swarm manager (`docker service ...`) for now",
    refusals={
        Capability.REVIEW: "--against and --base compare single-engine plans, not --target swarm"
    },
    blocked="in the stack file that Swarm cannot run",
    removed="removed project {project} from the swarm (named volumes are kept)",
    key_warnings=_swarm_warnings,
)

register(ENGINE)
register(SWARM)
