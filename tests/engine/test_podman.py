"""The same stack files and the same plans on Podman's Docker-compatible API (Debian 12's
podman 4.3, as root; scripts/setup-podman.sh): the seed's nginx stack served from Podman with
no spurious changes after, health conditions and `up --wait` (stackup runs the checks Podman
does not), a memory limit change recreated with the reason, named volumes, a config reload,
`down` leaving nothing and dockerd untouched.

Opt-in outside CI (`STACKUP_PODMAN_TESTS=1`, the `podman` fixture); every resource in Podman
is removed by its project label at the end, pass or fail (`podman_project`).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import textwrap
from pathlib import Path

import docker
import docker.errors

from tests.engine.conftest import Podman
from tests.engine.helpers import PROJECT_LABEL, ROOT, StackDir, free_port, http_get, stackup
from tests.engine.watchproc import NGINX_CONF, server_conf, wait_header

MIB = 1 << 20


def _labelled(client: docker.DockerClient, project: str) -> list[str]:
    """Every container, network and volume of `project` on the engine of `client`."""
    flt = {"label": f"{PROJECT_LABEL}={project}"}
    return sorted(
        [f"container {c.name}" for c in client.containers.list(all=True, filters=flt)]
        + [f"network {n.name}" for n in client.networks.list(filters=flt)]
        + [f"volume {v.name}" for v in client.volumes.list(filters=flt)]
    )


def _seed_stack(d: StackDir, project: str, port: int) -> None:
    """The repository's own stack.yaml (the seed's nginx stack), with its site and config
    copied beside it, under the test's project name and port."""
    shutil.copytree(ROOT / "examples" / "site", d.path / "examples" / "site")
    shutil.copytree(ROOT / "examples" / "nginx", d.path / "examples" / "nginx")
    text = (ROOT / "stack.yaml").read_text()
    text = text.replace("name: stackup-demo", f"name: {project}")
    text = text.replace('"127.0.0.1:8080:80"', f'"127.0.0.1:{port}:80"')
    d.write(text)


def test_the_seed_stack_is_served_from_podman_and_nothing_drifts(
    podman: Podman,
    podman_project: str,
    docker_client: docker.DockerClient,
    tmp_stack_dir: StackDir,
) -> None:
    d, port = tmp_stack_dir, free_port()
    _seed_stack(d, podman_project, port)
    # A container of the same project in dockerd: Podman's `up` and `down` never touch it.
    bystander = docker_client.containers.run(
        "busybox:latest",
        ["sleep", "3600"],
        name=f"{podman_project}-dockerd-bystander",
        labels={PROJECT_LABEL: podman_project},
        detach=True,
    )

    version = stackup("--version", cwd=d.path, env=podman.env).stdout
    assert "engine: Podman 4." in version and podman.host in version

    stackup("up", cwd=d.path, env=podman.env)
    page = http_get(f"http://127.0.0.1:{port}/")
    assert page.status == 200 and "stackup demo" in page.body
    assert page.headers.get("X-Served-By") == "stackup-demo"
    name = f"{podman_project}-web-1"
    assert _labelled(podman.client, podman_project) == [
        f"container {name}",
        f"network {podman_project}_default",
    ]
    # The raw list (no inspect of each: other people's containers come and go on dockerd).
    in_dockerd = docker_client.api.containers(
        all=True, filters={"label": f"{PROJECT_LABEL}={podman_project}"}
    )
    assert [c["Names"] for c in in_dockerd] == [[f"/{podman_project}-dockerd-bystander"]]

    # Podman's inspect shapes (PidsLimit 2048, ShmSize, Ulimits, RestartPolicy "", …) are
    # no changes: the plan is empty right after `up`.
    diff = stackup("diff", "--exit-code", cwd=d.path, env=podman.env, check=False)
    assert diff.returncode == 0, diff.stdout + diff.stderr

    stackup("down", cwd=d.path, env=podman.env)
    assert _labelled(podman.client, podman_project) == []
    bystander.reload()
    assert bystander.status == "running"


HEALTH_CHAIN = """
name: {project}
services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "sleep 3; touch /tmp/ready; exec sleep 3600"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/{ready}"]
      interval: 1s
      retries: 3
      start_period: 10s
  app:
    image: busybox:latest
    command: ["sleep", "3600"]
    depends_on:
      db: {{condition: service_healthy}}
  web:
    image: busybox:latest
    command: ["sleep", "3600"]
    depends_on: [app]
"""


