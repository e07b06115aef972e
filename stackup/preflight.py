"""Checks `up` makes before it starts anything: what would make it fail half-way is reported
first, naming what is in the way (Compose finds a taken port only when a container fails)."""

from __future__ import annotations

import errno
import socket

from stackup.engine import Engine
from stackup.errors import ApplyError
from stackup.plan import Action, CreateContainer, Plan
from stackup.spec import Stack


def check(plan: Plan, engine: Engine, stack: Stack) -> None:
    if plan.blockers:
        raise ApplyError(plan.blockers[0], hint="nothing was started")
    _ports_free(plan, engine, stack)


def _ports_free(plan: Plan, engine: Engine, stack: Stack) -> None:
    """Host ports the plan's new containers publish must be free, except those our own
    containers hold now (a recreate stops the old one first)."""
    if not _engine_is_local(engine):
        return
    for op in plan.operations:
        if op.action == Action.RECREATE:
            continue  # the container it replaces holds the port until it is stopped
        for step in op.steps:
            if not isinstance(step, CreateContainer):
                continue
            for port in step.spec.service.ports:
                if not port.published or "-" in port.published:
                    continue
                host = port.host_ip or "0.0.0.0"
                if not _can_bind(host, int(port.published), port.protocol):
                    raise ApplyError(
                        f"port {host}:{port.published}/{port.protocol} of service {op.service} is already "
                        "in use on this machine; nothing was started",
                        hint=f"stop what listens there (`ss -ltnp 'sport = :{port.published}'`, "
                        "`docker ps --filter publish="
                        + port.published
                        + "`) or publish another port",
                    )


def _engine_is_local(engine: Engine) -> bool:
    endpoint = getattr(engine, "endpoint", None)
    url = str(getattr(endpoint, "base_url", "unix://"))
    return (
        url.startswith(("unix://", "http+unix://", "npipe://"))
        or "127.0.0.1" in url
        or "localhost" in url
    )


def _can_bind(host: str, port: int, protocol: str) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(family, kind) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno not in (errno.EADDRINUSE, errno.EACCES)
    return True
