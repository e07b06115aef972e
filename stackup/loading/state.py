"""What the loader's parts (`composition`, `service_files`) use of the loader: its options,
its files and caches, and the reading and parsing it does. Declared once, for the type checker;
`stackup.loading.loader._Loader` provides all of it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from stackup.errors import PathElement, SpecValidationError
from stackup.loading.hostpaths import HostPaths
from stackup.loading.source import Mark
from stackup.loading.yamlsource import Node

if TYPE_CHECKING:
    from stackup.loading.loader import LoadOptions


class LoaderState:
    options: LoadOptions
    working_dir: Path
    environ: Mapping[str, str]
    deferred: list[SpecValidationError]
    tainted_marks: set[Mark]
    resolved: dict[tuple[Path, str], Node]
    read_files: list[Path]
    raw_cache: dict[Path, Node]
    host_paths: HostPaths
    defined: set[str]

    if TYPE_CHECKING:

        def _exists(self, path: Path) -> bool: ...

        def check_host_path(
            self, path: Path, node: Node, where: tuple[PathElement, ...], what: str
        ) -> None: ...

        def read(self, path: Path, display: str, missing: str = ...) -> str: ...

        def display(self, path: Path) -> str: ...

        def raw_document(
            self, path: Path, display: str, lookup: Callable[[str], str | None], base: str
        ) -> Node: ...

        def document(
            self,
            path: Path,
            display: str,
            lookup: Callable[[str], str | None],
            base: str,
            include_chain: tuple[Path, ...],
        ) -> Node: ...
