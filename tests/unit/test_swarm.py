"""The swarm target's pure parts: desired specs, versioned configs and secrets, the plan
(create, update with field-level reasons, drift, removal of old versions), the checks for what
Swarm cannot honour (located in the file), and the mapping to the Docker API's ServiceSpec."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

from stackup.engine.docker.swarm_payloads import service_spec
from stackup.loading.loader import LoadedStack, load_text
from stackup.model import labels as L
from stackup.planning.plan import Action, Kind, Plan
from stackup.planning.render import render_json, render_markdown, render_text
from stackup.targets.swarm.desired import (
    OBJECT_KEY,
    SwarmOptions,
    deployed_image,
    desired_objects,
    desired_service,
)
from stackup.targets.swarm.down import plan_swarm_down
from stackup.targets.swarm.plan import (
    SwarmObject,
    SwarmObserved,
    SwarmServiceState,
    reconcile_swarm,
)
from stackup.targets.swarm.steps import CreateObject, CreateService, UpdateService, WaitConverged

SALT = "0123456789abcdef"
SECRET = "hunter2-weak"

STACK = """
name: demo
x-stackup:
  registry: 127.0.0.1:5000
services:
  web:
    image: nginx:stable
    ports:
      - {target: 80, published: 18080, mode: host}
    configs:
      - source: site
        target: /etc/nginx/conf.d/default.conf
    deploy:
      update_config: {order: stop-first}
  app:
    image: app:v1
    environment:
      API_TOKEN: abc
      MODE: prod
    secrets: [db_password]
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
      update_config: {order: start-first, failure_action: rollback}
configs:
  site:
    content: "server { listen 80; }"
secrets:
  db_password:
    content: "{secret}"
