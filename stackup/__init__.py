"""stackup: Compose files, planned and applied.

The public API is small: `load` a stack file, `plan` it against an engine, `apply` the plan;
or `up`, the whole use case (`UpRequest`: build, pull, plan, refuse what is in the way, apply)
with the caller's `UpUI` showing progress and answering the data-loss question.
Heavy modules are imported where they are used, so `stackup --version` starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["StackupError", "UpRequest", "__version__", "apply", "load", "plan", "up"]

if TYPE_CHECKING:
    from stackup.errors import StackupError


def __getattr__(name: str) -> Any:
    # Lazy re-exports keep `import stackup` cheap.
    if name == "StackupError":
        from stackup.errors import StackupError

        return StackupError
    if name == "load":
        from stackup.loader import load

        return load
    if name == "plan":
        from stackup.api import plan

        return plan
    if name == "apply":
        from stackup.api import apply

        return apply
    if name == "up":
        from stackup.api import up

        return up
    if name == "UpRequest":
        from stackup.api import UpRequest

        return UpRequest
    raise AttributeError(name)
