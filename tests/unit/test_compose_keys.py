"""The newest Compose Specification keys (issue 11): each loads into its long form, round-trips
through `stackup config`, reaches the engine's create body where engine API 1.41 has it, and is
otherwise named in a located warning (load) or a located error naming the engine it needs (up)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stackup.engine.docker import convert
from stackup.engine.fake import FakeEngine
from stackup.errors import StackupError
from stackup.loading.compat import engine_errors, warnings
from stackup.loading.loader import LoadedStack, LoadOptions, load, load_text
from stackup.model import labels as L
from stackup.model.spec import Service
from stackup.planning.desired import canonical_service, desired_containers, desired_network
from stackup.planning.graph import build_graph
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import CheckInThrowaway, Exec
from stackup.planning.reconcile import reconcile
from stackup.targets.engine.execute import execute

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "good" / "compose_keys.yaml"


@pytest.fixture(scope="module")
def loaded() -> LoadedStack:
    return load(LoadOptions(files=(FIXTURE,), environ={"NPM_TOKEN": "t"}))


def app_body(loaded: LoadedStack) -> dict[str, Any]:
    want = desired_containers(loaded.stack, "app", 1, "salt", {})
    body, _ = convert.container_body(want[0].spec)
    return body


# --------------------------------------------------------------------------- loading


def test_short_and_long_forms_load_into_one_shape(loaded: LoadedStack) -> None:
    app = loaded.stack.services["app"]
    assert app.devices == ["/dev/null:/dev/stackup-null:rwm", "/dev/zero:/dev/stackup-zero:r"]
    assert app.cpu_rt_runtime == 400_000  # 400ms in microseconds
    assert app.cpu_rt_period == 1_400_000
    assert app.blkio_config is not None and app.blkio_config.device_read_bps[0].rate == 12 * 2**20
    gpus = loaded.stack.services["gpu-all"].gpus
    assert gpus is not None and gpus[0].count == "all" and gpus[0].capabilities == ["gpu"]
    models = loaded.stack.services["gpu-all"].models
    assert models is not None and list(models) == ["llm"] and models["llm"].endpoint_var is None
    assert app.build is not None and [s.target for s in app.build.secrets] == [None, "token"]
    assert app.build.ulimits["nofile"].hard == 4096
    assert loaded.stack.models["llm"].model == "ai/smollm2"


def test_label_file_is_read_into_labels_and_a_service_label_wins(loaded: LoadedStack) -> None:
    labels = loaded.stack.services["app"].labels
    assert labels["com.example.team"] == "payments"  # only in the file
    assert labels["com.example.owner"] == "from-labels"  # in both: `labels` wins


def test_a_missing_label_file_is_a_located_error(tmp_path: Path) -> None:
    text = "name: t\nservices:\n  a:\n    image: busybox\n    label_file: nowhere.labels\n"
    with pytest.raises(StackupError) as info:
        load_text(text, "stack.yaml", working_dir=tmp_path)
    assert "stack.yaml:5:17" in str(info.value) and "label file not found" in str(info.value)


def test_a_provider_service_runs_no_container_and_its_dependants_start(tmp_path: Path) -> None:
    text = (
        "name: prov\nservices:\n  web:\n    image: busybox\n    depends_on: [db]\n"
        "  db:\n    provider: {type: awesomecloud, options: {size: 256}}\n"
    )
    loaded = load_text(text, working_dir=tmp_path)
    engine = FakeEngine({"busybox:latest": "sha256:b"})
    graph = build_graph(loaded.stack, loaded.source)
    plan = reconcile(loaded.stack, graph, engine.observe("prov"), ReconcileOptions(salt="s"))
    assert {op.service for op in plan.operations if op.service} == {"web"}
    assert execute(plan, engine).ok
    assert sorted(c.name for c in engine.observe("prov").containers) == ["prov-web-1"]


def test_post_start_hooks_run_in_order_after_the_start(tmp_path: Path) -> None:
    text = (
        "name: hooks\nservices:\n  web:\n    image: busybox\n    post_start:\n"
        "      - command: touch /tmp/one\n        user: root\n"
        "        environment: {A: '1'}\n      - command: [touch, /tmp/two]\n"
    )
    loaded = load_text(text, working_dir=tmp_path)
    engine = FakeEngine({"busybox:latest": "sha256:b"})
    graph = build_graph(loaded.stack, loaded.source)
    plan = reconcile(loaded.stack, graph, engine.observe("hooks"), ReconcileOptions(salt="s"))
    [op] = [op for op in plan.operations if op.service == "web"]
    kinds = [type(step).__name__ for step in op.steps]
    assert kinds[-3:] == ["StartContainer", "Exec", "Exec"]
    first = op.steps[-2]
    assert isinstance(first, Exec) and first.purpose == "post_start"
    assert (first.user, first.environment) == ("root", ("A=1",))
    assert execute(plan, engine).ok
    assert engine.execs == [
        ("hooks-web-1", ("touch", "/tmp/one")),
        ("hooks-web-1", ("touch", "/tmp/two")),
    ]
    assert not any("post_start" in w for w in warnings(loaded.stack, loaded.source))


def test_pull_policy_refresh_and_every_duration_forms(tmp_path: Path) -> None:
    base = "name: t\nservices:\n  a:\n    image: busybox\n    pull_policy: {}\n"
    for policy in ("refresh", "every_12h", "every_1h30m", "daily"):
        assert load_text(base.format(policy), working_dir=tmp_path).stack.services["a"]
    with pytest.raises(StackupError, match="refresh"):
        load_text(base.format("every_often"), working_dir=tmp_path)


def test_config_output_round_trips(loaded: LoadedStack, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stackup", "-f", str(FIXTURE), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "NPM_TOKEN": "t"},
    )
    again = load_text(result.stdout, "config.yaml", working_dir=tmp_path)
    # config writes the Dockerfile a build uses when it names none, as Compose does; that is
    # the only difference from the stack it came from.
    for name, service in loaded.stack.services.items():
        build = service.build
        if build is not None and build.dockerfile is None and build.dockerfile_inline is None:
            service = service.model_copy(
                update={"build": build.model_copy(update={"dockerfile": "Dockerfile"})}
            )
        assert again.stack.services[name] == service, name
    assert again.stack.model_copy(update={"services": {}}) == loaded.stack.model_copy(
        update={"services": {}}
    )


# --------------------------------------------------------------------------- warnings, errors


def test_ignored_keys_are_located_warnings_printed_by_the_cli(loaded: LoadedStack) -> None:
    found = warnings(loaded.stack, loaded.source)
    joined = "\n".join(found)
    for key in (
        "services.cloud-db.provider: provider services are not supported by stackup; "
        "service skipped",
        "services.app.pre_stop: pre_stop hooks are not run",
        "services.app.use_api_socket:",
        "services.app.build.secrets: needs BuildKit",
        "services.app.deploy.resources.reservations.generic_resources: Swarm only",
        "services.gpu-all.pull_policy:",
        "models: AI models",
    ):
        assert key in joined, key
    provider = next(w for w in found if "cloud-db.provider" in w)
    assert ":105:5: services.cloud-db.provider" in provider
    # Swarm honours generic_resources: not warned about there.
    assert not any(
        "generic_resources" in w for w in warnings(loaded.stack, loaded.source, swarm=True)
    )
    result = subprocess.run(
        [sys.executable, "-m", "stackup", "-f", str(FIXTURE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "NPM_TOKEN": "t"},
    )
    assert "warning: " in result.stderr and "cloud-db.provider" in result.stderr
    assert "warning" not in result.stdout


def test_keys_newer_than_the_engine_are_located_errors_naming_the_version(
    loaded: LoadedStack,
) -> None:
    errors = engine_errors(loaded.stack, loaded.source, (1, 41))
    assert any(
        ":71:9: services.app.volumes[2]: an image mount needs Docker Engine 28.0 or later "
        "(API 1.48); this engine speaks API 1.41" in e
        for e in errors
    ), errors
    assert any(
        "services.app.networks.back.interface_name: interface_name needs" in e for e in errors
    )
    assert engine_errors(loaded.stack, loaded.source, (1, 48)) == []
    readonly = (
        "name: t\nservices:\n  a:\n    image: busybox\n    volumes:\n      - type: bind\n"
        "        source: /tmp\n        target: /t\n        bind: {recursive: readonly}\n"
    )
    stack = load_text(readonly, working_dir=Path("/"))
    [error] = engine_errors(stack.stack, stack.source, (1, 43))
    assert "recursive: readonly needs Docker Engine 25.0 or later (API 1.44)" in error
    assert engine_errors(stack.stack, stack.source, (1, 44)) == []


# --------------------------------------------------------------------------- engine bodies


def test_create_body_carries_the_applied_keys(loaded: LoadedStack) -> None:
    host = app_body(loaded)["HostConfig"]
    assert host["BlkioWeight"] == 300
    assert host["BlkioWeightDevice"] == [{"Path": "/dev/sda", "Weight": 400}]
    assert host["BlkioDeviceReadBps"] == [{"Path": "/dev/sda", "Rate": 12 * 2**20}]
    assert host["BlkioDeviceWriteIOps"] == [{"Path": "/dev/sda", "Rate": 120}]
    assert "BlkioDeviceWriteBps" not in host
    assert (host["CpuCount"], host["CpuPercent"]) == (2, 50)
    assert (host["CpuRealtimeRuntime"], host["CpuRealtimePeriod"]) == (400_000, 1_400_000)
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert host["Devices"][1] == {
        "PathOnHost": "/dev/zero",
        "PathInContainer": "/dev/stackup-zero",
        "CgroupPermissions": "r",
    }
    assert host["DeviceRequests"] == [
        {
            "Driver": "nvidia",
            "Count": 1,
            "DeviceIDs": [],
            "Capabilities": [["gpu"]],
            "Options": {},
        },
        {
            "Driver": "nvidia",
            "Count": 0,
            "DeviceIDs": ["0"],
            "Capabilities": [["gpu"]],
            "Options": {},
        },
    ]
    assert app_body(loaded)["Labels"]["com.example.team"] == "payments"


def test_gpus_all_is_every_gpu() -> None:
    service = Service.model_validate({"image": "busybox", "gpus": "all"})
    assert convert.device_requests(service) == [
        {"Driver": "", "Count": -1, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}
    ]


def test_mount_options(loaded: LoadedStack) -> None:
    mounts = app_body(loaded)["HostConfig"]["Mounts"]
    bind = next(m for m in mounts if m["Type"] == "bind")
    assert bind["BindOptions"] == {"NonRecursive": True}  # `Mounts`, not `Binds`: API 1.40+
    volume = next(m for m in mounts if m["Type"] == "volume")
    assert volume["VolumeOptions"]["Labels"] == {"com.example.purpose": "cache"}
    image = next(m for m in mounts if m["Type"] == "image")
    assert image["Source"] == "busybox" and image["ImageOptions"] == {"Subpath": "bin"}
    assert "Binds" not in app_body(loaded)["HostConfig"]


def test_interface_name_is_an_endpoint_driver_option(loaded: LoadedStack) -> None:
    body = app_body(loaded)
    endpoint = body["NetworkingConfig"]["EndpointsConfig"]["composekeys_back"]
    assert endpoint["DriverOpts"] == {"com.docker.network.endpoint.ifname": "eth7"}


def test_unset_new_keys_leave_the_canonical_spec_of_running_containers_alone(
    tmp_path: Path,
) -> None:
    """Containers and networks made by an older stackup must not look changed (a changed
    network hash recreates the network)."""
    text = (
        "name: t\nservices:\n  a:\n    image: busybox\n    networks: [n]\n    volumes:\n"
        "      - type: bind\n        source: /tmp\n        target: /t\n"
        "      - type: volume\n        target: /v\n        volume: {nocopy: true}\n"
        "networks:\n  n: {}\n"
    )
    stack = load_text(text, working_dir=tmp_path).stack
    canonical = L.canonical_json(canonical_service(stack, "a", "salt", {}))  # type: ignore[arg-type]
    for key in (
        "gpus",
        "blkio_config",
        "cpu_rt_runtime",
        "recursive",
        "interface_name",
        '"labels":null',
    ):
        assert key not in canonical, key
    assert "enable_ipv4" not in L.canonical_json(desired_network(stack, "n", "salt").canonical)


# --------------------------------------------------------------------------- merge rules (issue 21)


def _load_files(tmp_path: Path, *texts: str) -> LoadedStack:
    paths = []
    for i, text in enumerate(texts):
        path = tmp_path / f"f{i}.yaml"
        path.write_text(text)
        paths.append(path)
    return load(LoadOptions(files=tuple(paths), environ={}))


def test_extra_hosts_list_and_mapping_merge_as_compose_go(tmp_path: Path) -> None:
    """compose-go `override/merge.go` `mergeExtraHosts`: both forms become `host=ip` entries
    (a mapping value that is a list gives one entry per address), the earlier file's entries
    are kept and the later file's are appended unless already there. Before, a mapping in the
    override replaced the whole list (`web` was lost)."""
    base = (
        "name: t\nservices:\n  a:\n    image: busybox\n    extra_hosts:\n"
        '      - "db=10.0.0.1"\n      - "web=10.0.0.3"\n'
    )
    over = (
        "services:\n  a:\n    extra_hosts:\n"
        '      db: ["10.0.0.1", "10.0.0.9", "::1"]\n      cache: 10.0.0.4\n'
    )
    hosts = _load_files(tmp_path, base, over).stack.services["a"].extra_hosts
    assert hosts == ["db=10.0.0.1", "web=10.0.0.3", "db=10.0.0.9", "db=::1", "cache=10.0.0.4"]
    # The other way round: a mapping first, then a list.
    hosts = (
        _load_files(
            tmp_path,
            "name: t\nservices:\n  a:\n    image: busybox\n    extra_hosts: {db: 10.0.0.1}\n",
            "services:\n  a:\n    extra_hosts: [web=10.0.0.3, db=10.0.0.1]\n",
        )
        .stack.services["a"]
        .extra_hosts
    )
    assert hosts == ["db=10.0.0.1", "web=10.0.0.3"]
    want = desired_containers(load_text(base, working_dir=tmp_path).stack, "a", 1, "salt", {})
    body, _ = convert.container_body(want[0].spec)
    assert body["HostConfig"]["ExtraHosts"] == ["db:10.0.0.1", "web:10.0.0.3"]


def test_extra_hosts_of_an_extended_service_merge_too(tmp_path: Path) -> None:
    text = (
        "name: t\nservices:\n  base:\n    image: busybox\n    extra_hosts: [db=10.0.0.1]\n"
        "  a:\n    extends: base\n    extra_hosts: {db: 10.0.0.2}\n"
    )
    hosts = load_text(text, working_dir=tmp_path).stack.services["a"].extra_hosts
    assert hosts == ["db=10.0.0.1", "db=10.0.0.2"]


def test_reset_with_a_shared_alias_follows_compose_go(tmp_path: Path) -> None:
    """compose-go `loader/reset.go`: a `!reset` is recorded by the path it is written at, and an
    alias copies the anchor's reset paths to where the alias is used. So a reset written in an
    override for one user of a shared anchor leaves the other user alone; a reset inside the
    anchor applies wherever it is used; and `a2: *a` is no cycle (`TestResetCycle`)."""
    base = (
        "name: t\nx-env: &env\n  A: '1'\n  B: '2'\nservices:\n"
        "  a:\n    image: busybox\n    environment: *env\n"
        "  b:\n    image: busybox\n    environment: *env\n"
    )
    stack = _load_files(
        tmp_path, base, "services:\n  a:\n    environment:\n      A: !reset\n"
    ).stack
    assert stack.services["a"].environment == {"B": "2"}
    assert stack.services["b"].environment == {"A": "1", "B": "2"}
    inside = (
        "x-reset: &reset\n  labels: !reset {}\nservices:\n"
        "  a:\n    <<: *reset\n  b:\n    <<: *reset\n"
    )
    labelled = (
        "name: t\nservices:\n  a:\n    image: busybox\n    labels: {x: '1'}\n"
        "  b:\n    image: busybox\n    labels: {x: '1'}\n"
    )
    stack = _load_files(tmp_path, labelled, inside).stack
    assert stack.services["a"].labels == {} and stack.services["b"].labels == {}
    shared = "name: t\nservices:\n  a: &a\n    image: busybox\n  a2: *a\n"
    assert set(load_text(shared, working_dir=tmp_path).stack.services) == {"a", "a2"}
    with pytest.raises(StackupError, match="recursive anchor"):
        load_text(
            "name: t\nservices:\n  s:\n    image: busybox\n"
            "x-healthcheck: &healthcheck\n  egress-service:\n    <<: *healthcheck\n",
            working_dir=tmp_path,
        )


def test_label_files_in_order_then_labels_as_compose_go(tmp_path: Path) -> None:
    """compose-go `types/project.go` `WithServicesLabelsResolved`: each label file overrides
    the ones before it (and may use their values as variables), then `labels` overrides them
    all. Before, the first file won."""
    (tmp_path / "one.labels").write_text("team=one\nowner=one\ntier=gold\n")
    (tmp_path / "two.labels").write_text("team=two\nowner=two\nsummary=${tier}-plan\n")
    text = (
        "name: t\nservices:\n  a:\n    image: busybox\n"
        "    label_file: [one.labels, two.labels]\n    labels: {owner: mine}\n"
    )
    labels = load_text(text, working_dir=tmp_path).stack.services["a"].labels
    assert labels == {"owner": "mine", "team": "two", "tier": "gold", "summary": "gold-plan"}


# --------------------------------------------------------------------------- pre_start (issue 21)

PRE_START = """
name: init
services:
  base:
    image: busybox
    environment: {SHARED: from-service, TOKEN: s3cret-value}
    user: "1000"
    pre_start:
      - command: [echo, seeded]
        environment: {STEP: one}
      - image: busybox:1.36
        command: [echo, two]
        user: root
    scale: 0
  web:
    extends: base
    image: nginx:1.25
    scale: 1
    networks: [back]
    volumes: [data:/data]
  job:
    image: busybox
    pre_start:
      - command: "false"