"""


def _load(text: str = STACK, secret: str = SECRET) -> LoadedStack:
    return load_text(text.replace("{secret}", secret))


def _files(loaded: LoadedStack) -> dict[str, bytes]:
    from stackup.planning.desired import read_file_objects

    return read_file_objects(loaded.stack)


def _options(loaded: LoadedStack, **kw: object) -> SwarmOptions:
    return SwarmOptions(salt=SALT, file_objects=_files(loaded), **kw)  # type: ignore[arg-type]


def _plan(loaded: LoadedStack, observed: SwarmObserved | None = None, **kw: object) -> Plan:
    return reconcile_swarm(
        loaded.stack, loaded.source, observed or SwarmObserved("demo"), _options(loaded, **kw)
    )


def _applied(loaded: LoadedStack, nodes: int = 1) -> SwarmObserved:
    """What the swarm holds right after `plan` was applied."""
    opts = _options(loaded)
    objects = desired_objects(loaded.stack, SALT, opts.file_objects)
    by_key = {(o.kind, o.key): o for o in objects}
    services = []
    for name in loaded.stack.services:
        want = desired_service(loaded.stack, name, SALT, by_key, opts)
        services.append(
            SwarmServiceState(
                id=f"id-{name}",
                name=want.name,
                labels=dict(want.labels),
                replicas=want.replicas,
                image=want.image,
                configs=tuple(m.name for m in want.configs),
                secrets=tuple(m.name for m in want.secrets),
            )
        )
    return SwarmObserved(
        project="demo",
        services=tuple(services),
        networks=(SwarmObject("n1", "demo_default", {L.PROJECT: "demo", L.SALT: SALT}),),
        configs=tuple(
            SwarmObject(o.name, o.name, dict(o.labels)) for o in objects if o.kind == "config"
        ),
        secrets=tuple(
            SwarmObject(o.name, o.name, dict(o.labels)) for o in objects if o.kind == "secret"
        ),
        nodes=nodes,
    )


# --------------------------------------------------------------------------- first deploy


def test_first_deploy_creates_network_versions_and_services_in_order() -> None:
    plan = _plan(_load())
    ops = {op.id: op for op in plan.operations}
    assert [(op.action, op.kind) for op in plan.operations] == [
        (Action.CREATE, Kind.NETWORK),
        (Action.CREATE, Kind.CONFIG),
        (Action.CREATE, Kind.SECRET),
        (Action.CREATE, Kind.SERVICE),
        (Action.CREATE, Kind.SERVICE),
    ]
    app = ops["service:demo_app"]
    assert app.reason == "new service (2 replicas)"
    secret_op = next(op for op in plan.operations if op.kind is Kind.SECRET)
    config_op = next(op for op in plan.operations if op.kind is Kind.CONFIG)
    assert set(app.after) == {"network:demo_default", secret_op.id}
    assert set(ops["service:demo_web"].after) == {"network:demo_default", config_op.id}
    assert isinstance(app.steps[0], CreateService) and isinstance(app.steps[1], WaitConverged)
    assert plan.blockers == () and plan.warnings == ()


def test_images_come_from_the_registry_and_are_pinned_after_a_push() -> None:
    loaded = _load()
    assert deployed_image(loaded.stack, "app") == "127.0.0.1:5000/app:v1"
    plan = _plan(loaded, digests={"127.0.0.1:5000/app:v1": "sha256:" + "a" * 64})
    step = next(op for op in plan.operations if op.id == "service:demo_app").steps[0]
    assert isinstance(step, CreateService)
    assert step.want.image == "127.0.0.1:5000/app:v1@sha256:" + "a" * 64
    # The applied spec records the name, so a push alone is no change.
    assert step.want.canonical["image"] == "127.0.0.1:5000/app:v1"


def test_versions_are_named_with_a_keyed_digest_never_a_plain_hash() -> None:
    loaded = _load()
    objects = desired_objects(loaded.stack, SALT, _files(loaded))
    secret = next(o for o in objects if o.kind == "secret")
    plain = hashlib.sha256(SECRET.encode()).hexdigest()
    assert secret.name.startswith("demo_db_password-")
    assert secret.name.rsplit("-", 1)[1] not in plain
    assert SECRET not in json.dumps(dict(secret.labels)) and SECRET not in repr(secret)
    # Another salt, another name: the name cannot be looked up in a table of guesses.
    other = desired_objects(loaded.stack, "another-salt", _files(loaded))
    assert next(o for o in other if o.kind == "secret").name != secret.name


def test_a_secret_value_appears_in_no_rendering() -> None:
    loaded = _load()
    first = _plan(loaded)
    changed = _plan(_load(secret="correct-horse"), _applied(loaded))
    for plan in (first, changed):
        for text in (render_text(plan), render_json(plan), render_markdown(plan), repr(plan)):
            assert SECRET not in text and "correct-horse" not in text


# --------------------------------------------------------------------------- no change, drift


def test_nothing_to_do_when_the_swarm_matches() -> None:
    loaded = _load()
    plan = _plan(loaded, _applied(loaded))
    assert plan.operations == () and not plan.changes


def test_replicas_scaled_outside_stackup_is_drift() -> None:
    loaded = _load()
    observed = _applied(loaded)
    app = next(s for s in observed.services if s.name == "demo_app")
    scaled = replace(
        observed,
        services=tuple(replace(s, replicas=3) if s is app else s for s in observed.services),
    )
    plan = _plan(loaded, scaled)
    (op,) = plan.operations
    assert op.action is Action.UPDATE and op.name == "demo_app"
    assert op.reason == "replicas scaled outside stackup: 3, the file says 2"
    assert [(f.path, f.before, f.after) for f in op.fields] == [("deploy.replicas", 3, 2)]
    assert op.details == ()  # a scale replaces no task


def test_image_changed_outside_stackup_is_drift() -> None:
    loaded = _load()
    observed = _applied(loaded)
    moved = replace(
        observed,
        services=tuple(
            replace(s, image="127.0.0.1:5000/app:hotfix") if s.name == "demo_app" else s
            for s in observed.services
        ),
    )
    (op,) = _plan(loaded, moved).operations
    assert "image changed outside stackup: 127.0.0.1:5000/app:hotfix running" in op.reason
    assert [f.path for f in op.fields] == ["image"]


def test_changed_image_is_a_rolling_update_with_field_reasons() -> None:
    loaded = _load()
    plan = _plan(_load(STACK.replace("app:v1", "app:v2")), _applied(loaded))
    (op,) = plan.operations
    assert op.action is Action.UPDATE and op.reason == "changed: image"
    assert [(f.path, f.before, f.after) for f in op.fields] == [
        ("image", "127.0.0.1:5000/app:v1", "127.0.0.1:5000/app:v2")
    ]
    assert op.details == ("rolling update: order start-first, on failure rollback",)
    assert isinstance(op.steps[0], UpdateService) and isinstance(op.steps[1], WaitConverged)


def test_sensitive_environment_is_a_digest_in_the_applied_spec() -> None:
    loaded = _load()
    plan = _plan(_load(STACK.replace("API_TOKEN: abc", "API_TOKEN: xyz")), _applied(loaded))
    (op,) = plan.operations
    (change,) = op.fields
    assert change.path == "environment.API_TOKEN"
    assert "abc" not in str(change.before) and "xyz" not in str(change.after)
    assert str(change.after).startswith("(sensitive sha256:")


# --------------------------------------------------------------------------- versions


def test_changed_config_and_secret_make_new_versions_and_remove_the_old() -> None:
    loaded = _load()
    before = _applied(loaded)
    changed = _load(STACK.replace("listen 80;", "listen 80; server_name x;"), secret="s2")
    plan = _plan(changed, before)
    by_kind = [(op.action, op.kind, op.name) for op in plan.operations]
    old_config = before.configs[0].name
    old_secret = before.secrets[0].name
    creates = [op for op in plan.operations if op.action is Action.CREATE]
    assert {op.kind for op in creates} == {Kind.CONFIG, Kind.SECRET}
    assert all(isinstance(op.steps[0], CreateObject) for op in creates)
    assert creates[0].reason.startswith("config site changed: new version (replaces ")
    updates = {op.name: op for op in plan.operations if op.action is Action.UPDATE}
    assert [f.path for f in updates["demo_web"].fields] == ["configs[0].name"]
    assert [f.path for f in updates["demo_app"].fields] == ["secrets[0].name"]
    removes = [op for op in plan.operations if op.action is Action.REMOVE]
    assert {op.name for op in removes} == {old_config, old_secret}
    for op in removes:
        assert set(op.after) == {"service:demo_web", "service:demo_app"}
    assert (Action.REMOVE, Kind.SECRET, old_secret) in by_kind


def test_an_old_version_still_used_by_a_service_not_updated_stays() -> None:
    loaded = _load()
    before = _applied(loaded)
    changed = _load(secret="s2")
    plan = reconcile_swarm(
        changed.stack, changed.source, before, _options(changed, services=("web",))
    )
    assert all(op.kind is not Kind.SECRET for op in plan.operations)


def test_orphan_service_is_a_warning_unless_remove_orphans() -> None:
    loaded = _load()
    observed = _applied(loaded)
    extra = SwarmServiceState("x", "demo_old", {L.PROJECT: "demo", L.SERVICE: "old"}, 1, "busybox")
    observed = replace(observed, services=(*observed.services, extra))
    plan = _plan(loaded, observed)
    assert plan.operations == ()
    assert plan.warnings == (
        "service demo_old is no longer in the stack file; `up --remove-orphans` removes it",
    )
    (op,) = _plan(loaded, observed, remove_orphans=True).operations
    assert (op.action, op.name) == (Action.REMOVE, "demo_old")


# --------------------------------------------------------------------------- checks


UNSUPPORTED = """\
name: demo
services:
  web:
    image: nginx:stable
    build: .
    privileged: true
    cap_add: [NET_ADMIN]
  helper:
    image: busybox
    volumes_from: [web]
