"""The kinds of target stackup can deploy to, by name: `--target NAME` and `x-stackup.target`
pick one here, and a new target (another engine, a remote host) plugs in with `register`.
Each kind is defined beside its target (`ENGINE`, `SWARM`)."""

from __future__ import annotations

from stackup.errors import UsageError
from stackup.targets.engine.target import ENGINE
from stackup.targets.swarm.target import SWARM
from stackup.targets.target import TargetKind

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
    found = _KINDS.get(name or DEFAULT)
    if found is None:
        raise UsageError(f"unknown target {name!r}", hint=f"one of: {', '.join(_KINDS)}")
    return found


register(ENGINE)
register(SWARM)
