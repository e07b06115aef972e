"""The engine contract: what the core relies on, checked on `FakeEngine` and `DockerEngine` alike.

Each scenario is written once, as a function of the engine (the ``engine`` fixture runs it on
both), and asserts observable outcomes both must agree on. A scenario that passes on the real
engine and fails on the fake shows the fake lying to the unit tests; the fake is then fixed.

Rules kept on the real engine: every resource carries ``io.stackup.project=<project>`` (the
fixture removes them by label), ports are published on 127.0.0.1 only, containers run
``sleep`` from a local busybox image and are stopped with a timeout of 0 (no waiting).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from stackup import api
from stackup.engine.interface import (
    ContainerSpec,
    MountSpec,
    NetworkAttachment,
    NetworkSpec,
    VolumeSpec,
)
from stackup.engine.observed import ObservedContainer
from stackup.errors import EngineError
from stackup.loading.loader import LoadedStack, load_text
from stackup.model import labels as L
from stackup.model.spec import Service
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Action
from stackup.planning.teardown import plan_down
from stackup.targets.engine.execute import ExecuteOptions
from stackup.targets.engine.throwaway import run_check
from tests.contract.conftest import Subject
from tests.engine.helpers import free_port, wait_for

ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")
SLEEP = ["sleep", "3600"]


def service(**fields: Any) -> Service:
    fields.setdefault("image", "busybox:latest")
    fields.setdefault("command", SLEEP)
    return Service.model_validate(fields)


def cspec(
    s: Subject,
    name: str,
    svc: Service | None = None,
    *,
    networks: tuple[NetworkAttachment, ...] = (),
    mounts: tuple[MountSpec, ...] = (),
    labels: dict[str, str] | None = None,
    project_label: str = L.PROJECT,
) -> ContainerSpec:
    svc = svc or service()
    return ContainerSpec(
        name=f"{s.project}-{name}-1",
        image=svc.image or "busybox:latest",
        service=svc,
        labels={project_label: s.project, L.SERVICE: name, **(labels or {})},
        environment={k: v or "" for k, v in svc.environment.items()},
        networks=networks,
        mounts=mounts,
    )


def own(s: Subject, name: str) -> ObservedContainer:
    """The project's container called `name` (the full engine name), as observed."""
    found = [c for c in s.engine.observe(s.project).containers if c.name == name]
    assert len(found) == 1, f"{name} observed {len(found)} times"
    return found[0]


def names(s: Subject) -> list[str]:
    return [c.name for c in s.engine.observe(s.project).containers]


_FAKE_PORTS = itertools.count(18000)


def host_port(s: Subject) -> int:
    """A host port to publish: a free one of this machine for the real engine; any number for
    the fake, which has no host (a unit test probes no real port)."""
    return free_port() if s.kind != "fake" else next(_FAKE_PORTS)


def project_labels(s: Subject, **more: str) -> dict[str, str]:
    return {L.PROJECT: s.project, **more}


# ---------------------------------------------------------------- networks and volumes


def test_create_network_is_observed_with_its_labels(engine: Subject) -> None:
    e, p = engine.engine, engine.project
    labels = project_labels(engine, tier="front")
    nid = e.create_network(NetworkSpec(name=f"{p}_net", labels=labels))
    seen = e.observe(p).networks[f"{p}_net"]
    assert seen.id == nid
    assert seen.name == f"{p}_net"
    assert dict(seen.labels) == labels
    assert seen.project == p
    assert seen.driver == "bridge"


def test_create_network_twice_is_an_engine_error(engine: Subject) -> None:
    e, p = engine.engine, engine.project
    e.create_network(NetworkSpec(name=f"{p}_net", labels=project_labels(engine)))
    with pytest.raises(EngineError):
        e.create_network(NetworkSpec(name=f"{p}_net", labels=project_labels(engine)))
    assert f"{p}_net" in e.observe(p).networks


def test_create_volume_is_observed_and_a_second_create_keeps_it(engine: Subject) -> None:
    e, p = engine.engine, engine.project
    labels = project_labels(engine, kind="data")
    e.create_volume(VolumeSpec(name=f"{p}_data", labels=labels))
    e.create_volume(
        VolumeSpec(name=f"{p}_data", labels=labels)
    )  # the engine's create is idempotent
    seen = e.observe(p).volumes[f"{p}_data"]
    assert dict(seen.labels) == labels
    assert seen.driver == "local"
    e.remove_volume(f"{p}_data")
    assert f"{p}_data" not in e.observe(p).volumes
    e.remove_volume(f"{p}_data")  # gone already: not an error


def test_remove_network_in_use_is_refused_and_missing_is_not_an_error(engine: Subject) -> None:
    e, p = engine.engine, engine.project
    e.create_network(NetworkSpec(name=f"{p}_net", labels=project_labels(engine)))
    cid = e.create_container(cspec(engine, "app", networks=(NetworkAttachment(f"{p}_net"),)))
    e.start_container(cid)
    with pytest.raises(EngineError):
        e.remove_network(f"{p}_net")
    assert f"{p}_net" in e.observe(p).networks
    e.remove_container(cid)
    e.remove_network(f"{p}_net")
    assert f"{p}_net" not in e.observe(p).networks
    e.remove_network(f"{p}_net")


