"""`observe()` costs a constant number of HTTP requests, whatever the number of services.

The stack grows from 1 to 10 to 50 running busybox containers of one project; each observe
is counted at the HTTP layer (every request the SDK's session sends), and the count must be
the same each time while the snapshot holds every container with its labels.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
import pytest
import requests

from stackup.engine.docker.engine import DockerEngine
from stackup.engine.interface import ContainerSpec
from stackup.model import labels as L
from stackup.model.spec import Service

SIZES = (1, 10, 50)


@pytest.fixture
def engine(docker_client: docker.DockerClient) -> Iterator[DockerEngine]:
    eng = DockerEngine.from_env()
    yield eng
    eng.close()


class RequestCounter:
    """Counts the requests a `requests.Session` (the SDK's APIClient is one) sends."""

    def __init__(self, session: requests.Session) -> None:
        self.paths: list[str] = []
        original = session.send

        def send(request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            self.paths.append(f"{request.method} {request.path_url.split('?')[0]}")
            return original(request, **kwargs)

        session.send = send  # type: ignore[method-assign]

    def during(self, action: Any) -> tuple[Any, list[str]]:
        start = len(self.paths)
        result = action()
        return result, self.paths[start:]


def _start(engine: DockerEngine, project: str, number: int) -> str:
    service = Service.model_validate(
        {"image": "busybox:latest", "command": ["sleep", "3600"], "stop_grace_period": "1s"}
    )
    cid = engine.create_container(
        ContainerSpec(
            name=f"{project}-svc{number}-1",
            image="busybox:latest",
            service=service,
            labels={L.PROJECT: project, L.SERVICE: f"svc{number}", L.NUMBER: "1"},
            environment={},
        )
    )
    engine.start_container(cid)
    return cid


def test_observe_makes_the_same_number_of_requests_for_1_10_50(
    engine: DockerEngine, project_name: str
) -> None:
    counter = RequestCounter(engine.api)
    _, first = counter.during(lambda: engine.observe(project_name))
    assert [p for p in first if p.endswith("/info")]  # the engine ID, once per engine object
    assert len(first) == 6

    counts: dict[int, list[str]] = {}
    made = 0
    for size in SIZES:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda n: _start(engine, project_name, n), range(made, size)))
        made = size
        observed, paths = counter.during(lambda: engine.observe(project_name))
        counts[size] = paths
        assert len(observed.containers) == size
        assert {c.service for c in observed.containers} == {f"svc{n}" for n in range(size)}
        for c in observed.containers:
            assert c.labels[L.PROJECT] == project_name
            assert c.state == "running"
        assert observed.foreign == ()

    lengths = {size: len(paths) for size, paths in counts.items()}
    print(f"requests per observe: {lengths}; {counts[SIZES[-1]]}")
    assert len(set(lengths.values())) == 1, lengths
    assert counts[1] == counts[10] == counts[50]
    # List endpoints only, never a per-container inspect (`/containers/<id>/json`).
    endpoints = sorted(path.split(" ")[1].split("/", 2)[2] for path in counts[50])
    assert endpoints == ["containers/json", "containers/json", "images/json", "networks", "volumes"]
