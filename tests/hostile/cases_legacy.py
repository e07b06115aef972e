"""The first corpus (tests/unit/hostile_cases.py, 262 cases), by class, under the new judge."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

from tests.unit import hostile_cases as v1
from tests.unit.hostile_cases import Case

_CLASSES: dict[str, Callable[[], Iterator[Case]]] = {
    "leak-error": v1._secret_in_errors,
    "taint": v1._secret_in_output,
    "not-file": v1._not_files,
    "hang": v1._blow_ups,
    "overflow": v1._overflows,
    "cli-path": v1._cli_paths,
    "forge": v1._names,
}

# Case name → why it still fails (the harness marks these xfail; remove an entry with its fix).
KNOWN_FAILURES: dict[str, str] = {
    "legacy-network_name_markdown[diff-against-format-markdown]": (
        "a `|` inside a code span in a table cell splits the cell on GitHub (issue 26, forge)"
    ),
}


def cases() -> list[Case]:
    return [
        dataclasses.replace(case, name=f"legacy-{case.name}", klass=klass)
        for klass, generate in _CLASSES.items()
        for case in generate()
    ]