networks:
  back: {}
volumes:
  data: {}
"""


def _plan_for(loaded: LoadedStack, engine: FakeEngine, **options: Any) -> Any:
    graph = build_graph(loaded.stack, loaded.source)
    observed = engine.observe(loaded.stack.name)
    return reconcile(loaded.stack, graph, observed, ReconcileOptions(salt="s", **options))


def _engine() -> FakeEngine:
    return FakeEngine(
        {"busybox:latest": "sha256:b", "busybox:1.36": "sha256:c", "nginx:1.25": "sha256:n"}
    )


def test_pre_start_steps_run_in_their_own_containers_before_the_start(tmp_path: Path) -> None:
    """Written from Compose: docs `how-tos/init-containers` and docker/compose
    `pkg/compose/pre_start.go` (`createPreStartContainer`: the service's spec, the service's
    image when the step names none — compose-go resolves it after `extends` and the merge of
    every file, so `web` inherits its own `nginx:1.25`, not `base`'s busybox —, the service's
    networks, the created service container's mounts through VolumesFrom; the steps in order,
    after the dependencies' conditions and before the start)."""
    loaded = load_text(PRE_START, working_dir=tmp_path)
    engine = _engine()
    plan = _plan_for(loaded, engine)
    [op] = [op for op in plan.operations if op.service == "web"]
    kinds = [type(step).__name__ for step in op.steps]
    assert kinds[kinds.index("CreateContainer") :] == [
        "CreateContainer",
        "CheckInThrowaway",
        "CheckInThrowaway",
        "StartContainer",
    ]
    assert op.reason == "new service; its pre_start steps run first"
    first, second = (s for s in op.steps if isinstance(s, CheckInThrowaway))
    assert (first.purpose, first.timeout_s) == ("pre_start[0]", None)
    assert first.spec.name == "init-web-pre_start-0"
    assert first.spec.image == "nginx:1.25"  # the extending service's own image
    assert first.spec.service.command == ["echo", "seeded"]
    assert first.spec.service.user == "1000"  # inherited
    assert first.spec.environment["SHARED"] == "from-service"
    assert first.spec.environment["STEP"] == "one"
    assert first.spec.volumes_from == ("init-web-1",) and first.spec.mounts == ()
    assert [a.network for a in first.spec.networks] == ["init_back"]
    assert (second.spec.image, second.spec.service.user) == ("busybox:1.36", "root")

    assert "container:init-web-1" in execute(plan, engine).done
    names = {c.name: c.state for c in engine.observe("init").containers}
    assert names == {"init-web-1": "running", "init-job-1": "created"}  # job's step failed
    # Converged: the steps are not run again while their definition is unchanged.
    assert not [op for op in _plan_for(loaded, engine).operations if op.service == "web"]


def test_a_failing_pre_start_step_keeps_the_service_from_starting(tmp_path: Path) -> None:
    loaded = load_text(PRE_START, working_dir=tmp_path)
    engine = _engine()
    result = execute(_plan_for(loaded, engine), engine)
    assert list(result.failed) == ["container:init-job-1"]
    assert "pre_start[0] command false failed" in result.failed["container:init-job-1"]
    job = next(c for c in engine.observe("init").containers if c.name == "init-job-1")
    assert job.state == "created"
    # The step's container is gone (a step left by a crash is removed by the next run).
    assert not any("pre_start" in c.name for c in engine.observe("init").containers)


def test_a_changed_pre_start_step_recreates_and_runs_again(tmp_path: Path) -> None:
    """Compose's service hash covers `pre_start` (docker/compose `pkg/compose/hash.go`), and
    a changed step runs again (e2e fixture `pre_start/spec-change`). The spec stored on the
    container holds only a keyed digest of the steps: their environment may hold secrets."""
    loaded = load_text(PRE_START, working_dir=tmp_path)
    engine = _engine()
    execute(_plan_for(loaded, engine), engine)
    web = next(c for c in engine.observe("init").containers if c.name == "init-web-1")
    assert "s3cret" not in L.canonical_json(web.spec) and "seeded" not in L.canonical_json(web.spec)
    changed = load_text(PRE_START.replace("[echo, seeded]", "[echo, v2]"), working_dir=tmp_path)
    [op] = [op for op in _plan_for(changed, engine).operations if op.service == "web"]
    kinds = [type(step).__name__ for step in op.steps]
    assert op.action.value == "recreate" and [f.path for f in op.fields] == ["pre_start"]
    assert op.reason.endswith("; its pre_start steps run first")
    # Between the stop of the old container and the start of the new one.
    assert kinds[kinds.index("StopContainer") + 1 : kinds.index("StartContainer")] == [
        "CheckInThrowaway",
        "CheckInThrowaway",
    ]
    hook = next(s for s in op.steps if isinstance(s, CheckInThrowaway))
    assert hook.spec.volumes_from == ("init-web-1_stackup-new",)


def test_pre_start_runs_once_per_service_not_per_replica(tmp_path: Path) -> None:
    text = "name: s\nservices:\n  w:\n    image: busybox\n    scale: 2\n    pre_start:\n      - command: [echo, hi]\n"
    loaded = load_text(text, working_dir=tmp_path)
    plan = _plan_for(loaded, _engine())
    hooks = {
        op.name: [s for s in op.steps if isinstance(s, CheckInThrowaway)]
        for op in plan.operations
        if op.service == "w"
    }
    assert [len(hooks["s-w-1"]), len(hooks["s-w-2"])] == [1, 0]
    with pytest.raises(StackupError, match="per_replica: true is not supported"):
        load_text(
            text.replace("[echo, hi]", "[echo, hi]\n        per_replica: true"),
            working_dir=tmp_path,
        )


def test_a_start_first_rollout_runs_the_pre_start_steps_before_the_new_start(
    tmp_path: Path,
) -> None:
    text = (
        "name: r\nservices:\n  w:\n    image: busybox\n"
        "    deploy: {update_config: {order: start-first}}\n"
        "    pre_start:\n      - command: [echo, v1]\n"
    )
    engine = _engine()
    execute(_plan_for(load_text(text, working_dir=tmp_path), engine), engine)
    changed = load_text(text.replace("v1", "v2"), working_dir=tmp_path)
    [op] = [op for op in _plan_for(changed, engine).operations if op.service == "w"]
    kinds = [type(step).__name__ for step in op.steps]
    assert kinds.index("CreateContainer") < kinds.index("CheckInThrowaway")
    assert kinds.index("CheckInThrowaway") < kinds.index("StartContainer")
    assert kinds.index("StartContainer") < kinds.index("StopContainer")  # the old one serves
    assert op.reason.endswith("; its pre_start step runs first")
    assert execute(_plan_for(changed, engine), engine).ok


def test_an_image_a_pre_start_step_names_is_pulled_before_the_container(tmp_path: Path) -> None:
    """A step's own image must be on the engine before its container is created: pulled as a
    service's image is (missing, or `always`), and the service's operation waits for it."""
    text = (
        "name: p\nservices:\n  w:\n    image: busybox\n"
        "    pre_start:\n      - image: migrate/migrate:v4\n        command: [up]\n"
    )
    loaded = load_text(text, working_dir=tmp_path)
    plan = _plan_for(loaded, _engine(), pull="missing")
    pulls = [op for op in plan.operations if op.id.startswith("pull:")]
    assert [(op.name, op.reason) for op in pulls] == [
        ("migrate/migrate:v4", "w's pre_start step runs it; not present on the engine")
    ]
    [op] = [op for op in plan.operations if op.service == "w"]
    assert "pull:migrate/migrate:v4" in op.after


# --------------------------------------------------------------------------- image mounts


def test_an_image_mount_of_a_built_service_shows_its_build_and_a_missing_source_is_pulled(
    tmp_path: Path,
) -> None:
    """docker/compose `TestResolveImageVolumes`: a `source` naming a service that builds its
    image is the image it builds (`<project>-<service>`); an image name stays as written.
    `pkg/compose/pull.go` pulls a missing source, and the container waits for the build or
    the pull of what it mounts."""
    (tmp_path / "assets").mkdir()
    text = (
        "name: p\nservices:\n  assets:\n    build: ./assets\n    scale: 0\n"
        "  web:\n    image: busybox\n    volumes:\n"
        "      - {type: image, source: assets, target: /srv/assets}\n"
        "      - {type: image, source: 'content:1', target: /srv/content, image: {subpath: www}}\n"
    )
    loaded = load_text(text, working_dir=tmp_path)
    mounts = app_body_of(loaded, "web")["HostConfig"]["Mounts"]
    assert [(m["Type"], m["Source"], m["Target"]) for m in mounts] == [
        ("image", "p-assets", "/srv/assets"),
        ("image", "content:1", "/srv/content"),
    ]
    assert mounts[1]["ImageOptions"] == {"Subpath": "www"}
    plan = _plan_for(loaded, _engine(), pull="missing")
    images = {op.id: op.reason for op in plan.operations if op.kind.value == "image"}
    assert images["pull:content:1"] == "web mounts it; not present on the engine"
    assert images["build:assets"] == "image p-assets does not exist yet"
    [op] = [op for op in plan.operations if op.service == "web"]
    assert {"pull:content:1", "build:assets"} <= set(op.after)


def app_body_of(loaded: LoadedStack, service: str) -> dict[str, Any]:
    want = desired_containers(loaded.stack, service, 1, "salt", {})
    body, _ = convert.container_body(want[0].spec)
    return body


def test_post_start_hooks_run_after_the_start_of_a_recreated_container(tmp_path: Path) -> None:
    """Compose runs `post_start` after every start of a container (docs `how-tos/lifecycle`);
    a recreate started the new container without them."""
    text = (
        "name: hooks\nservices:\n  web:\n    image: busybox\n    environment: {V: '1'}\n"
        "    post_start:\n      - command: [touch, /tmp/started]\n"
    )
    engine = _engine()
    execute(_plan_for(load_text(text, working_dir=tmp_path), engine), engine)
    changed = load_text(text.replace("V: '1'", "V: '2'"), working_dir=tmp_path)
    [op] = [op for op in _plan_for(changed, engine).operations if op.service == "web"]
    kinds = [type(step).__name__ for step in op.steps]
    assert kinds[kinds.index("StartContainer") + 1] == "Exec"
    engine.execs.clear()
    assert execute(_plan_for(changed, engine), engine).ok
    assert engine.execs == [("hooks-web-1_stackup-new", ("touch", "/tmp/started"))]


def test_post_start_hooks_run_after_each_start_of_a_start_first_rollout(tmp_path: Path) -> None:
    text = (
        "name: sf\nservices:\n  w:\n    image: busybox\n    environment: {V: '1'}\n"
        "    deploy: {update_config: {order: start-first}}\n"
        "    post_start:\n      - command: [touch, /tmp/started]\n"
    )
    engine = _engine()
    execute(_plan_for(load_text(text, working_dir=tmp_path), engine), engine)
    changed = load_text(text.replace("V: '1'", "V: '2'"), working_dir=tmp_path)
    engine.execs.clear()
    assert execute(_plan_for(changed, engine), engine).ok
    assert engine.execs == [("sf-w-1_stackup-new", ("touch", "/tmp/started"))]
