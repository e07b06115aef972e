"""What a loaded stack warns of before anything is planned: the keys its target reads but
ignores and, for the commands that show or apply what would run (`bind_sources`), the bind
sources missing on this host (the engine would create them as empty directories)."""

from __future__ import annotations

from pathlib import Path

from stackup.loading.loader import LoadedStack
from stackup.planning import bindsources
from stackup.targets.target import Capability, TargetKind


def load_warnings(loaded: LoadedStack, kind: TargetKind, *, bind_sources: bool) -> list[str]:
    found = kind.key_warnings(loaded)
    # A target whose bind sources are on other hosts (a swarm's nodes): not looked at here.
    if bind_sources and kind.supports(Capability.HOST_BIND_SOURCES):
        services = loaded.stack.services
        mounts = bindsources.bind_sources(loaded.stack, services)
        # Untrusted, nothing outside the repository is looked at, not even whether it exists.
        allowed = (m.source for m in mounts if loaded.host_paths.allows(Path(m.source)))
        kinds = bindsources.host_kinds(allowed)
        base = loaded.project_directory
        found += bindsources.warnings(loaded.stack, loaded.source, base, kinds, services)
    return found
