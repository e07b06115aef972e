"""May stackup look at this host path? The one answer loading and planning consult.

In the normal, trusted mode every path may be read: the user wrote the stack file. In the
untrusted mode (`--untrusted`, `STACKUP_UNTRUSTED=1`, `diff --against`, `diff --base`: a pull
request's stack file, whose plan may be posted publicly) only paths inside the repository
may be opened or even checked for existence: the git top-level of the project, else the project
directory, but never its `.git` directory (a CI checkout keeps its token in `.git/config`). A
path is judged after its symbolic links are resolved, and resolved without ever looking outside
the repository: a link whose target leaves it is refused as soon as it is read, before anything
at its target is touched.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

# Links followed in one path before it is refused as a loop (Linux's own limit is 40).
_MAX_LINKS = 40

UNTRUSTED_VARIABLE = "STACKUP_UNTRUSTED"


def untrusted_from_environment(environ: Mapping[str, str] | None = None) -> bool:
    """`STACKUP_UNTRUSTED` set to anything but empty or 0."""
    value = (os.environ if environ is None else environ).get(UNTRUSTED_VARIABLE, "")
    return value.strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class HostPaths:
    """The policy: `boundary` None allows every path (trusted); otherwise only paths that
    resolve inside it. `links` resolves the links of a path (inside the boundary by its text)
    when the files are not the disk's: `diff --base` reads them from git, where a committed
    link is followed (`review.GitRevision.resolve`); None: the disk's links."""

    boundary: Path | None = None
    links: Callable[[Path], Path | None] | None = None

    @classmethod
    def for_project(
        cls, start: Path, *, links: Callable[[Path], Path | None] | None = None
    ) -> HostPaths:
        """The untrusted policy for a project in `start`: its git top-level, else `start`."""
        return cls(repository_root(start), links)

    @property
    def untrusted(self) -> bool:
        return self.boundary is not None

    def resolve(self, path: Path) -> Path | None:
        """Where `path` (absolute) leads, if it stays inside the boundary; else None. Only
        paths inside the boundary are ever looked at (lstat and readlink, one part at a time)."""
        if self.boundary is None:
            return path
        lexical = Path(os.path.normpath(path))
        if not _inside(lexical, self.boundary):
            return None
        if self.links is not None:
            resolved = self.links(lexical)
            if resolved is not None and not _inside(resolved, self.boundary):
                return None
        else:
            resolved = _resolve_within(lexical, self.boundary)
        if resolved is None or _in_git_directory(resolved, self.boundary):
            return None
        return resolved

    def allows(self, path: Path) -> bool:
        """Whether stackup may open `path` or check that it exists."""
        return self.resolve(path) is not None

    def refusal(self, what: str, display: str, path: Path) -> str:
        """The message for a refused path (`what`: "env file", "extended file", ...)."""
        lexical = Path(os.path.normpath(path))
        how = "is outside"
        if self.boundary is not None and _inside(lexical, self.boundary):
            in_git = _in_git_directory(lexical, self.boundary)
            how = "is in the .git directory of" if in_git else "leads by a symbolic link out of"
        return (
            f"{what} {display} {how} the repository {self.boundary}: untrusted mode "
            "neither reads nor looks for files outside it"
        )


REFUSAL_HINT = (
    "keep the files a stack names inside the repository; the untrusted mode is on for "
    "--untrusted, STACKUP_UNTRUSTED=1, diff --against and diff --base"
)


def repository_root(start: Path) -> Path:
    """The git top-level of `start`, else `start` itself, with links resolved."""
    start = Path(os.path.realpath(start))
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=start,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return start
    top = found.stdout.strip()
    if found.returncode != 0 or not top:
        return start
    return Path(os.path.realpath(top))


def _inside(path: Path, boundary: Path) -> bool:
    return path == boundary or boundary in path.parents


def _in_git_directory(path: Path, boundary: Path) -> bool:
    parts = path.relative_to(boundary).parts
    return bool(parts) and parts[0] == ".git"


def resolve_inside(path: Path, boundary: Path) -> Path | None:
    """Where `path` (absolute) leads with its links resolved, or None when it, or a link on
    the way, leads out of `boundary` (nothing outside it is ever looked at) or links loop."""
    lexical = Path(os.path.normpath(path))
    return _resolve_within(lexical, boundary) if _inside(lexical, boundary) else None


def _resolve_within(path: Path, boundary: Path) -> Path | None:
    """`path` with its links resolved, one part at a time from the boundary down; None as soon
    as a link points out of the boundary (its target is never looked at) or links loop."""
    pending = list(path.relative_to(boundary).parts)
    current = boundary
    links = 0
    while pending:
        candidate = current / pending.pop(0)
        try:
            info = os.lstat(candidate)
        except OSError:
            # Missing (or unreadable): nothing below it can be a link; the rest is lexical.
            return Path(os.path.normpath(candidate.joinpath(*pending)))
        if not stat.S_ISLNK(info.st_mode):
            current = candidate
            continue
        links += 1
        if links > _MAX_LINKS:
            return None
        try:
            target = os.readlink(candidate)
        except OSError:
            return None
        joined = Path(os.path.normpath(os.path.join(current, target, *pending)))
        if not _inside(joined, boundary):
            return None
        pending = list(joined.relative_to(boundary).parts)
        current = boundary
    return current
