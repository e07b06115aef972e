"""`stackup watch` against a real engine: nginx config edits (broken, fixed, atomic saves),
web roots, stack file edits and bursts. Every test runs watch as a subprocess."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import docker
import pytest

from tests.engine.helpers import StackDir, free_port, http_get, wait_for
from tests.engine.watchproc import (
    NGINX_CONF,
    WatchProcess,
    container,
    nginx_log,
    reload_attempts,
    server_conf,
    settle,
    wait_header,
)


def _write_nginx_stack(d: StackDir, project: str, port: int, mount: str) -> None:
    (d / "site").mkdir()
    d.write("<html><body><h1>first</h1></body></html>\n", "site/index.html")
    d.write(NGINX_CONF, "nginx/nginx.conf")
    d.write(server_conf("one"), "nginx/conf.d/default.conf")
    conf = (
        "./nginx/conf.d:/etc/nginx/conf.d:ro"
        if mount == "dir"
        else "./nginx/conf.d/default.conf:/etc/nginx/conf.d/default.conf:ro"
    )
    d.stack(
        f"""
        name: {project}
        services:
          web:
            image: nginx:stable
            ports: ["127.0.0.1:{port}:80"]
            volumes:
              - ./site:/usr/share/nginx/html:ro
              - ./nginx/nginx.conf:/etc/nginx/nginx.conf:ro
              - {conf}
        """
    )


@pytest.fixture
def watched(
    request: pytest.FixtureRequest, tmp_stack_dir: StackDir, project_name: str
) -> Iterator[tuple[WatchProcess, StackDir, str, str]]:
    port = free_port()
    mount = getattr(request, "param", "dir")
    _write_nginx_stack(tmp_stack_dir, project_name, port, mount)
    watch = WatchProcess(tmp_stack_dir.path)
    try:
        watch.wait_for(r"watching ")
        yield watch, tmp_stack_dir, f"http://127.0.0.1:{port}/", f"{project_name}-web-1"
    finally:
        watch.kill()


@pytest.mark.parametrize("watched", ["dir", "file"], indirect=True)
def test_broken_edit_sends_nothing_and_fixed_edit_reloads_in_place(
    watched: tuple[WatchProcess, StackDir, str, str], docker_client: docker.DockerClient
) -> None:
    watch, d, url, name = watched
    conf = d / "nginx/conf.d/default.conf"
    wait_header(url, "X-Version", "one")
    before = container(docker_client, name)

    conf.write_text(server_conf("two", broken=True), encoding="utf-8")  # in place
    out = watch.wait_for(r"validation failed.*\n(    .*\n)+")
    assert 'nginx/conf.d/default.conf:4: unknown directive "add_headr"' in out, out
    assert "nothing was sent" in out
    assert "sent HUP" not in watch.output
    assert reload_attempts(nginx_log(docker_client, name)) == []
    assert http_get(url).headers.get("X-Version") == "one"

    conf.write_text(server_conf("two"), encoding="utf-8")
    watch.wait_for(r"validate passed: nginx -t")
    watch.wait_for(r"sent HUP to " + re.escape(name))
    wait_header(url, "X-Version", "two")
    assert container(docker_client, name) == before  # same ID, never restarted
    assert len(reload_attempts(nginx_log(docker_client, name))) == 1  # nginx saw exactly one


@pytest.mark.parametrize("watched", ["file"], indirect=True)
def test_atomic_save_of_single_file_mount_recreates_after_validation(
    watched: tuple[WatchProcess, StackDir, str, str], docker_client: docker.DockerClient
) -> None:
    watch, d, url, name = watched
    conf = d / "nginx/conf.d/default.conf"
    tmp = d / "nginx/conf.d/.default.conf.tmp"
    wait_header(url, "X-Version", "one")
    first_id, _ = container(docker_client, name)

    tmp.write_text(server_conf("three"), encoding="utf-8")
    os.replace(tmp, conf)
    out = watch.wait_for(r"applied \d+ operation")
    assert "saved by rename" in out and "passed in a throwaway container" in out, out
    assert "-/+ container " + name in out
    assert out.count("put it in a directory of its own and mount the directory") == 1, out
    wait_header(url, "X-Version", "three")
    second_id, _ = container(docker_client, name)
    assert second_id != first_id

    tmp.write_text(server_conf("four", broken=True), encoding="utf-8")
    os.replace(tmp, conf)
    out = watch.wait_for(r"validation failed \(in a throwaway container\).*\n(    .*\n)+")
    assert "nginx/conf.d/default.conf:4: unknown directive" in out, out
    assert out.count("unknown directive") == 1, out  # nginx's error, told once
    assert container(docker_client, name)[0] == second_id  # the old container keeps serving
    assert http_get(url).headers.get("X-Version") == "three"
    leftovers = docker_client.containers.list(all=True, filters={"label": "io.stackup.watch-check"})
    assert not [c.name for c in leftovers if c.name.startswith(name)]


def test_web_root_edit_is_served(watched: tuple[WatchProcess, StackDir, str, str]) -> None:
    watch, d, url, _ = watched
    assert "first" in http_get(url).body
    (d / "site/index.html").write_text("<html><body><h1>second</h1></body></html>\n")
    watch.wait_for(r"site/index.html changed \(served as is\)")
    wait_for(lambda: "second" in http_get(url).body, timeout=10, what="the new page")


def test_two_hundred_files_at_once_give_one_reload(
    watched: tuple[WatchProcess, StackDir, str, str], docker_client: docker.DockerClient
) -> None:
    watch, d, _, name = watched
    for i in range(200):
        (d / f"nginx/conf.d/part{i:03}.conf").write_text(f"# part {i}\n", encoding="utf-8")
    watch.wait_for(r"sent HUP")
    settle(watch, d / "site/probe.html")
    assert watch.output.count("validate passed") == 1, watch.output
    assert watch.output.count("sent HUP") == 1
    assert "and 197 more changed" in watch.output
    assert len(reload_attempts(nginx_log(docker_client, name))) == 1


def test_stack_edit_recreates_only_the_changed_service(
    tmp_stack_dir: StackDir, project_name: str, docker_client: docker.DockerClient
) -> None:
    text = """
        name: {project}
        services:
          app:
            image: busybox:latest
            command: [sleep, "100000"]
            stop_signal: SIGKILL
            environment: {{GREETING: {greeting}}}
          other:
            image: busybox:latest
            command: [sleep, "100000"]
            stop_signal: SIGKILL
        """
    tmp_stack_dir.stack(text.format(project=project_name, greeting="hello"))
    watch = WatchProcess(tmp_stack_dir.path)
    try:
        watch.wait_for(r"watching ")
        app, other = f"{project_name}-app-1", f"{project_name}-other-1"
        before = {n: container(docker_client, n)[0] for n in (app, other)}

        tmp_stack_dir.stack(text.format(project=project_name, greeting="bonjour"))
        out = watch.wait_for(r"applied \d+ operation")
        assert f"-/+ container {app}" in out and other not in out, out
        after = {n: container(docker_client, n)[0] for n in (app, other)}
        assert after[other] == before[other] and after[app] != before[app]
        env = docker_client.containers.get(app).attrs["Config"]["Env"]
        assert "GREETING=bonjour" in env

        broken = text.format(project=project_name, greeting="x").rstrip() + (
            "\n            ports: ['80:80:80:80']\n"
        )
        tmp_stack_dir.stack(broken)
        out = watch.wait_for(r"nothing was applied")
        assert re.search(r"stack\.yaml:\d+:\d+: services\.other\.ports\[0\]", out), out
        assert {n: container(docker_client, n)[0] for n in (app, other)} == after
        assert watch.interrupt() == 130
    finally:
        watch.kill()


@pytest.mark.parametrize("watched", ["dir"], indirect=True)
def test_a_burst_waits_for_the_project_lock_held_by_another_apply(
    watched: tuple[WatchProcess, StackDir, str, str], docker_client: docker.DockerClient
) -> None:
    """A burst observes, decides and applies under the project's lock: while another stackup
    (here: this test) holds it, watch says it waits and reloads only once it is released."""
    from stackup.engine.docker.engine import DockerEngine
    from stackup.targets.engine.lock import project_lock

    watch, d, url, name = watched
    wait_header(url, "X-Version", "one")
    project = name.rsplit("-web-1", 1)[0]
    engine = DockerEngine.from_env()
    with project_lock(engine, project):
        (d / "nginx/conf.d/default.conf").write_text(server_conf("two"), encoding="utf-8")
        watch.wait_for(r"waiting for the lock on project " + re.escape(project))
        assert "sent HUP" not in watch.output
    watch.wait_for(r"got the lock on project " + re.escape(project))
    watch.wait_for(r"sent HUP to " + re.escape(name))
    wait_header(url, "X-Version", "two")
