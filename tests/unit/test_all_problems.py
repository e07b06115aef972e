"""A stack file with several mistakes reports them all in one run, each located, in file
order; and the consistency checks Compose makes (compose-go's checkConsistency) are made here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stackup.errors import MAX_REPORTED, StackFileProblems, StackupError
from stackup.loading.loader import load_text
from stackup.model.shortsyntax import parse_port


def _problems(text: str) -> list[str]:
    with pytest.raises(StackupError) as info:
        load_text(text, environ={})
    return info.value.reports()


def _heads(reports: list[str]) -> list[str]:
    """`file:line:col: path` of each report."""
    return [": ".join(r.splitlines()[0].split(": ")[:2]) for r in reports]


THREE_SERVICES = """\
services:
  api:
    image: app
    ports: ["localhost:8080:80"]
  db:
    image: postgres
    enviroment: {A: "1"}
  web:
    image: nginx
    cpus: -2
"""


def test_cli_config_reports_three_problems_in_three_services(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text(THREE_SERVICES, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STACKUP_", "COMPOSE_"))}
    result = subprocess.run(
        [sys.executable, "-m", "stackup", "config"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert [e.split(": ")[1:3] for e in errors] == [
        ["stack.yaml:4:13", "services.api.ports[0]"],
        ["stack.yaml:7:5", "services.db.enviroment"],
        ["stack.yaml:10:11", "services.web.cpus"],
    ], result.stderr
    assert "the host IP must be an IP address" in errors[0]
    assert 'unknown key "enviroment"' in errors[1]
    assert "cpus must not be negative" in errors[2]
    assert result.stdout == ""


def test_the_first_problem_is_the_error_itself() -> None:
    with pytest.raises(StackFileProblems) as info:
        load_text(THREE_SERVICES, environ={})
    error = info.value
    assert (error.line, error.column, error.path) == (4, 13, "services.api.ports[0]")
    assert len(error.problems) == 3


def test_a_single_problem_is_a_plain_error() -> None:
    with pytest.raises(StackupError) as info:
        load_text("services:\n  web:\n    image: nginx\n    cpus: -1\n", environ={})
    assert not isinstance(info.value, StackFileProblems)
    assert info.value.reports() == [str(info.value)]


def test_many_problems_are_capped_with_a_count() -> None:
    body = "".join(f"  s{i:03}:\n    image: x\n    restart: sometimes\n" for i in range(60))
    reports = _problems("services:\n" + body)
    assert len(reports) == MAX_REPORTED + 1
    assert reports[-1] == "and 10 more problems in the stack file"
    assert reports[0].startswith("stack.yaml:4:14: services.s000.restart:")
    assert reports[MAX_REPORTED - 1].startswith("stack.yaml:151:14: services.s049.restart:")


def test_every_dangling_reference_is_reported() -> None:
    reports = _problems(
        "services:\n"
        "  a:\n    image: x\n    networks: [front]\n"
        "  b:\n    image: x\n    volumes: [data:/data]\n"
        "  c:\n    image: x\n    depends_on: [nowhere]\n"
    )
    assert _heads(reports) == [
        "stack.yaml:4:16: services.a.networks.front",
        "stack.yaml:7:15: services.b.volumes[0]",
        "stack.yaml:10:18: services.c.depends_on.nowhere",
    ]


def test_a_bad_short_form_is_reported_with_a_later_step_that_stops() -> None:
    reports = _problems(
        "services:\n  web:\n    image: nginx\n    ports: ['80-70']\n  app:\n    extends: nowhere\n"
    )
    assert _heads(reports) == [
        "stack.yaml:4:13: services.web.ports[0]",
        "stack.yaml:6:14: services.app.extends",
    ]


def test_a_bad_short_form_is_not_reported_twice() -> None:
    reports = _problems("services:\n  web:\n    image: nginx\n    ports: ['1', '99999', 'x']\n")
    assert _heads(reports) == [
        "stack.yaml:4:18: services.web.ports[1]",
        "stack.yaml:4:27: services.web.ports[2]",
    ]


# --------------------------------------------------------------------------- consistency


@pytest.mark.parametrize(
    "extra",
    [
        "network_mode: host",
        "networks: [default]",
        "container_name: web\ndeploy: {replicas: 1}",
        "container_name: web\nscale: 1",
        "scale: 2\ndeploy: {replicas: 2}",
        "ipc: service:db\npid: service:db",
        "ipc: shareable\npid: host",
        "platform: linux/arm64\nbuild: {context: ., platforms: [linux/amd64, linux/arm64]}",
        "platform: linux/arm64\nbuild: .",
        "expose: [80, '8000-8010', 9000/udp, 53/UDP, 132/sctp]",
        "cpus: 0.5\ndeploy: {resources: {limits: {cpus: '2'}, reservations: {cpus: 0}}}",
    ],
)
def test_consistent_forms_load(extra: str) -> None:
    lines = "".join(f"    {line}\n" for line in extra.splitlines())
    load_text(f"services:\n  web:\n    image: nginx\n{lines}  db:\n    image: db\n", environ={})


@pytest.mark.parametrize(
    ("extra", "path", "message"),
    [
        ("network_mode: none\nnetworks: [default]", "network_mode", "cannot both be set"),
        ("container_name: web\nscale: 2", "container_name", "scale asks for more than one"),
        ("scale: 1\ndeploy: {replicas: 2}", "scale", "different values"),
        ("ipc: service:SECRETNAME", "ipc", "ipc names a service"),
        ("pid: service:SECRETNAME", "pid", "pid names a service"),
        (
            "platform: SECRETNAME\nbuild: {context: ., platforms: [linux/amd64]}",
            "platform",
            "not one of build.platforms",
        ),
        ("expose: ['SECRETNAME']", "expose[0]", "expected PORT or START-END"),
        ("expose: ['90-80']", "expose[0]", "reversed"),
        ("expose: ['80/icmp']", "expose[0]", "expected PORT or START-END"),
        ("expose: [0]", "expose[0]", "out of range"),
        ("cpus: .nan", "cpus", "finite"),
        ("cpus: SECRETNAME", "cpus", "must be a number of CPUs"),
        (
            "deploy: {resources: {reservations: {cpus: -0.5}}}",
            "deploy.resources.reservations.cpus",
            "must not be negative",
        ),
    ],
)
def test_inconsistent_forms_are_located_without_their_value(
    extra: str, path: str, message: str
) -> None:
    lines = "".join(f"    {line}\n" for line in extra.splitlines())
    reports = _problems(f"services:\n  web:\n    image: nginx\n{lines}")
    assert len(reports) == 1, reports
    assert reports[0].startswith("stack.yaml:4:") or reports[0].startswith("stack.yaml:5:")
    assert f": services.web.{path}: " in reports[0], reports
    assert message in reports[0]
    assert "SECRETNAME" not in reports[0]


# --------------------------------------------------------------------------- port short forms


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("localhost:8080:80", "the host IP must be an IP address"),
        ("8080:80:80", "the host IP must be an IP address"),
        ("99999", "the container port is out of range (1-65535)"),
        ("70000:80", "the host port is out of range (1-65535)"),
        ("80-70", "the container port range is reversed"),
        ("80-99999", "the container port range goes outside 1-65535"),
        ("8080-8070:80", "the host port range is reversed"),
        ("abc", "the container port must be a number or a range"),
        ("abc:80", "the host port must be a number or a range"),
        ("80:abc", "the container port must be a number or a range"),
        ("80/", "the protocol after / is empty"),
        ("80/icmp", "the protocol must be tcp, udp or sctp"),
        ("1-3:1-2", "different lengths"),
    ],
)
def test_port_errors_say_which_part_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_port(text)
    assert message in str(info.value)
    assert "reversed" not in str(info.value) or "reversed" in message
    assert text not in str(info.value)


@pytest.mark.parametrize("text", ["[::1]:80:80", "::1:80:80", "127.0.0.1::80", ":80", "0:80"])
def test_port_forms_compose_accepts(text: str) -> None:
    assert parse_port(text)
