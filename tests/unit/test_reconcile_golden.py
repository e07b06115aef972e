"""Golden plans: each scenario applies a base stack to the in-memory engine, changes something
(the file, an image tag, the engine by hand) and compares the rendered plan with a committed
text under tests/golden/. Regenerate with `STACKUP_UPDATE_GOLDEN=1 pytest tests/unit` and
review the diff like code.

The golden text is the plan as `stackup diff` prints it, followed by each operation's `after`
(what it waits for) and its engine steps, so ordering and step changes show up in review too.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from stackup.engine.fake import FakeEngine
from stackup.engine.observed import ObservedNetwork, ObservedVolume
from stackup.loading.loader import LoadedStack, load_text
from stackup.planning.desired import read_file_objects
from stackup.planning.graph import build_graph
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import (
    Action,
    Connect,
    CreateContainer,
    CreateNetwork,
    CreateVolume,
    Disconnect,
    Exec,
    Plan,
    RemoveContainer,
    RemoveNetwork,
    RemoveVolume,
    RenameContainer,
    Signal,
    StartContainer,
    Step,
    StopContainer,
    UpdateContainer,
    WaitFor,
)
from stackup.planning.reconcile import reconcile
from stackup.planning.render import render_json, render_markdown, render_text
from stackup.targets.engine.execute import ExecuteOptions, execute

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
UPDATE = os.environ.get("STACKUP_UPDATE_GOLDEN", "") not in ("", "0")

BUSYBOX = "sha256:" + "b0" * 32
NGINX_125 = "sha256:" + "25" * 32
NGINX_127 = "sha256:" + "27" * 32
NGINX_125_REBUILT = "sha256:" + "5e" * 32


class Scenario:
    """One project on a FakeEngine: apply a stack, then plan a change against it."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.engine = FakeEngine(
            {"busybox:latest": BUSYBOX, "nginx:1.25": NGINX_125, "nginx:1.27": NGINX_127}
        )

    def load(self, text: str) -> LoadedStack:
        return load_text(textwrap.dedent(text), working_dir=self.dir)

    def plan(self, text: str, **options: object) -> Plan:
        loaded = self.load(text)
        opts = ReconcileOptions(
            salt="test",
            file_objects=read_file_objects(loaded.stack),
            **options,  # type: ignore[arg-type]
        )
        graph = build_graph(loaded.stack, loaded.source)
        return reconcile(loaded.stack, graph, self.engine.observe(loaded.stack.name), opts)

    def apply(self, text: str, **options: object) -> Plan:
        plan = self.plan(text, **options)
        outcome = execute(plan, self.engine)
        assert outcome.ok, outcome
        again = self.plan(text, **options)
        assert not again.changes, render_text(again)
        return plan


def _step(step: Step) -> str:
    """One line per engine step: its kind and what it acts on."""
    kind = type(step).__name__
    match step:
        case CreateNetwork(spec=spec) | CreateVolume(spec=spec) | CreateContainer(spec=spec):
            return f"{kind} {spec.name}"
        case RenameContainer(name=name, new_name=new_name):
            return f"{kind} {name} -> {new_name}"
        case Connect(container=container, attachment=attachment):
            return f"{kind} {container} to {attachment.network}"
        case Disconnect(container=container, network=network):
            return f"{kind} {container} from {network}"
        case WaitFor(service=service, containers=containers, condition=condition):
            return f"{kind} {service} {condition} of {','.join(containers)}"
        case Signal(container=container, signal=signal):
            return f"{kind} {container} {signal}"
        case Exec(container=container, command=command):
            return f"{kind} {container} {' '.join(command)}"
        case (
            RemoveNetwork(name=name)
            | RemoveVolume(name=name)
            | StartContainer(name=name)
            | StopContainer(name=name)
            | RemoveContainer(name=name)
            | UpdateContainer(name=name)
        ):
            return f"{kind} {name}"
    raise AssertionError(step)


def golden_text(plan: Plan, directory: Path | None = None) -> str:
    lines = [render_text(plan).rstrip("\n"), "", "--- order"]
    for op in plan.operations:
        after = ", ".join(op.after) if op.after else "-"
        lines.append(f"{op.id}  after: {after}")
        if op.start_after:
            lines.append(f"    steps from {op.gate} after: {', '.join(op.start_after)}")
        if op.abandon:
            lines.append(f"    if abandoned: {op.abandon}")
        if op.restore:
            restore = ", ".join(_step(step) for step in op.restore)
            span = f"{op.restore_from}-{op.restore_to - 1}"
            lines.append(f"    if steps {span} fail: {restore}")
        lines.extend(f"    {_step(step)}" for step in op.steps)
    text = "\n".join(lines) + "\n"
    if directory is not None:
        text = text.replace(str(directory), "<dir>")
    return text


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.txt"
    if UPDATE:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing; run with STACKUP_UPDATE_GOLDEN=1 to write it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, (
        f"the plan differs from {path.name} (STACKUP_UPDATE_GOLDEN=1 rewrites it):\n{text}"
    )


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    return Scenario(tmp_path)


