"""A service's effective settings where the stack file has two ways to say one thing: `restart`
or `deploy.restart_policy`, and `cpus`, `mem_limit`, `mem_reservation`, `pids_limit` or
`deploy.resources` (the top-level key wins, as in Compose v2 on a single engine). In neutral
units (nanoCPUs, bytes, a count): what the Docker adapter sends (stackup.engine.docker.convert),
what the fake engine keeps and what planning compares with a live container, worked out once."""

from __future__ import annotations

from typing import NamedTuple

from stackup.model.parts import ResourceSpec
from stackup.model.spec import Service

NANO = 1_000_000_000  # nanoCPUs per CPU, nanoseconds per second


class Restart(NamedTuple):
    """A restart policy as engines take it: a name (`no`, `always`, `unless-stopped`,
    `on-failure`) and, for `on-failure`, how many times at most (0: no limit)."""

    name: str
    maximum_retry_count: int = 0

    @property
    def text(self) -> str:
        """As Compose spells it: `no`, `always`, `on-failure`, `on-failure:3`."""
        name = self.name or "no"
        if name == "on-failure":
            count = self.maximum_retry_count
            return f"on-failure:{count}" if count else "on-failure"
        return name


def restart(service: Service) -> Restart:
    """`restart:`; `deploy.restart_policy` when `restart` is unset (Compose v2 reads it the
    same way for a single engine)."""
    text = service.restart
    if text is None and service.deploy is not None and service.deploy.restart_policy is not None:
        policy = service.deploy.restart_policy
        if policy.condition == "on-failure":
            text = f"on-failure:{policy.max_attempts}" if policy.max_attempts else "on-failure"
        elif policy.condition == "none":
            text = "no"
        else:
            text = "always"
    if text is None or text == "no":
        return Restart("no")
    if text.startswith("on-failure"):
        _, _, count = text.partition(":")
        return Restart("on-failure", int(count or 0))
    return Restart(text)


def limits(service: Service) -> ResourceSpec | None:
    if service.deploy is None or service.deploy.resources is None:
        return None
    return service.deploy.resources.limits


def reservations(service: Service) -> ResourceSpec | None:
    if service.deploy is None or service.deploy.resources is None:
        return None
    return service.deploy.resources.reservations


def nano_cpus(service: Service) -> int:
    """The CPU limit in nanoCPUs; 0: none."""
    cpus = service.cpus
    limit = limits(service)
    if cpus is None and limit is not None:
        cpus = limit.cpus
    return round(float(cpus) * NANO) if cpus else 0


def memory_limit(service: Service) -> int:
    """The memory limit in bytes; 0: none."""
    limit = limits(service)
    if service.mem_limit is not None:
        return service.mem_limit
    return limit.memory or 0 if limit is not None else 0


def memory_reservation(service: Service) -> int:
    """The memory reservation (soft limit) in bytes; 0: none."""
    reservation = reservations(service)
    if service.mem_reservation is not None:
        return service.mem_reservation
    return reservation.memory or 0 if reservation is not None else 0


def pids_limit(service: Service) -> int | None:
    """The most processes the container may run; None: no limit set."""
    limit = limits(service)
    if service.pids_limit is not None:
        return service.pids_limit
    return limit.pids if limit is not None else None
