"""stackup: Compose files, planned and applied.

The public API is small: `load` a stack file, `plan` it against an engine, `apply` the plan;
or the use cases whole: `up` (`UpRequest`: plan with the builds and pulls first, refuse what
is in the way, apply) and `down` (`DownRequest`), over an engine or a `Target`, with the
caller's UI (`api.UpUI`, `api.ApplyUI`) showing progress and answering the data-loss question.
Heavy modules are imported where they are used, so `stackup --version` starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "DownRequest",
    "StackupError",
    "UpRequest",
    "__version__",
    "apply",
    "down",
    "load",
    "plan",
    "up",
]

if TYPE_CHECKING:
    from stackup.errors import StackupError


def __getattr__(name: str) -> Any:
    # Lazy re-exports keep `import stackup` cheap.
    if name == "StackupError":
        from stackup.errors import StackupError

        return StackupError
    if name == "load":
        from stackup.loading.loader import load

        return load
    if name == "plan":
        from stackup.usecases.deploy import plan

        return plan
    if name == "apply":
        from stackup.usecases.deploy import apply

        return apply
    if name in ("up", "UpRequest", "down", "DownRequest"):
        from stackup.usecases import deploy

        return getattr(deploy, name)
    raise AttributeError(name)
