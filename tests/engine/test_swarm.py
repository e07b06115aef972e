"""The swarm target on a real single-node swarm (issue 7).

The `swarm` fixture initialises a swarm only when the engine is in none, and leaves it at the
end only then. Every test's services, networks, configs and secrets carry its project label;
`swarm_project` removes the services first and waits for their tasks, so the networks can go,
then the `project_name` fixture removes the rest (volumes included).

On this kernel the ingress routing mesh (IPVS) does not answer: nginx publishes its port in
host mode and reaches the app by DNS round robin (`endpoint_mode: dnsrr`); see docs/swarm.md.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import secrets
import threading
from collections.abc import Iterator

import docker
import docker.errors
import pytest

from tests.engine.helpers import StackDir, free_port, http_get, stackup, wait_for

PROJECT_LABEL = "io.stackup.project"
NGINX_CONF = """\
server {
    listen 80;
    resolver 127.0.0.11 valid=1s ipv6=off;
    location = /healthz { return 200 "ok\\n"; }
    location / {
        set $app http://app:8080;
        proxy_pass $app;
        proxy_next_upstream error timeout http_502 http_503;
        proxy_connect_timeout 2s;
    }
}
"""


@pytest.fixture(scope="session")
def swarm(docker_client: docker.DockerClient) -> Iterator[None]:
    state = (docker_client.info().get("Swarm") or {}).get("LocalNodeState")
    initialised = False
    had_gwbridge = bool(docker_client.networks.list(names=["docker_gwbridge"]))
    if state != "active":
        docker_client.swarm.init(advertise_addr="127.0.0.1")
        initialised = True
    try:
        yield
    finally:
        if initialised:
            docker_client.swarm.leave(force=True)
            # `swarm init` creates docker_gwbridge and `leave` keeps it: leave the engine as found.
            if not had_gwbridge:
                for network in docker_client.networks.list(names=["docker_gwbridge"]):
                    with contextlib.suppress(docker.errors.APIError):
                        network.remove()


@pytest.fixture
def swarm_project(
    project_name: str, swarm: None, docker_client: docker.DockerClient
) -> Iterator[str]:
    yield project_name
    label = {"label": f"{PROJECT_LABEL}={project_name}"}
    names = [s.name for s in docker_client.services.list(filters=label)]
    for service in docker_client.services.list(filters=label):
        with contextlib.suppress(docker.errors.NotFound):
            service.remove()

    def tasks_gone() -> bool:
        return not any(
            # sparse: no inspect per container, which races with Swarm removing them
            docker_client.containers.list(
                all=True,
                sparse=True,
                filters={"label": f"com.docker.swarm.service.name={name}"},
            )
            for name in names
        )

    wait_for(tasks_gone, timeout=120, interval=0.5, what="the test's swarm tasks to stop")


@pytest.fixture(scope="session")
def app_images(
    docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """Two local images of a busybox httpd app that say "app v1" and "app v2"."""
    repo = f"sut-swarm-app-{secrets.token_hex(3)}"
    tags = []
    for version in ("v1", "v2"):
        context = tmp_path_factory.mktemp(f"app-{version}")
        (context / "Dockerfile").write_text(
            "FROM busybox:latest\nCOPY index.html /www/index.html\n", encoding="utf-8"
        )
        (context / "index.html").write_text(f"app {version}\n", encoding="utf-8")
        docker_client.images.build(path=str(context), tag=f"{repo}:{version}", rm=True)
        tags.append(f"{repo}:{version}")
    yield tags[0], tags[1]
    for image in docker_client.images.list():
        for tag in image.tags:
            if repo in tag or tag.endswith("/nginx:stable"):
                with contextlib.suppress(docker.errors.APIError):
                    docker_client.images.remove(tag)


def _stack(
    project: str,
    registry: str,
    image: str,
    port: int,
    *,
    app_port: int = 8080,
    extra_app: str = "",
    extra: str = "",
) -> str:
    return f"""\
name: {project}
x-stackup:
  target: swarm
  registry: {registry}
