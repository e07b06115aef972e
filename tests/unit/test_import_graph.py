"""The package's import graph as fitness functions (read from the syntax trees by
tests/importgraph.py): layers only import downwards, sub-packages form no circle, planning and
below never reach the docker adapter, the CLI reaches the rest through the use cases, and
the CLI never asks a target for its name."""

from __future__ import annotations

import ast
from pathlib import Path

import stackup
from tests import importgraph

ROOT = Path(stackup.__file__).resolve().parent
IMPORTS = list(importgraph.imports(ROOT))


def _shown(found: list[importgraph.Import]) -> list[str]:
    return [f"{i.importer}:{i.line} -> {i.imported}" for i in found]


def _into_docker_from_core(i: importgraph.Import) -> bool:
    below = importgraph.layer_of(i.importer) <= importgraph.layer_of("stackup.planning")
    return below and i.imported.startswith("stackup.engine.docker")


def test_no_module_imports_a_higher_layer() -> None:
    # model < loading < engine interface < planning < engine/targets < use cases < cli/ui;
    # the core's reach into the docker adapter is the next test's.
    upward = [i for i in importgraph.upward(IMPORTS) if not _into_docker_from_core(i)]
    assert _shown(upward) == []


def test_planning_model_and_loading_never_import_the_docker_adapter() -> None:
    assert _shown([i for i in IMPORTS if _into_docker_from_core(i)]) == []


def test_no_circle_between_sub_packages() -> None:
    assert importgraph.subpackage_cycles(IMPORTS) == []


def test_no_circle_between_modules_at_import_time() -> None:
    assert importgraph.module_cycles(IMPORTS) == []


# What the CLI may import besides itself: the use cases, what it renders (plans, graphs,
# errors, escaped text) and the options it builds (load, trust, scale and reconcile options,
# the models its flags name), and the one poll loop.
CLI_MAY_IMPORT = (
    "stackup",
    "stackup.usecases",
    "stackup.poll",
    "stackup.loading.hostpaths",
    "stackup.loading.consistency",
    "stackup.watch",
    "stackup.review",
    "stackup.importing",
    "stackup.lint",
    "stackup.errors",
    "stackup.escape",
    "stackup.model",
    "stackup.loading.loader",
    "stackup.planning.render",
    "stackup.planning.graph",
    "stackup.planning.plan",
    "stackup.planning.options",
    "stackup.ui",
)


def _allowed_for_cli(module: str) -> bool:
    return (
        any(
            module == prefix or module.startswith(prefix + ".")
            for prefix in CLI_MAY_IMPORT
            if prefix != "stackup"
        )
        or module in ("stackup", "stackup.cli")
        or module.startswith("stackup.cli.")
    )


def test_the_cli_imports_only_use_cases_renderers_and_options() -> None:
    found = [
        i
        for i in IMPORTS
        if importgraph.subpackage(i.importer) == "cli" and not _allowed_for_cli(i.imported)
    ]
    assert _shown(found) == []


# The page is the CLI's sibling: the same use cases, renderers and options (and the page's
# own modules); the CLI reaches it as one more thing it starts.
def _allowed_for_ui(module: str) -> bool:
    if module.startswith("stackup.ui"):
        return True
    return _allowed_for_cli(module) and not module.startswith("stackup.cli")


def test_the_ui_imports_only_use_cases_renderers_and_options() -> None:
    found = [
        i
        for i in IMPORTS
        if importgraph.subpackage(i.importer) == "ui" and not _allowed_for_ui(i.imported)
    ]
    assert _shown(found) == []
    assert any(importgraph.subpackage(i.importer) == "ui" for i in IMPORTS)  # it is seen


# ---------------------------------------------------------------- no target names in the CLI


def _target_names() -> set[str]:
    from stackup.targets.registry import names

    return set(names()) | {"engine", "swarm"}


def _name_comparisons(tree: ast.AST, names: set[str]) -> list[int]:
    """Lines comparing with a target's name, or asking whether an object is of a target
    class (`isinstance(x, EngineTarget)`)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for operand in operands:
                values = (
                    operand.elts
                    if isinstance(operand, ast.Tuple | ast.List | ast.Set)
                    else [operand]
                )
                if any(isinstance(v, ast.Constant) and v.value in names for v in values):
                    lines.append(node.lineno)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("isinstance", "issubclass")
            and len(node.args) == 2
        ):
            classes = ast.unparse(node.args[1])
            if "Target" in classes or "Swarm" in classes or "Engine" in classes:
                lines.append(node.lineno)
    return lines


def test_the_cli_and_the_ui_never_compare_a_targets_name() -> None:
    names = _target_names()
    found = {
        str(path.relative_to(ROOT)): lines
        for path in sorted([*(ROOT / "cli").rglob("*.py"), *(ROOT / "ui").rglob("*.py")])
        if (lines := _name_comparisons(ast.parse(path.read_text(encoding="utf-8")), names))
    }
    assert found == {}


def test_the_name_check_sees_what_it_forbids() -> None:
    sample = ast.parse(
        'if target(loaded) == "swarm": pass\n'
        'if chosen.name in ("engine",): pass\n'
        "if isinstance(chosen, EngineTarget): pass\n"
    )
    assert _name_comparisons(sample, _target_names()) == [1, 2, 3]
