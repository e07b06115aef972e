"""The images a plan builds and pulls before its containers: which, and why (the policies
Compose applies), as operations of the plan, so `diff` shows them and `up` runs them first.

Pure: the stack, the images the engine has (`Observed.images`) and the options go in,
operations come out. Containers created or recreated from such an image run `after` it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace

from stackup.loading.compat import is_aged_pull_policy
from stackup.model.spec import Stack
from stackup.planning.desired import image_key, image_ref
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Action, BuildImage, Kind, Operation, PullImage


def builders(stack: Stack) -> dict[str, str]:
    """The service that builds each image, by local tag: a service with `build:` builds the
    image it runs. Two services that build the same tag build it once (the first by name)."""
    out: dict[str, str] = {}
    for name in sorted(stack.services):
        if stack.services[name].build is not None:
            out.setdefault(image_key(image_ref(stack, name)), name)
    return out


def to_build(
    stack: Stack, selected: Iterable[str], local: Collection[str], *, always: bool
) -> dict[str, str]:
    """The `build:` services to build, each with why: all of them with `always`
    (`up --build`), else, as Compose does, those whose image does not exist yet. A selected
    service that runs an image another service builds (`image: local/app:dev` beside
    `build: ./app` with the same `image:`) has it built by that service, once: Compose
    builds such an image rather than pull it."""
    by_tag = builders(stack)
    out = {}
    for tag in sorted({image_key(image_ref(stack, name)) for name in selected}):
        builder = by_tag.get(tag)
        if builder is None:
            continue
        if always:
            out[builder] = "--build"
        elif tag not in local:
            out[builder] = f"image {image_ref(stack, builder)} does not exist yet"
    return dict(sorted(out.items()))


def to_pull(
    stack: Stack, selected: Iterable[str], local: Collection[str], policy: str
) -> dict[str, str]:
    """The images to pull under `policy` (`always`, `missing`, `never`), each with why; a
    service's own `pull_policy` wins, and an image a service of the stack builds is not
    pulled for `missing`."""
    built = builders(stack)
    out: dict[str, str] = {}
    for name in sorted(selected):
        service = stack.services[name]
        if service.image is None:
            continue
        own = service.pull_policy
        wanted = own or policy
        if is_aged_pull_policy(wanted):
            wanted = "missing"  # stackup does not track image age (a load-time warning says so)
        if wanted in ("never", "build") or (
            wanted == "missing" and image_key(service.image) in built
        ):
            continue
        missing = image_key(service.image) not in local and service.image not in local
        if wanted == "always":
            why = f"{name}'s pull_policy is always" if own else "--pull always"
            out.setdefault(service.image, why)
        elif wanted in ("missing", "if_not_present") and missing:
            out.setdefault(service.image, "not present on the engine")
    return dict(sorted(out.items()))


def build_operations(
    stack: Stack, selected: Iterable[str], local: Collection[str], *, always: bool
) -> list[Operation]:
    """An operation per `build:` service to build (`to_build`), in name order."""
    ops = []
    for name, why in to_build(stack, selected, local, always=always).items():
        section = stack.services[name].build
        assert section is not None  # to_build chose it for its build section
        tag = image_ref(stack, name)
        ops.append(
            Operation(
                id=f"build:{name}",
                action=Action.BUILD,
                kind=Kind.IMAGE,
                name=tag,
                reason=why,
                service=name,
                steps=(BuildImage(name, tag, section),),
            )
        )
    return ops


def image_operations(
    stack: Stack,
    selected: Iterable[str],
    local: Collection[str],
    *,
    pull: str,
    build: bool,
) -> list[Operation]:
    """Build operations, then pull operations, in name order. A service that both pulls and
    builds its image (`--pull always` with `image:` and `build:`) builds after the pull, so
    the build is what it runs, as with Compose."""
    chosen = sorted(selected)
    pulls = [
        Operation(
            id=f"pull:{image}",
            action=Action.PULL,
            kind=Kind.IMAGE,
            name=image,
            reason=why,
            steps=(PullImage(image),),
        )
        for image, why in to_pull(stack, chosen, local, pull).items()
    ]
    pulled = {image_key(op.name): op.id for op in pulls}
    builds = [
        replace(op, after=(pulled[image_key(op.name)],)) if image_key(op.name) in pulled else op
        for op in build_operations(stack, chosen, local, always=build)
    ]
    return [*builds, *pulls]


def after_images(
    stack: Stack, images: list[Operation], ops: Iterable[Operation]
) -> list[Operation]:
    """`ops` with each container operation that creates a container of a service whose image
    one of `images` builds or pulls made to run after it (a build, over a pull of the same
    tag: the build runs after that pull, and is what the container runs)."""
    if not images:
        return list(ops)
    pulled = {image_key(op.name): op.id for op in images if op.action == Action.PULL}
    built = {image_key(op.name): op.id for op in images if op.action == Action.BUILD}
    by_image = {**pulled, **built}
    out = []
    for op in ops:
        needs = None
        if op.kind == Kind.CONTAINER and op.service is not None and op.service in stack.services:
            needs = by_image.get(image_key(image_ref(stack, op.service)))
        if needs is not None and op.action in (Action.CREATE, Action.RECREATE):
            op = replace(op, after=(needs, *op.after))
        out.append(op)
    return out


def with_images(
    stack: Stack,
    selected: Iterable[str],
    local: Collection[str],
    options: ReconcileOptions,
    ops: Iterable[Operation],
) -> tuple[Operation, ...]:
    """The plan's operations: the image operations `options` ask for first, then `ops`, the
    container operations among them after the image they need."""
    if options.pull is None:
        return tuple(ops)
    images = image_operations(stack, selected, local, pull=options.pull, build=options.build)
    return (*images, *after_images(stack, images, ops))
