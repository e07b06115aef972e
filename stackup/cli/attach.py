"""`up --attach`: stream every container's logs in the foreground, as `docker compose up`
does; Ctrl-C stops the stack's containers; with --abort-on-container-exit the first container
to exit stops the rest."""

from __future__ import annotations

import threading
from collections.abc import Iterable

import click

from stackup.cli.common import LOG_COLOURS
from stackup.model.spec import Stack
from stackup.poll import poll_until
from stackup.usecases.engines import Engine


def attach(
    engine: Engine,
    stack: Stack,
    services: Iterable[str],
    *,
    abort_on_exit: bool,
    exit_code_from: str | None,
) -> int:
    wanted = set(services)
    containers = [
        c
        for c in engine.observe(stack.name).containers
        if c.service in wanted and not c.is_temporary
    ]
    width = max((len(c.service or "") for c in containers), default=0)
    lock = threading.Lock()
    exited: list[tuple[str, str]] = []  # (service, container) in exit order

    def stream(name: str, service: str, index: int) -> None:
        prefix = click.style(f"{service:<{width}} | ", fg=LOG_COLOURS[index % len(LOG_COLOURS)])
        for line in engine.logs(name, follow=True):
            with lock:
                click.echo(prefix + line.decode(errors="replace").rstrip("\n"))
        with lock:
            exited.append((service, name))

    threads = [
        threading.Thread(target=stream, args=(c.name, c.service or "", i), daemon=True)
        for i, c in enumerate(containers)
    ]
    for t in threads:
        t.start()

    def over() -> bool | None:
        ended = abort_on_exit and bool(exited)
        return True if ended or not any(t.is_alive() for t in threads) else None

    try:
        poll_until(over, interval=0.1, timeout=None)
    except KeyboardInterrupt:
        click.echo("stopping ...", err=True)
        _stop_all(engine, [c.name for c in containers])
        return 130
    code = 0
    if abort_on_exit and exited:
        _, name = exited[0]
        click.echo(f"{name} exited; stopping the other containers", err=True)
        _stop_all(engine, [c.name for c in containers if c.name != name])
    if exit_code_from is not None:
        for c in containers:
            if c.service == exit_code_from:
                code = engine.inspect_container(c.name).exit_code
                break
    return code


def _stop_all(engine: Engine, names: list[str]) -> None:
    threads = [threading.Thread(target=engine.stop_container, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