WEB = """
name: demo
services:
  web:
    image: nginx:1.25
    ports: ["127.0.0.1:8080:80"]
    environment:
      MODE: production
    networks: [front]
  cache:
    image: busybox:latest
    command: ["sleep", "3600"]
    networks: [front]
networks:
  front: {}
"""


def test_no_change(scenario: Scenario) -> None:
    first = scenario.apply(WEB)
    check_golden("first_apply", golden_text(first))
    plan = scenario.plan(WEB)
    assert not plan.changes
    check_golden("no_change", golden_text(plan))


def test_image_tag_moved(scenario: Scenario) -> None:
    scenario.apply(WEB)
    scenario.engine.set_image("nginx:1.25", NGINX_125_REBUILT)
    plan = scenario.plan(WEB)
    [op] = plan.operations
    assert (op.action, op.name) == (Action.RECREATE, "demo-web-1")
    assert "image nginx:1.25 now resolves to 5e5e5e5e5e5e (was 252525252525)" in op.reason
    assert op.fields == ()  # the file did not change
    check_golden("image_tag_moved", golden_text(plan))


def test_image_tag_changed_in_file(scenario: Scenario) -> None:
    scenario.apply(WEB)
    plan = scenario.plan(WEB.replace("nginx:1.25", "nginx:1.27"))
    [op] = plan.operations
    assert [(f.path, f.before, f.after) for f in op.fields] == [
        ("image", "nginx:1.25", "nginx:1.27")
    ]
    assert op.reason == "changed: image"  # not "nginx:1.27 now resolves to ...": it did not move
    check_golden("image_changed", golden_text(plan))


def test_port_and_environment_changed(scenario: Scenario) -> None:
    scenario.apply(WEB)
    changed = WEB.replace("8080:80", "8081:80").replace("MODE: production", "MODE: debug")
    plan = scenario.plan(changed)
    [op] = plan.operations
    assert op.action is Action.RECREATE
    assert {f.path for f in op.fields} == {"ports[0].published", "environment.MODE"}
    check_golden("port_and_environment", golden_text(plan))


ENV_FILE = """
name: demo
services:
  app:
    image: busybox:latest
    command: ["sleep", "3600"]
    env_file: [app.env]
    environment:
      FROM_FILE_TOO: inline
"""


def test_env_file_content_changed(scenario: Scenario) -> None:
    (scenario.dir / "app.env").write_text("LOG_LEVEL=info\nWORKERS=2\n", encoding="utf-8")
    scenario.apply(ENV_FILE)
    (scenario.dir / "app.env").write_text("LOG_LEVEL=debug\nWORKERS=2\n", encoding="utf-8")
    plan = scenario.plan(ENV_FILE)
    [op] = plan.operations
    assert [(f.path, f.before, f.after) for f in op.fields] == [
        ("environment.LOG_LEVEL", "info", "debug")
    ]
    check_golden("env_file_content", golden_text(plan, scenario.dir))


NETWORKS = """
name: demo
services:
  web:
    image: nginx:1.25
    networks: [front, back]
  api:
    image: busybox:latest
    command: ["sleep", "3600"]
    networks: [back]
  db:
    image: busybox:latest
    command: ["sleep", "3600"]
    networks: [back]
networks:
  front: {}
  back:
    labels:
      tier: backend
"""


def test_network_definition_changed(scenario: Scenario) -> None:
    scenario.apply(NETWORKS)
    plan = scenario.plan(NETWORKS.replace("tier: backend", "tier: data"))
    [op] = plan.operations
    assert (op.action, op.kind.value, op.name) == (Action.RECREATE, "network", "demo_back")
    assert [(f.path, f.before, f.after) for f in op.fields] == [("labels.tier", "backend", "data")]
    assert op.details == (
        "disconnects and reconnects demo-api-1",
        "disconnects and reconnects demo-db-1",
        "disconnects and reconnects demo-web-1",
    )
    check_golden("network_changed", golden_text(plan))
    outcome = execute(plan, scenario.engine)
    assert outcome.ok, outcome
    assert not scenario.plan(NETWORKS.replace("tier: backend", "tier: data")).changes


