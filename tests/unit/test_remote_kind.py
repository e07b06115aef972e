"""An engine on another machine (`ssh://`, TCP to another host) is the engine target without
what needs this machine: `watch` refuses at start, before anything is connected or planned;
everything that goes through the engine's API stays. Where the engine is comes from the
address it is found at (DOCKER_HOST, the context), read without connecting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from stackup.engine.docker.calls import port_in_use
from stackup.engine.docker.connect import is_local
from stackup.engine.fake import FakeEngine
from stackup.errors import UsageError
from stackup.loading.loader import LoadOptions, load
from stackup.targets.engine.preflight import ThisHost, UnknownHost, host_ports_of
from stackup.targets.engine.target import ENGINE, REMOTE_ENGINE, EngineTarget
from stackup.targets.target import Capability, TargetSettings
from stackup.usecases.targets import choose_target
from tests.unit.test_connect import make_context


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("unix:///var/run/docker.sock", True),
        ("npipe:////./pipe/docker_engine", True),
        ("tcp://127.0.0.1:2375", True),
        ("tcp://127.0.0.2:2375", True),  # all of 127/8 is loopback
        ("tcp://[::1]:2375", True),
        ("tcp://localhost:2375", True),
        ("127.0.0.1:2375", True),  # no scheme: the SDK reads tcp
        ("ssh://deploy@127.0.0.1:2222", False),  # a VM's or container's engine
        ("ssh://localhost", False),
        ("ssh://server", False),
        ("tcp://10.0.0.5:2376", False),
        # Addresses that merely contain a loopback name are other machines.
        ("tcp://localhost.example.com:2376", False),
        ("tcp://127.0.0.1.nip.io:2376", False),
        ("https://build-127.0.0.1.example:2376", False),
    ],
)
def test_an_engine_is_local_by_its_address_never_over_ssh(url: str, local: bool) -> None:
    assert is_local(url) is local
    engine = SimpleNamespace(endpoint=SimpleNamespace(base_url=url), base_url=url)
    # Ports are probed on this machine only for an engine on it.
    assert isinstance(host_ports_of(engine), ThisHost if local else UnknownHost)  # type: ignore[arg-type]


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No DOCKER_HOST or context of the user's: a docker config directory of the test's."""
    config = tmp_path / "docker-config"
    config.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    return config


NEEDS_THIS_MACHINE = {Capability.WATCH, Capability.HOST_BIND_SOURCES}


def test_the_default_socket_is_the_whole_engine_kind(clean_env: Path) -> None:
    assert choose_target(None, None).kind is ENGINE


