"""What every command shares: the global options, and loading the stack from them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from stackup.loader import LoadedStack


@dataclass(frozen=True)
class GlobalOptions:
    files: tuple[Path, ...]
    project_name: str | None
    profiles: tuple[str, ...]
    env_files: tuple[Path, ...]
    project_directory: Path | None
    docker_context: str | None
    target: str | None

    @classmethod
    def from_click(cls, options: dict[str, Any]) -> GlobalOptions:
        return cls(
            files=tuple(Path(f) for f in options.get("files") or ()),
            project_name=options.get("project_name"),
            profiles=tuple(options.get("profiles") or ()),
            env_files=tuple(Path(f) for f in options.get("env_files") or ()),
            project_directory=(
                Path(options["project_directory"]) if options.get("project_directory") else None
            ),
            docker_context=options.get("docker_context"),
            target=options.get("target"),
        )

    def load(self) -> LoadedStack:
        from stackup.loader import LoadOptions, load

        return load(
            LoadOptions(
                files=self.files,
                project_name=self.project_name,
                profiles=self.profiles,
                env_files=self.env_files,
                project_directory=self.project_directory,
            )
        )


def global_options() -> GlobalOptions:
    obj = click.get_current_context().find_root().obj
    assert isinstance(obj, GlobalOptions)
    return obj
