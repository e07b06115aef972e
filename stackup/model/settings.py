"""stackup's own settings in a stack file, under `x-stackup` (top level and per service).

Compose ignores `x-*` keys, so a stackup file stays a valid Compose file; stackup reads these
with a typed model like everything else, so a misspelt key here is an error too.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from stackup.model.base import Command, Model


class LintIgnore(Model):
    rule: str = Field(pattern=r"^SU\d{3}$", description="Rule id to suppress, e.g. SU004.")
    reason: str | None = Field(
        default=None,
        description="Why the finding is acceptable; a suppression without one is itself a finding.",
    )


class LintSettings(Model):
    ignore: list[LintIgnore] = Field(default_factory=list)


class ReloadPolicy(Model):
    """How watch mode applies a change under a bind mount without restarting the container."""

    validate_: Command | None = Field(
        default=None,
        alias="validate",
        description="Command run in the container first; the reload is sent only if it exits 0.",
    )
    signal: str | None = Field(
        default=None, description="Signal sent to the main process, e.g. HUP."
    )
    exec_: Command | None = Field(
        default=None,
        alias="exec",
        description="Command run in the container to reload, e.g. [nginx, -s, reload].",
    )


class ServiceSettings(Model):
    reload: ReloadPolicy | Literal[False] | None = Field(
        default=None,
        description="Reload policy for watch mode; false turns reloads off. nginx images default "
        "to validate [nginx, -t] then signal HUP.",
    )
    sensitive: list[str] = Field(
        default_factory=list,
        description="Environment variable names whose values never appear in labels or output.",
    )
    lint: LintSettings = Field(default_factory=LintSettings)


class ReleaseSettings(Model):
    keep: int = Field(
        default=10,
        ge=1,
        description="How many releases (`stackup history`) are kept on the engine; older ones "
        "are removed. STACKUP_RELEASES_KEEP overrides it.",
    )


class StackSettings(Model):
    target: Literal["engine", "swarm"] | None = Field(
        default=None, description="Where to deploy: a single Docker engine or Docker Swarm."
    )
    registry: str | None = Field(
        default=None, description="Registry to push locally built images to before a swarm deploy."
    )
    sensitive: list[str] = Field(default_factory=list)
    lint: LintSettings = Field(default_factory=LintSettings)
    releases: ReleaseSettings = Field(default_factory=ReleaseSettings)
