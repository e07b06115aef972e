"""The swarm engine layer: a `DockerEngine` that also drives Docker Swarm services, configs and
secrets (the second module that imports `docker`; `docker_engine` is the first).

It is a subclass so the executor's ordinary steps (overlay networks are created and removed
with `create_network` / `remove_network`) and the swarm steps of `stackup.targets.swarm.plan` run over one
object. `observe_swarm()` makes a constant number of requests whatever the size of the stack:
one filtered list each of services, networks, configs and secrets, and one of nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal

import docker.errors
from docker.types import ServiceMode
from docker.utils import parse_repository_tag

from stackup.engine.docker.calls import engine_errors, mutating, mutating_methods, split_lines
from stackup.engine.docker.engine import DockerEngine
from stackup.errors import EngineError
from stackup.model import labels as L
from stackup.model.parts import Healthcheck, UpdateConfig
from stackup.targets.swarm.plan import (
    TASK_HASH,
    Convergence,
    DesiredObject,
    DesiredService,
    SwarmObject,
    SwarmObserved,
    SwarmServiceState,
    WaitConverged,
    strip_digest,
)

_NS = 1_000_000_000


def _sdk(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Call an untyped SDK method (docker-py has no annotations on its swarm API)."""
    return fn(*args, **kwargs)


def _ns(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds() * _NS)