services:
  web:
    image: nginx:stable
    ports:
      - {{target: 80, published: {port}, mode: host}}
    configs:
      - source: nginx_conf
        target: /etc/nginx/conf.d/default.conf
    deploy:
      update_config: {{order: stop-first}}
  app:
    image: {image}
    command: [httpd, -f, -p, "{app_port}", -h, /www]
    healthcheck:
      test: [CMD, wget, -q, -O, /dev/null, "http://127.0.0.1:8080/"]
      interval: 1s
      retries: 2
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
      update_config:
        order: start-first
        parallelism: 1
        failure_action: rollback
        monitor: 3s
      rollback_config: {{order: start-first, parallelism: 1}}
{extra_app}configs:
  nginx_conf:
    file: ./default.conf
{extra}"""


def _deploy(stack_dir: StackDir, text: str) -> None:
    stack_dir.write(NGINX_CONF, "default.conf")
    stack_dir.stack(text)
    stackup("up", "--progress", "plain", cwd=stack_dir, timeout=300)


def _diff_code(stack_dir: StackDir) -> tuple[int, str]:
    proc = stackup("diff", "--exit-code", cwd=stack_dir, check=False)
    assert proc.returncode in (0, 2), proc.stderr
    return proc.returncode, proc.stdout


def test_deploy_serves_through_nginx_then_scale_is_drift_then_rolling_update_drops_nothing(
    swarm_project: str,
    registry: str,
    app_images: tuple[str, str],
    tmp_stack_dir: StackDir,
    docker_client: docker.DockerClient,
) -> None:
    v1, v2 = app_images
    port = free_port()
    _deploy(tmp_stack_dir, _stack(swarm_project, registry, v1, port))

    # the page, through nginx, from the app's tasks on the overlay network
    assert http_get(f"http://127.0.0.1:{port}/", retry_for=30).body == "app v1\n"
    # the images were pushed to the registry and the tasks run them from there, pinned
    app = docker_client.services.get(f"{swarm_project}_app")
    image = app.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    assert image.startswith(f"{registry}/{v1}@sha256:")
    assert _diff_code(tmp_stack_dir)[0] == 0

    # scaled outside stackup: drift
    app.scale(3)
    code, out = _diff_code(tmp_stack_dir)
    assert code == 2
    assert (
        f"~ service {swarm_project}_app  (replicas scaled outside stackup: 3, the file says 2)"
        in out
    )
    assert "deploy.replicas: 3 → 2" in out
    stackup("up", "--progress", "plain", cwd=tmp_stack_dir, timeout=300)
    assert _diff_code(tmp_stack_dir)[0] == 0

    # a new image tag: a start-first rolling update while a client keeps asking
    tmp_stack_dir.stack(_stack(swarm_project, registry, v2, port))
    code, out = _diff_code(tmp_stack_dir)
    assert code == 2 and f'image: "{registry}/{v1}" → "{registry}/{v2}"' in out
    results: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:  # a new connection for every request
                conn.request("GET", "/", headers={"Connection": "close"})
                response = conn.getresponse()
                body = response.read().decode()
                if response.status != 200:
                    failures.append(f"{response.status}: {body[:80]}")
                else:
                    results.append(body.strip())
            except OSError as err:
                failures.append(repr(err))
            finally:
                conn.close()

    worker = threading.Thread(target=client, daemon=True)
    worker.start()
    try:
        proc = stackup("up", "--progress", "plain", cwd=tmp_stack_dir, timeout=300)
    finally:
        stop.set()
        worker.join(30)
    assert "rolling update: order start-first, on failure rollback, 1 at a time" in proc.stdout
    assert failures == []
    assert "app v1" in results and results[-1] == "app v2"
    assert set(results) == {"app v1", "app v2"}
    assert _diff_code(tmp_stack_dir)[0] == 0


def test_failing_health_check_rolls_back_and_up_exits_1_with_the_task_error(
    swarm_project: str,
    registry: str,
    app_images: tuple[str, str],
    tmp_stack_dir: StackDir,
    docker_client: docker.DockerClient,
) -> None:
    v1, _ = app_images
    port = free_port()
    _deploy(tmp_stack_dir, _stack(swarm_project, registry, v1, port))
    before = docker_client.services.get(f"{swarm_project}_app").attrs["Spec"]

    # the new tasks listen on another port: their health check fails
    tmp_stack_dir.stack(_stack(swarm_project, registry, v1, port, app_port=8081))
    proc = stackup("up", "--progress", "plain", cwd=tmp_stack_dir, check=False, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (
        f"error: {swarm_project}_app: service app: the update was rolled back: task " in proc.stderr
    )
    assert "unhealthy container" in proc.stderr
    app = docker_client.services.get(f"{swarm_project}_app")
    assert app.attrs["UpdateStatus"]["State"] == "rollback_completed"
    assert (
        app.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
        == before["TaskTemplate"]["ContainerSpec"]
    )
    assert http_get(f"http://127.0.0.1:{port}/", retry_for=30).body == "app v1\n"
    # the change is still pending
    code, out = _diff_code(tmp_stack_dir)
    assert code == 2 and 'command[3]: "8080" → "8081"' in out


def test_changed_config_and_secret_get_new_versions_and_the_old_are_removed(
    swarm_project: str,
    registry: str,
    app_images: tuple[str, str],
    tmp_stack_dir: StackDir,
    docker_client: docker.DockerClient,
) -> None:
    v1, _ = app_images
    port = free_port()
    first_secret = f"pw-{secrets.token_hex(6)}"
    second_secret = f"pw-{secrets.token_hex(6)}"
    secret_app = "    secrets: [db_password]\n"
    secret_def = "secrets:\n  db_password:\n    file: ./db_password.txt\n"
    text = _stack(swarm_project, registry, v1, port, extra=secret_def)
    text = text.replace(
        "    deploy:\n      replicas: 2", secret_app + "    deploy:\n      replicas: 2"
    )
    (tmp_stack_dir / "db_password.txt").write_text(first_secret, encoding="utf-8")
    outputs: list[str] = []
    tmp_stack_dir.write(NGINX_CONF, "default.conf")
    tmp_stack_dir.stack(text)
    outputs.append(_run(tmp_stack_dir, "up", "--progress", "plain"))
    label = {"label": f"{PROJECT_LABEL}={swarm_project}"}
    old_configs = {c.name for c in docker_client.configs.list(filters=label)}
    old_secrets = {s.name for s in docker_client.secrets.list(filters=label)}
    assert len(old_configs) == 1 and len(old_secrets) == 1

    # change both
    tmp_stack_dir.write(NGINX_CONF.replace('"ok\\n"', '"ok v2\\n"'), "default.conf")
    (tmp_stack_dir / "db_password.txt").write_text(second_secret, encoding="utf-8")
    diff = _run(tmp_stack_dir, "diff")
    outputs.append(diff)
    assert "config nginx_conf changed: new version (replaces " in diff
    assert "secret db_password changed: new version (replaces " in diff
    outputs.append(_run(tmp_stack_dir, "up", "--progress", "plain"))
    outputs.append(_run(tmp_stack_dir, "diff", "--format", "json"))
    outputs.append(_run(tmp_stack_dir, "ps"))

    new_configs = {c.name for c in docker_client.configs.list(filters=label)}
    new_secrets = {s.name for s in docker_client.secrets.list(filters=label)}
    assert len(new_configs) == 1 and new_configs.isdisjoint(old_configs)
    assert len(new_secrets) == 1 and new_secrets.isdisjoint(old_secrets)
    web = docker_client.services.get(f"{swarm_project}_web").attrs["Spec"]["TaskTemplate"]
    app = docker_client.services.get(f"{swarm_project}_app").attrs["Spec"]["TaskTemplate"]
    assert [c["ConfigName"] for c in web["ContainerSpec"]["Configs"]] == sorted(new_configs)
    assert [s["SecretName"] for s in app["ContainerSpec"]["Secrets"]] == sorted(new_secrets)
    assert http_get(f"http://127.0.0.1:{port}/healthz", retry_for=30).body == "ok v2\n"
    # the tasks read the new value ...
    container = docker_client.containers.list(
        sparse=True, filters={"label": f"com.docker.swarm.service.name={swarm_project}_app"}
    )[0]
    assert container.exec_run(["cat", "/run/secrets/db_password"]).output.decode() == second_secret

    # ... which never shows: not in any output, not in names, labels or inspect
    for secret in (first_secret, second_secret):
        for text_out in outputs:
            assert secret not in text_out
        for s in docker_client.secrets.list(filters=label):
            assert secret not in json.dumps(s.attrs)
        for service in docker_client.services.list(filters=label):
            assert secret not in json.dumps(service.attrs)
    ls = docker_client.api.secrets(filters=label)
    assert all(second_secret not in json.dumps(s) for s in ls)


def _run(stack_dir: StackDir, *args: str) -> str:
    proc = stackup(*args, cwd=stack_dir, timeout=300)
    return proc.stdout + proc.stderr


def test_privileged_and_build_warn_at_their_lines_and_a_forbidden_key_is_an_error(
    swarm_project: str, tmp_stack_dir: StackDir
) -> None:
    tmp_stack_dir.stack(
        f"""\
