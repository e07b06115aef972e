"""The swarm engine layer: Docker Swarm services, configs and secrets over a `DockerEngine`'s
connection (in `stackup.engine.docker`, the only sub-package that imports `docker`).

`DockerSwarm` is not an `Engine`: it holds the engine it talks through (`engine`), which runs
the plan's ordinary steps (overlay networks are created and removed with `create_network` /
`remove_network`), while it offers the swarm primitives (`SwarmEngine`) the swarm steps of
`stackup.targets.swarm.plan` need. Both count their calls in one `calls`. `observe_swarm()`
makes a constant number of requests whatever the size of the stack: one filtered list each of
services, networks, configs and secrets, and one of nodes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, Literal

import docker.errors
from docker.utils import parse_repository_tag

from stackup.engine.docker.calls import engine_errors, mutating, mutating_methods, split_lines
from stackup.engine.docker.engine import DockerEngine
from stackup.engine.docker.swarm_payloads import (
    service_spec,
    service_state,
    swarm_object,
    task_error,
    task_hash_of,
)
from stackup.engine.swarm_interface import (
    Convergence,
    ConvergenceQuery,
    DesiredObject,
    DesiredService,
    SwarmObserved,
)
from stackup.errors import EngineError
from stackup.model import labels


def _sdk(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Call an untyped SDK method (docker-py has no annotations on its swarm API)."""
    return fn(*args, **kwargs)


