"""What a plan is asked for (`ReconcileOptions`: which services, which flags, the salt, the
file contents read beforehand), and which containers' live settings it needs inspected."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from stackup.engine.observed import Observed, ObservedContainer
from stackup.model import labels as label_keys
from stackup.model.spec import Stack
from stackup.planning import configstate
from stackup.planning import salt as salt_policy


@dataclass(frozen=True)
class ReconcileOptions:
    services: tuple[str, ...] = ()  # empty: every service
    remove_orphans: bool = False
    force_recreate: bool = False
    no_recreate: bool = False
    renew_anon_volumes: bool = False
    scale: Mapping[str, int] = field(default_factory=dict)
    # For a project that has no resource carrying a salt yet (stackup.planning.salt).
    salt: str = salt_policy.UNSET
    file_objects: Mapping[str, bytes] = field(default_factory=dict)
    with_dependencies: bool = True
    # Config files on the host and what each container last applied (stackup.planning.configstate);
    # None: not read (a plan from the stack alone), so no config reloads are planned.
    configs: configstate.ConfigSnapshot | None = None
    # What each bind source of the stack is on the host (stackup.planning.bindsources.host_kinds),
    # read before planning; None: not read, so a failed start leaves the directories it made.
    bind_sources: Mapping[str, str] | None = None
    # `up --adopt`: containers made outside stackup (`docker run`) under the names the stack's
    # containers get, by name; each is replaced by a managed one that keeps its volumes.
    adopt: Mapping[str, ObservedContainer] = field(default_factory=dict)
    # The images to build and pull before the containers (stackup.planning.images): the pull
    # policy (`up --pull`: always, missing, never) and `up --build`. None: no image
    # operations at all (the plan made once they have run).
    pull: str | None = "missing"
    build: bool = False
    # Why the engine cannot update a container in place ("Podman 4.3 cannot update a running
    # container; recreating"), from its target kind's refusal of `Capability.IN_PLACE_UPDATE`;
    # "" when it can. With a reason, a change `docker update` would apply recreates, saying so.
    in_place_refusal: str = ""


def containers_needing_live_config(
    stack: Stack, observed: Observed, options: ReconcileOptions | None = None
) -> list[str]:
    """IDs of the containers whose live settings reconcile compares with the file: every
    container of a service this plan is for. Neither the label's hash nor its spec can
    rule one out, since a `docker update` changes neither."""
    options = options or ReconcileOptions()
    wanted = set(options.services) if options.services and not options.with_dependencies else None
    return sorted(
        c.id
        for c in observed.containers
        if c.service is not None
        and c.service in stack.services
        and (wanted is None or c.service in wanted)
        and c.project == stack.name
        and not c.is_temporary
        and not c.labels.get(label_keys.ONEOFF)
    )