def test_remove_volume_in_use_is_refused(engine: Subject) -> None:
    e, p = engine.engine, engine.project
    e.create_volume(VolumeSpec(name=f"{p}_data", labels=project_labels(engine)))
    cid = e.create_container(cspec(engine, "app", mounts=(MountSpec("volume", "/d", f"{p}_data"),)))
    with pytest.raises(EngineError):
        e.remove_volume(f"{p}_data")
    assert f"{p}_data" in e.observe(p).volumes
    e.remove_container(cid)
    e.remove_volume(f"{p}_data")
    assert f"{p}_data" not in e.observe(p).volumes


# ---------------------------------------------------------------- containers


def test_create_container_is_observed_with_labels_image_networks_and_mounts(
    engine: Subject,
) -> None:
    e, p = engine.engine, engine.project
    e.create_network(NetworkSpec(name=f"{p}_net", labels=project_labels(engine)))
    e.create_volume(VolumeSpec(name=f"{p}_data", labels=project_labels(engine)))
    cid = e.create_container(
        cspec(
            engine,
            "app",
            networks=(NetworkAttachment(f"{p}_net", aliases=("app-alias",)),),
            mounts=(MountSpec("volume", "/data", f"{p}_data"), MountSpec("volume", "/anon")),
            labels={"user.label": "v"},
        )
    )
    seen = e.observe(p)
    assert [c.id for c in seen.containers] == [cid]
    c = seen.containers[0]
    assert c.name == f"{p}-app-1"
    assert c.service == "app" and c.project == p and c.labels["user.label"] == "v"
    assert c.state == "created"
    assert c.image_id == seen.images["busybox:latest"]
    assert c.networks == frozenset({f"{p}_net"})
    by_target = {m.destination: m for m in c.mounts}
    assert set(by_target) == {"/data", "/anon"}
    assert (by_target["/data"].type, by_target["/data"].name) == ("volume", f"{p}_data")
    anon = by_target["/anon"].name
    assert by_target["/anon"].type == "volume" and anon is not None and ANONYMOUS.match(anon)
    assert anon in seen.volumes
    assert seen.engine_id == e.engine_id()
    e.remove_container(cid, volumes=True)


def test_network_mode_and_the_default_network(engine: Subject) -> None:
    """A container given no network is on the engine's default bridge; `network_mode` names
    the one it is on."""
    e, p = engine.engine, engine.project
    plain = e.create_container(cspec(engine, "plain"))
    isolated = dataclasses.replace(cspec(engine, "isolated"), network_mode="none")
    e.create_container(isolated)
    e.start_container(plain)
    e.start_container(isolated.name)
    assert own(engine, f"{p}-plain-1").networks == frozenset({"bridge"})
    assert own(engine, f"{p}-isolated-1").networks == frozenset({"none"})


def test_create_with_a_taken_name_is_an_engine_error(engine: Subject) -> None:
    e, p = engine.engine, engine.project
    first = e.create_container(cspec(engine, "app"))
    with pytest.raises(EngineError):
        e.create_container(cspec(engine, "app", labels={"second": "yes"}))
    seen = e.observe(p).containers
    assert [(c.id, "second" in c.labels) for c in seen] == [(first, False)]


def test_create_with_a_missing_image_creates_nothing(engine: Subject) -> None:
    e, p = engine.engine, engine.project
    volumes_before = set(e.observe(p).volumes)
    with pytest.raises(EngineError):
        e.create_container(
            cspec(
                engine,
                "a",
                service(image=f"{p}-no-such-image:v0"),
                mounts=(MountSpec("volume", "/anon"),),
            )
        )
    seen = e.observe(p)
    assert seen.containers == ()
    assert set(seen.volumes) == volumes_before


def test_a_container_on_a_missing_network_never_runs(engine: Subject) -> None:
    """Engines before API 1.44 accept the create and refuse the start; later ones refuse the
    create. Either way the refusal is an `EngineError` and nothing runs."""
    e, p = engine.engine, engine.project
    volumes_before = set(e.observe(p).volumes)
    with pytest.raises(EngineError):
        cid = e.create_container(
            cspec(
                engine,
                "b",
                networks=(NetworkAttachment(f"{p}_missing"),),
                mounts=(MountSpec("volume", "/anon"),),
            )
        )
        e.start_container(cid)
    assert all(c.state != "running" for c in e.observe(p).containers)
    e.remove_container(f"{p}-b-1", volumes=True)
    seen = e.observe(p)
    assert seen.containers == ()
    assert set(seen.volumes) == volumes_before


