"""Engine discovery as the docker CLI does it, against temporary config directories."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from stackup.engine.docker import connect
from stackup.errors import EngineUnavailableError, UsageError


def make_context(
    config: Path, name: str, host: str, *, tls: bool = False, skip: bool = False
) -> None:
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    endpoint: dict[str, object] = {"Host": host, "SkipTLSVerify": skip}
    (meta / "meta.json").write_text(
        json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": endpoint}})
    )
    if tls:
        tls_dir = config / "contexts" / "tls" / digest / "docker"
        tls_dir.mkdir(parents=True)
        for f in ("ca.pem", "cert.pem", "key.pem"):
            (tls_dir / f).write_text("x")


@pytest.fixture(autouse=True)
def no_podman_socket_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Discovery as on a machine without Podman (this one may run it): root's Podman socket
    is looked for where none is."""
    monkeypatch.setattr(connect, "PODMAN_ROOT_SOCKET", str(tmp_path / "no-podman.sock"))


def env_for(config: Path, **extra: str) -> dict[str, str]:
    return {"DOCKER_CONFIG": str(config), "HOME": str(config.parent), **extra}


def test_default_socket_when_nothing_is_configured(tmp_path: Path) -> None:
    [endpoint] = connect.resolve(env=env_for(tmp_path / "cfg"), platform="linux")
    assert endpoint.base_url == "unix:///var/run/docker.sock"
    assert endpoint.tls is None and endpoint.source == "the default socket"


def test_docker_desktop_socket_on_macos(tmp_path: Path) -> None:
    sock = tmp_path / ".docker" / "run" / "docker.sock"
    sock.parent.mkdir(parents=True)
    sock.touch()
    env = {"HOME": str(tmp_path)}
    urls = [e.base_url for e in connect.resolve(env=env, platform="darwin")]
    assert urls == ["unix:///var/run/docker.sock", f"unix://{sock}"]
    assert [e.base_url for e in connect.resolve(env=env, platform="linux")] == urls[:1]


