"""Fixtures for tests against a real Docker engine.

* ``docker_client`` (session): a docker SDK client; skips with the reason when no engine
  answers (which ``STACKUP_REQUIRE_ENGINE=1`` turns into a failure).
* ``project_name``: a fresh ``sut-<8 hex>`` name; afterwards, pass or fail, everything
  labelled ``io.stackup.project=<name>`` or ``com.docker.compose.project=<name>`` is removed.
* ``tmp_stack_dir``: a ``StackDir`` in a temporary directory, to write ``stack.yaml`` into.
* ``remote_host`` (session): a server reached over SSH (tests/engine/remote_host.py), opt-in
  outside CI: set ``STACKUP_REMOTE_TESTS=1`` (scripts/test.sh does).
* ``podman`` (session): Podman's Docker-compatible API (scripts/setup-podman.sh starts it),
  opt-in outside CI: set ``STACKUP_PODMAN_TESTS=1`` (scripts/test.sh does); then a Podman that
  does not answer is a failure, not a skip. ``podman_project``: a project name whose resources
  in Podman go at the end, pass or fail.
* ``registry`` (session): Debian's ``docker-registry`` serving on 127.0.0.1 (port 5000 when
  free); yields ``"127.0.0.1:PORT"``. Use the value, never a hard-coded port.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from tests.engine.browser import browser  # noqa: F401  (the fixture: headless Chromium)
from tests.engine.helpers import StackDir, http_get, remove_project_resources
from tests.engine.remote_host import RemoteHost
from tests.engine.remote_host import remote_host as start_remote_host

REGISTRY_PORT = 5000


def _connect() -> tuple[docker.DockerClient, str]:
    """Connect as the docker CLI would: DOCKER_HOST, else the current context, else default."""
    if os.environ.get("DOCKER_HOST"):
        return docker.from_env(timeout=120), f"DOCKER_HOST={os.environ['DOCKER_HOST']}"
    try:
        from docker.context import ContextAPI

        context = ContextAPI.get_current_context()
    except Exception:  # a broken ~/.docker/config.json: fall back to the default socket
        context = None
    if context is not None and context.Host and context.Name != "default":
        return (
            docker.DockerClient(base_url=context.Host, timeout=120),
            f"docker context {context.Name!r} ({context.Host})",
        )
    return docker.from_env(timeout=120), "the default socket"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    where = "DOCKER_HOST, the current docker context, the default socket"
    try:
        client, where = _connect()
        client.ping()
    except Exception as err:
        pytest.skip(
            f"no Docker engine answers (tried {where}: {type(err).__name__}: {err}); "
            "run scripts/setup-engine.sh (or start Docker Desktop)"
        )
    yield client
    client.close()


@pytest.fixture
def project_name(docker_client: docker.DockerClient) -> Iterator[str]:
    name = f"sut-{secrets.token_hex(4)}"
    before = _anonymous_volumes(docker_client, dangling_only=False)
    yield name
    remove_project_resources(docker_client, name)
    # Anonymous volumes carry no label: those the test's containers left behind (`up -V`,
    # `down` without -v, as Compose leaves them too) are the ones that appeared during the
    # test and are no longer used. CI runs tests one at a time, so nothing else made them.
    for volume in _anonymous_volumes(docker_client, dangling_only=True) - before:
        # One still in use by something that is not ours is left alone.
        with contextlib.suppress(docker.errors.APIError):
            docker_client.volumes.get(volume).remove()


def _anonymous_volumes(client: docker.DockerClient, *, dangling_only: bool) -> set[str]:
    filters = {"dangling": True} if dangling_only else {}
    return {
        v.name
        for v in client.volumes.list(filters=filters)
        if v.name and len(v.name) == 64 and not (v.attrs.get("Labels") or {})
    }


@pytest.fixture
def tmp_stack_dir(tmp_path: Path) -> StackDir:
    return StackDir(tmp_path)


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _registry_port() -> int:
    if _port_is_free(REGISTRY_PORT):
        return REGISTRY_PORT
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def registry(
    docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("Debian's docker-registry is not installed (scripts/test.sh installs it)")
    workdir = tmp_path_factory.mktemp("registry")
    port = _registry_port()
    address = f"127.0.0.1:{port}"
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: info\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: {address}\n",
        encoding="utf-8",
    )
    log_path = workdir / "registry.log"
    # A session of its own, no terminal, output to a file: like `setsid CMD >log 2>&1 </dev/null`.
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [binary, "serve", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file = None
    if os.environ.get("STACKUP_STATE_DIR"):
        pid_file = Path(os.environ["STACKUP_STATE_DIR"]) / "registry.pid"
        pid_file.write_text(f"{proc.pid}\n", encoding="utf-8")
    try:
        try:
            response = http_get(f"http://{address}/v2/", retry_for=15.0)
        except OSError as err:
            log_text = log_path.read_text(encoding="utf-8", errors="replace")
            raise RuntimeError(
                f"docker-registry did not answer on {address}: {err}\n{log_text}"
            ) from err
        assert response.status == 200, response
        yield address
    finally:
        _stop_process_group(proc)
        if pid_file is not None:
            pid_file.unlink(missing_ok=True)


def _stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process started with start_new_session=True, and its group (by its own pid)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def remote_host(
    docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RemoteHost]:
    # Opt-in on a user's machine: the host takes a minute to build the first time and runs
    # a privileged-like container with a dockerd of its own.
    if os.environ.get("STACKUP_REMOTE_TESTS") != "1":
        pytest.skip("remote-host tests skipped by choice: set STACKUP_REMOTE_TESTS=1 to run them")
    with start_remote_host(docker_client, tmp_path_factory.mktemp("remote-host")) as host:
        yield host


PODMAN_SOCKET = "unix:///run/podman/podman.sock"


@dataclasses.dataclass(frozen=True)
class Podman:
    client: docker.DockerClient  # the docker SDK, talking to Podman
    host: str  # DOCKER_HOST for stackup

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.host}


@pytest.fixture(scope="session")
def podman() -> Iterator[Podman]:
    # Opt-in on a user's machine: it needs Debian's podman and its service, as root.
    if os.environ.get("STACKUP_PODMAN_TESTS") != "1":
        pytest.skip("Podman tests skipped by choice: set STACKUP_PODMAN_TESTS=1 to run them")
    host = os.environ.get("STACKUP_PODMAN_HOST", PODMAN_SOCKET)
    client = docker.DockerClient(base_url=host, timeout=120)
    try:
        version = client.version()
    except Exception as err:
        pytest.fail(
            f"STACKUP_PODMAN_TESTS=1 but no Podman answers on {host} ({err}); "
            "run `sudo bash scripts/setup-podman.sh`"
        )
    names = [c.get("Name") for c in version.get("Components") or []]
    assert "Podman Engine" in names, f"{host} is not Podman: {names}"
    yield Podman(client, host)
    client.close()


@pytest.fixture
def podman_project(podman: Podman, project_name: str) -> Iterator[str]:
    """`project_name` (removed from dockerd at the end), removed from Podman too."""
    yield project_name
    remove_project_resources(podman.client, project_name)