def _ps(d: StackDir, podman: Podman) -> dict[str, dict[str, object]]:
    out = stackup("ps", "--all", "--format", "json", cwd=d.path, env=podman.env).stdout
    return {str(row["service"]): row for row in json.loads(out)}


def test_service_healthy_and_up_wait_hold_on_podman(
    podman: Podman, podman_project: str, tmp_stack_dir: StackDir
) -> None:
    """Podman runs no health checks without systemd (`State.Health` stays `starting`);
    stackup runs them while it waits, so the chain starts in order and `--wait` returns once
    db is healthy."""
    d = tmp_stack_dir
    d.write(HEALTH_CHAIN.format(project=podman_project, ready="ready"))
    stackup("up", "--wait", "--wait-timeout", "60", cwd=d.path, env=podman.env)
    rows = _ps(d, podman)
    # Podman's health is as fresh as stackup's last run of the check: `ps` says how old.
    health = str(rows["db"]["health"])
    assert health.startswith("healthy, checked ") and health.endswith(" ago"), health
    assert {s: rows[s]["state"] for s in rows} == {
        "db": "running",
        "app": "running",
        "web": "running",
    }
    db = podman.client.api.inspect_container(f"{podman_project}-db-1")
    app = podman.client.api.inspect_container(f"{podman_project}-app-1")
    # app started only after db's check first passed (Podman's record of it).
    passed = [entry for entry in db["State"]["Health"]["Log"] if entry["ExitCode"] == 0]
    assert passed and app["State"]["StartedAt"] > passed[0]["Start"]


def test_a_db_never_healthy_fails_up_wait_naming_it_and_app_never_starts(
    podman: Podman, podman_project: str, tmp_stack_dir: StackDir
) -> None:
    d = tmp_stack_dir
    d.write(
        HEALTH_CHAIN.format(project=podman_project, ready="never").replace(
            "start_period: 10s", "start_period: 0s"
        )
    )
    up = stackup("up", "--wait", "--wait-timeout", "60", cwd=d.path, env=podman.env, check=False)
    assert up.returncode == 1, up.stdout + up.stderr
    assert "db is unhealthy" in up.stdout + up.stderr
    rows = _ps(d, podman)
    assert str(rows["db"]["health"]).startswith("unhealthy, checked "), rows["db"]
    mine = podman.client.containers.list(
        all=True, filters={"label": f"{PROJECT_LABEL}={podman_project}"}
    )
    app = [c for c in mine if c.name == f"{podman_project}-app-1"]
    # Never started: either not created, or created and never run.
    assert all(c.attrs["State"]["StartedAt"].startswith("0001-01-01") for c in app), [
        c.attrs["State"] for c in app
    ]


MEMORY = """
name: {project}
services:
  app:
    image: busybox:latest
    command: ["sleep", "3600"]
    mem_limit: {mem}
"""