def test_start_stop_and_remove_change_the_observed_state(engine: Subject) -> None:
    e, p = engine.engine, engine.project
    cid = e.create_container(cspec(engine, "app"))
    name = f"{p}-app-1"
    e.start_container(name)
    assert own(engine, name).state == "running"
    state = e.inspect_container(name)
    assert (state.id, state.name, state.status, state.health) == (cid, name, "running", None)

    e.stop_container(name, timeout=0)  # no grace: killed at once
    c = own(engine, name)
    assert c.state == "exited" and c.exit_code == 137
    assert e.inspect_container(cid).exit_code == 137
    e.stop_container(name, timeout=0)  # stopped already: not an error

    e.start_container(cid)  # a stopped container starts again, same ID
    assert own(engine, name).id == cid and own(engine, name).state == "running"
    e.remove_container(name)  # forced: a running container is removed too
    assert names(engine) == []


def test_stop_of_a_created_container_leaves_it_created(engine: Subject) -> None:
    e = engine.engine
    cid = e.create_container(cspec(engine, "app"))
    e.stop_container(cid, timeout=0)
    assert e.inspect_container(cid).status == "created"


def test_missing_containers(engine: Subject) -> None:
    """Stop and remove of a container that is gone succeed; reads of it fail the same way."""
    e, p = engine.engine, engine.project
    gone = f"{p}-gone-1"
    e.stop_container(gone, timeout=0)
    e.remove_container(gone)
    e.remove_container(gone, volumes=True)
    for read in (e.inspect_container, e.live_config, e.start_container):
        with pytest.raises(EngineError):
            read(gone)
    with pytest.raises(EngineError):
        e.rename_container(gone, f"{p}-other-1")
    with pytest.raises(EngineError):
        e.kill_container(gone, "SIGKILL")


def test_rename_keeps_the_id_and_frees_the_old_name(engine: Subject) -> None:
    e, p = engine.engine, engine.project
    cid = e.create_container(cspec(engine, "app"))
    e.rename_container(f"{p}-app-1", f"{p}-app-1{L.TEMPORARY_SUFFIX}")
    c = own(engine, f"{p}-app-1{L.TEMPORARY_SUFFIX}")
    assert c.id == cid and c.is_temporary
    assert e.inspect_container(cid).name == f"{p}-app-1{L.TEMPORARY_SUFFIX}"
    with pytest.raises(EngineError):
        e.inspect_container(f"{p}-app-1")
    # The old name is free for the replacement.
    new = e.create_container(cspec(engine, "app"))
    assert sorted(names(engine)) == [f"{p}-app-1", f"{p}-app-1{L.TEMPORARY_SUFFIX}"]
    assert new != cid


def test_rename_to_a_taken_name_is_an_engine_error(engine: Subject) -> None:
    e, p = engine.engine, engine.project
    a = e.create_container(cspec(engine, "a"))
    b = e.create_container(cspec(engine, "b"))
    with pytest.raises(EngineError):
        e.rename_container(a, f"{p}-b-1")
    assert {c.name: c.id for c in e.observe(p).containers} == {f"{p}-a-1": a, f"{p}-b-1": b}


def test_observe_sees_only_the_project_and_compose_containers_as_foreign(
    engine: Subject,
) -> None:
    e, p = engine.engine, engine.project
    mine = e.create_container(cspec(engine, "app"))
    compose = e.create_container(cspec(engine, "old", project_label=L.COMPOSE_PROJECT))
    # Labelled for both tools: the engine lists it for each label, so it is in both lists.
    both = e.create_container(cspec(engine, "both", labels={L.COMPOSE_PROJECT: p}))
    # Another project on the same engine: its name starts with ours, its label differs.
    other = ContainerSpec(
        name=f"{p}x-app-1",
        image="busybox:latest",
        service=service(),
        labels={L.PROJECT: f"{p}x", L.SERVICE: "app"},
        environment={},
    )
    other_id = e.create_container(other)
    try:
        seen = e.observe(p)
        assert [c.id for c in seen.containers] == [mine, both]
        assert [c.id for c in seen.foreign] == [both, compose]
        theirs = e.observe(f"{p}x")
        assert [c.id for c in theirs.containers] == [other_id]
        assert theirs.foreign == ()
    finally:
        e.remove_container(other_id)


def test_remove_with_volumes_removes_anonymous_volumes_only(engine: Subject) -> None:
    e, p = engine.engine, engine.project
    e.create_volume(VolumeSpec(name=f"{p}_data", labels=project_labels(engine)))
    mounts = (
        MountSpec("volume", "/data", f"{p}_data"),
        # Made by the mount, with the labels the mount gives it.
        MountSpec("volume", "/made", f"{p}_made", volume_labels=((L.PROJECT, p),)),
        # Made by the mount, with no label at all: named all the same.
        MountSpec("volume", "/bare", f"{p}_bare"),
        MountSpec("volume", "/anon"),
    )
    try:
        cid = e.create_container(cspec(engine, "app", mounts=mounts))
        made = e.observe(p)
        assert dict(made.volumes[f"{p}_made"].labels) == {L.PROJECT: p}
        assert dict(made.volumes[f"{p}_bare"].labels) == {}
        anon = next(m.name for m in own(engine, f"{p}-app-1").mounts if m.destination == "/anon")
        assert anon is not None and anon in made.volumes

        e.remove_container(cid, volumes=True)
        after = e.observe(p).volumes
        assert anon not in after
        assert {f"{p}_data", f"{p}_made", f"{p}_bare"} <= set(after)
    finally:
        e.remove_volume(f"{p}_bare")  # unlabelled: the fixture would not find it


