"""What watch reports and how it is set up: the events it emits, the UI it reports them to,
and its configuration."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from stackup.engine.interface import Engine
from stackup.loading.loader import LoadedStack
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Plan
from stackup.targets.engine.execute import Event


@dataclass(frozen=True)
class WatchEvent:
    """Something watch saw or did. `kind` is one of: start, changed, validated, invalid,
    reloaded, live (the new config serves), atomic, recreate, content, sync, rebuild, restart,
    plan, applied, skipped, error, engine, stop."""

    kind: str
    text: str
    service: str | None = None
    details: tuple[str, ...] = ()
    at: float = field(default_factory=time.monotonic)


class WatchedEngine(Engine, Protocol):
    """The engine a watch talks to: the `Engine` interface, and the one request by which an
    idle watch finds out that the engine is still there (the projects `stackup ls` lists)."""

    def list_projects(self) -> list[dict[str, str | int]]: ...


class WatchUI(Protocol):
    def event(self, event: WatchEvent) -> None: ...

    def show_plan(self, plan: Plan) -> None: ...

    def progress(self) -> AbstractContextManager[Callable[[Event], None]]: ...


@dataclass(frozen=True)
class WatchConfig:
    load: Callable[[], LoadedStack]
    connect: Callable[[], WatchedEngine]
    services: tuple[str, ...] = ()
    options: ReconcileOptions = field(default_factory=ReconcileOptions)
    step_ms: int = 20  # quiet window that ends a burst
    debounce_ms: int = 1000  # longest a burst is held back
    idle_check_s: float = 2.0  # how often an idle watch checks the engine is still there
    initial_apply: bool = True
    on_change: Callable[[], None] | None = None  # after a web-root change or a reload
