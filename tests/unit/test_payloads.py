"""The mapping from real engine payloads (recorded by tests/fixtures/payloads/record.py from
Docker 20.10, API 1.41) to stackup's Observed values, without an engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stackup.engine.docker import payloads
from stackup.engine.observed import Observed, ObservedMount
from stackup.model import labels as L

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "payloads"


def load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def observed() -> Observed:
    containers = load("containers.json")
    return payloads.observed_from_payloads(
        "payloads",
        containers=containers["project"],
        foreign=containers["compose"],
        networks=load("networks.json"),
        volumes=load("volumes.json")["Volumes"],
        images=load("images.json"),
        engine_id=load("info.json")["ID"],
    )


def test_containers(observed: Observed) -> None:
    assert [c.name for c in observed.containers] == ["payloads-job-1", "payloads-web-1"]
    job, web = observed.containers
    assert web.project == "payloads" and web.service == "web" and web.number == 1
    assert web.spec_hash == "abc"
    assert web.labels[L.VERSION] == "1"
    assert web.state == "running" and web.health == "healthy"
    assert web.status.startswith("Up ")
    assert web.networks == frozenset({"payloads_front", "payloads_back"})
    assert web.image == "busybox:latest"
    assert web.image_id == observed.images["busybox:latest"]
    assert len(web.id) == 64 and web.created > 1_700_000_000
    assert web.live is None
    by_target = {m.destination: m for m in web.mounts}
    assert by_target["/data"] == ObservedMount(
        "volume", "payloads_data", "/var/lib/docker/volumes/payloads_data/_data", "/data"
    )
    assert by_target["/cache"].type == "volume" and len(by_target["/cache"].name or "") == 64
    assert by_target["/config"].type == "bind" and by_target["/config"].name is None
    assert (by_target["/config"].source or "").startswith("/tmp/stackup-payloads-")
    assert job.state == "exited" and job.exit_code == 3 and job.health is None
    assert job.networks == frozenset({"payloads_back"})
    assert not job.is_temporary


def test_foreign_compose_containers(observed: Observed) -> None:
    assert [c.name for c in observed.foreign] == ["payloads_legacy_1"]
    assert observed.foreign[0].labels[L.COMPOSE_PROJECT] == "payloads"
    assert observed.foreign[0].project is None
    assert observed.foreign[0].networks == frozenset({"none"})


def test_networks_are_all_by_name(observed: Observed) -> None:
    assert set(observed.networks) == {"bridge", "host", "none", "payloads_back", "payloads_front"}
    front = observed.networks["payloads_front"]
    assert front.project == "payloads" and front.driver == "bridge" and front.scope == "local"
    assert len(front.id) == 64
    assert observed.networks["host"].driver == "host" and observed.networks["host"].labels == {}
    assert observed.networks["none"].driver == "null"


def test_volumes(observed: Observed) -> None:
    data = observed.volumes["payloads_data"]
    assert data.project == "payloads" and data.driver == "local"
    anonymous = [v for v in observed.volumes.values() if v.name != "payloads_data"]
    assert len(anonymous) == 1 and anonymous[0].labels == {}  # Labels: null in the payload


def test_images_map_every_tag(observed: Observed) -> None:
    images = observed.images
    assert images["nginx:stable"] == images["nginx:latest"] == images["nginx"]
    assert images["nginx:1.25"] != images["nginx:1.27"]
    assert images["busybox"] == images["busybox:latest"] == images["busybox:1.36"]
    assert all(v.startswith("sha256:") for v in images.values())
    assert images[payloads.normalize_image("busybox")] == images["busybox"]


def test_image_aliases_for_docker_hub_names() -> None:
    images = payloads.image_tags(
        [
            {
                "Id": "sha256:1",
                "RepoTags": ["docker.io/library/redis:7", "docker.io/acme/app:latest"],
                "RepoDigests": ["redis@sha256:abc"],
            },
            {"Id": "sha256:2", "RepoTags": ["<none>:<none>"], "RepoDigests": None},
            {"Id": "sha256:3", "RepoTags": None},
            {"Id": "sha256:4", "RepoTags": ["127.0.0.1:5000/team/x:latest"]},
        ]
    )
    assert images == {
        "docker.io/library/redis:7": "sha256:1",
        "redis:7": "sha256:1",
        "docker.io/acme/app:latest": "sha256:1",
        "acme/app:latest": "sha256:1",
        "docker.io/acme/app": "sha256:1",
        "acme/app": "sha256:1",
        "redis@sha256:abc": "sha256:1",
        "127.0.0.1:5000/team/x:latest": "sha256:4",
        "127.0.0.1:5000/team/x": "sha256:4",
    }
    assert payloads.normalize_image("docker.io/library/redis") == "redis:latest"
    assert payloads.normalize_image("127.0.0.1:5000/team/x") == "127.0.0.1:5000/team/x:latest"
    assert payloads.normalize_image("nginx@sha256:ab") == "nginx@sha256:ab"


def test_live_config_and_state_from_inspect() -> None:
    inspect = load("inspect.json")
    live = payloads.live_config_from_inspect(inspect["web"])
    assert live.restart == "on-failure:2"
    assert live.memory == 64 << 20 and live.nano_cpus == 0 and live.pids_limit is None
    web = payloads.container_state_from_inspect(inspect["web"])
    assert (web.name, web.status, web.health, web.exit_code) == (
        "payloads-web-1",
        "running",
        "healthy",
        0,
    )
    assert web.health_log == ""
    job = payloads.container_state_from_inspect(inspect["job"])
    assert (job.status, job.exit_code, job.health) == ("exited", 3, None)
    assert job.finished_at.startswith("20")


def test_fingerprint_is_stable(observed: Observed) -> None:
    assert observed.fingerprint() == observed.fingerprint()
    assert observed.engine_id == load("info.json")["ID"]