def test_remove_without_volumes_keeps_the_anonymous_volume(engine: Subject) -> None:
    e, p = engine.engine, engine.project
    cid = e.create_container(cspec(engine, "app", mounts=(MountSpec("volume", "/anon"),)))
    anon = own(engine, f"{p}-app-1").mounts[0].name
    assert anon is not None
    e.remove_container(cid)
    assert anon in e.observe(p).volumes
    e.remove_volume(anon)
    assert anon not in e.observe(p).volumes


def test_exec_run_exit_code_and_output(engine: Subject) -> None:
    e = engine.engine
    cid = e.create_container(cspec(engine, "app"))
    with pytest.raises(EngineError):  # not running
        e.exec_run(cid, ["true"])
    e.start_container(cid)
    assert e.exec_run(cid, ["true"]).exit_code == 0
    assert e.exec_run(cid, ["false"]).exit_code == 1
    hello = e.exec_run(cid, ["echo", "hello", "contract"])
    assert (hello.exit_code, hello.output) == (0, "hello contract\n")


def exited(s: Subject, container: str) -> None:
    wait_for(
        lambda: s.engine.inspect_container(container).status == "exited",
        timeout=60,
        what=f"{container} to exit",
    )


def test_a_command_that_ends_leaves_the_container_exited_with_its_code(engine: Subject) -> None:
    e, p = engine.engine, engine.project
    for name, command, code in (("ok", "true", 0), ("bad", "false", 1)):
        cid = e.create_container(cspec(engine, name, service(command=[command])))
        e.start_container(cid)
        exited(engine, cid)
        state = e.inspect_container(cid)
        assert (state.status, state.exit_code) == ("exited", code)
        assert own(engine, f"{p}-{name}-1").exit_code == code
    assert f"{p}-ok-1" not in e.published_ports()


def test_logs_of_a_container_that_printed(engine: Subject) -> None:
    e = engine.engine
    cid = e.create_container(cspec(engine, "say", service(command=["echo", "hello", "contract"])))
    assert b"".join(e.logs(cid)) == b""  # not started: nothing printed yet
    e.start_container(cid)
    exited(engine, cid)
    assert list(e.logs(cid)) == [b"hello contract\n"]
    e.start_container(cid)  # runs again: its output adds to the log
    exited(engine, cid)
    assert list(e.logs(cid)) == [b"hello contract\n", b"hello contract\n"]
    assert list(e.logs(cid, tail=1)) == [b"hello contract\n"]
    assert list(e.logs(cid, tail=0)) == []
    with pytest.raises(EngineError):
        e.logs(f"{engine.project}-gone-1")


def test_a_check_in_a_throwaway_container(engine: Subject) -> None:
    """`run_check` (the check before a recreate) creates, starts, waits, reads the output
    and removes: its result is the command's exit code and output."""
    e, p = engine.engine, engine.project
    said = run_check(e, cspec(engine, "check", service(command=["echo", "config", "ok"])))
    assert (said.exit_code, said.output) == (0, "config ok\n")
    failed = run_check(e, cspec(engine, "check", service(command=["false"])))
    assert (failed.exit_code, failed.output) == (1, "")
    assert names(engine) == []
    # A leftover of an interrupted check is replaced, not refused.
    e.create_container(cspec(engine, "check"))
    assert run_check(e, cspec(engine, "check", service(command=["true"]))).exit_code == 0
    assert names(engine) == []
    assert f"{p}-check-1" not in e.published_ports()


def test_kill_container_with_a_signal(engine: Subject) -> None:
    e = engine.engine
    cid = e.create_container(cspec(engine, "app"))
    with pytest.raises(EngineError):  # not running
        e.kill_container(cid, "SIGKILL")
    e.start_container(cid)
    # `sleep` is PID 1 and handles no signal: the kernel drops SIGHUP, it keeps running.
    e.kill_container(cid, "SIGHUP")
    assert e.inspect_container(cid).status == "running"
    e.kill_container(cid, "SIGKILL")
    state = e.inspect_container(cid)
    assert (state.status, state.exit_code) == ("exited", 137)
    with pytest.raises(EngineError):
        e.kill_container(cid, "SIGKILL")


