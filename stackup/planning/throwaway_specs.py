"""The specs of the throwaway containers made beside a service's, each run to its exit by
`stackup.targets.engine.throwaway.run_check` (the executor's `CheckInThrowaway` step):

* the *validation twin* of a container, which validates a config file in it (`nginx -t`): a
  single-file bind mount saved by rename is seen only by a new container, so the new file is
  validated in one before the running container is replaced (by `up` and by watch);
* the init containers of a service's `pre_start` steps."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from stackup.engine.interface import ContainerSpec, NetworkAttachment
from stackup.model import labels
from stackup.model.parts import PreStartHook

VALIDATION_TWIN_LABEL = "io.stackup.watch-check"  # its value: the service validated


def validation_twin_spec(
    base: ContainerSpec, project: str, service: str, command: Sequence[str]
) -> ContainerSpec:
    """The throwaway twin of `base`: same image, environment, mounts and networks; `command`
    instead of its own; no ports, aliases, health check, restart policy or fixed name, so it
    can run beside the container it checks for."""
    svc = base.service.model_copy(
        update={
            "command": list(command),
            "ports": [],
            "healthcheck": None,
            "restart": None,
            "deploy": None,
            "container_name": None,
            # It runs beside the container it checks, on the same networks.
            "mac_address": None,
            "hostname": None,
        }
    )
    return dataclasses.replace(
        base,
        # A fixed name: a twin left by a crash is removed by the next one (run_check).
        name=f"{base.name}_stackup-check",
        service=svc,
        labels={labels.PROJECT: project, VALIDATION_TWIN_LABEL: service},
        networks=tuple(NetworkAttachment(a.network) for a in base.networks),
        hostname=None,
    )


PRE_START_LABEL = "io.stackup.pre-start"  # its value: the service whose step it runs


def pre_start_spec(
    base: ContainerSpec, container: str, project: str, service: str, index: int, hook: PreStartHook
) -> ContainerSpec:
    """The init container of `service`'s `index`-th `pre_start` step, as Compose creates it
    (docker/compose `pkg/compose/pre_start.go` `createPreStartContainer`): the service's
    container spec with what the step sets instead (compose-go `types.PreStartHook`: scalars
    replace, `environment` adds), the service's image when the step names none, the
    service's networks (no aliases: it is not the service), and the mounts of the created but
    not yet started `container` through `volumes_from`, so what it writes to a volume is
    there when the service starts. Named `<project>-<service>-pre_start-<index>`, as Compose
    names it, so a step left by a crash is removed by the next run."""
    own = base.service
    svc = own.model_copy(
        update={
            "command": hook.command,
            "entrypoint": hook.entrypoint if hook.entrypoint is not None else own.entrypoint,
            "user": hook.user or own.user,
            "working_dir": hook.working_dir or own.working_dir,
            "privileged": hook.privileged or own.privileged,
            "ports": [],
            "healthcheck": None,
            "restart": None,
            "deploy": None,
            "container_name": None,
            "mac_address": None,
            "hostname": None,
            "volumes": [],
            "tmpfs": [],
            "post_start": None,
            "pre_start": None,
        }
    )
    added = {k: v for k, v in hook.environment.items() if v is not None}
    return dataclasses.replace(
        base,
        name=f"{project}-{service}-pre_start-{index}",
        image=hook.image or base.image,
        service=svc,
        labels={labels.PROJECT: project, PRE_START_LABEL: service},
        environment={**base.environment, **added},
        networks=tuple(NetworkAttachment(a.network) for a in base.networks),
        volumes_from=(*base.volumes_from, container),
        mounts=(),
        hostname=None,
    )
