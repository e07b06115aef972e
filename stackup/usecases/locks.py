"""`stackup unlock`: who holds a project's lock on its target's engine, and breaking it once
the caller has confirmed (its holder is gone: killed, or its machine lost) — the recovery from
a stale lock that would otherwise expire on its own after its TTL
(`stackup.targets.engine.lock`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stackup.targets.engine.lock import LockHolder, break_lock, lock_holder
from stackup.usecases.targets import AnyTarget, as_target

__all__ = ["LockHolder", "Unlocked", "unlock"]


@dataclass(frozen=True)
class Unlocked:
    holder: LockHolder | None  # who held the lock (None: nobody did)
    broken: bool


def unlock(project: str, target: AnyTarget, confirm: Callable[[LockHolder], bool]) -> Unlocked:
    """Break the project's lease on the target's engine if `confirm(holder)` agrees. Only that
    lease is removed: one another stackup took since (a waiter that broke it first) stays."""
    engine = as_target(target).lock_engine()
    holder = lock_holder(engine, project)
    if holder is None:
        return Unlocked(None, broken=False)
    if not confirm(holder):
        return Unlocked(holder, broken=False)
    break_lock(engine, holder)
    return Unlocked(holder, broken=True)