def test_update_container_changes_the_live_config(engine: Subject) -> None:
    e, p = engine.engine, engine.project
    cid = e.create_container(cspec(engine, "app", service(restart="no", mem_limit="64m")))
    before = e.live_config(cid)
    assert (before.restart, before.memory, before.nano_cpus) == ("no", 64 * 1024 * 1024, 0)
    e.start_container(cid)
    e.update_container(
        cid, service(restart="on-failure:3", mem_limit="96m", cpus="0.5", pids_limit=100)
    )
    after = e.live_config(cid)
    assert after.restart == "on-failure:3"
    assert after.memory == 96 * 1024 * 1024
    assert after.nano_cpus == 500_000_000
    assert after.pids_limit == 100
    assert e.live_configs([cid, f"{p}-gone-1"]) == {cid: after}
    assert e.live_configs([]) == {}
    # The engine cannot lift a memory limit in place: the container must be recreated.
    with pytest.raises(EngineError):
        e.update_container(cid, service(restart="no", cpus="0.5"))
    assert e.live_config(cid).memory == 96 * 1024 * 1024


def test_connect_and_disconnect_networks(engine: Subject) -> None:
    e, p = engine.engine, engine.project
    for net in ("a", "b"):
        e.create_network(NetworkSpec(name=f"{p}_{net}", labels=project_labels(engine)))
    cid = e.create_container(cspec(engine, "app", networks=(NetworkAttachment(f"{p}_a"),)))
    e.start_container(cid)
    e.connect(cid, NetworkAttachment(f"{p}_b", aliases=("extra",)))
    assert own(engine, f"{p}-app-1").networks == frozenset({f"{p}_a", f"{p}_b"})
    e.connect(cid, NetworkAttachment(f"{p}_b"))  # connected already: not an error
    e.disconnect(cid, f"{p}_a")
    assert own(engine, f"{p}-app-1").networks == frozenset({f"{p}_b"})
    e.disconnect(cid, f"{p}_a")  # not connected: not an error
    with pytest.raises(EngineError):
        e.connect(cid, NetworkAttachment(f"{p}_missing"))
    assert own(engine, f"{p}-app-1").networks == frozenset({f"{p}_b"})


def test_published_ports_of_running_containers_and_a_port_conflict(engine: Subject) -> None:
    e, p = engine.engine, engine.project
    port = host_port(engine)
    ports = [f"127.0.0.1:{port}:80"]
    first = e.create_container(cspec(engine, "web", service(ports=ports)))
    assert f"{p}-web-1" not in e.published_ports()  # created, not running
    e.start_container(first)
    held = f"127.0.0.1:{port}->80/tcp"
    assert e.published_ports()[f"{p}-web-1"] == (held,)
    assert own(engine, f"{p}-web-1").ports == (held,)

    second = e.create_container(cspec(engine, "other", service(ports=ports)))
    with pytest.raises(EngineError, match="already allocated"):
        e.start_container(second)
    assert own(engine, f"{p}-other-1").state != "running"
    assert f"{p}-other-1" not in e.published_ports()

    e.stop_container(first, timeout=0)
    assert f"{p}-web-1" not in e.published_ports()
    assert own(engine, f"{p}-web-1").ports == ()
    e.start_container(second)  # the port is free again
    assert e.published_ports()[f"{p}-other-1"] == (held,)


# ---------------------------------------------------------------- the pipeline over the engine

STACK = """
name: {project}
services:
  db:
    image: {image}
    command: [sleep, "3600"]
    stop_grace_period: 0s
    environment:
      GENERATION: "{generation}"
    volumes: [data:/data]
    networks: [back]
  web:
    image: busybox:latest
    command: [sleep, "3600"]
    stop_grace_period: 0s
    depends_on: [db]
    networks: [back]
networks:
  back: {{}}
volumes:
  data: {{}}
"""


def load(
    s: Subject, tmp_path: Path, *, image: str = "busybox:latest", generation: int = 1
) -> LoadedStack:
    text = STACK.format(project=s.project, image=image, generation=generation)
    return load_text(text, working_dir=tmp_path)


def up(s: Subject, loaded: LoadedStack) -> None:
    plan = api.plan(loaded, s.engine, ReconcileOptions(salt="contract"))
    assert not plan.blockers, plan.blockers
    outcome = api.apply(plan, s.engine, options=ExecuteOptions(allow_data_loss=False))
    assert outcome.ok, (outcome.failed, outcome.skipped)


def replan_is_empty(s: Subject, loaded: LoadedStack) -> None:
    again = api.plan(loaded, s.engine, ReconcileOptions(salt="contract"))
    assert not again.changes, [(op.id, op.action, op.reason) for op in again.operations]


def test_plan_apply_then_replan_is_empty(engine: Subject, tmp_path: Path) -> None:
    p = engine.project
    loaded = load(engine, tmp_path)
    first = api.plan(loaded, engine.engine, ReconcileOptions(salt="contract"))
    assert sorted((op.kind, op.name, op.action) for op in first.operations) == [
        ("container", f"{p}-db-1", Action.CREATE),
        ("container", f"{p}-web-1", Action.CREATE),
        ("network", f"{p}_back", Action.CREATE),
        ("volume", f"{p}_data", Action.CREATE),
    ]
    up(engine, loaded)
    seen = engine.engine.observe(p)
    assert sorted((c.service, c.state) for c in seen.containers) == [
        ("db", "running"),
        ("web", "running"),
    ]
    assert all(c.networks == frozenset({f"{p}_back"}) for c in seen.containers)
    assert seen.networks[f"{p}_back"].project == p
    assert seen.volumes[f"{p}_data"].project == p
    replan_is_empty(engine, loaded)


