"""The throwaway twin of a container that validates a file in it (`nginx -t`): planned here,
run by `stackup.targets.engine.throwaway.run_check` (the executor's `CheckInThrowaway` step,
and watch). A single-file bind mount saved by rename is seen only by a new container, so the
new file is checked in one before the running container is replaced."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from stackup.engine.interface import ContainerSpec, NetworkAttachment
from stackup.model import labels as L

CHECK_LABEL = "io.stackup.watch-check"  # its value: the service checked


def check_spec(
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
        # A fixed name: a check left by a crash is removed by the next one (run_check).
        name=f"{base.name}_stackup-check",
        service=svc,
        labels={L.PROJECT: project, CHECK_LABEL: service},
        networks=tuple(NetworkAttachment(a.network) for a in base.networks),
        hostname=None,
    )
