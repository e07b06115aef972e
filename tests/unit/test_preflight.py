"""`up`'s check of host ports, with the host's facts handed in: a unit test on the fake engine
probes no real port (a user runs the suite beside the quickstart's demo on 127.0.0.1:8080)."""

from __future__ import annotations

import os
import socket
import textwrap
from pathlib import Path

import pytest

from stackup.engine.fake import FakeEngine
from stackup.errors import ApplyError
from stackup.loading.loader import load_text
from stackup.planning.options import ReconcileOptions
from stackup.targets.engine.preflight import ThisHost, UnknownHost, host_ports_of
from stackup.targets.engine.target import EngineTarget
from tests.conftest import NO_ENGINE, RealSocketUsed

BUSYBOX = "sha256:" + "b0" * 32
DEMO = """
name: demo
services:
  web:
    image: busybox:latest
    ports: ["127.0.0.1:8080:80"]
"""


class HeldPorts:
    """A host where processes hold the given (address, port, protocol)s."""

    def __init__(self, *held: tuple[str, int, str]) -> None:
        self.held = set(held)

    def held_by_a_process(self, host: str, port: int, protocol: str) -> bool:
        return (host, port, protocol) in self.held


def _check(target: EngineTarget, tmp_path: Path) -> None:
    loaded = load_text(textwrap.dedent(DEMO), working_dir=tmp_path)
    target.check(loaded, target.plan(loaded, ReconcileOptions(salt="test")))


def test_the_fake_engine_probes_no_port_of_this_machine(tmp_path: Path) -> None:
    """Before, the fake counted as a local engine and `up` bound 127.0.0.1:8080 to see whether
    it was free: the suite failed where the demo ran (and here the guard refuses the bind)."""
    target = EngineTarget(FakeEngine({"busybox:latest": BUSYBOX}))
    assert isinstance(target.host_ports, UnknownHost)
    _check(target, tmp_path)  # no RealSocketUsed


def test_a_port_a_process_holds_is_named_from_the_host_facts(tmp_path: Path) -> None:
    engine = FakeEngine({"busybox:latest": BUSYBOX})
    target = EngineTarget(engine, host_ports=HeldPorts(("127.0.0.1", 8080, "tcp")))
    with pytest.raises(
        ApplyError, match=r"127\.0\.0\.1:8080/tcp .* in use by a process on this host"
    ):
        _check(target, tmp_path)
    assert not engine.containers


def test_only_an_engine_reached_on_this_machine_probes_it() -> None:
    class At:
        def __init__(self, url: str) -> None:
            self.base_url = url  # as DockerEngine: its address, and the endpoint it came from
            self.endpoint = self

    assert isinstance(host_ports_of(At("unix:///var/run/docker.sock")), ThisHost)  # type: ignore[arg-type]
    assert isinstance(host_ports_of(At("tcp://127.0.0.1:2375")), ThisHost)  # type: ignore[arg-type]
    assert isinstance(host_ports_of(At("tcp://10.0.0.5:2376")), UnknownHost)  # type: ignore[arg-type]
    assert isinstance(host_ports_of(FakeEngine()), UnknownHost)


def test_unit_tests_reach_no_engine_and_no_real_port() -> None:
    """The guard of tests/conftest.py is on for every test outside tests/engine."""
    assert os.environ["DOCKER_HOST"] == NO_ENGINE
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(RealSocketUsed):
            sock.bind(("127.0.0.1", 8080))
        with pytest.raises(RealSocketUsed):
            sock.connect(("127.0.0.1", 8080))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix, pytest.raises(RealSocketUsed):
        unix.connect("/var/run/docker.sock")