def test_recreate_after_an_env_or_image_change_keeps_the_named_volume(
    engine: Subject, tmp_path: Path
) -> None:
    p = engine.project
    up(engine, load(engine, tmp_path))
    before = {c.service: c for c in engine.engine.observe(p).containers}

    changed = load(engine, tmp_path, generation=2)
    plan = api.plan(changed, engine.engine, ReconcileOptions(salt="contract"))
    assert {op.service: op.action for op in plan.operations if op.service} == {
        "db": Action.RECREATE
    }
    assert plan.destroys_data == ()
    up(engine, changed)
    after = {c.service: c for c in engine.engine.observe(p).containers}
    assert after["db"].id != before["db"].id
    assert after["web"].id == before["web"].id
    assert [m.name for m in after["db"].mounts if m.destination == "/data"] == [f"{p}_data"]
    assert f"{p}_data" in engine.engine.observe(p).volumes
    replan_is_empty(engine, changed)

    retagged = load(engine, tmp_path, image="busybox:stable", generation=2)
    up(engine, retagged)
    final = {c.service: c for c in engine.engine.observe(p).containers}
    assert final["db"].id != after["db"].id
    assert final["db"].image == "busybox:stable"
    assert final["db"].image_id == engine.engine.observe(p).images["busybox:stable"]
    assert [m.name for m in final["db"].mounts if m.destination == "/data"] == [f"{p}_data"]
    replan_is_empty(engine, retagged)


def test_a_container_stopped_by_hand_is_started_again(engine: Subject, tmp_path: Path) -> None:
    p = engine.project
    loaded = load(engine, tmp_path)
    up(engine, loaded)
    engine.engine.stop_container(f"{p}-db-1", timeout=0)
    plan = api.plan(loaded, engine.engine, ReconcileOptions(salt="contract"))
    assert {op.service: op.action for op in plan.operations if op.service} == {"db": Action.START}
    up(engine, loaded)
    assert own(engine, f"{p}-db-1").state == "running"
    replan_is_empty(engine, loaded)


def test_down_removes_containers_and_networks_and_volumes_only_when_asked(
    engine: Subject, tmp_path: Path
) -> None:
    e, p = engine.engine, engine.project
    loaded = load(engine, tmp_path)
    up(engine, loaded)
    outcome = api.apply(plan_down(e.observe(p)), e)
    assert outcome.ok, outcome.failed
    seen = e.observe(p)
    assert seen.containers == ()
    assert f"{p}_back" not in seen.networks
    assert f"{p}_data" in seen.volumes  # kept without volumes=True

    up(engine, loaded)
    assert len(e.observe(p).containers) == 2
    outcome = api.apply(
        plan_down(e.observe(p), volumes=True), e, options=ExecuteOptions(allow_data_loss=True)
    )
    assert outcome.ok, outcome.failed
    seen = e.observe(p)
    assert seen.containers == ()
    assert f"{p}_back" not in seen.networks
    assert f"{p}_data" not in seen.volumes


def test_depends_on_service_healthy_waits_for_the_healthcheck(
    engine: Subject, tmp_path: Path
) -> None:
    p = engine.project
    text = f"""
name: {p}
services:
  db:
    image: busybox:latest
    command: [sleep, "3600"]
    stop_grace_period: 0s
    healthcheck:
      test: [CMD, "true"]
      interval: 1s
      timeout: 5s
      retries: 3
  web:
    image: busybox:latest
    command: [sleep, "3600"]
    stop_grace_period: 0s
    depends_on:
      db: {{condition: service_healthy}}
"""
    loaded = load_text(text, working_dir=tmp_path)
    up(engine, loaded)
    assert engine.engine.inspect_container(f"{p}-db-1").health == "healthy"
    assert own(engine, f"{p}-db-1").health == "healthy"
    assert own(engine, f"{p}-web-1").state == "running"
    assert own(engine, f"{p}-web-1").health is None
    replan_is_empty(engine, loaded)


def plan_for(s: Subject, loaded: LoadedStack, **options: Any) -> list[tuple[str, str, Action]]:
    """The plan's operations on services, as (service, container, action), sorted."""
    plan = api.plan(loaded, s.engine, ReconcileOptions(salt="contract", **options))
    assert not plan.blockers, plan.blockers
    return sorted((op.service, op.name, op.action) for op in plan.operations if op.service)


def sleeper(p: str, tmp_path: Path, extra: str = "", more: str = "") -> LoadedStack:
    """One service `app` sleeping, with `extra` lines added to it (indented 4), and `more`
    services after it."""
    body = "".join(f"    {line}\n" for line in extra.strip("\n").split("\n") if line)
    text = (
        f"name: {p}\nservices:\n  app:\n    image: busybox:latest\n"
        f'    command: [sleep, "3600"]\n    stop_grace_period: 0s\n{body}{more}'
    )
    return load_text(text, working_dir=tmp_path)


