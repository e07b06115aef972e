"""Where each value of a loaded stack came from: file, line and column (1-based).

The loader records a `Mark` for every mapping key and every value it reads, keyed by the
value's path in the *merged* document, so errors found later (validation, graph cycles, lint)
can point at the right line of the right file even after merges, `extends` and `include`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from stackup.errors import PathElement, SpecValidationError

Path = tuple[PathElement, ...]


@dataclass(frozen=True, slots=True)
class Mark:
    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(slots=True)
class SourceMap:
    """Marks of values (`values`) and of the mapping keys that hold them (`keys`)."""

    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)

    def value(self, path: Sequence[PathElement]) -> Mark | None:
        """The mark of the value at `path`, or of its nearest recorded ancestor."""
        return _nearest(self.values, tuple(path))

    def key(self, path: Sequence[PathElement]) -> Mark | None:
        """The mark of the key naming `path`, else of the nearest value mark."""
        exact = self.keys.get(tuple(path))
        return exact if exact is not None else self.value(path)

    def exact_value(self, path: Sequence[PathElement]) -> Mark | None:
        return self.values.get(tuple(path))

    def update(self, other: SourceMap) -> None:
        self.values.update(other.values)
        self.keys.update(other.keys)

    def rebase(self, old: Path, new: Path) -> SourceMap:
        """The marks under `old`, moved to live under `new` (used by extends and include)."""
        n = len(old)
        out = SourceMap()
        for src, dst in ((self.values, out.values), (self.keys, out.keys)):
            for path, mark in src.items():
                if path[:n] == old:
                    dst[new + path[n:]] = mark
        return out

    def paths_under(self, prefix: Path) -> Iterable[Path]:
        n = len(prefix)
        return (p for p in self.values if p[:n] == prefix)


def _nearest(table: Mapping[Path, Mark], path: Path) -> Mark | None:
    while True:
        mark = table.get(path)
        if mark is not None or not path:
            return mark
        path = path[:-1]


class Marked(Protocol):
    """A value that knows where it was written (a YAML `Node`)."""

    mark: Mark | None


def located_error(
    at: Mark | Marked | None,
    path: Sequence[PathElement],
    message: str,
    hint: str | None = None,
) -> SpecValidationError:
    """The stack file's error at `at` (a mark, or a node that has one: file, line, column)
    and `path` (services.web.ports[0]); every located error of loading is made here."""
    mark = at if at is None or isinstance(at, Mark) else at.mark
    return SpecValidationError(
        message,
        file=mark.file if mark else None,
        line=mark.line if mark else None,
        column=mark.column if mark else None,
        path=path,
        hint=hint,
    )
