"""nginx's complaints, pointed at the files a developer edits.

`nginx -t` names paths inside the container (`in /etc/nginx/conf.d/default.conf:12`); watch
mode translates them through the service's bind mounts to the host file and line, so an error
reads like a compiler's: `nginx/default.conf:12: unknown directive "lisen" (nginx -t [emerg])`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

_LINE = re.compile(
    r"\[(?P<level>emerg|alert|crit|error|warn)\] (?:\d+#\d+: )?(?P<message>.*?)"
    r"(?: in (?P<path>/\S+?):(?P<line>\d+))?\s*$"
)


@dataclass(frozen=True, slots=True)
class Mount:
    """A bind mount: `source` on the host is `target` in the container."""

    source: Path
    target: str
    is_file: bool


@dataclass(frozen=True, slots=True)
class NginxError:
    level: str
    message: str
    container_path: str | None
    line: int | None
    host_path: Path | None

    def format(self, base: Path | None = None) -> str:
        where = ""
        if self.host_path is not None:
            shown = (
                self.host_path.relative_to(base).as_posix()
                if base is not None and self.host_path.is_relative_to(base)
                else str(self.host_path)
            )
            where = shown
        elif self.container_path is not None:
            where = f"{self.container_path} (in the container)"
        if where and self.line is not None:
            where += f":{self.line}"
        return (
            f"{where}: {self.message} (nginx -t [{self.level}])"
            if where
            else (f"{self.message} (nginx -t [{self.level}])")
        )


def host_path(container_path: str, mounts: Sequence[Mount]) -> Path | None:
    """The host file behind `container_path`, through the longest matching bind mount."""
    target = PurePosixPath(container_path)
    best: tuple[int, Path] | None = None
    for m in mounts:
        mount_target = PurePosixPath(m.target)
        if m.is_file:
            if target == mount_target:
                candidate = m.source
            else:
                continue
        elif target == mount_target or target.is_relative_to(mount_target):
            candidate = m.source / target.relative_to(mount_target).as_posix()
        else:
            continue
        depth = len(mount_target.parts)
        if best is None or depth > best[0]:
            best = (depth, candidate)
    return None if best is None else best[1]


def parse(output: str, mounts: Sequence[Mount] = ()) -> list[NginxError]:
    """The errors and warnings in `nginx -t` output, translated through `mounts`."""
    out = []
    for raw in output.splitlines():
        m = _LINE.search(raw.strip())
        if not m:
            continue
        path = m.group("path")
        line = int(m.group("line")) if m.group("line") else None
        out.append(
            NginxError(
                level=m.group("level"),
                message=m.group("message").strip(),
                container_path=path,
                line=line,
                host_path=host_path(path, mounts) if path else None,
            )
        )
    return out


def explain(output: str, mounts: Sequence[Mount], base: Path | None = None) -> list[str]:
    """Lines to show for a failed validation: nginx's errors at their host file and line, or
    the raw output when it says nothing nginx-shaped."""
    errors = [e for e in parse(output, mounts) if e.level != "warn"] or parse(output, mounts)
    if errors:
        return [e.format(base) for e in errors]
    return [line for line in output.strip().splitlines() if line.strip()]
