"""Each merge rule, through `load` of two `-f` files (as users meet them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stackup.loading.loader import LoadedStack, LoadOptions, load


def merged(
    tmp_path: Path, base: str, override: str, env: dict[str, str] | None = None
) -> LoadedStack:
    (tmp_path / "base.yaml").write_text(base)
    (tmp_path / "over.yaml").write_text(override)
    return load(
        LoadOptions(
            files=(Path("base.yaml"), Path("over.yaml")),
            working_dir=tmp_path,
            environ=env or {},
            project_name="t",
        )
    )


def web(loaded: LoadedStack) -> Any:
    return loaded.stack.services["web"]


BASE = """
services:
  web:
    image: nginx:1.25
    command: [nginx, -g, "daemon off;"]
    entrypoint: [/docker-entrypoint.sh]
    environment: {A: "1", B: "2"}
    labels: [x=1]
    ports: ["8080:80", "127.0.0.1:9090:90/udp"]
    volumes: ["./a:/srv/a", "data:/data"]
    dns: [1.1.1.1]
    healthcheck:
      test: [CMD, curl, -f, http://localhost]
      interval: 10s
    secrets: [one]
    depends_on: [db]
  db:
    image: postgres
volumes:
  data:
secrets:
  one: {file: ./one.txt}
  two: {file: ./two.txt}
"""


def test_scalars_are_replaced_and_mappings_merged(tmp_path: Path) -> None:
    s = web(
        merged(
            tmp_path,
            BASE,
            "services:\n  web:\n    image: nginx:1.27\n    environment: [B=3, C=4]\n",
        )
    )
    assert s.image == "nginx:1.27"
    assert s.environment == {"A": "1", "B": "3", "C": "4"}


def test_labels_merge_by_key(tmp_path: Path) -> None:
    s = web(merged(tmp_path, BASE, "services:\n  web:\n    labels: {x: '2', y: '3'}\n"))
    assert s.labels == {"x": "2", "y": "3"}


def test_command_entrypoint_and_healthcheck_test_are_replaced(tmp_path: Path) -> None:
    over = "services:\n  web:\n    command: [echo, hi]\n    entrypoint: sh -c\n    healthcheck:\n      test: [CMD, 'true']\n"
    s = web(merged(tmp_path, BASE, over))
    assert s.command == ["echo", "hi"]
    assert s.entrypoint == ["sh", "-c"]
    assert s.healthcheck is not None
    assert s.healthcheck.test == ["CMD", "true"]
    assert s.healthcheck.interval is not None and s.healthcheck.interval.total_seconds() == 10


def test_plain_sequences_append_without_repeats(tmp_path: Path) -> None:
    s = web(merged(tmp_path, BASE, "services:\n  web:\n    dns: [1.1.1.1, 8.8.8.8]\n"))
    assert s.dns == ["1.1.1.1", "8.8.8.8"]


def test_ports_unique_by_ip_published_target_protocol(tmp_path: Path) -> None:
    over = "services:\n  web:\n    ports:\n      - target: 80\n        published: 8080\n        name: http\n      - '8443:443'\n"
    s = web(merged(tmp_path, BASE, over))
    assert [(p.host_ip, p.published, p.target, p.protocol) for p in s.ports] == [
        (None, "8080", 80, "tcp"),
        ("127.0.0.1", "9090", 90, "udp"),
        (None, "8443", 443, "tcp"),
    ]
    assert s.ports[0].name == "http"  # the later definition replaced the earlier one


def test_volumes_unique_by_target(tmp_path: Path) -> None:
    over = "services:\n  web:\n    volumes: ['./b:/srv/a:ro', './c:/srv/c']\n"
    loaded = merged(tmp_path, BASE, over)
    vols = {v.target: v for v in web(loaded).volumes}
    assert set(vols) == {"/srv/a", "/data", "/srv/c"}
    assert vols["/srv/a"].source == str(tmp_path / "b") and vols["/srv/a"].read_only


def test_secrets_unique_by_target(tmp_path: Path) -> None:
    # As compose-go: an entry is known by where it is mounted (`/run/secrets/<source>` when it
    # names no target), so the same secret at a second path is a second mount.
    over = (
        "services:\n  web:\n    secrets:\n      - source: one\n        target: /run/one\n"
        "      - two\n      - source: two\n        target: /run/secrets/one\n"
    )
    s = web(merged(tmp_path, BASE, over))
    assert [(r.source, r.target) for r in s.secrets] == [
        ("two", "/run/secrets/one"),
        ("one", "/run/one"),
        ("two", None),
    ]


def test_depends_on_list_and_mapping_merge(tmp_path: Path) -> None:
    over = "services:\n  web:\n    depends_on:\n      db:\n        condition: service_healthy\n"
    s = web(merged(tmp_path, BASE, over))
    assert s.depends_on["db"].condition == "service_healthy"


def test_reset_removes_and_override_replaces(tmp_path: Path) -> None:
    over = "services:\n  web:\n    ports: !reset []\n    dns: !override [9.9.9.9]\n    environment: !override {Z: '1'}\n"
    s = web(merged(tmp_path, BASE, over))
    assert s.ports == []
    assert s.dns == ["9.9.9.9"]
    assert s.environment == {"Z": "1"}


def test_reset_removes_a_whole_service(tmp_path: Path) -> None:
    over = "services:\n  db: !reset null\n  web:\n    depends_on: !reset []\n"
    loaded = merged(tmp_path, BASE, over)
    assert set(loaded.stack.services) == {"web"}


def test_new_services_are_added(tmp_path: Path) -> None:
    loaded = merged(tmp_path, BASE, "services:\n  cache:\n    image: redis\n")
    assert set(loaded.stack.services) == {"web", "db", "cache"}


def test_marks_follow_the_winning_value(tmp_path: Path) -> None:
    loaded = merged(tmp_path, BASE, "services:\n  web:\n    image: nginx:1.27\n")
    mark = loaded.source.value(("services", "web", "image"))
    assert mark is not None and mark.file == "over.yaml" and mark.line == 3
    kept = loaded.source.value(("services", "web", "command"))
    assert kept is not None and kept.file == "base.yaml"


def test_override_paths_resolve_against_the_project_directory(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "over.yaml").write_text("services:\n  web:\n    volumes: ['./x:/x']\n")
    (tmp_path / "base.yaml").write_text("services:\n  web:\n    image: nginx\n")
    loaded = load(
        LoadOptions(
            files=(Path("base.yaml"), Path("sub/over.yaml")), working_dir=tmp_path, environ={}
        )
    )
    assert web(loaded).volumes[0].source == str(tmp_path / "x")


def test_build_override_without_context_keeps_the_context(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "base.yaml").write_text(
        "services:\n  api:\n    build: {dockerfile: Api.Dockerfile}\n"
    )
    base = (
        "services:\n  web:\n    build: ./app\n"
        "  worker:\n    extends: web\n    build: {target: worker}\n"
        "  api:\n    extends: {file: lib/base.yaml, service: api}\n    build: {target: prod}\n"
        "  plain:\n    build: {dockerfile: Plain.Dockerfile}\n"
    )
    over = "services:\n  web:\n    build:\n      dockerfile: Other.Dockerfile\n"
    s = merged(tmp_path, base, over).stack.services
    assert s["web"].build.context == str(tmp_path / "app")
    assert s["web"].build.dockerfile == "Other.Dockerfile"
    assert s["worker"].build.context == str(tmp_path / "app")
    assert s["api"].build.context == str(tmp_path / "lib")
    assert s["plain"].build.context == str(tmp_path)


def test_additional_contexts_paths_become_absolute(tmp_path: Path) -> None:
    base = (
        "services:\n  web:\n    build:\n      context: .\n      additional_contexts:\n"
        "        - shared=../shared\n        - img=docker-image://alpine\n"
        "        - svc=service:base\n"
    )
    s = web(merged(tmp_path, base, "services: {}\n"))
    assert s.build.additional_contexts == {
        "shared": str(tmp_path.parent / "shared"),
        "img": "docker-image://alpine",
        "svc": "service:base",
    }
