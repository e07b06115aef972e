"""The images a swarm deploy pushes first: with `x-stackup.registry`, each local image the
stack names goes to that registry, since every node pulls it there by name. Pure: what the
engine has locally (ID and repository digests) goes in, push operations and the digests
already known come out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from stackup.model.spec import Stack
from stackup.planning.desired import image_ref
from stackup.planning.plan import Action, Kind, Operation
from stackup.targets.swarm.desired import deployed_image
from stackup.targets.swarm.steps import PushImage

# A local image: its ID and its repository digests (`registry/repo@sha256:…`).
LocalImage = tuple[str, tuple[str, ...]]


def repository(image: str) -> str:
    """`registry:5000/app:v1` → `registry:5000/app` (a digest reference loses its digest)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[0] if ":" in last else name


def pushes(
    stack: Stack,
    selected: Iterable[str],
    registry: str | None,
    local: Mapping[str, LocalImage | None],
) -> tuple[list[Operation], dict[str, str]]:
    """The push operations, and the digest of each deployed image already in the registry
    (the local image carries a digest of that repository: it was pushed as it is now).
    `local` maps each service's local image name to what the engine has, None if absent
    (then the nodes pull the image as it is named)."""
    if not registry:
        return [], {}
    ops: dict[str, Operation] = {}
    digests: dict[str, str] = {}
    for name in sorted(selected):
        source = image_ref(stack, name)
        target = deployed_image(stack, name, registry)
        found = local.get(source)
        if found is None or target in ops or target in digests:
            continue
        _, repo_digests = found
        known = [d for d in repo_digests if d.split("@", 1)[0] == repository(target)]
        if known:
            digests[target] = known[0].split("@", 1)[1]
            continue
        ops[target] = Operation(
            id=f"push:{target}",
            action=Action.PUSH,
            kind=Kind.IMAGE,
            name=target,
            reason=f"{registry} does not have this {source} yet; every node pulls it from there",
            steps=(PushImage(source, target),),
        )
    return list(ops.values()), digests
