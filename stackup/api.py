"""The public API's first home, kept for the programs that import it: the use cases are in
`stackup.usecases` (planning and applying: `stackup.usecases.deploy`)."""

from __future__ import annotations

from stackup.usecases.deploy import *  # noqa: F403
from stackup.usecases.deploy import __all__ as __all__
from stackup.usecases.deploy import check_saved_plan as check_saved_plan
