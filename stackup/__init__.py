"""stackup: Compose files, planned and applied.

The public API is small: `load` a stack file, `plan` it against an engine, `apply` the plan.
Heavy modules are imported where they are used, so `stackup --version` starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["StackupError", "__version__", "apply", "load", "plan"]

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
    raise AttributeError(name)