def test_docker_host_with_tls(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    for f in ("ca.pem", "cert.pem", "key.pem"):
        (certs / f).write_text("x")
    env = env_for(
        tmp_path / "cfg",
        DOCKER_HOST="tcp://127.0.0.1:2376",
        DOCKER_TLS_VERIFY="1",
        DOCKER_CERT_PATH=str(certs),
    )
    [endpoint] = connect.resolve(env=env)
    assert endpoint.base_url == "tcp://127.0.0.1:2376" and endpoint.source == "DOCKER_HOST"
    assert endpoint.tls == connect.TlsSettings(
        ca_cert=str(certs / "ca.pem"),
        client_cert=(str(certs / "cert.pem"), str(certs / "key.pem")),
        verify=True,
    )
    plain = connect.resolve(env=env_for(tmp_path / "cfg", DOCKER_HOST="tcp://127.0.0.1:2375"))
    assert plain[0].tls is None


def test_current_context_from_config_json(tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    make_context(config, "remote", "tcp://10.1.2.3:2376", tls=True)
    (config / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    [endpoint] = connect.resolve(env=env_for(config))
    assert endpoint.base_url == "tcp://10.1.2.3:2376"
    assert endpoint.source == "docker context 'remote'"
    assert endpoint.tls is not None and endpoint.tls.verify
    assert endpoint.tls.ca_cert is not None and endpoint.tls.ca_cert.endswith("/docker/ca.pem")


def test_precedence_matches_the_docker_cli(tmp_path: Path) -> None:
    """--context > DOCKER_HOST > DOCKER_CONTEXT > currentContext > default."""
    config = tmp_path / "cfg"
    make_context(config, "flag", "unix:///flag.sock")
    make_context(config, "envctx", "unix:///envctx.sock")
    make_context(config, "current", "unix:///current.sock", skip=True)
    (config / "config.json").write_text(json.dumps({"currentContext": "current"}))
    base = env_for(config)

    def url(context: str | None = None, **extra: str) -> str:
        return connect.resolve(context, env={**base, **extra})[0].base_url

    assert (
        url("flag", DOCKER_HOST="unix:///host.sock", DOCKER_CONTEXT="envctx") == "unix:///flag.sock"
    )
    assert url(DOCKER_HOST="unix:///host.sock", DOCKER_CONTEXT="envctx") == "unix:///host.sock"
    assert url(DOCKER_CONTEXT="envctx") == "unix:///envctx.sock"
    assert url() == "unix:///current.sock"
    assert url("default") == "unix:///var/run/docker.sock"
    assert url("default", DOCKER_HOST="unix:///host.sock") == "unix:///host.sock"
    assert url(DOCKER_CONTEXT="default") == "unix:///var/run/docker.sock"


def test_docker_config_dir_defaults_to_home(tmp_path: Path) -> None:
    config = tmp_path / ".docker"
    make_context(config, "homectx", "unix:///home.sock")
    (config / "config.json").write_text(json.dumps({"currentContext": "homectx"}))
    [endpoint] = connect.resolve(env={"HOME": str(tmp_path)})
    assert endpoint.base_url == "unix:///home.sock"


def test_unknown_context_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="docker context 'nope' does not exist"):
        connect.resolve("nope", env=env_for(tmp_path / "cfg"))


def test_broken_config_json_is_reported(tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "config.json").write_text("{not json")
    with pytest.raises(UsageError, match=r"config\.json"):
        connect.resolve(env=env_for(config))


def test_unavailable_names_what_was_tried_and_how_to_start() -> None:
    endpoint = connect.Endpoint("unix:///var/run/docker.sock", None, "the default socket")
    err = connect.unavailable([(endpoint, "No such file or directory")])
    assert isinstance(err, EngineUnavailableError)
    text = str(err)
    assert "unix:///var/run/docker.sock (the default socket): No such file or directory" in text
    assert "scripts/setup-engine.sh" in text and "systemctl start docker" in text
    assert "Docker Desktop" in text


def test_docker_engine_from_env_raises_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No engine on the socket DOCKER_HOST names: one clear error, no traceback from the SDK."""
    from stackup.engine.docker.engine import DockerEngine

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    with pytest.raises(EngineUnavailableError) as info:
        DockerEngine.from_env(timeout=5)
    assert f"unix://{tmp_path}/absent.sock (DOCKER_HOST)" in str(info.value)
    assert info.value.hint is not None and "setup-engine.sh" in info.value.hint


def test_podman_socket_after_the_default_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One discovery order for every engine: Docker's default socket, then Podman's (root's,
    else the user's under $XDG_RUNTIME_DIR), each only where it exists."""
    root_sock = tmp_path / "run" / "podman" / "podman.sock"
    root_sock.parent.mkdir(parents=True)
    root_sock.touch()
    monkeypatch.setattr(connect, "PODMAN_ROOT_SOCKET", str(root_sock))
    user_sock = tmp_path / "xdg" / "podman" / "podman.sock"
    user_sock.parent.mkdir(parents=True)
    user_sock.touch()
    env = env_for(tmp_path / "cfg", XDG_RUNTIME_DIR=str(tmp_path / "xdg"))
    monkeypatch.setattr(connect.os, "geteuid", lambda: 0)
    found = connect.resolve(env=env, platform="linux")
    assert [(e.base_url, e.source) for e in found] == [
        ("unix:///var/run/docker.sock", "the default socket"),
        (f"unix://{root_sock}", "Podman's socket"),
    ]
    monkeypatch.setattr(connect.os, "geteuid", lambda: 1000)
    found = connect.resolve(env=env, platform="linux")
    assert [e.base_url for e in found] == ["unix:///var/run/docker.sock", f"unix://{user_sock}"]
    user_sock.unlink()
    assert [e.base_url for e in connect.resolve(env=env, platform="linux")] == [
        "unix:///var/run/docker.sock"
    ]