def test_network_changed_with_a_recreated_container(scenario: Scenario) -> None:
    scenario.apply(NETWORKS)
    changed = NETWORKS.replace("tier: backend", "tier: data").replace(
        '["sleep", "3600"]\n    networks: [back]\n  db',
        '["sleep", "7200"]\n    networks: [back]\n  db',
    )
    plan = scenario.plan(changed)
    net = next(op for op in plan.operations if op.kind.value == "network")
    assert "disconnects demo-api-1 (recreated)" in net.details
    check_golden("network_changed_and_recreate", golden_text(plan))
    outcome = execute(plan, scenario.engine)
    assert outcome.ok, outcome
    assert not scenario.plan(changed).changes


VOLUME = """
name: demo
services:
  db:
    image: busybox:latest
    command: ["sleep", "3600"]
    volumes: ["data:/var/lib/data"]
  web:
    image: nginx:1.25
volumes:
  data:
    labels:
      keep: "yes"
"""


def test_volume_definition_changed(scenario: Scenario) -> None:
    scenario.apply(VOLUME)
    changed = VOLUME.replace('keep: "yes"', 'keep: "no"')
    plan = scenario.plan(changed)
    vol = next(op for op in plan.operations if op.kind.value == "volume")
    assert vol.destroys_data and vol.name == "demo_data"
    assert plan.destroys_data == (vol,)
    assert "destroys data" in render_text(plan)
    assert "destroys data" in render_markdown(plan)
    assert '"destroys_data": true' in render_json(plan)
    check_golden("volume_changed", golden_text(plan))
    # The executor itself refuses to delete data unless the caller says the user agreed.
    refused = execute(plan, scenario.engine)
    assert not refused.ok
    assert "deletes its data" in refused.failed[f"volume:{plan.operations[0].name}"]
    assert not refused.done  # the containers that use the volume were left alone too
    outcome = execute(plan, scenario.engine, options=ExecuteOptions(allow_data_loss=True))
    assert outcome.ok, outcome
    assert not scenario.plan(changed).changes


def test_service_removed(scenario: Scenario) -> None:
    scenario.apply(WEB)
    without_cache = WEB.replace(
        '  cache:\n    image: busybox:latest\n    command: ["sleep", "3600"]\n    networks: [front]\n',
        "",
    )
    plan = scenario.plan(without_cache)
    assert not plan.changes
    assert plan.warnings == (
        'orphan container demo-cache-1: service "cache" is no longer in the stack '
        "(--remove-orphans removes it)",
    )
    check_golden("service_removed", golden_text(plan))
    plan = scenario.plan(without_cache, remove_orphans=True)
    [op] = plan.operations
    assert (op.action, op.name) == (Action.REMOVE, "demo-cache-1")
    check_golden("service_removed_remove_orphans", golden_text(plan))


def test_new_service(scenario: Scenario) -> None:
    scenario.apply(WEB)
    plan = scenario.plan(
        WEB.replace(
            "networks:\n  front: {}",
            '  worker:\n    image: busybox:latest\n    command: ["sleep", "3600"]\n'
            "    depends_on: [cache]\n    networks: [front]\nnetworks:\n  front: {}",
        )
    )
    [op] = plan.operations
    assert (op.action, op.name) == (Action.CREATE, "demo-worker-1")
    assert op.after == ()  # cache is already there: nothing to wait for in this plan
    check_golden("new_service", golden_text(plan))


CHAIN = """
name: chain
services:
  web:
    image: nginx:1.25
    depends_on:
      api: {condition: service_healthy}
  api:
    image: busybox:latest
    command: ["sleep", "3600"]
    healthcheck: {test: ["CMD", "true"], interval: 5s}
    depends_on: [db]
  db:
    image: busybox:latest
    command: ["sleep", "3600"]
    volumes: ["data:/data"]
  migrate:
    image: busybox:latest
    command: ["true"]
    depends_on:
      db: {condition: service_started}
volumes:
  data: {}
"""