def test_a_limit_changed_in_the_file_or_by_hand_is_updated_in_place(
    engine: Subject, tmp_path: Path
) -> None:
    e, p = engine.engine, engine.project
    up(engine, sleeper(p, tmp_path, "mem_limit: 64m\nrestart: unless-stopped"))
    cid = own(engine, f"{p}-app-1").id

    raised = sleeper(p, tmp_path, "mem_limit: 96m\nrestart: unless-stopped")
    assert plan_for(engine, raised) == [("app", f"{p}-app-1", Action.UPDATE)]
    up(engine, raised)
    assert own(engine, f"{p}-app-1").id == cid
    live = e.live_config(cid)
    assert (live.memory, live.restart) == (96 * 1024 * 1024, "unless-stopped")
    replan_is_empty(engine, raised)

    # `docker update` by hand: the label still says 96m, the container does not.
    e.update_container(cid, service(mem_limit="128m", restart="no"))
    assert plan_for(engine, raised) == [("app", f"{p}-app-1", Action.UPDATE)]
    up(engine, raised)
    assert e.live_config(cid).memory == 96 * 1024 * 1024
    assert own(engine, f"{p}-app-1").id == cid
    replan_is_empty(engine, raised)


def test_scale_up_and_down(engine: Subject, tmp_path: Path) -> None:
    p = engine.project
    two = sleeper(p, tmp_path, "deploy: {replicas: 2}")
    up(engine, two)
    assert [(c.name, c.number, c.state) for c in engine.engine.observe(p).containers] == [
        (f"{p}-app-1", 1, "running"),
        (f"{p}-app-2", 2, "running"),
    ]
    replan_is_empty(engine, two)
    one = sleeper(p, tmp_path, "deploy: {replicas: 1}")
    assert plan_for(engine, one) == [("app", f"{p}-app-2", Action.REMOVE)]
    up(engine, one)
    assert names(engine) == [f"{p}-app-1"]
    replan_is_empty(engine, one)


def test_an_orphan_is_kept_or_removed_when_asked(engine: Subject, tmp_path: Path) -> None:
    p = engine.project
    worker = '  worker:\n    image: busybox:latest\n    command: [sleep, "3600"]\n'
    worker += "    stop_grace_period: 0s\n"
    up(engine, sleeper(p, tmp_path, more=worker))
    assert names(engine) == [f"{p}-app-1", f"{p}-worker-1"]
    alone = sleeper(p, tmp_path)
    assert plan_for(engine, alone) == []  # the orphan is left alone by default
    removal = plan_for(engine, alone, remove_orphans=True)
    assert removal == [("worker", f"{p}-worker-1", Action.REMOVE)]
    plan = api.plan(alone, engine.engine, ReconcileOptions(salt="contract", remove_orphans=True))
    assert api.apply(plan, engine.engine).ok
    assert names(engine) == [f"{p}-app-1"]


def test_drift_by_hand_is_repaired(engine: Subject, tmp_path: Path) -> None:
    """A container removed, and another disconnected from its network, outside stackup."""
    e, p = engine.engine, engine.project
    other = '  other:\n    image: busybox:latest\n    command: [sleep, "3600"]\n'
    other += "    stop_grace_period: 0s\n"
    loaded = sleeper(p, tmp_path, more=other)
    up(engine, loaded)
    default = f"{p}_default"
    assert own(engine, f"{p}-other-1").networks == frozenset({default})

    e.remove_container(f"{p}-app-1")
    e.disconnect(f"{p}-other-1", default)
    assert own(engine, f"{p}-other-1").networks == frozenset()
    assert plan_for(engine, loaded) == [
        ("app", f"{p}-app-1", Action.CREATE),
        ("other", f"{p}-other-1", Action.CONNECT),
    ]
    up(engine, loaded)
    assert own(engine, f"{p}-app-1").state == "running"
    assert own(engine, f"{p}-other-1").networks == frozenset({default})
    replan_is_empty(engine, loaded)


def test_a_changed_port_is_recreated_and_published(engine: Subject, tmp_path: Path) -> None:
    e, p = engine.engine, engine.project
    first, second = host_port(engine), host_port(engine)
    loaded = sleeper(p, tmp_path, f'ports: ["127.0.0.1:{first}:80"]')
    up(engine, loaded)
    assert e.published_ports()[f"{p}-app-1"] == (f"127.0.0.1:{first}->80/tcp",)
    replan_is_empty(engine, loaded)
    moved = sleeper(p, tmp_path, f'ports: ["127.0.0.1:{second}:80"]')
    assert plan_for(engine, moved) == [("app", f"{p}-app-1", Action.RECREATE)]
    up(engine, moved)
    assert e.published_ports()[f"{p}-app-1"] == (f"127.0.0.1:{second}->80/tcp",)
    assert own(engine, f"{p}-app-1").ports == (f"127.0.0.1:{second}->80/tcp",)
    replan_is_empty(engine, moved)


