"""The images a stack needs before its containers can be planned exactly: which to build and
which to pull (the policies Compose applies), and doing either over the engine. Progress goes
to callbacks; only the CLI prints it."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Protocol, runtime_checkable

from stackup.engine.interface import Engine, PullEvent
from stackup.errors import UsageError
from stackup.loading.compat import is_aged_pull_policy
from stackup.loading.loader import LoadedStack
from stackup.model.parts import Build
from stackup.planning.desired import image_key, image_ref


@runtime_checkable
class ImageBuilder(Protocol):
    """An engine that builds images (the Docker engine; the in-memory one does not)."""

    def build_image(self, build: Build, tag: str) -> Iterator[str]: ...


def images_to_build(
    loaded: LoadedStack, selected: Sequence[str], local: Collection[str], *, always: bool
) -> list[str]:
    """The `build:` services to build: all of them with `always` (`up --build`), else, as
    Compose does, those whose image does not exist yet."""
    return [
        s
        for s in sorted(selected)
        if loaded.stack.services[s].build is not None
        and (always or image_key(image_ref(loaded.stack, s)) not in local)
    ]


def images_to_pull(
    loaded: LoadedStack, selected: Sequence[str], local: Collection[str], policy: str
) -> list[str]:
    """The images to pull under `policy` (`always`, `missing`, `never`), where a service's own
    `pull_policy` wins; a service that builds its image is not pulled for `missing`."""
    out: set[str] = set()
    for name in sorted(selected):
        service = loaded.stack.services[name]
        if service.image is None:
            continue
        wanted = service.pull_policy or policy
        if is_aged_pull_policy(wanted):
            wanted = "missing"  # stackup does not track image age (a load-time warning says so)
        if wanted in ("never", "build") or (wanted == "missing" and service.build is not None):
            continue
        missing = image_key(service.image) not in local and service.image not in local
        if wanted == "always" or (wanted in ("missing", "if_not_present") and missing):
            out.add(service.image)
    return sorted(out)


def build_images(
    loaded: LoadedStack,
    engine: ImageBuilder,
    services: Sequence[str],
    on_line: Callable[[str, str], None] = lambda service, line: None,
    on_start: Callable[[str, str], None] = lambda service, tag: None,
) -> list[str]:
    """Build the image of each service that has a `build:` section; `on_line(service, line)`
    gets the build output. Returns the tags built."""
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
        on_start(name, tag)
        for line in engine.build_image(service.build, tag):
            on_line(name, line)
        built.append(tag)
    return built


def pull_images(
    engine: Engine,
    images: Sequence[str],
    on_event: Callable[[str, PullEvent], None] = lambda image, event: None,
    on_start: Callable[[str], None] = lambda image: None,
    on_done: Callable[[str, str], None] = lambda image, image_id: None,
) -> None:
    """Pull each image in turn; `on_event(image, event)` gets the per-layer progress."""
    for image in images:
        on_start(image)

        def progress(event: PullEvent, image: str = image) -> None:
            on_event(image, event)

        image_id = engine.pull(image, progress)
        on_done(image, image_id)
