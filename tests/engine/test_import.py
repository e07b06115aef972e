"""`stackup import container` reads a container made by `docker run` back as the same service
`stackup import run` reads from the line itself: for each line below, both give one service and
the two load as equal models. Each container is labelled with the test's project, so it is
removed by label at the end whatever happens."""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from stackup.engine.docker.engine import DockerEngine
from stackup.importing.dockerrun import parse_docker_run
from stackup.importing.fromcontainer import docker_run_args
from stackup.importing.writer import write_stack
from stackup.loading.loader import load_text
from tests.engine.helpers import free_port

SLEEP = "busybox:latest sleep 3600"

# `{p}`: a free host port; `{dir}`: the test's directory; `{net}`, `{vol}`: the test's own.
LINES = [
    "-p 127.0.0.1:{p}:80 nginx:stable",
    "-p 127.0.0.1:{p}:80 -v {dir}/site:/usr/share/nginx/html:ro nginx:stable",
    "-v {vol}:/data " + SLEEP,
    "-v /data " + SLEEP,
    "-e MODE=prod -e LEVEL=3 " + SLEEP,
    "--network {net} --network-alias db " + SLEEP,
    "--network none " + SLEEP,
    "--restart unless-stopped " + SLEEP,
    "--restart on-failure:3 " + SLEEP,
    "--health-cmd 'true' --health-interval 5s --health-retries 2 " + SLEEP,
    "--tmpfs /run --read-only " + SLEEP,
    "--cap-drop ALL --cap-add NET_BIND_SERVICE --security-opt no-new-privileges " + SLEEP,
    "-m 64m --cpus 0.5 --pids-limit 50 " + SLEEP,
    "-u 1000:1000 -w /tmp " + SLEEP,
    "--entrypoint /bin/sh busybox:latest -c 'sleep 3600'",
    "--label team=web --label tier=front " + SLEEP,
    "--add-host db.local:10.9.8.7 --dns 127.0.0.53 -h box --init " + SLEEP,
    "--ulimit nofile=1024:2048 --shm-size 32m --stop-signal SIGTERM --stop-timeout 7 " + SLEEP,
    "--expose 9000 " + SLEEP,  # (--privileged: refused by this sandbox's runtime; unit-tested)
    "-it " + SLEEP,
]


@pytest.mark.engine
def test_each_line_imported_two_ways_then_adopted_runs_as_before(
    docker_client: docker.DockerClient, project_name: str, tmp_path: Path
) -> None:
    """For every line: `import container` equals `import run`; then one stack of all of them,
    `up --adopt --yes`, and each managed container runs with the configuration the
    `docker run` one had (networks aside: the default bridge becomes the project network,
    as in Compose)."""
    from tests.engine.helpers import stackup

    (tmp_path / "site").mkdir()
    net, vol = f"{project_name}_net", f"{project_name}_vol"
    labels = {"io.stackup.project": project_name}
    docker_client.networks.create(net, labels=labels)
    docker_client.volumes.create(vol, labels=labels)
    engine = DockerEngine.from_env()
    imports, before = [], {}
    try:
        for i, template in enumerate(LINES):
            line = template.format(p=free_port(), dir=tmp_path, net=net, vol=vol)
            name = f"{project_name}-c{i}"
            # Not stackup's project label: `--adopt` takes only containers stackup did not make.
            args = ["--name", name, "--label", f"{RUN_LABEL}={project_name}", *shlex.split(line)]
            subprocess.run(
                ["docker", "run", "-d", *args], check=True, capture_output=True, timeout=120
            )
            from_line = parse_docker_run(args)
            raw = engine.inspect_raw(name)
            image = engine.inspect_image_raw(str(raw["Image"]))
            from_engine = parse_docker_run(docker_run_args(raw, image))
            assert _service(from_engine, tmp_path) == _service(from_line, tmp_path), (
                line,
                docker_run_args(raw, image),
            )
            imports.append(from_engine)
            before[name] = raw
        assert len(imports) == len(LINES) >= 15
        work = tmp_path / "stack"
        work.mkdir()
        (work / "stack.yaml").write_text(write_stack(imports, str(work)).stack)
        stackup("-p", project_name, "up", "--adopt", "--yes", cwd=work, timeout=600)
        for name, old in before.items():
            now = engine.inspect_raw(name)
            assert now["Id"] != old["Id"]
            assert now["Config"]["Labels"]["io.stackup.project"] == project_name
            assert _effective(now) == _effective(old), name
        assert "No changes" in stackup("-p", project_name, "diff", cwd=work).stdout
    finally:
        for c in docker_client.containers.list(
            all=True, filters={"label": f"{RUN_LABEL}={project_name}"}
        ):
            if "io.stackup.project" not in c.labels:  # not adopted: ours to remove
                c.remove(force=True, v=True)


RUN_LABEL = "test.stackup.docker-run"