ONE_SHOT = """
name: {project}
services:
  init:
    image: busybox:latest
    command: [{command}]
  app:
    image: busybox:latest
    command: [sleep, "3600"]
    stop_grace_period: 0s
    depends_on:
      init: {{condition: service_completed_successfully}}
"""


def test_depends_on_a_one_shot_service(engine: Subject, tmp_path: Path) -> None:
    p = engine.project
    loaded = load_text(ONE_SHOT.format(project=p, command="true"), working_dir=tmp_path)
    up(engine, loaded)
    init = own(engine, f"{p}-init-1")
    assert (init.state, init.exit_code) == ("exited", 0)
    assert own(engine, f"{p}-app-1").state == "running"
    replan_is_empty(engine, loaded)  # a one-shot that succeeded is not run again


def test_a_failed_one_shot_service_stops_its_dependents(engine: Subject, tmp_path: Path) -> None:
    e, p = engine.engine, engine.project
    loaded = load_text(ONE_SHOT.format(project=p, command="false"), working_dir=tmp_path)
    plan = api.plan(loaded, e, ReconcileOptions(salt="contract"))
    outcome = api.apply(plan, e, options=ExecuteOptions(wait_timeout=60))
    assert not outcome.ok
    assert set(outcome.failed) | set(outcome.skipped) >= {f"container:{p}-app-1"}
    init = own(engine, f"{p}-init-1")
    assert (init.state, init.exit_code) == ("exited", 1)
    assert all(c.state != "running" for c in e.observe(p).containers)


def test_a_service_whose_command_ends_is_started_again_unless_awaited(
    engine: Subject, tmp_path: Path
) -> None:
    """Like `docker compose up`: a stopped service is started; a one-shot that a dependent
    waits for (`service_completed_successfully`) is done once it exited 0."""
    e, p = engine.engine, engine.project
    text = ONE_SHOT.format(project=p, command="true") + (
        '  job:\n    image: busybox:latest\n    command: ["true"]\n'
    )
    loaded = load_text(text, working_dir=tmp_path)
    up(engine, loaded)
    exited(engine, f"{p}-job-1")
    assert own(engine, f"{p}-job-1").exit_code == 0
    assert plan_for(engine, loaded) == [("job", f"{p}-job-1", Action.START)]
    assert e.inspect_container(f"{p}-init-1").exit_code == 0


def test_image_path_kinds_reads_the_image_and_leaves_nothing(engine: Subject) -> None:
    e, p = engine.engine, engine.project
    paths = ["/bin", "/etc/passwd", "/no/such/path"]
    if engine.kind == "fake":  # the fake holds no files: told what the local busybox has
        engine.engine.image_files["busybox:latest"] = {"/bin": "directory", "/etc/passwd": "file"}  # type: ignore[union-attr]
    assert dict(e.image_path_kinds("busybox:latest", paths)) == {
        "/bin": "directory",
        "/etc/passwd": "file",
        "/no/such/path": "missing",
    }
    assert e.observe(p).containers == ()
    assert dict(e.image_path_kinds(f"{p}-no-such-image:v0", ["/bin"])) == {}


HOLDER = {"host": "laptop", "user": "alice", "pid": "4242", "since": "2020-01-02T12:03:11Z"}


def test_a_lease_is_taken_once_renewed_and_removed_by_its_id_only(engine: Subject) -> None:
    """The project lock's primitives (`Leases`): one taker of a name, renewals a reader sees,
    removal by ID (a second breaker of a stale lease leaves the one taken since), and never
    one of the project's containers."""
    e, p = engine.engine, engine.project
    name = f"stackup-lock-{p}"
    first = e.take_lease(name, p, HOLDER)
    assert first is not None
    assert e.take_lease(name, p, {**HOLDER, "user": "bob"}) is None
    seen = e.read_lease(name)
    assert seen is not None and (seen.id, dict(seen.holder), seen.beat) == (first, HOLDER, "")
    assert e.renew_lease(first, "1")
    renewed = e.read_lease(name)
    assert renewed is not None and renewed.beat == "1"
    assert e.observe(p).containers == ()
    e.drop_lease(first)
    assert e.read_lease(name) is None
    assert not e.renew_lease(first, "2")
    second = e.take_lease(name, p, HOLDER)
    assert second is not None and second != first
    e.drop_lease(first)
    fresh = e.read_lease(name)
    assert fresh is not None and fresh.id == second
    e.drop_lease(second)
    assert e.read_lease(name) is None


def test_a_container_holding_a_leases_name_is_named_never_taken_for_one(engine: Subject) -> None:
    e, p = engine.engine, engine.project
    e.create_container(cspec(engine, "web"))
    assert e.take_lease(f"{p}-web-1", p, HOLDER) is None
    with pytest.raises(EngineError, match=f"the container {p}-web-1 is in the way"):
        e.read_lease(f"{p}-web-1")
    assert [c.name for c in e.observe(p).containers] == [f"{p}-web-1"]
