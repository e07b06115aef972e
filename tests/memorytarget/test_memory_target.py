"""A third target plugs into the same runner, use cases and CLI: it plans and applies a
stack, lists and removes it, and the CLI refuses what it does not support in its words."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from stackup import usecases
from stackup.loading.loader import load_text
from stackup.planning.plan import Plan
from stackup.runner import Event
from stackup.targets import registry
from tests.memorytarget.target import ENGINE, MEMORY, MemoryTarget

ROOT = Path(__file__).resolve().parents[2]
STACK = """
name: {name}
services:
  db:
    image: busybox:latest
  web:
    image: busybox:latest
    depends_on: [db]
"""


class Recording:
    def __init__(self) -> None:
        self.plans: list[Plan] = []
        self.events: list[Event] = []

    def lock_wait(self, message: str) -> None:
        return None

    def planned(self, plan: Plan) -> None:
        self.plans.append(plan)

    def confirm_data_loss(self, plan: Plan) -> bool:
        return False

    def confirm_adoption(self, plan: Plan) -> bool:
        return False

    @contextmanager
    def applying(self, plan: Plan) -> Iterator[Callable[[Event], None]]:
        yield self.events.append


@pytest.fixture(autouse=True)
def _registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    registry.register(MEMORY)
    yield
    registry.unregister(MEMORY.name)


def test_it_plans_applies_lists_and_removes_through_the_shared_use_cases() -> None:
    project = f"mem-{uuid.uuid4().hex[:8]}"
    loaded = load_text(STACK.format(name=project))
    chosen = usecases.choose_target("memory", loaded)
    assert chosen.kind is MEMORY
    opened = chosen.open()
    assert isinstance(opened, MemoryTarget)

    applied = usecases.up(loaded, opened, usecases.UpRequest(), Recording())
    assert applied.outcome.ok, applied.outcome
    running = {c.name: c.state for c in ENGINE.observe(project).containers}
    assert running == {f"{project}-db-1": "running", f"{project}-web-1": "running"}
    # Its own interpreter carried the steps out, handed them by the shared runner.
    assert opened.steps.carried_out["CreateContainer"] == 2
    assert opened.steps.carried_out["StartContainer"] == 2

    again = usecases.up(loaded, chosen, usecases.UpRequest(), Recording())
    assert again.plan.operations == ()

    listing = usecases.ps(chosen, project, (), show_all=False)
    assert sorted(str(row["name"]) for row in listing.rows) == sorted(running)

    ui = Recording()
    removed = usecases.down(project, chosen, usecases.DownRequest(), ui)
    assert removed.outcome.ok and ui.events
    assert ENGINE.observe(project).containers == ()


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    stack = tmp_path / "stack.yaml"
    stack.write_text(STACK.format(name=f"mem-{uuid.uuid4().hex[:8]}"), encoding="utf-8")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.memorytarget.cli",
            "--target",
            "memory",
            "-f",
            str(stack),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path)},
        check=False,
    )


def test_the_cli_applies_to_it_by_name(tmp_path: Path) -> None:
    proc = _cli(tmp_path, "up", "--progress", "plain")
    assert proc.returncode == 0, proc.stderr
    assert "db" in proc.stdout and "web" in proc.stdout


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        (("exec", "web", "ls"), "exec is not available with --target memory"),
        (("run", "web", "true"), "run is not available with --target memory"),
        (("stop",), "stop is not available with --target memory"),
        (("watch",), "this command is not available with --target memory"),
        (("up", "--attach"), "--attach is not available with --target memory"),
        (("diff", "--against", "stack.yaml"), "--against and --base are not available"),
    ],
)
def test_the_cli_refuses_what_it_lacks_in_its_words(
    tmp_path: Path, args: tuple[str, ...], refused: str
) -> None:
    proc = _cli(tmp_path, *args)
    assert proc.returncode == 1, proc.stderr
    assert f"error: {refused}" in proc.stderr
    if args[0] != "up":  # the flags' refusal names them, without a hint
        assert "hint: the memory target keeps stacks as data" in proc.stderr
    assert "Traceback" not in proc.stderr
