"""`stackup pull`, `build` and `images`, and the pulls and builds `up` makes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from stackup.cli.common import connect_engine, global_options, print_table
from stackup.cli.options import check_services
from stackup.usecases import engines

if TYPE_CHECKING:
    from stackup.loading.loader import LoadedStack
    from stackup.usecases.engines import DockerEngine, PullEvent


def pull_images(engine: DockerEngine, images: Sequence[str], *, as_json: bool = False) -> None:
    """Pull each image, showing per-layer progress (JSON lines with `as_json`)."""
    import json

    seen: dict[tuple[str, str], str] = {}

    def start(image: str) -> None:
        if not as_json:
            click.echo(f"pulling {image} ...")

    def show(image: str, event: PullEvent) -> None:
        if as_json:
            record = {
                "image": image,
                "layer": event.layer,
                "status": event.status,
                "current": event.current,
                "total": event.total,
            }
            click.echo(json.dumps(record))
            return
        # One line per layer state change, not per byte, so logs stay readable.
        if event.layer and seen.get((image, event.layer)) != event.status:
            seen[(image, event.layer)] = event.status
            click.echo(f"  {event.layer}: {event.status}")

    def done(image: str, image_id: str) -> None:
        if as_json:  # JSON lines only: the result is one more event
            click.echo(json.dumps({"image": image, "status": "pulled", "id": image_id}))
        else:
            click.echo(f"pulled {image} ({image_id.removeprefix('sha256:')[:12]})")

    engines.pull_images(engine, images, show, start, done)


def build_services(loaded: LoadedStack, engine: DockerEngine, services: Sequence[str]) -> list[str]:
    """Build the image of each service that has a `build:` section, streaming its output."""

    return engines.build_images(
        loaded,
        engine,
        services,
        on_line=lambda name, line: click.echo(f"  {name} | {line}"),
        on_start=lambda name, tag: click.echo(f"building {name} → {tag}"),
    )


@click.command("pull")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.argument("services", nargs=-1)
def pull(fmt: str, services: tuple[str, ...]) -> None:
    """Pull the images of the stack's services."""

    loaded = global_options().load()
    check_services(loaded, services)
    names = services or tuple(sorted(loaded.stack.services))
    images = sorted({loaded.stack.services[n].image or "" for n in names} - {""})
    pull_images(connect_engine(), images, as_json=fmt == "json")


@click.command("build")
@click.argument("services", nargs=-1)
def build(services: tuple[str, ...]) -> None:
    """Build the images of services that have a `build:` section."""

    loaded = global_options().load()
    check_services(loaded, services)
    names = services or tuple(sorted(n for n, s in loaded.stack.services.items() if s.build))
    if not names:
        click.echo("no service has a build section")
        return
    build_services(loaded, connect_engine(), names)


@click.command("images")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def images(fmt: str) -> None:
    """List the images the stack's containers use."""
    import json

    loaded = global_options().load()
    observed = connect_engine().observe(loaded.stack.name)
    rows = [
        {
            "container": c.name,
            "service": c.service,
            "image": c.image,
            "id": c.image_id.removeprefix("sha256:")[:12],
        }
        for c in observed.containers
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    print_table(
        ["CONTAINER", "SERVICE", "IMAGE", "IMAGE ID"], [[str(v) for v in r.values()] for r in rows]
    )
