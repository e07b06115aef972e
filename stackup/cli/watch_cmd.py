"""`stackup watch`: keep a development stack live (see docs/watch.md)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

import click

from stackup.cli.common import connect_engine, global_options, target_choice, use_colour
from stackup.cli.options import check_services, reconcile_flags, reconcile_options
from stackup.cli.progress import Progress
from stackup.errors import UsageError
from stackup.planning.render import render_text
from stackup.usecases import Capability
from stackup.watch.livereload import LiveReloadServer
from stackup.watch.loop import WatchConfig, Watcher

if TYPE_CHECKING:
    from stackup.loading.loader import LoadedStack
    from stackup.planning.options import ReconcileOptions
    from stackup.planning.plan import Plan
    from stackup.usecases import Event
    from stackup.watch.livereload import LiveReloadServer
    from stackup.watch.loop import WatchEvent

_MARKS = {
    "start": "👀",
    "changed": "•",
    "validated": "✔",
    "invalid": "✘",
    "reloaded": "↻",
    "live": "✔",
    "atomic": "!",
    "recreate": "-/+",
    "content": "•",
    "sync": "⇢",
    "rebuild": "⚒",
    "restart": ">",
    "plan": "≡",
    "applied": "✔",
    "skipped": "-",
    "error": "✘",
    "engine": "!",
    "stop": "■",
}


@click.command("watch")
@click.option(
    "--live-reload",
    is_flag=True,
    help="Serve the site through a proxy on 127.0.0.1 that refreshes open pages after a change.",
)
@click.option(
    "--live-reload-port",
    type=int,
    default=0,
    show_default=True,
    help="Port of the live-reload proxy (0: any free port, printed at start).",
)
@click.option(
    "--no-apply",
    is_flag=True,
    help="Do not converge the stack at start; only act on changes.",
)
@reconcile_flags
@click.argument("services", nargs=-1)
def watch(services: tuple[str, ...], **kw: object) -> None:
    """Watch bind mounts, develop.watch paths and the stack file; reload, sync or re-apply.

    nginx configs are validated (nginx -t) in the container before nginx is signalled; a
    broken config is reported at its host file and line and never reaches nginx."""

    opts = global_options()
    loaded = opts.load(bind_sources=True)
    target_choice(loaded).kind.require(Capability.WATCH, "this command")
    check_services(loaded, services)
    options = reconcile_options(loaded, services, kw)
    run(
        loaded,
        services,
        options,
        live_reload=bool(kw["live_reload"]),
        live_reload_port=int(str(kw["live_reload_port"])),
        initial_apply=not kw["no_apply"],
    )


def run(
    loaded: LoadedStack,
    services: tuple[str, ...],
    options: ReconcileOptions,
    *,
    live_reload: bool = False,
    live_reload_port: int = 0,
    initial_apply: bool = True,
) -> None:
    """The watch loop with its printer and helpers; exits 130 on Ctrl-C (143 on SIGTERM),
    with every helper stopped. `up --watch` calls this after its apply."""

    opts = global_options()
    server: LiveReloadServer | None = None
    ui = Printer()
    first = [True]

    def load() -> LoadedStack:
        if first[0]:  # the stack the command already loaded and checked
            first[0] = False
            return loaded
        return opts.load()

    code = 0
    terminated = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        terminated.set()
        raise KeyboardInterrupt

    previous_term = signal.signal(signal.SIGTERM, on_term)
    # Started in the background by a shell, SIGINT arrives ignored: Ctrl-C must still stop us.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if live_reload:
            server = _start_proxy(loaded, services, live_reload_port)
            click.echo(
                f"live reload: {server.url} (proxy to "
                f"{server.upstream_host}:{server.upstream_port}; open pages refresh after a change)"
            )
        config = WatchConfig(
            load=load,
            connect=connect_engine,
            services=services,
            options=options,
            initial_apply=initial_apply,
            on_change=server.notify if server is not None else None,
        )
        Watcher(config, ui).run()
    except KeyboardInterrupt:
        code = 143 if terminated.is_set() else 130
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
        if server is not None:
            server.stop()
    if code:
        click.echo("stopped watching" + (" (interrupted)" if code == 130 else " (terminated)"))
        sys.exit(code)


def _start_proxy(loaded: LoadedStack, services: tuple[str, ...], port: int) -> LiveReloadServer:

    for name in sorted(services or loaded.stack.services):
        for p in loaded.stack.services[name].ports:
            if p.protocol != "tcp" or not p.published or "-" in p.published:
                continue
            if p.target not in (80, 8080, 8000, 3000, 5000):
                continue
            host = p.host_ip or "127.0.0.1"
            if host in ("0.0.0.0", "::", ""):
                host = "127.0.0.1"
            server = LiveReloadServer(port, host, int(p.published))
            server.start()
            return server
    raise UsageError(
        "--live-reload needs a service that publishes an HTTP port (80 or 8080 in the container)",
        hint='add e.g. ports: ["127.0.0.1:8080:80"] to the web service',
    )


class Printer:
    """Watch's events as timestamped lines; plans as `diff` shows them; apply progress plain."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def event(self, event: WatchEvent) -> None:
        stamp = time.strftime("%H:%M:%S")
        mark = _MARKS.get(event.kind, "•")
        stream_err = event.kind in ("invalid", "error")
        with self.lock:
            head = f"[{stamp}] {mark} {event.text}"
            click.echo(head, err=stream_err)
            for line in event.details:
                click.echo(f"    {line}", err=stream_err)
            sys.stdout.flush()

    def show_plan(self, plan: Plan) -> None:

        with self.lock:
            click.echo(render_text(plan, colour=use_colour()), nl=False)

    @contextmanager
    def progress(self) -> Iterator[Callable[[Event], None]]:

        with Progress("plain") as show:
            yield show