name: {swarm_project}
services:
  web:
    image: nginx:stable
    build: .
    privileged: true
"""
    )
    proc = stackup("--target", "swarm", "diff", cwd=tmp_stack_dir)
    assert "warning: stack.yaml:5:5: services.web.build: not supported by Swarm" in proc.stdout
    assert "warning: stack.yaml:6:5: services.web.privileged: not supported by Swarm" in proc.stdout
    assert f"+ service {swarm_project}_web  (new service)" in proc.stdout

    tmp_stack_dir.stack(
        f"""\
name: {swarm_project}
services:
  web:
    image: nginx:stable
    privileged: true
  helper:
    image: busybox:latest
    volumes_from: [web]
"""
    )
    for command in (("diff",), ("up",)):
        proc = stackup("--target", "swarm", *command, cwd=tmp_stack_dir, check=False)
        assert proc.returncode == 1
        assert (
            "error: stack.yaml:8:5: services.helper.volumes_from: not possible on Swarm"
            in proc.stdout
        )
        assert (
            "problem(s) in the stack file that Swarm cannot run; nothing was applied" in proc.stderr
        )


def test_down_removes_services_networks_configs_secrets_and_keeps_named_volumes(
    swarm_project: str,
    registry: str,
    app_images: tuple[str, str],
    tmp_stack_dir: StackDir,
    docker_client: docker.DockerClient,
) -> None:
    v1, _ = app_images
    port = free_port()
    extra_app = "    volumes: [data:/data]\n    secrets: [token]\n"
    extra = "volumes:\n  data:\nsecrets:\n  token:\n    content: t0ken\n"
    text = _stack(swarm_project, registry, v1, port, extra=extra)
    text = text.replace(
        "    deploy:\n      replicas: 2", extra_app + "    deploy:\n      replicas: 2"
    )
    _deploy(tmp_stack_dir, text)
    label = {"label": f"{PROJECT_LABEL}={swarm_project}"}
    assert len(docker_client.services.list(filters=label)) == 2
    assert (
        docker_client.volumes.get(f"{swarm_project}_data").attrs["Labels"][PROJECT_LABEL]
        == swarm_project
    )

    proc = stackup("down", cwd=tmp_stack_dir)
    assert "named volumes are kept" in proc.stdout
    assert docker_client.services.list(filters=label) == []
    assert docker_client.networks.list(filters=label) == []
    assert docker_client.configs.list(filters=label) == []
    assert docker_client.secrets.list(filters=label) == []
    assert docker_client.volumes.get(f"{swarm_project}_data").name == f"{swarm_project}_data"
    proc = stackup("down", cwd=tmp_stack_dir)
    assert f"nothing to do for project {swarm_project}" in proc.stdout


def test_ps_and_logs_show_tasks_and_service_output(
    swarm_project: str, tmp_stack_dir: StackDir, docker_client: docker.DockerClient
) -> None:
    tmp_stack_dir.stack(
        f"""\