"""


def test_unsupported_keys_warn_at_their_line_and_forbidden_ones_are_blockers() -> None:
    loaded = load_text(UNSUPPORTED, filename="stack.yaml")
    plan = reconcile_swarm(loaded.stack, loaded.source, SwarmObserved("demo"), SwarmOptions())
    assert plan.warnings == (
        "stack.yaml:5:5: services.web.build: not supported by Swarm: Swarm does not build "
        "images: build it first (`up --build`) and deploy it from a registry (x-stackup.registry)",
        "stack.yaml:7:5: services.web.cap_add: not supported by Swarm: ignored on the swarm target",
        "stack.yaml:6:5: services.web.privileged: not supported by Swarm: Swarm services cannot "
        "run privileged",
    )
    assert plan.blockers == (
        "stack.yaml:10:5: services.helper.volumes_from: not possible on Swarm: a swarm task "
        "cannot mount another container's volumes; use a named volume",
    )


def test_start_first_with_a_host_port_on_too_few_nodes_is_a_blocker() -> None:
    text = STACK.replace(
        "update_config: {order: stop-first}", "update_config: {order: start-first}"
    )
    loaded = load_text(text.replace("{secret}", SECRET), filename="stack.yaml")
    plan = reconcile_swarm(loaded.stack, loaded.source, SwarmObserved("demo"), _options(loaded))
    (blocker,) = plan.blockers
    assert blocker.startswith("stack.yaml:14:23: services.web.deploy.update_config.order: ")
    assert (
        "start-first cannot update 1 replica(s) publishing host port 18080 on 1 node(s)" in blocker
    )
    # With a second node the new task has somewhere to start.
    plan = reconcile_swarm(
        loaded.stack, loaded.source, SwarmObserved("demo", nodes=2), _options(loaded)
    )
    assert plan.blockers == ()


def test_more_host_port_replicas_than_nodes_is_a_blocker() -> None:
    text = STACK.replace("update_config: {order: stop-first}", "replicas: 3")
    loaded = load_text(text.replace("{secret}", SECRET), filename="stack.yaml")
    plan = _plan(loaded)
    (blocker,) = plan.blockers
    assert "3 replicas publish host port 18080 on 1 node(s)" in blocker


# --------------------------------------------------------------------------- down, mapping


def test_down_removes_services_first_then_networks_configs_secrets() -> None:
    loaded = _load()
    plan = plan_swarm_down(_applied(loaded))
    kinds = [(op.kind, op.action) for op in plan.operations]
    assert kinds[:2] == [(Kind.SERVICE, Action.REMOVE)] * 2
    later = [op for op in plan.operations if op.kind is not Kind.SERVICE]
    assert {op.kind for op in later} == {Kind.NETWORK, Kind.CONFIG, Kind.SECRET}
    assert all(set(op.after) == {"service:demo_app", "service:demo_web"} for op in later)
    assert all(op.kind is not Kind.VOLUME for op in plan.operations)


def test_service_spec_maps_the_deploy_section() -> None:
    loaded = _load()
    opts = _options(loaded)
    objects = {(o.kind, o.key): o for o in desired_objects(loaded.stack, SALT, opts.file_objects)}
    want = desired_service(loaded.stack, "app", SALT, objects, opts)
    secret_name = want.secrets[0].name
    spec = service_spec(want, {("secret", secret_name): "SID"})
    task = spec["task_template"]
    container = task["ContainerSpec"]
    assert container["Image"] == "127.0.0.1:5000/app:v1"
    assert container["Env"] == ["API_TOKEN=abc", "MODE=prod"]
    assert container["Secrets"] == [
        {
            "SecretID": "SID",
            "SecretName": secret_name,
            "File": {"Name": "/run/secrets/db_password", "UID": "0", "GID": "0", "Mode": 0o444},
        }
    ]
    assert container["Labels"]["io.stackup.swarm-project"] == "demo"
    assert L.PROJECT not in container["Labels"]  # the engine target must not take them as its own
    assert task["Networks"] == [{"Target": "demo_default", "Aliases": ["app"]}]
    assert spec["mode"] == {"replicated": {"Replicas": 2}}
    assert spec["endpoint_spec"] == {"Mode": "dnsrr"}
    assert spec["update_config"] == {
        "Parallelism": 1,
        "FailureAction": "rollback",
        "Order": "start-first",
    }
    assert json.loads(spec["labels"][L.SPEC]) == want.canonical
    assert SECRET not in json.dumps(spec["labels"])

    web = desired_service(loaded.stack, "web", SALT, objects, opts)
    ports = service_spec(web, {("config", web.configs[0].name): "CID"})["endpoint_spec"]["Ports"]
    assert ports == [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 18080, "PublishMode": "host"}
    ]


def test_a_scale_keeps_the_task_hash_and_an_image_change_does_not() -> None:
    loaded = _load()
    opts = _options(loaded)
    objects = {(o.kind, o.key): o for o in desired_objects(loaded.stack, SALT, opts.file_objects)}
    base = desired_service(loaded.stack, "app", SALT, objects, opts)
    scaled = _load(STACK.replace("replicas: 2", "replicas: 5"))
    image = _load(STACK.replace("app:v1", "app:v2"))
    assert desired_service(scaled.stack, "app", SALT, objects, opts).task_hash == base.task_hash
    assert desired_service(image.stack, "app", SALT, objects, opts).task_hash != base.task_hash


def test_object_labels_name_the_key() -> None:
    loaded = _load()
    objects = desired_objects(loaded.stack, SALT, _files(loaded))
    assert {o.labels[OBJECT_KEY] for o in objects} == {"site", "db_password"}
