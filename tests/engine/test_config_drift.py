"""`diff` and `up` see a bind-mounted nginx config edited without watch (stackup.planning.configstate):
an in-place edit is reloaded in the same container, a save by rename recreates it, and a
broken edit is refused at the host file and line while the old config keeps serving."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from tests.engine.helpers import StackDir, free_port, http_get, stackup
from tests.engine.watchproc import NGINX_CONF, server_conf, wait_header


def _stack(d: StackDir, project: str, port: int) -> None:
    (d.path / "site").mkdir()
    d.write("<html><body>hi</body></html>\n", "site/index.html")
    d.write(NGINX_CONF, "nginx/nginx.conf")
    d.write(server_conf("one"), "nginx/default.conf")
    d.write(
        f"""
        name: {project}
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


@pytest.fixture
def running(
    tmp_stack_dir: StackDir, project_name: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[StackDir, str, str, dict[str, str]]:
    port = free_port()
    _stack(tmp_stack_dir, project_name, port)
    # Reload records go to a state directory of this test's own.
    env = {"XDG_STATE_HOME": str(tmp_path_factory.mktemp("state"))}
    stackup("up", cwd=tmp_stack_dir.path, env=env)
    url = f"http://127.0.0.1:{port}/"
    assert http_get(url).headers.get("X-Version") == "one"
    return tmp_stack_dir, url, f"{project_name}-web-1", env


def test_in_place_edit_is_reloaded_in_the_same_container(
    running: tuple[StackDir, str, str, dict[str, str]], docker_client: docker.DockerClient
) -> None:
    d, url, name, env = running
    before = docker_client.containers.get(name).id
    conf = d.path / "nginx/default.conf"
    inode = conf.stat().st_ino
    with conf.open("r+") as f:  # in place: same inode
        f.truncate(0)
        f.write(server_conf("two"))
    assert conf.stat().st_ino == inode
    diff = stackup("diff", cwd=d.path, env=env)
    assert "↻ container " + name in diff.stdout
    assert "nginx/default.conf changed" in diff.stdout
    stackup("up", cwd=d.path, env=env)
    # A reload is a signal: nginx's master then starts new workers and lets the old ones
    # finish, so a request in the next milliseconds may still meet the old config.
    wait_header(url, "X-Version", "two")
    assert docker_client.containers.get(name).id == before
    assert "No changes" in stackup("diff", cwd=d.path, env=env).stdout


def _up_until_reload_done(d: StackDir, env: dict[str, str], name: str) -> subprocess.Popen[str]:
    """`stackup up --progress json`, read until it reports the reload of `name` done (the
    moment `up` says so, before the process has exited)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "stackup", "up", "--progress", "json"],
        cwd=d.path,
        env={**os.environ, "NO_COLOR": "1", **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        try:
            event = json.loads(line)
        except ValueError:
            continue  # the plan, shown before the events
        done = {"id": f"reload:{name}", "status": "done"}
        if isinstance(event, dict) and done.items() <= event.items():
            return proc
    proc.wait()
    raise AssertionError(f"up never reported the reload done:\n{''.join(seen)}")


def test_the_first_request_after_up_reports_the_reload_gets_the_new_config(
    running: tuple[StackDir, str, str, dict[str, str]], docker_client: docker.DockerClient
) -> None:
    """`up` reports a reload done only once nginx's new workers serve (seen in the
    container's process list): the very next request gets the new header, every time."""
    d, url, name, env = running
    before = docker_client.containers.get(name).id
    conf = d.path / "nginx/default.conf"
    for version in ("two", "three", "four", "five"):
        with conf.open("r+") as f:  # in place: same inode, a reload
            f.truncate(0)
            f.write(server_conf(version))
        proc = _up_until_reload_done(d, env, name)
        got = http_get(url, retry_for=0).headers.get("X-Version")
        assert proc.wait(timeout=60) == 0
        assert got == version
    assert docker_client.containers.get(name).id == before


def test_a_reload_never_seen_live_fails_naming_the_container(
    tmp_stack_dir: StackDir, project_name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A reload policy whose signal starts no new workers (USR1 only reopens nginx's logs):
    `up` waits for the new generation, then fails naming the container."""
    d, port = tmp_stack_dir, free_port()
    _stack(d, project_name, port)
    d.write(
        (d.path / "stack.yaml").read_text()
        + "    x-stackup:\n      reload: {validate: [nginx, -t], signal: USR1}\n",
        "stack.yaml",
    )
    env = {"XDG_STATE_HOME": str(tmp_path_factory.mktemp("state"))}
    stackup("up", cwd=d.path, env=env)
    with (d.path / "nginx/default.conf").open("r+") as f:
        f.truncate(0)
        f.write(server_conf("two"))
    up = stackup("up", "--progress", "plain", cwd=d.path, env=env, check=False)
    assert up.returncode == 1, up.stdout + up.stderr
    name = f"{project_name}-web-1"
    assert f"container {name} did not load its new config within 10s" in up.stdout + up.stderr


def test_broken_edit_is_refused_and_old_config_serves(
    running: tuple[StackDir, str, str, dict[str, str]],
) -> None:
    d, url, _, env = running
    conf = d.path / "nginx/default.conf"
    with conf.open("r+") as f:
        f.truncate(0)
        f.write(server_conf("two", broken=True))
    up = stackup("up", cwd=d.path, env=env, check=False)
    assert up.returncode == 1
    assert "nginx/default.conf:4:" in up.stderr
    assert http_get(url).headers.get("X-Version") == "one"


def test_sed_rename_recreates_the_container(
    running: tuple[StackDir, str, str, dict[str, str]], docker_client: docker.DockerClient
) -> None:
    d, url, name, env = running
    before = docker_client.containers.get(name).id
    conf = d.path / "nginx/default.conf"
    inode = conf.stat().st_ino
    subprocess.run(["sed", "-i", "s/X-Version one/X-Version three/", str(conf)], check=True)
    assert conf.stat().st_ino != inode
    diff = stackup("diff", cwd=d.path, env=env)
    assert "-/+ container " + name in diff.stdout
    assert "nginx/default.conf was saved by rename" in diff.stdout
    # One message says why, and the fix.
    fix = (
        "put it in a directory of its own and mount the directory (e.g. ./conf.d:/etc/nginx/conf.d)"
    )
    assert diff.stdout.count(fix) == 1, diff.stdout
    log = d.path / "calls.log"
    stackup("up", cwd=d.path, env={**env, "STACKUP_TEST_CALL_LOG": str(log)}, faulty=True)
    # The new container is created (after the throwaway check's own create, start and
    # remove) before the old one stops: the unavailability is a stop and a start, no more.
    calls = log.read_text().split()
    assert calls[-5:] == [
        "create_container",
        "stop_container",
        "start_container",
        "remove_container",
        "rename_container",
    ], calls
    assert http_get(url).headers.get("X-Version") == "three"
    assert docker_client.containers.get(name).id != before
    assert "No changes" in stackup("diff", cwd=d.path, env=env).stdout
    assert os.path.exists(conf)


def test_broken_rename_is_refused_before_the_container_is_touched(
    running: tuple[StackDir, str, str, dict[str, str]], docker_client: docker.DockerClient
) -> None:
    d, url, name, env = running
    before = docker_client.containers.get(name).id
    conf = d.path / "nginx/default.conf"
    subprocess.run(["sed", "-i", "s/add_header/add_headr/", str(conf)], check=True)
    diff = stackup("diff", cwd=d.path, env=env)
    assert "nginx -t checks it first, in a throwaway container" in diff.stdout
    up = stackup("up", cwd=d.path, env=env, check=False)
    assert up.returncode == 1, up.stdout + up.stderr
    assert "nginx/default.conf:4:" in up.stderr
    assert "/etc/nginx/conf.d/default.conf:4" not in up.stderr, "told once, at the host file"
    assert "the old config keeps serving" in up.stderr
    # The running container was never stopped: same ID, still running, still serving.
    c = docker_client.containers.get(name)
    assert c.id == before and c.status == "running"
    assert http_get(url).headers.get("X-Version") == "one"
    checks = docker_client.containers.list(all=True, filters={"label": "io.stackup.watch-check"})
    assert checks == []
    # Fixed (by rename again), up recreates and serves the new file.
    subprocess.run(
        ["sed", "-i", "s/add_headr X-Version one/add_header X-Version four/", str(conf)], check=True
    )
    stackup("up", cwd=d.path, env=env)
    assert http_get(url).headers.get("X-Version") == "four"
    assert docker_client.containers.get(name).id != before


def test_down_removes_the_projects_reload_records(
    running: tuple[StackDir, str, str, dict[str, str]], docker_client: docker.DockerClient
) -> None:
    d, _, name, env = running
    conf = d.path / "nginx/default.conf"
    with conf.open("r+") as f:  # in place: reloaded, and recorded
        f.truncate(0)
        f.write(server_conf("two"))
    stackup("up", cwd=d.path, env=env)
    project = name.removesuffix("-web-1")
    store = Path(env["XDG_STATE_HOME"]) / "stackup" / "applied" / project
    container_id = docker_client.containers.get(name).id
    assert [p.name for p in store.iterdir()] == [f"{container_id}.json"]
    stackup("down", cwd=d.path, env=env)
    assert not store.exists()
