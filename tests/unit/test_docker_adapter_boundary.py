"""The Docker adapter (stackup.engine.docker) is reached only through the Engine interface:
planning, the model, loading, the in-memory fake and watch never import it, at module level
or inside a function (neutral normalisers live in stackup.model.effective)."""

from __future__ import annotations

import ast
from pathlib import Path

import stackup


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def test_planning_model_loading_watch_and_the_fake_never_import_the_docker_adapter() -> None:
    root = Path(stackup.__file__).parent
    checked = [
        *(
            p
            for inner in ("model", "loading", "planning", "watch")
            for p in (root / inner).rglob("*.py")
        ),
        root / "engine" / "fake.py",
        root / "engine" / "interface.py",
    ]
    crossings = [
        f"{path.relative_to(root)}:{line}: {name}"
        for path in sorted(checked)
        for line, name in _imports(path)
        if name.startswith("stackup.engine.docker")
    ]
    assert crossings == []
