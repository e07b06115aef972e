"""docker-compose 1.29 (Debian's) as an oracle for the good fixtures it also accepts.

For each fixture without a `# stackup-only:` first line, `docker-compose -f F config` and
`stackup -f F config --format json` must agree on services, images, ports, volumes, networks,
environment and depends_on. Both outputs are normalised to one shape first; the known
representation differences are:

- ports: 1.29 prints short strings (`127.0.0.1:443:443/tcp`) or mappings with an integer
  `published`; stackup prints mappings with a string `published`. Both become
  (host_ip, published, target, protocol) tuples.
- volumes: 1.29 prints mappings or `SRC:DST:MODE` strings; both become
  (type, source, target, read_only) tuples.
- networks: 1.29 omits `networks` for a service on the default network; stackup names
  `default`. Both become sets of network names, `{"default"}` when none is listed.
- environment: values compared as strings (1.29 keeps YAML ints, stackup holds strings);
  1.29 re-escapes a literal `$` as `$$` so its output can be read again, stackup prints the
  value itself, so 1.29's `$$` is read back as `$`. stackup runs with `--show-sensitive`.
- depends_on: 1.29 prints a list or a mapping; both become {service: condition}.
- profiles: 1.29's `config` prints every service whatever its profiles; stackup prints only
  the enabled ones, so services that 1.29 shows with `profiles` are left out of its side.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackup.model.shortsyntax import parse_port, parse_volume

GOOD = Path(__file__).resolve().parent.parent / "fixtures" / "good"
ORACLE_FIXTURES = sorted(
    f for f in GOOD.glob("*.yaml") if not f.read_text().startswith("# stackup-only")
)
COMPOSE = shutil.which("docker-compose")

pytestmark = pytest.mark.skipif(
    COMPOSE is None and not os.environ.get("STACKUP_REQUIRE_ENGINE"),
    reason="docker-compose 1.29 is not installed",
)


def _clean_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}


def _ports(items: list[Any]) -> set[tuple[str, str, int, str]]:
    out = set()
    for item in items or []:
        entries = parse_port(item) if isinstance(item, str | int) else [item]
        for e in entries:
            published = e.get("published")
            out.add(
                (
                    e.get("host_ip") or "",
                    "" if published is None else str(published),
                    int(e["target"]),
                    e.get("protocol") or "tcp",
                )
            )
    return out


def _volumes(items: list[Any]) -> set[tuple[str, str, str, bool]]:
    out = set()
    for item in items or []:
        e = parse_volume(item) if isinstance(item, str) else item
        out.add((e["type"], e.get("source") or "", e["target"], bool(e.get("read_only"))))
    return out


def _depends(value: Any) -> dict[str, str]:
    if isinstance(value, list):
        return {name: "service_started" for name in value}
    return {k: (v or {}).get("condition", "service_started") for k, v in (value or {}).items()}


def _networks(value: Any) -> set[str]:
    if not value:
        return {"default"}
    return set(value)


def _env(value: Any, escaped: bool) -> dict[str, str | None]:
    env = _env_values(value)
    if escaped:
        return {k: (None if v is None else v.replace("$$", "$")) for k, v in env.items()}
    return env


def _env_values(value: Any) -> dict[str, str | None]:
    if isinstance(value, list):
        out: dict[str, str | None] = {}
        for item in value:
            k, sep, v = item.partition("=")
            out[k] = v if sep else None
        return out
    return {k: (None if v is None else str(v)) for k, v in (value or {}).items()}


def _normalise(doc: dict[str, Any], from_compose: bool) -> dict[str, Any]:
    services = {}
    for name, svc in (doc.get("services") or {}).items():
        if from_compose and svc.get("profiles"):
            continue
        services[name] = {
            "image": svc.get("image"),
            "ports": _ports(svc.get("ports")),
            "volumes": _volumes(svc.get("volumes")),
            "networks": _networks(svc.get("networks")),
            "environment": _env(svc.get("environment"), escaped=from_compose),
            "depends_on": _depends(svc.get("depends_on")),
        }
    return services


def test_there_are_oracle_fixtures() -> None:
    assert len(ORACLE_FIXTURES) >= 6


@pytest.mark.parametrize("fixture", ORACLE_FIXTURES, ids=[f.stem for f in ORACLE_FIXTURES])
def test_stackup_agrees_with_docker_compose(fixture: Path) -> None:
    assert COMPOSE is not None, "docker-compose is required (STACKUP_REQUIRE_ENGINE=1)"
    theirs = subprocess.run(
        [COMPOSE, "-f", fixture.name, "config"],
        cwd=fixture.parent,
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=120,
    )
    assert theirs.returncode == 0, theirs.stderr
    ours = subprocess.run(
        [
            sys.executable,
            "-m",
            "stackup",
            "-f",
            fixture.name,
            "config",
            "--format",
            "json",
            "--show-sensitive",
        ],
        cwd=fixture.parent,
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=120,
    )
    assert ours.returncode == 0, ours.stderr
    compose_view = _normalise(yaml.safe_load(theirs.stdout), from_compose=True)
    stackup_view = _normalise(json.loads(ours.stdout), from_compose=False)
    assert sorted(stackup_view) == sorted(compose_view)
    for name in compose_view:
        assert stackup_view[name] == compose_view[name], name