def test_depends_on_chain(scenario: Scenario) -> None:
    plan = scenario.plan(CHAIN)
    names = [op.name for op in plan.operations]
    assert names == [
        "chain_default",
        "chain_data",
        "chain-db-1",
        "chain-api-1",
        "chain-migrate-1",
        "chain-web-1",
    ]
    by_name = {op.name: op for op in plan.operations}
    assert by_name["chain-db-1"].after == ("network:chain_default", "volume:chain_data")
    # Created as soon as the network exists; started once the dependency's operation is done.
    assert by_name["chain-api-1"].after == ("network:chain_default",)
    assert by_name["chain-api-1"].start_after == ("container:chain-db-1",)
    assert by_name["chain-web-1"].after == ("network:chain_default",)
    assert by_name["chain-web-1"].start_after == ("container:chain-api-1",)
    check_golden("depends_on_chain", golden_text(plan))
    execute(plan, scenario.engine)
    # migrate's command ends at once and nothing waits for it to complete: like any stopped
    # service, the next plan starts it again (on the real engine too: tests/contract).
    again = scenario.plan(CHAIN)
    assert [(op.name, op.action) for op in again.operations] == [("chain-migrate-1", Action.START)]
    # A change of the middle service recreates it alone: depends_on without restart: true.
    plan = scenario.plan(CHAIN.replace("interval: 5s", "interval: 10s"))
    assert {op.name: op.action for op in plan.operations} == {
        "chain-api-1": Action.RECREATE,
        "chain-migrate-1": Action.START,
    }


RESTART = """
name: rs
services:
  db:
    image: busybox:latest
    command: ["sleep", "3600"]
  api:
    image: busybox:latest
    command: ["sleep", "3601"]
    depends_on:
      db: {condition: service_started, restart: true}
  web:
    image: nginx:1.25
    depends_on: [api]
  report:
    image: busybox:latest
    command: ["sleep", "3602"]
    depends_on: [db]
"""


def test_restart_true_dependents(scenario: Scenario) -> None:
    scenario.apply(RESTART)
    plan = scenario.plan(RESTART.replace('"3600"', '"3700"'))
    assert [(op.action, op.name) for op in plan.operations] == [
        (Action.RECREATE, "rs-db-1"),
        (Action.RECREATE, "rs-api-1"),
    ]
    api = plan.operations[1]
    assert api.reason == "db is recreated and its depends_on says restart: true"
    # The replacement is created at once; the old api is stopped only after db is done.
    assert api.after == ()
    assert api.start_after == ("container:rs-db-1",)
    assert [type(s).__name__ for s in api.steps[: api.gate]] == ["CreateContainer"]
    assert [type(s).__name__ for s in api.abandon] == ["RemoveContainer"]
    check_golden("restart_true_dependents", golden_text(plan))


SHARED_NS = """
name: ns
services:
  app:
    image: nginx:1.25
    networks: [default]
  sidecar:
    image: busybox:latest
    command: ["sleep", "3600"]
    network_mode: service:app
  helper:
    image: busybox:latest
    command: ["sleep", "3600"]
    volumes_from: [app]
"""


def test_network_mode_service_dependents(scenario: Scenario) -> None:
    scenario.apply(SHARED_NS)
    scenario.engine.set_image("nginx:1.25", NGINX_125_REBUILT)
    plan = scenario.plan(SHARED_NS)
    assert [(op.action, op.name) for op in plan.operations] == [
        (Action.RECREATE, "ns-app-1"),
        (Action.RECREATE, "ns-helper-1"),
        (Action.RECREATE, "ns-sidecar-1"),
    ]
    reasons = {op.name: op.reason for op in plan.operations}
    assert reasons["ns-sidecar-1"] == "app is recreated and it shares its network namespace"
    assert reasons["ns-helper-1"] == "app is recreated and it takes volumes from it"
    check_golden("network_mode_dependents", golden_text(plan))


EXTERNAL = """
name: ext
services:
  web:
    image: nginx:1.25
    networks: [shared]
    volumes: ["certs:/certs"]
networks:
  shared:
    external: true
volumes:
  certs:
    external: true
"""


def test_external_resources(scenario: Scenario) -> None:
    # Missing: warnings, and nothing is created for them.
    plan = scenario.plan(EXTERNAL)
    assert [op.kind.value for op in plan.operations] == ["container"]
    assert any('external network "shared" does not exist' in w for w in plan.warnings)
    assert any('external volume "certs" does not exist' in w for w in plan.warnings)
    check_golden("external_missing", golden_text(plan))
    # Present (made outside stackup): used as they are, never recreated or removed.
    scenario.engine.networks["shared"] = ObservedNetwork("n-shared", "shared", {"owner": "ops"})
    scenario.engine.volumes["certs"] = ObservedVolume("certs", {"owner": "ops"})
    scenario.apply(EXTERNAL)
    # Even with every service gone and --remove-orphans, only the container goes.
    plan = scenario.plan("name: ext\nservices: {}\n", remove_orphans=True)
    assert [(op.action, op.kind.value) for op in plan.operations] == [(Action.REMOVE, "container")]
    check_golden("external_present", golden_text(plan))
    assert execute(plan, scenario.engine).ok
    assert "shared" in scenario.engine.networks and "certs" in scenario.engine.volumes