def _effective(raw: dict) -> dict:  # type: ignore[type-arg]
    """What a container runs with, as the engine reports it, stackup's own labels aside."""
    config, host = raw["Config"], raw["HostConfig"]
    short_id = raw["Id"][:12]
    health = {k: v for k, v in (config.get("Healthcheck") or {}).items() if v}
    mounts = sorted(
        (m["Type"], m.get("Name") or m.get("Source"), m["Destination"], m["RW"])
        for m in raw["Mounts"]
    )
    mode = host.get("NetworkMode")
    # docker run's default bridge is the project's default network once adopted, as in Compose.
    default_network = mode in ("default", "bridge") or str(mode).endswith("_default")
    networks = raw["NetworkSettings"]["Networks"]
    aliases = sorted(
        a
        for a in (networks.get(mode) or {}).get("Aliases") or []
        if a not in (short_id, raw["Name"].lstrip("/"))
    )
    return {
        "image": config["Image"],
        "cmd": config.get("Cmd"),
        "entrypoint": config.get("Entrypoint"),
        "env": sorted(config.get("Env") or []),
        "user": config.get("User"),
        "workdir": config.get("WorkingDir"),
        "labels": {
            k: v for k, v in (config.get("Labels") or {}).items() if not k.startswith("io.stackup.")
        },
        "hostname": None if config.get("Hostname") == short_id else config.get("Hostname"),
        "health": health,
        "stop_signal": config.get("StopSignal"),
        "stop_timeout": config.get("StopTimeout") or 10,
        "exposed": sorted(config.get("ExposedPorts") or {}),
        "tty": bool(config.get("Tty")),
        "stdin": bool(config.get("OpenStdin")),
        "ports": host.get("PortBindings") or {},
        "mounts": mounts,
        "tmpfs": host.get("Tmpfs") or {},
        "restart": (
            host["RestartPolicy"]["Name"] or "no",
            host["RestartPolicy"]["MaximumRetryCount"],
        ),
        **{
            key: host.get(key) or None
            for key in (
                "Memory",
                "NanoCpus",
                "PidsLimit",
                "SecurityOpt",
                "ReadonlyRootfs",
                "ExtraHosts",
                "Dns",
                "Ulimits",
                "ShmSize",
                "Init",
                "Privileged",
            )
        },
        # The engine takes NET_ADMIN and CAP_NET_ADMIN alike and keeps what it was sent.
        "caps": [
            sorted(c.removeprefix("CAP_") for c in host.get(key) or [])
            for key in ("CapAdd", "CapDrop")
        ],
        "network": None if default_network else mode,
        "aliases": [] if default_network else aliases,
    }


def _service(imported, base: Path):  # type: ignore[no-untyped-def]
    written = write_stack([imported], str(base))
    loaded = load_text(written.stack, working_dir=str(base), environ={}, project_name="imp")
    return loaded.stack.services[imported.name]


@pytest.mark.engine
def test_import_container_command_writes_a_stack_that_loads(
    docker_client: docker.DockerClient, project_name: str, tmp_path: Path
) -> None:
    name = f"{project_name}-web"
    docker_client.containers.run(
        "busybox:latest",
        ["sleep", "3600"],
        name=name,
        detach=True,
        environment={"API_TOKEN": "t0k3n", "MODE": "dev"},
        labels={"io.stackup.project": project_name},
    )
    out = subprocess.run(
        [sys.executable, "-m", "stackup", "import", "container", "-o", "stack.yaml", name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "stack.yaml").read_text()
    assert "t0k3n" not in text and "API_TOKEN: ${API_TOKEN}" in text
    assert "PATH=" not in text  # the image's own environment is left out
    assert (tmp_path / ".env").read_text() == "API_TOKEN='t0k3n'\n"
    config = subprocess.run(
        [sys.executable, "-m", "stackup", "config", "-q"],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
    )
    assert config.returncode == 0, config.stderr


@pytest.mark.engine
def test_up_adopt_replaces_the_docker_run_container_and_keeps_its_data(
    docker_client: docker.DockerClient, project_name: str, tmp_path: Path
) -> None:
    from tests.engine.helpers import http_get, stackup

    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>adopted</p>\n")
    name, vol, port = f"{project_name}-web", f"{project_name}_data", free_port()
    docker_client.volumes.create(vol, labels={"io.stackup.project": project_name})
    line = (
        f"-d --name {name} -p 127.0.0.1:{port}:80 -v {site}:/usr/share/nginx/html:ro "
        f"-v {vol}:/data -v /cache nginx:stable"
    )
    subprocess.run(
        ["docker", "run", *shlex.split(line)], check=True, capture_output=True, timeout=120
    )
    try:
        old = docker_client.containers.get(name)
        old.exec_run(["sh", "-c", "echo kept > /data/named && echo kept > /cache/anonymous"])
        work = tmp_path / "stack"
        work.mkdir()
        imported = stackup("import", "container", "-o", "stack.yaml", name, cwd=work)
        assert imported.returncode == 0, imported.stderr
        plain = stackup("-p", project_name, "up", cwd=work, check=False)
        assert plain.returncode == 1 and "`stackup up --adopt` replaces it" in plain.stderr
        dry = stackup("-p", project_name, "up", "--adopt", "--dry-run", cwd=work)
        assert f"adopting {name}" in dry.stdout
        refused = stackup("-p", project_name, "up", "--adopt", cwd=work, check=False)
        assert refused.returncode == 1 and "--adopt --yes" in refused.stderr
        assert docker_client.containers.get(name).id == old.id  # nothing was touched
        stackup("-p", project_name, "up", "--adopt", "--yes", cwd=work)
        now = docker_client.containers.get(name)
        assert now.id != old.id and now.labels.get("io.stackup.project") == project_name
        assert "<p>adopted</p>" in http_get(f"http://127.0.0.1:{port}/").body
        for path in ("/data/named", "/cache/anonymous"):
            code, out = now.exec_run(["cat", path])
            assert (code, out.decode().strip()) == (0, "kept"), path
        assert "No changes" in stackup("-p", project_name, "diff", cwd=work).stdout
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            leftover = docker_client.containers.get(name)
            if "io.stackup.project" not in leftover.labels:
                leftover.remove(force=True, v=True)
