"""The package's import graph, read from its syntax trees (no import runs): which stackup
module imports which, at module level or inside a function, and the layer of each.

Used by tests/unit/test_import_graph.py (the fitness functions) and runnable as a script
(`python tests/importgraph.py [ROOT]`) for the counts the renovation reports."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Lowest first, by module prefix under `stackup.` (the longest prefix decides). A module may
# import its own layer and the ones below, never one above. The engine's interface (the
# protocol and the values it observes) is what planning reads, so it sits below planning;
# the engine's implementations (docker/, the fake) sit beside the targets that drive them.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ground", ("poll", "escape", "gcpause")),
    ("model", ("model", "errors")),
    ("loading", ("loading",)),
    (
        "engine interface",
        ("engine.interface", "engine.observed", "engine.swarm_interface", "engine"),
    ),
    ("planning", ("planning",)),
    ("engine/targets", ("engine.docker", "engine.podman", "engine.fake", "targets", "runner")),
    ("use cases", ("usecases", "api", "watch", "review", "importing", "lint", "")),
    ("cli/ui", ("cli", "ui", "__main__")),
)


def layer_of(module: str) -> int:
    """The layer of `stackup.x.y`: the one with the longest prefix of `x.y` (the package
    root `stackup` itself is the public API, a use case)."""
    rest = module.removeprefix("stackup").removeprefix(".")
    best, best_len = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = rest == prefix or rest.startswith(prefix + ".") or prefix == ""
            if matches and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best < 0:
        raise KeyError(f"{module}: in no layer of tests/importgraph.py")
    return best


def layer_name(module: str) -> str:
    return LAYERS[layer_of(module)][0]


def subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


@dataclass(frozen=True)
class Import:
    importer: str  # stackup.x.y
    imported: str  # stackup.a.b (a module, or a package)
    line: int
    in_function: bool
    type_only: bool  # under `if TYPE_CHECKING:`


def module_name(root: Path, path: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(root: Path, importer: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level:
        base = importer.split(".")
        base = base if is_package else base[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    if not prefix.startswith("stackup"):
        return []
    found = []
    for alias in node.names:
        candidate = f"{prefix}.{alias.name}"
        path = root.parent / Path(*candidate.split("."))
        if path.with_suffix(".py").exists() or (path / "__init__.py").exists():
            found.append(candidate)  # `from stackup.planning import salt`: the module
        else:
            found.append(prefix)
    return found


def imports(root: Path) -> Iterator[Import]:
    for path in sorted(root.rglob("*.py")):
        importer = module_name(root, path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        yield from _walk(root, importer, path.name == "__init__.py", tree, False, False)


def _walk(
    root: Path, importer: str, is_package: bool, node: ast.AST, in_function: bool, type_only: bool
) -> Iterator[Import]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import):
            for alias in child.names:
                if alias.name.startswith("stackup"):
                    yield Import(importer, alias.name, child.lineno, in_function, type_only)
        elif isinstance(child, ast.ImportFrom):
            for imported in _resolve(root, importer, is_package, child):
                yield Import(importer, imported, child.lineno, in_function, type_only)
        else:
            function = in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            checking = type_only or (
                isinstance(child, ast.If)
                and isinstance(child.test, ast.Name)
                and child.test.id == "TYPE_CHECKING"
            )
            yield from _walk(root, importer, is_package, child, function, checking)


def upward(found: list[Import]) -> list[Import]:
    """Imports from a lower layer into a higher one (type-only ones included: they couple)."""
    return [i for i in found if layer_of(i.imported) > layer_of(i.importer)]


def subpackage_cycles(found: list[Import]) -> list[tuple[str, ...]]:
    """The strongly connected groups of sub-packages (more than one member) in the graph of
    runtime imports between sub-packages."""
    edges: dict[str, set[str]] = {}
    for i in found:
        if i.type_only:
            continue
        a, b = subpackage(i.importer), subpackage(i.imported)
        if a != b and "__init__" not in (a, b):
            edges.setdefault(a, set()).add(b)
            edges.setdefault(b, set())
    return _components(edges)


def module_cycles(found: list[Import], *, every: bool = False) -> list[tuple[str, ...]]:
    """The strongly connected groups of modules: of the imports that run at module level, or
    (`every`) of all of them, those in functions and for type checking included."""
    edges: dict[str, set[str]] = {}
    for i in found:
        if i.importer == i.imported or (not every and (i.type_only or i.in_function)):
            continue
        if i.imported.startswith(i.importer + "."):
            continue  # a package's __init__ importing its own module
        edges.setdefault(i.importer, set()).add(i.imported)
        edges.setdefault(i.imported, set())
    return _components(edges)


def _components(edges: dict[str, set[str]]) -> list[tuple[str, ...]]:
    # Tarjan's algorithm, iterative.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[tuple[str, ...]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(tuple(sorted(group)))
    return sorted(groups)


def largest_functions(root: Path, count: int = 5) -> list[tuple[int, str]]:
    sizes = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno:
                where = f"{module_name(root, path)}.{node.name}"
                sizes.append((node.end_lineno - node.lineno + 1, where))
    return sorted(sizes, reverse=True)[:count]


def main(root: Path) -> None:
    found = list(imports(root))
    up = upward(found)
    cli = [i for i in found if subpackage(i.importer) == "cli"]
    cli_targets = {i.imported for i in cli if subpackage(i.imported) != "cli"}
    print(f"upward imports: {len(up)}")
    for i in up:
        print(f"  {i.importer}:{i.line} -> {i.imported}")
    print(f"sub-package cycles: {subpackage_cycles(found)}")
    print(f"module cycles (module-level imports): {module_cycles(found)}")
    print(f"module cycles (every import): {module_cycles(found, every=True)}")
    print(f"stackup modules the CLI imports: {len(cli_targets)}")
    print(f"CLI function-level imports: {sum(1 for i in cli if i.in_function)}")
    print(f"largest functions: {largest_functions(root)}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "stackup").resolve())
