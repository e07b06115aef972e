"""Checks `up` makes before it starts anything: what would make it fail half-way is reported
first, naming what is in the way (Compose finds a taken port only when a container fails)."""

from __future__ import annotations

import errno
import socket
from typing import Protocol

from stackup.engine.docker.connect import is_local
from stackup.engine.interface import Engine
from stackup.errors import ApplyError
from stackup.model.spec import Stack
from stackup.planning.plan import CreateContainer, Operation, Plan, RemoveContainer, StopContainer


class HostPorts(Protocol):
    """What the engine's host says about a port no container publishes: a fact handed in, so
    that only the real engine's target probes the real host."""

    def held_by_a_process(self, host: str, port: int, protocol: str) -> bool: ...


class ThisHost:
    """The engine runs on this machine: a port is held when binding it fails."""

    def held_by_a_process(self, host: str, port: int, protocol: str) -> bool:
        return not _can_bind(host, port, protocol)


class UnknownHost:
    """A remote engine, or one in memory: nothing is known about its host's processes (the
    engine itself refuses a taken port when the container starts)."""

    def held_by_a_process(self, host: str, port: int, protocol: str) -> bool:
        return False


def host_ports_of(engine: Engine) -> HostPorts:
    """This machine for an engine reached on it (`engine_is_local`); an engine with no
    address (the in-memory fake) is on no host of ours: its ports are never probed here."""
    if not isinstance(getattr(engine, "base_url", None), str):
        return UnknownHost()
    return ThisHost() if engine_is_local(engine) else UnknownHost()


def check(plan: Plan, engine: Engine, stack: Stack, host: HostPorts | None = None) -> None:
    if plan.blockers:
        raise ApplyError(plan.blockers[0], hint="nothing was started")
    _ports_free(plan, engine, stack, host if host is not None else host_ports_of(engine))


def _ports_free(plan: Plan, engine: Engine, stack: Stack, host_ports: HostPorts) -> None:
    """Host ports the plan's new containers publish must be free, or held by a container the
    same change stops first (the one a recreate replaces). Anything else holding one is named:
    another container, or a process on this host."""
    wanted = [
        (op, port)
        for op in plan.operations
        for step in op.steps
        if isinstance(step, CreateContainer)
        for port in step.spec.service.ports
        if port.published and "-" not in port.published
    ]
    if not wanted:
        return
    # One list call, made only when the plan publishes ports: a no-op `up` never pays it.
    holders = engine.published_ports()
    for op, port in wanted:
        host = port.host_ip or "0.0.0.0"
        number = int(port.published or 0)
        released = _released_before(plan, op)
        holding = sorted(
            name
            for name, published in holders.items()
            if any(_overlaps(text, host, number, port.protocol) for text in published)
        )
        others = [name for name in holding if name not in released]
        if others:
            by = f"container {others[0]}"
        elif holding or not host_ports.held_by_a_process(host, number, port.protocol):
            continue  # free, or held by a container this change stops before it starts
        else:
            by = "a process on this host"
        # `docker ps` asks the same engine (a remote one too); `ss` only this machine, the
        # only one whose processes are ever named.
        hint = (
            f"stop it (`docker ps --filter publish={port.published}` lists the containers "
            "publishing it) or publish another port"
            if others
            else f"stop what listens there (`ss -ltnp 'sport = :{port.published}'`) or publish "
            "another port"
        )
        if others and others[0] == op.name:
            # The container of this very name, made outside stackup (docker run).
            hint = "if `docker run` made it, `stackup up --adopt` replaces it with a managed one, keeping its volumes"
        elif others and engine.unmanaged_containers(others[:1]):
            # A `docker run` container under another name: adoption goes by name.
            hint += (
                f"; or, if {others[0]} is this service run by hand, `stackup import container "
                f"{others[0]}` writes it as a service, and `stackup up --adopt` replaces it with "
                f"a managed one (adoption goes by name: the service needs `container_name: "
                f"{others[0]}`)"
            )
        raise ApplyError(
            f"port {host}:{port.published}/{port.protocol} of service {op.service} is already "
            f"in use by {by}; nothing was changed",
            hint=hint,
        )


def _released_before(plan: Plan, op: Operation) -> set[str]:
    """Containers stopped or removed by `op` or by the operations it runs after."""
    by_id = {o.id: o for o in plan.operations}
    seen: set[str] = set()
    todo = [op.id]
    names: set[str] = set()
    while todo:
        current = by_id.get(todo.pop())
        if current is None or current.id in seen:
            continue
        seen.add(current.id)
        names.update(
            s.name for s in current.steps if isinstance(s, StopContainer | RemoveContainer)
        )
        todo.extend((*current.after, *current.start_after))
    return names


def _overlaps(published: str, host: str, port: int, protocol: str) -> bool:
    """Whether a published port as the engine lists it ("0.0.0.0:8080->80/tcp") takes
    `host:port/protocol`: the same port and protocol, on the same or an unspecified address."""
    binding, _, target = published.partition("->")  # "127.0.0.1:8080", "80/tcp"
    address, _, their_port = binding.rpartition(":")
    their_protocol = target.rpartition("/")[2] or "tcp"
    if their_port != str(port) or their_protocol != protocol:
        return False
    unspecified = ("", "0.0.0.0", "::", "[::]")
    return address == host or address in unspecified or host in unspecified


def engine_is_local(engine: Engine) -> bool:
    """Whether the engine runs on this host, so host paths and ports here are its own: by the
    address it was found at (`connect.is_local`; an `ssh://` one never is, even at 127.0.0.1,
    though the SDK talks to a local socket forwarded to it). One without an address (the
    in-memory fake) plans as a local one."""
    endpoint = getattr(engine, "endpoint", None)
    return is_local(str(getattr(endpoint, "base_url", "unix://")))


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
