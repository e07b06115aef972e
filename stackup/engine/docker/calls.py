"""What every call of the Docker adapter shares: counting by method name, marking the calls
that change the engine, translating the SDK's exceptions into stackup's, and splitting
streamed output into lines."""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Concatenate, ParamSpec, Protocol, TypeVar

import docker
import docker.errors
import requests.exceptions

from stackup.engine.docker import connect as conn
from stackup.errors import EngineError, EngineUnavailableError


class Counted(Protocol):
    calls: Counter[str]


P = ParamSpec("P")
R = TypeVar("R")

E = TypeVar("E", bound="Counted")
Method = Callable[Concatenate[E, P], R]

MUTATING_MARK = "_stackup_mutating"


def counted(fn: Method[E, P, R]) -> Method[E, P, R]:
    def wrapper(self: E, /, *args: P.args, **kwargs: P.kwargs) -> R:
        self.calls[fn.__name__] += 1
        return fn(self, *args, **kwargs)

    functools.update_wrapper(wrapper, fn)
    return wrapper


def mutating(fn: Method[E, P, R]) -> Method[E, P, R]:
    """Counted, and marked as changing the engine: `mutating_methods` lists the marked ones."""
    wrapper = counted(fn)
    setattr(wrapper, MUTATING_MARK, True)
    return wrapper


def mutating_methods(cls: type) -> frozenset[str]:
    """The names of `cls`'s methods (its own and inherited) decorated with `mutating`."""
    return frozenset(
        name for name in dir(cls) if getattr(getattr(cls, name, None), MUTATING_MARK, False)
    )


@contextmanager
def engine_errors(what: str, *, missing_ok: bool = False) -> Iterator[None]:
    """Translate the SDK's exceptions into stackup's, naming the resource (`what`)."""
    try:
        yield
    except docker.errors.NotFound as exc:
        if missing_ok:
            return
        raise EngineError(f"{what}: not found ({explain(exc)})") from exc
    except docker.errors.APIError as exc:
        raise EngineError(f"{what}: the engine refused: {explain(exc)}") from exc
    except requests.exceptions.ConnectionError as exc:
        raise EngineUnavailableError(
            f"{what}: lost the connection to the Docker engine ({exc})", hint=conn.START_HINT
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise EngineError(f"{what}: {exc}") from exc
    except docker.errors.DockerException as exc:
        raise EngineError(f"{what}: {exc}") from exc


# How the engine words a published port that a process on its host holds, when a container
# starts: its userland proxy's "listen tcp4 127.0.0.1:22: bind: address already in use" (or
# "Bind for 0.0.0.0:80: ... EADDRINUSE" in older ones), the port mapper's "failed to bind host
# port for 0.0.0.0:80:172.17.0.2:80/tcp: address already in use" without the proxy.
_PORT_IN_USE = re.compile(
    r"(?:listen (?P<proto>tcp|udp)[46]? |Bind for |bind host port for )"
    r"(?P<host>\[[0-9a-fA-F:.]*\]|[0-9.]*|::):(?P<port>\d+)"
    r"(?::[^\s/]+:\d+/(?P<mapped>tcp|udp|sctp))?"
)


def port_in_use(explanation: str) -> str | None:
    """The engine's refusal of a start because a process on its host holds a port it
    publishes, in words that say so: the port where the engine names it, and that no
    container holds it (`up` checks those first) so the engine cannot say what does. None
    for any other refusal."""
    if "address already in use" not in explanation and "EADDRINUSE" not in explanation:
        return None
    found = _PORT_IN_USE.search(explanation)
    if found is None:
        port = "a port it publishes"
    else:
        host = found["host"] or "0.0.0.0"
        protocol = found["proto"] or found["mapped"] or "tcp"
        port = f"port {host}:{found['port']}/{protocol}"
    return (
        f"{port} is already in use on the engine's host, by a process that is not a "
        "container (the engine cannot say which)"
    )


def name_taken(exc: docker.errors.APIError) -> bool:
    """Whether the engine refused a create because the name exists: Docker's 409, Podman's
    500 "the container name … is already in use"."""
    return exc.status_code == 409 or "is already in use" in explain(exc)


def explain(exc: docker.errors.APIError) -> str:
    text = exc.explanation
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return str(text or exc).strip()


def split_lines(chunks: Iterator[bytes], what: str) -> Iterator[bytes]:
    pending = b""
    with engine_errors(what):
        for chunk in chunks:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line + b"\n"
    if pending:
        yield pending


def image_id_of(api: docker.APIClient, image: str) -> str:
    raw = api.inspect_image(image)  # type: ignore[no-untyped-call]
    return str(raw["Id"])