SECRET_VALUE_1 = "s3cr3t-first-value"
SECRET_VALUE_2 = "s3cr3t-second-value"
PASSWORD_1 = "hunter2-password"
PASSWORD_2 = "correct-horse-battery"

SECRET = """
name: sec
services:
  db:
    image: busybox:latest
    command: ["sleep", "3600"]
    secrets: [db_root]
    environment:
      DB_PASSWORD: PASSWORD
      DB_USER: admin
secrets:
  db_root:
    file: ./db_root.txt
"""


def test_secret_changed(scenario: Scenario) -> None:
    (scenario.dir / "db_root.txt").write_text(SECRET_VALUE_1, encoding="utf-8")
    scenario.apply(SECRET.replace("PASSWORD\n", PASSWORD_1 + "\n"))
    (scenario.dir / "db_root.txt").write_text(SECRET_VALUE_2, encoding="utf-8")
    plan = scenario.plan(SECRET.replace("PASSWORD\n", PASSWORD_2 + "\n"))
    [op] = plan.operations
    assert op.action is Action.RECREATE
    assert {f.path for f in op.fields} == {"environment.DB_PASSWORD", "secrets[0].content"}
    for change in op.fields:
        assert str(change.before).startswith("(sensitive sha256:")
        assert str(change.after).startswith("(sensitive sha256:")
        assert change.before != change.after
    for rendered in (
        render_text(plan),
        render_json(plan),
        render_markdown(plan),
        golden_text(plan),
    ):
        for value in (SECRET_VALUE_1, SECRET_VALUE_2, PASSWORD_1, PASSWORD_2):
            assert value not in rendered
    # Nor in the labels the engine holds.
    for container in scenario.engine.containers.values():
        for label in container.labels.values():
            assert SECRET_VALUE_1 not in label and PASSWORD_1 not in label
    check_golden("secret_changed", golden_text(plan, scenario.dir))


def test_drift_stopped_by_hand(scenario: Scenario) -> None:
    scenario.apply(WEB)
    scenario.engine.stop_by_hand("demo-cache-1")
    plan = scenario.plan(WEB)
    [op] = plan.operations
    assert (op.action, op.name, op.reason) == (
        Action.START,
        "demo-cache-1",
        "not running (exited with code 137)",
    )
    check_golden("drift_stopped", golden_text(plan))


def test_drift_removed_by_hand(scenario: Scenario) -> None:
    scenario.apply(WEB)
    scenario.engine.remove_by_hand("demo-web-1")
    plan = scenario.plan(WEB)
    [op] = plan.operations
    assert (op.action, op.name) == (Action.CREATE, "demo-web-1")
    assert "removed outside stackup" in op.reason
    check_golden("drift_removed", golden_text(plan))


def test_drift_disconnected_by_hand(scenario: Scenario) -> None:
    scenario.apply(WEB)
    scenario.engine.disconnect("demo-web-1", "demo_front")
    plan = scenario.plan(WEB)
    [op] = plan.operations
    assert (op.action, op.name) == (Action.CONNECT, "demo-web-1")
    assert op.reason == "disconnected from network demo_front outside stackup"
    check_golden("drift_disconnected", golden_text(plan))


SHARED_AND_HEALTHY = """
name: sh
services:
  app:
    image: nginx:1.25
    healthcheck: {test: ["CMD", "true"]}
  sidecar:
    image: busybox:latest
    command: ["sleep", "3600"]
    network_mode: service:app
    depends_on:
      app: {condition: service_healthy}
"""


def test_depends_on_and_network_mode_on_the_same_service(scenario: Scenario) -> None:
    """The namespace edge must not replace the depends_on condition (it did: no wait)."""
    plan = scenario.plan(SHARED_AND_HEALTHY)
    sidecar = next(op for op in plan.operations if op.name == "sh-sidecar-1")
    assert "WaitFor app service_healthy of sh-app-1" in [_step(s) for s in sidecar.steps]
    assert execute(plan, scenario.engine).ok
    scenario.engine.set_image("nginx:1.25", NGINX_125_REBUILT)
    plan = scenario.plan(SHARED_AND_HEALTHY)
    assert [(op.name, op.reason) for op in plan.operations][1] == (
        "sh-sidecar-1",
        "app is recreated and it shares its network namespace",
    )
