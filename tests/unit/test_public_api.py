"""The public API is what `__all__` says, and every name in it resolves."""

from __future__ import annotations

import re
import subprocess
import sys

import stackup


def test_all_names_resolve() -> None:
    assert sorted(stackup.__all__) == [
        "DownRequest",
        "StackupError",
        "UpRequest",
        "__version__",
        "apply",
        "down",
        "load",
        "plan",
        "up",
    ]
    for name in stackup.__all__:
        assert getattr(stackup, name) is not None


def test_import_is_light() -> None:
    # `stackup --version` must not pay for pydantic, docker or rich.
    code = "import sys, stackup.cli; print(','.join(m for m in ('pydantic', 'docker', 'rich', 'networkx') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_planning_does_not_import_networkx() -> None:
    # Every diff and up plans; networkx alone cost 0.13-0.2 s of a no-op run (docs/benchmarks.md).
    code = "import sys, stackup.api, stackup.cli.diff_cmd, stackup.cli.up_cmd, stackup.cli.graph_cmd; print('networkx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_errors_have_one_root() -> None:
    from stackup import errors

    for name in dir(errors):
        obj = getattr(errors, name)
        if (
            isinstance(obj, type)
            and issubclass(obj, Exception)
            and obj.__module__ == errors.__name__
        ):
            assert issubclass(obj, errors.StackupError)


def test_only_the_docker_package_imports_docker() -> None:
    from pathlib import Path

    root = Path(stackup.__file__).parent
    importers = sorted(
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if any(
            line.strip().startswith(("import docker", "from docker"))
            for line in p.read_text(encoding="utf-8").splitlines()
        )
    )
    # Only the stackup.engine.docker sub-package: the single engine (with its shared call
    # handling and its image calls) and the swarm primitives (services, configs, secrets).
    assert importers
    assert all(path.startswith("engine/docker/") for path in importers), importers


def test_the_public_functions_stay_functions_once_everything_is_imported() -> None:
    # A sub-package named like a public function (`stackup.plan`) would replace it as an
    # attribute of the package on first import: `stackup.plan(...)` then fails.
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(stackup.__path__, "stackup."):
        if not info.name.endswith("__main__"):  # that one runs the CLI
            importlib.import_module(info.name)
    for name in ("apply", "down", "load", "plan", "up"):
        assert callable(getattr(stackup, name)) and not isinstance(
            getattr(stackup, name), type(stackup)
        ), name


def test_core_never_prints() -> None:
    from pathlib import Path

    root = Path(stackup.__file__).parent
    offenders = []
    for p in root.rglob("*.py"):
        rel = p.relative_to(root)
        if rel.parts[0] == "cli":
            continue
        text = p.read_text(encoding="utf-8")
        if re.search(r"(?<![\w.])print\(|sys\.exit\(|click\.echo", text):
            offenders.append(str(rel))
    assert offenders == []


def test_inner_layers_never_import_outer_ones() -> None:
    """model, loading, planning and engine are the core: they never import a target, watch,
    lint, import or the CLI (which build on them). A module-level or function-level import
    both count."""
    import re
    from pathlib import Path

    root = Path(stackup.__file__).parent
    outer = re.compile(
        r"^\s*(from|import) stackup\.(targets|watch|lint|importing|cli|api|review)\b"
    )
    crossings = [
        f"{p.relative_to(root)}:{n}: {line.strip()}"
        for inner in ("model", "loading", "planning", "engine")
        for p in sorted((root / inner).rglob("*.py"))
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if outer.match(line)
    ]
    assert crossings == []
