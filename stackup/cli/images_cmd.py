"""`stackup pull`, `build` and `images`, and the pulls and builds `up` makes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from stackup.docker_engine import DockerEngine
    from stackup.engine import PullEvent
    from stackup.loader import LoadedStack


def pull_images(engine: DockerEngine, images: Sequence[str], *, as_json: bool = False) -> None:
    """Pull each image, showing per-layer progress (JSON lines with `as_json`)."""
    import json

    for image in images:
        if not as_json:
            click.echo(f"pulling {image} ...")
        seen: dict[str, str] = {}

        def show(event: PullEvent, image: str = image, seen: dict[str, str] = seen) -> None:
            if as_json:
                click.echo(
                    json.dumps(
                        {
                            "image": image,
                            "layer": event.layer,
                            "status": event.status,
                            "current": event.current,
                            "total": event.total,
                        }
                    )
                )
                return
            # One line per layer state change, not per byte, so logs stay readable.
            if event.layer and seen.get(event.layer) != event.status:
                seen[event.layer] = event.status
                click.echo(f"  {event.layer}: {event.status}")

        image_id = engine.pull(image, show)
        if as_json:  # JSON lines only: the result is one more event
            click.echo(json.dumps({"image": image, "status": "pulled", "id": image_id}))
        else:
            click.echo(f"pulled {image} ({image_id.removeprefix('sha256:')[:12]})")


def build_services(loaded: LoadedStack, engine: DockerEngine, services: Sequence[str]) -> list[str]:
    """Build the image of each service that has a `build:` section, streaming its output."""
    import os

    from stackup.desired import image_ref
    from stackup.errors import UsageError

    built = []
    for name in services:
        service = loaded.stack.services[name]
        if service.build is None:
            continue
        context = service.build.context
        if "://" not in context and not os.path.isdir(context):
            mark = loaded.source.value(("services", name, "build"))
            raise UsageError(
                f"the build context {context} of service {name} is not a directory",
                file=mark.file if mark else None,
                line=mark.line if mark else None,
                column=mark.column if mark else None,
                path=f"services.{name}.build.context",
            )
        tag = image_ref(loaded.stack, name)
        click.echo(f"building {name} → {tag}")
        for line in engine.build_image(service.build, tag):
            click.echo(f"  {name} | {line}")
        built.append(tag)
    return built


@click.command("pull")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.argument("services", nargs=-1)
def pull(fmt: str, services: tuple[str, ...]) -> None:
    """Pull the images of the stack's services."""
    from stackup.cli.common import connect_engine, global_options
    from stackup.cli.options import check_services

    loaded = global_options().load()
    check_services(loaded, services)
    names = services or tuple(sorted(loaded.stack.services))
    images = sorted({loaded.stack.services[n].image or "" for n in names} - {""})
    pull_images(connect_engine(), images, as_json=fmt == "json")


@click.command("build")
@click.argument("services", nargs=-1)
def build(services: tuple[str, ...]) -> None:
    """Build the images of services that have a `build:` section."""
    from stackup.cli.common import connect_engine, global_options
    from stackup.cli.options import check_services

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

    from stackup.cli.common import connect_engine, global_options, print_table

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