def test_a_mem_limit_change_recreates_with_the_reason(
    podman: Podman, podman_project: str, tmp_stack_dir: StackDir
) -> None:
    d = tmp_stack_dir
    d.write(MEMORY.format(project=podman_project, mem="64m"))
    stackup("up", cwd=d.path, env=podman.env)
    name = f"{podman_project}-app-1"
    before = podman.client.api.inspect_container(name)["Id"]

    d.write(MEMORY.format(project=podman_project, mem="96m"))
    diff = stackup("diff", "--exit-code", cwd=d.path, env=podman.env, check=False)
    assert diff.returncode == 2, diff.stdout + diff.stderr
    assert (
        f"-/+ container {name}  (changed: mem_limit; Podman 4.3 cannot update a running "
        "container; recreating)"
    ) in diff.stdout
    assert f"mem_limit: {64 * MIB} → {96 * MIB}" in diff.stdout

    stackup("up", cwd=d.path, env=podman.env)
    after = podman.client.api.inspect_container(name)
    assert after["Id"] != before
    assert after["HostConfig"]["Memory"] == 96 * MIB
    clean = stackup("diff", "--exit-code", cwd=d.path, env=podman.env, check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr


VOLUME = """
name: {project}
services:
  app:
    image: busybox:latest
    command: ["sh", "-c", "[ -f /data/first ] || date +%s%N > /data/first; exec sleep 3600"]
    environment:
      GENERATION: "{generation}"
    volumes: ["data:/data"]
volumes:
  data: {{}}
"""


def test_a_named_volume_survives_recreate_and_down_and_goes_with_down_v(
    podman: Podman, podman_project: str, tmp_stack_dir: StackDir
) -> None:
    d = tmp_stack_dir
    volume = f"{podman_project}_data"

    def first_line() -> str:
        out = stackup("exec", "app", "cat", "/data/first", cwd=d.path, env=podman.env)
        return out.stdout.strip()

    d.write(VOLUME.format(project=podman_project, generation="1"))
    stackup("up", cwd=d.path, env=podman.env)
    written = first_line()
    assert written

    d.write(VOLUME.format(project=podman_project, generation="2"))  # recreates
    assert "-/+ container" in stackup("up", cwd=d.path, env=podman.env).stdout
    assert first_line() == written

    stackup("down", cwd=d.path, env=podman.env)
    assert _labelled(podman.client, podman_project) == [f"volume {volume}"]
    stackup("up", cwd=d.path, env=podman.env)
    assert first_line() == written

    stackup("down", "-v", cwd=d.path, env=podman.env)
    assert _labelled(podman.client, podman_project) == []


def test_a_bind_mounted_nginx_config_edit_is_validated_and_reloaded(
    podman: Podman, podman_project: str, tmp_stack_dir: StackDir, tmp_path: Path
) -> None:
    d, port = tmp_stack_dir, free_port()
    (d.path / "site").mkdir()
    d.write("<html><body>hi</body></html>\n", "site/index.html")
    d.write(NGINX_CONF, "nginx/nginx.conf")
    d.write(server_conf("one"), "nginx/default.conf")
    d.write(
        textwrap.dedent(
            f"""
            name: {podman_project}
            services:
              web:
                image: nginx:stable
                ports: ["127.0.0.1:{port}:80"]
                volumes:
                  - ./site:/usr/share/nginx/html:ro
                  - ./nginx/nginx.conf:/etc/nginx/nginx.conf:ro
                  - ./nginx/default.conf:/etc/nginx/conf.d/default.conf:ro
            """
        )
    )
    env = {**podman.env, "XDG_STATE_HOME": str(tmp_path / "state")}
    url = f"http://127.0.0.1:{port}/"
    stackup("up", cwd=d.path, env=env)
    assert http_get(url).headers.get("X-Version") == "one"
    name = f"{podman_project}-web-1"
    before = podman.client.api.inspect_container(name)["Id"]
    conf = d.path / "nginx/default.conf"

    with conf.open("r+") as f:  # a broken edit, in place: refused, the old config serves
        f.truncate(0)
        f.write(server_conf("two", broken=True))
    broken = stackup("up", cwd=d.path, env=env, check=False)
    assert broken.returncode == 1
    assert "nginx/default.conf:4:" in broken.stderr
    assert http_get(url).headers.get("X-Version") == "one"

    with conf.open("r+") as f:  # fixed: validated, reloaded in the same container
        f.truncate(0)
        f.write(server_conf("two"))
    up = stackup("up", cwd=d.path, env=env)
    assert f"↻ container {name}" in up.stdout
    wait_header(url, "X-Version", "two")
    assert podman.client.api.inspect_container(name)["Id"] == before
    assert "No changes" in stackup("diff", cwd=d.path, env=env).stdout


BUILD = """
name: {project}
services:
  app:
    image: {image}
    build: ./app
  other:
    image: {image}
    command: ["sleep", "3600"]
"""


def test_build_on_podman_makes_one_image_both_services_run(
    podman: Podman, podman_project: str, tmp_stack_dir: StackDir
) -> None:
    """`build:` through Podman's compat build, the image a service builds shared with the
    service that only names it (built once, never pulled), and no change after."""
    d = tmp_stack_dir
    image = f"local/{podman_project}:dev"
    d.write(
        'FROM busybox:latest\nRUN echo built > /built.txt\nCMD ["sleep", "3600"]\n',
        "app/Dockerfile",
    )
    d.write(BUILD.format(project=podman_project, image=image))
    try:
        up = stackup("up", cwd=d.path, env=podman.env)
        assert up.stdout.count(f"⚒ image {image}") == 1, up.stdout
        for service in ("app", "other"):
            out = stackup("exec", service, "cat", "/built.txt", cwd=d.path, env=podman.env)
            assert out.stdout.strip() == "built"
        clean = stackup("diff", "--exit-code", cwd=d.path, env=podman.env, check=False)
        assert clean.returncode == 0, clean.stdout + clean.stderr
    finally:
        stackup("down", cwd=d.path, env=podman.env, check=False)
        for name in (image, f"docker.io/{image}", f"localhost/{image}"):
            with contextlib.suppress(docker.errors.APIError):
                podman.client.images.remove(name, force=True)


def test_import_container_writes_what_the_podman_container_was_given(
    podman: Podman, podman_project: str, tmp_stack_dir: StackDir
) -> None:
    """Podman's inspect adds defaults Docker's does not (pids limit, shm size, environment,
    stop timeout, working directory, `localhost/` image names): none of them is written."""
    name = f"{podman_project}-imported"
    podman.client.containers.run(
        "nginx:1.27",
        name=name,
        environment={"FOO": "bar"},
        mem_limit="64m",
        labels={PROJECT_LABEL: podman_project},
        detach=True,
    )
    out = stackup("import", "container", name, cwd=tmp_stack_dir.path, env=podman.env).stdout
    assert "image: nginx:1.27" in out
    assert "FOO: bar" in out and "mem_limit:" in out
    for podman_default in (
        "container: podman",
        "HOSTNAME",
        "TERM",
        "pids_limit",
        "shm_size",
        "stop_grace_period",
        "working_dir",
        "stop_signal",
        "runtime",
        "pid:",
    ):
        assert podman_default not in out, out


def test_a_container_stops_gracefully_as_on_docker(
    podman: Podman, podman_project: str, tmp_stack_dir: StackDir
) -> None:
    """Podman stores a stop timeout of 0 for a container created without one and kills it at
    once; stackup gives it Docker's 10 s, so a process that handles SIGTERM exits cleanly."""
    d = tmp_stack_dir
    d.write(
        textwrap.dedent(
            f"""
            name: {podman_project}
            services:
              app:
                image: busybox:latest
                command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]
            """
        )
    )
    stackup("up", cwd=d.path, env=podman.env)
    stackup("stop", cwd=d.path, env=podman.env)
    state = podman.client.api.inspect_container(f"{podman_project}-app-1")["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 0)
    # The stop timeout stackup gave it is not a change of the spec: only a start is planned.
    diff = stackup("diff", cwd=d.path, env=podman.env).stdout
    assert "0 to recreate" in diff and "1 to start" in diff, diff


def test_a_local_image_named_without_registry_is_found_never_pulled(
    podman: Podman, podman_project: str, tmp_stack_dir: StackDir
) -> None:
    """Images loaded or built with podman are `localhost/NAME:TAG`; the compat API looks for
    `local/app:dev` at docker.io. `image: local/app:dev` finds the local one."""
    d = tmp_stack_dir
    repository = f"localhost/local/{podman_project}"
    podman.client.api.tag("busybox:latest", repository, "dev")
    try:
        d.write(
            MEMORY.format(project=podman_project, mem="64m").replace(
                "busybox:latest", f"local/{podman_project}:dev"
            )
        )
        diff = stackup("diff", cwd=d.path, env=podman.env).stdout
        assert "↓ image" not in diff and "to pull" not in diff, diff
        stackup("up", cwd=d.path, env=podman.env)
        running = podman.client.api.inspect_container(f"{podman_project}-app-1")
        assert running["State"]["Running"]
        assert running["Image"] == podman.client.api.inspect_image("busybox:latest")["Id"]
        clean = stackup("diff", "--exit-code", cwd=d.path, env=podman.env, check=False)
        assert clean.returncode == 0, clean.stdout + clean.stderr
    finally:
        stackup("down", cwd=d.path, env=podman.env, check=False)
        with contextlib.suppress(docker.errors.APIError):
            podman.client.images.remove(f"{repository}:dev")
