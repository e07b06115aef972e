"""Helpers for tests against a real Docker engine (import: ``from tests.engine.helpers import``).

Rules these helpers keep: traffic goes to loopback only, ports are published on 127.0.0.1,
every resource a test creates carries the label ``io.stackup.project=<project_name>`` (or
Compose's ``com.docker.compose.project``) so the ``project_name`` fixture removes it.
"""

from __future__ import annotations

import functools
import http.client
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import docker
import docker.errors

ROOT = Path(__file__).resolve().parents[2]
FAULTY_STACKUP = ROOT / "tests" / "engine" / "faulty_stackup.py"
PROJECT_LABEL = "io.stackup.project"
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
# A project's releases name it with this label (not PROJECT_LABEL: no listing of its
# containers shows them).
RELEASE_PROJECT_LABEL = "io.stackup.release.project"

T = TypeVar("T")

# urllib would send loopback requests to a proxy named in http_proxy; never do that.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: str
    headers: Mapping[str, str]


def http_get(url: str, timeout: float = 2.0, retry_for: float = 10.0) -> HttpResponse:
    """GET ``url`` (loopback only), retrying connection failures for ``retry_for`` seconds.

    A server that answers with any status, 404 or 500 included, has answered: that response
    is returned, not raised. Only when nothing answers in time is the last error raised.
    """
    host = urllib.parse.urlparse(url).hostname or ""
    if not (host == "localhost" or host.startswith("127.") or host == "::1"):
        raise ValueError(f"tests send HTTP to loopback only, not {host!r}")
    deadline = time.monotonic() + retry_for
    while True:
        try:
            with _opener.open(url, timeout=timeout) as resp:
                return HttpResponse(
                    resp.status, resp.read().decode("utf-8", "replace"), dict(resp.headers)
                )
        except urllib.error.HTTPError as err:
            return HttpResponse(err.code, err.read().decode("utf-8", "replace"), dict(err.headers))
        except (urllib.error.URLError, ConnectionError, http.client.HTTPException, OSError):
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(
    check: Callable[[], T | None],
    timeout: float = 10.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def stackup(
    *args: str,
    cwd: Path | str,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 180.0,
    input: str | None = None,
    faulty: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m stackup ARGS`` in ``cwd`` and return the finished process.

    ``env`` is added to (not substituted for) the current environment. With ``check``
    (the default) a non-zero exit raises AssertionError showing stdout and stderr; pass
    ``check=False`` to assert on exit codes yourself. With ``faulty``, the same CLI runs
    through tests/engine/faulty_stackup.py, which obeys ``STACKUP_TEST_KILL_AFTER_CALLS``
    and ``STACKUP_TEST_CALL_LOG`` in ``env``.
    """
    full_env = dict(os.environ)
    full_env.setdefault("NO_COLOR", "1")
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [sys.executable, *([str(FAULTY_STACKUP)] if faulty else ["-m", "stackup"]), *args],
        cwd=cwd,
        env=full_env,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"stackup {' '.join(args)} exited {proc.returncode} in {cwd}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    return proc


class StackDir:
    """A temporary project directory with helpers to write a stack file and its siblings."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, text: str, name: str = "stack.yaml") -> Path:
        """Write ``text`` (dedented) to ``name`` under the directory; return its path."""
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return target

    def stack(self, text: str) -> Path:
        """Write ``stack.yaml``."""
        return self.write(text, "stack.yaml")

    def __truediv__(self, other: str) -> Path:
        return self.path / other

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)


def remove_project_resources(client: docker.DockerClient, project: str) -> list[str]:
    """Remove every container (forced, with anonymous volumes), network and volume, and any
    swarm service, secret and config, labelled with ``project`` by stackup or Compose (and
    stackup's release records of it).

    Returns a description of each thing removed, so a caller can tell what was left.
    """
    removed: list[str] = []
    for key in (PROJECT_LABEL, COMPOSE_PROJECT_LABEL, RELEASE_PROJECT_LABEL):
        filters: dict[str, str | list[str] | bool] = {"label": f"{key}={project}"}
        try:  # swarm objects exist only on a swarm manager
            for service in client.services.list(filters=filters):
                _quietly(service.remove)
                removed.append(f"service {service.name}")
        except docker.errors.APIError:
            pass
        # sparse: no inspect per container, which would race with Swarm removing its tasks
        for container in client.containers.list(all=True, sparse=True, filters=filters):
            _quietly(functools.partial(container.remove, force=True, v=True))
            names = container.attrs.get("Names") or [container.id]
            removed.append(f"container {str(names[0]).lstrip('/')}")
        for network in client.networks.list(filters=filters):
            _quietly(network.remove)
            removed.append(f"network {network.name}")
        for volume in client.volumes.list(filters=filters):
            _quietly(functools.partial(volume.remove, force=True))
            removed.append(f"volume {volume.name}")
        for collection in (client.secrets, client.configs):
            try:
                for obj in collection.list(filters=filters):
                    _quietly(obj.remove)
                    removed.append(f"{type(obj).__name__.lower()} {obj.name}")
            except docker.errors.APIError:
                pass
    return removed


def _quietly(action: Callable[[], object]) -> None:
    """Run a removal; something already gone (or going) is fine."""
    try:
        action()
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as err:
        if err.status_code != 409:  # "removal already in progress"
            raise
