"""A reload is done when the new config serves: a new generation of workers seen in the
container's process list (`stackup.targets.engine.reloaded`), as the executor waits for it
after a confirmed signal or reload command, and the engine's `top` payloads it reads."""

from __future__ import annotations

import pytest

from stackup.engine.docker.payloads import processes_from_top
from stackup.engine.fake import FakeEngine
from stackup.engine.interface import ContainerProcess as P
from stackup.errors import EngineError
from stackup.model.spec import Service
from stackup.planning.plan import Action, Exec, Kind, Operation, Plan, Signal
from stackup.planning.reloads import NGINX_POLICY, confirms_reload, reload_operations
from stackup.targets.engine.execute import Event, ExecuteOptions, execute
from stackup.targets.engine.reloaded import new_generation_live

MASTER = P(10, 1, "nginx: master process nginx -g daemon off;")
OLD = (MASTER, P(11, 10, "nginx: worker process"), P(12, 10, "nginx: worker process"))


def test_no_new_worker_is_not_live() -> None:
    assert not new_generation_live(OLD, OLD)


def test_new_workers_beside_old_ones_still_accepting_are_not_live() -> None:
    # nginx's master sleeps 100 ms after starting the new workers before it retires the old
    # ones: until then an old worker may take a new connection and answer with the old config.
    assert not new_generation_live(OLD, (*OLD, P(13, 10, "nginx: worker process")))


def test_new_workers_with_the_old_ones_gone_or_shutting_down_are_live() -> None:
    new = P(13, 10, "nginx: worker process")
    assert new_generation_live(OLD, (MASTER, new))
    draining = P(11, 10, "nginx: worker process is shutting down")
    assert new_generation_live(OLD, (MASTER, draining, new))


def test_a_master_under_an_init_process_is_found() -> None:
    init = P(5, 1, "/sbin/docker-init -- nginx -g daemon off;")
    before = (init, P(10, 5, "nginx: master process"), P(11, 10, "nginx: worker process"))
    after = (init, P(10, 5, "nginx: master process"), P(14, 10, "nginx: worker process"))
    assert new_generation_live(before, after)


def test_an_exec_process_is_not_a_new_worker() -> None:
    # `docker exec` processes have their parent outside the container.
    assert not new_generation_live(OLD, (*OLD[:1], P(20, 1, "nginx -t")))


def test_top_payloads_of_docker_and_podman() -> None:
    docker = {
        "Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
        "Processes": [
            ["root", "25358", "25336", "1", "13:44", "?", "00:00:00", "nginx: master process"],
            ["www-data", "25385", "25358", "0", "13:44", "?", "00:00:00", "nginx: worker process"],
        ],
    }
    assert processes_from_top(docker, "web") == (
        P(25358, 25336, "nginx: master process"),
        P(25385, 25358, "nginx: worker process"),
    )
    podman = {
        "Titles": ["USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND"],
        "Processes": [["root", "1", "0", "0.000", "1s", "?", "0s", "nginx: master process"]],
    }
    assert processes_from_top(podman, "web") == (P(1, 0, "nginx: master process"),)
    with pytest.raises(EngineError, match="container web"):
        processes_from_top({"Titles": ["Name"], "Processes": []}, "web")


def test_nginx_reloads_are_confirmed_and_others_not() -> None:
    assert confirms_reload(Service.model_validate({"image": "nginx:1.25"}))
    assert confirms_reload(Service.model_validate({"image": "busybox", "command": ["nginx"]}))
    assert not confirms_reload(Service.model_validate({"image": "postgres:16"}))


def _engine_with_web() -> FakeEngine:
    from stackup.engine.interface import ContainerSpec

    engine = FakeEngine({"nginx:1.25": "sha256:" + "a" * 64})
    service = Service.model_validate({"image": "nginx:1.25"})
    engine.create_container(ContainerSpec("web", "nginx:1.25", service, {}, {}))
    engine.start_container("web")
    return engine


def _run(engine: FakeEngine, op: Operation) -> tuple[list[Event], dict[str, str]]:
    events: list[Event] = []
    outcome = execute(Plan("p", (op,)), engine, events.append, ExecuteOptions(reload_timeout=0.2))
    return events, outcome.failed


def test_a_confirmed_reload_is_done_once_new_workers_serve() -> None:
    engine = _engine_with_web()
    (op,) = reload_operations("web", ["web"], NGINX_POLICY, "edited", confirm=True)
    assert Signal("web", "HUP", confirm=True) in op.steps
    events, failed = _run(engine, op)
    assert failed == {}
    steps = [e.message for e in events if e.status == "step"]
    assert steps[-2:] == ["sent HUP to web", "live: new workers serve in web"]
    assert engine.calls["processes"] >= 2  # before the signal, and until it was live


def test_a_reload_command_is_confirmed_too() -> None:
    engine = _engine_with_web()
    step = Exec("web", ("nginx", "-s", "reload"), "reload", confirm=True)
    op = Operation("reload:web", Action.RELOAD, Kind.CONTAINER, "web", "edited", steps=(step,))
    events, failed = _run(engine, op)
    assert failed == {}
    assert events[-2].message == "live: new workers serve in web"


def test_a_reload_never_seen_live_fails_naming_the_container() -> None:
    engine = _engine_with_web()
    # USR1 reopens nginx's logs: no new workers come.
    step = Signal("web", "USR1", confirm=True)
    op = Operation("reload:web", Action.RELOAD, Kind.CONTAINER, "web", "edited", steps=(step,))
    _, failed = _run(engine, op)
    assert "container web did not load its new config within 0.2s" in failed["reload:web"]


def test_the_process_list_before_the_reload_is_taken_while_the_validation_runs() -> None:
    """The listing is a `ps` on the engine's host: taken beside `nginx -t`, it costs the
    save → served path nothing."""
    import threading

    class Engine(FakeEngine):
        listed = threading.Event()
        seen_during_validation: bool | None = None

        def processes(self, container: str) -> tuple[P, ...]:
            self.listed.set()
            return super().processes(container)

        def exec_run(self, container: str, command, **kwargs):  # type: ignore[no-untyped-def]
            if list(command) == ["nginx", "-t"]:
                # Only a listing made in another thread can end this wait early.
                self.seen_during_validation = self.listed.wait(10)
            return super().exec_run(container, command, **kwargs)

    engine = Engine({"nginx:1.25": "sha256:" + "a" * 64})
    from stackup.engine.interface import ContainerSpec

    service = Service.model_validate({"image": "nginx:1.25"})
    engine.create_container(ContainerSpec("web", "nginx:1.25", service, {}, {}))
    engine.start_container("web")
    (op,) = reload_operations("web", ["web"], NGINX_POLICY, "edited", confirm=True)
    _, failed = _run(engine, op)
    assert failed == {}
    assert engine.seen_during_validation is True
