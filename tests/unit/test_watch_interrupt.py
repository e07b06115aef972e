"""Ctrl-C (or SIGTERM, which the CLI turns into the same KeyboardInterrupt) while a watch is
applying a plan stops the watch: the executor absorbs the interrupt to let the running
operations finish, and reports it as `Outcome.interrupted`; watch must not carry on."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from types import FrameType

import pytest

from stackup.api import apply, plan
from stackup.engine.fake import FakeEngine
from stackup.loading.loader import load_text
from stackup.planning.plan import Plan
from stackup.targets.engine.execute import Event
from stackup.watch.events import WatchConfig, WatchEvent
from stackup.watch.loop import Watcher
from stackup.watch.reload import classify

STACK = """
name: wint
services:
  web:
    image: nginx
    volumes:
      - ./conf:/etc/nginx/conf.d:ro
"""


class InterruptedDuringReload(FakeEngine):
    """Sends the process SIGINT from the reload's signal step, as a Ctrl-C typed while the
    reload runs, and finishes the step only once the main thread has taken it."""

    def __init__(self) -> None:
        super().__init__({"nginx:latest": "sha256:" + "a" * 64})
        self.interrupt_taken = threading.Event()

    def kill_container(self, container: str, signal_name: str) -> None:
        super().kill_container(container, signal_name)
        signal.raise_signal(signal.SIGINT)
        assert self.interrupt_taken.wait(30), "the main thread never took the SIGINT"

    def list_projects(self) -> list[dict[str, str | int]]:
        return []


class Events:
    def __init__(self) -> None:
        self.seen: list[WatchEvent] = []

    def event(self, event: WatchEvent) -> None:
        self.seen.append(event)

    def show_plan(self, plan: Plan) -> None:
        pass

    def progress(self) -> AbstractContextManager[Callable[[Event], None]]:
        return contextlib.nullcontext(lambda event: None)


def test_an_interrupt_during_a_reload_stops_the_watch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run").mkdir()
    conf = tmp_path / "conf" / "default.conf"
    conf.parent.mkdir()
    conf.write_text("server { listen 80; }\n")
    loaded = load_text(STACK, working_dir=str(tmp_path))
    engine = InterruptedDuringReload()
    assert apply(plan(loaded, engine), engine).ok
    config = WatchConfig(load=lambda: loaded, connect=lambda: engine, initial_apply=False)
    watcher = Watcher(config, Events())

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        engine.interrupt_taken.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        conf.write_text("server { listen 81; }\n")
        with pytest.raises(KeyboardInterrupt):
            watcher.handle(classify(watcher.targets, [conf]))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert engine.interrupt_taken.is_set()