class DockerSwarm(DockerEngine):
    """`DockerEngine` plus the swarm primitives (`stackup.targets.swarm.plan.SwarmEngine`)."""

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
        label = {"label": f"{L.PROJECT}={project}"}
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
            services=tuple(_service_state(s) for s in services),
            networks=tuple(_object(n, "Name") for n in networks),
            configs=tuple(_object(c) for c in configs),
            secrets=tuple(_object(s) for s in secrets),
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

    def convergence(self, step: WaitConverged) -> Convergence:
        with engine_errors(f"inspecting service {step.name}"):
            service = _sdk(self.api.inspect_service, step.name)
            tasks = list(_sdk(self.api.tasks, filters={"service": step.name}))
        status = service.get("UpdateStatus") or {}
        state = status.get("State")
        fresh = bool(status.get("StartedAt")) and status.get("StartedAt") != step.previous_update
        if fresh and state in ("rollback_completed", "rollback_paused", "paused"):
            error = _task_error(tasks, step.task_hash) or status.get("Message") or state
            what = "was rolled back" if str(state).startswith("rollback") else "was paused"
            return Convergence(failed=f"the update {what}: {error}")
        current = [
            t
            for t in tasks
            if t.get("DesiredState") == "running" and _task_hash(t) == step.task_hash
        ]
        running = [t for t in current if (t.get("Status") or {}).get("State") == "running"]
        old = [
            t
            for t in tasks
            if t.get("DesiredState") == "running" and _task_hash(t) != step.task_hash
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
        error = _task_error(tasks, step.task_hash)
        if error:
            progress += f" (last task error: {error})"
        return Convergence(progress=progress)


DockerSwarm.MUTATING = mutating_methods(DockerSwarm)


# ---------------------------------------------------------------------- mapping


def service_spec(want: DesiredService, ids: Mapping[tuple[str, str], str]) -> dict[str, Any]:
    """The keyword arguments of `APIClient.create_service` / `update_service` (the Docker
    API's ServiceSpec, in parts)."""
    s = want.spec
    container: dict[str, Any] = {
        "Image": want.image,
        "Labels": dict(want.container_labels),
        "Env": [f"{k}={v}" for k, v in sorted(want.environment.items())],
    }
    if s.entrypoint is not None:
        container["Command"] = list(s.entrypoint)
    if s.command is not None:
        container["Args"] = list(s.command)
    for key, value in (
        ("Hostname", s.hostname),
        ("User", s.user),
        ("Dir", s.working_dir),
        ("StopSignal", s.stop_signal),
        ("Init", s.init),
    ):
        if value is not None:
            container[key] = value
    if s.read_only:
        container["ReadOnly"] = True
    if s.tty:
        container["TTY"] = True
    if s.stdin_open:
        container["OpenStdin"] = True
    if s.stop_grace_period is not None:
        container["StopGracePeriod"] = _ns(s.stop_grace_period)
    if s.group_add:
        container["Groups"] = list(s.group_add)
    if s.extra_hosts:
        container["Hosts"] = [_host_entry(h) for h in s.extra_hosts]
    if s.dns or s.dns_search or s.dns_opt:
        container["DNSConfig"] = {
            "Nameservers": list(s.dns),
            "Search": list(s.dns_search),
            "Options": list(s.dns_opt),
        }
    if s.sysctls:
        container["Sysctls"] = dict(s.sysctls)
    if s.ulimits:
        container["Ulimits"] = [
            {"Name": k, "Soft": u.soft, "Hard": u.hard} for k, u in sorted(s.ulimits.items())
        ]
    if s.healthcheck is not None:
        container["Healthcheck"] = _healthcheck(s.healthcheck)
    mounts = []
    for m in want.mounts:
        mount: dict[str, Any] = {"Type": m.type, "Target": m.target, "ReadOnly": m.read_only}
        if m.source:
            mount["Source"] = m.source
        if m.type == "volume" and (m.volume_labels or m.volume_driver):
            options: dict[str, Any] = {"Labels": dict(m.volume_labels)}
            if m.volume_driver:
                options["DriverConfig"] = {
                    "Name": m.volume_driver,
                    "Options": dict(m.volume_driver_opts),
                }
            mount["VolumeOptions"] = options
        if m.type == "tmpfs" and m.tmpfs_size:
            mount["TmpfsOptions"] = {"SizeBytes": m.tmpfs_size}
        mounts.append(mount)
    for target in s.tmpfs:
        mounts.append({"Type": "tmpfs", "Target": target.split(":", 1)[0]})
    if mounts:
        container["Mounts"] = mounts
    for kind, refs in (("config", want.configs), ("secret", want.secrets)):
        if refs:
            container["Configs" if kind == "config" else "Secrets"] = [
                {
                    f"{kind.capitalize()}ID": ids[(kind, r.name)],
                    f"{kind.capitalize()}Name": r.name,
                    "File": {"Name": r.target, "UID": r.uid, "GID": r.gid, "Mode": r.mode},
                }
                for r in refs
            ]

    deploy = s.deploy
    task: dict[str, Any] = {
        "ContainerSpec": container,
        "Networks": [{"Target": net, "Aliases": list(aliases)} for net, aliases in want.networks],
        "ForceUpdate": 0,
    }
    if deploy is not None and deploy.resources is not None:
        resources: dict[str, Any] = {}
        for key, part in (
            ("Limits", deploy.resources.limits),
            ("Reservations", deploy.resources.reservations),
        ):
            if part is None:
                continue
            values: dict[str, Any] = {}
            if part.cpus is not None:
                values["NanoCPUs"] = int(float(part.cpus) * _NS)
            if part.memory is not None:
                values["MemoryBytes"] = part.memory
            if part.pids is not None and key == "Limits":
                values["Pids"] = part.pids
            resources[key] = values
        task["Resources"] = resources
    if deploy is not None and deploy.restart_policy is not None:
        rp = deploy.restart_policy
        policy: dict[str, Any] = {"Condition": rp.condition or "any"}
        if rp.delay is not None:
            policy["Delay"] = _ns(rp.delay)
        if rp.max_attempts is not None:
            policy["MaxAttempts"] = rp.max_attempts
        if rp.window is not None:
            policy["Window"] = _ns(rp.window)
        task["RestartPolicy"] = policy
    if deploy is not None and deploy.placement is not None:
        placement: dict[str, Any] = {"Constraints": list(deploy.placement.constraints)}
        prefs = []
        for pref in deploy.placement.preferences:
            for strategy, descriptor in pref.items():
                if strategy == "spread":
                    prefs.append({"Spread": {"SpreadDescriptor": descriptor}})
        if prefs:
            placement["Preferences"] = prefs
        if deploy.placement.max_replicas_per_node:
            placement["MaxReplicas"] = deploy.placement.max_replicas_per_node
        task["Placement"] = placement
    if s.logging is not None and s.logging.driver:
        task["LogDriver"] = {
            "Name": s.logging.driver,
            "Options": {k: v for k, v in s.logging.options.items() if v is not None},
        }

    ports = [
        {
            "Protocol": p.protocol,
            "TargetPort": p.target,
            "PublishedPort": int(p.published.split("-")[0]),
            "PublishMode": p.mode,
        }
        for p in s.ports
        if p.published
    ]
    endpoint: dict[str, Any] = {"Mode": (deploy.endpoint_mode if deploy else None) or "vip"}
    if ports:
        endpoint["Ports"] = ports
    out: dict[str, Any] = {
        "task_template": task,
        "labels": dict(want.labels),
        "mode": ServiceMode("global")
        if want.replicas is None
        else ServiceMode("replicated", replicas=want.replicas),
        "endpoint_spec": endpoint,
    }
    if deploy is not None and deploy.update_config is not None:
        out["update_config"] = _update_config(deploy.update_config)
    if deploy is not None and deploy.rollback_config is not None:
        out["rollback_config"] = _update_config(deploy.rollback_config)
    return out


def _update_config(uc: UpdateConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"Parallelism": uc.parallelism if uc.parallelism is not None else 1}
    if uc.delay is not None:
        out["Delay"] = _ns(uc.delay)
    if uc.failure_action is not None:
        out["FailureAction"] = uc.failure_action
    if uc.monitor is not None:
        out["Monitor"] = _ns(uc.monitor)
    if uc.max_failure_ratio is not None:
        out["MaxFailureRatio"] = uc.max_failure_ratio
    if uc.order is not None:
        out["Order"] = uc.order
    return out


def _healthcheck(h: Healthcheck) -> dict[str, Any]:
    if h.disable:
        return {"Test": ["NONE"]}
    out: dict[str, Any] = {}
    if h.test:
        out["Test"] = list(h.test)
    for key, value in (
        ("Interval", h.interval),
        ("Timeout", h.timeout),
        ("StartPeriod", h.start_period),
    ):
        if value is not None:
            out[key] = _ns(value)
    if h.retries is not None:
        out["Retries"] = h.retries
    return out


def _host_entry(entry: str) -> str:
    """Compose's `host:ip` / `host=ip` as the API's `ip host`."""
    sep = "=" if "=" in entry else ":"
    host, _, ip = entry.partition(sep)
    return f"{ip} {host}"


def _service_state(raw: Mapping[str, Any]) -> SwarmServiceState:
    spec = raw.get("Spec") or {}
    mode = spec.get("Mode") or {}
    replicated = mode.get("Replicated")
    container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    status = raw.get("UpdateStatus") or {}
    return SwarmServiceState(
        id=str(raw.get("ID", "")),
        name=str(spec.get("Name", "")),
        labels=dict(spec.get("Labels") or {}),
        replicas=int(replicated.get("Replicas", 0)) if replicated is not None else None,
        image=strip_digest(str(container.get("Image", ""))),
        configs=tuple(str(c.get("ConfigName")) for c in container.get("Configs") or []),
        secrets=tuple(str(c.get("SecretName")) for c in container.get("Secrets") or []),
        update_state=status.get("State"),
        update_started=status.get("StartedAt"),
    )


def _object(raw: Mapping[str, Any], name_key: str = "") -> SwarmObject:
    if name_key:  # networks list their name and labels at the top level
        return SwarmObject(
            str(raw.get("Id", "")), str(raw.get(name_key, "")), dict(raw.get("Labels") or {})
        )
    spec = raw.get("Spec") or {}
    return SwarmObject(
        str(raw.get("ID", "")), str(spec.get("Name", "")), dict(spec.get("Labels") or {})
    )


def _task_hash(task: Mapping[str, Any]) -> str | None:
    labels = (((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Labels")) or {}
    value = labels.get(TASK_HASH)
    return str(value) if value is not None else None


def _task_error(tasks: Sequence[Mapping[str, Any]], task_hash: str) -> str:
    """The error of the most recent failed task of the new spec."""
    failed = [
        t
        for t in tasks
        if _task_hash(t) == task_hash
        and (t.get("Status") or {}).get("State") in ("failed", "rejected", "shutdown", "complete")
        and (
            (t.get("Status") or {}).get("Err") or (t.get("Status") or {}).get("State") != "shutdown"
        )
    ]
    if not failed:
        return ""
    last = max(failed, key=lambda t: str((t.get("Status") or {}).get("Timestamp", "")))
    status = last.get("Status") or {}
    slot = last.get("Slot")
    where = f"task {last.get('ID', '')[:12]}" + (f" (slot {slot})" if slot else "")
    detail = status.get("Err") or status.get("Message") or status.get("State")
    return f"{where} {status.get('State')}: {detail}"


def connect_swarm(context: str | None = None) -> DockerSwarm:
    engine = DockerSwarm.from_env(context)
    assert isinstance(engine, DockerSwarm)
    return engine
