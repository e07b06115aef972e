"""The use cases, callable without the CLI (which parses, calls one, renders what it
returns and answers what it asks): plan and apply (each `watch` burst applies this way),
`up`, `down`, `start`/`stop`/`restart`, `run` and `exec`, `ps`, `logs`, `unlock`; the target they work
on is chosen by name from the registry and checked for what it supports
(`stackup.usecases.targets`). `diff --against/--base` is `stackup.review`, `import` is
`stackup.importing`, `watch` is `stackup.watch`, `lint` is `stackup.lint`: use cases beside
these, on the same layer."""

from __future__ import annotations

from stackup.runner import Event, ExecuteOptions, Outcome
from stackup.targets.target import (
    Applied,
    Capability,
    DownRequest,
    Listing,
    Logs,
    LogStream,
    TargetKind,
    TargetSettings,
)
from stackup.usecases.containers import exec_container, run
from stackup.usecases.deploy import (
    ApplyUI,
    UpRequest,
    UpUI,
    apply,
    apply_plan,
    check_saved_plan,
    down,
    plan,
    up,
)
from stackup.usecases.inspect import follow_changes, logs, ps
from stackup.usecases.lifecycle import lifecycle
from stackup.usecases.locks import LockHolder, Unlocked, unlock
from stackup.usecases.targets import (
    AnyTarget,
    TargetChoice,
    as_target,
    choose_target,
    engine_of,
    kind_of,
)

__all__ = [
    "AnyTarget",
    "Applied",
    "ApplyUI",
    "Capability",
    "DownRequest",
    "Event",
    "ExecuteOptions",
    "Listing",
    "LockHolder",
    "LogStream",
    "Logs",
    "Outcome",
    "TargetChoice",
    "TargetKind",
    "TargetSettings",
    "Unlocked",
    "UpRequest",
    "UpUI",
    "apply",
    "apply_plan",
    "as_target",
    "check_saved_plan",
    "choose_target",
    "down",
    "engine_of",
    "exec_container",
    "follow_changes",
    "kind_of",
    "lifecycle",
    "logs",
    "plan",
    "ps",
    "run",
    "unlock",
    "up",
]
