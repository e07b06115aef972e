"""The files one load reads (stack files, included and extended ones, env and label files):
each read once, shown relative to the working directory, and, in untrusted mode, only those
the host-path policy allows (`stackup.loading.hostpaths`): the loader, its composition
(`include`, `extends`) and its service files (`env_file`, `label_file`) read through one
`StackFiles`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from stackup.errors import PathElement, StackFileError
from stackup.loading.files import read_text
from stackup.loading.hostpaths import REFUSAL_HINT, HostPaths
from stackup.loading.source import located_error
from stackup.loading.yamlsource import Node


class StackFiles:
    def __init__(
        self,
        working_dir: Path,
        named: Iterable[Path],
        reader: Callable[[Path], str] | None = None,
    ) -> None:
        self.working_dir = working_dir
        # Files named on the command line: the user chose them, wherever they are.
        self.named_files = {Path(os.path.normpath(working_dir / f)) for f in named}
        # Where the files come from when not from the disk (git, for --base; tests).
        self.reader = reader
        # Everything may be looked at unless the load is untrusted (set before any read).
        self.host_paths = HostPaths()
        self.read_files: list[Path] = []  # in the order first read (LoadedStack.files)
        self.texts: dict[Path, str] = {}  # each file read once per load

    def may_look(self, path: Path) -> bool:
        """The host-path policy, for a file the stack names (the command line's are allowed)."""
        return path in self.named_files or self.host_paths.allows(path)

    def check_host_path(
        self, path: Path, node: Node, where: tuple[PathElement, ...], what: str
    ) -> None:
        """Refuse, located at `node`, a file outside the repository in untrusted mode: before
        anything looks at it."""
        if not self.may_look(path):
            raise located_error(
                node,
                where,
                self.host_paths.refusal(what, self.display(path), path),
                hint=REFUSAL_HINT,
            )

    def _guard(self, path: Path, display: str) -> None:
        # The last line of the policy, for reads no caller located: nothing outside is opened.
        if not self.may_look(path):
            raise StackFileError(self.host_paths.refusal("file", display, path), hint=REFUSAL_HINT)

    def read(self, path: Path, display: str, missing: str = "stack file not found") -> str:
        if path in self.texts:
            return self.texts[path]
        self._guard(path, display)
        reader = self.reader
        try:
            text = reader(path) if reader is not None else read_text(path, display)
        except FileNotFoundError:
            raise StackFileError(f"{missing}: {display}") from None
        except IsADirectoryError:
            raise StackFileError(f"{display} is a directory, not a file") from None
        except UnicodeDecodeError:
            raise StackFileError(f"{display} is not UTF-8 text", file=display) from None
        except OSError as exc:
            raise StackFileError(f"cannot read {display}: {exc.strerror or exc}") from None
        if path not in self.read_files:
            self.read_files.append(path)
        self.texts[path] = text
        return text

    def display(self, path: Path) -> str:
        try:
            rel = os.path.relpath(path, self.working_dir)
        except ValueError:
            return str(path)
        return str(path) if rel.startswith("..") else rel

    def exists(self, path: Path) -> bool:
        self._guard(path, self.display(path))
        if self.reader is not None:
            try:
                self.reader(path)
            except (OSError, KeyError, ValueError):
                return False
            return True
        # A FIFO, device or directory "exists": `read` then says what it is instead of
        # "not found". So does a path the system refuses to look up (a name too long, a
        # component that is a file): `read` reports the OSError, located.
        try:
            return path.exists()
        except OSError:
            return True