class DockerSwarm:
    """The swarm primitives (`stackup.engine.swarm_interface.SwarmEngine`) and the swarm's
    reads, over the connection of `engine`."""

    # The names of the methods that change the swarm (set below the class, from `mutating`);
    # those of the engine it holds are `DockerEngine.MUTATING`.
    MUTATING: ClassVar[frozenset[str]]

    def __init__(self, engine: DockerEngine) -> None:
        self.engine = engine
        self.api = engine.api
        self.calls: Counter[str] = engine.calls  # one count of the requests made, as one object

    @classmethod
    def from_env(cls, context: str | None = None) -> DockerSwarm:
        """The swarm of the engine the docker CLI would talk to (`DockerEngine.from_env`)."""
        return cls(DockerEngine.from_env(context))

    def engine_id(self) -> str:
        """The ID of the engine this manager runs on (the project lock's key)."""
        return self.engine.engine_id()

    def close(self) -> None:
        self.engine.close()

    # ------------------------------------------------------------------ reads

    def swarm_state(self) -> tuple[str, bool]:
        """(LocalNodeState, is this node a manager)."""
        with engine_errors("reading the engine's swarm state"):
            swarm = self.api.info().get("Swarm") or {}
        return str(swarm.get("LocalNodeState") or "inactive"), bool(swarm.get("ControlAvailable"))

    def require_manager(self) -> None:
        state, manager = self.swarm_state()
        if state != "active":
            raise EngineError(
                "this Docker engine is not part of a swarm",
                hint="run `docker swarm init` (or join one), or deploy with --target engine",
            )
        if not manager:
            raise EngineError(
                "this Docker engine is a swarm worker; deploy through a manager",
                hint="point DOCKER_HOST or --context at a manager node",
            )

    def observe_swarm(self, project: str) -> SwarmObserved:
        label = {"label": f"{labels.PROJECT}={project}"}
        with engine_errors(f"listing the swarm resources of project {project!r}"):
            services = _sdk(self.api.services, filters=label)
            networks = _sdk(self.api.networks, filters=label)
            configs = _sdk(self.api.configs, filters=label)
            secrets = _sdk(self.api.secrets, filters=label)
            nodes = _sdk(
                self.api.nodes,
            )
        self.calls["observe_swarm"] += 1
        ready = [
            n
            for n in nodes
            if (n.get("Status") or {}).get("State") == "ready"
            and (n.get("Spec") or {}).get("Availability", "active") == "active"
        ]
        return SwarmObserved(
            project=project,
            services=tuple(service_state(s) for s in services),
            networks=tuple(swarm_object(n, "Name") for n in networks),
            configs=tuple(swarm_object(c) for c in configs),
            secrets=tuple(swarm_object(s) for s in secrets),
            nodes=max(1, len(ready)),
        )

    def service_gone(self, name: str) -> bool:
        with engine_errors(f"inspecting service {name}", missing_ok=True):
            _sdk(self.api.inspect_service, name)
            return False
        with engine_errors(f"listing the containers of service {name}"):
            left = _sdk(
                self.api.containers,
                all=True,
                filters={"label": f"com.docker.swarm.service.name={name}"},
            )
        return not left

    def tasks(self, services: Sequence[str]) -> list[dict[str, Any]]:
        if not services:
            return []
        with engine_errors("listing swarm tasks"):
            return list(_sdk(self.api.tasks, filters={"service": list(services)}))

    def service_logs(
        self, name: str, *, follow: bool = False, tail: int | None = None, timestamps: bool = False
    ) -> Iterator[bytes]:
        with engine_errors(f"reading the logs of service {name}"):
            stream = _sdk(
                self.api.service_logs,
                name,
                stdout=True,
                stderr=True,
                follow=follow,
                tail="all" if tail is None else tail,
                timestamps=timestamps,
            )
        return split_lines(stream, f"reading the logs of service {name}")

    # ------------------------------------------------------------------ services

    @mutating
    def create_service(self, want: DesiredService) -> None:
        spec = self._service_spec(want)
        with engine_errors(f"creating service {want.name}"):
            _sdk(self.api.create_service, name=want.name, **spec)

    @mutating
    def update_service(self, want: DesiredService) -> None:
        with engine_errors(f"updating service {want.name}"):
            current = _sdk(self.api.inspect_service, want.name)
            spec = self._service_spec(want)
            # Swarm replaces tasks only when the task template changes; keep its counter.
            force = ((current.get("Spec") or {}).get("TaskTemplate") or {}).get("ForceUpdate", 0)
            spec["task_template"]["ForceUpdate"] = force
            _sdk(
                self.api.update_service,
                want.name,
                version=current["Version"]["Index"],
                name=want.name,
                fetch_current_spec=False,
                **spec,
            )

    @mutating
    def remove_service(self, name: str) -> None:
        with engine_errors(f"removing service {name}", missing_ok=True):
            _sdk(self.api.remove_service, name)

    def _service_spec(self, want: DesiredService) -> dict[str, Any]:
        return service_spec(want, self._object_ids(want))

    def _object_ids(self, want: DesiredService) -> dict[tuple[str, str], str]:
        """Swarm references configs and secrets by ID as well as name."""
        out: dict[tuple[str, str], str] = {}
        for kind, mounts, lister in (
            ("config", want.configs, self.api.configs),
            ("secret", want.secrets, self.api.secrets),
        ):
            names = sorted({m.name for m in mounts})
            if not names:
                continue
            with engine_errors(f"looking up the {kind}s of service {want.name}"):
                found = lister(filters={"name": names})
            for obj in found:
                out[(kind, obj["Spec"]["Name"])] = obj["ID"]
            for name in names:
                if (kind, name) not in out:
                    raise EngineError(f"service {want.name}: {kind} {name} does not exist")
        return out

    # ------------------------------------------------------------------ configs, secrets

    @mutating
    def create_object(self, obj: DesiredObject) -> None:
        with engine_errors(f"creating {obj.kind} {obj.name}"):
            try:
                if obj.kind == "config":
                    _sdk(self.api.create_config, obj.name, obj.content, labels=dict(obj.labels))
                else:
                    _sdk(self.api.create_secret, obj.name, obj.content, labels=dict(obj.labels))
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # already there: an earlier, interrupted apply
                    raise

    @mutating
    def remove_object(self, kind: Literal["config", "secret"], name: str) -> None:
        with engine_errors(f"removing {kind} {name}", missing_ok=True):
            if kind == "config":
                _sdk(self.api.remove_config, name)
            else:
                _sdk(self.api.remove_secret, name)

    # ------------------------------------------------------------------ images

    def local_image(self, image: str) -> tuple[str, tuple[str, ...]] | None:
        """The local image's ID and repository digests (`repo@sha256:…`, one per registry it
        was pushed to or pulled from), or None when it is not here."""
        with engine_errors(f"inspecting image {image}", missing_ok=True):
            attrs = _sdk(self.api.inspect_image, image)
            return str(attrs["Id"]), tuple(str(d) for d in attrs.get("RepoDigests") or ())
        return None

    def tag_image(self, image: str, target: str) -> None:
        repository, tag = parse_repository_tag(target)
        with engine_errors(f"tagging {image} as {target}"):
            _sdk(self.api.tag, image, repository, tag=tag or "latest")

    def push(self, image: str) -> str:
        """Push `image` to its registry; returns its digest there (`sha256:…`)."""
        repository, tag = parse_repository_tag(image)
        digest = ""
        with engine_errors(f"pushing image {image}"):
            for event in _sdk(
                self.api.push, repository, tag=tag or "latest", stream=True, decode=True
            ):
                if "error" in event:
                    detail = (event.get("errorDetail") or {}).get("message") or event["error"]
                    raise EngineError(f"pushing image {image}: {detail}")
                aux = event.get("aux") or {}
                if aux.get("Digest"):
                    digest = str(aux["Digest"])
        if not digest:
            raise EngineError(f"pushing image {image}: the registry returned no digest")
        return digest

    # ------------------------------------------------------------------ waiting

    def convergence(self, step: ConvergenceQuery) -> Convergence:
        with engine_errors(f"inspecting service {step.name}"):
            service = _sdk(self.api.inspect_service, step.name)
            tasks = list(_sdk(self.api.tasks, filters={"service": step.name}))
        status = service.get("UpdateStatus") or {}
        state = status.get("State")
        fresh = bool(status.get("StartedAt")) and status.get("StartedAt") != step.previous_update
        if fresh and state in ("rollback_completed", "rollback_paused", "paused"):
            error = task_error(tasks, step.task_hash) or status.get("Message") or state
            what = "was rolled back" if str(state).startswith("rollback") else "was paused"
            return Convergence(failed=f"the update {what}: {error}")
        current = [
            t
            for t in tasks
            if t.get("DesiredState") == "running" and task_hash_of(t) == step.task_hash
        ]
        running = [t for t in current if (t.get("Status") or {}).get("State") == "running"]
        old = [
            t
            for t in tasks
            if t.get("DesiredState") == "running" and task_hash_of(t) != step.task_hash
        ]
        want = step.replicas if step.replicas is not None else max(1, len(current))
        updating = fresh and state in ("updating", "rollback_started")
        if len(running) == want and len(current) == want and not old and not updating:
            return Convergence(done=True)
        progress = f"{len(running)}/{want} task(s) of the new spec running"
        if old:
            progress += f", {len(old)} old still running"
        if fresh and state == "rollback_started":
            progress += ", rolling back"
        elif updating and len(running) == want and not old:
            progress += ", monitoring the update"
        error = task_error(tasks, step.task_hash)
        if error:
            progress += f" (last task error: {error})"
        return Convergence(progress=progress)


DockerSwarm.MUTATING = mutating_methods(DockerSwarm)


def connect_swarm(context: str | None = None) -> DockerSwarm:
    return DockerSwarm.from_env(context)
