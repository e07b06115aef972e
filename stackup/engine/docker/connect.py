"""Finding the Docker engine the way the docker CLI does, without importing `docker`.

Order (as `docker` itself resolves it, cli/command/cli.go):
  1. an explicit context (`--context NAME`);
  2. `DOCKER_HOST` (with `DOCKER_TLS_VERIFY` / `DOCKER_CERT_PATH`);
  3. `DOCKER_CONTEXT`;
  4. `currentContext` in `$DOCKER_CONFIG/config.json` (default `~/.docker`);
  5. the default socket, `unix:///var/run/docker.sock`, and on macOS Docker Desktop's
     `~/.docker/run/docker.sock` when it exists;
  6. Podman's socket when it exists: `/run/podman/podman.sock` for root, else
     `$XDG_RUNTIME_DIR/podman/podman.sock` (`podman system service`; recognised as Podman
     once it answers: `stackup.engine.podman`).
A named context's endpoint is read from `contexts/meta/<sha256 of name>/meta.json`
(`Endpoints.docker.Host`), its TLS material from `contexts/tls/<sha256>/docker/`.

An endpoint may be `ssh://[user@]host[:port]` (from DOCKER_HOST or a context): the engine
then goes through the system ssh client (`stackup.engine.docker.ssh`), one connection per
command.

`resolve()` returns the candidates in the order to try; `stackup.engine.docker.engine` tries them and, when
none answers, raises `unavailable()` naming every one it tried.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import sys
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stackup.errors import EngineUnavailableError, UsageError

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
PODMAN_ROOT_SOCKET = "/run/podman/podman.sock"

START_HINT = (
    "start an engine: `sudo bash scripts/setup-engine.sh` (installs and starts dockerd), "
    "`sudo systemctl start docker`, or open Docker Desktop; "
    "or point DOCKER_HOST / --context at a running one"
)


@dataclass(frozen=True, slots=True)
class TlsSettings:
    ca_cert: str | None
    client_cert: tuple[str, str] | None
    verify: bool


@dataclass(frozen=True, slots=True)
class Endpoint:
    base_url: str
    tls: TlsSettings | None
    source: str  # how it was found, for messages: "DOCKER_HOST", "context 'remote'", ...


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"]).expanduser()
    return Path(env.get("HOME") or Path.home()) / ".docker"


def context_dir_name(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _tls_from_dir(directory: Path, verify: bool) -> TlsSettings:
    ca = directory / "ca.pem"
    cert = directory / "cert.pem"
    key = directory / "key.pem"
    return TlsSettings(
        ca_cert=str(ca) if ca.is_file() else None,
        client_cert=(str(cert), str(key)) if cert.is_file() and key.is_file() else None,
        verify=verify,
    )


def _from_docker_host(env: Mapping[str, str], config: Path) -> Endpoint:
    host = env["DOCKER_HOST"]
    tls = None
    # The docker CLI turns TLS on for any non-empty DOCKER_TLS_VERIFY (even "0").
    if env.get("DOCKER_TLS_VERIFY"):
        cert_path = Path(env.get("DOCKER_CERT_PATH") or config).expanduser()
        tls = _tls_from_dir(cert_path, verify=True)
    return Endpoint(base_url=host, tls=tls, source="DOCKER_HOST")


def _current_context(config: Path) -> str | None:
    path = config / "config.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    name = data.get("currentContext") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else None


def _from_context(name: str, config: Path, env: Mapping[str, str]) -> list[Endpoint]:
    if name == "default":
        if env.get("DOCKER_HOST"):
            return [_from_docker_host(env, config)]
        return default_endpoints(env)
    digest = context_dir_name(name)
    meta = config / "contexts" / "meta" / digest / "meta.json"
    try:
        data = json.loads(meta.read_text())
    except FileNotFoundError:
        raise UsageError(
            f"docker context {name!r} does not exist (no {meta})",
            hint="list contexts with `docker context ls`",
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read docker context {name!r} from {meta}: {exc}") from None
    endpoint = (data.get("Endpoints") or {}).get("docker") or {}
    host = endpoint.get("Host")
    if not isinstance(host, str) or not host:
        raise UsageError(f"docker context {name!r} has no docker endpoint in {meta}")
    tls_dir = config / "contexts" / "tls" / digest / "docker"
    tls = None
    if tls_dir.is_dir():
        tls = _tls_from_dir(tls_dir, verify=not bool(endpoint.get("SkipTLSVerify")))
    return [Endpoint(base_url=host, tls=tls, source=f"docker context {name!r}")]


def default_endpoints(
    env: Mapping[str, str] | None = None, platform: str | None = None
) -> list[Endpoint]:
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    out = [Endpoint(base_url=DEFAULT_SOCKET, tls=None, source="the default socket")]
    if platform == "darwin":
        desktop = Path(env.get("HOME") or Path.home()) / ".docker" / "run" / "docker.sock"
        if desktop.exists():
            out.append(
                Endpoint(base_url=f"unix://{desktop}", tls=None, source="Docker Desktop's socket")
            )
    podman = podman_socket(env)
    if podman is not None and podman.exists():
        out.append(Endpoint(base_url=f"unix://{podman}", tls=None, source="Podman's socket"))
    return out


def podman_socket(env: Mapping[str, str], root: bool | None = None) -> Path | None:
    """Where `podman system service` listens by default: root's socket, else the user's
    under $XDG_RUNTIME_DIR (None when that is unset)."""
    root = (hasattr(os, "geteuid") and os.geteuid() == 0) if root is None else root
    if root:
        return Path(PODMAN_ROOT_SOCKET)
    runtime = env.get("XDG_RUNTIME_DIR")
    return Path(runtime) / "podman" / "podman.sock" if runtime else None


def resolve(
    context: str | None = None,
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
) -> list[Endpoint]:
    """The engine endpoints to try, best first."""
    env = os.environ if env is None else env
    config = config_dir(env)
    if context:
        return _from_context(context, config, env)
    if env.get("DOCKER_HOST"):
        return [_from_docker_host(env, config)]
    name = env.get("DOCKER_CONTEXT") or _current_context(config)
    if name:
        return _from_context(name, config, env)
    return default_endpoints(env, platform)


def is_local(base_url: str) -> bool:
    """Whether the engine at `base_url` runs on this machine, so that host paths, ports and
    file events here are its own: a unix socket or named pipe, or TCP to a loopback address.
    Never `ssh://`, whatever its host: ssh://deploy@127.0.0.1:2222 is the engine of a VM or a
    container, with ports and files of its own."""
    scheme, found, rest = base_url.partition("://")
    if not found:  # "127.0.0.1:2375": the SDK reads it as tcp
        scheme, rest = "tcp", base_url
    if scheme in ("unix", "http+unix", "npipe"):
        return True
    if scheme not in ("tcp", "http", "https"):
        return False
    try:
        host = urllib.parse.urlsplit(f"//{rest}").hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def unavailable(tried: list[tuple[Endpoint, str]]) -> EngineUnavailableError:
    """The error for "no engine answered", naming each endpoint tried and why it failed."""
    lines = "; ".join(f"{e.base_url} ({e.source}): {why}" for e, why in tried)
    return EngineUnavailableError(f"cannot reach a Docker engine: tried {lines}", hint=START_HINT)
