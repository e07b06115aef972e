"""Rendering the executor's events: a live line per resource on a terminal (rich), plain lines
otherwise, JSON lines for machines, or nothing."""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

import click

from stackup.escape import rich_markup, terminal
from stackup.usecases import Event

if TYPE_CHECKING:
    from rich.table import Table

MODES = ("auto", "tty", "plain", "quiet", "json")

# Events that say more about a running operation: a build's output line ("output"), a pulled
# layer's new state ("progress").
_DETAIL = ("output", "progress")
_MARK = {"done": "✔", "failed": "✘", "skipped": "-", "started": "…", "waiting": "…", "step": "…"}


@dataclass
class _Row:
    name: str
    status: str
    message: str
    started: float
    finished: float | None = None


class Progress:
    """A context manager that takes events (from any thread) and shows them."""

    def __init__(self, mode: str = "auto", stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        if mode == "auto":
            mode = "tty" if self.stream.isatty() else "plain"
        self.mode = mode
        self.rows: dict[str, _Row] = {}
        self.lock = threading.Lock()
        self._live: object | None = None

    def __enter__(self) -> Progress:
        if self.mode == "tty":
            from rich.console import Console
            from rich.live import Live

            live = Live(
                self._table(),
                console=Console(file=self.stream),
                refresh_per_second=8,
                transient=False,
            )
            live.__enter__()
            self._live = live
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            from rich.live import Live

            assert isinstance(self._live, Live)
            self._live.update(self._table())
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    def __call__(self, event: Event) -> None:
        with self.lock:
            now = time.monotonic()
            row = self.rows.get(event.op_id)
            if row is None:
                row = self.rows[event.op_id] = _Row(event.name, event.status, event.message, now)
            if event.status in _DETAIL:  # a build line or a layer's state: the row keeps its status
                row.message = event.message or row.message
            else:
                row.status, row.message = event.status, event.message or row.message
            if event.status in ("done", "failed", "skipped"):
                row.finished = now
            if self.mode == "json":
                self.stream.write(
                    json.dumps(
                        {
                            "id": event.op_id,
                            "name": event.name,
                            "status": event.status,
                            "message": event.message,
                            "elapsed": round(event.elapsed, 3),
                        }
                    )
                    + "\n"
                )
                self.stream.flush()
            elif self.mode == "plain":
                if event.status in _DETAIL:
                    sep = " |" if event.status == "output" else ":"
                    # Names and build output come from the stack and its images: escaped.
                    name, message = terminal(event.name), terminal(event.message)
                    self.stream.write(f"   {name}{sep} {message}\n")
                    self.stream.flush()
                elif event.status in ("started", "done", "failed", "skipped", "waiting"):
                    elapsed = f" {event.elapsed:.1f}s" if event.status in ("done", "failed") else ""
                    mark = _MARK.get(event.status, " ")
                    name, message = terminal(event.name), terminal(event.message)
                    self.stream.write(f" {mark} {name:<36} {event.status}{elapsed}  {message}\n")
                    self.stream.flush()
            elif self.mode == "tty" and self._live is not None:
                from rich.live import Live

                assert isinstance(self._live, Live)
                self._live.update(self._table())

    def _table(self) -> Table:
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        now = time.monotonic()
        styles = {"done": "green", "failed": "red", "skipped": "yellow"}
        for row in self.rows.values():
            elapsed = (row.finished or now) - row.started
            mark = _MARK.get(row.status, " ")
            table.add_row(
                f"[{styles.get(row.status, 'cyan')}]{mark}[/]",
                # rich reads `[style]` in a cell as markup: a name or message shows it as text.
                rich_markup(row.name),
                f"[{styles.get(row.status, 'cyan')}]{row.status}[/]",
                f"{elapsed:5.1f}s",
                rich_markup(click.unstyle(row.message)[:80]),
            )
        return table
