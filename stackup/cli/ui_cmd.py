"""`stackup ui`: serve the project's page on this machine, and print its one URL."""

from __future__ import annotations

import sys

import click

from stackup import ui as page
from stackup.cli.common import global_options, target_choice
from stackup.errors import UsageError
from stackup.usecases import Capability

LOOPBACK = "127.0.0.1"


@click.command("ui")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port to listen on (0: a free one).",
)
@click.option("--read-only", is_flag=True, help="Show the page without Apply; refuse every apply.")
@click.option(
    "--listen-address",
    "address",
    default=LOOPBACK,
    show_default=True,
    help="Listen on another address than this machine's loopback: anyone who reaches it and "
    "has the token can apply (a warning is printed).",
)
def ui(port: int, read_only: bool, address: str) -> None:
    """Serve a local page around the plan: the services, the plan as `diff` shows it (made
    again when a file is saved or the engine changes), Apply of exactly that plan, live
    logs, the dependency graph and lint findings. Prints one URL with a new access token;
    Ctrl-C stops it. See docs/ui.md."""

    opts = global_options()
    loaded = opts.load(bind_sources=True)
    chosen = target_choice(loaded)
    refusal = ""
    if not chosen.kind.supports(Capability.SAVED_PLAN):
        refusal = str(chosen.kind.refusal("Apply from the page (it applies a saved plan)"))
    try:
        sock = page.listen(address, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {address}:{port}: {exc.strerror or exc}") from None
    bound = int(sock.getsockname()[1])
    shown = f"[{address}]" if ":" in address else address
    # The names a browser may put in the Host header (DNS rebinding: any other is refused).
    hosts = (LOOPBACK, "localhost") if address == LOOPBACK else (LOOPBACK, "localhost", shown)
    if address != LOOPBACK:
        click.echo(
            f"warning: listening on {address}, not only this machine's loopback: whoever "
            "reaches it with the token can apply this project",
            err=True,
        )
    config = page.UiConfig(
        load_options=opts.load_options(),
        target=chosen,
        project_directory=loaded.project_directory,
        project=loaded.stack.name,
        read_only=read_only,
        apply_refusal=refusal,
    )
    view = page.ProjectView(config, page.Hub())
    keys = page.Keys()
    # One line, flushed at once: a pipe's reader (a script, a test) gets it now.
    click.echo(f"stackup ui: http://{shown}:{bound}/?token={keys.token}")
    sys.stdout.flush()
    try:
        page.serve(view, keys, sock, hosts)
    except KeyboardInterrupt:  # uvicorn stops on Ctrl-C, then raises it again
        click.echo("stopped: the page no longer answers", err=True)
        sys.exit(130)
