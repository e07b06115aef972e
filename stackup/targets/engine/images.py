"""Building and pulling images over the engine, for `stackup build` and `stackup pull` (`up`
plans them: stackup.planning.images), and the check of build contexts before a build.
Progress goes to callbacks; only the CLI prints it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol, runtime_checkable

from stackup.engine.interface import Engine, PullEvent
from stackup.errors import ApplyError, UsageError
from stackup.loading.loader import LoadedStack
from stackup.model.parts import Build
from stackup.planning.desired import image_ref
from stackup.planning.plan import BuildImage
from stackup.runner import StepRun


@runtime_checkable
class ImageBuilder(Protocol):
    """An engine that builds images (the Docker engine; the in-memory one does not)."""

    def build_image(self, build: Build, tag: str) -> Iterator[str]: ...


def build_image(builder: object, step: BuildImage, run: StepRun) -> None:
    """The `BuildImage` step of a plan, on whichever target holds the builder (one engine; a
    swarm builds on its manager): each line of the build's output is an event."""
    if not isinstance(builder, ImageBuilder):
        raise ApplyError(f"this engine cannot build images (needed by {step.service})")
    context = step.build.context
    if "://" not in context and not os.path.isdir(context):
        raise ApplyError(
            f"the build context {context} of service {step.service} is not a directory"
        )
    for line in builder.build_image(step.build, step.tag):
        if line.strip():
            run.report("output", line)
    run.step_done(f"built {step.tag}")


def check_build_contexts(loaded: LoadedStack, services: Iterable[str]) -> None:
    """Refuse, located at the `build:` key, a build whose context directory does not exist
    (the engine would fail later, and docker-py with a TypeError)."""
    for name in services:
        build = loaded.stack.services[name].build
        if build is None or "://" in build.context or os.path.isdir(build.context):
            continue
        mark = loaded.source.value(("services", name, "build"))
        raise UsageError(
            f"the build context {build.context} of service {name} is not a directory",
            file=mark.file if mark else None,
            line=mark.line if mark else None,
            column=mark.column if mark else None,
            path=f"services.{name}.build.context",
        )


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
    check_build_contexts(loaded, services)
    for name in services:
        service = loaded.stack.services[name]
        if service.build is None:
            continue
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
