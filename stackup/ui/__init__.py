"""`stackup ui`: a local page around the plan, on the same use cases and renderers as the CLI
(docs/ui.md). `project` holds what the page shows and does (no HTTP), `app` the routes,
`security` the door every request passes; `static/` the page (plain JavaScript, no build)."""

from __future__ import annotations

from stackup.ui.app import listen, serve
from stackup.ui.project import Hub, ProjectView, UiConfig
from stackup.ui.security import Keys, cookie_name

__all__ = ["Hub", "Keys", "ProjectView", "UiConfig", "cookie_name", "listen", "serve"]