name: {swarm_project}
x-stackup:
  target: swarm
services:
  talker:
    image: busybox:latest
    command: [sh, -c, "echo hello from the swarm; exec sleep 3600"]
    deploy:
      replicas: 2
"""
    )
    stackup("up", "--progress", "plain", cwd=tmp_stack_dir, timeout=300)
    rows = json.loads(stackup("ps", "--format", "json", cwd=tmp_stack_dir).stdout)
    assert sorted((r["service"], r["name"], r["state"]) for r in rows) == [
        ("talker", f"{swarm_project}_talker.1", "running"),
        ("talker", f"{swarm_project}_talker.2", "running"),
    ]

    def logged() -> str | None:
        out = stackup("logs", cwd=tmp_stack_dir).stdout
        return out if out.count("hello from the swarm") == 2 else None

    out = wait_for(logged, timeout=30, interval=0.5, what="both tasks' output")
    assert f"{swarm_project}_talker | hello from the swarm" in out


def test_observe_makes_five_requests_whatever_the_stack(
    swarm_project: str, swarm: None, tmp_stack_dir: StackDir
) -> None:
    from stackup.engine.docker.swarm import connect_swarm

    engine = connect_swarm()
    requests: list[str] = []
    real_get = engine.api.get

    def counting_get(url: str, *args: object, **kwargs: object) -> object:
        requests.append(url.rsplit("/", 1)[-1].split("?")[0])
        return real_get(url, *args, **kwargs)

    engine.api.get = counting_get  # type: ignore[method-assign,assignment]
    engine.observe_swarm(swarm_project)
    assert sorted(requests) == ["configs", "networks", "nodes", "secrets", "services"]