@pytest.mark.parametrize("how", ["DOCKER_HOST", "--context", "DOCKER_CONTEXT", "current context"])
def test_an_ssh_engine_lacks_only_what_needs_this_machine(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    settings = TargetSettings()
    make_context(clean_env, "server", "ssh://deploy@127.0.0.1:2222")
    if how == "DOCKER_HOST":
        monkeypatch.setenv("DOCKER_HOST", "ssh://deploy@127.0.0.1:2222")
    elif how == "--context":
        settings = TargetSettings(docker_context="server")
    elif how == "DOCKER_CONTEXT":
        monkeypatch.setenv("DOCKER_CONTEXT", "server")
    else:
        (clean_env / "config.json").write_text('{"currentContext": "server"}')

    kind = choose_target(None, None, settings).kind

    assert kind.name == "engine"
    assert kind.capabilities == frozenset(Capability) - NEEDS_THIS_MACHINE
    with pytest.raises(UsageError) as refused:
        kind.require(Capability.WATCH, "this command")
    assert refused.value.message == "watch needs the engine on this machine"
    assert "bind mounts and file events are local" in (refused.value.hint or "")


def test_an_unreadable_context_leaves_the_refusal_to_connecting(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONTEXT", "missing")
    assert choose_target(None, None).kind is ENGINE


@pytest.mark.parametrize("untrusted", [True, False])
def test_an_untrusted_stack_is_not_placed_by_the_docker_context(
    clean_env: Path, tmp_path: Path, untrusted: bool
) -> None:
    """Placing reads the context under ~/.docker, outside the repository an untrusted run
    is confined to: the kind by name judges an untrusted stack, as a local engine would."""
    make_context(clean_env, "server", "ssh://deploy@127.0.0.1:2222")
    (clean_env / "config.json").write_text('{"currentContext": "server"}')
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "stack.yaml").write_text("services:\n  web:\n    image: nginx:1.27\n")
    loaded = load(LoadOptions(working_dir=repo, untrusted=untrusted))

    kind = choose_target(None, loaded).kind

    assert kind is (ENGINE if untrusted else REMOTE_ENGINE)


def test_a_target_over_an_engine_has_the_kind_of_its_place() -> None:
    assert EngineTarget(FakeEngine()).kind is ENGINE  # in memory: planned as a local one
    remote = SimpleNamespace(endpoint=SimpleNamespace(base_url="ssh://server"))
    assert EngineTarget(remote).kind is REMOTE_ENGINE  # type: ignore[arg-type]


def _stackup(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI with an `ssh` on PATH that records being run: a refusal must come first."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    ssh = bin_dir / "ssh"
    ssh.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "ssh-ran"}\nexit 255\n')
    ssh.chmod(0o755)
    (tmp_path / "stack.yaml").write_text(
        "name: rk\nservices:\n  web:\n    image: nginx:1.27\n"
        "    volumes: ['./site:/usr/share/nginx/html']\n",
        encoding="utf-8",
    )
    config = tmp_path / "docker-config"
    config.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "stackup", *args],
        cwd=tmp_path,
        env={
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "DOCKER_CONFIG": str(config),
            "DOCKER_CONTEXT": "",
            "NO_COLOR": "1",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("args", [("watch",), ("up", "--watch"), ("watch", "--no-apply", "web")])
def test_watch_against_a_remote_engine_refuses_at_start_without_connecting(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    proc = _stackup(tmp_path, *args, DOCKER_HOST="ssh://deploy@127.0.0.1:2222")
    assert proc.returncode == 1, proc
    assert "error: watch needs the engine on this machine" in proc.stderr
    assert "hint: bind mounts and file events are local" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "ssh-ran").exists()  # refused before any connection
    # ./site is a path on the server for a remote engine: not looked for here.
    assert "site" not in proc.stderr


@pytest.mark.parametrize(
    ("engine_said", "said"),
    [
        (
            "driver failed programming external connectivity on endpoint web (4f2a): Error "
            "starting userland proxy: listen tcp4 127.0.0.1:22: bind: address already in use",
            "port 127.0.0.1:22/tcp is already in use on the engine's host",
        ),
        (
            "Error starting userland proxy: Bind for 0.0.0.0:80: unexpected error (Failure "
            "EADDRINUSE)",
            "port 0.0.0.0:80/tcp is already in use on the engine's host",
        ),
        (
            "failed to set up container networking: driver failed programming external "
            "connectivity on endpoint web (4f2a): failed to bind host port for "
            "0.0.0.0:53:172.17.0.2:53/udp: address already in use",
            "port 0.0.0.0:53/udp is already in use on the engine's host",
        ),
        (
            "listen udp6 [::1]:53: bind: address already in use",
            "port [::1]:53/udp is already in use on the engine's host",
        ),
        ("some other wording: address already in use", "a port it publishes is already in use"),
        # A container holds it: `up`'s check names that one before anything starts.
        ("Bind for 0.0.0.0:80 failed: port is already allocated", None),
        ("No such image: nginx:9", None),
    ],
)
def test_a_port_a_process_holds_on_the_engines_host_is_said_so(
    engine_said: str, said: str | None
) -> None:
    found = port_in_use(engine_said)
    if said is None:
        assert found is None
    else:
        assert found is not None and found.startswith(said)
        assert "by a process that is not a container (the engine cannot say which)" in found
